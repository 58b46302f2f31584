import { describe, expect, it } from 'vitest';
import {
  chooseSplit,
  PollSequencer,
  PortHistogram,
  portRangeFilter,
  splitFilters,
  splitPlan,
  SPLIT_DEFAULTS,
  type TcpSplit,
} from './connections';
import { AF_INET, AF_INET6, SnapshotBuilder } from './decode';
import { batch, byFamily, DONE, NLMSG_HDRLEN, recordedMptcp, recordedTcp } from './fixtures/poll-batches';

/**
 * The AF_INET TCP dump's port range split: the INET_DIAG_REQ_BYTECODE it sends, the choice of the
 * cut from a port histogram, and the sequencer's order with the extra dump.
 */

// ss 6.x, `ss -tnH -f inet 'sport >= :40000'` etc., the request's bytecode iovec as strace -xx
// shows it (INET_DIAG_REQ_BYTECODE attribute header, then the ops).
const SS_BYTES: [Parameters<typeof portRangeFilter>, string][] = [
  [['local', 'ge', 40000], '0c000100' + '02080c00' + '0000409c'],
  [['local', 'le', 39999], '0c000100' + '03080c00' + '00003f9c'],
  [['remote', 'ge', 443], '0c000100' + '04080c00' + '0000bb01'],
  [['remote', 'le', 442], '0c000100' + '05080c00' + '0000ba01'],
];

// inet_diag_bc_op codes (uapi: linux/inet_diag.h)
const BC = { NOP: 0, JMP: 1, S_GE: 2, S_LE: 3, D_GE: 4, D_LE: 5, S_EQ: 11, D_EQ: 12 } as const;

/** net/ipv4/inet_diag.c inet_diag_bc_audit (port ops only): 0 or -EINVAL. */
function audit(attr: Buffer): number {
  const bc = attr.subarray(4, attr.readUInt16LE(0));
  if (bc.length < 4) return -22;
  let at = 0;
  let len = bc.length;
  while (len > 0) {
    let minLen = 4;
    const code = bc[at]!;
    const yes = bc[at + 1]!;
    const no = bc.readUInt16LE(at + 2);
    switch (code) {
      case BC.S_EQ:
      case BC.S_GE:
      case BC.S_LE:
      case BC.D_EQ:
      case BC.D_GE:
      case BC.D_LE:
        minLen += 4; // valid_port_comparison: the port is in a follow-on op
        if (len < minLen) return -22;
        break;
      case BC.JMP:
      case BC.NOP:
        break;
      default:
        return -22;
    }
    if (code !== BC.NOP) {
      if (no < minLen || no > len + 4 || no & 3) return -22;
      // (valid_cc for a `no` inside the program: not reached by single-op programs.)
      if (no < len) return -22;
    }
    if (yes < minLen || yes > len + 4 || yes & 3) return -22;
    at += yes;
    len -= yes;
  }
  return len === 0 ? 0 : -22;
}

/** net/ipv4/inet_diag.c inet_diag_bc_run: does the socket pass the filter? */
function run(attr: Buffer, sport: number, dport: number): boolean {
  const bc = attr.subarray(4, attr.readUInt16LE(0));
  let at = 0;
  let len = bc.length;
  while (len > 0) {
    const code = bc[at]!;
    const port = at + 6 < bc.length ? bc.readUInt16LE(at + 6) : -1;
    let yes = true;
    if (code === BC.JMP) yes = false;
    else if (code === BC.S_GE) yes = sport >= port;
    else if (code === BC.S_LE) yes = sport <= port;
    else if (code === BC.D_GE) yes = dport >= port;
    else if (code === BC.D_LE) yes = dport <= port;
    else if (code !== BC.NOP) throw new Error(`op ${code}`);
    const step = yes ? bc[at + 1]! : bc.readUInt16LE(at + 2);
    at += step;
    len -= step;
  }
  return len === 0;
}

