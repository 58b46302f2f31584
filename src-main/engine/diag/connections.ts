/**
 * MPTCP connections and their subflows, read from sock_diag (NETLINK_SOCK_DIAG).
 *
 * A poll is four dumps (reference §3.6): MPTCP sockets (INET_DIAG_REQ_PROTOCOL = IPPROTO_MPTCP) and
 * TCP sockets, each for AF_INET and AF_INET6 (dual-stack sockets report AF_INET6, G8). A TCP socket
 * is a subflow when its INET_DIAG_ULP_INFO nest names the "mptcp" ULP; its TOKEN_LOC is the key to
 * its connection's mptcpi_token. Netlink allows one dump at a time per socket, and the kernel
 * fills a dump's datagrams inside the recvmsg calls of the thread that reads them. So a full poll
 * runs on two dump worker threads (dump-worker.ts), each with its own socket: the AF_INET TCP dump
 * on one, the other three on the other, while this thread decodes the batches as they arrive
 * (PollSequencer restores the order of a sequential poll). Kernel and decode overlap on two cores;
 * a second socket on the same thread was measured not to help (bench/poll.mjs --variants). The
 * AF_INET6 TCP dump is left out when the AF_INET6 MPTCP dump found no socket (PollPlan
 * skipWhenEmpty): it would only walk the kernel's whole established hash once more.
 *
 * The AF_INET TCP dump can also be cut in two by a port range (INET_DIAG_REQ_BYTECODE, chooseSplit),
 * one part per worker, so that the kernel fills both halves at once. It is off by default: at
 * 10,000 connections on the 2-core dev box it was no faster and cost 3-12 ms more CPU per poll
 * (bench/poll.mjs --split, figures there), since each filtered dump walks the whole hash again and
 * both cores are already busy. With the split on, a connection's AF_INET subflows come in part
 * order (first part, then second; each in the kernel's hash order) instead of hash order alone;
 * the order stays the same from poll to poll while the split is kept (see splitPlan).
 */
import type { Connection, ConnectionsSnapshot } from '../../../shared/types';
import {
  align4,
  malformedNlmsgerr,
  NetlinkError,
  netlinkOverrun,
  nlmsgerrErrno,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  type NlSocket,
} from '../netlink/core';
import { AF_INET, AF_INET6, PollMemory, SnapshotBuilder } from './decode';
import { DiagDumpWorker, type ReceivePath } from './dump-worker';

export {
  decodeInetDiagMsg,
  decodeMptcpInfo,
  decodeTcpInfo,
  formatAddress,
  subflowFlagLetters,
  subflowFlags,
  SnapshotBuilder,
} from './decode';

/** SOCK_DIAG_BY_FAMILY (uapi: linux/sock_diag.h). */
export const SOCK_DIAG_BY_FAMILY = 20;
const IPPROTO_TCP = 6;
const IPPROTO_MPTCP = 262;
/** sizeof(struct inet_diag_req_v2). */
const REQ_V2_LEN = 56;
// INET_DIAG_REQ_* request attributes (uapi: linux/inet_diag.h)
const INET_DIAG_REQ_BYTECODE = 1;
const INET_DIAG_REQ_PROTOCOL = 3;
// idiag_ext bits: 1 << (INET_DIAG_x - 1). ULP_INFO rides on INFO (G7).
const EXT_INFO = 1 << (2 - 1);
const EXT_CONG = 1 << (4 - 1);
// idiag_states bits: 1 << TCP_x (include/net/tcp_states.h)
const TCPF_TIME_WAIT = 1 << 6;
const TCPF_LISTEN = 1 << 10;
const TCPF_NEW_SYN_RECV = 1 << 12;
/** MPTCP sockets except listeners (they have an all-zero mptcp_info). */
const MPTCP_STATES = 0xffffffff & ~TCPF_LISTEN;
/**
 * TCP sockets that can be subflows: not listeners, not TIME_WAIT (no ULP_INFO, §3.6) and not
 * request sockets (NEW_SYN_RECV: no tcp_info, no ULP; the subflow appears once accepted).
 */
const TCP_STATES = 0xffffffff & ~(TCPF_LISTEN | TCPF_TIME_WAIT | TCPF_NEW_SYN_RECV);
// inet_diag_bc_op codes (uapi: linux/inet_diag.h)
const INET_DIAG_BC_JMP = 1;
const INET_DIAG_BC_S_EQ = 11;
const INET_DIAG_BC_D_EQ = 12;

