/**
 * A netlink socket that listens to multicast groups from its own worker thread and forwards the
 * raw datagrams to this thread.
 *
 * Why a thread: the kernel does not wait for a slow listener. When a socket's receive buffer is
 * full it drops the notification (netlink_overrun), sets ENOBUFS on the socket, and drops every
 * further one until the queue has been read empty. A burst — 3,000 MPTCP connections opened at
 * once make 12,000 mptcp_pm events within about a second — outran the engine's main thread, which
 * also decodes polls and serves clients: it lost 50–75% of the created/established events where
 * `ip mptcp monitor` lost none. Here a thread that does nothing else reads the queue with read(2)
 * on the socket's fd (netlink/fd.ts), without the binding's per-datagram allocation and callback,
 * and the main thread decodes at its own pace from the forwarded copies.
 *
 * Why the burst loop: the `netlink` binding turns a socket error seen by its libuv poll (EPOLLERR,
 * which ENOBUFS raises) into an uncaught C++ exception that aborts the process. A read(2) takes
 * the error off the socket (sock_error) and reports it as an errno instead. So while datagrams
 * keep coming the thread does not go back to its event loop: it reads until EAGAIN, sleeps 1 ms,
 * and reads again, until a pass finds little; an overrun during a burst then surfaces as ENOBUFS
 * from read(2), reported with the kernel's drop count. The abort stays possible only if the
 * buffer overflows between the thread's return to its loop and its next read, i.e. when this
 * thread is kept off the CPU right as a burst starts (not seen in the lab tests).
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as Fs from 'node:fs';
import type * as Netlink from 'netlink';
import { ApiFailure } from '../../../shared/result';
import { findSocketFd, netlinkSocketRow } from './fd';

export interface EventReaderOptions {
  /** SO_RCVBUF of the socket (the kernel doubles it; capped by net.core.rmem_max). */
  recvBufferBytes?: number;
  /** Where netlink/fd.ts looks (tests point it elsewhere to exercise the binding-only path). */
  procDir?: string;
  /**
   * Tests only: on each wake-up, wait this long before reading, off the event loop, so that a
   * burst overflows the socket and the loss path (ENOBUFS from read(2), the drop count) runs.
   */
  stallMsForTests?: number;
  /**
   * Where the reader runs: `process` (default), a child process, so that the binding's abort on
   * an overflow it sees in its poll ends that process only and a new reader is started; `thread`,
   * a worker thread of this process (no extra process; such an abort ends this process).
   */
  isolation?: 'process' | 'thread';
}

/**
 * Notifications lost: the kernel dropped `dropped` (ENOBUFS; the socket's drop counter delta, null
 * when unknown), or the socket failed otherwise (`message`).
 */
export interface EventsLost {
  dropped: number | null;
  message?: string;
}

interface WorkerData {
  netlinkPath: string;
  protocol: number;
  groups: number[];
  recvBufferBytes: number;
  procDir: string;
  /** Int32Array cells: [0] stop flag, [1] the burst loop's sleep cell. */
  control: SharedArrayBuffer;
  stallMs: number;
}

type WorkerReply =
  | { kind: 'ready'; portId: number; direct: boolean }
  | { kind: 'failed'; code: string | null; message: string }
  /** `stamps`: Float64Array pairs (byte offset, Date.now() at read) — see forEachNotification. */
  | { kind: 'batch'; buf: ArrayBuffer; stamps: ArrayBuffer }
  | { kind: 'lost'; dropped: number | null }
  | { kind: 'error'; message: string };

/** The reader's side of the channel to its owner: a worker's parentPort or a child's IPC. */
interface ReaderPort {
  post(m: WorkerReply, transfer?: ArrayBuffer[]): void;
  onStop(f: () => void): void;
  close(): void;
}