describe('portRangeFilter', () => {
  it('gives the bytes ss sends for the same comparison', () => {
    for (const [args, hex] of SS_BYTES) expect(portRangeFilter(...args).toString('hex')).toBe(hex);
  });

  it('passes the kernel audit and compares as the kernel runs it', () => {
    for (const [key, cmp, port] of [
      ['local', 'ge', 0],
      ['local', 'le', 65535],
      ['remote', 'ge', 443],
      ['remote', 'le', 1024],
    ] as const) {
      const f = portRangeFilter(key, cmp, port);
      expect(audit(f)).toBe(0);
      for (const p of [0, 1, 442, 443, 444, 1023, 1024, 1025, 40000, 65535]) {
        const want = cmp === 'ge' ? p >= port : p <= port;
        expect(run(f, key === 'local' ? p : 7, key === 'remote' ? p : 7)).toBe(want);
      }
    }
  });

  it('rejects a port outside 0..65535', () => {
    expect(() => portRangeFilter('local', 'ge', 65536)).toThrow(RangeError);
    expect(() => portRangeFilter('remote', 'le', -1)).toThrow(RangeError);
  });
});

describe('splitFilters', () => {
  it('puts every port in exactly one part, for both keys and both orders', () => {
    const splits: TcpSplit[] = [
      { key: 'local', threshold: 1, firstHigh: true },
      { key: 'local', threshold: 40000, firstHigh: false },
      { key: 'remote', threshold: 443, firstHigh: true },
      { key: 'remote', threshold: 65535, firstHigh: false },
    ];
    for (const s of splits) {
      const [first, second] = splitFilters(s);
      expect(audit(first)).toBe(0);
      expect(audit(second)).toBe(0);
      const wrong: number[] = [];
      for (let p = 0; p < 65536; p++) {
        const [sport, dport] = s.key === 'local' ? [p, 5201] : [5201, p];
        const a = run(first, sport, dport);
        const b = run(second, sport, dport);
        if (a === b || a !== (s.firstHigh ? p >= s.threshold : p < s.threshold)) wrong.push(p);
      }
      expect(wrong).toEqual([]);
    }
  });

  it('splitPlan sends the TCP AF_INET request with each filter appended', () => {
    const plan = splitPlan({ key: 'remote', threshold: 5202, firstHigh: true });
    const [first, second] = splitFilters(plan.split!);
    expect(plan.reqs).toHaveLength(5);
    expect(plan.reqs[2]!.subarray(56)).toEqual(first);
    expect(plan.reqs[3]!.subarray(56)).toEqual(second);
    expect(plan.reqs[2]!.subarray(0, 56)).toEqual(plan.reqs[3]!.subarray(0, 56));
    expect(plan.reqs[2]![0]).toBe(AF_INET);
    expect(plan.reqs[4]![0]).toBe(AF_INET6);
    // Every dump exactly once over the two workers; the first part alone on its worker.
    expect(plan.workers.flat().sort()).toEqual([0, 1, 2, 3, 4]);
    expect(plan.workers[1]).toEqual([2]);
  });
});

/** A histogram with `n` AF_INET TCP sockets from the generator, plus `other` others. */
function histogram(n: number, other: number, ports: (i: number) => [number, number]): PortHistogram {
  const h = new PortHistogram();
  const msg = Buffer.alloc(8);
  for (let i = 0; i < n; i++) {
    const [local, remote] = ports(i);
    msg.writeUInt16BE(local, 4);
    msg.writeUInt16BE(remote, 6);
    h.addTcp4(msg, 0);
  }
  h.other = other;
  return h;
}

function firstCount(h: PortHistogram, s: TcpSplit): number {
  const hist = s.key === 'local' ? h.local : h.remote;
  let n = 0;
  hist.forEach((c, p) => {
    if (s.firstHigh ? p >= s.threshold : p < s.threshold) n += c;
  });
  return n;
}

