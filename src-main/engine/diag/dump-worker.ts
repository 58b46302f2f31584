/**
 * A worker thread that runs sock_diag dumps and forwards the raw datagrams to the main thread.
 *
 * Why: the kernel builds a dump's datagrams inside our recvmsg calls (netlink_recvmsg refills
 * through netlink_dump), so on the main thread the ~45 ms of kernel work for 30,000 sockets and
 * the decode run one after the other on one core. Here the worker's recvmsg calls keep the kernel
 * busy on the other core while the main thread decodes the batches already received: a poll costs
 * about max(kernel, decode) instead of their sum (bench/poll.mjs). connections.ts runs two of them,
 * so that the kernel's work for the TCP and the MPTCP dumps is also spread over both cores.
 *
 * The worker owns its own NETLINK_SOCK_DIAG socket. Threads share their process's network
 * namespace, so it sees the same sockets as any NlSocket the process opens (G4).
 *
 * Datagrams land in fixed-size ArrayBuffers (several per batch, whole datagrams only): read(2)
 * straight into them on the direct path (ReceivePath), copied there on the binding's. Batches
 * are transferred, not cloned, to the main thread; the main thread hands them back with its next
 * request, so a steady poll allocates no new buffers and adds no external-memory GC pressure. The
 * worker forwards everything of a dump, DONE and ERROR included, and the main thread interprets it
 * (errors keep the meaning NlSocket gives them).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import type * as Fs from 'node:fs';
import type * as Netlink from 'netlink';
import { ApiFailure } from '../../../shared/result';
import { findSocketFd, netlinkSocketRow } from '../netlink/fd';

/** Batches kept for reuse between polls (8 MiB at most); more are simply dropped to the GC. */
const POOL_MAX = 32;

/** Main → worker: run these dump requests (payloads after the nlmsghdr) one after the other. */
interface PollRequest {
  id: number;
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
type WorkerReply =
  | { id: number; kind: 'batch'; dump: number; buf: ArrayBuffer; used: number }
  | { id: number; kind: 'end'; skipped: number; path: ReceivePath }
  | { id: number; kind: 'error'; message: string };

/**
 * How the worker reads a dump. `direct`: write(2) and read(2) on the socket's file descriptor from
 * this thread, straight into the batch (see readDirect). `binding`: the `netlink` binding's own
 * receive path (recvmsg from its libuv poll callback, one new Buffer and one JS callback per
 * datagram, then a copy into the batch). `direct` is the default and falls back to `binding` when
 * the descriptor cannot be identified.
 */
export type ReceivePath = 'direct' | 'binding';

/**
 * The worker's whole program. It runs from source text (`eval: true`), so that the bundle needs no
 * second entry file: it must not reference anything outside its own body but its parameters and JS
 * globals. Written against the `netlink` package's RawNetlinkSocket directly (NlSocket is an ES
 * module of the bundle); netlink/fd.ts's functions come in as parameters, from their source text.
 */
function workerMain(
  req: NodeJS.Require,
  data: { netlinkPath: string; receive: ReceivePath; procDir: string },
  socketRow: typeof netlinkSocketRow,
  socketFd: typeof findSocketFd,
): void {
  // Constants are repeated here on purpose: see above. Values: uapi linux/netlink.h.
  const NLMSG_HDRLEN = 16;
  const NLMSG_ERROR = 2;
  const NLMSG_DONE = 3;
  const NLMSG_OVERRUN = 4;
  const NLM_F_REQUEST_DUMP = 0x1 | 0x300;
  const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  /** One transferred batch holds 8 full datagrams: ~80 messages to the main thread per 10k conns. */
  const BATCH = 256 * 1024;
  /** Same bound as POOL_MAX on the main side. */
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
  const NETLINK_SOCK_DIAG = 4;

  const { parentPort } = req('node:worker_threads') as typeof WorkerThreads;
  const fs = req('node:fs') as typeof Fs;
  const { RawNetlinkSocket } = req(data.netlinkPath) as typeof Netlink;
  type Sock = InstanceType<typeof RawNetlinkSocket>;
  const port = parentPort!;
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
  let sock: Sock | null = null;
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
    port.postMessage({ id: job.id, kind: 'batch', dump, buf, used } satisfies WorkerReply, [buf]);
    batch = null;
    used = 0;
  };

