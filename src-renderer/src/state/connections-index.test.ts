import { describe, expect, it } from 'vitest';
import {
  prng,
  randInt,
  steadyTick,
  syntheticConnection,
  syntheticSnapshot,
  type Rand,
} from '../../../shared/testing/synthetic';
import type { Connection, ConnectionsSnapshot, Subflow } from '../../../shared/types';
import { hostPort, tokenHex } from '../format';
import { ConnectionsIndex, RateTracker, type Rates, type Sort, type SortKey } from './connections-index';

/** The next poll: some connections move bytes, some close, some open, rarely a new order. */
function step(r: Rand, s: ConnectionsSnapshot): ConnectionsSnapshot {
  const used = new Set(s.connections.map((c) => c.token));
  const connections: Connection[] = [];
  for (const c of s.connections) {
    const x = r();
    if (x < 0.05) continue; // closed
    if (x < 0.35) {
      const moved = steadyTick(r, { ...s, connections: [c] }, 1000, 0).connections[0] as Connection;
      // Now and then a subflow goes or comes.
      const y = r();
      if (y < 0.1 && moved.subflows.length > 0)
        connections.push({ ...moved, subflows: moved.subflows.slice(1) });
      else if (y < 0.2) connections.push({ ...moved, subflows: [...moved.subflows].reverse() });
      else connections.push(moved);
    } else connections.push(c); // idle: the same object, as the feed keeps it
  }
  for (let n = randInt(r, 0, 4); n > 0; n--) {
    let token = randInt(r, 1, 0xffffffff);
    while (used.has(token)) token = randInt(r, 1, 0xffffffff);
    used.add(token);
    connections.push(syntheticConnection(r, token));
  }
  if (r() < 0.1) connections.reverse();
  return { ...s, takenAtMs: s.takenAtMs + randInt(r, 500, 1500), connections };
}

// The table's rules as they were written before the index, applied to the whole list.
function path(c: Connection): string {
  return `${hostPort(c.localAddress, c.localPort)} → ${hostPort(c.remoteAddress, c.remotePort)}`;
}
function matches(c: Connection, filter: string): boolean {
  if (!filter) return true;
  const f = filter.toLowerCase();
  return (
    tokenHex(c.token).includes(f) ||
    path(c).toLowerCase().includes(f) ||
    c.state.toLowerCase().includes(f) ||
    c.subflows.some((s) => s.localAddress.includes(f) || s.remoteAddress.includes(f))
  );
}
function key(c: Connection, k: SortKey, rates: ReadonlyMap<number, Rates>): number | string {
  switch (k) {
    case 'token':
      return c.token;
    case 'path':
      return path(c);
    case 'state':
      return c.state;
    case 'subflows':
      return c.subflowsTotal;
    case 'send':
      return rates.get(c.token)?.sendBytesPerSec ?? 0;
    case 'recv':
      return rates.get(c.token)?.recvBytesPerSec ?? 0;
  }
}
function naive(
  connections: readonly Connection[],
  rates: ReadonlyMap<number, Rates>,
  sort: Sort,
  filter: string,
): number[] {
  return connections
    .filter((c) => matches(c, filter.trim()))
    .sort((a, b) => {
      const ka = key(a, sort.key, rates);
      const kb = key(b, sort.key, rates);
      if (ka !== kb) return (sort.desc ? -1 : 1) * (ka < kb ? -1 : 1);
      return a.token - b.token;
    })
    .map((c) => c.token);
}

