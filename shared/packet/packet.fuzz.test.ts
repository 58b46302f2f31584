/**
 * The packet decoders take bytes from the network (any host can send the scanner anything):
 * mutated recorded packets and random option areas must parse to something or null, never throw,
 * and never report a field the bytes did not hold.
 */
import { describe, expect, it } from 'vitest';
import {
  below,
  fuzzLoop,
  hex,
  mulberry32,
  mutateBytes,
  pick,
  randomBytes,
  wellDefined,
} from '../testing/fuzz';
import recorded from './fixtures/recorded.json';
import { compareQuote } from './compare';
import { parsePacket } from './parse';
import { encodeTcpOptions, fromHex, parseTcpOptions, type TcpOptionSpec } from './tcp-options';

const seeds = Object.values(recorded).map((r) => fromHex(r.hex));

describe('packet decoders under fuzzing', () => {
  it('parsePacket and compareQuote never throw on mutated recorded packets', () => {
    const r = mulberry32(0x5eed1);
    const base = parsePacket(fromHex(recorded['linux-mptcp-syn'].hex));
    if (base?.kind !== 'tcp') throw new Error('seed');
    const ran = fuzzLoop(20_000, 4_000, (i) => {
      const input = mutateBytes(r, pick(r, seeds), 8);
      const res = wellDefined(
        () => {
          const p = parsePacket(input);
          if (p?.kind === 'icmp' && p.icmp.quote) {
            const q = p.icmp.quote;
            // Whatever was quoted, the comparison is defined; options are judged only when visible.
            const c = compareQuote({ ip: base.ip, tcp: base.tcp }, q.ip, q.tcp);
            if (!q.optionsVisible) expect(c.mptcp).toBe('unknown');
            expect(q.transportBytes).toBeGreaterThanOrEqual(0);
          }
          if (p?.kind === 'tcp') {
            expect(p.tcp.dataOffsetBytes).toBeGreaterThanOrEqual(20);
            expect(p.tcp.optionArea.length).toBe(p.tcp.dataOffsetBytes - 20);
          }
          return p;
        },
        () => `iteration ${i}: ${hex(input)}`,
      );
      expect(res.ok).toBe(true);
    });
    expect(ran).toBeGreaterThan(500);
  });

  it('option areas: random bytes parse without throwing and options stay inside the area', () => {
    const r = mulberry32(0x0b75);
    fuzzLoop(20_000, 2_000, (i) => {
      const area = randomBytes(r, below(r, 41));
      const res = wellDefined(
        () => parseTcpOptions(area),
        () => `iteration ${i}: ${hex(area)}`,
      );
      if (!res.ok) throw new Error('refused');
      for (const o of res.value) expect(o.offset + o.raw.length).toBeLessThanOrEqual(area.length);
    });
  });

  it('encode then parse gives back every option that fits', () => {
    const r = mulberry32(42);
    const gen = (): TcpOptionSpec => {
      switch (below(r, 6)) {
        case 0:
          return { kind: 'mss', mss: below(r, 65536) };
        case 1:
          return { kind: 'wscale', shift: below(r, 15) };
        case 2:
          return { kind: 'sack-permitted' };
        case 3:
          return { kind: 'timestamp', tsVal: below(r, 2 ** 32), tsEcr: below(r, 2 ** 32) };
        case 4:
          return {
            kind: 'mp-capable',
            version: below(r, 2),
            flags: below(r, 256),
            senderKey: randomBytes(r, 8),
          };
        default:
          return {
            kind: 'mp-join-syn',
            backup: r() < 0.5,
            addressId: below(r, 256),
            token: below(r, 2 ** 32),
            nonce: below(r, 2 ** 32),
          };
      }
    };
    fuzzLoop(5_000, 2_000, () => {
      const specs = Array.from({ length: 1 + below(r, 3) }, gen);
      let area: Uint8Array;
      try {
        area = encodeTcpOptions(specs);
      } catch {
        return; // over 40 bytes: refused, as it must be
      }
      const kinds = parseTcpOptions(area)
        .map((o) => o.kind)
        .filter((k) => k !== 'eol');
      expect(kinds).toEqual(specs.map((s) => (s.kind === 'mp-join-syn' ? 'mp-join' : s.kind)));
    });
  });
});
