import { describe, expect, it, vi } from 'vitest';
import { ApiFailure } from '../../shared/result';
import { EngineService } from './service';
import { emptySnapshot, fakeBackend, sampleStatus } from '../testing/fake-backend';
import { applyDelta, type ConnectionsFeedEvent } from '../../shared/delta';
import { prng, steadyTick, syntheticSnapshot } from '../../shared/testing/synthetic';
import type { ConnectionsSnapshot, Overview } from '../../shared/types';

/** A backend whose every poll returns the next snapshot of steady synthetic traffic. */
function trafficBackend(connections = 50) {
  const r = prng(99);
  let current = syntheticSnapshot(r, connections, 1_000, 2);
  const history: ConnectionsSnapshot[] = [];
  const backend = fakeBackend({
    'mptcp:connections:list': () => {
      current = steadyTick(r, current, 100, 0.05);
      history.push(current);
      return Promise.resolve(current);
    },
  });
  return { backend, history };
}

/** A subscriber that rebuilds snapshots from what it is sent. */
function rebuild(events: ConnectionsFeedEvent[]): ConnectionsSnapshot | null {
  let held: { seq: number; snap: ConnectionsSnapshot } | null = null;
  for (const e of events) {
    if (e.kind === 'full') held = { seq: e.seq, snap: e.snapshot };
    else {
      if (held?.seq !== e.baseSeq) throw new Error(`gap: held ${held?.seq} base ${e.baseSeq}`);
      held = { seq: e.seq, snap: applyDelta(held.snap, e) };
    }
  }
  return held?.snap ?? null;
}