/**
 * The reader's batch: datagrams laid end to end in one buffer, with when each was read, as
 * (offset, ms) pairs, a pair only where the millisecond changes (the owner decodes later, after
 * the hop and after busy stretches of its own: a time taken there would give a whole burst one
 * timestamp). `emit` gets the batch and its pairs (a Float64Array's buffer) when it is full or
 * flushed. Runs from source text inside the reader (see readerSource): JS globals only.
 */
export function eventBatcher(
  size: number,
  room: number,
  now: () => number,
  emit: (buf: ArrayBuffer, stamps: ArrayBuffer) => void,
): {
  /** A datagram the binding delivered: copied in. */
  append: (datagram: Buffer) => void;
  /**
   * One read(2) straight into the batch, at least `room` bytes offered: returns what `read`
   * returned; a datagram is kept only when shorter than `room` (one that fills the read may be
   * cut). Errors from `read` propagate.
   */
  read: (read: (buf: Buffer, offset: number, max: number) => number) => number;
  flush: () => void;
} {
  let batch = Buffer.alloc(size);
  let used = 0;
  let stamps: number[] = [];
  let lastMs = -1;
  const stamp = (): void => {
    const ms = now();
    if (ms === lastMs) return;
    lastMs = ms;
    stamps.push(used, ms);
  };
  const flush = (): void => {
    if (used === 0) return;
    const out = new Uint8Array(used);
    out.set(batch.subarray(0, used));
    const times = Float64Array.from(stamps);
    used = 0;
    stamps = [];
    lastMs = -1;
    emit(out.buffer, times.buffer);
  };
  return {
    append: (datagram) => {
      if (used + datagram.length > batch.length) flush();
      if (datagram.length > batch.length) batch = Buffer.alloc(datagram.length);
      stamp();
      datagram.copy(batch, used);
      used += datagram.length;
    },
    read: (read) => {
      if (batch.length - used < room) flush();
      if (batch.length < room) batch = Buffer.alloc(room);
      const got = read(batch, used, room);
      if (got > 0 && got < room) {
        stamp();
        used += got;
      }
      return got;
    },
    flush,
  };
}