/** struct inet_diag_req_v2, optionally followed by request attributes. */
function diagRequest(family: number, protocol: number, ext: number, states: number, cookie0 = 0): Buffer {
  const mptcp = protocol === IPPROTO_MPTCP;
  const req = Buffer.alloc(REQ_V2_LEN + (mptcp ? 8 : 0));
  req[0] = family;
  // sdiag_protocol is a u8 (G6): ss writes 262 & 0xff; the attribute below is what counts.
  req[1] = protocol & 0xff;
  req[2] = ext;
  req.writeUInt32LE(states >>> 0, 4);
  // inet_diag_sockid.idiag_cookie[0] (sockid offset 40): a lookup by MPTCP token (§3.1).
  req.writeUInt32LE(cookie0 >>> 0, 8 + 40);
  if (mptcp) {
    req.writeUInt16LE(8, REQ_V2_LEN);
    req.writeUInt16LE(INET_DIAG_REQ_PROTOCOL, REQ_V2_LEN + 2);
    req.writeUInt32LE(IPPROTO_MPTCP, REQ_V2_LEN + 4);
  }
  return req;
}

const MPTCP_DUMP_REQS = [AF_INET, AF_INET6].map((f) => diagRequest(f, IPPROTO_MPTCP, EXT_INFO, MPTCP_STATES));
const TCP_DUMP_REQS = [AF_INET, AF_INET6].map((f) =>
  diagRequest(f, IPPROTO_TCP, EXT_INFO | EXT_CONG, TCP_STATES),
);

/** The request payloads of a poll, in the order they are sent (also used by the recorder). */
export const pollRequests = { mptcp: MPTCP_DUMP_REQS, tcp: TCP_DUMP_REQS } as const;

/**
 * Runs the MPTCP dumps, then the TCP dumps, feeding the builder as the datagrams arrive. Returns
 * how many dumps it left out.
 */
async function dumpInto(diag: NlSocket, b: SnapshotBuilder, allDumps = false): Promise<number> {
  let skipped = 0;
  let mptcp6 = 0;
  const onMptcp = (buf: Buffer, _type: number, off: number, len: number): void => {
    if (buf[off] === AF_INET6) mptcp6++;
    b.onMptcp(buf, off, len);
  };
  const onTcp = (buf: Buffer, _type: number, off: number, len: number): void => b.onTcp(buf, off, len);
  for (const req of MPTCP_DUMP_REQS)
    await diag.dump(SOCK_DIAG_BY_FAMILY, req, 'sock_diag MPTCP dump', onMptcp);
  for (const req of TCP_DUMP_REQS) {
    // No AF_INET6 MPTCP socket, no AF_INET6 subflow (PollPlan.skipWhenEmpty).
    if (req[0] === AF_INET6 && mptcp6 === 0 && !allDumps) {
      skipped++;
      continue;
    }
    await diag.dump(SOCK_DIAG_BY_FAMILY, req, 'sock_diag TCP dump', onTcp);
  }
  return skipped;
}

/**
 * A poll on the dump workers: two threads, so that the kernel fills the dumps on both cores at once
 * (a dump is built inside the recvmsg calls of the thread that reads it). The AF_INET TCP dump is
 * most of the kernel's work (10,000 connections: ~27 of ~41 ms, bench/poll.mjs --variants), so it
 * gets a thread of its own and the other three run one after the other on the second: the
 * unsplit plan. When asked to (ReadConnectionsOptions.tcpSplit), the AF_INET TCP dump is itself
 * cut in two by a port range (see chooseSplit): the first part on its own thread, the second
 * before the AF_INET6 TCP dump on the other.
 */
export interface PollPlan {
  /** Request payloads: the MPTCP dumps, then the TCP dumps in the order their subflows are decoded. */
  readonly reqs: readonly Buffer[];
  /** Per dump, its name in errors. */
  readonly what: readonly string[];
  /** How many of `reqs` are MPTCP dumps (they come first). */
  readonly nMptcp: number;
  /** Per dump: an AF_INET TCP dump, whose sockets go into the port histogram. */
  readonly tcp4: readonly boolean[];
  /** Per worker, the dumps (indices in `reqs`) it runs, in order. */
  readonly workers: readonly (readonly number[])[];
  /**
   * Per dump: -1, or an earlier dump on the same worker whose emptiness makes this one pointless:
   * the AF_INET6 TCP dump after an AF_INET6 MPTCP dump that found no socket. An AF_INET MPTCP socket
   * only ever gets AF_INET subflows (mptcp_pm_addr_families_match), so every AF_INET6 subflow
   * belongs to an AF_INET6 MPTCP socket; without one, the dump would only walk the whole
   * established hash once more (all namespaces' sockets, several ms at 10,000 connections) to find
   * plain TCP sockets. A v6 connection opened between the two dumps is missed by this poll, as its
   * subflows would only have counted as orphans.
   */
  readonly skipWhenEmpty: readonly number[];
  /** The port range cut of the AF_INET TCP dump, or null (one AF_INET TCP dump). */
  readonly split: TcpSplit | null;
}

const MPTCP_WHAT = ['sock_diag MPTCP dump', 'sock_diag MPTCP dump'];
const N_MPTCP = MPTCP_DUMP_REQS.length;
const [TCP4_REQ, TCP6_REQ] = TCP_DUMP_REQS as [Buffer, Buffer];

