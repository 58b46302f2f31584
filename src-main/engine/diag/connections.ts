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
 * a second socket on the same thread was measured not to help (bench/poll.mjs --variants).
 */
import type { Connection, ConnectionsSnapshot } from '../../../shared/types';
import {
  align4,
  NetlinkError,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  type NlSocket,
} from '../netlink/core';
import { AF_INET, AF_INET6, SnapshotBuilder } from './decode';
import { DiagDumpWorker } from './dump-worker';

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

/** Runs the MPTCP dumps, then the TCP dumps, feeding the builder as the datagrams arrive. */
async function dumpInto(
  diag: NlSocket,
  b: SnapshotBuilder,
  tcpReqs: readonly Buffer[] = TCP_DUMP_REQS,
): Promise<void> {
  const onMptcp = (buf: Buffer, _type: number, off: number, len: number): void => b.onMptcp(buf, off, len);
  const onTcp = (buf: Buffer, _type: number, off: number, len: number): void => b.onTcp(buf, off, len);
  for (const req of MPTCP_DUMP_REQS)
    await diag.dump(SOCK_DIAG_BY_FAMILY, req, 'sock_diag MPTCP dump', onMptcp);
  for (const req of tcpReqs) await diag.dump(SOCK_DIAG_BY_FAMILY, req, 'sock_diag TCP dump', onTcp);
}

/**
 * A poll on the dump workers: two threads, so that the kernel fills the MPTCP and the TCP dumps on
 * both cores at once (a dump is built inside the recvmsg calls of the thread that reads it). The
 * AF_INET TCP dump is most of the kernel's work (10,000 connections: ~27 of ~41 ms, bench/poll.mjs
 * --variants), so it gets a thread of its own; the other three run one after the other on the
 * second. Indices below are positions in POLL_REQS.
 */
const POLL_REQS = [...MPTCP_DUMP_REQS, ...TCP_DUMP_REQS];
const POLL_WHAT = [
  ...MPTCP_DUMP_REQS.map(() => 'sock_diag MPTCP dump'),
  ...TCP_DUMP_REQS.map(() => 'sock_diag TCP dump'),
];
const N_MPTCP = MPTCP_DUMP_REQS.length;
export const WORKER_DUMPS: readonly (readonly number[])[] = [
  [0, 1, 3], // MPTCP AF_INET, MPTCP AF_INET6, TCP AF_INET6
  [2], // TCP AF_INET
];

/**
 * Feeds one forwarded batch (whole datagrams of request `dump`) to the builder, with the meaning
 * NlSocket.dump gives each message: data to the visitor, ERROR/DONE errno and OVERRUN as failures.
 * Returns true when the batch holds the dump's end (DONE, or the ACK of a dump that failed).
 */
function feedBatch(b: SnapshotBuilder, dump: number, buf: Buffer, used: number): boolean {
  const mptcp = dump < N_MPTCP;
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
      const errno = -buf.readInt32LE(body);
      if (errno !== 0) throw new NetlinkError(errno, POLL_WHAT[dump]!);
      return true;
    } else if (type === NLMSG_DONE) {
      const errno = bodyLen >= 4 ? -buf.readInt32LE(body) : 0;
      if (errno > 0) throw new NetlinkError(errno, POLL_WHAT[dump]!);
      return true;
    } else if (type === NLMSG_OVERRUN) {
      throw new Error(`${POLL_WHAT[dump]!}: netlink overrun`);
    } else if (type !== NLMSG_NOOP) {
      if (mptcp) b.onMptcp(buf, body, bodyLen);
      else b.onTcp(buf, body, bodyLen);
    }
    off += align4(len);
  }
  return false;
}

/**
 * Puts the batches of the concurrent dumps back into the order of a sequential poll, so that the
 * snapshot is the same as dumpInto's: MPTCP batches (one worker, in order) are decoded at once and
 * the builder holds early subflows until every MPTCP dump has ended; TCP batches are decoded in
 * request order, a later TCP dump's batches waiting (they are views on batch buffers that are only
 * recycled by the next poll, which pollOnWorkers starts only after this one) until the earlier TCP
 * dumps have ended.
 */
export class PollSequencer {
  private readonly ended: boolean[] = POLL_REQS.map(() => false);
  private readonly held: { dump: number; buf: Buffer; used: number }[] = [];
  /** The TCP dump whose batches are decoded as they come. */
  private tcpCursor = N_MPTCP;

  constructor(private readonly b: SnapshotBuilder) {}

  feed(dump: number, buf: Buffer, used: number): void {
    if (dump >= N_MPTCP && dump !== this.tcpCursor) {
      this.held.push({ dump, buf, used });
      return;
    }
    if (feedBatch(this.b, dump, buf, used)) this.end(dump);
  }

