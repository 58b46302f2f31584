/**
 * A thin, fast netlink layer over the `netlink` package's RawNetlinkSocket.
 *
 * We frame and parse messages ourselves instead of using NetlinkSocket: it builds a JS object per
 * message, which dominates the cost of a 20,000-subflow sock_diag dump. Here a dump hands the
 * caller (buffer, offset, length) views into the received datagram and allocates nothing per
 * message.
 *
 * Wire format (uapi: linux/netlink.h, constants in ../uapi/netlink.ts): struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq;
 * u32 pid; } followed by the payload, every message padded to 4 bytes.
 */
import { constants as osConstants } from 'node:os';
import { RawNetlinkSocket } from 'netlink';
import { ApiFailure, ErrorCodeSchema, type ErrorCode } from '../../../shared/result';

import {
  NLA_F_NESTED,
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
} from '../uapi/netlink';

/**
 * The control types diag/ reads from here, until it imports ../uapi/netlink itself (the constants
 * are defined there, once).
 */
export { NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP, NLMSG_OVERRUN };

export const align4 = (n: number): number => (n + 3) & ~3;

/** Called for each message of a dump: payload is buf[offset, offset+len). */
export type MessageVisitor = (buf: Buffer, type: number, offset: number, len: number) => void;

const errnoNames: Map<number, string> = new Map(
  Object.entries(osConstants.errno).map(([name, num]) => [num, name]),
);

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/** Errnos the contract names as codes (shared/result.ts); others are reported as KERNEL. */
const knownCodes = new Set<string>(ErrorCodeSchema.options.filter((c) => c.startsWith('E')));

/** A kernel refusal: the errno name is the code the user sees (EPERM, EINVAL, ...). */
export class NetlinkError extends ApiFailure {
  constructor(
    readonly errnoNumber: number,
    what: string,
  ) {
    const name = errnoName(errnoNumber);
    const code: ErrorCode = knownCodes.has(name) ? (name as ErrorCode) : 'KERNEL';
    super(code, `${what}: the kernel answered ${name}`, name);
    this.name = 'NetlinkError';
  }
}

/**
 * The errno an NLMSG_ERROR carries in its payload buf[off, off+len): struct nlmsgerr (uapi:
 * linux/netlink.h) starts with `int error`, 0 for an ACK, else a negated errno. Null when the
 * payload is too short to hold it (malformedNlmsgerr says so).
 */
export function nlmsgerrErrno(buf: Buffer, off: number, len: number): number | null {
  return len >= 4 && off >= 0 && off + 4 <= buf.length ? -buf.readInt32LE(off) : null;
}

/** The failure of a request answered by an NLMSG_ERROR too short for struct nlmsgerr. */
export function malformedNlmsgerr(what: string, len: number): ApiFailure {
  return new ApiFailure(
    'KERNEL',
    `${what}: malformed reply: an NLMSG_ERROR with ${len} payload bytes, too few for struct nlmsgerr's error field (linux/netlink.h)`,
  );
}

/** The failure of a request whose replies the kernel dropped (NLMSG_OVERRUN, linux/netlink.h). */
export function netlinkOverrun(what: string): ApiFailure {
  return new ApiFailure('KERNEL', `${what}: netlink overrun`);
}

/**
 * Iterate the TLV attributes in buf[start, end). Types are masked with NLA_TYPE_MASK (NLA_F_NESTED
 * and NLA_F_NET_BYTEORDER off).
 */
export function forEachAttr(
  buf: Buffer,
  start: number,
  end: number,
  visit: (type: number, offset: number, len: number) => void,
): void {
  let off = start;
  while (off + NLA_HDRLEN <= end) {
    const len = buf.readUInt16LE(off);
    if (len < NLA_HDRLEN || off + len > end) return; // truncated: stop, never read past the end
    visit(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, off + NLA_HDRLEN, len - NLA_HDRLEN);
    off += align4(len);
  }
}

/** Attributes as a map type → payload view. Convenient where a message is small and rare. */
export function attrMap(buf: Buffer, start: number, end: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  forEachAttr(buf, start, end, (type, off, len) => out.set(type, buf.subarray(off, off + len)));
  return out;
}

// --- attribute builders ------------------------------------------------------------------------

