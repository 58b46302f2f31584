/**
 * NlSocket's guards, without the kernel: a real socket (creating one needs no privilege) fed
 * datagrams through its private onDatagram, which the binding's 'message' callback calls.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NETLINK_ROUTE, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN } from '../uapi/netlink';
import { NlSocket, type MessageVisitor } from './core';

interface Internals {
  onDatagram(buf: Buffer): void;
  sock: { emit(event: string, ...args: unknown[]): boolean };
  pending: Map<number, unknown>;
}
const internals = (s: NlSocket): Internals => s as unknown as Internals;

function msg(type: number, seq: number, pid: number, body = Buffer.alloc(4)): Buffer {
  const hdr = Buffer.alloc(NLMSG_HDRLEN);
  hdr.writeUInt32LE(NLMSG_HDRLEN + body.length, 0);
  hdr.writeUInt16LE(type, 4);
  hdr.writeUInt32LE(seq, 8);
  hdr.writeUInt32LE(pid, 12);
  return Buffer.concat([hdr, body]);
}

describe('NlSocket never lets an exception reach the native callback', () => {
  const open: NlSocket[] = [];
  const socket = (onListenerError?: (err: unknown, where: string) => void): NlSocket => {
    const s = new NlSocket(NETLINK_ROUTE, onListenerError ? { onListenerError } : {});
    open.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  it('a throwing notification listener is reported; later listeners and later messages still run', () => {
    const errors: { err: unknown; where: string }[] = [];
    const s = socket((err, where) => errors.push({ err, where }));
    const seen: number[] = [];
    s.onNotification(() => {
      throw new TypeError('decoder bug');
    });
    s.onNotification((_b, type) => seen.push(type));
    // Two notifications in one datagram: the second one must not be lost to the first's throw.
    const dgram = Buffer.concat([msg(20, 0, 0), msg(21, 0, 0)]);
    expect(() => internals(s).onDatagram(dgram)).not.toThrow();
    expect(seen).toEqual([20, 21]);
    expect(errors.map((e) => e.where)).toEqual(['a notification listener', 'a notification listener']);
    expect(errors[0]?.err).toBeInstanceOf(TypeError);
  });

  it('the binding-facing handlers swallow a throwing reporter too', () => {
    const s = socket(() => {
      throw new Error('reporter bug');
    });
    s.onNotification(() => {
      throw new Error('listener bug');
    });
    // Through the EventEmitter the binding's _receive uses.
    expect(() => internals(s).sock.emit('message', msg(20, 0, 0), {})).not.toThrow();
  });

  it('a throwing socket-error listener does not escape the binding error callback', () => {
    const errors: string[] = [];
    const s = socket((_e, where) => errors.push(where));
    const got: string[] = [];
    s.onError(() => {
      throw new Error('error listener bug');
    });
    s.onError((e) => got.push(e.message));
    const err = Object.assign(new Error('Error when receiving Netlink message: No buffer space available'), {
      code: 'ENOBUFS',
      errno: -105,
    });
    expect(() => internals(s).sock.emit('error', err)).not.toThrow();
    expect(got).toEqual([err.message]);
    expect(errors).toEqual(['a socket error listener']);
  });

  it('a socket error fails the pending requests of that socket with it', async () => {
    const s = socket();
    // A request the kernel answers only after our fake error: it is rejected with the error.
    const p = s.request(0x12, Buffer.alloc(16), 'get link');
    const err = Object.assign(new Error('Error when receiving Netlink message: No buffer space available'), {
      code: 'ENOBUFS',
    });
    internals(s).sock.emit('error', err);
    await expect(p).rejects.toBe(err);
    expect(internals(s).pending.size).toBe(0);
  });

  it('a throwing dump visitor rejects its dump at DONE; its remaining messages are skipped', async () => {
    const errors: unknown[] = [];
    const s = socket((e) => errors.push(e));
    const notes: number[] = [];
    s.onNotification((_b, type) => notes.push(type));
    let calls = 0;
    const visit: MessageVisitor = () => {
      calls++;
      throw new Error('visitor bug');
    };
    const p = s.dump(0x12, Buffer.alloc(16), 'list links', visit);
    await new Promise((r) => setImmediate(r)); // dump() queues behind earlier dumps: let it send
    const seq = [...internals(s).pending.keys()][0] ?? 0;
    expect(seq).toBeGreaterThan(0);
    const ours = s.portId;
    const dgram = Buffer.concat([msg(16, seq, ours), msg(16, seq, ours), msg(NLMSG_DONE, seq, ours)]);
    expect(() => internals(s).onDatagram(dgram)).not.toThrow();
    await expect(p).rejects.toThrow('visitor bug');
    expect(calls).toBe(1);
    expect(notes).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('holds requests beyond maxInFlight until a reply frees a slot; close rejects the held ones', async () => {
    const s = new NlSocket(NETLINK_ROUTE, { maxInFlight: 2 });
    open.push(s);
    // Type 5 is below NLMSG_MIN_TYPE and carries no NLM_F_ACK: the kernel answers nothing, the
    // replies below are ours.
    const ps = [0, 1, 2].map((i) => s.get(5, Buffer.alloc(4), `req ${i}`));
    const settled: number[] = [];
    ps.forEach((p, i) => {
      void p.then(
        () => settled.push(i),
        () => settled.push(-i - 1),
      );
    });
    const pend = internals(s).pending;
    expect(pend.size).toBe(2);
    const first = [...pend.keys()][0] ?? 0;
    const ack = Buffer.alloc(4 + NLMSG_HDRLEN); // errno 0 + the request's header
    internals(s).onDatagram(msg(NLMSG_ERROR, first, s.portId, ack));
    await ps[0];
    expect(pend.size).toBe(2); // the third went out
    expect(pend.has(first)).toBe(false);
    s.close();
    await Promise.allSettled(ps);
    expect(settled.sort((a, b) => a - b)).toEqual([-3, -2, 0]);
  });

  it('after close, nothing calls into the binding (its methods throw "Netlink socket is closed")', async () => {
    const s = socket();
    s.close();
    expect(s.isClosed).toBe(true);
    expect(() => s.close()).not.toThrow();
    expect(() => s.addMembership(1)).toThrow('netlink socket closed');
    await expect(s.request(0x12, Buffer.alloc(16), 'x')).rejects.toThrow('netlink socket closed');
    // A datagram delivered in the same poll round as close() (the binding reads up to 32).
    expect(() => internals(s).onDatagram(msg(20, 0, 0))).not.toThrow();
  });
});