/** See the header. Runs from source text: only its parameters and JS globals. */
function readerMain(
  req: NodeJS.Require,
  data: WorkerData,
  socketRow: typeof netlinkSocketRow,
  socketFd: typeof findSocketFd,
  makeBatcher: typeof eventBatcher,
  port: ReaderPort,
): void {
  /** Larger than any notification datagram; read(2) would cut a longer one silently. */
  const ROOM = 64 * 1024;
  const BATCH = 256 * 1024;
  /** A drain pass that read at least this many datagrams means a burst: keep reading (see header). */
  const BURST_DATAGRAMS = 8;
  /** Sleeps in a row with little to read before going back to the event loop. */
  const QUIET_PASSES = 20;
  /** A pass that read this many goes on without sleeping: the kernel is producing fast. */
  const SPIN_DATAGRAMS = 64;

  const fs = req('node:fs') as typeof Fs;
  const { RawNetlinkSocket } = req(data.netlinkPath) as typeof Netlink;
  const control = new Int32Array(data.control);
  const post = (m: WorkerReply, transfer: ArrayBuffer[] = []): void => port.post(m, transfer);

  let sock: InstanceType<typeof RawNetlinkSocket>;
  try {
    sock = new RawNetlinkSocket(data.protocol, {
      messagePeeking: false,
      msgBufferSize: ROOM,
      recvBufferSize: data.recvBufferBytes,
      sendBufferSize: 4096, // never sends
    });
  } catch (e) {
    post({ kind: 'failed', code: null, message: e instanceof Error ? e.message : String(e) });
    return;
  }
  const portId = sock.address().port;
  for (const g of data.groups) {
    try {
      sock.addMembership(g);
    } catch (e) {
      sock.close();
      const err = e as NodeJS.ErrnoException;
      post({ kind: 'failed', code: err.code ?? null, message: err.message });
      return;
    }
  }
  const row = socketRow(fs, data.procDir, data.protocol, portId);
  const fd = row ? socketFd(fs, data.procDir, row.inode) : -1;
  let dropsSeen = row?.drops ?? 0;
  let closed = false;

  const batcher = makeBatcher(BATCH, ROOM, Date.now, (buf, stamps) =>
    post({ kind: 'batch', buf, stamps }, [buf, stamps]),
  );
  /** An ENOBUFS was seen in the current burst: recheck the drop counter at its end. */
  let lossSeen = false;
  const lost = (): void => {
    lossSeen = true;
    const r = socketRow(fs, data.procDir, data.protocol, portId);
    const dropped = r ? Math.max(0, r.drops - dropsSeen) : null;
    if (r) dropsSeen = r.drops;
    post({ kind: 'lost', dropped });
  };

  /** Reads until EAGAIN straight into the batch; returns how many datagrams it read. */
  const pass = (): number => {
    let n = 0;
    while (!closed && Atomics.load(control, 0) === 0) {
      let got: number;
      try {
        got = batcher.read((buf, offset, max) => fs.readSync(fd, buf, offset, max, null));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') break;
        if (code === 'ENOBUFS') {
          lost();
          continue; // what is still queued arrived before the overrun
        }
        post({ kind: 'error', message: (e as Error).message });
        break;
      }
      if (got <= 0) break;
      if (got >= ROOM) {
        // Never for a notification (a few KiB at most): a datagram that fills the read may be cut.
        post({ kind: 'error', message: `a ${got}-byte datagram filled the whole read; dropped` });
        continue;
      }
      n++;
    }
    return n;
  };

  const stop = (): void => {
    if (closed) return;
    closed = true;
    sock.close();
    port.close();
  };

  sock.on('message', (buf: Buffer) => {
    batcher.append(buf);
    if (fd < 0) {
      batcher.flush();
      return;
    }
    // The burst loop (see the header): a first pass that finds little goes straight back to the
    // event loop; one that finds much stays off it, reading again at once while passes find a
    // lot and after 1 ms otherwise, until QUIET_PASSES passes in a row found little.
    if (data.stallMs > 0) Atomics.wait(control, 1, 0, data.stallMs);
    let burst = false;
    let quiet = 0;
    for (;;) {
      const n = pass();
      batcher.flush();
      if (n >= BURST_DATAGRAMS) {
        burst = true;
        quiet = 0;
      } else if (!burst || ++quiet >= QUIET_PASSES) break;
      if (closed || Atomics.load(control, 0) !== 0) break;
      if (n < SPIN_DATAGRAMS) Atomics.wait(control, 1, 0, 1);
    }
    // Drops after the last ENOBUFS (the kernel drops silently while the socket stays congested,
    // until its queue was read empty) are reported here, once the burst is over.
    if (lossSeen) {
      lossSeen = false;
      const r = socketRow(fs, data.procDir, data.protocol, portId);
      if (r && r.drops > dropsSeen) {
        post({ kind: 'lost', dropped: r.drops - dropsSeen });
        dropsSeen = r.drops;
      }
    }
    if (Atomics.load(control, 0) !== 0) stop();
  });
  sock.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOBUFS') lost();
    else post({ kind: 'error', message: err.message });
  });
  port.onStop(stop);
  post({ kind: 'ready', portId, direct: fd >= 0 });
}

/** The owner's side: a worker thread or a child process running readerMain. */
interface ReaderHost {
  onMessage(f: (m: WorkerReply) => void): void;
  /** Called once when the host ends; `why` is null for an exit after stop(). */
  onEnd(f: (why: string | null) => void): void;
  stop(): void;
  pid: number | null;
}

