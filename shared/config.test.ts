import { describe, expect, it } from 'vitest';
import { parseProfile, PROFILE_SCHEMA_VERSION, type Profile } from './config';

const good: Profile = {
  schemaVersion: PROFILE_SCHEMA_VERSION,
  name: 'dual-homed client',
  config: {
    enabled: true,
    limits: { subflows: 4, addAddrAccepted: 2 },
    endpoints: [
      {
        address: '10.0.0.2',
        id: 1,
        flags: { signal: false, subflow: true, backup: false, fullmesh: true, laminar: false },
      },
      {
        address: '2001:db8::2',
        port: 10000,
        flags: { signal: true, subflow: false, backup: false, fullmesh: false, laminar: false },
      },
    ],
    sysctls: { addAddrTimeoutS: 120, checksumEnabled: false },
    buffers: { tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 33554432 } },
    mtu: { eth0: 1500 },
  },
};

describe('profile parsing', () => {
  it('accepts a valid profile', () => {
    const r = parseProfile(JSON.stringify(good));
    expect(r.ok).toBe(true);
  });

  it.each([
    ['malformed JSON', '{"schemaVersion":1,', /not valid JSON/],
    ['not an object', '[1,2]', /must be a JSON object/],
    [
      'a newer version',
      JSON.stringify({ ...good, schemaVersion: 99 }),
      /schemaVersion: profile version 99 is newer/,
    ],
    [
      'an unknown field',
      JSON.stringify({ ...good, config: { ...good.config, turbo: true } }),
      /config: Unrecognized key.*turbo/,
    ],
    ['a wrong type', JSON.stringify({ ...good, config: { enabled: 'yes' } }), /config\.enabled/],
    [
      'an out-of-range limit',
      JSON.stringify({ ...good, config: { limits: { subflows: 9, addAddrAccepted: 0 } } }),
      /config\.limits\.subflows/,
    ],
    [
      'a negative timeout',
      JSON.stringify({ ...good, config: { sysctls: { closeTimeoutS: -1 } } }),
      /config\.sysctls\.closeTimeoutS/,
    ],
    [
      'signal with fullmesh',
      JSON.stringify({
        ...good,
        config: { endpoints: [{ address: '10.0.0.1', flags: { signal: true, fullmesh: true } }] },
      }),
      /signal and fullmesh cannot be combined/,
    ],
    [
      'a port without signal',
      JSON.stringify({
        ...good,
        config: { endpoints: [{ address: '10.0.0.1', port: 80, flags: { subflow: true } }] },
      }),
      /port needs the signal flag/,
    ],
    [
      'a bad address',
      JSON.stringify({ ...good, config: { endpoints: [{ address: '10.0.0.300', flags: {} }] } }),
      /address/,
    ],
    [
      'an inverted triplet',
      JSON.stringify({
        ...good,
        config: { buffers: { tcpWmem: { minBytes: 9, defaultBytes: 5, maxBytes: 10 } } },
      }),
      /min <= default <= max/,
    ],
    ['an MTU below 68', JSON.stringify({ ...good, config: { mtu: { eth0: 10 } } }), /config\.mtu\.eth0/],
  ])('refuses %s, naming the field and the rule', (_what, text, re) => {
    const r = parseProfile(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join('\n')).toMatch(re);
  });

  it('survives thousands of generated bad profiles without throwing', () => {
    // Deterministic mutation fuzzing: random edits of a valid profile's JSON tree and text.
    let seed = 0x5eed;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const junk: unknown[] = [
      null,
      -1,
      1e308,
      'x'.repeat(3),
      true,
      [],
      {},
      '10.0.0.1',
      256,
      -0,
      2 ** 53,
      '__proto__',
    ];
    const mutate = (v: unknown, depth: number): unknown => {
      if (depth > 6 || rnd(5) === 0) return junk[rnd(junk.length)];
      if (Array.isArray(v)) return v.map((x) => mutate(x, depth + 1));
      if (v && typeof v === 'object') {
        const o: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v))
          if (rnd(8) !== 0) o[rnd(10) === 0 ? `${k}_` : k] = rnd(3) ? x : mutate(x, depth + 1);
        if (rnd(6) === 0) o[String('constructor')] = { prototype: { polluted: true } };
        return o;
      }
      return rnd(2) ? junk[rnd(junk.length)] : v;
    };
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      let text = JSON.stringify(mutate(good, 0));
      if (i % 7 === 0) text = text.slice(0, rnd(text.length + 1));
      const r = parseProfile(text);
      if (!r.ok) {
        refused++;
        expect(r.errors.length).toBeGreaterThan(0);
        for (const e of r.errors) expect(typeof e).toBe('string');
      }
    }
    expect(refused).toBeGreaterThan(4000);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
