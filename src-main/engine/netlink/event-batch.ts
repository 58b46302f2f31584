/**
 * What the events reader (event-reader-worker.ts) and its owner (event-reader.ts) share: the data
 * a reader starts with, the messages it sends back, and the batch format of those messages —
 * datagrams laid end to end with (offset, read time) pairs — written by eventBatcher in the reader
 * and walked by forEachNotification in the owner.
 */
import { NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP } from '../uapi/netlink';

/** What a reader starts with: workerData for a thread; for a process, READER_ENV (JSON). */
export interface ReaderData {
  protocol: number;
  groups: number[];
  recvBufferBytes: number;
  /** Where netlink/fd.ts looks (/proc/thread-self outside tests). */
  procDir: string;
  /** Int32Array cells: [0] stop flag, [1] the burst loop's sleep cell. */
  control: SharedArrayBuffer;
  /** Tests only: EventReaderOptions.stallMsForTests. */
  stallMs: number;
}

/** The environment variable that carries a reader process's ReaderData (without `control`). */
export const READER_ENV = 'MPTCP_STUDIO_EVENT_READER';

/** Reader → owner. */
export type ReaderReply =
  | { kind: 'ready'; portId: number; direct: boolean }
  | { kind: 'failed'; code: string | null; message: string }
  /** `stamps`: Float64Array pairs (byte offset, Date.now() at read) — see forEachNotification. */
  | { kind: 'batch'; buf: ArrayBuffer; stamps: ArrayBuffer }
  | { kind: 'lost'; dropped: number | null }
  | { kind: 'error'; message: string };

/** Owner → reader: the only message. */
export const STOP = 'stop';

/**
 * The reader's batch: datagrams laid end to end in one buffer, with when each was read, as
 * (offset, ms) pairs, a pair only where the millisecond changes (the owner decodes later, after
 * the hop and after busy stretches of its own: a time taken there would give a whole burst one
 * timestamp). `emit` gets the batch and its pairs (a Float64Array's buffer) when it is full or
 * flushed. Runs inside the reader (event-reader-worker.ts).
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
 * pairs (cannot happen from the reader) gets the time of the call.
 */
export function forEachNotification(buf: Buffer, stamps: Float64Array, visit: StampedMessageVisitor): void {
  let pair = 0;
  let atMs = stamps.length >= 2 ? (stamps[1] ?? Date.now()) : Date.now();
  for (let off = 0; off + NLMSG_HDRLEN <= buf.length;) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) return;
    while (pair + 2 < stamps.length && (stamps[pair + 2] ?? Infinity) <= off) {
      pair += 2;
      atMs = stamps[pair + 1] ?? atMs;
    }
    const type = buf.readUInt16LE(off + 4);
    if (type !== NLMSG_ERROR && type !== NLMSG_DONE && type !== NLMSG_NOOP)
      visit(buf, type, off + NLMSG_HDRLEN, len - NLMSG_HDRLEN, atMs);
    off += (len + 3) & ~3;
  }
}
