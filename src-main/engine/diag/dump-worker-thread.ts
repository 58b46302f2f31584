/**
 * The sock_diag dump worker's own program: a bundled entry of its own (scripts/build-node.mjs
 * builds out/node/dump-worker.mjs, electron.vite.config.ts out/main/dump-worker.js; found by
 * netlink/worker-entry.ts), started by dump-worker.ts as a worker thread. Why a worker: see
 * dump-worker.ts.
 *
 * It owns its own NETLINK_SOCK_DIAG socket (threads share their process's network namespace, so
 * it sees the same sockets as any socket the process opens), runs the dumps it is asked for, and
 * forwards every datagram of a dump, DONE and ERROR included, in batches: fixed-size ArrayBuffers
 * holding whole datagrams, transferred (not cloned) to the main thread, which hands them back with
 * its next request. On the direct path (ReceivePath) the datagrams are read with read(2) on the
 * socket's fd straight into the batch; on the binding's they are copied there from the binding's
 * receive callback.
 */
import * as fs from 'node:fs';
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { RawNetlinkSocket } from 'netlink';
import { findSocketFd, netlinkSocketRow } from '../netlink/fd';
import {
  NETLINK_SOCK_DIAG,
  NLM_F_DUMP,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
} from '../uapi/netlink';
import type { DumpWorkerData, PollRequest, WorkerReply } from './dump-protocol';
import { NLMSGHDR } from './uapi-structs';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** One transferred batch holds 8 full datagrams: ~80 messages to the main thread per 10k conns. */
const BATCH = 256 * 1024;
/** Batches kept for reuse between polls (8 MiB at most); the main side keeps as many. */
const POOL = 32;
/**
 * Room left in a batch for each direct read: more than any dump datagram can be. The kernel
 * sizes a dump's skb at most max(min_dump_alloc, max_recvmsg_len), and netlink_recvmsg caps
 * max_recvmsg_len at SKB_WITH_OVERHEAD(32768); read(2) would silently cut a longer datagram
 * (no MSG_TRUNC without recvmsg), so a read that fills this whole room is treated as cut.
 */
const DIRECT_ROOM = 64 * 1024;
/** A dump datagram is built inside our read(2) (netlink_recvmsg → netlink_dump); see readDirect. */
const DIRECT_EAGAIN_MS = 2000;

// struct nlmsghdr (include/uapi/linux/netlink.h), host byte order.
const H = NLMSGHDR.fields;
const NLMSG_LEN = H.nlmsg_len.offset;
const NLMSG_TYPE = H.nlmsg_type.offset;
const NLMSG_FLAGS = H.nlmsg_flags.offset;
const NLMSG_SEQ = H.nlmsg_seq.offset;
const NLMSG_PID = H.nlmsg_pid.offset;

/** The worker's side of its channel (a parentPort; tests may drive runDumpWorker otherwise). */
export interface DumpWorkerPort {
  post(m: WorkerReply, transfer?: ArrayBuffer[]): void;
  onRequest(f: (m: PollRequest) => void): void;
}