/** The four dumps: MPTCP AF_INET, MPTCP AF_INET6, TCP AF_INET (its own worker), TCP AF_INET6. */
export const UNSPLIT_PLAN: PollPlan = {
  reqs: [...MPTCP_DUMP_REQS, TCP4_REQ, TCP6_REQ],
  what: [...MPTCP_WHAT, 'sock_diag TCP dump', 'sock_diag TCP dump'],
  nMptcp: N_MPTCP,
  tcp4: [false, false, true, false],
  workers: [
    [0, 1, 3], // MPTCP AF_INET, MPTCP AF_INET6, TCP AF_INET6
    [2], // TCP AF_INET
  ],
  skipWhenEmpty: [-1, -1, -1, 1],
  split: null,
};
export const WORKER_DUMPS = UNSPLIT_PLAN.workers;

/** All four dumps on the first worker, one after the other (bench/poll.mjs --variants). */
const SEQUENTIAL_PLAN: PollPlan = { ...UNSPLIT_PLAN, workers: [[0, 1, 2, 3]] };

// inet_diag_bc_op codes for port ranges (uapi: linux/inet_diag.h)
const INET_DIAG_BC_S_GE = 2;
const INET_DIAG_BC_S_LE = 3;
const INET_DIAG_BC_D_GE = 4;
const INET_DIAG_BC_D_LE = 5;

/** The port a split compares: the socket's own (sport, inet_num) or its peer's (dport). */
export type SplitKey = 'local' | 'remote';

/**
 * A cut of the AF_INET TCP dump: the first part holds the sockets whose `key` port is >= threshold
 * (`firstHigh`) or < threshold, the second part the others, so every port is in exactly one part.
 */
export interface TcpSplit {
  readonly key: SplitKey;
  /** 1..65535, so that neither range is empty of ports. */
  readonly threshold: number;
  readonly firstHigh: boolean;
}

/**
 * INET_DIAG_REQ_BYTECODE attribute for `key port >= port` ('ge') or `<= port` ('le'), as ss
 * compiles `sport >= :P` (misc/ss.c): the op, then a second op whose `no` field holds the port in
 * host order (inet_diag_bc_run reads op[1].no). yes = 8 lands exactly on the end (accept: the run
 * ends with len == 0); no = 12 jumps 4 past it (reject). inet_diag_bc_audit accepts it: a port
 * comparison needs 8 bytes (valid_port_comparison), yes >= 8, and no <= len + 4, both multiples of 4.
 */
export function portRangeFilter(key: SplitKey, cmp: 'ge' | 'le', port: number): Buffer {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`port ${port}`);
  const code =
    key === 'local'
      ? cmp === 'ge'
        ? INET_DIAG_BC_S_GE
        : INET_DIAG_BC_S_LE
      : cmp === 'ge'
        ? INET_DIAG_BC_D_GE
        : INET_DIAG_BC_D_LE;
  const attr = Buffer.alloc(12);
  attr.writeUInt16LE(attr.length, 0);
  attr.writeUInt16LE(INET_DIAG_REQ_BYTECODE, 2);
  attr[4] = code;
  attr[5] = 8; // yes
  attr.writeUInt16LE(12, 6); // no
  attr.writeUInt16LE(port, 10); // op[1] = { code 0, yes 0, no port }
  return attr;
}

/** The two parts' filters: [first part, second part]; together they cover 0..65535 once. */
export function splitFilters(s: TcpSplit): [Buffer, Buffer] {
  const high = portRangeFilter(s.key, 'ge', s.threshold);
  const low = portRangeFilter(s.key, 'le', s.threshold - 1);
  return s.firstHigh ? [high, low] : [low, high];
}

/**
 * The plan of a split poll: MPTCP AF_INET, MPTCP AF_INET6, TCP AF_INET part 1, part 2, TCP AF_INET6.
 * Part 1 runs alone on the second worker from the start, so it comes first in decode order (its
 * batches are decoded as they arrive rather than held); part 2 and AF_INET6 follow the MPTCP dumps
 * on the first worker. A connection's subflows therefore come in the order: part 1's, part 2's
 * (each in the kernel's hash-walk order), AF_INET6's; stable while the split is (chooseSplit keeps
 * it while it stays balanced).
 */
export function splitPlan(s: TcpSplit): PollPlan {
  const [first, second] = splitFilters(s);
  return {
    reqs: [...MPTCP_DUMP_REQS, Buffer.concat([TCP4_REQ, first]), Buffer.concat([TCP4_REQ, second]), TCP6_REQ],
    what: [
      ...MPTCP_WHAT,
      'sock_diag TCP dump (AF_INET part 1)',
      'sock_diag TCP dump (AF_INET part 2)',
      'sock_diag TCP dump',
    ],
    nMptcp: N_MPTCP,
    tcp4: [false, false, true, true, false],
    workers: [
      [0, 1, 3, 4], // MPTCP AF_INET, MPTCP AF_INET6, TCP AF_INET part 2, TCP AF_INET6
      [2], // TCP AF_INET part 1
    ],
    skipWhenEmpty: [-1, -1, -1, -1, 1],
    split: s,
  };
}

