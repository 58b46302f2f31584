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
 * Datagrams are copied into fixed-size ArrayBuffers (several per batch, whole datagrams only) that
 * are transferred, not cloned, to the main thread; the main thread hands them back with its next
 * request, so a steady poll allocates no new buffers and adds no external-memory GC pressure. The
 * worker forwards everything of a dump, DONE and ERROR included, and the main thread interprets it
 * (errors keep the meaning NlSocket gives them).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import type * as Netlink from 'netlink';
import { ApiFailure } from '../../../shared/result';

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
  | { id: number; kind: 'end'; skipped: number }
  | { id: number; kind: 'error'; message: string };

/**
 * The worker's whole program. It runs from source text (`eval: true`), so that the bundle needs no
 * second entry file: it must not reference anything outside its own body but its parameters and JS
 * globals. Written against the `netlink` package's RawNetlinkSocket directly (NlSocket is an ES
 * module of the bundle).
 */
function workerMain(req: NodeJS.Require, data: { netlinkPath: string }): void {
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

  const { parentPort } = req('node:worker_threads') as typeof WorkerThreads;
  const { RawNetlinkSocket } = req(data.netlinkPath) as typeof Netlink;
  type Sock = InstanceType<typeof RawNetlinkSocket>;
  const port = parentPort!;
  const pool: ArrayBuffer[] = [];
  const queue: PollRequest[] = [];
  let job: PollRequest | null = null;
  /**
   * The socket lives for one poll only (a few syscalls to open), and the end of a poll is reported
   * from a setImmediate after it is closed: the main thread may exit as soon as it has the end, and
   * a worker terminated while still inside the binding's receive callback aborts the whole process
   * (node-addon-api: FATAL ERROR Error::Error napi_define_properties, seen in the integration tests).
   */
  let sock: Sock | null = null;
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

  const sendNext = (): void => {
    if (!job || !sock) return;
    for (let dep = job.skipWhenEmpty[dump] ?? -1; dep >= 0 && found[dep] === 0;) {
      forwardDone();
      skipped++;
      if (++dump >= job.payloads.length) {
        end({ id: 0, kind: 'end', skipped });
        return;
      }
      dep = job.skipWhenEmpty[dump] ?? -1;
    }
    seq = (seq % 0x7fffffff) + 1;
    const payload = Buffer.from(job.payloads[dump]!);
    const hdr = Buffer.alloc(NLMSG_HDRLEN);
    hdr.writeUInt32LE(NLMSG_HDRLEN + payload.length, 0);
    hdr.writeUInt16LE(job.type, 4);
    hdr.writeUInt16LE(NLM_F_REQUEST_DUMP, 6);
    hdr.writeUInt32LE(seq, 8);
    hdr.writeUInt32LE(localPort, 12);
    sock.send([hdr, payload], { port: 0 }, (err?: Error) => {
      if (err) end({ id: 0, kind: 'error', message: err.message });
    });
  };

  /** Ends the current poll: closes the socket first (see above), then reports, then runs the next. */
  const end = (reply: WorkerReply): void => {
    if (!job) return;
    const s = sock;
    sock = null;
    s?.close();
    const id = job.id;
    job = null;
    batch = null;
    used = 0;
    setImmediate(() => {
      port.postMessage({ ...reply, id });
      startNext();
    });
  };

  const onDatagram = (buf: Buffer): void => {
    if (!job || buf.length < NLMSG_HDRLEN) return;
    if (buf.readUInt32LE(8) !== seq || buf.readUInt32LE(12) !== localPort) return;
    let ends = false;
    // The binding's datagram buffers are malloc'ed (aligned): walk the nlmsghdrs with word loads
    // (netlink is host byte order; len at word 0, type in the low half of word 1). This walk runs
    // on the critical path of a poll: ~80 messages per datagram, 320 datagrams at 10k connections.
    const words =
      (buf.byteOffset & 3) === 0 && LITTLE_ENDIAN
        ? new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2)
        : null;
    let messages = 0;
    for (let off = 0; off + NLMSG_HDRLEN <= buf.length;) {
      const len = words ? words[off >>> 2]! : buf.readUInt32LE(off);
      if (len < NLMSG_HDRLEN || off + len > buf.length) break;
      const type = words ? words[(off >>> 2) + 1]! & 0xffff : buf.readUInt16LE(off + 4);
      if (type === NLMSG_DONE || type === NLMSG_ERROR || type === NLMSG_OVERRUN) ends = true;
      else if (type !== 1 /* NLMSG_NOOP */) messages++;
      off += (len + 3) & ~3;
    }
    found[dump]! += messages;
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
    if (++dump < job.payloads.length && !hasError(buf)) sendNext();
    else end({ id: 0, kind: 'end', skipped });
  };

  function startNext(): void {
    if (job || queue.length === 0) return;
    job = queue.shift()!;
    for (const b of job.recycle) if (pool.length < POOL) pool.push(b);
    dump = 0;
    skipped = 0;
    found = job.payloads.map(() => 0);
    try {
      sock = new RawNetlinkSocket(4 /* NETLINK_SOCK_DIAG */, {
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
    sock.on('message', onDatagram);
    sock.on('truncatedMessage', () => end({ id: 0, kind: 'error', message: 'netlink: truncated datagram' }));
    sock.on('error', (err: Error) => end({ id: 0, kind: 'error', message: err.message }));
    sendNext();
  }

  /** True when the datagram's terminating message reports an error (ERROR errno != 0, DONE < 0). */
  function hasError(buf: Buffer): boolean {
    for (let off = 0; off + NLMSG_HDRLEN <= buf.length;) {
      const len = buf.readUInt32LE(off);
      if (len < NLMSG_HDRLEN || off + len > buf.length) break;
      const type = buf.readUInt16LE(off + 4);
      if (type === NLMSG_OVERRUN) return true;
      if ((type === NLMSG_ERROR || type === NLMSG_DONE) && len >= NLMSG_HDRLEN + 4)
        return buf.readInt32LE(off + NLMSG_HDRLEN) !== 0;
      off += (len + 3) & ~3;
    }
    return false;
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

  constructor() {
    const netlinkPath = createRequire(import.meta.url).resolve('netlink');
    this.worker = new Worker(
      `(${workerMain.toString()})(require, require('node:worker_threads').workerData)`,
      {
        eval: true,
        workerData: { netlinkPath },
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
    } else if (m.kind === 'end') c.resolve(m.skipped);
    else c.reject(new Error(`sock_diag worker: ${m.message}`));
  }

  private die(e: Error): void {
    this.dead ??= e;
    this.current?.reject(this.dead);
  }
}