describe('EngineService', () => {
  it('refuses unknown methods and malformed arguments without calling the backend', async () => {
    const b = fakeBackend();
    const s = new EngineService(b);
    expect(await s.invoke('mptcp:nope', {})).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await s.invoke('__proto__', {})).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await s.invoke('mptcp:status:get', { extra: 1 })).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
    expect(b.calls).toEqual([]);
  });

  it('returns kernel refusals as values with their errno', async () => {
    const s = new EngineService(
      fakeBackend({ 'mptcp:limits:get': () => Promise.reject(new ApiFailure('EPERM', 'no', 'EPERM')) }),
    );
    expect(await s.invoke('mptcp:limits:get', {})).toEqual({
      ok: false,
      error: { code: 'EPERM', message: 'no', errno: 'EPERM' },
    });
  });

  it('polls connections only while someone listens, and skips overlapping polls', async () => {
    vi.useFakeTimers();
    let release: () => void = () => undefined;
    let polls = 0;
    const b = fakeBackend({
      'mptcp:connections:list': () => {
        polls++;
        return new Promise((r) => {
          release = () => r(emptySnapshot);
        });
      },
    });
    const s = new EngineService(b, { pollIntervalMs: 100 });
    await vi.advanceTimersByTimeAsync(500);
    expect(polls).toBe(0);
    const got: unknown[] = [];
    const off = s.on('mptcp:connections:snapshot', (p) => got.push(p));
    expect(polls).toBe(1);
    await vi.advanceTimersByTimeAsync(350); // the first poll is still running: no pile-up
    expect(polls).toBe(1);
    release();
    await vi.advanceTimersByTimeAsync(100);
    expect(got).toHaveLength(1);
    expect(polls).toBe(2);
    off();
    release();
    await vi.advanceTimersByTimeAsync(1000);
    expect(polls).toBe(2);
    vi.useRealTimers();
  });

  it('feeds each subscriber a full snapshot then deltas; a busy one is skipped, not queued, and catches up in one delta', async () => {
    vi.useFakeTimers();
    const { backend, history } = trafficBackend();
    const s = new EngineService(backend, { pollIntervalMs: 100 });
    const fast: ConnectionsFeedEvent[] = [];
    const slow: ConnectionsFeedEvent[] = [];
    let slowReady = true;
    const f1 = s.subscribeConnections({ ready: () => true, send: (e) => fast.push(e) });
    const f2 = s.subscribeConnections({ ready: () => slowReady, send: (e) => slow.push(e) });
    await vi.advanceTimersByTimeAsync(250);
    expect(fast[0]?.kind).toBe('full');
    expect(fast.slice(1).every((e) => e.kind === 'delta')).toBe(true);
    slowReady = false;
    const before = slow.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(slow.length).toBe(before); // nothing sent, nothing buffered
    expect(f2.stats.skipped).toBeGreaterThanOrEqual(5);
    slowReady = true;
    await vi.advanceTimersByTimeAsync(100);
    expect(slow.length).toBe(before + 1); // one delta covering all it missed
    expect(rebuild(slow)).toEqual(history.at(-1));
    expect(rebuild(fast)).toEqual(history.at(-1));
    // A resync sends the latest snapshot whole, at once.
    f2.resync();
    expect(slow.at(-1)).toMatchObject({ kind: 'full', snapshot: history.at(-1) });
    f1.close();
    f2.close();
    const polls = history.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(history.length).toBe(polls); // nobody left: polling stopped
    vi.useRealTimers();
  });

  it('over IPC waits for acks: at most ackWindow events beyond the last ack', async () => {
    vi.useFakeTimers();
    const { backend, history } = trafficBackend(5);
    const s = new EngineService(backend, { pollIntervalMs: 100 });
    const got: ConnectionsFeedEvent[] = [];
    const feed = s.subscribeConnections({ ready: () => true, send: (e) => got.push(e) }, { ackWindow: 2 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(got).toHaveLength(2);
    feed.ack(got.at(-1)?.seq ?? 0);
    // The poll slowed down meanwhile (nobody took its results); the next one goes out.
    await vi.advanceTimersByTimeAsync(s.pollStats.intervalMs);
    expect(got).toHaveLength(3);
    expect(rebuild(got)).toEqual(history.at(-1));
    feed.close();
    vi.useRealTimers();
  });

  it('slows the poll down when nobody keeps up or polls are slow, and speeds up again', async () => {
    vi.useFakeTimers();
    const { backend } = trafficBackend(5);
    const s = new EngineService(backend, { pollIntervalMs: 100, maxPollIntervalMs: 800 });
    let ready = false;
    const feed = s.subscribeConnections({ ready: () => ready, send: () => undefined });
    await vi.advanceTimersByTimeAsync(3000);
    expect(s.pollStats.intervalMs).toBe(800);
    const pollsWhileSlow = s.pollStats.polls;
    await vi.advanceTimersByTimeAsync(1600);
    expect(s.pollStats.polls - pollsWhileSlow).toBeLessThanOrEqual(3);
    ready = true;
    await vi.advanceTimersByTimeAsync(3000);
    expect(s.pollStats.intervalMs).toBe(100);
    feed.close();
    vi.useRealTimers();
  });

  it('runs one poll loop after the last subscriber leaves and a new one joins during a poll', async () => {
    vi.useFakeTimers();
    const pending: (() => void)[] = [];
    let polls = 0;
    const b = fakeBackend({
      'mptcp:connections:list': () => {
        polls++;
        return new Promise((r) => pending.push(() => r({ ...emptySnapshot, takenAtMs: polls })));
      },
    });
    const s = new EngineService(b, { pollIntervalMs: 100 });
    const off = s.on('mptcp:connections:snapshot', () => undefined);
    expect(polls).toBe(1);
    await vi.advanceTimersByTimeAsync(50);
    off(); // the first poll is still in flight
    s.on('mptcp:connections:snapshot', () => undefined);
    // The first poll ends a little later; every poll after it is answered at once.
    await vi.advanceTimersByTimeAsync(20);
    pending.shift()?.();
    const answer = setInterval(() => pending.splice(0).forEach((f) => f()), 1);
    const before = polls;
    await vi.advanceTimersByTimeAsync(2000);
    // One loop at 100 ms: about 20 polls in 2 s (two loops made about 40).
    expect(polls - before).toBeGreaterThanOrEqual(18);
    expect(polls - before).toBeLessThanOrEqual(21);
    clearInterval(answer);
    await s.close();
    vi.useRealTimers();
  });

  it('does not keep the result of a poll that finished after everyone left', async () => {
    vi.useFakeTimers();
    let release: () => void = () => undefined;
    const b = fakeBackend({
      'mptcp:connections:list': () =>
        new Promise((r) => {
          release = () => r({ ...emptySnapshot, takenAtMs: 1 });
        }),
    });
    const s = new EngineService(b, { pollIntervalMs: 100 });
    const off = s.on('mptcp:connections:snapshot', () => undefined);
    off();
    release();
    await vi.advanceTimersByTimeAsync(10);
    // A new feed must not be handed the stale result as the current state.
    const sent: ConnectionsFeedEvent[] = [];
    const feed = s.subscribeConnections({ ready: () => true, send: (e) => sent.push(e) });
    expect(sent).toEqual([]);
    feed.close();
    await s.close();
    vi.useRealTimers();
  });

  it('brings the poll interval back down after one slow poll', async () => {
    vi.useFakeTimers();
    // Polls take 60 ms against a 100 ms interval; the third one takes 150 ms.
    const durationsMs = [60, 60, 150];
    let n = 0;
    const b = fakeBackend({
      'mptcp:connections:list': () =>
        new Promise((r) => setTimeout(() => r(emptySnapshot), durationsMs[n++] ?? 60)),
    });
    const s = new EngineService(b, { pollIntervalMs: 100 });
    const off = s.on('mptcp:connections:snapshot', () => undefined);
    await vi.advanceTimersByTimeAsync(350);
    expect(s.pollStats.intervalMs).toBe(200);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.pollStats.intervalMs).toBe(100);
    off();
    await s.close();
    vi.useRealTimers();
  });

  it('starts afresh after a stop: a counters read that finishes after the stop is not the next base', async () => {
    vi.useFakeTimers();
    let t = 1000;
    const reads: (() => void)[] = [];
    const b = fakeBackend({
      'mptcp:counters:get': () =>
        new Promise((r) => reads.push(() => r({ takenAtMs: (t += 1000), counters: { MPJoinRejected: 3 } }))),
    });
    const s = new EngineService(b, { countersIntervalMs: 1000 });
    const off = s.on('mptcp:counters:sample', () => undefined);
    off(); // the first read is still in flight
    reads.shift()?.();
    await vi.advanceTimersByTimeAsync(10);
    const got: unknown[] = [];
    const off2 = s.on('mptcp:counters:sample', (p) => got.push(p));
    reads.shift()?.();
    await vi.advanceTimersByTimeAsync(10);
    // The first sample of a new subscription carries every counter.
    expect(got).toEqual([{ takenAtMs: 3000, prevTakenAtMs: null, changed: { MPJoinRejected: 3 } }]);
    off2();
    vi.useRealTimers();
  });

  it('samples MPTcpExt counters while someone listens, sending only the changed ones', async () => {
    vi.useFakeTimers();
    let t = 1000;
    const values = [
      { MPJoinRejected: 0, MPCapableSYNTX: 5 },
      { MPJoinRejected: 0, MPCapableSYNTX: 5 },
      { MPJoinRejected: 2, MPCapableSYNTX: 5 },
    ];
    let i = 0;
    const b = fakeBackend({
      'mptcp:counters:get': () =>
        Promise.resolve({ takenAtMs: (t += 1000), counters: values[Math.min(i++, values.length - 1)] ?? {} }),
    });
    const s = new EngineService(b, { countersIntervalMs: 1000 });
    const got: unknown[] = [];
    const off = s.on('mptcp:counters:sample', (p) => got.push(p));
    await vi.advanceTimersByTimeAsync(2100);
    expect(got).toEqual([
      { takenAtMs: 2000, prevTakenAtMs: null, changed: { MPJoinRejected: 0, MPCapableSYNTX: 5 } },
      { takenAtMs: 3000, prevTakenAtMs: 2000, changed: {} },
      { takenAtMs: 4000, prevTakenAtMs: 3000, changed: { MPJoinRejected: 2 } },
    ]);
    off();
    await vi.advanceTimersByTimeAsync(3000);
    expect(got).toHaveLength(3);
    vi.useRealTimers();
  });
});