/** Rates from two whole snapshots, subflow by subflow 4-tuple. */
function naiveRates(prev: ConnectionsSnapshot, next: ConnectionsSnapshot): Map<number, Rates> {
  const dt = next.takenAtMs - prev.takenAtMs;
  const before = new Map(prev.connections.map((c) => [c.token, c]));
  const tuple = (s: Subflow) => `${s.localAddress} ${s.localPort} ${s.remoteAddress} ${s.remotePort}`;
  const out = new Map<number, Rates>();
  for (const c of next.connections) {
    const p = before.get(c.token);
    if (!p) continue;
    const old = new Map(p.subflows.map((s) => [tuple(s), s]));
    let sent = 0;
    let received = 0;
    for (const s of c.subflows) {
      const o = old.get(tuple(s));
      if (!o) continue;
      sent += Math.max(0, s.bytesAcked - o.bytesAcked);
      received += Math.max(0, s.bytesReceived - o.bytesReceived);
    }
    if (sent > 0 || received > 0)
      out.set(c.token, { sendBytesPerSec: (sent * 1000) / dt, recvBytesPerSec: (received * 1000) / dt });
  }
  return out;
}

const KEYS: SortKey[] = ['token', 'path', 'state', 'subflows', 'send', 'recv'];

describe('RateTracker', () => {
  it('gives every connection its bytes per second since the last snapshot, only the moving ones held', () => {
    const r = prng(7);
    const tracker = new RateTracker();
    let s = syntheticSnapshot(r, 200, 1_700_000_000_000, 2);
    expect(tracker.next(s).size).toBe(0); // nothing to compare with yet
    for (let i = 0; i < 40; i++) {
      const next = step(r, s);
      const rates = tracker.next(next);
      expect(new Map([...rates].sort((a, b) => a[0] - b[0]))).toEqual(
        new Map([...naiveRates(s, next)].sort((a, b) => a[0] - b[0])),
      );
      s = next;
    }
  });
});

describe('ConnectionsIndex', () => {
  it('orders and filters exactly as sorting the whole list would, over random polls, sorts and filters', () => {
    const r = prng(11);
    const index = new ConnectionsIndex();
    const tracker = new RateTracker();
    let s = syntheticSnapshot(r, 300, 1_700_000_000_000);
    let rates = tracker.next(s);
    let sort: Sort = { key: 'send', desc: true };
    let filter = '';
    for (let i = 0; i < 300; i++) {
      if (r() < 0.6) {
        s = step(r, s);
        rates = tracker.next(s);
      }
      if (r() < 0.1) sort = { key: KEYS[randInt(r, 0, KEYS.length - 1)] as SortKey, desc: r() < 0.5 };
      if (r() < 0.1)
        filter = ['', '', '10.0.1', 'close', 'a', ' 10.1', 'fd00', 'SYN', '→ 10.0.2'][randInt(r, 0, 8)] ?? '';
      const rows = index.update(s.connections, rates, sort, filter);
      expect(rows.map((c) => c.token)).toEqual(naive(s.connections, rates, sort, filter));
      // The rows are this snapshot's objects.
      const current = new Set(s.connections);
      expect(rows.every((c) => current.has(c))).toBe(true);
    }
  });

  it('returns the same array when nothing it sorts or shows changed', () => {
    const r = prng(3);
    const index = new ConnectionsIndex();
    const s = syntheticSnapshot(r, 50, 1000, 2);
    const sort: Sort = { key: 'send', desc: true };
    const first = index.update(s.connections, new Map(), sort, '');
    // A new poll in which nothing changed: new snapshot and rates objects, the same connections.
    expect(index.update([...s.connections], new Map(), sort, '')).toBe(first);
    expect(index.update(s.connections, new Map(), { key: 'token', desc: false }, '')).not.toBe(first);
  });

  it('keeps every row when tokens repeat', () => {
    const r = prng(5);
    const c = syntheticConnection(r, 42, 1);
    const d = { ...syntheticConnection(r, 42, 1), inode: c.inode + 1 };
    const index = new ConnectionsIndex();
    const rows = index.update(
      [c, d, syntheticConnection(r, 7, 1)],
      new Map(),
      { key: 'token', desc: false },
      '',
    );
    expect(rows.map((x) => x.token)).toEqual([7, 42, 42]);
    expect(index.update([d], new Map(), { key: 'token', desc: false }, '')).toEqual([d]);
  });
});
