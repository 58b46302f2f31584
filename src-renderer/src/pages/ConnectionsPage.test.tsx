// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeApi } from '../testing/fake-api';
import { App } from '../App';
import { createStores, type Stores } from '../state/stores';
import { connection, mptcpEvent, overview, snapshot, subflow } from '../testing/fixtures';
import { settle } from '../testing/render';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
});

const sync = (cb: () => void) => cb();

function api(): FakeApi {
  let reads = 0;
  return new FakeApi()
    .handle('mptcp:overview:get', { ok: true, value: overview() })
    .handle('mptcp:connections:list', { ok: true, value: snapshot({ takenAtMs: Date.now() }) })
    .handle('mptcp:connection:get', () => {
      reads++;
      const c = connection();
      return {
        ok: true,
        value: {
          ...c,
          subflows: c.subflows.map((s) => ({ ...s, bytesAcked: s.bytesAcked + reads * 50_000 })),
        },
      };
    });
}

async function open(a: FakeApi): Promise<Stores> {
  stores = createStores(a, undefined, { schedule: sync });
  render(<App stores={stores} />);
  await settle();
  act(() => screen.getByTestId('nav-connections').click());
  await settle();
  return stores;
}

async function wait(ms: number): Promise<void> {
  await act(async () => {
    await new Promise((r) => setTimeout(r, ms));
  });
}