/** A host's end, reported once: `why`, or null when it follows stop(). */
function endOnce(): {
  onEnd: (f: (why: string | null) => void) => void;
  stopping: () => void;
  end: (why: string) => void;
} {
  let stopped = false;
  let listener: ((why: string | null) => void) | null = null;
  return {
    onEnd: (f) => (listener = f),
    stopping: () => (stopped = true),
    end: (why) => {
      const f = listener;
      listener = null;
      f?.(stopped ? null : why);
    },
  };
}

const readerSource = (portExpr: string, dataExpr: string): string =>
  `(${readerMain.toString()})(require, ${dataExpr}, ${netlinkSocketRow.toString()}, ${findSocketFd.toString()}, ${eventBatcher.toString()}, ${portExpr})`;

function threadHost(data: WorkerData): ReaderHost {
  const worker = new Worker(
    readerSource(
      `{ post: (m, t) => require('node:worker_threads').parentPort.postMessage(m, t), onStop: (f) => require('node:worker_threads').parentPort.on('message', (m) => m === 'stop' && f()), close: () => require('node:worker_threads').parentPort.close() }`,
      `require('node:worker_threads').workerData`,
    ),
    {
      eval: true,
      workerData: data,
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
    },
  );
  const control = new Int32Array(data.control);
  const ending = endOnce();
  worker.on('error', (e) => ending.end(e.message));
  worker.on('exit', (code) => ending.end(`exited (${code})`));
  return {
    onMessage: (f) => worker.on('message', f),
    onEnd: ending.onEnd,
    stop: () => {
      ending.stopping();
      // The flag ends a burst loop; the message a worker idle in its event loop.
      Atomics.store(control, 0, 1);
      Atomics.notify(control, 1);
      worker.postMessage('stop');
      // A reader that failed to subscribe has no stop handler: end it regardless.
      setTimeout(() => void worker.terminate(), 200).unref();
    },
    pid: null,
  };
}

/**
 * The reader in a child process of the same runtime (ELECTRON_RUN_AS_NODE under Electron): the
 * binding's abort on an overflow seen by its poll (see the header) then ends that process only,
 * and the owner starts another. Data is passed in the environment; messages over IPC.
 */