  private end(dump: number): void {
    this.ended[dump] = true;
    if (dump < N_MPTCP) {
      if (this.ended.slice(0, N_MPTCP).every(Boolean)) this.b.mptcpDone();
      return;
    }
    // Advance the TCP cursor past ended dumps, decoding what waited for each new current dump.
    while (this.tcpCursor < POLL_REQS.length && this.ended[this.tcpCursor]) {
      this.tcpCursor++;
      const next = this.tcpCursor;
      const mine = this.held.filter((h) => h.dump === next);
      if (mine.length === 0) continue;
      for (let i = this.held.length - 1; i >= 0; i--) if (this.held[i]!.dump === next) this.held.splice(i, 1);
      for (const h of mine) if (feedBatch(this.b, h.dump, h.buf, h.used)) this.ended[h.dump] = true;
    }
  }

  /** After both workers ended: every dump must have ended (each worker checks its own). */
  finish(): void {
    this.b.mptcpDone();
    // Dumps that ended inside a worker's run without a DONE we saw cannot happen (the worker ends a
    // dump on DONE or ERROR, both forwarded), but never drop held data: decode it in order.
    this.held.sort((x, y) => x.dump - y.dump);
    for (const h of this.held) feedBatch(this.b, h.dump, h.buf, h.used);
    this.held.length = 0;
  }
}

/** The process-wide dump workers: started on first use; null once one proved unusable. */
let dumpWorkers: DiagDumpWorker[] | null | undefined;

function getDumpWorkers(): DiagDumpWorker[] | null {
  if (dumpWorkers === undefined) {
    const started: DiagDumpWorker[] = [];
    try {
      for (let k = 0; k < WORKER_DUMPS.length; k++) started.push(new DiagDumpWorker());
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

/** All four dumps on the first worker, one after the other (bench/poll.mjs --variants). */
const SEQUENTIAL_DUMPS: readonly (readonly number[])[] = [[0, 1, 2, 3]];

/** What a poll needs of a dump worker (unit tests stand in for the thread). */
export type DumpRunner = Pick<DiagDumpWorker, 'run'>;

/** The end of the last poll queued on the dump workers (see pollOnWorkers). */
let workerPollTail: Promise<unknown> = Promise.resolve();

/**
 * One poll on the dump workers. Polls run one after the other, whole: a worker hands the batches
 * it lent back to its thread when its next run starts (dump-worker.ts), while the PollSequencer
 * may still hold TCP AF_INET6 batches of this poll until the other worker's AF_INET dump ends. Two
 * overlapping readConnections calls (the poller, connections:list, advice:get, cc:list) otherwise
 * let the second poll detach those held buffers ("Cannot perform Construct on a detached
 * ArrayBuffer"). Per-worker queues alone do not help: they order runs, not whole polls.
 */
export function pollOnWorkers(workers: readonly DumpRunner[], sequential: boolean): Promise<SnapshotBuilder> {
  const p = workerPollTail.then(() => pollOnWorkersNow(workers, sequential));
  workerPollTail = p.catch(() => undefined);
  return p;
}

async function pollOnWorkersNow(
  workers: readonly DumpRunner[],
  sequential: boolean,
): Promise<SnapshotBuilder> {
  const b = new SnapshotBuilder({ mptcpPending: true });
  const seq = new PollSequencer(b);
  const plan = sequential ? SEQUENTIAL_DUMPS : WORKER_DUMPS;
  // allSettled: the poll (and so the next one) ends only when no worker still runs a part of it.
  const settled = await Promise.allSettled(
    plan.map((dumps, k) => {
      const w = workers[k]!;
      return w.run(
        SOCK_DIAG_BY_FAMILY,
        dumps.map((d) => POLL_REQS[d]!),
        (i, buf, used) => seq.feed(dumps[i]!, buf, used),
      );
    }),
  );
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  seq.finish();
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
}

/** Every MPTCP connection (listeners excluded) in the socket's netns, with its subflows. */
export async function readConnections(
  diag: NlSocket,
  opts: ReadConnectionsOptions = {},
): Promise<ConnectionsSnapshot> {
  const t0 = performance.now();
  let b: SnapshotBuilder;
  const workers = opts.inThread ? null : getDumpWorkers();
  if (workers) {
    try {
      b = await pollOnWorkers(workers, opts.sequentialDumps === true);
    } catch (e) {
      if (!workers.some((w) => w.failed)) throw e;
      // A worker itself broke (e.g. the native binding would not load in it): poll here.
      b = new SnapshotBuilder();
      await dumpInto(diag, b);
    }
  } else {
    b = new SnapshotBuilder();
    await dumpInto(diag, b);
  }
  const pollDurationUs = Math.round((performance.now() - t0) * 1000);
  return {
    takenAtMs: Date.now(),
    pollDurationUs,
    connections: b.connections,
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
