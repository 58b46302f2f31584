/**
 * The detail view's fast read: `mptcp:connection:get` about 10 times a second for one token.
 * Calls never overlap: a tick that finds the previous call still running is skipped, and after
 * repeated skips the interval doubles (up to `maxIntervalMs`), coming back down once calls are
 * fast again. The loop sleeps while the page is hidden and stops for good on `stop()`.
 */
import type { MptcpApi } from '../../../../shared/contract';
import type { Connection } from '../../../../shared/types';

export interface Visibility {
  hidden(): boolean;
  /** Called on every visibility change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
}

export const documentVisibility: Visibility = {
  hidden: () => typeof document !== 'undefined' && document.visibilityState === 'hidden',
  subscribe(listener) {
    if (typeof document === 'undefined') return () => undefined;
    document.addEventListener('visibilitychange', listener);
    return () => document.removeEventListener('visibilitychange', listener);
  },
};

export interface DetailLoopOptions {
  intervalMs?: number;
  maxIntervalMs?: number;
  now?: () => number;
  visibility?: Visibility;
}

export interface DetailLoop {
  stop(): void;
  readonly stats: { calls: number; skipped: number; intervalMs: number; running: boolean };
}

export function startDetailLoop(
  api: MptcpApi,
  token: number,
  onRead: (connection: Connection | null, tMs: number) => void,
  opts: DetailLoopOptions = {},
): DetailLoop {
  const baseMs = opts.intervalMs ?? 100;
  const maxMs = opts.maxIntervalMs ?? 1000;
  const now = opts.now ?? Date.now;
  const visibility = opts.visibility ?? documentVisibility;
  const stats = { calls: 0, skipped: 0, intervalMs: baseMs, running: true };
  let inFlight = false;
  let skipsInARow = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;

  const schedule = (): void => {
    if (stopped || timer !== null || visibility.hidden()) return;
    timer = setTimeout(tick, stats.intervalMs);
  };

  const tick = (): void => {
    timer = null;
    if (stopped) return;
    if (visibility.hidden()) return; // resumed by the visibility listener
    if (inFlight) {
      stats.skipped++;
      if (++skipsInARow >= 2) stats.intervalMs = Math.min(maxMs, stats.intervalMs * 2);
      schedule();
      return;
    }
    skipsInARow = 0;
    inFlight = true;
    stats.calls++;
    const startedMs = now();
    const done = (connection: Connection | null | undefined): void => {
      inFlight = false;
      if (stopped) return;
      const tookMs = now() - startedMs;
      if (tookMs < stats.intervalMs / 2 && stats.intervalMs > baseMs) {
        stats.intervalMs = Math.max(baseMs, stats.intervalMs / 2);
      }
      if (connection !== undefined) onRead(connection, now());
    };
    api.invoke('mptcp:connection:get', { token }).then(
      (r) => done(r.ok ? r.value : undefined),
      () => done(undefined),
    );
    schedule();
  };

  const offVisibility = visibility.subscribe(() => {
    if (visibility.hidden()) {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    } else {
      schedule();
    }
  });
  schedule();

  return {
    stats,
    stop() {
      stopped = true;
      stats.running = false;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      offVisibility();
    },
  };
}
