import { describe, expect, it, vi } from 'vitest';
import { NetlinkError } from '../netlink/core';
import { ConnectionPoller, PollSequencer, WORKER_DUMPS } from './connections';
import { SnapshotBuilder } from './decode';
import {
  batch,
  dumpBatches,
  feedInterleaved,
  NLMSG_HDRLEN,
  nlmsg,
  recordedDumps,
} from './fixtures/poll-batches';

/**
 * The dump workers deliver the four dumps of a poll concurrently; PollSequencer must make of them
 * the snapshot a sequential poll (MPTCP AF_INET, MPTCP AF_INET6, TCP AF_INET, TCP AF_INET6) gives.
 * Recorded lab messages (decode.test.ts), split by family into the four dumps.
 */
/** Dump index → its messages, as POLL_PLAN orders them. */
const DUMPS = recordedDumps;
const batches = dumpBatches;

// tcp_info's ages become times against the dump's clock (SnapshotBuilder `nowMs`, Date.now() by
// default): one clock for every build here, so that two builds of the same bytes are equal.
// (At load, not in beforeEach: the expected snapshots are built while the tests are collected.)
vi.spyOn(Date, 'now').mockReturnValue(1_800_000_000_000);

function sequential(): string {
  const b = new SnapshotBuilder();
  for (const m of DUMPS.flat().slice(0, DUMPS[0]!.length + DUMPS[1]!.length))
    b.onMptcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
  for (const m of [...DUMPS[2]!, ...DUMPS[3]!]) b.onTcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
  return JSON.stringify({ c: b.connections, o: b.orphanSubflows });
}

describe('PollSequencer', () => {
  const expected = sequential();

  it('splits the recording into four non-empty dumps whose subflows all attach', () => {
    expect(DUMPS.map((d) => d.length)).toEqual([2, 2, 5, 2]);
    const snap = JSON.parse(expected) as { c: { subflows: unknown[] }[]; o: number };
    expect(snap.c.flatMap((c) => c.subflows)).toHaveLength(7);
    expect(snap.o).toBe(0);
  });

  it('gives the sequential snapshot for any interleaving of the two workers', () => {
    let seed = 7;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let round = 0; round < 200; round++) {
      // Each worker delivers its own dumps in order; the two streams interleave at random.
      const b = new SnapshotBuilder({ mptcpPending: true });
      const seq = new PollSequencer(b);
      feedInterleaved(WORKER_DUMPS, rnd, (d, buf, used) => seq.feed(d, buf, used));
      seq.finish();
      expect(JSON.stringify({ c: b.connections, o: b.orphanSubflows })).toBe(expected);
    }
  });

  it('TCP first, MPTCP last: subflows wait for their connections, none is an orphan', () => {
    const b = new SnapshotBuilder({ mptcpPending: true });
    const seq = new PollSequencer(b);
    for (const d of [2, 3, 0, 1]) for (const x of batches(d)) seq.feed(x.dump, x.buf, x.used);
    seq.finish();
    expect(b.orphanSubflows).toBe(0);
    expect(JSON.stringify({ c: b.connections, o: b.orphanSubflows })).toBe(expected);
  });

  it('a dump that ends in an error rejects the poll with the errno', () => {
    const b = new SnapshotBuilder({ mptcpPending: true });
    const seq = new PollSequencer(b);
    const err = Buffer.alloc(4);
    err.writeInt32LE(-16); // -EBUSY
    const x = batch([nlmsg(2, err)]);
    expect(() => seq.feed(2, x.buf, x.used)).toThrow(NetlinkError);
  });
});

/**
 * A stand-in for DiagDumpWorker with its buffer ownership: batches are lent to the visitor and
 * taken back (transferred to the worker thread, which detaches them here) when the worker's next
 * run starts, as DiagDumpWorker.runNow hands its recycle list back. Runs on one worker queue.
 */
class FakeDumpWorker {
  private tail: Promise<unknown> = Promise.resolve();
  private lent: ArrayBuffer[] = [];

  constructor(
    private readonly dumps: readonly number[],
    private readonly delayMs: number,
  ) {}

  run(_type: number, _payloads: readonly Buffer[], visit: (i: number, buf: Buffer, used: number) => void) {
    const p = this.tail.then(async () => {
      for (const ab of this.lent) structuredClone(ab, { transfer: [ab] }); // detaches `ab` here
      this.lent = [];
      for (const [i, d] of this.dumps.entries()) {
        for (const x of batches(d)) {
          await new Promise((r) => setTimeout(r, this.delayMs));
          const ab = x.buf.buffer as ArrayBuffer;
          this.lent.push(ab);
          visit(i, x.buf, x.used);
        }
      }
    });
    this.tail = p.catch(() => undefined);
    return p.then(() => 0);
  }
}

describe('ConnectionPoller.pollOnWorkers', () => {
  const expected = sequential();

  it('overlapping polls each get the whole snapshot, never a batch already handed back', async () => {
    // The TCP AF_INET dump (its own worker) is slow: the other worker's TCP AF_INET6 batches wait in
    // the sequencer while that worker already starts the next poll and takes its batches back.
    const workers = WORKER_DUMPS.map((dumps, k) => new FakeDumpWorker(dumps, k === 1 ? 5 : 0));
    const poller = new ConnectionPoller();
    const polls = await Promise.all([0, 1, 2].map(() => poller.pollOnWorkers(workers)));
    for (const b of polls) expect(JSON.stringify({ c: b.connections, o: b.orphanSubflows })).toBe(expected);
  });
});

describe('ConnectionPoller', () => {
  const expected = sequential();

  it('keeps its state to itself: two pollers poll on their own workers, each reusing its own last poll', async () => {
    const made: FakeDumpWorker[][] = [];
    const poller = (): ConnectionPoller =>
      new ConnectionPoller({
        workers: () => (made[made.length] = WORKER_DUMPS.map((dumps) => new FakeDumpWorker(dumps, 0))),
      });
    const a = poller();
    const b = poller();
    const diag = {} as never;
    const a1 = await a.read(diag);
    const b1 = await b.read(diag);
    const a2 = await a.read(diag);
    expect(JSON.stringify({ c: a1.connections, o: a1.orphanSubflows })).toBe(expected);
    // A poller reuses its own last poll's objects, never another poller's.
    expect(a2.connections[0]).toBe(a1.connections[0]);
    expect(b1.connections[0]).not.toBe(a1.connections[0]);
    expect(a.stats.workerPolls).toBe(2);
    expect(b.stats.workerPolls).toBe(1);
    expect(a.stats.lastReceivePaths).toEqual([null, null]);
  });

  it('builds every object anew with reuse off', async () => {
    const p = new ConnectionPoller({
      reuse: false,
      workers: () => WORKER_DUMPS.map((dumps) => new FakeDumpWorker(dumps, 0)),
    });
    const first = await p.read({} as never);
    const second = await p.read({} as never);
    expect(second.connections[0]).not.toBe(first.connections[0]);
    expect(second.connections).toEqual(first.connections);
  });
});
