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
 *
 * The reader is a module of its own, event-reader-worker.ts, bundled as a separate entry
 * (worker-entry.ts finds it); what the two sides exchange is typed in event-batch.ts.
 */
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { ApiFailure } from '../../../shared/result';
import {
  forEachNotification,
  READER_ENV,
  STOP,
  type ReaderData,
  type ReaderReply,
  type StampedMessageVisitor,
} from './event-batch';
import { workerEntry } from './worker-entry';

export type { StampedMessageVisitor } from './event-batch';

/** The reader's entry (event-reader-worker.ts) as bundled. */
const READER_ENTRY = 'event-reader-worker';

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

/** The owner's side: a worker thread or a child process running event-reader-worker.ts. */
interface ReaderHost {
  onMessage(f: (m: ReaderReply) => void): void;
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

function threadHost(entry: string, data: ReaderData): ReaderHost {
  const worker = new Worker(entry, {
    workerData: data,
    resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
  });
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
      worker.postMessage(STOP);
      // A reader that failed to subscribe has no stop handler: end it regardless.
      setTimeout(() => void worker.terminate(), 200).unref();
    },
    pid: null,
  };
}

/**
 * The reader in a child process of the same runtime (ELECTRON_RUN_AS_NODE under Electron): the
 * binding's abort on an overflow seen by its poll (see the header) then ends that process only,
 * and the owner starts another. Data is passed in the environment (READER_ENV); messages over
 * IPC. An owner that dies without stop() closes the channel, and the reader ends then too.
 */
function processHost(entry: string, data: ReaderData): ReaderHost {
  const { control: _control, ...plain } = data;
  const child = spawn(process.execPath, [entry], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'advanced',
    // A process group of its own: a terminal's Ctrl-C (SIGINT to the foreground group) goes to
    // the owner, which stops the reader in its own time; the reader ending first would look like
    // a crash (restart, "events lost") in the middle of the owner's shutdown. It still ends
    // with its owner: the IPC channel closes (see above).
    detached: true,
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', [READER_ENV]: JSON.stringify(plain) },
  });
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
    onMessage: (f) => child.on('message', (m: ReaderReply) => f(m)),
    onEnd: ending.onEnd,
    stop: () => {
      ending.stopping();
      if (child.connected) child.send(STOP);
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
    private readonly entry: string,
    private readonly data: ReaderData,
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
      workerEntry(READER_ENTRY),
      {
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
        ? processHost(this.entry, this.data)
        : threadHost(this.entry, { ...this.data, control: new SharedArrayBuffer(8) });
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

  private onReply(m: ReaderReply): void {
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
