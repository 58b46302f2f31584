/**
 * Table rows rendered only around what the scroll box shows (@tanstack/react-virtual), for the
 * connection lists that hold up to tens of thousands of connections: 10,000 rows in the DOM cost
 * the page half a second per poll (bench/renderer.mjs --connections, docs/performance.md).
 * Rows off screen are not in the DOM; the spacers keep the scroll height of all of them.
 */
import type { RefObject } from 'react';
import { observeElementRect, useVirtualizer, type Virtualizer } from '@tanstack/react-virtual';
import type { Connection } from '../../../../shared/types';

/**
 * A connection row's key for React and the virtualiser: its token, with the low bits of its socket
 * inode in case two connections share a token (sock_diag should never give that; shared/delta.ts
 * guards against it too). A number below 2^48, so exact: the virtualiser asks for every row's key
 * each time the list changes, and 10,000 strings a poll are garbage a number is not.
 */
export function connectionKey(c: Connection): number {
  return c.token * 0x10000 + (c.inode & 0xffff);
}

/**
 * The scroll box's size as @tanstack/virtual-core measures it, except that a box without layout
 * (jsdom in the unit tests; not yet laid out) counts as the window's height, so that the first
 * rows render rather than none.
 */
function observeRect(
  instance: Virtualizer<HTMLDivElement, Element>,
  cb: (rect: { width: number; height: number }) => void,
): void | (() => void) {
  return observeElementRect(instance, (rect) =>
    cb(rect.height > 0 ? rect : { width: rect.width, height: globalThis.innerHeight || 800 }),
  );
}

export interface RowVirtualizerOptions {
  count: number;
  scrollRef: RefObject<HTMLDivElement | null>;
  /** A first guess of row i's height in px; rows are measured once rendered. */
  estimateSize: (index: number) => number;
  /** A key that follows the row's data (not its position), so that a sort keeps measurements. */
  getItemKey: (index: number) => string | number;
}

export function useRowVirtualizer(opts: RowVirtualizerOptions): Virtualizer<HTMLDivElement, Element> {
  // The instance is read during render on purpose (its items are the rows to draw); nothing here
  // is compiled by the React Compiler, whose memoisation this warning is about.
  // eslint-disable-next-line react-hooks/incompatible-library -- see above
  return useVirtualizer<HTMLDivElement, Element>({
    count: opts.count,
    getScrollElement: () => opts.scrollRef.current,
    estimateSize: opts.estimateSize,
    getItemKey: opts.getItemKey,
    observeElementRect: observeRect,
    // A few rows beyond each edge: a wheel step shows rows already there.
    overscan: 8,
  });
}

/** Heights of the space above the first rendered row and below the last. */
export function spacers(v: Virtualizer<HTMLDivElement, Element>): { top: number; bottom: number } {
  const items = v.getVirtualItems();
  const first = items[0];
  const last = items[items.length - 1];
  if (!first || !last) return { top: 0, bottom: 0 };
  return { top: first.start, bottom: Math.max(0, v.getTotalSize() - last.end) };
}
