import { describe, expect, it } from 'vitest';
import type { Connection } from '../../../shared/types';
import { PollSequencer, WORKER_DUMPS } from './connections';
import { PollMemory, SnapshotBuilder } from './decode';
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

  it('random byte changes, drops, reorders and duplicates give what a fresh build gives', () => {
    const rnd = rng(42);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    let prev: Built = build(recordedMptcp, recordedTcp, null, new PollMemory());
    let spare: PollMemory | null = null;
    let reusedConns = 0;
    let reusedSubs = 0;
    for (let round = 0; round < 3000; round++) {
      let mptcp = copy(recordedMptcp);
      let tcp = copy(recordedTcp);
      const what = rnd();
      if (what < 0.7) {
        // One to three bytes of message bodies: fields, attribute headers, anything.
        for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
          const m = pick(rnd() < 0.3 ? mptcp : tcp);
          m[NLMSG_HDRLEN + Math.floor(rnd() * (m.length - NLMSG_HDRLEN))] = Math.floor(rnd() * 256);
        }
      } else if (what < 0.8) {
        tcp.splice(Math.floor(rnd() * tcp.length), 1);
      } else if (what < 0.85) {
        mptcp.splice(Math.floor(rnd() * mptcp.length), 1);
      } else if (what < 0.95) {
        tcp = tcp
          .map((m) => [rnd(), m] as const)
          .sort((x, y) => x[0] - y[0])
          .map(([, m]) => m);
        mptcp = mptcp
          .map((m) => [rnd(), m] as const)
          .sort((x, y) => x[0] - y[0])
          .map(([, m]) => m);
      } else {
        tcp.push(Buffer.from(pick(tcp)));
        if (rnd() < 0.5) mptcp.push(Buffer.from(pick(mptcp)));
      }
      const before = text(prev);
      deepFreeze(prev.connections);
      // The memory of the poll before last is refilled, as readConnections recycles it.
      const next = build(mptcp, tcp, prev.mem, spare ?? new PollMemory());
      expect(text(next), `round ${round}`).toBe(fresh(mptcp, tcp));
      expect(text(prev), `round ${round}: last poll unchanged`).toBe(before);
      const s = shared(prev.connections, next.connections);
      reusedConns += s.conns;
      reusedSubs += s.subs;
      spare = prev.mem;
      // Every other round starts again from the recording, so that most rounds have much to reuse.
      prev = round % 2 === 0 ? next : build(recordedMptcp, recordedTcp, next.mem, spare);
      if (round % 2 !== 0) spare = next.mem;
    }
    // The comparison above must have been about reuse, not about fresh objects on both sides.
    expect(reusedConns).toBeGreaterThan(3000);
    expect(reusedSubs).toBeGreaterThan(8000);
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