export function runDumpWorker(data: DumpWorkerData, port: DumpWorkerPort): void {
  const pool: ArrayBuffer[] = [];
  const queue: PollRequest[] = [];
  let job: PollRequest | null = null;
  /**
   * On the binding's path the socket lives for one poll only (a few syscalls to open), and the end
   * of a poll is reported from a setImmediate after it is closed: the main thread may exit as soon
   * as it has the end, and a worker terminated while still inside the binding's receive callback
   * aborts the whole process (node-addon-api: FATAL ERROR Error::Error napi_define_properties, seen
   * in the integration tests). The direct path never enters that callback for its dumps (it drains
   * each dump to its end within one synchronous loop, so the binding's poll never finds the socket
   * readable), and keeps its socket from poll to poll; a failed poll closes it.
   */
  let sock: RawNetlinkSocket | null = null;
  /** The socket's fd on the direct path, else -1; see findFd. */
  let fd = -1;
  /** findFd failed once: this worker stays on the binding's path. */
  let directUnavailable = false;
  let localPort = 0;
  let dump = 0;
  /** Data messages (sockets) received per dump of the current job. */
  let found: number[] = [];
  /** Dumps of the current job not sent (skipWhenEmpty): reported with its end. */
  let skipped = 0;
  let seq = 0;
  let batch: Buffer | null = null;
  let used = 0;

  const flush = (): void => {
    if (!job || !batch || used === 0) return;
    const buf = batch.buffer as ArrayBuffer;
    port.post({ id: job.id, kind: 'batch', dump, buf, used }, [buf]);
    batch = null;
    used = 0;
  };

  /** Forwards an NLMSG_DONE for the current dump, as the kernel would end an empty dump. */
  const forwardDone = (): void => {
    if (!job) return;
    const ab = pool.pop() ?? new ArrayBuffer(BATCH);
    const done = Buffer.from(ab);
    done.fill(0, 0, NLMSG_HDRLEN + 4);
    done.writeUInt32LE(NLMSG_HDRLEN + 4, NLMSG_LEN);
    done.writeUInt16LE(NLMSG_DONE, NLMSG_TYPE);
    done.writeUInt16LE(NLM_F_MULTI, NLMSG_FLAGS);
    port.post({ id: job.id, kind: 'batch', dump, buf: ab, used: NLMSG_HDRLEN + 4 }, [ab]);
  };

  /**
   * Skips the dumps whose skipWhenEmpty dependency found no socket, forwarding a DONE for each.
   * False when no dump is left.
   */
  const skipEmpty = (): boolean => {
    if (!job) return false;
    for (let dep = job.skipWhenEmpty[dump] ?? -1; dep >= 0 && found[dep] === 0;) {
      forwardDone();
      skipped++;
      if (++dump >= job.payloads.length) return false;
      dep = job.skipWhenEmpty[dump] ?? -1;
    }
    return true;
  };

  /** The current dump's request: nlmsghdr (a new seq) + payload. */
  const request = (j: PollRequest): Buffer => {
    seq = (seq % 0x7fffffff) + 1;
    const payload = Buffer.from(j.payloads[dump]!);
    const msg = Buffer.alloc(NLMSG_HDRLEN + payload.length);
    msg.writeUInt32LE(msg.length, NLMSG_LEN);
    msg.writeUInt16LE(j.type, NLMSG_TYPE);
    msg.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, NLMSG_FLAGS);
    msg.writeUInt32LE(seq, NLMSG_SEQ);
    msg.writeUInt32LE(localPort, NLMSG_PID);
    payload.copy(msg, NLMSG_HDRLEN);
    return msg;
  };

  const sendNext = (): void => {
    if (!job || !sock) return;
    if (!skipEmpty()) {
      end({ id: 0, kind: 'end', skipped, path: 'binding' });
      return;
    }
    sock.send([request(job)], { port: 0 }, (err?: Error) => {
      if (err) end({ id: 0, kind: 'error', message: err.message });
    });
  };

  /** Closes the socket; the next poll opens a new one. */
  const dropSocket = (): void => {
    const s = sock;
    sock = null;
    fd = -1;
    s?.close();
  };

  /**
   * Ends the current poll, then reports, then runs the next. The binding's socket is closed first
   * (see above); a direct-path socket stays open for the next poll unless the poll failed.
   */
  const end = (reply: WorkerReply): void => {
    if (!job) return;
    if (fd < 0 || reply.kind === 'error') dropSocket();
    const id = job.id;
    job = null;
    batch = null;
    used = 0;
    setImmediate(() => {
      port.post({ ...reply, id });
      startNext();
    });
  };

  /* What scan() found in one datagram (not allocated per call: the walk runs ~320 times per 10k poll). */
  let scanMessages = 0;
  let scanEnds = false;
  let scanError = false;
  let scanWalked = 0;

  /**
   * Walks the nlmsghdrs of the datagram buf[off, off + len): data messages, whether it ends the
   * dump (DONE, ERROR, OVERRUN) and whether that end reports an error (ERROR errno != 0, DONE < 0,
   * OVERRUN), and how many bytes whole messages cover. Aligned buffers are walked with word loads
   * (netlink is host byte order; nlmsg_len is word 0, nlmsg_type the low half of word 1): this walk
   * runs on the critical path of a poll, ~80 messages per datagram.
   */
  const scan = (buf: Buffer, off: number, len: number): void => {
    scanMessages = 0;
    scanEnds = false;
    scanError = false;
    const start = buf.byteOffset + off;
    const words = (start & 3) === 0 && LITTLE_ENDIAN ? new Uint32Array(buf.buffer, start, len >>> 2) : null;
    let at = 0;
    while (at + NLMSG_HDRLEN <= len) {
      const mlen = words ? words[(at + NLMSG_LEN) >>> 2]! : buf.readUInt32LE(off + at + NLMSG_LEN);
      if (mlen < NLMSG_HDRLEN || at + mlen > len) break;
      const type = words ? words[(at + NLMSG_TYPE) >>> 2]! & 0xffff : buf.readUInt16LE(off + at + NLMSG_TYPE);
      if (type === NLMSG_DONE || type === NLMSG_ERROR || type === NLMSG_OVERRUN) {
        if (!scanEnds) {
          scanError =
            type === NLMSG_OVERRUN ||
            (mlen >= NLMSG_HDRLEN + 4 && buf.readInt32LE(off + at + NLMSG_HDRLEN) !== 0);
        }
        scanEnds = true;
      } else if (type !== NLMSG_NOOP) scanMessages++;
      at += (mlen + 3) & ~3;
    }
    scanWalked = Math.min(at, len);
  };

  /** True when the datagram at buf[off] answers the current request (seq and port). */
  const ours = (buf: Buffer, off: number, len: number): boolean =>
    len >= NLMSG_HDRLEN &&
    buf.readUInt32LE(off + NLMSG_SEQ) === seq &&
    buf.readUInt32LE(off + NLMSG_PID) === localPort;

  // ---- The binding's receive path -------------------------------------------------------------

  const onDatagram = (buf: Buffer): void => {
    if (!job || fd >= 0 || !ours(buf, 0, buf.length)) return;
    scan(buf, 0, buf.length);
    const ends = scanEnds;
    const failed = scanError;
    found[dump]! += scanMessages;
    if (batch && used + buf.length > batch.length) flush();
    if (!batch) {
      const ab = pool.pop() ?? new ArrayBuffer(Math.max(BATCH, buf.length));
      batch = Buffer.from(ab);
    }
    buf.copy(batch, used);
    used += buf.length;
    if (!ends) return;
    flush();
    // The main thread reads the error from the forwarded message; the poll stops at the first one.
    if (++dump < job.payloads.length && !failed) sendNext();
    else end({ id: 0, kind: 'end', skipped, path: 'binding' });
  };

  // ---- The direct path --------------------------------------------------------------------------

  /** The binding's socket fd (netlink/fd.ts), or -1: the binding's path is used then. */
  const findFd = (portid: number): number => {
    const row = netlinkSocketRow(fs, data.procDir, NETLINK_SOCK_DIAG, portid);
    return row ? findSocketFd(fs, data.procDir, row.inode) : -1;
  };

  const sleepCell = new Int32Array(new SharedArrayBuffer(4));

  /**
   * One datagram into buf[off, off + DIRECT_ROOM). The socket is non-blocking (libuv's uv_poll_init
   * sets O_NONBLOCK), and that is no obstacle: the kernel queues a dump's first datagram inside our
   * write (netlink_dump_start → netlink_dump) and each next one inside the read that drains the one
   * before (netlink_recvmsg → netlink_dump while sk_rmem_alloc <= sk_rcvbuf / 2), so EAGAIN is not
   * expected mid-dump; should a kernel defer it anyway, the read is retried for a bounded time.
   */
  const readDirect = (buf: Buffer, off: number): number => {
    let waitedMs = 0;
    for (;;) {
      try {
        return fs.readSync(fd, buf, off, DIRECT_ROOM, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      if (waitedMs >= DIRECT_EAGAIN_MS)
        throw new Error(`netlink: no dump datagram from the kernel in ${DIRECT_EAGAIN_MS} ms`);
      Atomics.wait(sleepCell, 0, 0, 1);
      waitedMs++;
    }
  };

  /**
   * Runs the current dump on the fd: one write(2) of the request, then read(2)s straight into the
   * batch until the dump ends, with no allocation, copy or callback per datagram (the binding's path
   * costs ~1.2× the raw C dump on the critical path, bench/poll-threads.mjs). Returns whether the
   * dump ended with an error.
   */
  const dumpDirect = (j: PollRequest): boolean => {
    const req = request(j);
    const wrote = fs.writeSync(fd, req);
    if (wrote !== req.length) throw new Error(`netlink: short write (${wrote} of ${req.length} bytes)`);
    for (;;) {
      if (batch && batch.length - used < DIRECT_ROOM) flush();
      batch ??= Buffer.from(pool.pop() ?? new ArrayBuffer(BATCH));
      const n = readDirect(batch, used);
      if (n >= DIRECT_ROOM) throw new Error('netlink: a dump datagram filled the whole read: it may be cut');
      // A datagram of an earlier, abandoned request: the next read overwrites it.
      if (!ours(batch, used, n)) continue;
      scan(batch, used, n);
      if (scanWalked !== n) throw new Error('netlink: truncated datagram');
      found[dump]! += scanMessages;
      used += n;
      if (scanEnds) {
        const failed = scanError;
        flush();
        return failed;
      }
    }
  };

  const runDirect = (): void => {
    try {
      while (job && dump < job.payloads.length && skipEmpty()) {
        // The main thread reads the error from the forwarded message; the poll stops at the first one.
        if (dumpDirect(job)) break;
        dump++;
      }
    } catch (e) {
      end({ id: 0, kind: 'error', message: e instanceof Error ? e.message : String(e) });
      return;
    }
    end({ id: 0, kind: 'end', skipped, path: 'direct' });
  };

  const startNext = (): void => {
    if (job || queue.length === 0) return;
    job = queue.shift()!;
    for (const b of job.recycle) if (pool.length < POOL) pool.push(b);
    dump = 0;
    skipped = 0;
    found = job.payloads.map(() => 0);
    if (!sock) {
      let s: RawNetlinkSocket;
      try {
        s = new RawNetlinkSocket(NETLINK_SOCK_DIAG, {
          messagePeeking: false,
          msgBufferSize: 32 * 1024, // the kernel fills at most ~32 KiB per dump datagram
          recvBufferSize: 1024 * 1024,
          sendBufferSize: 64 * 1024,
        });
      } catch (e) {
        end({ id: 0, kind: 'error', message: e instanceof Error ? e.message : String(e) });
        return;
      }
      sock = s;
      localPort = s.address().port;
      fd = data.receive === 'direct' && !directUnavailable ? findFd(localPort) : -1;
      if (data.receive === 'direct' && fd < 0) directUnavailable = true;
      s.on('message', onDatagram);
      s.on('truncatedMessage', () => end({ id: 0, kind: 'error', message: 'netlink: truncated datagram' }));
      s.on('error', (err: Error) => end({ id: 0, kind: 'error', message: err.message }));
    }
    if (fd >= 0) runDirect();
    else sendNext();
  };

  port.onRequest((m) => {
    queue.push(m);
    startNext();
  });
}

function threadPort(parent: MessagePort): DumpWorkerPort {
  return {
    post: (m, transfer = []) => parent.postMessage(m, transfer),
    onRequest: (f) => parent.on('message', f),
  };
}

if (!isMainThread && parentPort) runDumpWorker(workerData as DumpWorkerData, threadPort(parentPort));
