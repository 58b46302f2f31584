/**
 * Seeded fuzz of the agent's line protocol: mutated calls, random bytes and random chunking.
 * Whatever arrives, the agent answers every line whose id it can read, never throws, and still
 * answers a valid call at the end.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { below, mulberry32, mutateText, pick, randomBytes } from '../../../shared/testing/fuzz';
import { fakeBackend } from '../../testing/fake-backend';
import { LineSplitter } from './lines';
import { serveAgent } from './server';

const SEED = 0x5eed_a9e7;

const VALID_CALLS = [
  { t: 'call', id: 1, method: 'mptcp:status:get', args: {} },
  {
    t: 'call',
    id: 2,
    method: 'mptcp:config:apply',
    args: { config: { limits: { subflows: 2 } }, confirmWithinS: 30 },
  },
  { t: 'call', id: 3, method: 'mptcp:connections:list', args: { feed: { baseSeq: null, fields: 'x' } } },
  {
    t: 'call',
    id: 4,
    method: 'mptcp:pm:start',
    args: { mode: 'fullmesh', role: 'client', manager: 'userspace' },
  },
  { t: 'call', id: 5, method: 'mptcp:connection:get', args: { token: 4294967295 } },
].map((c) => JSON.stringify(c));

describe('agent line protocol fuzz', () => {
  it(`answers or refuses 3,000 mutated lines in random chunks without throwing (seed ${SEED})`, async () => {
    const r = mulberry32(SEED);
    const input = new PassThrough();
    const output = new PassThrough();
    const replies = new Map<number, number>();
    let events = 0;
    const split = new LineSplitter({
      maxLineBytes: 1 << 24,
      onLine: (l) => {
        const m = JSON.parse(l) as { t: string; id?: number };
        if (m.t === 'result' && m.id !== undefined) replies.set(m.id, (replies.get(m.id) ?? 0) + 1);
        else events++;
      },
      onOversize: () => undefined,
    });
    output.on('data', (d: Buffer) => split.push(d));
    const log: unknown[] = [];
    const done = serveAgent(fakeBackend(), input, output, { log: (e) => log.push(e) });
    let stream = Buffer.alloc(0);
    let lines = 0;
    for (let i = 0; i < 3000; i++) {
      const kind = below(r, 10);
      let line: Buffer;
      if (kind < 7) line = Buffer.from(mutateText(r, pick(r, VALID_CALLS), 4).replaceAll('\n', ' '));
      else if (kind < 9) line = Buffer.from(randomBytes(r, below(r, 200)).filter((b) => b !== 0x0a));
      else line = Buffer.from(pick(r, VALID_CALLS));
      stream = Buffer.concat([stream, line, Buffer.from('\n')]);
      // An empty line (or a lone CR) is no message and gets no answer, as in any JSON-lines protocol.
      if (!(line.length === 0 || (line.length === 1 && line[0] === 0x0d))) lines++;
    }
    // Delivered in random pieces, as a socket would.
    for (let off = 0; off < stream.length;) {
      const n = 1 + below(r, 4096);
      input.write(stream.subarray(off, off + n));
      off += n;
    }
    input.write(`${JSON.stringify({ t: 'call', id: 424242, method: 'mptcp:status:get', args: {} })}\n`);
    input.end();
    await done;
    expect(replies.get(424242)).toBe(1);
    // Every line got exactly one answer: a result by id, or an error event when none was readable.
    const answered = [...replies.values()].reduce((a, b) => a + b, 0) + events;
    expect(answered).toBe(lines + 1);
    for (const e of log) expect(() => JSON.stringify(e)).not.toThrow();
  });
});
