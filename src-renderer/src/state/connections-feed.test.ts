import { describe, expect, it } from 'vitest';
import { diffSnapshots } from '../../../shared/delta';
import { prng, steadyTick, syntheticSnapshot } from '../../../shared/synthetic';
import { FakeApi } from '../api/fake-api';
import { ConnectionsFeedClient } from './connections-feed';

function setup(ack = false) {
  const api = new FakeApi()
    .handle('mptcp:connections:resync', { ok: true, value: {} })
    .handle('mptcp:connections:ack', { ok: true, value: {} });
  let t = 0;
  const feed = new ConnectionsFeedClient(api, { ack, now: () => t, resyncRetryMs: 1000 });
  const seen: number[] = [];
  feed.subscribe((s) => seen.push(s.takenAtMs));
  return { api, feed, seen, advance: (ms: number) => (t += ms) };
}

describe('ConnectionsFeedClient', () => {
  it('rebuilds the host snapshot from a full event and deltas, and hands each to listeners', () => {
    const { api, feed, seen } = setup();
    const r = prng(1);
    const s1 = syntheticSnapshot(r, 50, 1000, 2);
    const s2 = steadyTick(r, s1, 1000, 0.05);
    const s3 = steadyTick(r, s2, 1000, 0.05);
    api.emit('mptcp:connections:delta', { kind: 'full', seq: 1, snapshot: s1 });
    api.emit('mptcp:connections:delta', diffSnapshots(s1, s2, 2, 1));
    api.emit('mptcp:connections:delta', diffSnapshots(s2, s3, 3, 2));
    expect(feed.snapshot).toEqual(s3);
    expect(feed.seq).toBe(3);
    expect(seen).toEqual([1000, 2000, 3000]);
    expect(feed.stats).toMatchObject({ full: 1, deltas: 2, gaps: 0 });
  });

  it('drops a delta after a gap, asks for a resync once, and recovers on the full snapshot', () => {
    const { api, feed, seen, advance } = setup();
    const r = prng(2);
    const s1 = syntheticSnapshot(r, 10, 1000);
    const s2 = steadyTick(r, s1, 1000);
    const s3 = steadyTick(r, s2, 1000);
    api.emit('mptcp:connections:delta', { kind: 'full', seq: 1, snapshot: s1 });
    api.emit('mptcp:connections:delta', diffSnapshots(s2, s3, 3, 2)); // seq 2 never arrived
    api.emit('mptcp:connections:delta', diffSnapshots(s2, s3, 3, 2));
    expect(feed.snapshot).toEqual(s1);
    expect(api.calls.filter((c) => c.method === 'mptcp:connections:resync')).toHaveLength(1);
    advance(1500);
    api.emit('mptcp:connections:delta', diffSnapshots(s2, s3, 3, 2));
    expect(api.calls.filter((c) => c.method === 'mptcp:connections:resync')).toHaveLength(2);
    api.emit('mptcp:connections:delta', { kind: 'full', seq: 4, snapshot: s3 });
    expect(feed.snapshot).toEqual(s3);
    expect(seen).toEqual([1000, 3000]);
    expect(feed.stats.gaps).toBe(3);
  });

  it('resyncs when a delta does not fit the held snapshot', () => {
    const { api, feed } = setup();
    const a = syntheticSnapshot(prng(3), 5, 1000);
    const other = syntheticSnapshot(prng(4), 5, 1000);
    api.emit('mptcp:connections:delta', { kind: 'full', seq: 1, snapshot: a });
    api.emit('mptcp:connections:delta', diffSnapshots(other, steadyTick(prng(5), other, 1000, 0.5), 2, 1));
    expect(feed.snapshot).toBeNull();
    expect(api.calls.some((c) => c.method === 'mptcp:connections:resync')).toBe(true);
  });

  it('acknowledges each applied event when asked to (the IPC host waits for acks)', () => {
    const { api } = setup(true);
    const s1 = syntheticSnapshot(prng(6), 3, 1000);
    api.emit('mptcp:connections:delta', { kind: 'full', seq: 7, snapshot: s1 });
    api.emit('mptcp:connections:delta', diffSnapshots(s1, s1, 8, 7));
    api.emit('mptcp:connections:delta', diffSnapshots(s1, s1, 10, 9)); // a gap: not acked
    expect(api.calls.filter((c) => c.method === 'mptcp:connections:ack').map((c) => c.args)).toEqual([
      { seq: 7 },
      { seq: 8 },
    ]);
  });
});
