// @vitest-environment jsdom
/**
 * Subflow health in the renderer (docs/live-data.md "Subflow health"): the Health column of both
 * subflow tables, the dimmed delivery rate, whose backup flag a badge names, and a stall drawn
 * as a marked gap on the detail charts.
 */
import { act, cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionsSnapshot, Subflow } from '../../../../shared/types';
import { App } from '../../App';
import { SamplesStore } from '../../state/monitor/samples-store';
import { createStores, type Stores } from '../../state/stores';
import { FakeApi } from '../../testing/fake-api';
import { connection, overview, snapshot, subflow } from '../../testing/fixtures';
import { settle } from '../../testing/render';
import { MetricChart, stallSpans } from './MetricChart';
import { SubflowDetailTable } from './SubflowDetailTable';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
});

const sync = (cb: () => void) => cb();
const T = Date.UTC(2026, 0, 1, 12, 0, 0);
const flags = subflow().flags;

/** An active subflow (data sent and acked 100 ms ago), a stalled one, an idle backup of the peer's. */
function subflows(): Subflow[] {
  return [
    subflow({
      unackedPkts: 0,
      lastDataSentAtMs: T - 100,
      lastDataRecvAtMs: T - 100,
      lastAckRecvAtMs: T - 100,
    }),
    subflow({
      localAddress: '10.0.2.2',
      localPort: 40001,
      backoffCount: 6,
      rtoUs: 13_312_000,
      unackedPkts: 20,
      deliveryRateBytesPerSec: 1_412_500,
      lastDataSentAtMs: T - 300,
      lastDataRecvAtMs: T - 25_000,
      lastAckRecvAtMs: T - 20_000,
    }),
    subflow({
      localAddress: '10.0.3.2',
      localPort: 40002,
      backup: true,
      flags: { ...flags, backupRem: true },
      unackedPkts: 0,
      deliveryRateAppLimited: true,
      deliveryRateBytesPerSec: 42_125_000,
      lastDataSentAtMs: T - 25_000,
      lastDataRecvAtMs: T - 25_000,
      lastAckRecvAtMs: T - 25_000,
    }),
  ];
}

describe('the subflow tables', () => {
  it('the detail table: a Health column, stale and app-limited rates dimmed, whose backup flag', () => {
    render(<SubflowDetailTable connection={connection({ subflows: subflows() })} series={[]} readAtMs={T} />);
    const rows = screen.getAllByTestId('subflow-detail-row');
    expect(rows.map((r) => r.dataset.health)).toEqual(['active', 'stalled', 'idle']);
    const health = screen.getAllByTestId('subflow-health');
    expect(health.map((h) => h.textContent)).toEqual(['active', 'stalled', 'idle']);
    // The stall's figures, as ss prints them (backoff:6 rto:13312).
    expect(health[1]!.querySelector('.badge')!.getAttribute('title')).toContain('backoff 6, RTO 13312 ms');
    const rates = screen.getAllByTestId('subflow-delivery-rate');
    expect(rates.map((r) => r.dataset.rateQuality)).toEqual(['current', 'stale', 'stale']);
    expect(rates[0]!.className).toBe('num');
    expect(rates[1]!.className).toContain('rate-dim');
    expect(rates[2]!.textContent).toContain('stale');
    expect(within(rows[2]!).getByTestId('subflow-backup').textContent).toBe("backup (peer's)");
    expect(within(rows[0]!).queryByTestId('subflow-backup')).toBeNull();
  });

  it('the overview table follows the snapshot clock: an unchanged subflow object turns idle', async () => {
    const conn = connection({ subflows: subflows() });
    const snap = (takenAtMs: number): ConnectionsSnapshot => snapshot({ takenAtMs, connections: [conn] });
    const api = new FakeApi()
      .handle('mptcp:overview:get', { ok: true, value: overview() })
      .handle('mptcp:connections:list', { ok: true, value: snap(T) });
    stores = createStores(api, undefined, { schedule: sync });
    render(<App stores={stores} />);
    await settle();
    const table = screen.getByTestId('connections-table');
    const states = () =>
      within(table)
        .getAllByTestId('subflow-health')
        .map((h) => h.dataset.health);
    expect(states()).toEqual(['active', 'stalled', 'idle']);
    expect(within(table).getByText("backup (peer's)")).toBeTruthy();
    const app = within(table).getAllByTestId('subflow-delivery-rate')[2]!;
    expect(app.dataset.rateQuality).toBe('stale');
    // Five seconds later the same objects (an idle poll reuses them): the first went idle.
    act(() => api.emit('mptcp:connections:snapshot', snap(T + 5000)));
    await settle();
    expect(states()).toEqual(['idle', 'stalled', 'idle']);
  });
});

