/**
 * MPTCP connections and their subflows, read from sock_diag (NETLINK_SOCK_DIAG).
 *
 * A poll is four dumps (include/uapi/linux/inet_diag.h): MPTCP sockets (INET_DIAG_REQ_PROTOCOL =
 * IPPROTO_MPTCP, with struct mptcp_info) and TCP sockets (struct tcp_info and the MPTCP ULP info),
 * each for AF_INET and AF_INET6 (dual-stack sockets report AF_INET6). A TCP socket is a subflow
 * when its INET_DIAG_ULP_INFO nest names the "mptcp" ULP; its MPTCP_SUBFLOW_ATTR_TOKEN_LOC is the
 * key to its connection's mptcpi_token. Netlink allows one dump at a time per socket, and the
 * kernel fills a dump's datagrams inside the recvmsg calls of the thread that reads them. So a
 * full poll runs on two dump worker threads (dump-worker.ts), each with its own socket: the
 * AF_INET TCP dump on one, the other three on the other, while this thread decodes the batches as
 * they arrive (PollSequencer restores the order of a sequential poll). Kernel and decode overlap
 * on two cores; a second socket on the same thread was measured not to help (bench/poll.mjs
 * --variants). The AF_INET6 TCP dump is left out when the AF_INET6 MPTCP dump found no socket
 * (PollPlan skipWhenEmpty): it would only walk the kernel's whole established hash once more.
 *
 * The poll's state (its workers, the last poll's memory, the figures of the last poll) belongs to
 * a ConnectionPoller, which the engine owns (LocalEngine): nothing here is process-wide.
 */
import type { Connection, ConnectionsSnapshot, Subflow } from '../../../shared/types';
import {
  align4,
  malformedNlmsgerr,
  NetlinkError,
  netlinkOverrun,
  nlmsgerrErrno,
  type NlSocket,
} from '../netlink/core';
import { NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP, NLMSG_OVERRUN } from '../uapi/netlink';
import { AF_INET, AF_INET6, IPPROTO_MPTCP, IPPROTO_TCP } from '../uapi/socket';
import {
  INET_DIAG_BC_D_EQ,
  INET_DIAG_BC_JMP,
  INET_DIAG_BC_S_EQ,
  INET_DIAG_CONG,
  INET_DIAG_INFO,
  INET_DIAG_REQ_BYTECODE,
  INET_DIAG_REQ_PROTOCOL,
  SOCK_DIAG_BY_FAMILY,
  TCPF_LISTEN,
  TCPF_NEW_SYN_RECV,
  TCPF_TIME_WAIT,
} from '../uapi/sock-diag';
import type { SubflowPathResolver } from '../rtnl/subflow-paths';
import { PollMemory, SnapshotBuilder } from './decode';
import { DiagDumpWorker, type ReceivePath } from './dump-worker';
import { INET_DIAG_BC_OP, INET_DIAG_REQ_V2, NLATTR } from './uapi-structs';

export {
  decodeInetDiagMsg,
  decodeMptcpInfo,
  decodeTcpInfo,
  formatAddress,
  subflowFlagLetters,
  subflowFlags,
  SnapshotBuilder,
} from './decode';

// idiag_ext bits: 1 << (INET_DIAG_x - 1). The MPTCP ULP info (INET_DIAG_ULP_INFO) comes with
// INET_DIAG_INFO (net/ipv4/inet_diag.c inet_sk_diag_fill).
const EXT_INFO = 1 << (INET_DIAG_INFO - 1);
const EXT_CONG = 1 << (INET_DIAG_CONG - 1);
/** MPTCP sockets except listeners (they have an all-zero mptcp_info). */
const MPTCP_STATES = 0xffffffff & ~TCPF_LISTEN;
/**
 * TCP sockets that can be subflows: not listeners, not TIME_WAIT (a timewait socket has no ULP
 * info) and not request sockets (NEW_SYN_RECV: no tcp_info, no ULP; the subflow appears once
 * accepted).
 */
