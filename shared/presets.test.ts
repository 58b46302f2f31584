import { describe, expect, it } from 'vitest';
import { parseProfile, ProfileSchema } from './config';
import { formatExport } from './export-formats';
import { planConfig, shellForStep, type Step } from './plan';
import { findPreset, presets } from './presets';
import { kernelStatus, unreadBuffers } from './testing/status-fixtures';
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
  status: kernelStatus({
    buffers: unreadBuffers,
    mptcpSysctls: [
      ['enabled', '1'],
      ['path_manager', 'kernel'],
      ['pm_type', '0'],
      ['scheduler', 'default'],
      ['add_addr_timeout', '120'],
    ].map(([n, value]) => ({ name: `net.mptcp.${n}`, value: value ?? '', writable: true })),
  }),
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
  // A default route per uplink in the main table (different metrics), as NetworkManager sets them.
  routing: {
    rules: [],
    routes: [
      ['192.0.2.1', 2, 'eth0', 100],
      ['2001:db8::1', 2, 'eth0', 100],
      ['198.51.100.1', 3, 'wlan0', 600],
      ['100.64.1.1', 4, 'wwan0', 700],
    ].map(([gateway, ifindex, ifname, metric]) => ({
      family: String(gateway).includes(':') ? ('inet6' as const) : ('inet' as const),
      table: 254,
      dst: null,
      dstLen: 0,
      gateway: String(gateway),
      ifindex: Number(ifindex),
      ifname: String(ifname),
      prefsrc: null,
      protocol: 16,
      scope: 0,
      type: 1,
      metric: Number(metric),
    })),
    rpFilter: { all: 0, byIfname: { lo: 0, eth0: 1, wlan0: 1, wwan0: 1 }, writable: true },
  },
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
    // Each address gets its own table through its interface's gateway, and rp_filter goes loose.
    expect(
      plan.steps.filter((s) => s.kind === 'rule-add' || s.kind === 'sysctl').map((s) => shellForStep(s)),
    ).toEqual([
      'ip rule add from 192.0.2.10 lookup 10000 priority 10000 protocol 77',
      'ip -6 rule add from 2001:db8::10 lookup 10001 priority 10001 protocol 77',
      'ip rule add from 198.51.100.7 lookup 10002 priority 10002 protocol 77',
      'ip rule add from 100.64.1.2 lookup 10003 priority 10003 protocol 77',
      'sysctl -w net.ipv4.conf.eth0.rp_filter=2',
      'sysctl -w net.ipv4.conf.wlan0.rp_filter=2',
      'sysctl -w net.ipv4.conf.wwan0.rp_filter=2',
    ]);
    expect(plan.steps.map((s) => shellForStep(s))).toContain(
      'ip route add default via 198.51.100.1 dev wlan0 table 10002 proto 77',
    );
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