/**
 * What the last poll saw, for the next poll's split: the AF_INET TCP sockets by local and by
 * remote port (every socket the kernel filled, subflow or not: the cost is the kernel's), and the
 * count of every other socket of the poll (MPTCP and AF_INET6 TCP), which the other worker fills.
 * Full 16-bit resolution (512 KiB), so that the cut can be exact.
 */
export class PortHistogram {
  readonly local = new Uint32Array(65536);
  readonly remote = new Uint32Array(65536);
  tcp4 = 0;
  other = 0;

  reset(): void {
    this.local.fill(0);
    this.remote.fill(0);
    this.tcp4 = 0;
    this.other = 0;
  }

  /** One AF_INET TCP socket; `body` is its inet_diag_msg (sport, dport big-endian at 4 and 6). */
  addTcp4(buf: Buffer, body: number): void {
    this.local[(buf[body + 4]! << 8) | buf[body + 5]!]!++;
    this.remote[(buf[body + 6]! << 8) | buf[body + 7]!]!++;
    this.tcp4++;
  }
}

export interface SplitOptions {
  /**
   * No split below this many sockets in the poll (AF_INET TCP + the others): an extra dump costs a
   * netlink round trip and another walk of the kernel's whole established hash (262,144 buckets
   * whatever the namespace holds), which fixed costs at 1,000 connections do not repay
   * (bench/poll.mjs).
   */
  minSockets: number;
  /**
   * The share of the AF_INET TCP sockets the first part (alone on its worker) should get. Null:
   * balance the sockets, first part = half of all the poll's sockets (the kernel fills an MPTCP and
   * a TCP socket in about the same time, bench/poll.mjs CPU figures). Default 0.5: of the split
   * variants, halves measured best (bench/poll.mjs --split), balanced no better than no split.
   */
  firstShare: number | null;
}

/**
 * Off by default (minSockets Infinity): measured on the 2-core dev box at 10,000 connections, the
 * split poll was no faster and cost ~10 ms more CPU per poll (bench/poll.mjs --split). A filtered
 * dump still walks the whole established hash (every namespace's sockets) and a half dump costs
 * well over half a full one, while the poll already keeps both cores busy (two dump workers and
 * the decode). It may pay off with more cores; ReadConnectionsOptions.tcpSplit turns it on.
 */
export const SPLIT_DEFAULTS: SplitOptions = { minSockets: Infinity, firstShare: 0.5 };
/** A split is kept while its first part is within this share of the AF_INET TCP sockets of target. */
const SPLIT_TOLERANCE = 0.1;

function countFirst(h: PortHistogram, s: TcpSplit): number {
  const hist = s.key === 'local' ? h.local : h.remote;
  let below = 0;
  for (let p = 0; p < s.threshold; p++) below += hist[p]!;
  return s.firstHigh ? h.tcp4 - below : below;
}

/**
 * The next poll's split from the last poll's histogram, or null for the unsplit plan: too few
 * sockets, or no port cut near the target (e.g. every socket on one local and one remote port). The
 * previous split is kept while it is still within tolerance, so that the subflow order (see
 * splitPlan) does not move from poll to poll. Otherwise both keys and every threshold are tried:
 * a server whose subflows all have local port 443 is cut on the remote port.
 */
export function chooseSplit(
  h: PortHistogram,
  prev: TcpSplit | null,
  opts: SplitOptions = SPLIT_DEFAULTS,
): TcpSplit | null {
  const n = h.tcp4;
  if (n === 0 || n + h.other < opts.minSockets) return null;
  const target = opts.firstShare !== null ? opts.firstShare * n : Math.min(n, (n + h.other) / 2);
  const tol = SPLIT_TOLERANCE * n;
  // A part that would hold (almost) nothing is not worth its dump.
  if (target < tol || target > n - tol) return null;
  if (prev) {
    const first = countFirst(h, prev);
    if (Math.abs(first - target) <= tol && first >= tol && n - first >= tol) return prev;
  }
  let best: TcpSplit | null = null;
  let bestErr = Infinity;
  for (const key of ['local', 'remote'] as const) {
    const hist = key === 'local' ? h.local : h.remote;
    let below = 0;
    for (let t = 1; t < 65536; t++) {
      below += hist[t - 1]!;
      const errLow = Math.abs(below - target);
      if (errLow < bestErr) {
        bestErr = errLow;
        best = { key, threshold: t, firstHigh: false };
      }
      const errHigh = Math.abs(n - below - target);
      if (errHigh < bestErr) {
        bestErr = errHigh;
        best = { key, threshold: t, firstHigh: true };
      }
    }
  }
  return bestErr <= tol ? best : null;
}

