/**
 * What the connections table needs at 10,000 connections without redoing 10,000 of anything per
 * poll: each connection's throughput since the previous snapshot (RateTracker) and the filtered,
 * sorted row order (ConnectionsIndex), both updated from what changed.
 *
 * Both lean on object identity: the feed keeps the object of a connection nothing changed in
 * (applyDelta in shared/delta.ts; the engine's poll does the same upstream, see
 * docs/live-data.md), so an idle connection costs a Map lookup and a comparison.
 */
import type { Connection, ConnectionsSnapshot, Subflow } from '../../../shared/types';
import { hostPort, tokenHex } from '../format';

export interface Rates {
  sendBytesPerSec: number;
  recvBytesPerSec: number;
}

export const NO_RATES: Rates = { sendBytesPerSec: 0, recvBytesPerSec: 0 };

function sameTuple(a: Subflow, b: Subflow): boolean {
  return (
    a.localPort === b.localPort &&
    a.remotePort === b.remotePort &&
    a.localAddress === b.localAddress &&
    a.remoteAddress === b.remoteAddress
  );
}

function tupleKey(s: Subflow): string {
  return `${s.localAddress}|${s.localPort}|${s.remoteAddress}|${s.remotePort}`;
}

/**
 * Bytes a connection's subflows moved between two readings of it: bytes acked (sent) and
 * received, summed over the subflows present in both. A subflow whose counter went down (a new
 * socket on the same 4-tuple) or that is new counts nothing, as in the samples store's rates.
 */
function movedBytes(prev: Connection, next: Connection): { sent: number; received: number } {
  let sent = 0;
  let received = 0;
  const add = (p: Subflow, n: Subflow): void => {
    if (n.bytesAcked >= p.bytesAcked) sent += n.bytesAcked - p.bytesAcked;
    if (n.bytesReceived >= p.bytesReceived) received += n.bytesReceived - p.bytesReceived;
  };
  const a = prev.subflows;
  const b = next.subflows;
  if (a.length === b.length && a.every((s, i) => sameTuple(s, b[i] as Subflow))) {
    for (let i = 0; i < b.length; i++) add(a[i] as Subflow, b[i] as Subflow);
  } else {
    const before = new Map(a.map((s) => [tupleKey(s), s]));
    for (const n of b) {
      const p = before.get(tupleKey(n));
      if (p) add(p, n);
    }
  }
  return { sent, received };
}

/**
 * Throughput per connection over the interval between consecutive snapshots. The map holds only
 * connections that moved bytes; every other connection's rate is 0 (NO_RATES).
 */
export class RateTracker {
  private prev: ConnectionsSnapshot | null = null;
  private byToken = new Map<number, Connection>();

  next(snapshot: ConnectionsSnapshot): ReadonlyMap<number, Rates> {
    const out = new Map<number, Rates>();
    const prev = this.prev;
    const dtMs = prev ? snapshot.takenAtMs - prev.takenAtMs : 0;
    const byToken = this.byToken;
    for (const c of snapshot.connections) {
      const was = byToken.get(c.token);
      if (was === c) continue; // nothing changed, counters included
      byToken.set(c.token, c);
      if (!was || !(dtMs > 0)) continue;
      const moved = movedBytes(was, c);
      if (moved.sent > 0 || moved.received > 0) {
        out.set(c.token, {
          sendBytesPerSec: (moved.sent * 1000) / dtMs,
          recvBytesPerSec: (moved.received * 1000) / dtMs,
        });
      }
    }
    if (byToken.size > snapshot.connections.length) {
      // Some closed: keep only this snapshot's (one pass, only when the count says so).
      this.byToken = new Map(snapshot.connections.map((c) => [c.token, c]));
    }
    this.prev = snapshot;
    return out;
  }

  reset(): void {
    this.prev = null;
    this.byToken = new Map();
  }
}

export type SortKey = 'token' | 'path' | 'state' | 'subflows' | 'send' | 'recv';
export interface Sort {
  key: SortKey;
  desc: boolean;
}

export function connectionPath(c: Connection): string {
  return `${hostPort(c.localAddress, c.localPort)} → ${hostPort(c.remoteAddress, c.remotePort)}`;
}

interface Entry {
  c: Connection;
  /** The sort key's value for c (and its rates). */
  key: number | string;
  /** Lower-case text the filter searches, built on first use for this c. */
  text: string | null;
  /** Whether c passes the current filter. */
  match: boolean;
  /** Generation of the last update that saw this token. */
  seen: number;
  /** Generation of the last update that moved or changed this entry. */
  dirty: number;
}

function searchText(c: Connection): string {
  // One line per part: a search box has no newline, so a match never spans two parts.
  const parts = [tokenHex(c.token), connectionPath(c).toLowerCase(), c.state.toLowerCase()];
  for (const s of c.subflows) parts.push(s.localAddress, s.remoteAddress);
  return parts.join('\n');
}

