import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Connection } from '../../../shared/types';
import { PollSequencer, WORKER_DUMPS } from './connections';
import { PollMemory, SnapshotBuilder } from './decode';
import { AGE_TOLERANCE_MS } from './poll-memory';
import {
  feedInterleaved,
  NLMSG_HDRLEN,
  recordedDumps,
  recordedMptcp,
  recordedTcp,
} from './fixtures/poll-batches';

/**
 * A poll that reuses the last poll's unchanged objects (SnapshotBuilder `prev`) must give exactly
 * the snapshot a fresh build gives, whatever changed between the two polls, and never write to
 * the last poll's objects. Recorded lab messages (decode.test.ts) and mutations of them.
 */

interface Built {
  connections: Connection[];
  orphans: number;
  mem: PollMemory | null;
}

function build(mptcp: Buffer[], tcp: Buffer[], prev: PollMemory | null, into: PollMemory | null): Built {
  const b = new SnapshotBuilder({ prev, into });
  for (const m of mptcp) b.onMptcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
  for (const m of tcp) b.onTcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
  const connections = b.finish();
  return { connections, orphans: b.orphanSubflows, mem: b.memory() };
}

const fresh = (mptcp: Buffer[], tcp: Buffer[]): string => {
  const r = build(mptcp, tcp, null, null);
  return JSON.stringify({ c: r.connections, o: r.orphans });
};
const text = (r: Built): string => JSON.stringify({ c: r.connections, o: r.orphans });

const AGE_KEYS = ['lastDataSentAtMs', 'lastDataRecvAtMs', 'lastAckRecvAtMs'] as const;
/**
 * The snapshot text with the tcp_info times left out, and each time's distance from `fresh`'s:
 * a reused subflow keeps last poll's times while they are within AGE_TOLERANCE_MS of the new ones
 * (poll-memory.ts TCP_INFO_AGES), so for a changed age byte those may differ, by no more than that.
 */
function withoutAges(json: string): { text: string; times: (number | null)[] } {
  const times: (number | null)[] = [];
  const text = JSON.stringify(JSON.parse(json), (k, v: unknown) => {
    if ((AGE_KEYS as readonly string[]).includes(k)) {
      times.push(typeof v === 'number' ? v : null);
      return undefined;
    }
    return v;
  });
  return { text, times };
}

/** `got` is what a fresh build gives (`want`), its times within AGE_TOLERANCE_MS of the fresh ones. */
function expectAsFresh(got: string, want: string, what: string): void {
  const g = withoutAges(got);
  const w = withoutAges(want);
  expect(g.text, what).toBe(w.text);
  g.times.forEach((t, i) => {
    const f = w.times[i]!;
    if (t === null || f === null) expect(t, what).toBe(f);
    else expect(Math.abs(t - f), what).toBeLessThanOrEqual(AGE_TOLERANCE_MS);
  });
}

// tcp_info's ages become times against the dump's clock (SnapshotBuilder `nowMs`, Date.now() by
// default): one clock for every build here, so that two builds of the same bytes are equal.
beforeEach(() => {
  vi.spyOn(Date, 'now').mockReturnValue(1_800_000_000_000);
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Freezes a snapshot's objects: a write to them then throws (ES modules are strict code). */
function deepFreeze(conns: Connection[]): void {
  for (const c of conns) {
    for (const s of c.subflows) Object.freeze(s);
    Object.freeze(c.subflows);
    Object.freeze(c);
  }
}

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x / 2 ** 32;
  };
}

const copy = (list: Buffer[]): Buffer[] => list.map((m) => Buffer.from(m));

/** Objects of `b` that are the very objects of `a` (connections, subflows). */
function shared(a: Connection[], b: Connection[]): { conns: number; subs: number } {
  const objs = new Set<object>([...a, ...a.flatMap((c) => c.subflows)]);
  return {
    conns: b.filter((c) => objs.has(c)).length,
    subs: b.flatMap((c) => c.subflows).filter((s) => objs.has(s)).length,
  };
}