const TCP_STATES = 0xffffffff & ~(TCPF_LISTEN | TCPF_TIME_WAIT | TCPF_NEW_SYN_RECV);

// struct inet_diag_req_v2 (include/uapi/linux/inet_diag.h)
const REQ = INET_DIAG_REQ_V2.fields;

/** struct inet_diag_req_v2, and for MPTCP the INET_DIAG_REQ_PROTOCOL attribute. */
function diagRequest(family: number, protocol: number, ext: number, states: number, cookie0 = 0): Buffer {
  const mptcp = protocol === IPPROTO_MPTCP;
  const req = Buffer.alloc(INET_DIAG_REQ_V2.size + (mptcp ? NLATTR.size + 4 : 0));
  req[REQ.sdiag_family.offset] = family;
  // sdiag_protocol is a __u8: ss writes 262 & 0xff; the attribute below is what counts.
  req[REQ.sdiag_protocol.offset] = protocol & 0xff;
  req[REQ.idiag_ext.offset] = ext;
  req.writeUInt32LE(states >>> 0, REQ.idiag_states.offset);
  // idiag_cookie[0]: a lookup by MPTCP token (the MPTCP diag handler reads the token from it).
  req.writeUInt32LE(cookie0 >>> 0, REQ['id.idiag_cookie'].offset);
  if (mptcp) {
    const a = INET_DIAG_REQ_V2.size;
    req.writeUInt16LE(NLATTR.size + 4, a + NLATTR.fields.nla_len.offset);
    req.writeUInt16LE(INET_DIAG_REQ_PROTOCOL, a + NLATTR.fields.nla_type.offset);
    req.writeUInt32LE(IPPROTO_MPTCP, a + NLATTR.size);
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
 * Runs the MPTCP dumps, then the TCP dumps, on `diag` (this thread), feeding the builder as the
 * datagrams arrive. Returns how many dumps it left out.
 */
async function dumpInto(diag: NlSocket, b: SnapshotBuilder): Promise<number> {
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
    if (req[0] === AF_INET6 && mptcp6 === 0) {
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
 * gets a thread of its own and the other three run one after the other on the second.
 */
export interface PollPlan {
  /** Request payloads: the MPTCP dumps, then the TCP dumps in the order their subflows are decoded. */
  readonly reqs: readonly Buffer[];
  /** Per dump, its name in errors. */
  readonly what: readonly string[];
  /** How many of `reqs` are MPTCP dumps (they come first). */
  readonly nMptcp: number;
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
}

const N_MPTCP = MPTCP_DUMP_REQS.length;
const [TCP4_REQ, TCP6_REQ] = TCP_DUMP_REQS as [Buffer, Buffer];

/** The four dumps: MPTCP AF_INET, MPTCP AF_INET6, TCP AF_INET (its own worker), TCP AF_INET6. */
export const POLL_PLAN: PollPlan = {
  reqs: [...MPTCP_DUMP_REQS, TCP4_REQ, TCP6_REQ],
  what: ['sock_diag MPTCP dump', 'sock_diag MPTCP dump', 'sock_diag TCP dump', 'sock_diag TCP dump'],
  nMptcp: N_MPTCP,
  workers: [
    [0, 1, 3], // MPTCP AF_INET, MPTCP AF_INET6, TCP AF_INET6
    [2], // TCP AF_INET
  ],
  skipWhenEmpty: [-1, -1, -1, 1],
};
export const WORKER_DUMPS = POLL_PLAN.workers;

/** All four dumps on the first worker, one after the other (bench/poll.mjs --variants). */
const SEQUENTIAL_PLAN: PollPlan = { ...POLL_PLAN, workers: [[0, 1, 2, 3]] };

/**
 * Feeds one forwarded batch (whole datagrams of request `dump`) to the builder, with the meaning
 * NlSocket.dump gives each message: data to the visitor, ERROR/DONE errno and OVERRUN as failures
 * (ApiFailure, NetlinkError for an errno). Returns true when the batch holds the dump's end (DONE,
 * or the ACK of a dump that failed). A message that does not fit in buf[0, used) ends the walk.
 */
function feedBatch(
  b: SnapshotBuilder,
  plan: PollPlan,
  dump: number,
  buf: Buffer,
  usedBytes: number,
): boolean {
  const used = Math.max(0, Math.min(usedBytes, buf.length));
  const mptcp = dump < plan.nMptcp;
  // Batches are whole ArrayBuffers (dump-worker-thread.ts), so the nlmsghdr words can be read as
  // native u32 (host byte order, like all of netlink); an unaligned view takes readUInt32LE instead.
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
 * until the earlier TCP dumps have ended.
 */
export class PollSequencer {
  private readonly ended: boolean[];
  private readonly held: { dump: number; buf: Buffer; used: number }[] = [];
  /** The TCP dump whose batches are decoded as they come. */
  private tcpCursor: number;

  constructor(
    private readonly b: SnapshotBuilder,
    private readonly plan: PollPlan = POLL_PLAN,
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
    return feedBatch(this.b, this.plan, dump, buf, used);
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

/** What a poll needs of a dump worker (unit tests stand in for the thread). */
export type DumpRunner = Pick<DiagDumpWorker, 'run'> & Partial<Pick<DiagDumpWorker, 'receivePath'>>;

/** Figures of a poller's last poll, for diagnostics, the bench and the tests. */
export interface PollStats {
  /** Polls that ran on the dump workers. */
  workerPolls: number;
  /** The last worker poll: ms from its start to each worker's end. */
  lastWorkerEndMs: number[];
  /** The last poll's dumps that were not sent (the AF_INET6 TCP dump after an empty AF_INET6 MPTCP one). */
  lastSkippedDumps: number;
  /** Per worker, how the last worker poll read its dumps (null: a stand-in without the property). */
  lastReceivePaths: (ReceivePath | null)[];
  /** readOne calls, and how many of them needed the unfiltered TCP dump. */
  connectionReads: number;
  connectionFullDumps: number;
}

/**
 * How a poller polls. The defaults are the engine's; the others exist so that the bench
 * (bench/poll.mjs, through src-main/lab/probes/diag-probe.ts) can measure the choices made here.
 */
export interface PollerOptions {
  /** The dump workers' receive path (default `direct`, which falls back to `binding` by itself). */
  receive?: ReceivePath;
  /** Run the four dumps one after the other on one dump worker instead of on two. */
  sequentialDumps?: boolean;
  /**
   * Reuse the last poll's objects for unchanged sockets (SnapshotBuilder `prev`; default true).
   * false builds every object anew: what a poll of N all-busy connections costs.
   */
  reuse?: boolean;
  /** Stand-ins for the dump worker threads (unit tests); null: poll on the caller's socket. */
  workers?: () => readonly DumpRunner[] | null;
  /**
   * Resolves each new subflow's interface (Subflow.ifname) before a snapshot is handed out; when
   * its generation moves (routes changed), the next poll reuses no object of the last.
   */
  paths?: SubflowPathResolver | null;
}

export interface ReadConnectionsOptions {
  /**
   * Run the dumps on `diag`, on this thread, instead of on the dump workers (which use sockets of
   * their own in the same netns). The workers are also skipped, for good, once one has failed.
   */
  inThread?: boolean;
}

/**
 * The connections poll of one engine (LocalEngine owns one): its two dump workers (started on
 * first use, terminated by close()), the last poll's memory for the next poll to reuse unchanged
 * objects from, the queue that runs worker polls one at a time, and the last poll's figures.
 */
export class ConnectionPoller {
  readonly stats: PollStats = {
    workerPolls: 0,
    lastWorkerEndMs: [],
    lastSkippedDumps: 0,
    lastReceivePaths: [],
    connectionReads: 0,
    connectionFullDumps: 0,
  };
  private readonly opts: Required<Omit<PollerOptions, 'workers' | 'paths'>> & Pick<PollerOptions, 'workers'>;
  private readonly paths: SubflowPathResolver | null;
  /** The resolver's generation when the last poll started: its objects' ifnames are of that one. */
  private pathsGeneration = 0;
  /** The dump workers: started on first use; null once one proved unusable (or after close). */
  private dumpWorkers: DiagDumpWorker[] | null | undefined;
  /** The end of the last poll queued on the dump workers (see pollOnWorkers). */
  private workerPollTail: Promise<unknown> = Promise.resolve();
  /**
   * The last completed poll's memory, for the next poll to reuse its unchanged objects
   * (SnapshotBuilder `prev`). Reuse is decided word by word, so a memory from any earlier poll only
   * changes how much is shared, never what a snapshot says. The memory before it is recycled as the
   * next one to fill (its typed arrays stay mapped), unless a poll still reads it.
   */
  private lastPoll: PollMemory | null = null;
  private sparePoll: PollMemory | null = null;

  constructor(opts: PollerOptions = {}) {
    this.opts = {
      receive: opts.receive ?? 'direct',
      sequentialDumps: opts.sequentialDumps ?? false,
      reuse: opts.reuse ?? true,
      workers: opts.workers,
    };
    this.paths = opts.paths ?? null;
  }

  /** Every MPTCP connection (listeners excluded) in the socket's netns, with its subflows. */
  async read(diag: NlSocket, opts: ReadConnectionsOptions = {}): Promise<ConnectionsSnapshot> {
    const t0 = performance.now();
    let b: SnapshotBuilder;
    let connections: Connection[];
    const reuse = this.opts.reuse;
    // Without a route watch, expired interface answers are checked here, every poll: a changed one
    // moves the generation, so no reused subflow keeps a stale ifname (rtnl/subflow-paths.ts).
    if (this.paths) await this.paths.refresh();
    const generation = this.paths?.generation ?? 0;
    // Routes changed since the last poll: its objects may name the wrong interface.
    const prev = reuse && generation === this.pathsGeneration ? this.lastPoll : null;
    this.pathsGeneration = generation;
    const into = reuse ? this.takeMemory() : null;
    if (prev) prev.readers++;
    try {
      const workers = opts.inThread ? null : this.workers();
      if (workers) {
        try {
          b = await this.pollOnWorkers(workers, { prev, into });
        } catch (e) {
          if (!this.dumpWorkers?.some((w) => w.failed)) throw e;
          // A worker itself broke (e.g. the native binding would not load in it): poll here.
          b = new SnapshotBuilder({ prev, into });
          this.stats.lastSkippedDumps = await dumpInto(diag, b);
        }
      } else {
        b = new SnapshotBuilder({ prev, into });
        this.stats.lastSkippedDumps = await dumpInto(diag, b);
      }
      // Still reading `prev` (the subflow counts of the connections on probation).
      connections = b.finish();
    } finally {
      if (prev) {
        prev.readers--;
        // Spare and read by nobody any more: let go of its objects now rather than at its reuse.
        if (prev === this.sparePoll && prev.readers === 0) prev.reset();
      }
    }
    if (this.paths && b.fresh.length > 0) await this.paths.resolve(b.fresh);
    if (into) {
      const old = this.lastPoll;
      this.lastPoll = into;
      if (old !== null && old !== into) {
        this.sparePoll = old;
        if (old.readers === 0) old.reset();
      }
    }
    return {
      takenAtMs: Date.now(),
      pollDurationUs: Math.round((performance.now() - t0) * 1000),
      connections,
      orphanSubflows: b.orphanSubflows,
    };
  }

  /**
   * One connection by its local token, for the 10 Hz detail view: a token lookup (no NLM_F_DUMP,
   * the token in idiag_cookie[0]) and a TCP dump narrowed by port to its likely subflows. Joins
   * keep the connection's remote port (client side) or local port (server side); a subflow to an
   * ADD_ADDR with its own port would slip through the filter, so when fewer subflows than
   * mptcpi_subflows_total come back, the full TCP dump is read instead. Null when the token is gone.
   */
  async readOne(diag: NlSocket, token: number): Promise<Connection | null> {
    this.stats.connectionReads++;
    const r = await readConnection(diag, token);
    if (r.fullDump) this.stats.connectionFullDumps++;
    if (this.paths && r.fresh.length > 0) await this.paths.resolve(r.fresh);
    return r.connection;
  }

  /** Terminates the dump workers; a later read polls on the caller's socket. */
  async close(): Promise<void> {
    const workers = this.dumpWorkers;
    this.dumpWorkers = null;
    if (workers) await Promise.all(workers.map((w) => w.terminate()));
  }

  /** The dump workers, started on first use; null when they cannot run (polls stay in-thread). */
  private workers(): readonly DumpRunner[] | null {
    if (this.opts.workers) return this.opts.workers();
    if (this.dumpWorkers === undefined) {
      const started: DiagDumpWorker[] = [];
      try {
        for (let k = 0; k < POLL_PLAN.workers.length; k++)
          started.push(new DiagDumpWorker({ receive: this.opts.receive }));
        this.dumpWorkers = started;
      } catch {
        // The threads already started would otherwise run (and hold their memory) for good.
        for (const w of started) void w.terminate();
        this.dumpWorkers = null;
      }
    }
    if (this.dumpWorkers?.some((w) => w.failed)) {
      for (const w of this.dumpWorkers) void w.terminate();
      this.dumpWorkers = null;
    }
    return this.dumpWorkers ?? null;
  }

  /** A memory for a new poll to fill: the spare when nobody reads it any more, else a new one. */
  private takeMemory(): PollMemory {
    const m = this.sparePoll;
    if (m !== null && m.readers === 0) {
      this.sparePoll = null;
      return m;
    }
    return new PollMemory();
  }

  /**
   * One poll on the dump workers. Polls run one after the other, whole: a worker hands the batches
   * it lent back to its thread when its next run starts (dump-worker.ts), while the PollSequencer
   * may still hold TCP batches of this poll until the other worker's AF_INET dump ends. Two
   * overlapping reads (the poller, connections:list, advice:get, cc:list) otherwise let the second
   * poll detach those held buffers ("Cannot perform Construct on a detached ArrayBuffer").
   * Per-worker queues alone do not help: they order runs, not whole polls.
   */
  pollOnWorkers(
    workers: readonly DumpRunner[],
    mem: { prev?: PollMemory | null; into?: PollMemory | null } = {},
  ): Promise<SnapshotBuilder> {
    const p = this.workerPollTail.then(() => this.pollOnWorkersNow(workers, mem));
    this.workerPollTail = p.catch(() => undefined);
    return p;
  }

  private async pollOnWorkersNow(
    workers: readonly DumpRunner[],
    mem: { prev?: PollMemory | null; into?: PollMemory | null },
  ): Promise<SnapshotBuilder> {
    const plan = this.opts.sequentialDumps ? SEQUENTIAL_PLAN : POLL_PLAN;
    this.stats.workerPolls++;
    const b = new SnapshotBuilder({ mptcpPending: true, prev: mem.prev ?? null, into: mem.into ?? null });
    const seq = new PollSequencer(b, plan);
    const t0 = performance.now();
    const workerEndMs = plan.workers.map(() => 0);
    // allSettled: the poll (and so the next one) ends only when no worker still runs a part of it.
    const settled = await Promise.allSettled(
      plan.workers.map((dumps, k) => {
        const w = workers[k]!;
        // The worker sees its own dumps only: a dependency by its index in this worker's list.
        const skip = dumps.map((d) => dumps.indexOf(plan.skipWhenEmpty[d] ?? -1));
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
    this.stats.lastSkippedDumps = skipped;
    this.stats.lastReceivePaths = plan.workers.map((_, k) => workers[k]!.receivePath ?? null);
    this.stats.lastWorkerEndMs = workerEndMs;
    return b;
  }
}

// struct inet_diag_bc_op (include/uapi/linux/inet_diag.h)
const BC = INET_DIAG_BC_OP.fields;

/**
 * Bytecode `sport == localPort || dport == remotePort` (INET_DIAG_REQ_BYTECODE), laid out as ss
 * compiles an OR (misc/ss.c): A; JMP over B; B. The kernel's audit walks the `yes` chain, so every
 * op's `yes` is the next op and a failed primitive jumps past its own end (+4). A port comparison
 * is two ops: the second op's `no` holds the port (inet_diag_bc_run reads op[1].no).
 */
function portFilter(localPort: number, remotePort: number): Buffer {
  const OP = INET_DIAG_BC_OP.size;
  const bc = Buffer.alloc(5 * OP);
  const op = (at: number, code: number, yes: number, no: number): void => {
    bc[at + BC.code.offset] = code;
    bc[at + BC.yes.offset] = yes;
    bc.writeUInt16LE(no, at + BC.no.offset);
  };
  op(0, INET_DIAG_BC_S_EQ, 2 * OP, 3 * OP);
  bc.writeUInt16LE(localPort, OP + BC.no.offset); // the port sits in the `no` field of the following op
  op(2 * OP, INET_DIAG_BC_JMP, OP, 3 * OP); // A matched: jump over B to the end (accept)
  op(3 * OP, INET_DIAG_BC_D_EQ, 2 * OP, 3 * OP);
  bc.writeUInt16LE(remotePort, 4 * OP + BC.no.offset);
  const attr = Buffer.alloc(NLATTR.size + bc.length);
  attr.writeUInt16LE(attr.length, NLATTR.fields.nla_len.offset);
  attr.writeUInt16LE(INET_DIAG_REQ_BYTECODE, NLATTR.fields.nla_type.offset);
  bc.copy(attr, NLATTR.size);
  return attr;
}

/**
 * One connection by its local token (ConnectionPoller.readOne), and whether the narrowed TCP dump
 * missed a subflow so that the full one was read.
 */
async function readConnection(
  diag: NlSocket,
  token: number,
): Promise<{ connection: Connection | null; fullDump: boolean; fresh: readonly Subflow[] }> {
  const b = new SnapshotBuilder();
  try {
    const replies = await diag.get(
      SOCK_DIAG_BY_FAMILY,
      diagRequest(AF_INET, IPPROTO_MPTCP, EXT_INFO, MPTCP_STATES, token),
      'sock_diag MPTCP lookup by token',
    );
    for (const r of replies) b.onMptcp(r, 0, r.length);
  } catch (e) {
    if (e instanceof NetlinkError && e.code === 'ENOENT')
      return { connection: null, fullDump: false, fresh: [] };
    throw e;
  }
  const conn = b.connections[0];
  if (!conn || conn.token !== token) return { connection: null, fullDump: false, fresh: [] };
  const filter = portFilter(conn.localPort, conn.remotePort);
  const narrowed = TCP_DUMP_REQS.map((r) => Buffer.concat([r, filter]));
  const onTcp = (buf: Buffer, _type: number, off: number, len: number): void => b.onTcp(buf, off, len);
  for (const req of narrowed)
    await diag.dump(SOCK_DIAG_BY_FAMILY, req, 'sock_diag TCP dump (filtered)', onTcp);
  if (conn.subflows.length >= conn.subflowsTotal)
    return { connection: conn, fullDump: false, fresh: b.fresh };
  conn.subflows.length = 0;
  b.fresh.length = 0;
  for (const req of TCP_DUMP_REQS) await diag.dump(SOCK_DIAG_BY_FAMILY, req, 'sock_diag TCP dump', onTcp);
  return { connection: conn, fullDump: true, fresh: b.fresh };
}