export function nla(type: number, payload: Buffer): Buffer {
  const len = NLA_HDRLEN + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, NLA_HDRLEN);
  return out;
}

export const nlaU8 = (type: number, v: number): Buffer => nla(type, Buffer.from([v & 0xff]));
export function nlaU16(type: number, v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return nla(type, b);
}
export function nlaU32(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return nla(type, b);
}
export function nlaS32(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return nla(type, b);
}
export const nlaStr = (type: number, s: string): Buffer => nla(type, Buffer.from(`${s}\0`, 'utf8'));
export const nlaNested = (type: number, parts: Buffer[]): Buffer =>
  nla(type | NLA_F_NESTED, Buffer.concat(parts));

export function readCString(buf: Buffer, off: number, len: number): string {
  const nul = buf.indexOf(0, off);
  const end = nul >= 0 && nul < off + len ? nul : off + len;
  return buf.toString('utf8', off, end);
}

// --- the socket --------------------------------------------------------------------------------

interface Pending {
  what: string;
  dump: boolean;
  visit: MessageVisitor | null;
  replies: Buffer[];
  /** A non-dump GET (sock_diag lookup by token) ends with its single reply, no ACK follows. */
  firstReplyEnds: boolean;
  resolve: (replies: Buffer[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
  /** What the visitor threw, reported when the request ends. */
  failure?: Error;
}

export interface NlSocketOptions {
  /** Receive buffer (SO_RCVBUF); capped by net.core.rmem_max. */
  recvBufferBytes?: number;
  /** Per-read buffer; 32 KiB without peeking measured 1.5x faster than the package default. */
  msgBufferBytes?: number;
  /** Request timeout. Netlink is local; a reply that takes this long means something is wrong. */
  timeoutMs?: number;
  /**
   * A notification listener or a dump visitor threw. Default: printed to stderr. The exception is
   * never let through (see the class comment); a throwing visitor fails its own request only.
   */
  onListenerError?: (err: unknown, where: string) => void;
  /**
   * Requests in flight at most; more wait for a slot. The kernel queues every reply (an ACK of a
   * few hundred bytes of truesize at least) on our receive buffer before we read: thousands sent
   * at once (a SUBFLOW_CREATE burst) overflow it, and a reply lost to ENOBUFS fails them all.
   */
  maxInFlight?: number;
}

/**
 * A socket-level error the binding reported (recvmsg failed, e.g. ENOBUFS: the receive buffer
 * overflowed and the kernel dropped messages). Pending requests have been failed already; a
 * subscriber to multicast groups learns here that it missed notifications and must resync.
 */
export type SocketErrorListener = (err: Error & { errno?: number; code?: string }) => void;

function defaultListenerError(err: unknown, where: string): void {
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`netlink: ${where} threw (ignored): ${text}\n`);
}

/**
 * Every entry from the binding into JS (message, error, truncatedMessage, send completion) is a
 * MakeCallback from its libuv poll or timer handler, built with C++ exceptions: a JS exception
 * thrown there becomes a Napi::Error nothing catches, and the process dies in std::terminate
 * ("Error in native callback"). So nothing thrown by our listeners or visitors may escape those
 * entry points, and the binding's methods, which throw once the socket is closed, are only called
 * on an open socket.
 */
export class NlSocket {
  private readonly sock: RawNetlinkSocket;
  private readonly pending = new Map<number, Pending>();
  private readonly notificationListeners = new Set<MessageVisitor>();
  private readonly errorListeners = new Set<SocketErrorListener>();
  /** Requests waiting for one of the maxInFlight slots. */
  private readonly held: { go: () => void; reject: (err: Error) => void }[] = [];
  private readonly maxInFlight: number;
  private readonly onListenerError: (err: unknown, where: string) => void;
  private seq = 1;
  private dumpQueue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly timeoutMs: number;
  /**
   * Our netlink port id, read once: the socket is bound in RawNetlinkSocket's constructor and never
   * rebinds, and address() is a getsockname() syscall that cost ~half of a 30,000-message dump
   * when it was called per message in onDatagram.
   */
  private readonly localPort: number;