/**
 * The connections table's rows: those matching a filter, sorted by one column (ties by token),
 * kept between snapshots. A snapshot in which k connections changed (their object, or their
 * rate when sorting by one) costs a pass over the connections, a sort of the k and a merge; an
 * unchanged one returns the very same array, so React skips everything below.
 * Strings sort by code unit (addresses and states are ASCII; localeCompare cost ~1 µs each).
 */
export class ConnectionsIndex {
  private entries = new Map<number, Entry>();
  private order: Entry[] = [];
  private rows: readonly Connection[] = [];
  private generation = 0;
  private sort: Sort | null = null;
  private filter = '';
  private connections: readonly Connection[] | null = null;
  private rates: ReadonlyMap<number, Rates> | null = null;

  update(
    connections: readonly Connection[],
    rates: ReadonlyMap<number, Rates>,
    sort: Sort,
    filter: string,
  ): readonly Connection[] {
    const f = filter.trim().toLowerCase();
    const rateKeyed = sort.key === 'send' || sort.key === 'recv';
    if (
      this.connections === connections &&
      (this.rates === rates || !rateKeyed) &&
      this.sort?.key === sort.key &&
      this.sort.desc === sort.desc &&
      this.filter === f
    ) {
      return this.rows;
    }
    const full = this.sort?.key !== sort.key || this.sort.desc !== sort.desc || this.filter !== f;
    this.sort = { ...sort };
    this.filter = f;
    this.connections = connections;
    this.rates = rates;
    const gen = ++this.generation;
    const keyOf = this.keyFunction(sort.key, rates);
    const cmp = this.comparator(sort.desc);

    let changed = 0;
    const moved: Entry[] = [];
    for (const c of connections) {
      let e = this.entries.get(c.token);
      if (!e) {
        e = { c, key: keyOf(c), text: null, match: true, seen: gen, dirty: gen };
        e.match = this.matches(e);
        this.entries.set(c.token, e);
        moved.push(e);
        changed++;
        continue;
      }
      e.seen = gen;
      if (e.c !== c) {
        e.c = c;
        e.text = null;
        e.key = keyOf(c);
        e.match = this.matches(e);
        e.dirty = gen;
        moved.push(e);
        changed++;
      } else if (rateKeyed) {
        const key = keyOf(c);
        if (key !== e.key) {
          e.key = key;
          e.dirty = gen;
          moved.push(e);
          changed++;
        }
      }
    }
    let removed = false;
    if (this.entries.size > connections.length) {
      for (const [token, e] of this.entries) {
        if (e.seen !== gen) {
          this.entries.delete(token);
          removed = true;
        }
      }
    }

    if (this.entries.size !== connections.length) {
      // Tokens not unique (sock_diag should never give that): sort the lot, index nothing.
      this.entries.clear();
      this.order = [];
      this.sort = null;
      const all = connections.map((c) => {
        const e: Entry = { c, key: keyOf(c), text: null, match: true, seen: gen, dirty: gen };
        e.match = this.matches(e);
        return e;
      });
      this.rows = all
        .filter((e) => e.match)
        .sort(cmp)
        .map((e) => e.c);
      return this.rows;
    }
    if (full) {
      const all: Entry[] = [];
      for (const e of this.entries.values()) {
        e.key = keyOf(e.c);
        e.match = this.matches(e);
        if (e.match) all.push(e);
      }
      all.sort(cmp);
      this.order = all;
    } else {
      if (changed === 0 && !removed) return this.rows;
      const add = moved.filter((e) => e.match).sort(cmp);
      const kept = this.order.filter((e) => e.seen === gen && e.dirty !== gen);
      this.order = merge(kept, add, cmp);
    }
    this.rows = this.order.map((e) => e.c);
    return this.rows;
  }

  private matches(e: Entry): boolean {
    if (!this.filter) return true;
    e.text ??= searchText(e.c);
    return e.text.includes(this.filter);
  }

  private keyFunction(key: SortKey, rates: ReadonlyMap<number, Rates>): (c: Connection) => number | string {
    switch (key) {
      case 'token':
        return (c) => c.token;
      case 'path':
        return connectionPath;
      case 'state':
        return (c) => c.state;
      case 'subflows':
        return (c) => c.subflowsTotal;
      case 'send':
        return (c) => rates.get(c.token)?.sendBytesPerSec ?? 0;
      case 'recv':
        return (c) => rates.get(c.token)?.recvBytesPerSec ?? 0;
    }
  }

  private comparator(desc: boolean): (a: Entry, b: Entry) => number {
    const dir = desc ? -1 : 1;
    return (a, b) => {
      if (a.key !== b.key) return dir * (a.key < b.key ? -1 : 1);
      return a.c.token - b.c.token;
    };
  }
}

function merge<T>(a: readonly T[], b: readonly T[], cmp: (x: T, y: T) => number): T[] {
  if (b.length === 0) return a as T[];
  const out: T[] = new Array<T>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as T;
    const y = b[j] as T;
    if (cmp(y, x) < 0) {
      out[k++] = y;
      j++;
    } else {
      out[k++] = x;
      i++;
    }
  }
  while (i < a.length) out[k++] = a[i++] as T;
  while (j < b.length) out[k++] = b[j++] as T;
  return out;
}
