/**
 * The profile schema's bounds and its refusals of values the kernel would take without a word.
 */
import { describe, expect, it } from 'vitest';
import {
  addressKey,
  endpointAddressProblem,
  ipv6Groups,
  MAX_MTU_ENTRIES,
  MptcpConfigSchema,
  parseProfile,
  PROFILE_SCHEMA_VERSION,
} from './config';

const profileText = (config: unknown): string =>
  JSON.stringify({ schemaVersion: PROFILE_SCHEMA_VERSION, name: 'p', config });

function errorsOf(text: string): string[] {
  const r = parseProfile(text);
  expect(r.ok).toBe(false);
  return r.ok ? [] : r.errors;
}

const flags = { subflow: true };

describe('endpointPolicy globs', () => {
  it.each([
    [
      'eth[',
      'config.endpointPolicy.0.match: must be an interface name or glob: "[" at position 4 has no closing "]"',
    ],
    [
      '[z-a]',
      'config.endpointPolicy.0.match: must be an interface name or glob: the range "z-a" at position 2 is reversed',
    ],
    [
      'eth[]',
      'config.endpointPolicy.0.match: must be an interface name or glob: "[]" at position 4 is an empty class',
    ],
    [
      'x'.repeat(33),
      'config.endpointPolicy.0.match: must be an interface name or glob of 1 to 32 characters',
    ],
    ['', 'config.endpointPolicy.0.match: must be an interface name or glob of 1 to 32 characters'],
    ['eth 0', 'config.endpointPolicy.0.match: must be an interface name or glob'],
  ])('refuses %j, naming the field and the rule', (match, message) => {
    expect(errorsOf(profileText({ endpointPolicy: [{ match, flags }] }))).toEqual([message]);
  });

  it('accepts the globs people write', () => {
    for (const match of ['eth0', 'wlan*', 'eth[01]', 'enp[0-9]s*', 'wwan?', '*']) {
      expect(parseProfile(profileText({ endpointPolicy: [{ match, flags }] })).ok).toBe(true);
    }
  });

  it('bounds the rules and their families', () => {
    const rules = Array.from({ length: 33 }, () => ({ match: 'eth*', flags }));
    expect(errorsOf(profileText({ endpointPolicy: rules }))).toEqual([
      'config.endpointPolicy: holds at most 32 rules',
    ]);
    const families = Array.from({ length: 100_000 }, () => 'inet');
    expect(errorsOf(profileText({ endpointPolicy: [{ match: 'eth*', flags, families }] }))).toContain(
      'config.endpointPolicy.0.families: lists inet and inet6 at most once each',
    );
    expect(
      errorsOf(profileText({ endpointPolicy: [{ match: 'eth*', flags, families: ['inet', 'inet'] }] })),
    ).toEqual(['config.endpointPolicy.0.families: lists inet and inet6 at most once each']);
  });
});

describe('mtu', () => {
  it(`refuses ${MAX_MTU_ENTRIES + 1} and 10,001 interfaces quickly; accepts ${MAX_MTU_ENTRIES}`, () => {
    const mtu = (n: number): Record<string, number> =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`e${i}`, 1500]));
    expect(MptcpConfigSchema.safeParse({ mtu: mtu(MAX_MTU_ENTRIES) }).success).toBe(true);
    expect(errorsOf(profileText({ mtu: mtu(MAX_MTU_ENTRIES + 1) }))).toEqual([
      `config.mtu: holds at most ${MAX_MTU_ENTRIES} interfaces (got ${MAX_MTU_ENTRIES + 1})`,
    ]);
    const big = profileText({ mtu: mtu(10_001) });
    const start = performance.now();
    expect(errorsOf(big)).toEqual([`config.mtu: holds at most ${MAX_MTU_ENTRIES} interfaces (got 10001)`]);
    expect(performance.now() - start).toBeLessThan(500);
  });

  it('refuses a __proto__ key with a clear message instead of dropping it', () => {
    const errors = errorsOf(profileText({ mtu: JSON.parse('{"eth0":1500,"__proto__":9000}') as unknown }));
    expect(errors).toEqual([
      'config.mtu.__proto__: an interface named "__proto__" cannot be configured: JavaScript objects treat that key as their prototype',
    ]);
    // The same key written in the text itself (what a hand-edited file holds).
    const text = `{"schemaVersion":${PROFILE_SCHEMA_VERSION},"name":"p","config":{"mtu":{"__proto__":1500}}}`;
    expect(errorsOf(text)).toEqual([
      'config.mtu.__proto__: an interface named "__proto__" cannot be configured: JavaScript objects treat that key as their prototype',
    ]);
  });

  it('still checks names and values', () => {
    expect(errorsOf(profileText({ mtu: { 'a-name-of-16-chr': 1500 } })).join('\n')).toMatch(/config\.mtu/);
    expect(errorsOf(profileText({ mtu: { eth0: 67 } })).join('\n')).toMatch(/config\.mtu\.eth0/);
    expect(errorsOf(profileText({ mtu: [1500] })).join('\n')).toMatch(/config\.mtu/);
  });
});

describe('endpoint addresses', () => {
  it.each([
    ['0.0.0.0', 'the unspecified address'],
    ['255.255.255.255', 'the limited broadcast address'],
    ['224.0.0.1', 'a multicast address (224.0.0.0/4'],
    ['239.255.255.255', 'a multicast address'],
    ['::', 'the unspecified address'],
    ['0:0:0:0:0:0:0:0', 'the unspecified address'],
    ['ff02::1', 'a multicast address (ff00::/8'],
    [
      '::ffff:10.0.0.1',
      'an IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2): give it as the IPv4 address 10.0.0.1',
    ],
    ['::FFFF:a00:1', 'give it as the IPv4 address 10.0.0.1'],
    ['0:0:0:0:0:ffff:0a00:0001', 'give it as the IPv4 address 10.0.0.1'],
  ])('refuses %s as an endpoint (%s)', (address, why) => {
    const errors = errorsOf(profileText({ endpoints: [{ address, flags }] }));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`config.endpoints.0.address: cannot be an endpoint: ${address} is `);
    expect(errors[0]).toContain(why);
  });

  it.each([':::', '1::2::3', '12345::1', '1:2:3:4:5:6:7:8:9', '::1.2.3', 'fe80::1%eth0'])(
    'refuses %s, which is not an IPv6 address at all',
    (address) => {
      expect(errorsOf(profileText({ endpoints: [{ address, flags }] })).join('\n')).toMatch(
        /config\.endpoints\.0\.address/,
      );
    },
  );

  it.each(['10.0.0.1', '192.0.2.10', '2001:db8::1', '2001:DB8:0:0::1', 'fd00::1.2.3.4', '::1', '127.0.0.1'])(
    'accepts %s',
    (address) => {
      expect(parseProfile(profileText({ endpoints: [{ address, flags }] })).ok).toBe(true);
      expect(endpointAddressProblem(address)).toBeNull();
    },
  );

  it('parses IPv6 text forms into the same groups', () => {
    expect(ipv6Groups('2001:db8::1')).toEqual([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    expect(ipv6Groups('::ffff:10.0.0.1')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]);
    expect(addressKey('2001:DB8:0::1')).toBe(addressKey('2001:db8::1'));
    expect(addressKey('10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('nope')).toBeNull();
  });
});