describe('chooseSplit', () => {
  // Balanced: the first part gets half of all the poll's sockets.
  const opts = { ...SPLIT_DEFAULTS, minSockets: 1000, firstShare: null };
  // A client: ephemeral local ports (a stride that fills 32768..60999 unevenly), one server port.
  const client = (i: number): [number, number] => [32768 + ((i * 7919) % 28232), 443];

  it('cuts a client on the local port so that both threads get half of all sockets', () => {
    const h = histogram(20_000, 10_000, client);
    const s = chooseSplit(h, null, opts)!;
    expect(s.key).toBe('local');
    // First part (alone on its thread) = half of the 30,000 sockets of the poll.
    expect(Math.abs(firstCount(h, s) - 15_000)).toBeLessThanOrEqual(1);
  });

  it('cuts a server whose subflows all have local port 443 on the remote port', () => {
    const h = histogram(20_000, 10_000, (i) => [443, client(i)[0]]);
    const s = chooseSplit(h, null, opts)!;
    expect(s.key).toBe('remote');
    expect(Math.abs(firstCount(h, s) - 15_000)).toBeLessThanOrEqual(1);
  });

  it('follows a skewed distribution: most sockets on a few ports', () => {
    // 60 % on remote port 443, 30 % on 8443, the rest spread; local ports all 8080 (a proxy).
    const h = histogram(10_000, 0, (i) => [8080, i % 10 < 6 ? 443 : i % 10 < 9 ? 8443 : 1024 + i]);
    const s = chooseSplit(h, null, { ...opts, firstShare: 0.5 })!;
    expect(s.key).toBe('remote');
    // The best cut puts 443 on one side: 6,000 against 4,000, within the 10 % tolerance of 5,000.
    expect([4000, 6000]).toContain(firstCount(h, s));
  });

  it('does not split when one port pair holds every socket, or no cut is near the target', () => {
    expect(
      chooseSplit(
        histogram(20_000, 0, () => [443, 50000]),
        null,
        opts,
      ),
    ).toBeNull();
    // 80 % on one remote port and one local port: the best cut is 8,000 / 2,000 against 5,000.
    const h = histogram(10_000, 0, (i) => (i % 10 < 8 ? [443, 80] : [444 + i, 81 + i]));
    expect(h.tcp4).toBe(10_000);
    expect(chooseSplit(h, null, { ...opts, firstShare: 0.5 })).toBeNull();
  });

  it('does not split an empty histogram, below minSockets, or when the others outweigh AF_INET', () => {
    expect(chooseSplit(new PortHistogram(), null, opts)).toBeNull();
    expect(chooseSplit(histogram(600, 300, client), null, opts)).toBeNull();
    expect(chooseSplit(histogram(600, 300, client), null, { ...opts, minSockets: 0 })).not.toBeNull();
    // 2,000 AF_INET TCP sockets against 30,000 MPTCP/AF_INET6: the AF_INET dump whole on its own thread.
    expect(chooseSplit(histogram(2_000, 30_000, client), null, opts)).toBeNull();
  });

  it('keeps the previous split while it stays within tolerance, and moves it when it does not', () => {
    const h = histogram(20_000, 10_000, client);
    const best = chooseSplit(h, null, opts)!;
    const near: TcpSplit = { ...best, threshold: best.threshold + 300 }; // ~200 sockets off
    expect(Math.abs(firstCount(h, near) - 15_000)).toBeGreaterThan(10);
    expect(chooseSplit(h, near, opts)).toBe(near);
    const far: TcpSplit = { key: 'local', threshold: 40000, firstHigh: false };
    expect(chooseSplit(h, far, opts)).toEqual(best);
  });

  it('honours firstShare; the default cuts the AF_INET TCP sockets in halves', () => {
    const h = histogram(20_000, 10_000, client);
    const s = chooseSplit(h, null, { ...opts, firstShare: 0.3 })!;
    expect(Math.abs(firstCount(h, s) - 6_000)).toBeLessThanOrEqual(1);
    const d = chooseSplit(h, null, { ...SPLIT_DEFAULTS, minSockets: 0 })!;
    expect(Math.abs(firstCount(h, d) - 10_000)).toBeLessThanOrEqual(1);
  });

  it('is off by default', () => {
    expect(chooseSplit(histogram(200_000, 100_000, client), null)).toBeNull();
  });
});

const localPort = (m: Buffer): number => m.readUInt16BE(NLMSG_HDRLEN + 4);

