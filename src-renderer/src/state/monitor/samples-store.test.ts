import { describe, expect, it } from 'vitest';
import { connection, snapshot, subflow } from '../../testing/fixtures';
import { deriveRate, SamplesStore, subflowKey } from './samples-store';

const T0 = 1_700_000_000_000;
const sync = (cb: () => void) => cb();

/** A one-subflow connection whose counters are at the given values. */
function oneSubflow(bytesAcked: number, bytesReceived: number, token = 0xdeadbeef) {
  return connection({ token, subflows: [subflow({ tokenLocal: token, bytesAcked, bytesReceived })] });
}

describe('deriveRate', () => {
  it('is bytes per second from two readings', () => {
    expect(deriveRate(1000, 126_000, 500)).toBe(250_000);
  });
  it('gives NaN on a counter reset and on Δt ≤ 0', () => {
    expect(deriveRate(5000, 100, 1000)).toBeNaN();
    expect(deriveRate(0, 100, 0)).toBeNaN();
    expect(deriveRate(0, 100, -5)).toBeNaN();
  });
});

describe('SamplesStore', () => {
  it('derives send/receive throughput from consecutive byte counters', () => {
    const store = new SamplesStore({ schedule: sync });
    store.ingestConnection(oneSubflow(1_000_000, 2000), T0);
    store.ingestConnection(oneSubflow(1_200_000, 2500), T0 + 1000);
    store.ingestConnection(oneSubflow(1_300_000, 2500), T0 + 1250);
    const key = subflowKey(0xdeadbeef, subflow());
    const ring = store.ring(key);
    expect(ring?.size).toBe(3);
    expect(ring?.at(0)?.sendBytesPerSec).toBeNaN(); // no previous reading
    expect(ring?.at(1)).toMatchObject({ sendBytesPerSec: 200_000, recvBytesPerSec: 500 });
    expect(ring?.at(2)).toMatchObject({ sendBytesPerSec: 400_000, recvBytesPerSec: 0 });
    expect(store.rates(0xdeadbeef)).toEqual({ sendBytesPerSec: 400_000, recvBytesPerSec: 0 });
  });

  it('guards counter resets and repeated timestamps', () => {
    const store = new SamplesStore({ schedule: sync });
    store.ingestConnection(oneSubflow(5_000_000, 0), T0);
    store.ingestConnection(oneSubflow(5_100_000, 0), T0); // same time: dropped (Δt = 0)
    store.ingestConnection(oneSubflow(5_100_000, 0), T0 - 10); // older: dropped
    store.ingestConnection(oneSubflow(1000, 0), T0 + 1000); // reset (new socket, same 4-tuple)
    store.ingestConnection(oneSubflow(101_000, 0), T0 + 2000);
    const ring = store.ring(subflowKey(0xdeadbeef, subflow()));
    expect(ring?.size).toBe(3);
    expect(ring?.at(1)?.sendBytesPerSec).toBeNaN();
    expect(ring?.at(2)?.sendBytesPerSec).toBe(100_000);
    for (let i = 0; i < (ring?.size ?? 0); i++) {
      const s = ring?.at(i)?.sendBytesPerSec ?? 0;
      expect(Number.isNaN(s) || s >= 0).toBe(true);
    }
  });

  it('keys series by token and 4-tuple, one per subflow', () => {
    const store = new SamplesStore({ schedule: sync });
    store.ingestSnapshot(snapshot());
    const metas = store.seriesOf(0xdeadbeef);
    expect(metas.map((m) => m.key)).toEqual([
      '3735928559|10.0.1.2:40000|10.0.9.1:5201',
      '3735928559|10.0.2.2:40001|10.0.9.1:5201',
    ]);
    expect(metas[1]?.backup).toBe(true);
    expect(metas[0]?.label).toBe('10.0.1.2:40000 → 10.0.9.1:5201');
  });

  it('returns decimated chart windows in display units', () => {
    const store = new SamplesStore({ schedule: sync });
    for (let i = 0; i <= 100; i++) {
      store.ingestConnection(
        connection({ subflows: [subflow({ bytesAcked: i * 125_000, rttUs: 2000 })] }),
        T0 + i * 100,
      );
    }
    const all = store.window(0xdeadbeef, T0, T0 + 10_000, 1000);
    expect(all).toHaveLength(1);
    expect(all[0]?.points).toHaveLength(101);
    expect(all[0]?.points[1]).toMatchObject({ rttMs: 2, sendMbitPerSec: 10 });
    expect(all[0]?.points[0]?.sendMbitPerSec).toBeNull();
    const decimated = store.window(0xdeadbeef, T0, T0 + 10_000, 20);
    expect(decimated[0]?.points.length).toBeLessThanOrEqual(20);
    expect(decimated[0]?.points[3]?.sendMbitPerSec).toBeCloseTo(10);
    expect(store.window(0xdeadbeef, T0 + 5000, T0 + 5999)[0]?.points).toHaveLength(10);
    expect(store.window(0xdeadbeef, T0 + 20_000, T0 + 30_000)).toEqual([]);
  });

  it('drops subflows of connections gone for longer than the retention', () => {
    const store = new SamplesStore({ schedule: sync, retentionMs: 10_000 });
    store.ingestSnapshot(snapshot({ takenAtMs: T0 }));
    expect(store.seriesCount).toBe(2);
    store.ingestSnapshot(snapshot({ takenAtMs: T0 + 5000, connections: [] }));
    expect(store.seriesCount).toBe(2);
    expect(store.latest(0xdeadbeef)).not.toBeNull();
    store.ingestSnapshot(snapshot({ takenAtMs: T0 + 10_001, connections: [] }));
    expect(store.seriesCount).toBe(0);
    expect(store.latest(0xdeadbeef)).toBeNull();
  });

  it('stays within its memory bound under many connections and samples', () => {
    const store = new SamplesStore({ schedule: sync, capacity: 100, maxSeries: 50 });
    for (let i = 0; i < 300; i++) {
      const connections = Array.from({ length: 40 }, (_, c) =>
        connection({
          token: (i % 3) * 1000 + c + 1,
          subflows: [subflow({ bytesAcked: i * 1000 })],
        }),
      );
      store.ingestSnapshot(snapshot({ takenAtMs: T0 + i * 1000, connections }));
    }
    expect(store.seriesCount).toBeLessThanOrEqual(50);
    expect(store.allocatedBytes).toBeLessThanOrEqual(50 * 100 * 6 * 8);
  });

  it('keeps the series it has when a snapshot holds more subflows than its bound', () => {
    const store = new SamplesStore({ schedule: sync, maxSeries: 10 });
    const conns = (n: number, first = 1) =>
      Array.from({ length: n }, (_, i) => oneSubflow(i * 1000, 0, first + i));
    for (let i = 0; i < 5; i++)
      store.ingestSnapshot(snapshot({ takenAtMs: T0 + i * 1000, connections: conns(30) }));
    // The first 10 kept their series and every sample; the other 20 wait for room.
    expect(store.seriesCount).toBe(10);
    for (let token = 1; token <= 10; token++) expect(store.ring(subflowKey(token, subflow()))?.size).toBe(5);
    expect(store.ring(subflowKey(11, subflow()))).toBeNull();
    // Connections 1-3 close: three of the waiting ones take their places.
    store.ingestSnapshot(snapshot({ takenAtMs: T0 + 5000, connections: conns(27, 4) }));
    expect(store.seriesCount).toBe(10);
    expect(store.ring(subflowKey(1, subflow()))).toBeNull();
    expect(store.ring(subflowKey(4, subflow()))?.size).toBe(6);
    expect(store.seriesOf(13)).toHaveLength(1);
    expect(store.seriesOf(14)).toHaveLength(0);
    // Every connection's latest reading is kept whether or not it has a series.
    expect(store.latest(30)?.token).toBe(30);
  });

  it('gives subflows read by the fast loop a larger ring (5 min at 10 Hz)', () => {
    const store = new SamplesStore({ schedule: sync });
    store.ingestSnapshot(snapshot());
    const key = subflowKey(0xdeadbeef, subflow());
    expect(store.ring(key)?.capacity).toBe(600);
    store.ingestConnection(connection(), T0 + 10 ** 7);
    expect(store.ring(key)?.capacity).toBe(3000);
  });

  it('skips snapshot samples of connections a fast loop is reading', () => {
    const store = new SamplesStore({ schedule: sync });
    store.fastTokens.add(0xdeadbeef);
    store.ingestSnapshot(snapshot());
    expect(store.seriesCount).toBe(0);
    store.fastTokens.clear();
    store.ingestSnapshot(snapshot());
    expect(store.seriesCount).toBe(2);
  });

  it('publishes changes at most once per frame', () => {
    const frames: (() => void)[] = [];
    const store = new SamplesStore({ schedule: (cb) => frames.push(cb) });
    let heard = 0;
    store.subscribe(() => heard++);
    for (let i = 0; i < 50; i++) store.ingestConnection(oneSubflow(i * 10, 0), T0 + i);
    expect(frames).toHaveLength(1);
    expect(store.getVersion()).toBe(0);
    frames.shift()?.();
    expect(heard).toBe(1);
    expect(store.getVersion()).toBe(50);
  });
});