describe('SnapshotBuilder with the last poll (PollMemory)', () => {
  it('an unchanged poll is the last poll, object for object, subflow arrays included', () => {
    const a = build(recordedMptcp, recordedTcp, null, new PollMemory());
    deepFreeze(a.connections);
    const b = build(copy(recordedMptcp), copy(recordedTcp), a.mem, new PollMemory());
    expect(text(b)).toBe(text(a));
    expect(b.connections).toHaveLength(4);
    b.connections.forEach((c, i) => {
      expect(c).toBe(a.connections[i]);
      expect(c.subflows).toBe(a.connections[i]!.subflows);
    });
  });

  it('every byte of every message, changed alone: what a fresh build gives', () => {
    // Exhaustive single-byte changes against an unchanged last poll (the most reuse there can
    // be): a decoded byte missing from the records would hand out a stale object here.
    const a = build(recordedMptcp, recordedTcp, null, new PollMemory());
    deepFreeze(a.connections);
    const before = text(a);
    let changedObjects = 0;
    for (const [list, isTcp] of [
      [recordedMptcp, false],
      [recordedTcp, true],
    ] as const) {
      for (let k = 0; k < list.length; k++) {
        for (let at = NLMSG_HDRLEN; at < list[k]!.length; at++) {
          for (const bit of [0x01, 0x80]) {
            const mptcp = isTcp ? recordedMptcp : copy(recordedMptcp);
            const tcp = isTcp ? copy(recordedTcp) : recordedTcp;
            const m = (isTcp ? tcp : mptcp)[k]!;
            m[at]! ^= bit;
            const next = build(mptcp, tcp, a.mem, new PollMemory());
            const want = fresh(mptcp, tcp);
            expectAsFresh(text(next), want, `${isTcp ? 'tcp' : 'mptcp'} message ${k} byte ${at} ^ ${bit}`);
            if (want !== before) changedObjects++;
          }
        }
      }
    }
    expect(text(a)).toBe(before);
    // Most bytes are decoded into something (else this test would check little).
    expect(changedObjects).toBeGreaterThan(1000);
  });

  it('a changed subflow field: a new subflow and connection with the new value, the rest shared', () => {
    const a = build(recordedMptcp, recordedTcp, null, new PollMemory());
    deepFreeze(a.connections);
    const tcp = copy(recordedTcp);
    // tcpi_snd_cwnd (tcp_info word 20) of the first subflow of the first connection.
    const first = a.connections[0]!.subflows[0]!;
    const idx = recordedTcp.findIndex(
      (m) =>
        m.readUInt16BE(NLMSG_HDRLEN + 4) === first.localPort &&
        m.readUInt16BE(NLMSG_HDRLEN + 6) === first.remotePort,
    );
    const m = tcp[idx]!;
    let at = NLMSG_HDRLEN + 72;
    while (at < m.length && m.readUInt16LE(at + 2) !== 2) at += (m.readUInt16LE(at) + 3) & ~3;
    m.writeUInt32LE(first.cwndPkts + 7, at + 4 + 80);
    const b = build(copy(recordedMptcp), tcp, a.mem, new PollMemory());
    expect(text(b)).toBe(fresh(recordedMptcp, tcp));
    expect(b.connections[0]!.subflows[0]!.cwndPkts).toBe(first.cwndPkts + 7);
    expect(b.connections[0]).not.toBe(a.connections[0]);
    expect(b.connections[0]!.subflows.slice(1)).toEqual(a.connections[0]!.subflows.slice(1));
    expect(shared(a.connections, b.connections)).toEqual({ conns: 3, subs: 6 });
  });

  it('concurrent dumps (subflows before their connections): same snapshot, same sharing', () => {
    const DUMPS = recordedDumps;
    const sequential = build(
      [...DUMPS[0]!, ...DUMPS[1]!],
      [...DUMPS[2]!, ...DUMPS[3]!],
      null,
      new PollMemory(),
    );
    deepFreeze(sequential.connections);
    const rnd = rng(9);
    for (let round = 0; round < 200; round++) {
      const b = new SnapshotBuilder({ mptcpPending: true, prev: sequential.mem, into: new PollMemory() });
      const seq = new PollSequencer(b);
      feedInterleaved(WORKER_DUMPS, rnd, (d, buf, used) => seq.feed(d, buf, used));
      seq.finish();
      const conns = b.finish();
      expect(conns).toEqual(sequential.connections);
      conns.forEach((c, i) => expect(c).toBe(sequential.connections[i]));
    }
  });

  it('refuses to fill the memory it reads', () => {
    const m = new PollMemory();
    expect(() => new SnapshotBuilder({ prev: m, into: m })).toThrow(/into === prev/);
  });
});

/** The top-level (or nested, within [from, end)) attributes of a message: type, offset, length. */
function attrs(
  m: Buffer,
  from = NLMSG_HDRLEN + 72,
  end = m.length,
): { t: number; at: number; len: number }[] {
  const out: { t: number; at: number; len: number }[] = [];
  let a = from;
  while (a + 4 <= end) {
    const l = m.readUInt16LE(a);
    if (l < 4 || a + l > end) break;
    out.push({ t: m.readUInt16LE(a + 2) & 0x3fff, at: a, len: l });
    a += (l + 3) & ~3;
  }
  return out;
}