describe('the live model of the kernel state (mptcp:overview:changed)', () => {
  const base = {
    status: sampleStatus,
    limits: { subflows: 2, addAddrAccepted: 0 },
    endpoints: [],
    interfaces: [],
    errors: [],
  };

  it('pushes the state when watched, again only when it changed, and stops with the last listener', async () => {
    let current: Overview = base;
    let reads = 0;
    const service = new EngineService(
      fakeBackend({
        'mptcp:overview:get': () => {
          reads++;
          return Promise.resolve(current);
        },
      }),
      { overviewIntervalMs: 20 },
    );
    const pushed: Overview[] = [];
    const off = service.on('mptcp:overview:changed', (o) => pushed.push(o));
    await vi.waitFor(() => expect(pushed).toHaveLength(1));
    await vi.waitFor(() => expect(reads).toBeGreaterThan(3));
    expect(pushed).toHaveLength(1); // re-read, nothing changed, nothing pushed
    current = { ...base, limits: { subflows: 4, addAddrAccepted: 0 } };
    await vi.waitFor(() => expect(pushed).toHaveLength(2));
    expect(pushed[1]?.limits?.subflows).toBe(4);
    off();
    const readsAtStop = reads;
    await new Promise((r) => setTimeout(r, 80));
    expect(reads).toBe(readsAtStop);
  });

  it('re-reads at once on a kernel event instead of waiting for the interval', async () => {
    let current: Overview = base;
    const service = new EngineService(fakeBackend({ 'mptcp:overview:get': () => Promise.resolve(current) }), {
      overviewIntervalMs: 60_000,
    });
    const pushed: Overview[] = [];
    service.on('mptcp:overview:changed', (o) => pushed.push(o));
    await vi.waitFor(() => expect(pushed).toHaveLength(1));
    current = { ...base, endpoints: [], limits: { subflows: 8, addAddrAccepted: 8 } };
    service.emit('mptcp:kernel:event', {
      source: 'link',
      timestampMs: 1,
      deleted: false,
      index: 2,
      name: 'c1',
      operState: 'down',
      adminUp: false,
      running: false,
      usable: false,
      mtuBytes: 1500,
    });
    await vi.waitFor(() => expect(pushed).toHaveLength(2), { timeout: 1000 });
    await service.close();
  });
});