function processHost(data: WorkerData): ReaderHost {
  const { control: _control, ...plain } = data;
  const child = spawn(
    process.execPath,
    [
      '-e',
      readerSource(
        // An owner that died without stop() (killed, crashed) closes the channel: end then too,
        // or the binding's poll would keep this process (and its namespace) alive.
        `{ post: (m) => process.send(m), onStop: (f) => { process.on('message', (m) => m === 'stop' && f()); process.on('disconnect', () => process.exit(0)); }, close: () => process.disconnect() }`,
        `{ ...JSON.parse(process.env.MPTCP_STUDIO_EVENT_READER), control: new SharedArrayBuffer(8) }`,
      ),
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
      // A process group of its own: a terminal's Ctrl-C (SIGINT to the foreground group) goes to
      // the owner, which stops the reader in its own time; the reader ending first would look like
      // a crash (restart, "events lost") in the middle of the owner's shutdown. It still ends
      // with its owner: the IPC channel closes (see above).
      detached: true,
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', MPTCP_STUDIO_EVENT_READER: JSON.stringify(plain) },
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const ending = endOnce();
  child.on('error', (e) => ending.end(e.message));
  // 'close', not 'exit': it waits for the IPC channel, so the reader's last batches come first.
  child.on('close', (code, signal) => {
    const tail = stderr.trim().split('\n').slice(-2).join(' ');
    ending.end(`exited (${signal ?? code})${tail ? `: ${tail}` : ''}`);
  });
  return {
    onMessage: (f) => child.on('message', (m: WorkerReply) => f(m)),
    onEnd: ending.onEnd,
    stop: () => {
      ending.stopping();
      if (child.connected) child.send('stop');
      // A reader inside a burst loop does not read its IPC: the signal ends it there too.
      setTimeout(() => child.kill('SIGTERM'), 200).unref();
    },
    get pid() {
      return child.pid ?? null;
    },
  };
}

/** A reader not subscribed by then is given up (open() rejects). */
const OPEN_TIMEOUT_MS = 10_000;
/** Restarts after an unexpected end, at most this many within RESTART_WINDOW_MS. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

/** Owner-side handle; see the header. */
export class NetlinkEventReader {
  private readonly listeners = new Set<StampedMessageVisitor>();
  private readonly lostListeners = new Set<(l: EventsLost) => void>();
  private closed = false;
  private host: ReaderHost | null = null;
  private restarts: number[] = [];
  /** Replies held until a listener is attached (see onNotification, onLost). */
  private readonly heldBatches: { buf: Buffer; stamps: Float64Array }[] = [];
  private readonly heldLost: EventsLost[] = [];
  /**
   * Datagram batches received; whether the reader reads with read(2) (else the binding's path);
   * its port id, and its process id when it runs in a process of its own; restarts so far.
   */
  readonly stats = { batches: 0, direct: false, portId: 0, pid: null as number | null, restarts: 0 };

  private constructor(
    private readonly data: WorkerData,
    private readonly isolation: 'process' | 'thread',
  ) {}

  /**
   * Opens the socket and joins `groups` in the reader; resolves once it is subscribed. Rejects
   * with an ApiFailure (EPERM when a group needs CAP_NET_ADMIN, as mptcp_pm_events does).
   */
  static async open(
    protocol: number,
    groups: readonly number[],
    opts: EventReaderOptions = {},
  ): Promise<NetlinkEventReader> {
    const reader = new NetlinkEventReader(
      {
        netlinkPath: createRequire(import.meta.url).resolve('netlink'),
        protocol,
        groups: [...groups],
        recvBufferBytes: opts.recvBufferBytes ?? 4 * 1024 * 1024,
        procDir: opts.procDir ?? '/proc/thread-self',
        control: new SharedArrayBuffer(8),
        stallMs: opts.stallMsForTests ?? 0,
      },
      // Under Electron the runtime runs as Node only with its RunAsNode fuse on; a packaged app
      // may have it off, so readers are threads there.
      opts.isolation ?? (process.versions.electron ? 'thread' : 'process'),
    );
    await reader.start();
    return reader;
  }

  /** Starts a host; resolves once its socket is subscribed, rejects if it could not be. */
  private start(): Promise<void> {
    const host =
      this.isolation === 'process'
        ? processHost(this.data)
        : threadHost({ ...this.data, control: new SharedArrayBuffer(8) });
    this.host = host;
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        host.stop();
        reject(new Error(`netlink events reader: not subscribed after ${OPEN_TIMEOUT_MS} ms`));
      }, OPEN_TIMEOUT_MS);
      host.onMessage((m) => {
        if (m.kind === 'ready') {
          clearTimeout(timer);
          this.stats.direct = m.direct;
          this.stats.portId = m.portId;
          this.stats.pid = host.pid;
          settled = true;
          resolve();
        } else if (m.kind === 'failed') {
          clearTimeout(timer);
          settled = true;
          host.stop();
          const code = m.code === 'EPERM' ? 'EPERM' : 'INTERNAL';
          reject(new ApiFailure(code, `netlink events socket: ${m.message}`, m.code ?? undefined));
        } else this.onReply(m); // a dead reader's last batches too: they are events all the same
      });
      host.onEnd((why) => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          reject(new Error(`netlink events reader ${why ?? 'stopped'}`));
        } else if (why !== null && host === this.host && !this.closed) this.restart(why);
      });
    });
  }

  /** The reader ended on its own: what it had not read is lost; start another (bounded). */
  private restart(why: string): void {
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    if (this.restarts.length >= MAX_RESTARTS) {
      this.report(`the events reader ${why}; ${MAX_RESTARTS} restarts within a minute, giving up`);
      return;
    }
    this.restarts.push(now);
    this.stats.restarts++;
    // Said once the new reader is subscribed: a listener that resyncs from the kernel on this
    // (the path manager) then misses nothing in between.
    this.start()
      .then(() =>
        this.report(`the events reader ${why}; events it had not read, and any since, are lost; restarted`),
      )
      .catch((e: unknown) => {
        this.report(`the events reader ${why}; restarting it failed: ${String(e)}`);
        if (!this.closed) this.restart(`failed to restart (${String(e)})`);
      });
  }

  /**
   * Every message of every datagram but ERROR/DONE, with a buffer of its own (may be kept), and
   * the time (Date.now()) the reader read its datagram. Batches that arrived before the first
   * listener (right after open) are delivered to it now.
   */
  onNotification(visit: StampedMessageVisitor): () => void {
    this.listeners.add(visit);
    for (const b of this.heldBatches.splice(0)) this.deliver(b.buf, b.stamps);
    return () => this.listeners.delete(visit);
  }

  /**
   * The kernel dropped notifications (ENOBUFS), or the reader failed (dropped null, message).
   * What happened before the first such listener is told to it now.
   */
  onLost(listener: (l: EventsLost) => void): () => void {
    this.lostListeners.add(listener);
    for (const l of this.heldLost.splice(0)) listener(l);
    return () => this.lostListeners.delete(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.host?.stop();
  }

  private onReply(m: WorkerReply): void {
    if (this.closed) return;
    if (m.kind === 'batch') {
      this.stats.batches++;
      const b = Buffer.from(m.buf);
      const stamps = new Float64Array(m.stamps);
      // IPC messages are emitted on later ticks: some can come before open()'s caller attached.
      if (this.listeners.size === 0) this.heldBatches.push({ buf: b, stamps });
      else this.deliver(b, stamps);
    } else if (m.kind === 'lost') this.tellLost({ dropped: m.dropped });
    else if (m.kind === 'error') this.report(m.message);
  }

  private report(message: string): void {
    this.tellLost({ dropped: null, message });
  }

  private tellLost(l: EventsLost): void {
    if (this.lostListeners.size === 0) this.heldLost.push(l);
    for (const f of this.lostListeners) f(l);
  }

  private deliver(buf: Buffer, stamps: Float64Array): void {
    forEachNotification(buf, stamps, (b, type, off, len, atMs) => {
      for (const l of this.listeners) {
        try {
          l(b, type, off, len, atMs);
        } catch (e) {
          process.stderr.write(`netlink events: a listener threw (ignored): ${String(e)}\n`);
        }
      }
    });
  }
}