/**
 * Feeds one forwarded batch (whole datagrams of request `dump`) to the builder, with the meaning
 * NlSocket.dump gives each message: data to the visitor, ERROR/DONE errno and OVERRUN as failures
 * (ApiFailure, NetlinkError for an errno). Returns true when the batch holds the dump's end (DONE,
 * or the ACK of a dump that failed). A message that does not fit in buf[0, used) ends the walk.
 */
function feedBatch(
  b: SnapshotBuilder,
  plan: PollPlan,
  hist: PortHistogram | null,
  dump: number,
  buf: Buffer,
  usedBytes: number,
): boolean {
  const used = Math.max(0, Math.min(usedBytes, buf.length));
  const mptcp = dump < plan.nMptcp;
  const tcp4 = plan.tcp4[dump] === true;
  // Batches are whole ArrayBuffers (dump-worker.ts), so the nlmsghdr words can be read as native
  // u32 (host byte order, like all of netlink); an unaligned view takes readUInt32LE instead.
  const words = (buf.byteOffset & 3) === 0 ? new Uint32Array(buf.buffer, buf.byteOffset, used >>> 2) : null;
  let off = 0;
  while (off + NLMSG_HDRLEN <= used) {
    const len = words ? words[off >>> 2]! : buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > used) return false;
    const type = words ? words[(off >>> 2) + 1]! & 0xffff : buf.readUInt16LE(off + 4);
    const body = off + NLMSG_HDRLEN;
    const bodyLen = len - NLMSG_HDRLEN;
    if (type === NLMSG_ERROR) {
      const errno = nlmsgerrErrno(buf, body, bodyLen);
      if (errno === null) throw malformedNlmsgerr(plan.what[dump]!, bodyLen);
      if (errno !== 0) throw new NetlinkError(errno, plan.what[dump]!);
      return true;
    } else if (type === NLMSG_DONE) {
      const errno = bodyLen >= 4 ? -buf.readInt32LE(body) : 0;
      if (errno > 0) throw new NetlinkError(errno, plan.what[dump]!);
      return true;
    } else if (type === NLMSG_OVERRUN) {
      throw netlinkOverrun(plan.what[dump]!);
    } else if (type !== NLMSG_NOOP) {
      if (hist) {
        if (tcp4 && bodyLen >= 8) hist.addTcp4(buf, body);
        else hist.other++;
      }
      if (mptcp) b.onMptcp(buf, body, bodyLen);
      else b.onTcp(buf, body, bodyLen);
    }
    off += align4(len);
  }
  return false;
}

/**
 * Puts the batches of the concurrent dumps back into the order of a sequential poll of the plan's
 * requests, so that the snapshot is the same as one socket reading them in turn: MPTCP batches are
 * decoded at once and the builder holds early subflows until every MPTCP dump has ended; TCP
 * batches are decoded in request order, a later TCP dump's batches waiting (they are views on batch
 * buffers that are only recycled by the next poll, which pollOnWorkers starts only after this one)
 * until the earlier TCP dumps have ended. `hist`, when given, counts the sockets (PortHistogram).
 */
export class PollSequencer {
  private readonly ended: boolean[];
  private readonly held: { dump: number; buf: Buffer; used: number }[] = [];
  /** The TCP dump whose batches are decoded as they come. */
  private tcpCursor: number;

  constructor(
    private readonly b: SnapshotBuilder,
    private readonly plan: PollPlan = UNSPLIT_PLAN,
    private readonly hist: PortHistogram | null = null,
  ) {
    this.ended = plan.reqs.map(() => false);
    this.tcpCursor = plan.nMptcp;
  }

  feed(dump: number, buf: Buffer, used: number): void {
    if (dump >= this.plan.nMptcp && dump !== this.tcpCursor) {
      this.held.push({ dump, buf, used });
      return;
    }
    if (this.decode(dump, buf, used)) this.end(dump);
  }

  private decode(dump: number, buf: Buffer, used: number): boolean {
    return feedBatch(this.b, this.plan, this.hist, dump, buf, used);
  }

  private end(dump: number): void {
    const nMptcp = this.plan.nMptcp;
    this.ended[dump] = true;
    if (dump < nMptcp) {
      if (this.ended.slice(0, nMptcp).every(Boolean)) this.b.mptcpDone();
      return;
    }
    // Advance the TCP cursor past ended dumps, decoding what waited for each new current dump.
    while (this.tcpCursor < this.ended.length && this.ended[this.tcpCursor]) {
      this.tcpCursor++;
      const next = this.tcpCursor;
      const mine = this.held.filter((h) => h.dump === next);
      if (mine.length === 0) continue;
      for (let i = this.held.length - 1; i >= 0; i--) if (this.held[i]!.dump === next) this.held.splice(i, 1);
      for (const h of mine) if (this.decode(h.dump, h.buf, h.used)) this.ended[h.dump] = true;
    }
  }

