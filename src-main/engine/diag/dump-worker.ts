/**
 * The main thread's handle on a sock_diag dump worker (its program: dump-worker-thread.ts), which
 * runs dumps and forwards the raw datagrams to this thread.
 *
 * Why: the kernel builds a dump's datagrams inside our recvmsg calls (netlink_recvmsg refills
 * through netlink_dump), so on the main thread the ~45 ms of kernel work for 30,000 sockets and
 * the decode run one after the other on one core. In a worker, its reads keep the kernel busy on
 * the other core while the main thread decodes the batches already received: a poll costs about
 * max(kernel, decode) instead of their sum (bench/poll.mjs). connections.ts runs two of them, so
 * that the kernel's work for the TCP and the MPTCP dumps is also spread over both cores.
 *
 * The worker owns its own NETLINK_SOCK_DIAG socket; threads share their process's network
 * namespace, so it sees the same sockets as any NlSocket the process opens. Batches are
 * transferred, not cloned, to this thread, which hands them back with its next request, so a
 * steady poll allocates no new buffers and adds no external-memory GC pressure. The worker
 * forwards everything of a dump, DONE and ERROR included, and this side interprets it (errors
 * keep the meaning NlSocket gives them).
 */
import { Worker } from 'node:worker_threads';
import { ApiFailure } from '../../../shared/result';
import { workerEntry } from '../netlink/worker-entry';
import {
  DUMP_WORKER_ENTRY,
  type DumpWorkerData,
  type PollRequest,
  type ReceivePath,
  type WorkerReply,
} from './dump-protocol';

export type { ReceivePath } from './dump-protocol';

/** Batches kept for reuse between polls (8 MiB at most); more are simply dropped to the GC. */
const POOL_MAX = 32;

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
    const workerData: DumpWorkerData = {
      receive: options.receive ?? 'direct',
      procDir: options.procDir ?? '/proc/thread-self',
    };
    this.worker = new Worker(workerEntry(DUMP_WORKER_ENTRY), {
      workerData,
      // The worker only copies bytes: keep its heap small.
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
    });
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