  /** Forwards an NLMSG_DONE for the current dump, as the kernel would end an empty dump. */
  const forwardDone = (): void => {
    if (!job) return;
    const ab = pool.pop() ?? new ArrayBuffer(BATCH);
    const done = Buffer.from(ab);
    done.fill(0, 0, NLMSG_HDRLEN + 4);
    done.writeUInt32LE(NLMSG_HDRLEN + 4, 0);
    done.writeUInt16LE(NLMSG_DONE, 4);
    done.writeUInt16LE(0x2 /* NLM_F_MULTI */, 6);
    port.postMessage(
      { id: job.id, kind: 'batch', dump, buf: ab, used: NLMSG_HDRLEN + 4 } satisfies WorkerReply,
      [ab],
    );
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
  const request = (): Buffer => {
    seq = (seq % 0x7fffffff) + 1;
    const payload = Buffer.from(job!.payloads[dump]!);
    const hdr = Buffer.alloc(NLMSG_HDRLEN + payload.length);
    hdr.writeUInt32LE(NLMSG_HDRLEN + payload.length, 0);
    hdr.writeUInt16LE(job!.type, 4);
    hdr.writeUInt16LE(NLM_F_REQUEST_DUMP, 6);
    hdr.writeUInt32LE(seq, 8);
    hdr.writeUInt32LE(localPort, 12);
    payload.copy(hdr, NLMSG_HDRLEN);
    return hdr;
  };

  const sendNext = (): void => {
    if (!job || !sock) return;
    if (!skipEmpty()) {
      end({ id: 0, kind: 'end', skipped, path: 'binding' });
      return;
    }
    sock.send([request()], { port: 0 }, (err?: Error) => {
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
      port.postMessage({ ...reply, id });
      startNext();
    });
  };

  /* What scan() found in one datagram (module-level: the walk runs ~320 times per 10k poll). */
  let scanMessages = 0;
  let scanEnds = false;
  let scanError = false;
  let scanWalked = 0;

  /**
   * Walks the nlmsghdrs of the datagram buf[off, off + len): data messages, whether it ends the
   * dump (DONE, ERROR, OVERRUN) and whether that end reports an error (ERROR errno != 0, DONE < 0,
   * OVERRUN), and how many bytes whole messages cover. Aligned buffers are walked with word loads
   * (netlink is host byte order; len at word 0, type in the low half of word 1): this walk runs on
   * the critical path of a poll, ~80 messages per datagram.
   */
  const scan = (buf: Buffer, off: number, len: number): void => {
    scanMessages = 0;
    scanEnds = false;
    scanError = false;
    const start = buf.byteOffset + off;
    const words = (start & 3) === 0 && LITTLE_ENDIAN ? new Uint32Array(buf.buffer, start, len >>> 2) : null;
    let at = 0;
    while (at + NLMSG_HDRLEN <= len) {
      const mlen = words ? words[at >>> 2]! : buf.readUInt32LE(off + at);
      if (mlen < NLMSG_HDRLEN || at + mlen > len) break;
      const type = words ? words[(at >>> 2) + 1]! & 0xffff : buf.readUInt16LE(off + at + 4);
      if (type === NLMSG_DONE || type === NLMSG_ERROR || type === NLMSG_OVERRUN) {
        if (!scanEnds) {
          scanError =
            type === NLMSG_OVERRUN ||
            (mlen >= NLMSG_HDRLEN + 4 && buf.readInt32LE(off + at + NLMSG_HDRLEN) !== 0);
        }
        scanEnds = true;
      } else if (type !== 1 /* NLMSG_NOOP */) scanMessages++;
      at += (mlen + 3) & ~3;
    }
    scanWalked = Math.min(at, len);
  };

  /** True when the datagram at buf[off] answers the current request (seq and port). */
  const ours = (buf: Buffer, off: number, len: number): boolean =>
    len >= NLMSG_HDRLEN && buf.readUInt32LE(off + 8) === seq && buf.readUInt32LE(off + 12) === localPort;

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
    const row = socketRow(fs, data.procDir, NETLINK_SOCK_DIAG, portid);
    return row ? socketFd(fs, data.procDir, row.inode) : -1;
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
  const dumpDirect = (): boolean => {
    const req = request();
    const wrote = fs.writeSync(fd, req);
    if (wrote !== req.length) throw new Error(`netlink: short write (${wrote} of ${req.length} bytes)`);
    for (;;) {
      if (batch && batch.length - used < DIRECT_ROOM) flush();
      if (!batch) batch = Buffer.from(pool.pop() ?? new ArrayBuffer(BATCH));
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
        if (dumpDirect()) break;
        dump++;
      }
    } catch (e) {
      end({ id: 0, kind: 'error', message: e instanceof Error ? e.message : String(e) });
      return;
    }
    end({ id: 0, kind: 'end', skipped, path: 'direct' });
  };