  /** After both workers ended: every dump must have ended (each worker checks its own). */
  finish(): void {
    this.b.mptcpDone();
    // Dumps that ended inside a worker's run without a DONE we saw cannot happen (the worker ends a
    // dump on DONE or ERROR, both forwarded), but never drop held data: decode it in order.
    this.held.sort((x, y) => x.dump - y.dump);
    for (const h of this.held) this.decode(h.dump, h.buf, h.used);
    this.held.length = 0;
  }
}

/** The process-wide dump workers: started on first use; null once one proved unusable. */
let dumpWorkers: DiagDumpWorker[] | null | undefined;
let dumpReceivePath: ReceivePath = 'direct';

/**
 * The receive path of the dump workers (DiagDumpWorker; default `direct`). For the bench and
 * tests, which compare the two: the workers in use are terminated (a poll on them fails) and the
 * next poll starts new ones.
 */
export function setDumpReceivePath(path: ReceivePath): void {
  if (path === dumpReceivePath) return;
  dumpReceivePath = path;
  if (dumpWorkers) for (const w of dumpWorkers) void w.terminate();
  dumpWorkers = undefined;
}

function getDumpWorkers(): DiagDumpWorker[] | null {
  if (dumpWorkers === undefined) {
    const started: DiagDumpWorker[] = [];
    try {
      for (let k = 0; k < UNSPLIT_PLAN.workers.length; k++)
        started.push(new DiagDumpWorker({ receive: dumpReceivePath }));
      dumpWorkers = started;
    } catch {
      // The threads already started would otherwise run (and hold their memory) for good.
      for (const w of started) void w.terminate();
      dumpWorkers = null;
    }
  }
  if (dumpWorkers?.some((w) => w.failed)) {
    for (const w of dumpWorkers) void w.terminate();
    dumpWorkers = null;
  }
  return dumpWorkers;
}

/** What a poll needs of a dump worker (unit tests stand in for the thread). */
export type DumpRunner = Pick<DiagDumpWorker, 'run'> & Partial<Pick<DiagDumpWorker, 'receivePath'>>;

/**
 * The split state of the worker polls (they run one at a time, see pollOnWorkers): the histogram
 * the last poll filled (valid only when that poll completed) and the split it was made with.
 */
const splitState: { hist: PortHistogram | null; histValid: boolean; split: TcpSplit | null } = {
  hist: null,
  histValid: false,
  split: null,
};

/** Worker polls and how many of them split the AF_INET TCP dump (bench and tests). */
export const pollSplitStats = {
  polls: 0,
  splitPolls: 0,
  lastSplit: null as TcpSplit | null,
  /** The last poll: ms from its start to each worker's end, and to the snapshot's completion. */
  lastWorkerEndMs: [] as number[],
  /** The last poll's dumps that were not sent (the AF_INET6 TCP dump after an empty AF_INET6 MPTCP one). */
  lastSkippedDumps: 0,
  /** Per worker, how the last poll read its dumps (null: a stand-in without the property). */
  lastReceivePaths: [] as (ReceivePath | null)[],
  lastPollMs: 0,
};

/** The end of the last poll queued on the dump workers (see pollOnWorkers). */
let workerPollTail: Promise<unknown> = Promise.resolve();

/**
 * One poll on the dump workers. Polls run one after the other, whole: a worker hands the batches
 * it lent back to its thread when its next run starts (dump-worker.ts), while the PollSequencer
 * may still hold TCP batches of this poll until the other worker's AF_INET dump ends. Two
 * overlapping readConnections calls (the poller, connections:list, advice:get, cc:list) otherwise
 * let the second poll detach those held buffers ("Cannot perform Construct on a detached
 * ArrayBuffer"). Per-worker queues alone do not help: they order runs, not whole polls. Whole
 * polls in turn also give each poll the complete histogram of the one before.
 */
export function pollOnWorkers(
  workers: readonly DumpRunner[],
  opts: Pick<ReadConnectionsOptions, 'sequentialDumps' | 'tcpSplit' | 'allDumps'> & {
    prev?: PollMemory | null;
    into?: PollMemory | null;
  } = {},
): Promise<SnapshotBuilder> {
  const p = workerPollTail.then(() => pollOnWorkersNow(workers, opts));
  workerPollTail = p.catch(() => undefined);
  return p;
}

/** The split options of a poll, or null when it neither splits nor needs the histogram. */
function splitOptions(
  opts: Pick<ReadConnectionsOptions, 'sequentialDumps' | 'tcpSplit'>,
): SplitOptions | null {
  if (opts.sequentialDumps || opts.tcpSplit === false) return null;
  const o = { ...SPLIT_DEFAULTS, ...opts.tcpSplit };
  return Number.isFinite(o.minSockets) ? o : null;
}