describe('PollSequencer with a split AF_INET TCP dump', () => {
  const mptcp = recordedMptcp;
  const tcp4 = byFamily(recordedTcp, AF_INET);
  const tcp6 = byFamily(recordedTcp, AF_INET6);
  // The recording's AF_INET local ports: 44216, 37601, 33461, 54135, 33542. Cut at 37000, first
  // part high: 44216, 37601, 54135 in the first dump, 33461 and 33542 in the second.
  const split: TcpSplit = { key: 'local', threshold: 37000, firstHigh: true };
  const plan = splitPlan(split);
  const DUMPS = [
    byFamily(mptcp, AF_INET),
    byFamily(mptcp, AF_INET6),
    tcp4.filter((m) => localPort(m) >= 37000),
    tcp4.filter((m) => localPort(m) < 37000),
    tcp6,
  ];
  const batches = (dump: number): { dump: number; buf: Buffer; used: number }[] => {
    const list = DUMPS[dump]!;
    if (list.length === 0) return [{ dump, ...batch([DONE]) }];
    return list.map((m, i) => ({ dump, ...batch(i === list.length - 1 ? [m, DONE] : [m]) }));
  };

  /** One socket reading the plan's dumps in request order. */
  const sequential = (): string => {
    const b = new SnapshotBuilder();
    for (const m of [...DUMPS[0]!, ...DUMPS[1]!]) b.onMptcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
    for (const m of [...DUMPS[2]!, ...DUMPS[3]!, ...DUMPS[4]!])
      b.onTcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
    return JSON.stringify({ c: b.connections, o: b.orphanSubflows });
  };

  it('the cut gives two non-empty parts with a connection split across them', () => {
    expect(DUMPS.map((d) => d.length)).toEqual([2, 2, 3, 2, 2]);
    const b = new SnapshotBuilder();
    for (const m of mptcp) b.onMptcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
    for (const m of tcp4) b.onTcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
    const straddling = b.connections.filter(
      (c) => c.subflows.some((s) => s.localPort >= 37000) && c.subflows.some((s) => s.localPort < 37000),
    );
    expect(straddling.length).toBeGreaterThan(0);
  });

  it('gives the sequential snapshot of the plan for any interleaving of the two workers', () => {
    const expected = sequential();
    let seed = 11;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let round = 0; round < 200; round++) {
      const streams = plan.workers.map((dumps) => dumps.flatMap((d) => batches(d)));
      const b = new SnapshotBuilder({ mptcpPending: true });
      const h = new PortHistogram();
      const seq = new PollSequencer(b, plan, h);
      while (streams.some((s) => s.length > 0)) {
        const live = streams.filter((s) => s.length > 0);
        const next = live[Math.floor(rnd() * live.length)]!.shift()!;
        seq.feed(next.dump, next.buf, next.used);
      }
      seq.finish();
      expect(JSON.stringify({ c: b.connections, o: b.orphanSubflows })).toBe(expected);
      // The histogram counted both AF_INET parts by port, and every other socket.
      expect(h.tcp4).toBe(5);
      expect(h.other).toBe(DUMPS[0]!.length + DUMPS[1]!.length + DUMPS[4]!.length);
      for (const m of tcp4) expect(h.local[localPort(m)]).toBeGreaterThan(0);
      expect(h.remote[5201]).toBe(2);
    }
  });

  it("a connection's subflows come in part order: the first part's, then the second's", () => {
    const b = new SnapshotBuilder({ mptcpPending: true });
    const seq = new PollSequencer(b, plan);
    // The second worker's part 1 arrives last: it is still decoded first.
    for (const d of [0, 1, 3, 4, 2]) for (const x of batches(d)) seq.feed(x.dump, x.buf, x.used);
    seq.finish();
    for (const c of b.connections) {
      const ports = c.subflows.filter((s) => s.family === 'inet').map((s) => s.localPort >= 37000);
      // Never a part-2 (low) subflow before a part-1 (high) one.
      expect(ports.join()).toBe([...ports].sort((x, y) => Number(y) - Number(x)).join());
    }
  });
});
