import { describe, expect, it } from 'vitest';
import { parseProfile, ProfileSchema } from './config';
import { formatExport } from './export-formats';
import { planConfig, type Step } from './plan';
import { findPreset, presets } from './presets';
import type { NetInterface, Overview } from './types';

const ifc = (index: number, name: string, addresses: [string, number][], loopback = false): NetInterface => ({
  index,
  name,
  operState: 'up',
  operStateRaw: 6,
  adminUp: true,
  running: true,
  usable: true,
  loopback,
  mtuBytes: 1500,
  minMtuBytes: 68,
  maxMtuBytes: 9000,
  addresses: addresses.map(([address, scope]) => ({
    family: address.includes(':') ? 'inet6' : 'inet',
    address,
    prefixLen: address.includes(':') ? 64 : 24,
    scope,
  })),
});

/** A laptop on 6.18: Ethernet, Wi-Fi and an LTE modem, with every net.mptcp sysctl writable. */
const overview: Overview = {
  status: {
    netns: null,
    kernelRelease: '6.18.0',
    inInitNetns: true,
    mptcpSupported: true,
    enabled: true,
    pathManager: 'kernel',
    availablePathManagers: ['kernel', 'userspace'],
    scheduler: 'default',
    availableSchedulers: ['default'],
    congestionControl: { default: 'cubic', available: ['reno', 'cubic'], allowed: ['reno', 'cubic'] },
    buffers: { tcpRmem: null, tcpWmem: null, rmemMaxBytes: null, wmemMaxBytes: null },
    readOnlySysctls: [],
    mptcpSysctls: [
      ['enabled', '1'],
      ['path_manager', 'kernel'],
      ['pm_type', '0'],
      ['scheduler', 'default'],
      ['add_addr_timeout', '120'],
    ].map(([n, value]) => ({ name: `net.mptcp.${n}`, value: value ?? '', writable: true })),
    privileges: { netAdmin: true, note: null },
  },
  limits: { subflows: 2, addAddrAccepted: 0 },
  endpoints: [],
  interfaces: [
    ifc(
      1,
      'lo',
      [
        ['127.0.0.1', 254],
        ['::1', 254],
      ],
      true,
    ),
    ifc(2, 'eth0', [
      ['192.0.2.10', 0],
      ['2001:db8::10', 0],
      ['fe80::1', 253],
    ]),
    ifc(3, 'wlan0', [['198.51.100.7', 0]]),
    ifc(4, 'wwan0', [['100.64.1.2', 0]]),
  ],
  errors: [],
};

const adds = (steps: Step[]) =>
  steps.flatMap((s) =>
    s.kind === 'endpoint-add'
      ? [
          `${s.endpoint.address} ${s.endpoint.ifname ?? ''} ${Object.entries(s.endpoint.flags)
            .filter(([, v]) => v)
            .map(([k]) => k)
            .join(',')}`,
        ]
      : [],
  );

describe('built-in presets', () => {
  it('are the four documented ones, with unique names', () => {
    expect(presets.map((p) => p.profile.name)).toEqual([
      'dual-homed client (fullmesh)',
      'server (announce all addresses)',
      'datacenter ECMP (ndiffports, not for production)',
      'cellular as backup',
    ]);
    expect(findPreset('cellular as backup')?.profile.config.endpointPolicy).toHaveLength(4);
    expect(findPreset('nope')).toBeUndefined();
  });

  it.each(presets.map((p) => [p.profile.name, p] as const))('%s is a valid profile', (_name, preset) => {
    expect(ProfileSchema.safeParse(preset.profile).success).toBe(true);
    // And survives its own file format (what export json and import do).
    const back = parseProfile(
      formatExport(preset.profile.config, 'json', { name: preset.profile.name, generatedAt: 'x' }).text,
    );
    expect(back.ok && back.profile.config).toEqual(preset.profile.config);
    expect(preset.explanation.length).toBeGreaterThan(200);
    expect(preset.profile.description?.length).toBeGreaterThan(20);
    // sh -n runs on them in export-formats.test.ts (tests under shared/ avoid node: modules).
    expect(() =>
      formatExport(preset.profile.config, 'sh', { name: preset.profile.name, generatedAt: 'x' }),
    ).not.toThrow();
  });

  it.each(presets.map((p) => [p.profile.name, p] as const))(
    '%s plans without errors on a 6.18 laptop',
    (_name, preset) => {
      const plan = planConfig(overview, preset.profile.config);
      expect(plan.errors).toEqual([]);
      expect(plan.warnings).toEqual([]);
    },
  );

  it('dual-homed client: subflow+fullmesh on every global address, limits 8/8', () => {
    const plan = planConfig(overview, findPreset('dual-homed client (fullmesh)')!.profile.config);
    expect(adds(plan.steps)).toEqual([
      '192.0.2.10 eth0 subflow,fullmesh',
      '2001:db8::10 eth0 subflow,fullmesh',
      '198.51.100.7 wlan0 subflow,fullmesh',
      '100.64.1.2 wwan0 subflow,fullmesh',
    ]);
    expect(plan.steps).toContainEqual({
      kind: 'limits',
      from: { subflows: 2, addAddrAccepted: 0 },
      to: { subflows: 8, addAddrAccepted: 8 },
    });
  });

  it('server: signal only, never subflow, and accepts no announcements', () => {
    const p = findPreset('server (announce all addresses)')!;
    expect(p.profile.config.limits).toEqual({ subflows: 8, addAddrAccepted: 0 });
    const added = adds(planConfig(overview, p.profile.config).steps);
    expect(added).toHaveLength(4);
    for (const a of added) expect(a).toMatch(/ signal$/);
    expect(p.explanation).toMatch(/never creates subflows/);
  });

  it('datacenter ECMP: marked not for production, sets limits only, says what is missing', () => {
    const p = findPreset('datacenter ECMP (ndiffports, not for production)')!;
    expect(p.profile.description).toMatch(/^NOT FOR PRODUCTION/);
    expect(p.profile.config.endpoints).toBeUndefined();
    expect(p.profile.config.endpointPolicy).toBeUndefined();
    expect(p.profile.config.pathManager).toBe('kernel');
    expect(p.explanation).toContain('mptcp-studio pm --mode ndiffports');
    expect(adds(planConfig(overview, p.profile.config).steps)).toEqual([]);
  });

  it('cellular as backup: the modem gets backup, the others a plain subflow', () => {
    const plan = planConfig(overview, findPreset('cellular as backup')!.profile.config);
    expect(adds(plan.steps)).toEqual([
      '100.64.1.2 wwan0 subflow,backup',
      '192.0.2.10 eth0 subflow',
      '2001:db8::10 eth0 subflow',
      '198.51.100.7 wlan0 subflow',
    ]);
  });
});