/** A notification and when the reader read it (ms since the epoch). */
export type StampedMessageVisitor = (
  buf: Buffer,
  type: number,
  offset: number,
  len: number,
  receivedAtMs: number,
) => void;

/**
 * Walks a forwarded batch: every message but ERROR/DONE/NOOP, with its datagram's read time.
 * `stamps` holds (byte offset, ms) pairs in offset order; a message takes the last pair at or
 * before its offset (the reader writes a pair only when the millisecond changes). A batch without
 * pairs (cannot happen from readerMain) gets the time of the call.
 */
export function forEachNotification(buf: Buffer, stamps: Float64Array, visit: StampedMessageVisitor): void {
  let pair = 0;
  let atMs = stamps.length >= 2 ? (stamps[1] ?? Date.now()) : Date.now();
  for (let off = 0; off + 16 <= buf.length;) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > buf.length) return;
    while (pair + 2 < stamps.length && (stamps[pair + 2] ?? Infinity) <= off) {
      pair += 2;
      atMs = stamps[pair + 1] ?? atMs;
    }
    const type = buf.readUInt16LE(off + 4);
    if (type !== 2 /* NLMSG_ERROR */ && type !== 3 /* NLMSG_DONE */ && type !== 1 /* NOOP */)
      visit(buf, type, off + 16, len - 16, atMs);
    off += (len + 3) & ~3;
  }
}
