// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../App';
import { FakeApi } from '../testing/fake-api';
import { connection, overview, snapshot } from '../testing/fixtures';
import { settle } from '../testing/render';
import { bindHashRouter, parseRoute, routeHash } from './router';
import { createStores, type Stores } from './stores';

let stores: Stores | null = null;
let unbind: (() => void) | null = null;
afterEach(() => {
  unbind?.();
  unbind = null;
  cleanup();
  stores?.dispose();
  stores = null;
  // jsdom keeps one window per file: the next test starts from a clean address.
  window.history.replaceState(null, '', '#');
});

const sync = (cb: () => void) => cb();

function api(): FakeApi {
  return new FakeApi()
    .handle('mptcp:overview:get', { ok: true, value: overview() })
    .handle('mptcp:connections:list', {
      ok: true,
      value: snapshot({
        takenAtMs: Date.now(),
        connections: [
          connection(),
          connection({ token: 0xab12, localPort: 40100, remoteAddress: '10.0.9.2' }),
        ],
      }),
    })
    .handle('mptcp:connection:get', { ok: true, value: connection() });
}

/** The app as main.tsx starts it, at `hash`. */
async function openAt(hash: string): Promise<Stores> {
  window.history.replaceState(null, '', hash);
  stores = createStores(api(), undefined, { schedule: sync });
  unbind = bindHashRouter(stores, window);
  render(<App stores={stores} />);
  await settle();
  return stores;
}

/** history.back() and forward() end in a popstate that jsdom fires a task later. */
async function traverse(step: () => void): Promise<void> {
  await act(async () => {
    const moved = new Promise<void>((resolve) =>
      window.addEventListener('popstate', () => resolve(), { once: true }),
    );
    step();
    await moved;
  });
  await settle();
}

const currentPage = (): string | null =>
  document.querySelector('[aria-current="page"]')?.getAttribute('data-testid') ?? null;

describe('routes', () => {
  it('reads and writes every view, a connection by its token as ss prints it, filters as the query', () => {
    expect(parseRoute('#/overview')).toEqual({ page: 'overview', token: null, params: {} });
    expect(parseRoute('#/connections/deadbeef')).toEqual({
      page: 'connections',
      token: 0xdeadbeef,
      params: {},
    });
    expect(parseRoute('#/events?kind=sub_closed&conn=ab')).toEqual({
      page: 'events',
      token: null,
      params: { kind: 'sub_closed', conn: 'ab' },
    });
    expect(parseRoute('#/connections?filter=10.0.0.1&sort=')).toEqual({
      page: 'connections',
      token: null,
      params: { filter: '10.0.0.1' },
    });
    for (const bad of [
      '',
      '#',
      '#/nowhere',
      '#/events/ab12',
      '#/connections/xyz',
      '#/connections/123456789',
      '#/overview/a/b',
    ])
      expect(parseRoute(bad), bad).toBeNull();
    expect(routeHash({ page: 'connections', token: 0xab12, params: { filter: '10.0.9.2' } })).toBe(
      '#/connections/ab12?filter=10.0.9.2',
    );
    // A token only belongs to the Connections page.
    expect(routeHash({ page: 'events', token: 0xab12, params: { kind: 'closed' } })).toBe(
      '#/events?kind=closed',
    );
    for (const h of ['#/path-doctor', '#/events?kind=pm', '#/connections/ab12', '#/fleet'])
      expect(routeHash(parseRoute(h)!)).toBe(h);
  });

  it('opens a deep link to a connection and its filters, as after a reload', async () => {
    await openAt('#/connections/ab12');
    expect(currentPage()).toBe('nav-connections');
    expect(screen.getByTestId('conn-detail').getAttribute('data-token')).toBe('ab12');
    cleanup();
    unbind?.();
    stores?.dispose();

    await openAt('#/events?kind=sub_closed&conn=ab');
    expect(currentPage()).toBe('nav-events');
    expect(screen.getByTestId<HTMLSelectElement>('events-filter-kind').value).toBe('sub_closed');
    expect(screen.getByTestId<HTMLInputElement>('events-filter-token').value).toBe('ab');
  });

  it('gives an address that names no view the Overview, without a history entry', async () => {
    const before = window.history.length;
    await openAt('#/no-such-page');
    expect(currentPage()).toBe('nav-overview');
    expect(window.location.hash).toBe('#/overview');
    expect(window.history.length).toBe(before);
  });

  it('adds a history entry per view; Back and Forward walk them; a filter replaces its entry', async () => {
    const s = await openAt('#/overview');
    const start = window.history.length;
    act(() => screen.getByTestId('nav-connections').click());
    expect(window.location.hash).toBe('#/connections');
    act(() => screen.getByTestId('conn-row-ab12').click());
    await settle();
    expect(window.location.hash).toBe('#/connections/ab12');
    expect(screen.getByTestId('conn-detail').getAttribute('data-token')).toBe('ab12');
    expect(window.history.length).toBe(start + 2);

    await traverse(() => window.history.back());
    expect(window.location.hash).toBe('#/connections');
    expect(screen.queryByTestId('conn-detail')).toBeNull();
    expect(s.monitor.getState().selectedToken).toBeNull();

    // Typing a filter edits the current entry instead of adding one per key.
    fireEvent.change(screen.getByTestId('conn-filter'), { target: { value: '10.0' } });
    fireEvent.change(screen.getByTestId('conn-filter'), { target: { value: '10.0.9.2' } });
    expect(window.location.hash).toBe('#/connections?filter=10.0.9.2');
    expect(screen.getByTestId('conn-count').textContent).toBe('1 of 2');

    await traverse(() => window.history.back());
    expect(currentPage()).toBe('nav-overview');
    await traverse(() => window.history.forward());
    expect(currentPage()).toBe('nav-connections');
    expect(screen.getByTestId<HTMLInputElement>('conn-filter').value).toBe('10.0.9.2');
    // The sort too: a header click writes it, the default leaves it out.
    act(() => screen.getByRole('button', { name: /Receive rate/ }).click());
    expect(window.location.hash).toBe('#/connections?filter=10.0.9.2&sort=recv');
    act(() => screen.getByRole('button', { name: /Receive rate/ }).click());
    expect(window.location.hash).toBe('#/connections?filter=10.0.9.2&sort=recv&order=asc');
    act(() => screen.getByRole('button', { name: /Send rate/ }).click());
    expect(window.location.hash).toBe('#/connections?filter=10.0.9.2');
  });

  it('follows an address typed or a link followed in the page (hashchange)', async () => {
    await openAt('#/overview');
    await act(async () => {
      const changed = new Promise<void>((resolve) =>
        window.addEventListener('hashchange', () => resolve(), { once: true }),
      );
      window.location.hash = '#/events?kind=pm';
      await changed;
    });
    await settle();
    expect(currentPage()).toBe('nav-events');
    expect(screen.getByTestId<HTMLSelectElement>('events-filter-kind').value).toBe('pm');
  });

  it('makes the tabs links to their views', async () => {
    await openAt('#/overview');
    expect(screen.getByTestId('nav-events').getAttribute('href')).toBe('#/events');
    expect(screen.getByTestId('nav-path-doctor').getAttribute('href')).toBe('#/path-doctor');
  });
});