function choosePlan(opts: Pick<ReadConnectionsOptions, 'sequentialDumps' | 'tcpSplit'>): PollPlan {
  const st = splitState;
  if (opts.sequentialDumps) return SEQUENTIAL_PLAN;
  const so = splitOptions(opts);
  const split = so && st.hist && st.histValid ? chooseSplit(st.hist, st.split, so) : null;
  return split ? splitPlan(split) : UNSPLIT_PLAN;
}

async function pollOnWorkersNow(
  workers: readonly DumpRunner[],
  opts: Pick<ReadConnectionsOptions, 'sequentialDumps' | 'tcpSplit' | 'allDumps'> & {
    prev?: PollMemory | null;
    into?: PollMemory | null;
  },
): Promise<SnapshotBuilder> {
  const st = splitState;
  const plan = choosePlan(opts);
  // The histogram (512 KiB) only when splitting is on: counting costs a little on every socket.
  const hist = splitOptions(opts) ? (st.hist ??= new PortHistogram()) : null;
  hist?.reset();
  st.histValid = false;
  st.split = plan.split;
  pollSplitStats.polls++;
  if (plan.split) pollSplitStats.splitPolls++;
  pollSplitStats.lastSplit = plan.split;
  const b = new SnapshotBuilder({ mptcpPending: true, prev: opts.prev ?? null, into: opts.into ?? null });
  const seq = new PollSequencer(b, plan, hist);
  const t0 = performance.now();
  const workerEndMs = plan.workers.map(() => 0);
  // allSettled: the poll (and so the next one) ends only when no worker still runs a part of it.
  const settled = await Promise.allSettled(
    plan.workers.map((dumps, k) => {
      const w = workers[k]!;
      // The worker sees its own dumps only: a dependency by its index in this worker's list.
      const skip = opts.allDumps ? [] : dumps.map((d) => dumps.indexOf(plan.skipWhenEmpty[d] ?? -1));
      return w
        .run(
          SOCK_DIAG_BY_FAMILY,
          dumps.map((d) => plan.reqs[d]!),
          (i, buf, used) => seq.feed(dumps[i]!, buf, used),
          skip,
        )
        .finally(() => (workerEndMs[k] = performance.now() - t0));
    }),
  );
  let skipped = 0;
  for (const r of settled) {
    if (r.status === 'rejected') throw r.reason;
    skipped += r.value;
  }
  seq.finish();
  b.finish();
  st.histValid = hist !== null;
  pollSplitStats.lastSkippedDumps = skipped;
  pollSplitStats.lastReceivePaths = plan.workers.map((_, k) => workers[k]!.receivePath ?? null);
  pollSplitStats.lastWorkerEndMs = workerEndMs;
  pollSplitStats.lastPollMs = performance.now() - t0;
  return b;
}

export interface ReadConnectionsOptions {
  /**
   * Run the dumps on `diag`, on this thread, instead of on the dump worker (which uses its own
   * socket in the same netns). The worker is also skipped, for good, once it has failed.
   */
  inThread?: boolean;
  /** Run the four dumps one after the other on one dump worker (for the bench's comparison). */
  sequentialDumps?: boolean;
  /**
   * The AF_INET TCP dump's port range split (chooseSplit): false never splits (the histogram is
   * still counted); fields override SPLIT_DEFAULTS (tests lower minSockets, the bench tries shares).
   */
  tcpSplit?: false | Partial<SplitOptions>;
  /** Send the AF_INET6 TCP dump even after an empty AF_INET6 MPTCP dump (the bench's comparison). */
  allDumps?: boolean;
  /**
   * Build every object anew instead of reusing the last poll's unchanged ones (SnapshotBuilder
   * `prev`): the bench's comparison, and what a poll of a different netns than the last should do
   * (it would only find nothing to reuse).
   */
  fresh?: boolean;
}

/**
 * The last completed readConnections poll's memory, for the next poll to reuse its unchanged
 * objects (SnapshotBuilder `prev`). Reuse is decided word by word, so a memory from any earlier
 * poll (another caller's, even another netns's) only changes how much is shared, never what a
 * snapshot says. The memory before it is recycled as the next one to fill (its typed arrays stay
 * mapped), unless a poll still reads it.
 */
let lastPoll: PollMemory | null = null;
let sparePoll: PollMemory | null = null;

/** A memory for a new poll to fill: the spare when nobody reads it any more, else a new one. */
function takeMemory(): PollMemory {
  const m = sparePoll;
  if (m !== null && m.readers === 0) {
    sparePoll = null;
    return m;
  }
  return new PollMemory();
}