type Ev = { k: 'm' | 't'; m: Buffer };

function buildEvents(evs: Ev[], pending: boolean, prev: PollMemory | null, into: PollMemory | null): Built {
  const b = new SnapshotBuilder({ mptcpPending: pending, prev, into });
  for (const e of evs)
    if (e.k === 'm') b.onMptcp(e.m, NLMSG_HDRLEN, e.m.length - NLMSG_HDRLEN);
    else b.onTcp(e.m, NLMSG_HDRLEN, e.m.length - NLMSG_HDRLEN);
  b.mptcpDone();
  const connections = b.finish();
  return { connections, orphans: b.orphanSubflows, mem: b.memory() };
}

/** A copy of a recorded message with its token (MPTCP) or TOKEN_LOC (subflow) moved by `delta`. */
function retoken(m: Buffer, isTcp: boolean, delta: number): Buffer {
  const c = Buffer.from(m);
  const top = attrs(c);
  if (!isTcp) {
    const info = top.find((a) => a.t === 2)!;
    c.writeUInt32LE((c.readUInt32LE(info.at + 4 + 12) + delta) >>> 0, info.at + 4 + 12);
    return c;
  }
  const ulp = top.find((a) => a.t === 19)!;
  for (const u of attrs(c, ulp.at + 4, ulp.at + ulp.len))
    if (u.t === 3)
      for (const a of attrs(c, u.at + 4, u.at + u.len))
        if (a.t === 2) c.writeUInt32LE((c.readUInt32LE(a.at + 4) + delta) >>> 0, a.at + 4);
  return c;
}

