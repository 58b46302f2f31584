/**
 * The plan's warnings about values the kernel takes without a word, and an export that always
 * parses with the schema it is checked against.
 */
import { describe, expect, it } from 'vitest';
import { MAX_MTU_ENTRIES, MptcpConfigSchema } from './config';
import { exportConfig, planConfig } from './plan';
import { kernelStatus } from './testing/status-fixtures';
import type { Endpoint, NetInterface, Overview } from './types';

function ifc(index: number, name: string, addresses: string[], mtuBytes = 1500): NetInterface {
  return {
    index,
    name,
    operState: 'up',
    operStateRaw: 6,
    adminUp: true,
    running: true,
    usable: true,
    loopback: false,
    mtuBytes,
    minMtuBytes: 68,
    maxMtuBytes: 9000,
    addresses: addresses.map((address) => ({
      family: address.includes(':') ? ('inet6' as const) : ('inet' as const),
      address,
      prefixLen: 24,
      scope: 0,
    })),
  };
}

function endpoint(id: number, address: string): Endpoint {
  return {
    id,
    family: address.includes(':') ? 'inet6' : 'inet',
    address,
    port: null,
    ifindex: null,
    ifname: null,
    flags: { signal: false, subflow: true, backup: false, fullmesh: false, implicit: false, laminar: false },
    rawFlags: 2,
  };
}

const overview = (over: Partial<Overview> = {}): Overview => ({
  status: kernelStatus(),
  limits: { subflows: 2, addAddrAccepted: 0 },
  endpoints: [],
  interfaces: [ifc(2, 'eth0', ['10.0.0.2', '2001:db8::2']), ifc(3, 'wlan0', ['10.0.1.2'])],
  errors: [],
  ...over,
});

const sub = { subflow: true, signal: false, backup: false, fullmesh: false, laminar: false };

describe('plan warnings', () => {
  it('an endpoint on an address no interface holds is planned, with a warning', () => {
    const desired = MptcpConfigSchema.parse({
      endpoints: [
        { address: '10.0.0.2', flags: sub },
        { address: '2001:DB8:0::2', flags: sub },
        { address: '10.9.9.9', flags: sub },
        { address: '10.9.9.8', flags: { signal: true } },
      ],
    });
    const plan = planConfig(overview(), desired);
    expect(plan.errors).toEqual([]);
    expect(plan.steps.filter((s) => s.kind === 'endpoint-add')).toHaveLength(4);
    expect(plan.warnings).toEqual([
      'endpoint 10.9.9.9: no interface here has this address, so no subflow can start from it',
      'endpoint 10.9.9.8: no interface here has this address, so no subflow can start from it, and peers reach the announced address only if it is forwarded to this host',
    ]);
  });

  it('without the interface list (a failed read) it says nothing about addresses', () => {
    const desired = MptcpConfigSchema.parse({ endpoints: [{ address: '10.9.9.9', flags: sub }] });
    expect(planConfig(overview({ interfaces: [] }), desired).warnings).toEqual([]);
  });

  it('tcp_wmem 1 1 1 is planned, with a warning naming the sysctl and the floor', () => {
    const desired = MptcpConfigSchema.parse({
      buffers: { tcpWmem: { minBytes: 1, defaultBytes: 1, maxBytes: 1 } },
    });
    const plan = planConfig(overview(), desired);
    expect(plan.steps).toHaveLength(1);
    expect(plan.warnings).toEqual([
      "net.ipv4.tcp_wmem 1 1 1: min, default, max below 4096 bytes (the kernel's default minimum, Documentation/networking/ip-sysctl.rst): the kernel accepts it, but TCP sockets, MPTCP subflows included, then can never buffer more than a few segments",
    ]);
    const minOnly = planConfig(
      overview(),
      MptcpConfigSchema.parse({
        buffers: { tcpRmem: { minBytes: 1024, defaultBytes: 131072, maxBytes: 6291456 } },
      }),
    );
    expect(minOnly.warnings).toHaveLength(1);
    expect(minOnly.warnings[0]).toMatch(
      /^net\.ipv4\.tcp_rmem 1024 131072 6291456: min below 4096 bytes .* under memory pressure$/,
    );
    expect(
      planConfig(
        overview(),
        MptcpConfigSchema.parse({
          buffers: { tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 6291456 } },
        }),
      ).warnings,
    ).toEqual([]);
  });
});

describe('exportConfig', () => {
  it('leaves out what the schema refuses, so that the export always parses', () => {
    const o = overview({
      endpoints: [
        endpoint(1, '10.0.0.2'),
        endpoint(2, '0.0.0.0'),
        endpoint(3, '::ffff:10.0.0.2'),
        endpoint(4, 'ff02::1'),
      ],
      interfaces: [
        ifc(2, 'eth0', ['10.0.0.2']),
        ifc(3, '__proto__', []),
        ifc(4, 'can0', [], 16),
        ifc(5, 'émoji0', []),
        ...Array.from({ length: MAX_MTU_ENTRIES + 5 }, (_, i) => ifc(10 + i, `v${i}`, [])),
      ],
    });
    const exported = exportConfig(o);
    expect(exported.endpoints?.map((e) => e.address)).toEqual(['10.0.0.2']);
    expect(Object.keys(exported.mtu ?? {})).toHaveLength(MAX_MTU_ENTRIES);
    expect(Object.hasOwn(exported.mtu ?? {}, '__proto__')).toBe(false);
    expect(exported.mtu?.eth0).toBe(1500);
    expect(exported.mtu?.can0).toBeUndefined();
    const parsed = MptcpConfigSchema.safeParse(exported);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
  });
});
