/**
 * Fuzz: the rtnetlink decoders on mutated RTM_NEWLINK / RTM_NEWADDR bodies recorded from Linux
 * 6.18 (fixtures/interfaces.json), seeded. Whatever the bytes, a decoder returns a value or null,
 * never throws and never reads outside the message (the message ends where its buffer does).
 */
import { describe, expect, it } from 'vitest';
import {
  badValue,
  below,
  fromHex,
  fuzzLoop,
  hex,
  mulberry32,
  mutateText,
  mutatedMessage,
  randomBytes,
  readFixture,
  wellDefined,
} from '../../testing/netlink-fuzz';
import { formatAddress, parseAddress } from './address';
import { decodeAddress, decodeLink, isUsable, toNetInterface } from './interfaces';
import { NetInterfaceSchema } from '../../../shared/types';

const fx = readFixture<{ links: { body: string }[]; addresses: { body: string }[] }>(
  import.meta.dirname,
  'interfaces.json',
);
const links = fx.links.map((l) => fromHex(l.body));
const addresses = fx.addresses.map((a) => fromHex(a.body));

describe('decodeLink', () => {
  it('gives no link for an ifinfomsg without a device index (ifi_index <= 0)', () => {
    for (const index of [0, -1]) {
      const b = Buffer.from(links[1]!);
      b.writeInt32LE(index, 4);
      expect(decodeLink(b, 0, b.length)).toBeNull();
    }
    expect(decodeLink(links[1]!, 0, links[1]!.length)?.index).toBeGreaterThan(0);
  });
});

describe('rtnetlink decoders under fuzzing (seeded)', () => {
  it('decodeLink: a link or null for 6,000 mutated RTM_NEWLINK bodies', () => {
    const r = mulberry32(0x11_4e);
    let decoded = 0;
    const ran = fuzzLoop(6000, 900, (i) => {
      const m = mutatedMessage(r, links);
      const what = () => `seed 0x114e iteration ${i}: ${hex(m.buf.subarray(m.off))}`;
      const out = wellDefined(() => decodeLink(m.buf, m.off, m.len), what);
      if (!out.ok) throw new Error(`${what()}: refused with ${out.error.message}`);
      if (out.value === null) return;
      decoded++;
      const bad = badValue(out.value);
      if (bad) throw new Error(`${what()}: ${bad}`);
      // What the engine builds from it must still be a NetInterface.
      const ni = toNetInterface(out.value, []);
      expect(typeof isUsable(out.value)).toBe('boolean');
      if (!NetInterfaceSchema.safeParse(ni).success) throw new Error(`${what()}: not a NetInterface`);
    });
    expect(ran).toBeGreaterThan(500);
    expect(decoded).toBeGreaterThan(0);
  });

  it('decodeAddress: an address or null for 6,000 mutated RTM_NEWADDR bodies', () => {
    const r = mulberry32(0x14_ad);
    let decoded = 0;
    const ran = fuzzLoop(6000, 900, (i) => {
      const m = mutatedMessage(r, addresses);
      const what = () => `seed 0x14ad iteration ${i}: ${hex(m.buf.subarray(m.off))}`;
      const out = wellDefined(() => decodeAddress(m.buf, m.off, m.len), what);
      if (!out.ok) throw new Error(`${what()}: refused with ${out.error.message}`);
      if (out.value === null) return;
      decoded++;
      const bad = badValue(out.value);
      if (bad) throw new Error(`${what()}: ${bad}`);
      // The text it gives is an address the engine can parse back.
      if (parseAddress(out.value.address)?.family !== out.value.family)
        throw new Error(`${what()}: ${out.value.address} does not parse back as ${out.value.family}`);
    });
    expect(ran).toBeGreaterThan(500);
    expect(decoded).toBeGreaterThan(0);
  });

  it('formatAddress round-trips through parseAddress; parseAddress refuses mutated text with null', () => {
    const r = mulberry32(0xadd7);
    const ran = fuzzLoop(5000, 800, (i) => {
      const v6 = below(r, 2) === 1;
      const bytes = Buffer.from(randomBytes(r, v6 ? 16 : 4));
      const text = formatAddress(v6 ? 10 : 2, bytes, 0);
      const back = parseAddress(text);
      if (!back || !back.bytes.equals(bytes)) throw new Error(`iteration ${i}: ${text} did not round-trip`);
      const junk = mutateText(r, text);
      const parsed = wellDefined(
        () => parseAddress(junk),
        () => `iteration ${i}: ${JSON.stringify(junk)}`,
      );
      if (
        parsed.ok &&
        parsed.value &&
        parsed.value.bytes.length !== (parsed.value.family === 'inet6' ? 16 : 4)
      )
        throw new Error(`iteration ${i}: ${JSON.stringify(junk)} gave ${parsed.value.bytes.length} bytes`);
    });
    expect(ran).toBeGreaterThan(500);
  });
});