// From the review of the reuse change: short INFO structs, congestion-control names past the intern
// table's 32, and TCP messages before their MPTCP sockets (mptcpPending), together with reuse.
describe('SnapshotBuilder with the last poll: edge cases', () => {
  it('random changes between polls (bytes, short INFO structs, congestion names past the intern table, drops, reorders, duplicates, interleavings) give what a fresh build gives', () => {
    const rnd = rng(7);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const all = (mptcp: Buffer[], tcp: Buffer[]): Ev[] => [
      ...mptcp.map((m) => ({ k: 'm' as const, m })),
      ...tcp.map((m) => ({ k: 't' as const, m })),
    ];
    let prev = buildEvents(all(recordedMptcp, recordedTcp), false, null, new PollMemory());
    let spare: PollMemory | null = null;
    let reusedConns = 0;
    let reusedSubs = 0;
    for (let round = 0; round < 5000; round++) {
      let mptcp = copy(recordedMptcp);
      let tcp = copy(recordedTcp);
      const r = rnd();
      if (r < 0.15) {
        // INFO cut short: no reuse, no record that could match later.
        const m = pick(rnd() < 0.5 ? mptcp : tcp);
        const info = attrs(m).find((a) => a.t === 2);
        if (info) m.writeUInt16LE(4 + Math.floor(rnd() * (info.len - 4)), info.at);
      } else if (r < 0.3) {
        // Another congestion-control name of the same length: fills the intern table.
        const m = pick(tcp);
        const cong = attrs(m).find((a) => a.t === 4);
        if (cong)
          for (let i = 0; i < cong.len - 5; i++)
            m[cong.at + 4 + i] = 97 + Math.floor(rnd() * (rnd() < 0.5 ? 2 : 26));
      } else if (r < 0.6) {
        // One to three bytes of message bodies: fields, attribute headers, anything.
        for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
          const m = pick(rnd() < 0.3 ? mptcp : tcp);
          m[NLMSG_HDRLEN + Math.floor(rnd() * (m.length - NLMSG_HDRLEN))] = Math.floor(rnd() * 256);
        }
      } else if (r < 0.7) {
        tcp.splice(Math.floor(rnd() * tcp.length), 1);
      } else if (r < 0.75) {
        mptcp.splice(Math.floor(rnd() * mptcp.length), 1);
      } else if (r < 0.85) {
        const shuffle = (xs: Buffer[]): Buffer[] =>
          xs
            .map((m) => [rnd(), m] as const)
            .sort((x, y) => x[0] - y[0])
            .map(([, m]) => m);
        tcp = shuffle(tcp);
        mptcp = shuffle(mptcp);
      }
      if (rnd() < 0.1) tcp.push(Buffer.from(pick(tcp)));
      if (rnd() < 0.05) mptcp.push(Buffer.from(pick(mptcp)));
      // Pending mode: MPTCP and TCP messages interleaved, each list in its own order.
      const pending = rnd() < 0.5;
      let evs: Ev[] = all(mptcp, tcp);
      if (pending) {
        evs = [];
        let i = 0;
        let j = 0;
        while (i < mptcp.length || j < tcp.length) {
          if (j >= tcp.length || (i < mptcp.length && rnd() < 0.5)) evs.push({ k: 'm', m: mptcp[i++]! });
          else evs.push({ k: 't', m: tcp[j++]! });
        }
      }
      deepFreeze(prev.connections);
      const before = text(prev);
      // The memory of the poll before last is refilled, as ConnectionPoller.read recycles it.
      const next = buildEvents(evs, pending, prev.mem, spare ?? new PollMemory());
      expectAsFresh(text(next), text(buildEvents(evs, pending, null, null)), `round ${round}`);
      expect(text(prev), `round ${round}: last poll unchanged`).toBe(before);
      const s = shared(prev.connections, next.connections);
      reusedConns += s.conns;
      reusedSubs += s.subs;
      spare = prev.mem;
      // Every other round starts again from the recording, so that most rounds have much to reuse.
      if (round % 2 === 0) prev = next;
      else {
        prev = buildEvents(all(recordedMptcp, recordedTcp), false, next.mem, spare);
        spare = next.mem;
      }
    }
    // The comparisons above must have been about reuse, not about fresh objects on both sides.
    expect(reusedConns).toBeGreaterThan(5000);
    expect(reusedSubs).toBeGreaterThan(12000);
  });

  it('two congestion-control names the intern table had no room for never pass for each other', () => {
    /** The recorded TCP messages with every INET_DIAG_CONG name replaced by `name` (same length). */
    const withCong = (name: (len: number) => string): Buffer[] =>
      copy(recordedTcp).map((m) => {
        const cong = attrs(m).find((x) => x.t === 4);
        if (cong) m.write(name(cong.len - 5), cong.at + 4, 'latin1');
        return m;
      });
    const letters = (seed: number) => (len: number) =>
      Array.from({ length: len }, (_, i) => String.fromCharCode(97 + ((seed * 7 + i * 3) % 26))).join('');
    // Fill the (process-wide) intern table with 40 other names first.
    for (let i = 0; i < 40; i++) build(recordedMptcp, withCong(letters(100 + i)), null, null);
    const a = build(recordedMptcp, withCong(letters(1)), null, new PollMemory());
    const tcp = withCong(letters(2));
    const b = build(recordedMptcp, tcp, a.mem, new PollMemory());
    expect(text(b)).toBe(fresh(recordedMptcp, tcp));
    expect(b.connections.flatMap((c) => c.subflows).map((x) => x.congestionControl)).not.toContain(
      a.connections[0]!.subflows[0]!.congestionControl,
    );
  });

  it('12,000 connections: the slabs and indexes grow, an unchanged poll is shared whole', () => {
    const mptcp: Buffer[] = [];
    const tcp: Buffer[] = [];
    for (let k = 0; k < 3000; k++) {
      for (const m of recordedMptcp) mptcp.push(retoken(m, false, k * 7919));
      for (const m of recordedTcp) tcp.push(retoken(m, true, k * 7919));
    }
    const a = build(mptcp, tcp, null, new PollMemory());
    const b = build(mptcp, tcp, a.mem, new PollMemory());
    expect(b.connections).toHaveLength(12000);
    expect(b.connections.every((c, i) => c === a.connections[i])).toBe(true);
    // One subflow's bytes_retrans changes, deep in the list: one connection is new, the rest shared.
    const changed = tcp.slice();
    const m = Buffer.from(changed[20000]!);
    m[208]! ^= 1;
    changed[20000] = m;
    const c = build(mptcp, changed, b.mem, a.mem);
    expect(text(c)).toBe(fresh(mptcp, changed));
    expect(c.connections.filter((x, i) => x === b.connections[i])).toHaveLength(11999);
  });

  it('the memory of a poll is offered only once the poll is finished, with its own copy of the list', () => {
    const b = new SnapshotBuilder({ into: new PollMemory() });
    for (const m of recordedMptcp) b.onMptcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
    expect(b.memory()).toBeNull();
    const conns = b.finish();
    const mem = b.memory()!;
    conns.reverse(); // the caller's array: the next poll must not care
    const next = build(recordedMptcp, [], mem, new PollMemory());
    expect(text(next)).toBe(fresh(recordedMptcp, []));
  });
});