/** Every MPTCP connection (listeners excluded) in the socket's netns, with its subflows. */
export async function readConnections(
  diag: NlSocket,
  opts: ReadConnectionsOptions = {},
): Promise<ConnectionsSnapshot> {
  const t0 = performance.now();
  let b: SnapshotBuilder;
  let connections: Connection[];
  const prev = opts.fresh ? null : lastPoll;
  const into = opts.fresh ? null : takeMemory();
  if (prev) prev.readers++;
  try {
    const workers = opts.inThread ? null : getDumpWorkers();
    if (workers) {
      try {
        b = await pollOnWorkers(workers, { ...opts, prev, into });
      } catch (e) {
        if (!workers.some((w) => w.failed)) throw e;
        // A worker itself broke (e.g. the native binding would not load in it): poll here.
        b = new SnapshotBuilder({ prev, into });
        pollSplitStats.lastSkippedDumps = await dumpInto(diag, b, opts.allDumps === true);
      }
    } else {
      b = new SnapshotBuilder({ prev, into });
      pollSplitStats.lastSkippedDumps = await dumpInto(diag, b, opts.allDumps === true);
    }
    // Still reading `prev` (the subflow counts of the connections on probation).
    connections = b.finish();
  } finally {
    if (prev) {
      prev.readers--;
      // Spare and read by nobody any more: let go of its objects now rather than at its reuse.
      if (prev === sparePoll && prev.readers === 0) prev.reset();
    }
  }
  if (into) {
    const old = lastPoll;
    lastPoll = into;
    if (old !== null && old !== into) {
      sparePoll = old;
      if (old.readers === 0) old.reset();
    }
  }
  const pollDurationUs = Math.round((performance.now() - t0) * 1000);
  return {
    takenAtMs: Date.now(),
    pollDurationUs,
    connections,
    orphanSubflows: b.orphanSubflows,
  };
}

/**
 * Bytecode `sport == localPort || dport == remotePort` (INET_DIAG_REQ_BYTECODE), laid out as ss
 * compiles an OR (misc/ss.c): A; JMP over B; B. The kernel's audit walks the `yes` chain, so every
 * op's `yes` is the next op and a failed primitive jumps past its own end (+4).
 */
function portFilter(localPort: number, remotePort: number): Buffer {
  const bc = Buffer.alloc(20);
  const op = (at: number, code: number, yes: number, no: number): void => {
    bc[at] = code;
    bc[at + 1] = yes;
    bc.writeUInt16LE(no, at + 2);
  };
  op(0, INET_DIAG_BC_S_EQ, 8, 12);
  bc.writeUInt16LE(localPort, 6); // the port sits in the `no` field of the following op
  op(8, INET_DIAG_BC_JMP, 4, 12); // A matched: jump over B to the end (accept)
  op(12, INET_DIAG_BC_D_EQ, 8, 12);
  bc.writeUInt16LE(remotePort, 18);
  const attr = Buffer.alloc(4 + bc.length);
  attr.writeUInt16LE(attr.length, 0);
  attr.writeUInt16LE(INET_DIAG_REQ_BYTECODE, 2);
  bc.copy(attr, 4);
  return attr;
}

/**
 * One connection by its local token, for the 10 Hz detail view: a token lookup (no NLM_F_DUMP,
 * token in idiag_cookie[0], §3.1) and a TCP dump narrowed by port to its likely subflows. Joins
 * keep the connection's remote port (client side) or local port (server side); a subflow to an
 * ADD_ADDR with its own port would slip through the filter, so when fewer subflows than
 * mptcpi_subflows_total come back, the full TCP dump is read instead. Null when the token is gone.
 */
/** How many readConnection calls needed the unfiltered TCP dump (diagnostics and tests). */
export const readConnectionStats = { calls: 0, fullDumps: 0 };

export async function readConnection(diag: NlSocket, token: number): Promise<Connection | null> {
  readConnectionStats.calls++;
  const b = new SnapshotBuilder();
  try {
    const replies = await diag.get(
      SOCK_DIAG_BY_FAMILY,
      diagRequest(AF_INET, IPPROTO_MPTCP, EXT_INFO, MPTCP_STATES, token),
      'sock_diag MPTCP lookup by token',
    );
    for (const r of replies) b.onMptcp(r, 0, r.length);
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'ENOENT') return null;
    throw e;
  }
  const conn = b.connections[0];
  if (!conn || conn.token !== token) return null;
  const filter = portFilter(conn.localPort, conn.remotePort);
  const narrowed = TCP_DUMP_REQS.map((r) => Buffer.concat([r, filter]));
  const onTcp = (buf: Buffer, _type: number, off: number, len: number): void => b.onTcp(buf, off, len);
  for (const req of narrowed)
    await diag.dump(SOCK_DIAG_BY_FAMILY, req, 'sock_diag TCP dump (filtered)', onTcp);
  if (conn.subflows.length < conn.subflowsTotal) {
    readConnectionStats.fullDumps++;
    conn.subflows.length = 0;
    for (const req of TCP_DUMP_REQS) await diag.dump(SOCK_DIAG_BY_FAMILY, req, 'sock_diag TCP dump', onTcp);
  }
  return conn;
}