describe('the detail charts', () => {
  /** Samples at 1 Hz; the second subflow stalls from the 3rd to the 5th second, then recovers. */
  function store(): SamplesStore {
    const s = new SamplesStore({ schedule: sync, now: () => 0 });
    for (let i = 0; i < 8; i++) {
      const t = T + i * 1000;
      const stalled = i >= 3 && i <= 5;
      const live = { lastDataSentAtMs: t - 10, lastDataRecvAtMs: t - 10, lastAckRecvAtMs: t - 10 };
      s.ingestSnapshot(
        snapshot({
          takenAtMs: t,
          connections: [
            connection({
              subflows: [
                subflow({ ...live, bytesAcked: 1_000_000 + i * 100_000 }),
                subflow({
                  localAddress: '10.0.2.2',
                  localPort: 40001,
                  ...live,
                  bytesAcked: 1_000_000 + (stalled ? 300_000 : i * 100_000),
                  backoffCount: stalled ? i - 2 : 0,
                  rttUs: 40_000,
                }),
              ],
            }),
          ],
        }),
      );
    }
    return s;
  }

  it('leaves a stalled subflow without values and marks it: a gap, never its last values', () => {
    const series = store().window(0xdeadbeef, T, T + 7000);
    const stalledSeries = series.find((x) => x.meta.localAddress === '10.0.2.2')!;
    const healthy = series.find((x) => x.meta.localAddress === '10.0.1.2')!;
    expect(stalledSeries.points.map((p) => p.health)).toEqual([
      'active',
      'active',
      'active',
      'stalled',
      'stalled',
      'stalled',
      'active',
      'active',
    ]);
    expect(stalledSeries.points.slice(3, 6).every((p) => p.rttMs === null && p.cwndPkts === null)).toBe(true);
    expect(stalledSeries.points[2]!.rttMs).toBe(40);
    expect(healthy.points.every((p) => p.rttMs !== null)).toBe(true);
    expect(stallSpans(stalledSeries.points)).toEqual([{ fromMs: T + 3000, toMs: T + 5000 }]);
    expect(stallSpans(healthy.points)).toEqual([]);
  });

  it("keeps the host's record of a stall: a reload shows the same gap", () => {
    const s = new SamplesStore({ schedule: sync, now: () => 0 });
    const times = [0, 1000, 2000, 3000].map((d) => T + d);
    s.ingestHistory({
      token: 0xdeadbeef,
      retentionMs: 900_000,
      subflows: [
        {
          meta: {
            token: 0xdeadbeef,
            localAddress: '10.0.2.2',
            localPort: 40001,
            remoteAddress: '10.0.9.1',
            remotePort: 5201,
            backup: false,
          },
          samples: {
            tMs: times,
            rttUs: times.map(() => 40_000),
            cwndPkts: times.map(() => 10),
            sendBytesPerSec: times.map(() => 1000),
            recvBytesPerSec: times.map(() => 0),
            retransPkts: times.map(() => 0),
            health: [3, 0, 0, 3],
          },
          last: null,
        },
      ],
    });
    const [series] = s.window(0xdeadbeef, T, T + 3000);
    expect(series!.points.map((p) => p.health)).toEqual(['active', 'stalled', 'stalled', 'active']);
    expect(series!.points.map((p) => p.rttMs)).toEqual([40, null, null, 40]);
    expect(stallSpans(series!.points)).toEqual([{ fromMs: T + 1000, toMs: T + 2000 }]);
  });

  it('draws the stall as a marker over the plot, at the stall’s time, and names it in the legend', () => {
    const s = store();
    const series = s.window(0xdeadbeef, T, T + 7000);
    const { rerender } = render(
      <MetricChart
        testId="chart-rtt"
        title="RTT"
        unit="ms"
        metric="rttMs"
        series={series}
        fromMs={T}
        toMs={T + 7000}
        markers={[]}
      />,
    );
    const markers = screen.getByTestId('chart-rtt').querySelectorAll('[data-testid="stall-marker"]');
    expect(markers).toHaveLength(1);
    expect(markers[0]!.getAttribute('data-subflow')).toContain('10.0.2.2:40001');
    // 720 px wide, plot from x=56 to 704: the stall from 3/7 to 5/7 of the window (± half the
    // minimum width the marker is given).
    const band = markers[0]!.querySelector('rect')!;
    const x = Number(band.getAttribute('x'));
    const w = Number(band.getAttribute('width'));
    const at = (f: number) => 56 + f * (704 - 56);
    expect(x).toBeCloseTo(at(3 / 7) - 2, 0);
    expect(x + w).toBeCloseTo(at(5 / 7) + 2, 0);
    // Recovered at the window's end: the legend does not call it stalled.
    expect(screen.queryByTestId('legend-stalled')).toBeNull();
    // A window that ends inside the stall: the legend says so.
    rerender(
      <MetricChart
        testId="chart-rtt"
        title="RTT"
        unit="ms"
        metric="rttMs"
        series={s.window(0xdeadbeef, T, T + 4000)}
        fromMs={T}
        toMs={T + 4000}
        markers={[]}
      />,
    );
    expect(screen.getByTestId('legend-stalled').closest('li')!.textContent).toContain('10.0.2.2:40001');
  });
});
