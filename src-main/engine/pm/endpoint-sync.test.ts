import { describe, expect, it } from 'vitest';
import type { Endpoint, NetInterface, Overview } from '../../../shared/types';
import { checkGlob, endpointPolicyFor, planSync } from './endpoint-sync';

function ifc(
  index: number,
  name: string,
  addresses: string[],
  usable = true,
  loopback = false,
): NetInterface {
  return {
    index,
    name,
    operState: usable ? 'up' : 'down',
    operStateRaw: usable ? 6 : 2,
    adminUp: true,
    running: usable,
    usable,
    loopback,
    mtuBytes: 1500,
    minMtuBytes: 68,
    maxMtuBytes: 65535,
    addresses: addresses.map((a) => ({
      family: a.includes(':') ? 'inet6' : 'inet',
      address: a,
      prefixLen: 24,
      scope: a.startsWith('fe80') ? 253 : 0,
    })),
  };
}

function ep(
  id: number,
  address: string,
  flags: Partial<Endpoint['flags']>,
  ifname: string | null = null,
): Endpoint {
  return {
    id,
    family: 'inet',
    address,
    port: null,
    ifindex: ifname ? 1 : null,
    ifname,
    flags: {
      signal: false,
      subflow: false,
      backup: false,
      fullmesh: false,
      laminar: false,
      implicit: false,
      ...flags,
    },
    rawFlags: 0,
  };
}

function overview(interfaces: NetInterface[], endpoints: Endpoint[]): Overview {
  return {
    interfaces,
    endpoints,
    limits: { subflows: 8, addAddrAccepted: 8 },
    errors: [],
  } as unknown as Overview;
}

const client = endpointPolicyFor('client', [], []);

describe('endpointPolicyFor', () => {
  it('client: subflow fullmesh on every interface, backup rules first; server: signal', () => {
    const p = endpointPolicyFor('client', ['eth*'], ['wwan*']);
    expect(p.map((r) => [r.match, r.flags.backup])).toEqual([
      ['wwan*', true],
      ['eth*', false],
    ]);
    expect(p[1]?.flags).toMatchObject({ subflow: true, fullmesh: true, signal: false });
    expect(endpointPolicyFor('server', [], [])).toEqual([
      expect.objectContaining({
        match: '*',
        flags: expect.objectContaining({ signal: true, subflow: false, fullmesh: false }),
      }),
    ]);
  });
  it('checkGlob refuses shell-ish input', () => {
    expect(checkGlob('eth[01]')).toBeNull();
    expect(checkGlob('eth0;rm')).toMatch(/must be an interface name or glob/);
    // The same rule as a profile's endpointPolicy match: a class must close and run forwards.
    expect(checkGlob('eth[')).toMatch(/must be an interface name or glob/);
    expect(checkGlob('eth[z-a]')).toMatch(/must be an interface name or glob/);
  });
});

describe('planSync', () => {
  it('global addresses on usable non-loopback interfaces; not link-local, not down links', () => {
    const o = overview(
      [
        ifc(1, 'lo', ['127.0.0.1'], true, true),
        ifc(2, 'c0', ['10.0.0.1', 'fe80::1']),
        ifc(3, 'c1', ['10.0.1.1'], false),
      ],
      [],
    );
    const p = planSync(o, client, new Set());
    expect(p.endpoints).toEqual([
      {
        address: '10.0.0.1',
        ifname: 'c0',
        flags: expect.objectContaining({ subflow: true, fullmesh: true }),
      },
    ]);
  });

  it('keeps foreign endpoints as they are and replaces managed ones (down link, wrong flags)', () => {
    const o = overview(
      [ifc(2, 'c0', ['10.0.0.1']), ifc(3, 'c1', ['10.0.1.1'], false), ifc(4, 'x0', ['10.0.9.1'])],
      [
        ep(1, '10.0.0.1', { signal: true }, 'c0'),
        ep(2, '10.0.1.1', { subflow: true, fullmesh: true }, 'c1'),
        ep(5, '10.0.9.1', { signal: true }, 'x0'),
        ep(6, '192.0.2.7', { subflow: true }),
        ep(7, '10.0.3.3', { implicit: true }),
      ],
    );
    const p = planSync(o, endpointPolicyFor('client', ['c*'], []), new Set());
    expect(p.foreign.map((e) => e.id)).toEqual([5, 6]);
    expect(p.managed.map((e) => e.id)).toEqual([1, 2]);
    expect(p.endpoints).toEqual([
      { address: '10.0.9.1', id: 5, ifname: 'x0', flags: expect.objectContaining({ signal: true }) },
      { address: '192.0.2.7', id: 6, flags: expect.objectContaining({ subflow: true }) },
      {
        address: '10.0.0.1',
        ifname: 'c0',
        flags: expect.objectContaining({ subflow: true, fullmesh: true }),
      },
    ]);
  });

  it('an endpoint it owns stays managed after its address and interface are gone', () => {
    const o = overview([ifc(2, 'c0', ['10.0.0.1'])], [ep(3, '10.0.5.5', { subflow: true, fullmesh: true })]);
    expect(planSync(o, client, new Set()).foreign.map((e) => e.id)).toEqual([3]);
    const owned = planSync(o, client, new Set(['10.0.5.5:0']));
    expect(owned.foreign).toEqual([]);
    expect(owned.endpoints.map((e) => e.address)).toEqual(['10.0.0.1']);
  });

  it('the 8-endpoint cap counts foreign and implicit endpoints and names what it leaves out', () => {
    const addrs = Array.from({ length: 9 }, (_, i) => `10.1.0.${i + 1}`);
    const o = overview(
      [ifc(2, 'c0', addrs)],
      [ep(20, '192.0.2.1', { signal: true }), ep(21, '10.3.3.3', { implicit: true })],
    );
    const p = planSync(o, client, new Set());
    expect(p.endpoints).toHaveLength(7);
    expect(p.leftOut).toEqual(addrs.slice(6));
    expect(p.warnings[0]).toMatch(
      /holds 8 \(1 foreign and 1 implicit endpoints kept\), so these are left out: 10\.1\.0\.7, 10\.1\.0\.8, 10\.1\.0\.9/,
    );
  });

  it('backup globs win over match globs and make their interfaces managed', () => {
    const o = overview([ifc(2, 'eth0', ['10.0.0.1']), ifc(3, 'wwan0', ['10.0.7.1'])], []);
    const p = planSync(o, endpointPolicyFor('client', ['eth0'], ['wwan*']), new Set());
    expect(p.endpoints.map((e) => [e.address, e.flags.backup])).toEqual([
      ['10.0.7.1', true],
      ['10.0.0.1', false],
    ]);
  });
});
