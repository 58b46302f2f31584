/**
 * The netlink framing layer on malformed input: NlSocket's datagram walk (a real socket, fed
 * through its private onDatagram as the binding's 'message' callback does, as in core.test.ts) and
 * the events readers' batch walk (forEachNotification). Unit cases for the known bad shapes, then
 * seeded fuzzing from recorded mptcp_pm event bodies (mptcp-pm/fixtures/mptcp-events.json).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ApiFailure } from '../../../shared/result';
import {
  below,
  fromHex,
  fuzzLoop,
  hex,
  mulberry32,
  mutateBytes,
  pick,
  randomBytes,
  readFixture,
} from '../../testing/netlink-fuzz';
import { NETLINK_ROUTE, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_OVERRUN } from '../uapi/netlink';
import { NlSocket } from './core';
import { forEachNotification } from './event-batch';

interface Internals {
  onDatagram(buf: Buffer): void;
  pending: Map<number, unknown>;
}
const internals = (s: NlSocket): Internals => s as unknown as Internals;

function msg(type: number, seq: number, pid: number, body: Uint8Array = Buffer.alloc(4)): Buffer {
  const m = Buffer.alloc(NLMSG_HDRLEN + body.length);
  m.writeUInt32LE(m.length, 0);
  m.writeUInt16LE(type, 4);
  m.writeUInt32LE(seq, 8);
  m.writeUInt32LE(pid, 12);
  m.set(body, NLMSG_HDRLEN);
  return m;
}

/** Whole messages padded to 4 bytes, as a datagram holds them. */
const datagram = (parts: Buffer[]): Buffer =>
  Buffer.concat(parts.map((p) => Buffer.concat([p, Buffer.alloc(((p.length + 3) & ~3) - p.length)])));

const events = readFixture<{ client: string[]; server: string[] }>(
  `${import.meta.dirname}/../mptcp-pm`,
  'mptcp-events.json',
);
const eventBodies = [...events.client, ...events.server].map(fromHex);