  function startNext(): void {
    if (job || queue.length === 0) return;
    job = queue.shift()!;
    for (const b of job.recycle) if (pool.length < POOL) pool.push(b);
    dump = 0;
    skipped = 0;
    found = job.payloads.map(() => 0);
    if (!sock) {
      try {
        sock = new RawNetlinkSocket(NETLINK_SOCK_DIAG, {
          messagePeeking: false,
          msgBufferSize: 32 * 1024, // the kernel fills at most ~32 KiB per dump datagram
          recvBufferSize: 1024 * 1024,
          sendBufferSize: 64 * 1024,
        });
      } catch (e) {
        end({ id: 0, kind: 'error', message: e instanceof Error ? e.message : String(e) });
        return;
      }
      localPort = sock.address().port;
      fd = data.receive === 'direct' && !directUnavailable ? findFd(localPort) : -1;
      if (data.receive === 'direct' && fd < 0) directUnavailable = true;
      sock.on('message', onDatagram);
      sock.on('truncatedMessage', () =>
        end({ id: 0, kind: 'error', message: 'netlink: truncated datagram' }),
      );
      sock.on('error', (err: Error) => end({ id: 0, kind: 'error', message: err.message }));
    }
    if (fd >= 0) runDirect();
    else sendNext();
  }

  port.on('message', (m: PollRequest) => {
    queue.push(m);
    startNext();
  });
}

/** Called with each forwarded batch: datagrams of request `dump`, whole, in buf[0, used). */
export type BatchVisitor = (dump: number, buf: Buffer, used: number) => void;

/**
 * Main-thread handle on the worker. One poll runs at a time (netlink allows one dump per socket);
 * concurrent callers queue. The worker is unref'd between polls so it never keeps a process alive.
 */
export class DiagDumpWorker {
  private readonly worker: Worker;
  private nextId = 1;
  private recycle: ArrayBuffer[] = [];
  private current: {
    id: number;
    visit: BatchVisitor;
    resolve: (skipped: number) => void;
    reject: (e: Error) => void;
  } | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private dead: Error | null = null;
  private lastPath: ReceivePath | null = null;

