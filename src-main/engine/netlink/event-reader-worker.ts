/**
 * The events reader's own program: a bundled entry of its own (scripts/build-node.mjs builds
 * out/node/event-reader-worker.mjs, electron.vite.config.ts out/main/event-reader-worker.js; see
 * worker-entry.ts), started by event-reader.ts as a worker thread or as a child process of the
 * same runtime. Why a reader of its own, and why the burst loop: event-reader.ts.
 *
 * It opens its own netlink socket with the `netlink` binding, joins the groups, reads with
 * read(2) on the socket's fd (fd.ts) straight into batches (event-batch.ts) and posts them to
 * its owner; the owner decodes.
 */
import * as fs from 'node:fs';
import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { RawNetlinkSocket } from 'netlink';
import { eventBatcher, READER_ENV, STOP, type ReaderData, type ReaderReply } from './event-batch';
import { findSocketFd, netlinkSocketRow } from './fd';

/** The reader's side of the channel to its owner: a worker's parentPort or a child's IPC. */
export interface ReaderPort {
  post(m: ReaderReply, transfer?: ArrayBuffer[]): void;
  onStop(f: () => void): void;
  close(): void;
}

/** Larger than any notification datagram; read(2) would cut a longer one silently. */
const ROOM = 64 * 1024;
const BATCH = 256 * 1024;
/** A drain pass that read at least this many datagrams means a burst: keep reading (event-reader.ts). */
const BURST_DATAGRAMS = 8;
/** Sleeps in a row with little to read before going back to the event loop. */
const QUIET_PASSES = 20;
/** A pass that read this many goes on without sleeping: the kernel is producing fast. */
const SPIN_DATAGRAMS = 64;

/** Opens the socket, joins `data.groups` and reads until stopped (see the header). */
export function runReader(data: ReaderData, port: ReaderPort): void {
  const control = new Int32Array(data.control);
  const post = (m: ReaderReply, transfer: ArrayBuffer[] = []): void => port.post(m, transfer);

  let sock: RawNetlinkSocket;
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
  const row = netlinkSocketRow(fs, data.procDir, data.protocol, portId);
  const fd = row ? findSocketFd(fs, data.procDir, row.inode) : -1;
  let dropsSeen = row?.drops ?? 0;
  let closed = false;

  const batcher = eventBatcher(BATCH, ROOM, Date.now, (buf, stamps) =>
    post({ kind: 'batch', buf, stamps }, [buf, stamps]),
  );
  /** An ENOBUFS was seen in the current burst: recheck the drop counter at its end. */
  let lossSeen = false;
  const lost = (): void => {
    lossSeen = true;
    const r = netlinkSocketRow(fs, data.procDir, data.protocol, portId);
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
    // The burst loop (event-reader.ts): a first pass that finds little goes straight back to the
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
      const r = netlinkSocketRow(fs, data.procDir, data.protocol, portId);
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

/** A worker thread's channel: its parentPort; batches are transferred, not copied. */
function threadPort(parent: MessagePort): ReaderPort {
  return {
    post: (m, transfer) => parent.postMessage(m, transfer),
    onStop: (f) => parent.on('message', (m) => m === STOP && f()),
    close: () => parent.close(),
  };
}

/** A child process's channel: its IPC (advanced serialization, so ArrayBuffers cross). */
function processPort(): ReaderPort {
  return {
    post: (m) => void process.send?.(m),
    onStop: (f) => {
      process.on('message', (m) => m === STOP && f());
      // An owner that died without stop() (killed, crashed) closes the channel: end then too, or
      // the binding's poll would keep this process (and its namespace) alive.
      process.on('disconnect', () => process.exit(0));
    },
    close: () => process.disconnect(),
  };
}

if (!isMainThread && parentPort) {
  runReader(workerData as ReaderData, threadPort(parentPort));
} else if (process.send) {
  const plain = JSON.parse(process.env[READER_ENV] ?? '{}') as Omit<ReaderData, 'control'>;
  runReader({ ...plain, control: new SharedArrayBuffer(8) }, processPort());
}