describe('a service that keeps history', () => {
  it('polls with nobody listening, and answers the history methods from what it kept', async () => {
    const r = prng(9);
    let snap = syntheticSnapshot(r, 2, Date.now(), 2);
    const service = new EngineService(
      fakeBackend({
        'mptcp:connections:list': () => {
          snap = steadyTick(r, snap, 20, 0);
          return Promise.resolve(snap);
        },
      }),
      { pollIntervalMs: 20, history: { retentionMs: 60_000 } },
    );
    const token = snap.connections[0]!.token;
    await vi.waitFor(async () => {
      const h = await service.invoke('mptcp:history:connection', { token });
      expect(
        h.ok && (h.value as { subflows: { samples: { tMs: number[] } }[] }).subflows[0]?.samples.tMs.length,
      ).toBeGreaterThan(3);
    });
    service.emit('mptcp:pm:action', {
      timestampMs: 5,
      token,
      action: 'subflow-create',
      result: 'ok',
      message: null,
      local: null,
      localPort: null,
      localId: null,
      remote: null,
      remotePort: null,
      errno: null,
      detail: {},
    });
    const ev = await service.invoke('mptcp:history:events', {});
    expect(ev.ok && (ev.value as { entries: { name: string }[] }).entries.map((e) => e.name)).toContain(
      'mptcp:pm:action',
    );
    await service.close();
  });

  it('derives failover events from its polls and keeps them in the timeline', async () => {
    const r = prng(3);
    const base = syntheticSnapshot(r, 1, Date.now(), 2);
    let polls = 0;
    let reads = 0;
    const service = new EngineService(
      fakeBackend({
        'mptcp:connections:list': () => {
          polls++;
          const c = base.connections[0]!;
          // From the third poll on, the first subflow's RTO has backed off (tcpi_backoff).
          const subflows = c.subflows.map((s, i) => ({ ...s, backoffCount: i === 0 && polls >= 3 ? 3 : 0 }));
          return Promise.resolve({ ...base, takenAtMs: Date.now(), connections: [{ ...c, subflows }] });
        },
        'mptcp:counters:get': () => {
          reads++;
          return Promise.resolve({ takenAtMs: Date.now(), counters: { SubflowStale: reads > 1 ? 1 : 0 } });
        },
      }),
      { pollIntervalMs: 20, history: { retentionMs: 60_000 } },
    );
    const pushed: string[] = [];
    service.on('mptcp:failover:event', (e) => pushed.push(e.kind));
    await vi.waitFor(() => expect(pushed).toEqual(expect.arrayContaining(['stalled', 'kernel-stale'])), {
      timeout: 3000,
    });
    expect(pushed.filter((k) => k === 'stalled')).toHaveLength(1);
    const ev = await service.invoke('mptcp:history:events', {});
    const kept = ev.ok
      ? (ev.value as { entries: { name: string; payload: { kind?: string } }[] }).entries
      : [];
    expect(kept.filter((e) => e.name === 'mptcp:failover:event').map((e) => e.payload.kind)).toEqual(
      expect.arrayContaining(['stalled', 'kernel-stale']),
    );
    await service.close();
  });

  it('without history, the methods say so', async () => {
    const service = new EngineService(fakeBackend());
    const h = await service.invoke('mptcp:history:events', {});
    expect(h).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED' } });
  });
});
