/**
 * What the main thread (dump-worker.ts) and a sock_diag dump worker (dump-worker-thread.ts)
 * exchange. Types and the worker's start-up data only: both sides import this file, so that the
 * type checker sees both ends of the channel.
 */

/**
 * How a worker reads a dump. `direct`: write(2) and read(2) on the socket's file descriptor from
 * the worker thread, straight into the batch (dump-worker-thread.ts readDirect). `binding`: the
 * `netlink` binding's own receive path (recvmsg from its libuv poll callback, one new Buffer and
 * one JS callback per datagram, then a copy into the batch). `direct` is the default and falls
 * back to `binding` when the descriptor cannot be identified.
 */
export type ReceivePath = 'direct' | 'binding';

/** The worker's workerData. */
export interface DumpWorkerData {
  receive: ReceivePath;
  /** Where the direct path looks its socket up (netlink/fd.ts): /proc/thread-self outside tests. */
  procDir: string;
}

/** Main → worker: run these dump requests (payloads after the nlmsghdr) one after the other. */
export interface PollRequest {
  id: number;
  /** nlmsghdr.nlmsg_type of every request (SOCK_DIAG_BY_FAMILY). */
  type: number;
  payloads: ArrayBuffer[];
  /**
   * Per payload: -1, or the index of an earlier payload of this request; when that dump returned
   * no socket, this one is not sent and the worker forwards a DONE for it instead (the AF_INET6 TCP
   * dump after an empty AF_INET6 MPTCP dump, connections.ts).
   */
  skipWhenEmpty: number[];
  /** Batches the main thread is done with, for reuse. */
  recycle: ArrayBuffer[];
}

/** Worker → main. `dump` is the index of the request the datagrams in `buf[0, used)` answer. */
export type WorkerReply =
  | { id: number; kind: 'batch'; dump: number; buf: ArrayBuffer; used: number }
  | { id: number; kind: 'end'; skipped: number; path: ReceivePath }
  | { id: number; kind: 'error'; message: string };

/** The worker's bundled entry (netlink/worker-entry.ts): out/node/dump-worker.mjs, out/main/dump-worker.js. */
export const DUMP_WORKER_ENTRY = 'dump-worker';