  /**
   * `receive`: the path to use (default `direct`, which falls back to `binding` on its own).
   * `procDir`: where the direct path looks the socket up (default /proc/thread-self; tests point
   * it elsewhere to exercise the fallback).
   */
  constructor(options: { receive?: ReceivePath; procDir?: string } = {}) {
    const netlinkPath = createRequire(import.meta.url).resolve('netlink');
    this.worker = new Worker(
      `(${workerMain.toString()})(require, require('node:worker_threads').workerData, ${netlinkSocketRow.toString()}, ${findSocketFd.toString()})`,
      {
        eval: true,
        workerData: {
          netlinkPath,
          receive: options.receive ?? 'direct',
          procDir: options.procDir ?? '/proc/thread-self',
        },
        // The worker only copies bytes: keep its heap small.
        resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
      },
    );
    this.worker.on('message', (m: WorkerReply) => this.onReply(m));
    this.worker.on('error', (e) => this.die(e));
    this.worker.on('exit', (code) => this.die(new Error(`sock_diag worker exited (${code})`)));
    // After the listeners: adding a 'message' listener refs the worker's port again, and a worker
    // that never ran a poll (the second one, with --variants' sequential dumps) kept the process up.
    this.worker.unref();
  }

  /** The receive path of the last poll that completed, null before one did. */
  get receivePath(): ReceivePath | null {
    return this.lastPath;
  }

  /** True once the worker failed; callers then fall back to dumping on their own thread. */
  get failed(): boolean {
    return this.dead !== null;
  }

  /**
   * Runs the dumps of `payloads` (nlmsghdr type `type`) in order; `visit` sees every batch on this
   * thread as it arrives. The returned promise settles after the last batch was visited, with how
   * many dumps were not sent (skipWhenEmpty); it rejects on a worker failure or a visitor throw
   * (e.g. a NetlinkError decoded from the data).
   */
  run(
    type: number,
    payloads: readonly Buffer[],
    visit: BatchVisitor,
    skipWhenEmpty: readonly number[] = [],
    timeoutMs = 10_000,
  ): Promise<number> {
    const p = this.tail.then(() => this.runNow(type, payloads, visit, skipWhenEmpty, timeoutMs));
    this.tail = p.catch(() => undefined);
    return p;
  }

  terminate(): Promise<number> {
    this.dead ??= new Error('sock_diag worker terminated');
    return this.worker.terminate();
  }

  private runNow(
    type: number,
    payloads: readonly Buffer[],
    visit: BatchVisitor,
    skipWhenEmpty: readonly number[],
    timeoutMs: number,
  ): Promise<number> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.current = null;
        this.worker.unref();
        reject(new ApiFailure('TIMEOUT', `sock_diag dump: no answer from the kernel in ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (e: Error | null, skipped = 0): void => {
        clearTimeout(timer);
        this.current = null;
        this.worker.unref();
        if (e) reject(e);
        else resolve(skipped);
      };
      this.current = { id, visit, resolve: (skipped) => done(null, skipped), reject: (e) => done(e) };
      // Copies: a Buffer's ArrayBuffer may be a shared pool slab, never transfer that.
      const copies = payloads.map((b) => new Uint8Array(b).buffer);
      const recycle = this.recycle;
      this.recycle = [];
      const msg: PollRequest = {
        id,
        type,
        payloads: copies,
        skipWhenEmpty: payloads.map((_, i) => skipWhenEmpty[i] ?? -1),
        recycle,
      };
      this.worker.ref(); // a poll in flight keeps the process alive, like an NlSocket request
      this.worker.postMessage(msg, [...copies, ...recycle]);
    });
  }

  private onReply(m: WorkerReply): void {
    const c = this.current;
    if (m.kind === 'batch' && this.recycle.length < POOL_MAX) this.recycle.push(m.buf);
    if (!c || c.id !== m.id) return; // a poll that timed out
    if (m.kind === 'batch') {
      try {
        c.visit(m.dump, Buffer.from(m.buf, 0, m.used), m.used);
      } catch (e) {
        // The worker finishes the poll on its own; its remaining batches are ignored.
        c.reject(e instanceof Error ? e : new Error(String(e)));
      }
    } else if (m.kind === 'end') {
      this.lastPath = m.path;
      c.resolve(m.skipped);
    } else c.reject(new Error(`sock_diag worker: ${m.message}`));
  }

  private die(e: Error): void {
    this.dead ??= e;
    this.current?.reject(this.dead);
  }
}