  constructor(
    readonly protocol: number,
    opts: NlSocketOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.onListenerError = opts.onListenerError ?? defaultListenerError;
    this.maxInFlight = opts.maxInFlight ?? 256;
    this.sock = new RawNetlinkSocket(protocol, {
      messagePeeking: false,
      msgBufferSize: opts.msgBufferBytes ?? 32 * 1024,
      recvBufferSize: opts.recvBufferBytes ?? 1024 * 1024,
      sendBufferSize: 64 * 1024,
    });
    this.localPort = this.sock.address().port;
    this.sock.on('message', (buf) => this.guarded('datagram handling', () => this.onDatagram(buf)));
    this.sock.on('truncatedMessage', () =>
      this.guarded('truncated datagram handling', () =>
        this.failAll(new Error('netlink: truncated datagram')),
      ),
    );
    this.sock.on('error', (err) => this.guarded('error handling', () => this.onSocketError(err)));
    this.sock.unref();
  }

  /** Run fn; whatever it throws is reported, never returned to the native caller. */
  private guarded(where: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.report(e, where);
    }
  }

  private report(err: unknown, where: string): void {
    try {
      this.onListenerError(err, where);
    } catch {
      // the reporter itself failed: nothing left to tell
    }
  }

  private onSocketError(err: Error): void {
    this.failAll(err);
    for (const l of this.errorListeners) this.guarded('a socket error listener', () => l(err));
  }

  /** Socket-level errors (recvmsg: ENOBUFS, ...), after pending requests have been failed. */
  onError(listener: SocketErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // The binding's ref/unref throw "Netlink socket is closed" after close: a late timer or a
  // settle() during close must not throw.
  private ref(): void {
    if (!this.closed) this.sock.ref();
  }

  private unref(): void {
    if (!this.closed) this.sock.unref();
  }

  get portId(): number {
    return this.localPort;
  }

  addMembership(group: number): void {
    if (this.closed) throw new Error('netlink socket closed');
    this.sock.addMembership(group);
    this.ref(); // a listener keeps the process alive
  }

  /** Messages that are not replies to our requests (multicast events). */
  onNotification(visit: MessageVisitor): () => void {
    this.notificationListeners.add(visit);
    return () => this.notificationListeners.delete(visit);
  }

  /** A do-request with NLM_F_ACK: resolves with the reply payloads once the ACK arrives. */
  request(type: number, payload: Buffer, what: string, extraFlags = 0): Promise<Buffer[]> {
    return this.send(type, NLM_F_REQUEST | NLM_F_ACK | extraFlags, payload, what, false, null);
  }

  /** A dump; with a visitor, messages are streamed to it and not kept. */
  dump(type: number, payload: Buffer, what: string, visit: MessageVisitor | null = null): Promise<Buffer[]> {
    // The kernel runs one dump per socket at a time and answers EBUSY to a second one
    // (netlink_dump_start), so concurrent callers (the overview and an export, say) queue here.
    const run = (): Promise<Buffer[]> =>
      this.send(type, NLM_F_REQUEST | NLM_F_DUMP, payload, what, true, visit);
    const result = this.dumpQueue.then(run, run);
    this.dumpQueue = result.catch(() => undefined);
    return result;
  }

  /** A request without NLM_F_DUMP whose reply is data, ended by the reply itself or an error. */
  get(type: number, payload: Buffer, what: string): Promise<Buffer[]> {
    return this.send(type, NLM_F_REQUEST, payload, what, false, null, true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('netlink socket closed'));
    this.sock.close();
  }

  private send(
    type: number,
    flags: number,
    payload: Buffer,
    what: string,
    dump: boolean,
    visit: MessageVisitor | null,
    firstReplyEnds = false,
  ): Promise<Buffer[]> {
    if (this.closed) return Promise.reject(new Error('netlink socket closed'));
    return new Promise<Buffer[]>((resolve, reject) => {
      const go = (): void =>
        this.transmit(type, flags, payload, what, dump, visit, firstReplyEnds, resolve, reject);
      if (this.pending.size < this.maxInFlight) go();
      else this.held.push({ go, reject });
    });
  }

  private transmit(
    type: number,
    flags: number,
    payload: Buffer,
    what: string,
    dump: boolean,
    visit: MessageVisitor | null,
    firstReplyEnds: boolean,
    resolve: (replies: Buffer[]) => void,
    reject: (err: Error) => void,
  ): void {
    const seq = this.seq;
    this.seq = (this.seq % 0x7fffffff) + 1;
    const hdr = Buffer.alloc(NLMSG_HDRLEN);
    hdr.writeUInt32LE(NLMSG_HDRLEN + payload.length, 0);
    hdr.writeUInt16LE(type, 4);
    hdr.writeUInt16LE(flags, 6);
    hdr.writeUInt32LE(seq, 8);
    hdr.writeUInt32LE(this.portId, 12);
    const p: Pending = { what, dump, visit, replies: [], firstReplyEnds, resolve, reject, timer: null };
    p.timer = setTimeout(() => {
      this.settle(
        seq,
        new ApiFailure('TIMEOUT', `${what}: no answer from the kernel in ${this.timeoutMs} ms`),
      );
    }, this.timeoutMs);
    this.pending.set(seq, p);
    this.ref();
    try {
      // The completion runs from the binding's timer or poll handler: guarded like a message.
      this.sock.send([hdr, payload], { port: 0 }, (err) => {
        if (err) this.guarded('send completion', () => this.settle(seq, err));
      });
    } catch (e) {
      this.settle(seq, e instanceof Error ? e : new Error(String(e)));
    }
  }

  private settle(seq: number, err: Error | null): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    if (p.timer) clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(p.replies);
    // A slot is free: the next held request goes out (not after close: failAll rejects them).
    if (!this.closed) {
      const next = this.held.shift();
      if (next) next.go();
    }
    if (this.pending.size === 0 && this.notificationListeners.size === 0) this.unref();
  }