describe('NlSocket on malformed replies', () => {
  const open: NlSocket[] = [];
  const socket = (errors: unknown[]): NlSocket => {
    const s = new NlSocket(NETLINK_ROUTE, { timeoutMs: 2000, onListenerError: (e) => errors.push(e) });
    open.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });
  /**
   * A request the kernel never answers (type 5 is below NLMSG_MIN_TYPE and has no NLM_F_ACK), so
   * the replies are the test's.
   */
  const quiet = (s: NlSocket, what: string): { seq: number; p: Promise<Buffer[]> } => {
    const before = new Set(internals(s).pending.keys());
    const p = s.get(5, Buffer.alloc(4), what);
    const seq = [...internals(s).pending.keys()].find((k) => !before.has(k)) ?? 0;
    return { seq, p };
  };

  it('a 16-byte NLMSG_ERROR (no struct nlmsgerr) fails its request with a KERNEL error at once', async () => {
    const errors: unknown[] = [];
    const s = socket(errors);
    const { seq, p } = quiet(s, 'get link');
    // Exactly the header: reading the errno would be a RangeError past the datagram's end.
    expect(() => internals(s).onDatagram(msg(NLMSG_ERROR, seq, s.portId, Buffer.alloc(0)))).not.toThrow();
    const err: unknown = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiFailure);
    expect(err).toMatchObject({
      code: 'KERNEL',
      message:
        "get link: malformed reply: an NLMSG_ERROR with 0 payload bytes, too few for struct nlmsgerr's error field (linux/netlink.h)",
    });
    expect(errors).toEqual([]);
  });

  it('an NLMSG_ERROR cut inside its errno, and an overrun, are KERNEL errors too', async () => {
    const errors: unknown[] = [];
    const s = socket(errors);
    const a = quiet(s, 'a');
    internals(s).onDatagram(msg(NLMSG_ERROR, a.seq, s.portId, Buffer.from([0xfb, 0xff])));
    await expect(a.p).rejects.toMatchObject({
      code: 'KERNEL',
      message: expect.stringContaining('2 payload bytes'),
    });
    const b = quiet(s, 'b');
    internals(s).onDatagram(msg(NLMSG_OVERRUN, b.seq, s.portId));
    await expect(b.p).rejects.toMatchObject({ code: 'KERNEL', message: 'b: netlink overrun' });
    expect(errors).toEqual([]);
  });

  it('fuzz: 3,000 mutated datagrams of replies and notifications never throw inside the walk', async () => {
    const errors: unknown[] = [];
    const s = new NlSocket(NETLINK_ROUTE, { timeoutMs: 60_000, onListenerError: (e) => errors.push(e) });
    open.push(s);
    const seen: string[] = [];
    s.onNotification((buf, _type, off, len) => {
      if (off < NLMSG_HDRLEN || len < 0 || off + len > buf.length)
        seen.push(`${off}+${len} of ${buf.length}`);
    });
    const outcomes: Promise<unknown>[] = [];
    const r = mulberry32(0xda7a);
    const ran = fuzzLoop(3000, 900, (i) => {
      while (internals(s).pending.size < 4) {
        const { p } = quiet(s, `req ${i}`);
        outcomes.push(
          p.then(
            () => null,
            (e: unknown) => e,
          ),
        );
      }
      const seqs = [...internals(s).pending.keys()];
      const parts: Buffer[] = [];
      for (let k = 1 + below(r, 4); k > 0; k--) {
        const reply = below(r, 3) !== 0;
        const type = pick(r, [NLMSG_ERROR, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN, 1, 16, 28]);
        const body =
          type === NLMSG_ERROR || type === NLMSG_DONE
            ? randomBytes(r, pick(r, [0, 1, 2, 3, 4, 4, 20]))
            : pick(r, eventBodies);
        parts.push(msg(type, reply ? pick(r, seqs) : 0, reply ? s.portId : 0, body));
      }
      const dgram = below(r, 4) === 0 ? datagram(parts) : Buffer.from(mutateBytes(r, datagram(parts)));
      try {
        internals(s).onDatagram(dgram);
      } catch (e) {
        throw new Error(`seed 0xda7a iteration ${i}: ${hex(dgram)}: onDatagram threw ${String(e)}`, {
          cause: e,
        });
      }
      if (errors.length > 0)
        throw new Error(`seed 0xda7a iteration ${i}: ${hex(dgram)}: ${String(errors[0])}`);
    });
    expect(ran).toBeGreaterThan(300);
    expect(seen).toEqual([]);
    s.close(); // fails what is still pending with 'netlink socket closed'
    const results = await Promise.all(outcomes);
    const failures = results.filter((e) => e !== null);
    expect(failures.length).toBeGreaterThan(0);
    for (const e of failures) {
      if (e instanceof ApiFailure) continue;
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).toBe('netlink socket closed');
    }
  });
});

describe('forEachNotification under fuzzing (seeded)', () => {
  it('visits only whole messages inside the batch, for 5,000 mutated batches and stamp lists', () => {
    const r = mulberry32(0xba7c);
    const ran = fuzzLoop(5000, 900, (i) => {
      const parts: Buffer[] = [];
      for (let k = 1 + below(r, 6); k > 0; k--)
        parts.push(msg(pick(r, [0x1c, 0x1c, 2, 3, 1]), 0, 0, pick(r, eventBodies)));
      const buf = Buffer.from(mutateBytes(r, datagram(parts)));
      const stamps = new Float64Array(2 * below(r, 4) + below(r, 2));
      for (let k = 0; k < stamps.length; k++)
        stamps[k] = pick(r, [0, 16, buf.length, 1e12, -1, Number.NaN, Infinity, below(r, 200)]);
      let visits = 0;
      try {
        forEachNotification(buf, stamps, (b, type, off, len, atMs) => {
          visits++;
          if (b !== buf || off < NLMSG_HDRLEN || len < 0 || off + len > buf.length || type === NLMSG_ERROR)
            throw new Error(`visited ${type} at ${off}+${len} of ${buf.length}`);
          expect(typeof atMs).toBe('number');
        });
      } catch (e) {
        throw new Error(`seed 0xba7c iteration ${i}: ${hex(buf)}: ${String(e)}`, { cause: e });
      }
      // Every visit is a message of at least a header: no more visits than headers fit.
      expect(visits).toBeLessThanOrEqual(Math.floor(buf.length / NLMSG_HDRLEN));
    });
    expect(ran).toBeGreaterThan(500);
  });
});
