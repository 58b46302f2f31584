import { describe, expect, it } from 'vitest';
import { prng, steadyTick, syntheticSnapshot } from '../../shared/testing/synthetic';
import type { ConnectionsSnapshot, KernelEvent } from '../../shared/types';
import { HostHistory } from './history';

const link = (t: number): KernelEvent => ({
  source: 'link',
  timestampMs: t,
  deleted: false,
  index: 2,
  name: 'c1',
  operState: 'down',
  adminUp: false,
  running: false,
  usable: false,
  mtuBytes: 1500,
});

describe('host history', () => {
  it("keeps each poll's health (shared/health.ts), so a stall shows as one after a reload", () => {
    const h = new HostHistory({ retentionMs: 60_000, pollIntervalMs: 1000 });
    const t0 = Date.now();
    const snap = syntheticSnapshot(prng(2), 1, t0, 1);
    const at = (i: number, backoffCount: number): ConnectionsSnapshot => ({
      ...snap,
      takenAtMs: t0 + i * 1000,
      connections: snap.connections.map((c) => ({
        ...c,
        subflows: c.subflows.map((s) => ({ ...s, backoffCount, deliveryRateAppLimited: false })),
      })),
    });
    [0, 0, 3, 4, 0].forEach((backoff, i) => h.recordSnapshot(at(i, backoff)));
    const samples = h.connection(snap.connections[0]!.token).subflows[0]!.samples;
    // healthCode: 0 stalled … 3 active.
    expect(samples.health).toEqual([3, 3, 0, 0, 3]);
  });

  it('keeps each subflow series with rates derived from its byte counters', () => {
    const h = new HostHistory({ retentionMs: 60_000, pollIntervalMs: 1000 });
    const r = prng(1);
    let snap = syntheticSnapshot(r, 3, Date.now(), 2);
    const first = snap;
    h.recordSnapshot(snap);
    for (let i = 0; i < 5; i++) {
      snap = steadyTick(r, snap, 1000, 0);
      h.recordSnapshot(snap);
    }
    const c = first.connections[0]!;
    const got = h.connection(c.token);
    expect(got.subflows).toHaveLength(c.subflows.length);
    const sf = got.subflows[0]!;
    expect(sf.samples.tMs).toHaveLength(6);
    expect(sf.samples.sendBytesPerSec[0]).toBeNull(); // no rate before the second reading
    const latest = snap.connections
      .find((x) => x.token === c.token)!
      .subflows.find((s) => s.localPort === sf.meta.localPort && s.remotePort === sf.meta.remotePort)!;
    expect(sf.samples.rttUs.at(-1)).toBeCloseTo(latest.rttUs, -1);
    expect(sf.last).toEqual({
      tMs: snap.takenAtMs,
      bytesAcked: latest.bytesAcked,
      bytesReceived: latest.bytesReceived,
    });
    // sinceMs cuts the older samples.
    expect(h.connection(c.token, snap.takenAtMs - 1500).subflows[0]!.samples.tMs).toHaveLength(2);
  });

  it('holds at most retention / poll interval samples a subflow, and forgets subflows gone that long', () => {
    const h = new HostHistory({ retentionMs: 10_000, pollIntervalMs: 1000 });
    const r = prng(2);
    let snap: ConnectionsSnapshot = syntheticSnapshot(r, 2, Date.now(), 1);
    const token = snap.connections[0]!.token;
    for (let i = 0; i < 100; i++) {
      h.recordSnapshot(snap);
      snap = steadyTick(r, snap, 1000, 0);
    }
    expect(h.connection(token).subflows[0]!.samples.tMs).toHaveLength(10);
    expect(h.stats().ringBytes).toBeLessThanOrEqual(h.stats().subflows * 10 * 25);
    h.recordSnapshot({ ...snap, takenAtMs: snap.takenAtMs + 20_000, connections: [] });
    expect(h.stats().subflows).toBe(0);
  });

  it('keeps the timeline for the retention, at most maxEvents entries, and says when it dropped some', () => {
    const h = new HostHistory({ retentionMs: 5000, pollIntervalMs: 1000, maxEvents: 3 });
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) h.recordEvent('mptcp:kernel:event', link(t0 + i), t0 + i);
    const got = h.events();
    expect(got.entries.map((e) => (e.payload as KernelEvent).timestampMs)).toEqual([t0 + 2, t0 + 3, t0 + 4]);
    expect(got.truncated).toBe(true);
    h.recordEvent('mptcp:kernel:event', link(t0 + 10_000), t0 + 10_000);
    expect(h.events().entries.length).toBeLessThanOrEqual(1);
  });
});
