/**
 * The poll sequencer (PollSequencer → feedBatch → SnapshotBuilder) on malformed dump replies: unit
 * cases for the known bad shapes, then seeded fuzzing from the recorded lab poll
 * (fixtures/poll-lab.json). Whatever the batches hold, a poll either fails with an ApiFailure
 * (NetlinkError for a kernel errno) or gives a snapshot the contract's schema accepts.
 */
import { describe, expect, it } from 'vitest';
import { ApiFailure } from '../../../shared/result';
import { ConnectionsSnapshotSchema } from '../../../shared/types';
import { below, fuzzLoop, hex, mulberry32, mutateBytes, pick, randomBytes } from '../../testing/netlink-fuzz';
import { NetlinkError } from '../netlink/core';
import { NLMSG_ERROR } from '../uapi/netlink';
import { POLL_PLAN, PollSequencer } from './connections';
import { PollMemory, SnapshotBuilder } from './decode';
import { batch, DONE, nlmsg, recordedDumps } from './fixtures/poll-batches';

/** A batch in an ArrayBuffer of its own, at byte `shift` of it (1..3: an unaligned view). */
function ownBuffer(bytes: Uint8Array, shift = 0, spare = 0): { buf: Buffer; used: number } {
  const buf = Buffer.from(new ArrayBuffer(shift + bytes.length + spare), shift, bytes.length + spare);
  buf.set(bytes);
  return { buf, used: bytes.length };
}

describe('feedBatch on malformed messages', () => {
  it('a 16-byte NLMSG_ERROR (no struct nlmsgerr) fails the poll with a KERNEL error, not a RangeError', () => {
    const seq = new PollSequencer(new SnapshotBuilder({ mptcpPending: true }));
    const x = ownBuffer(nlmsg(NLMSG_ERROR, Buffer.alloc(0)));
    expect(x.used).toBe(16);
    let err: unknown;
    try {
      seq.feed(0, x.buf, x.used);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiFailure);
    expect(err).toMatchObject({
      code: 'KERNEL',
      message:
        "sock_diag MPTCP dump: malformed reply: an NLMSG_ERROR with 0 payload bytes, too few for struct nlmsgerr's error field (linux/netlink.h)",
    });
  });

  it('never reads an errno from bytes past the batch (stale bytes of a recycled buffer)', () => {
    const seq = new PollSequencer(new SnapshotBuilder({ mptcpPending: true }));
    const x = ownBuffer(nlmsg(NLMSG_ERROR, Buffer.alloc(0)), 0, 4);
    x.buf.writeInt32LE(-16, 16); // -EBUSY, outside the 16 bytes in use
    expect(() => seq.feed(2, x.buf, x.used)).toThrow(/malformed reply/);
  });

  it('a used count past the end of an (unaligned) batch is clamped to it', () => {
    const seq = new PollSequencer(new SnapshotBuilder({ mptcpPending: true }));
    const err = Buffer.alloc(4);
    err.writeInt32LE(-16);
    const x = ownBuffer(nlmsg(NLMSG_ERROR, err), 1);
    expect(() => seq.feed(2, x.buf, x.used + 1000)).toThrow(NetlinkError);
  });
});

/** The recording's messages with DONE appended to each dump, as the poll's dumps. */
const dumpMessages = (): Buffer[][] => POLL_PLAN.reqs.map((_, d) => [...(recordedDumps[d] ?? []), DONE]);

