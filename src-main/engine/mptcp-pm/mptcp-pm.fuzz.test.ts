/**
 * Fuzz: the generic netlink decoders (controller family reply, mptcp_pm endpoints and limits) on
 * mutated bodies recorded from Linux 6.18 (fixtures/mptcp-pm.json), seeded. Whatever the bytes,
 * a decoder returns a value the contract's schema accepts, null, or refuses with an ApiFailure;
 * nothing else is thrown and nothing is read outside the message.
 */
import { describe, expect, it } from 'vitest';
import { EndpointSchema, LimitsSchema } from '../../../shared/types';
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
import { decodeEndpointMessage, decodeLimits } from './endpoints';
import { decodeGenlFamily } from './family';

interface Recorded {
  type: number;
  body: string;
}
const fx = readFixture<{ family: Recorded[]; endpoints: Recorded[]; limits: Recorded[] }>(
  import.meta.dirname,
  'mptcp-pm.json',
);
const family = fx.family.map((r) => fromHex(r.body));
const endpoints = fx.endpoints.map((r) => fromHex(r.body));
const limits = fx.limits.map((r) => fromHex(r.body));
const ifnames = new Map([
  [1, 'lo'],
  [2, 'c0'],
]);

describe('genl decoders under fuzzing (seeded)', () => {
  it('decodeGenlFamily: a family or a KERNEL refusal for 4,000 mutated controller replies', () => {
    const r = mulberry32(0xfa_31);
    let decoded = 0;
    const ran = fuzzLoop(4000, 900, (i) => {
      const m = mutatedMessage(r, family);
      const body = m.buf.subarray(m.off, m.off + m.len);
      const what = () => `seed 0xfa31 iteration ${i}: ${hex(body)}`;
      const out = wellDefined(() => decodeGenlFamily(body), what);
      if (!out.ok) {
        expect(out.error.code).toBe('KERNEL');
        return;
      }
      decoded++;
      const bad = badValue(out.value);
      if (bad) throw new Error(`${what()}: ${bad}`);
      expect(out.value.familyId).toBeLessThanOrEqual(0xffff);
    });
    expect(ran).toBeGreaterThan(300);
    expect(decoded).toBeGreaterThan(0);
  });

  it('decodeEndpointMessage: an Endpoint or null for 6,000 mutated GET_ADDR replies', () => {
    const r = mulberry32(0xe7_d0);
    let decoded = 0;
    const ran = fuzzLoop(6000, 900, (i) => {
      const m = mutatedMessage(r, endpoints);
      const what = () => `seed 0xe7d0 iteration ${i}: ${hex(m.buf.subarray(m.off))}`;
      const out = wellDefined(() => decodeEndpointMessage(m.buf, m.off, m.len, ifnames), what);
      if (!out.ok) throw new Error(`${what()}: refused with ${out.error.message}`);
      if (out.value === null) return;
      decoded++;
      const bad = badValue(out.value);
      if (bad) throw new Error(`${what()}: ${bad}`);
      const parsed = EndpointSchema.safeParse(out.value);
      if (!parsed.success) throw new Error(`${what()}: not an Endpoint: ${parsed.error.message}`);
    });
    expect(ran).toBeGreaterThan(500);
    expect(decoded).toBeGreaterThan(0);
  });

  it('decodeLimits: Limits or a KERNEL refusal for 4,000 mutated GET_LIMITS replies', () => {
    const r = mulberry32(0x11_3175);
    let decoded = 0;
    const ran = fuzzLoop(4000, 800, (i) => {
      const m = mutatedMessage(r, limits);
      const body = m.buf.subarray(m.off, m.off + m.len);
      const what = () => `seed 0x113175 iteration ${i}: ${hex(body)}`;
      const out = wellDefined(() => decodeLimits(body), what);
      if (!out.ok) {
        expect(out.error.code).toBe('KERNEL');
        return;
      }
      decoded++;
      if (!LimitsSchema.safeParse(out.value).success) throw new Error(`${what()}: not Limits`);
    });
    expect(ran).toBeGreaterThan(300);
    expect(decoded).toBeGreaterThan(0);
  });
});
