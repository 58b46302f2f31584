import { describe, expect, it } from 'vitest';
import { eventBatcher, forEachNotification } from './event-batch';

/** A netlink message of `type` with a 4-byte payload carrying `tag` (16-byte nlmsghdr first). */
function message(type: number, tag: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(20, 0); // nlmsg_len
  b.writeUInt16LE(type, 4);
  b.writeUInt32LE(tag, 16);
  return b;
}

function walk(buf: Buffer, stamps: number[]): [number, number, number][] {
  const seen: [number, number, number][] = [];
  forEachNotification(buf, Float64Array.from(stamps), (b, type, off, len, atMs) => {
    expect(len).toBe(4);
    seen.push([type, b.readUInt32LE(off), atMs]);
  });
  return seen;
}

describe('forEachNotification', () => {
  it('gives each message the read time of its datagram, from (offset, ms) pairs', () => {
    // Datagrams at offsets 0, 20, 40, 60; the reader wrote pairs where the millisecond changed.
    const buf = Buffer.concat([message(30, 1), message(30, 2), message(30, 3), message(30, 4)]);
    expect(walk(buf, [0, 1000, 40, 1007])).toEqual([
      [30, 1, 1000],
      [30, 2, 1000],
      [30, 3, 1007],
      [30, 4, 1007],
    ]);
    // A later pair at the same offset wins (a cut datagram was dropped there).
    expect(walk(buf, [0, 1000, 20, 1003, 20, 1005, 60, 1009]).map((m) => m[2])).toEqual([
      1000, 1005, 1005, 1009,
    ]);
  });

  it('skips ERROR, DONE and NOOP messages and stops at a truncated one', () => {
    const cut = message(30, 9).subarray(0, 18);
    const buf = Buffer.concat([
      message(2, 0),
      message(30, 5),
      message(3, 0),
      message(1, 0),
      message(31, 6),
      cut,
    ]);
    expect(walk(buf, [0, 5])).toEqual([
      [30, 5, 5],
      [31, 6, 5],
    ]);
  });

  it('stamps a batch without pairs with the time of the call', () => {
    const before = Date.now();
    const [m] = walk(message(30, 7), []);
    expect(m?.[2]).toBeGreaterThanOrEqual(before);
    expect(m?.[2]).toBeLessThanOrEqual(Date.now());
  });
});

describe('eventBatcher (the reader side of the stamps)', () => {
  /** A batcher of `size` bytes (room 40) whose clock is `clock.ms`; emitted batches decoded. */
  function setup(size: number) {
    const clock = { ms: 1000 };
    const out: [number, number, number][][] = [];
    const b = eventBatcher(
      size,
      40,
      () => clock.ms,
      (buf, stamps) => {
        out.push(walk(Buffer.from(buf), [...new Float64Array(stamps)]));
      },
    );
    /** read(2) of one queued datagram. */
    const readOf = (m: Buffer) => (buf: Buffer, offset: number, max: number) => {
      expect(max).toBe(40);
      m.copy(buf, offset);
      return m.length;
    };
    return { clock, out, b, readOf };
  }

  it('stamps each datagram with its read time, one pair per millisecond, across reads and appends', () => {
    const { clock, out, b, readOf } = setup(1024);
    expect(b.read(readOf(message(30, 1)))).toBe(20);
    expect(b.read(readOf(message(30, 2)))).toBe(20);
    clock.ms = 1004;
    b.append(message(31, 3));
    expect(b.read(readOf(message(30, 4)))).toBe(20);
    b.flush();
    b.flush(); // nothing more: no empty batch
    expect(out).toEqual([
      [
        [30, 1, 1000],
        [30, 2, 1000],
        [31, 3, 1004],
        [30, 4, 1004],
      ],
    ]);
  });

  it('flushes before a read that might not fit, and the next batch starts with its own stamp', () => {
    // 80 bytes: two 20-byte datagrams leave 40 (room): a third read fits; then 20 left: flush first.
    const { clock, out, b, readOf } = setup(80);
    b.read(readOf(message(30, 1)));
    b.read(readOf(message(30, 2)));
    b.read(readOf(message(30, 3)));
    clock.ms = 1001;
    b.read(readOf(message(30, 4)));
    b.flush();
    expect(out).toEqual([
      [
        [30, 1, 1000],
        [30, 2, 1000],
        [30, 3, 1000],
      ],
      [[30, 4, 1001]],
    ]);
  });

  it('keeps no datagram (and no stamp) that filled the whole read, nor a read of nothing', () => {
    const { clock, out, b, readOf } = setup(1024);
    b.read(readOf(message(30, 1)));
    clock.ms = 1002;
    expect(b.read(() => 40)).toBe(40); // may be cut: dropped
    expect(b.read(() => 0)).toBe(0);
    clock.ms = 1003;
    b.read(readOf(message(30, 2)));
    b.flush();
    expect(out).toEqual([
      [
        [30, 1, 1000],
        [30, 2, 1003],
      ],
    ]);
  });

  it('lets read errors through with the batch untouched', () => {
    const { out, b, readOf } = setup(1024);
    b.read(readOf(message(30, 1)));
    expect(() =>
      b.read(() => {
        throw Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' });
      }),
    ).toThrow('EAGAIN');
    b.flush();
    expect(out).toEqual([[[30, 1, 1000]]]);
  });
});