/** One dump's messages cut into batches of 1..3 messages, some mutated, a few unaligned. */
function fuzzBatches(r: () => number, messages: Buffer[]): { buf: Buffer; used: number }[] {
  const out: { buf: Buffer; used: number }[] = [];
  for (let i = 0; i < messages.length;) {
    const n = 1 + below(r, 3);
    let parts = messages.slice(i, i + n).map((m) => (below(r, 5) === 0 ? Buffer.from(mutateBytes(r, m)) : m));
    if (below(r, 12) === 0) parts = [nlmsg(NLMSG_ERROR, Buffer.from(randomBytes(r, pick(r, [0, 2, 4, 20]))))];
    const whole = batch(parts);
    let bytes = whole.buf.subarray(0, whole.used) as Uint8Array;
    if (below(r, 8) === 0) bytes = mutateBytes(r, bytes);
    out.push(ownBuffer(bytes, below(r, 6) === 0 ? 1 + below(r, 3) : 0, below(r, 3) * 4));
    i += n;
  }
  return out;
}

describe('PollSequencer under fuzzing (seeded)', () => {
  it('1,000 polls of mutated batches in random interleavings: an ApiFailure or a valid snapshot', () => {
    const r = mulberry32(0x5e9_0011);
    let snapshots = 0;
    let failures = 0;
    let prev: PollMemory | null = null;
    let spare: PollMemory | null = new PollMemory();
    const ran = fuzzLoop(1000, 900, (i) => {
      const into = spare ?? new PollMemory();
      const b = new SnapshotBuilder({ mptcpPending: true, prev, into });
      const seq = new PollSequencer(b);
      const dumps = dumpMessages();
      // Each worker's batches in its own order; the two streams interleaved at random.
      const streams = POLL_PLAN.workers.map((ds) =>
        ds.flatMap((d) => fuzzBatches(r, dumps[d]!).map((x) => ({ dump: d, ...x }))),
      );
      const fed: string[] = [];
      try {
        while (streams.some((s) => s.length > 0)) {
          const live = streams.filter((s) => s.length > 0);
          const next = live[below(r, live.length)]!.shift()!;
          fed.push(`${next.dump}:${hex(next.buf.subarray(0, Math.min(next.used, next.buf.length)))}`);
          seq.feed(next.dump, next.buf, next.used);
        }
        seq.finish();
        b.finish();
      } catch (e) {
        if (!(e instanceof ApiFailure))
          throw new Error(`seed 0x5e90011 poll ${i} threw ${String(e)} after batches ${fed.join(' ')}`, {
            cause: e,
          });
        failures++;
        spare = into; // the failed poll's memory is refilled by the next one
        return;
      }
      snapshots++;
      const snap = {
        takenAtMs: 1,
        pollDurationUs: 1,
        connections: b.connections,
        orphanSubflows: b.orphanSubflows,
      };
      // Every snapshot is valid, u64 counters included: past 2^53 (only a corrupted reply holds
      // one) they are clamped to Number.MAX_SAFE_INTEGER (decode.ts u64).
      const parsed = ConnectionsSnapshotSchema.safeParse(snap);
      if (!parsed.success)
        throw new Error(
          `seed 0x5e90011 poll ${i}: invalid snapshot ${JSON.stringify(parsed.error.issues)} after ${fed.join(' ')}`,
        );
      // This poll's memory is the next one's `prev`; last poll's is refilled.
      spare = prev;
      prev = b.memory();
    });
    expect(ran).toBeGreaterThan(100);
    expect(snapshots).toBeGreaterThan(0);
    expect(failures).toBeGreaterThan(0);
  });

  it('every nlmsg_len from 0 to past the end, on every recorded message', () => {
    for (const m of recordedDumps.flat()) {
      for (let len = 0; len <= m.length + 8; len++) {
        const copy = Buffer.from(m);
        copy.writeUInt32LE(len, 0);
        const x = ownBuffer(Buffer.concat([copy, DONE]));
        const b = new SnapshotBuilder({ mptcpPending: true });
        const seq = new PollSequencer(b);
        for (const d of [0, 2]) {
          try {
            seq.feed(d, x.buf, x.used);
          } catch (e) {
            if (!(e instanceof ApiFailure))
              throw new Error(`len ${len} of ${hex(m)}: ${String(e)}`, { cause: e });
          }
        }
        expect(() => seq.finish()).not.toThrow();
      }
    }
  });
});