  private failAll(err: Error): void {
    if (this.closed) for (const h of this.held.splice(0)) h.reject(err);
    for (const seq of [...this.pending.keys()]) this.settle(seq, err);
  }

  private onDatagram(buf: Buffer): void {
    let off = 0;
    while (off + NLMSG_HDRLEN <= buf.length) {
      const len = buf.readUInt32LE(off);
      if (len < NLMSG_HDRLEN || off + len > buf.length) return;
      const type = buf.readUInt16LE(off + 4);
      const seq = buf.readUInt32LE(off + 8);
      const pid = buf.readUInt32LE(off + 12);
      const bodyOff = off + NLMSG_HDRLEN;
      const bodyLen = len - NLMSG_HDRLEN;
      const p = pid === this.portId && seq !== 0 ? this.pending.get(seq) : undefined;
      if (!p) {
        // Multicast notifications have pid 0; a stray trailing ACK of a finished request is dropped.
        if (type !== NLMSG_ERROR && type !== NLMSG_DONE) {
          for (const l of this.notificationListeners) {
            try {
              l(buf, type, bodyOff, bodyLen);
            } catch (e) {
              this.report(e, 'a notification listener');
            }
          }
        }
      } else if (type === NLMSG_ERROR) {
        const errno = nlmsgerrErrno(buf, bodyOff, bodyLen);
        this.settle(
          seq,
          p.failure ??
            (errno === null
              ? malformedNlmsgerr(p.what, bodyLen)
              : errno === 0
                ? null
                : new NetlinkError(errno, p.what)),
        );
      } else if (type === NLMSG_DONE) {
        // A dump may end with a negative error in DONE's payload (e.g. EINTR when it changed mid-dump).
        const errno = bodyLen >= 4 ? -buf.readInt32LE(bodyOff) : 0;
        this.settle(seq, p.failure ?? (errno > 0 ? new NetlinkError(errno, p.what) : null));
      } else if (type === NLMSG_OVERRUN) {
        this.settle(seq, netlinkOverrun(p.what));
      } else if (type !== NLMSG_NOOP) {
        if (p.failure) {
          // its visitor threw: the rest is skipped; the request fails at DONE, once the kernel has
          // finished the dump (another dump before that would get EBUSY)
        } else if (p.visit) {
          try {
            p.visit(buf, type, bodyOff, bodyLen);
          } catch (e) {
            p.failure = e instanceof Error ? e : new Error(`${p.what}: ${String(e)}`);
          }
        } else p.replies.push(buf.subarray(bodyOff, bodyOff + bodyLen));
        if (p.firstReplyEnds) this.settle(seq, null);
      }
      off += align4(len);
    }
  }
}