describe('Connections page', () => {
  it('lists connections and opens the detail with one line per subflow in each chart', async () => {
    const a = api();
    const s = await open(a);
    expect(screen.getByTestId('conn-table')).toBeTruthy();
    act(() => screen.getByTestId('conn-row-deadbeef').click());
    // A few reads of the 10 Hz loop (about 300 ms; waited for up to 5 s, since a loaded CI machine
    // stretches timers and the loop backs off when reads are slow).
    const reads = () => a.calls.filter((c) => c.method === 'mptcp:connection:get').length;
    for (let waitedMs = 0; reads() < 3 && waitedMs < 5000; waitedMs += 50) await wait(50);
    expect(reads()).toBeGreaterThanOrEqual(3);
    for (const id of ['chart-rtt', 'chart-cwnd', 'chart-throughput']) {
      const chart = screen.getByTestId(id);
      expect(chart.getAttribute('data-lines')).toBe('2');
      expect(chart.querySelectorAll('.chart-legend li')).toHaveLength(2);
      expect(chart.querySelector('canvas.metric-lines')).not.toBeNull();
    }
    // The backup subflow is dashed, the other is not (lines are drawn on a canvas, which jsdom
    // lacks: strokeLine is tested on its own, the browser draws them in the e2e test).
    const keys = screen.getByTestId('chart-rtt').querySelectorAll('.chart-legend line');
    expect([...keys].map((c) => c.getAttribute('stroke-dasharray'))).toEqual([null, '6 4']);
    expect(screen.getAllByTestId('subflow-detail-row')).toHaveLength(2);

    // A sub_closed of this connection is marked on every chart.
    act(() => a.emit('mptcp:kernel:event', mptcpEvent('sub_closed', {}, s.samples.clockMs - 100)));
    act(() => a.emit('mptcp:kernel:event', mptcpEvent('sub_closed', { token: 42 }, s.samples.clockMs - 100)));
    await wait(120);
    expect(screen.getByTestId('chart-cwnd').querySelectorAll('.event-marker')).toHaveLength(1);
    // 0.1 s before the window's end: at the plot's right edge (720 px chart, 16 px right margin).
    const x1 = Number(
      screen.getByTestId('chart-cwnd').querySelector('.event-marker line')?.getAttribute('x1'),
    );
    expect(x1).toBeGreaterThan(700);
    expect(x1).toBeLessThanOrEqual(704);

    // Leaving the detail stops the loop.
    act(() => screen.getByTestId('detail-back').click());
    const calls = a.calls.length;
    await wait(300);
    expect(a.calls.length).toBe(calls);
  });

  it('sorts, filters, and freezes the table while paused', async () => {
    const a = api();
    await open(a);
    const two = (takenAtMs: number) =>
      snapshot({
        takenAtMs,
        connections: [
          connection({ token: 0xaaaa, subflows: [subflow({ tokenLocal: 0xaaaa })] }),
          connection({
            token: 0xbbbb,
            localAddress: '10.0.7.7',
            subflows: [subflow({ tokenLocal: 0xbbbb })],
          }),
        ],
      });
    act(() => a.emit('mptcp:connections:snapshot', two(Date.now() + 1000)));
    const rows = () =>
      [...document.querySelectorAll('[data-testid^="conn-row-"]')].map((r) => r.getAttribute('data-testid'));
    expect(rows()).toEqual(['conn-row-aaaa', 'conn-row-bbbb']);
    act(() => screen.getByRole('button', { name: 'Token' }).click());
    act(() => screen.getByRole('button', { name: /^Token/ }).click());
    expect(rows()).toEqual(['conn-row-bbbb', 'conn-row-aaaa']);
    fireEvent.change(screen.getByTestId('conn-filter'), { target: { value: '10.0.7' } });
    expect(rows()).toEqual(['conn-row-bbbb']);
    fireEvent.change(screen.getByTestId('conn-filter'), { target: { value: '' } });

    act(() => screen.getByTestId('pause-toggle').click());
    act(() =>
      a.emit('mptcp:connections:snapshot', snapshot({ takenAtMs: Date.now() + 2000, connections: [] })),
    );
    expect(rows()).toHaveLength(2);
    act(() => screen.getByTestId('pause-toggle').click());
    expect(rows()).toHaveLength(0);
  });

  it('renders only the rows in view of thousands, scrolls to the last, and rates rows from the last two polls', async () => {
    // jsdom lays nothing out: give every row a height, as a browser would.
    const offsetHeight = Object.getOwnPropertyDescriptor(HTMLElement.prototype, 'offsetHeight');
    Object.defineProperty(HTMLElement.prototype, 'offsetHeight', { configurable: true, get: () => 37 });
    try {
      const a = api();
      await open(a);
      const t0 = Date.now() + 1000;
      const conns = Array.from({ length: 5000 }, (_, i) =>
        connection({ token: i + 1, subflows: [subflow({ tokenLocal: i + 1, bytesAcked: 1000 })] }),
      );
      act(() => a.emit('mptcp:connections:snapshot', snapshot({ takenAtMs: t0, connections: conns })));
      // Connection 0x1000 sends 250 kB in the next second; every other one is the same object.
      const moved = connection({
        token: 0x1000,
        subflows: [subflow({ tokenLocal: 0x1000, bytesAcked: 251_000 })],
      });
      const next = conns.map((c) => (c.token === 0x1000 ? moved : c));
      act(() => a.emit('mptcp:connections:snapshot', snapshot({ takenAtMs: t0 + 1000, connections: next })));
      const rows = () => [...document.querySelectorAll('[data-testid^="conn-row-"]')];
      expect(rows().length).toBeGreaterThan(10);
      expect(rows().length).toBeLessThan(60);
      expect(screen.getByTestId('conn-count').textContent).toContain('5000 of 5000');
      // Sorted by send rate: the sender first, then by token.
      expect(rows()[0]?.getAttribute('data-testid')).toBe('conn-row-1000');
      expect(rows()[0]?.getAttribute('data-send-bytes-per-sec')).toBe('250000');
      expect(rows()[1]?.getAttribute('data-testid')).toBe('conn-row-1');

      const list = screen.getByTestId('conn-list');
      await act(async () => {
        list.scrollTop = 5000 * 37;
        list.dispatchEvent(new Event('scroll'));
        await new Promise((r) => setTimeout(r, 50));
      });
      const last = rows().at(-1);
      expect(last?.getAttribute('data-testid')).toBe(`conn-row-${(5000).toString(16)}`);
      expect(last?.getAttribute('aria-rowindex')).toBe('5001');
      expect(rows().length).toBeLessThan(60);
    } finally {
      if (offsetHeight) Object.defineProperty(HTMLElement.prototype, 'offsetHeight', offsetHeight);
    }
  });
});