describe('SamplesStore.ingestHistory', () => {
  const sf = subflow();
  const meta = {
    token: 0xdeadbeef,
    localAddress: sf.localAddress,
    localPort: sf.localPort,
    remoteAddress: sf.remoteAddress,
    remotePort: sf.remotePort,
    backup: false,
  };
  const hostSamples = (times: number[]) => ({
    tMs: times,
    rttUs: times.map(() => 5000),
    cwndPkts: times.map(() => 10),
    sendBytesPerSec: times.map((_, i) => (i === 0 ? null : 1000)),
    recvBytesPerSec: times.map(() => 0),
    retransPkts: times.map(() => 0),
  });

  it("puts the host's older samples before the page's own, and keeps the page's", () => {
    const store = new SamplesStore({ schedule: sync });
    store.ingestConnection(oneSubflow(1_000_000, 0), T0 + 3000);
    store.ingestConnection(oneSubflow(1_100_000, 0), T0 + 4000);
    store.ingestHistory({
      token: 0xdeadbeef,
      retentionMs: 900_000,
      subflows: [
        {
          meta,
          samples: hostSamples([T0, T0 + 1000, T0 + 2000, T0 + 3000]),
          last: { tMs: T0 + 3000, bytesAcked: 1_000_000, bytesReceived: 0 },
        },
      ],
    });
    const ring = store.ring(subflowKey(0xdeadbeef, sf));
    expect([0, 1, 2, 3, 4].map((i) => ring?.at(i)?.tMs)).toEqual([
      T0,
      T0 + 1000,
      T0 + 2000,
      T0 + 3000,
      T0 + 4000,
    ]);
    expect(ring?.at(4)?.sendBytesPerSec).toBe(100_000); // the page's own reading, untouched
    expect(ring?.at(0)?.sendBytesPerSec).toBeNaN();
  });

  it('continues a series it never read from the host last counters, without a spike', () => {
    const store = new SamplesStore({ schedule: sync });
    store.ingestHistory({
      token: 0xdeadbeef,
      retentionMs: 900_000,
      subflows: [
        {
          meta,
          samples: hostSamples([T0, T0 + 1000]),
          last: { tMs: T0 + 1000, bytesAcked: 5_000_000, bytesReceived: 0 },
        },
      ],
    });
    store.ingestConnection(oneSubflow(5_200_000, 0), T0 + 2000);
    const ring = store.ring(subflowKey(0xdeadbeef, sf));
    expect(ring?.size).toBe(3);
    expect(ring?.at(2)?.sendBytesPerSec).toBe(200_000);
  });
});
