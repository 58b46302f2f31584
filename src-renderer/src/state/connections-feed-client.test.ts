import { describe, expect, it } from 'vitest';
import { diffSnapshots } from '../../../shared/delta';
import { prng, steadyTick, syntheticSnapshot } from '../../../shared/testing/synthetic';
import { FakeApi } from '../testing/fake-api';
import { ConnectionsFeedClient } from './connections-feed-client';

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

  it('hands the snapshot of a slow apply to listeners in a later task, every one in order, acks at once', () => {
    const api = new FakeApi()
      .handle('mptcp:connections:resync', { ok: true, value: {} })
      .handle('mptcp:connections:ack', { ok: true, value: {} });
    const tasks: (() => void)[] = [];
    let clockMs = 0;
    let applyMs = 10; // how long the clock says each apply took
    const feed = new ConnectionsFeedClient(api, {
      ack: true,
      sliceBudgetMs: 4,
      sliceFromConnections: 20,
      // Each read moves the clock on by half an apply: receive reads it before and after.
      clock: () => (clockMs += applyMs / 2),
      schedule: (task) => tasks.push(task),
    });
    const seen: number[] = [];
    feed.subscribe((s) => seen.push(s.takenAtMs));
    const r = prng(8);
    const s1 = syntheticSnapshot(r, 20, 1000, 2);
    const s2 = steadyTick(r, s1, 1000, 0);
    const s3 = steadyTick(r, s2, 1000, 0);
    api.emit('mptcp:connections:delta', { kind: 'full', seq: 1, snapshot: s1 });
    api.emit('mptcp:connections:delta', diffSnapshots(s1, s2, 2, 1));
    // Applied and acknowledged at once, handed over later.
    expect(feed.snapshot).toEqual(s2);
    expect(api.calls.filter((c) => c.method === 'mptcp:connections:ack')).toHaveLength(2);
    expect(seen).toEqual([]);
    expect(tasks).toHaveLength(1);
    // A fast one, and a whole snapshot event, wait behind the slow ones: order is kept.
    applyMs = 1;
    api.emit('mptcp:connections:delta', diffSnapshots(s2, s3, 3, 2));
    api.emit('mptcp:connections:snapshot', s1);
    expect(seen).toEqual([]);
    while (tasks.length) tasks.shift()?.();
    expect(seen).toEqual([1000, 2000, 3000, 1000]);
    expect(feed.stats.deferred).toBe(4);
    // Below the size threshold, or within the budget: in the same task, as before.
    api.emit('mptcp:connections:delta', diffSnapshots(s3, s3, 4, 3));
    expect(seen).toHaveLength(5);
    expect(tasks).toHaveLength(0);
    feed.dispose();
  });

  it('by default opens no channel for small feeds and delivers in the same task', () => {
    const { api, seen } = setup();
    const s1 = syntheticSnapshot(prng(9), 5, 1000);
    api.emit('mptcp:connections:delta', { kind: 'full', seq: 1, snapshot: s1 });
    expect(seen).toEqual([1000]);
  });

  it('delivers a deferred snapshot through a real later task', async () => {
    const api = new FakeApi();
    const feed = new ConnectionsFeedClient(api, { sliceBudgetMs: -1, sliceFromConnections: 1 });
    const seen: number[] = [];
    feed.subscribe((s) => seen.push(s.takenAtMs));
    api.emit('mptcp:connections:delta', {
      kind: 'full',
      seq: 1,
      snapshot: syntheticSnapshot(prng(10), 3, 1000),
    });
    expect(seen).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen).toEqual([1000]);
    feed.dispose();
  });
});
