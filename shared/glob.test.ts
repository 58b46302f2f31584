import { describe, expect, it } from 'vitest';
import { MptcpConfigSchema } from './config';
import { compileGlob, globError, globMatch } from './glob';
import { expandPolicy } from './plan';
import { below, fuzzLoop, mulberry32, pick } from './testing/fuzz';
import type { NetInterface } from './types';

function ifc(index: number, name: string, address: string): NetInterface {
  return {
    index,
    name,
    operState: 'up',
    operStateRaw: 6,
    adminUp: true,
    running: true,
    usable: true,
    loopback: false,
    mtuBytes: 1500,
    minMtuBytes: 68,
    maxMtuBytes: 9000,
    addresses: [{ family: 'inet', address, prefixLen: 24, scope: 0 }],
  };
}

/** Exhaustive reference: every split of the name for every star (exponential, small inputs only). */
function reference(glob: string, name: string): boolean {
  if (glob === '') return name === '';
  const c = glob[0]!;
  if (c === '*') {
    for (let k = 0; k <= name.length; k++) if (reference(glob.slice(1), name.slice(k))) return true;
    return false;
  }
  if (name === '') return false;
  if (c === '?') return reference(glob.slice(1), name.slice(1));
  if (c === '[') {
    const close = glob.indexOf(']', 1);
    const body = glob.slice(1, close);
    let hit = false;
    for (let k = 0; k < body.length; k++) {
      if (body[k + 1] === '-' && k + 2 < body.length) {
        if (name[0]! >= body[k]! && name[0]! <= body[k + 2]!) hit = true;
        k += 2;
      } else if (body[k] === name[0]) hit = true;
    }
    return hit && reference(glob.slice(close + 1), name.slice(1));
  }
  return c === name[0] && reference(glob.slice(1), name.slice(1));
}

describe('globMatch', () => {
  it.each([
    ['eth*', 'eth0', true],
    ['eth*', 'eth', true],
    ['eth*', 'veth0', false],
    ['wlan?', 'wlan0', true],
    ['wlan?', 'wlan10', false],
    ['eth[01]', 'eth1', true],
    ['eth[01]', 'eth2', false],
    ['enp[0-9]s*', 'enp3s0f1', true],
    ['enp[0-9]s*', 'enpxs0', false],
    ['[-a]x', '-x', true],
    ['[a-]x', '-x', true],
    ['*', 'lo', true],
    ['*0', 'eth0', true],
    ['*0', 'eth01', false],
    ['e*t*h', 'eth', true],
    ['a*b*c', 'aXbYbZc', true],
    ['a*b*c', 'aXbYcZ', false],
    ['c0', 'c0', true],
    ['c0', 'c00', false],
    ['wg.vpn', 'wgXvpn', false],
  ])('%s against %s: %s', (glob, name, want) => {
    expect(globMatch(glob, name)).toBe(want);
    expect(compileGlob(glob)?.(name)).toBe(want);
  });

  it('a 32-character pathological glob against two 10-character names finishes in well under 50 ms', () => {
    // As a backtracking regex (`^.*.*….*xxx…$`) this glob took ~1 s on these two names; with 31
    // stars and one x, 47 s.
    const glob = '*'.repeat(20) + 'x'.repeat(12);
    expect(glob).toHaveLength(32);
    const interfaces = [ifc(2, 'eth0123456', '10.0.0.1'), ifc(3, 'wlan012345', '10.0.1.1')];
    const policy = MptcpConfigSchema.parse({ endpointPolicy: [{ match: glob, flags: {} }] }).endpointPolicy!;
    const start = performance.now();
    expect(expandPolicy(policy, interfaces)).toEqual([]);
    for (const i of interfaces) expect(globMatch(glob, i.name)).toBe(false);
    expect(performance.now() - start).toBeLessThan(50);
  });

  it('runs of stars and classes stay linear: 31 stars and an x, 32 classes', () => {
    const start = performance.now();
    expect(globMatch('*'.repeat(31) + 'x', 'eth0123456')).toBe(false);
    expect(globMatch('*[a-z0-9]'.repeat(3) + '*'.repeat(10) + 'x', 'wlan012345')).toBe(false);
    expect(performance.now() - start).toBeLessThan(50);
  });

  it('agrees with an exhaustive reference on 20,000 random globs and names (seeded)', () => {
    const r = mulberry32(0x61_0b);
    const atoms = ['*', '?', 'a', 'b', 'c', '0', '1', '[ab]', '[a-c]', '[0-1b]', '[-a]'];
    const ran = fuzzLoop(20_000, 900, (i) => {
      let glob = '';
      for (let k = below(r, 7); k > 0; k--) glob += pick(r, atoms);
      let name = '';
      for (let k = below(r, 8); k > 0; k--) name += pick(r, ['a', 'b', 'c', '0', '1', '-']);
      if (globMatch(glob, name) !== reference(glob, name))
        throw new Error(`iteration ${i}: ${JSON.stringify(glob)} vs ${JSON.stringify(name)}`);
    });
    expect(ran).toBeGreaterThan(1000);
  });
});

describe('globError', () => {
  it.each([
    ['eth[', /"\[" at position 4 has no closing "\]"/],
    ['[z-a]', /the range "z-a" at position 2 is reversed/],
    ['eth[]', /empty class/],
    ['eth]', /"\]" at position 4 closes no "\["/],
  ])('%s is an error, matches nothing and never throws', (glob, re) => {
    expect(globError(glob)).toMatch(re);
    expect(compileGlob(glob)).toBeNull();
    expect(() => globMatch(glob, 'eth0')).not.toThrow();
    expect(globMatch(glob, 'eth0')).toBe(false);
    expect(globMatch(glob, glob)).toBe(false);
  });

  it('a policy rule with an invalid glob (which the schema refuses) expands to nothing', () => {
    const rule = {
      match: 'eth[',
      flags: { signal: false, subflow: true, backup: false, fullmesh: false, laminar: false },
      families: ['inet' as const],
    };
    expect(() => expandPolicy([rule], [ifc(2, 'eth[', '10.0.0.1')])).not.toThrow();
    expect(expandPolicy([rule], [ifc(2, 'eth0', '10.0.0.1')])).toEqual([]);
  });

  it.each(['eth*', 'wlan?', 'eth[01]', 'enp[0-9]s*', '*', 'c0'])('%s is valid', (glob) => {
    expect(globError(glob)).toBeNull();
  });
});
