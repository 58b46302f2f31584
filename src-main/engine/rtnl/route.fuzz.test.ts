/**
 * Fuzz: decodeRoute on mutated RTM_NEWROUTE bodies recorded from Linux 6.18 (fixtures/route.json:
 * lookup answers and a dump of every table), seeded. Whatever the bytes, it returns a route or
 * null, never throws and never reads outside the message.
 */
import { describe, expect, it } from 'vitest';
import {
  badValue,
  fromHex,
  fuzzLoop,
  hex,
  mulberry32,
  mutatedMessage,
  readFixture,
  wellDefined,
} from '../../testing/netlink-fuzz';
import { decodeRoute } from './route';

const fx = readFixture<{ lookups: { hex: string | null }[]; dump: string[] }>(
  import.meta.dirname,
  'route.json',
);
const bodies = [...fx.lookups.flatMap((l) => (l.hex ? [l.hex] : [])), ...fx.dump].map(fromHex);

describe('decodeRoute under fuzzing (seeded)', () => {
  it('a route or null for 6,000 mutated RTM_NEWROUTE bodies', () => {
    const r = mulberry32(0x26_0e);
    let decoded = 0;
    const ran = fuzzLoop(6000, 900, (i) => {
      const m = mutatedMessage(r, bodies);
      const what = () => `seed 0x260e iteration ${i}: ${hex(m.buf.subarray(m.off))}`;
      const out = wellDefined(() => decodeRoute(m.buf, m.off, m.len), what);
      if (!out.ok) throw new Error(`${what()}: refused with ${out.error.message}`);
      if (out.value === null) return;
      decoded++;
      const bad = badValue(out.value);
      if (bad) throw new Error(`${what()}: ${bad}`);
    });
    expect(ran).toBeGreaterThan(500);
    expect(decoded).toBeGreaterThan(ran / 4);
  });
});
