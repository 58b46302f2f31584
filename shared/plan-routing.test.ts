/**
 * Source routing and rp_filter as plan steps (docs/configuration.md, "Source routing"): the steps,
 * their order, inverses, shell equivalents, no-op elision, ownership (only MPTCP Studio's rules and
 * routes are touched) and their impact on live traffic.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_SOURCE_RULES,
  MptcpConfigSchema,
  parseProfile,
  RoutingConfigSchema,
  STUDIO_RTPROT,
  type MptcpConfig,
} from './config';
import { formatExport } from './export-formats';
import { exportConfig, invertStep, planConfig, planView, shellForStep, type Step } from './plan';
import { exportRouting, networkOf, shellForRoutingStep, withSourceRules } from './plan-routing';
import type { RouteEntry, RouteRule, RoutingState } from './routing';
import { kernelStatus } from './testing/status-fixtures';
import { prng, syntheticConnection } from './testing/synthetic';
import type { ConnectionsSnapshot, NetInterface, Overview } from './types';

function ifc(index: number, name: string, address: string, prefixLen = 24): NetInterface {
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
    addresses: [{ family: address.includes(':') ? 'inet6' : 'inet', address, prefixLen, scope: 0 }],
  };
}

const route = (over: Partial<RouteEntry>): RouteEntry => ({
  family: 'inet',
  table: 254,
  dst: null,
  dstLen: 0,
  gateway: null,
  ifindex: 2,
  ifname: 'c1',
  prefsrc: null,
  protocol: 3,
  scope: 0,
  type: 1,
  metric: null,
  ...over,
});

const rule = (over: Partial<RouteRule>): RouteRule => ({
  family: 'inet',
  priority: 32766,
  src: null,
  srcLen: 0,
  dst: null,
  dstLen: 0,
  table: 254,
  action: 1,
  protocol: 0,
  iifname: null,
  oifname: null,
  fwmark: null,
  ...over,
});

/** A client with two uplinks; only c1's default route is in the main table. */
function overview(routing: Partial<RoutingState> = {}): Overview {
  return {
    status: kernelStatus(),
    limits: { subflows: 2, addAddrAccepted: 0 },
    endpoints: [],
    interfaces: [ifc(2, 'c1', '10.1.1.2'), ifc(3, 'c2', '10.1.2.2'), ifc(4, 'c3', '2001:db8:3::2', 64)],
    routing: {
      rules: [
        rule({ priority: 0, table: 255 }),
        rule({ priority: 32766, table: 254 }),
        rule({ priority: 32767, table: 253 }),
      ],
      routes: [route({ gateway: '10.1.1.1', ifindex: 2, ifname: 'c1' })],
      rpFilter: { all: 0, byIfname: { c1: 1, c2: 1, c3: 0 }, writable: true },
      ...routing,
    },
    errors: [],
  };
}

/** The kernel after `steps` ran, as far as routing goes (what the fake kernel does too). */
function after(o: Overview, steps: Step[]): Overview {
  const r = structuredClone(o.routing!);
  for (const s of steps) {
    if (s.kind === 'rule-add') r.rules.push(rule({ ...s.rule, protocol: STUDIO_RTPROT }));
    else if (s.kind === 'route-add') r.routes.push(route({ ...s.route, protocol: STUDIO_RTPROT }));
    else if (s.kind === 'rule-del')
      r.rules = r.rules.filter(
        (x) => !(x.protocol === STUDIO_RTPROT && x.table === s.rule.table && x.src === s.rule.src),
      );
    else if (s.kind === 'route-del')
      r.routes = r.routes.filter(
        (x) =>
          !(
            x.protocol === STUDIO_RTPROT &&
            x.table === s.route.table &&
            x.dst === s.route.dst &&
            x.gateway === s.route.gateway
          ),
      );
    else if (s.kind === 'sysctl') {
      const m = /^net\.ipv4\.conf\.(.+)\.rp_filter$/.exec(s.name);
      if (m) r.rpFilter.byIfname[m[1]!] = Number(s.to);
    }
  }
  return { ...o, routing: r };
}

const c2Rule: MptcpConfig = {
  routing: { sourceRules: [{ address: '10.1.2.2', ifname: 'c2', gateway: '10.1.2.1' }] },
};

describe('source rules', () => {
  it('plans the connected route, then the default route, then the rule, with their shell equivalents', () => {
    const p = planConfig(overview(), c2Rule);
    expect(p.errors).toEqual([]);
    expect(p.steps.map((s) => shellForStep(s))).toEqual([
      'ip route add 10.1.2.0/24 dev c2 src 10.1.2.2 scope link table 10000 proto 77',
      'ip route add default via 10.1.2.1 dev c2 table 10000 proto 77',
      'ip rule add from 10.1.2.2 lookup 10000 priority 10000 protocol 77',
    ]);
  });

  it('is a no-op once applied, and its export plans nothing', () => {
    const o = overview();
    const applied = after(o, planConfig(o, c2Rule).steps);
    expect(planConfig(applied, c2Rule).steps).toEqual([]);
    const exported = exportConfig(applied);
    expect(exported.routing?.sourceRules).toEqual([
      { address: '10.1.2.2', ifname: 'c2', table: 10000, gateway: '10.1.2.1' },
    ]);
    expect(MptcpConfigSchema.safeParse(exported).success).toBe(true);
    expect(planConfig(applied, exported).steps).toEqual([]);
  });

  it('removes its own rule before its routes, and never touches a rule or route it did not create', () => {
    const o = overview();
    const applied = after(o, planConfig(o, c2Rule).steps);
    // Someone else's rule and route in MPTCP Studio's range, and a rule at the same priority.
    applied.routing!.rules.push(rule({ priority: 10500, table: 10500, src: '10.1.1.2', srcLen: 32 }));
    applied.routing!.routes.push(route({ table: 10500, gateway: '10.1.1.1' }));
    const p = planConfig(applied, { routing: { sourceRules: [] } });
    expect(p.steps.map((s) => s.kind)).toEqual(['rule-del', 'route-del', 'route-del']);
    expect(
      p.steps.every(
        (s) => (s.kind === 'rule-del' ? s.rule.table : s.kind === 'route-del' ? s.route.table : 0) === 10000,
      ),
    ).toBe(true);
    expect(shellForStep(p.steps[0]!)).toBe(
      'ip rule del from 10.1.2.2 lookup 10000 priority 10000 protocol 77',
    );
  });

  it('inverts every step into its opposite, so a rollback deletes the rule before the routes', () => {
    const steps = planConfig(overview(), c2Rule).steps;
    const undo = [...steps].reverse().map((s) => invertStep(s)!);
    expect(undo.map((s) => s.kind)).toEqual(['rule-del', 'route-del', 'route-del']);
    expect(undo.map((s) => invertStep(s))).toEqual([...steps].reverse());
  });

  it('comes before the endpoint steps', () => {
    const p = planConfig(overview(), {
      ...c2Rule,
      endpoints: [
        {
          address: '10.1.2.2',
          flags: { signal: false, subflow: true, backup: false, fullmesh: false, laminar: false },
        },
      ],
    });
    expect(p.steps.map((s) => s.kind)).toEqual(['route-add', 'route-add', 'rule-add', 'endpoint-add']);
  });

  it('takes the gateway from the main table, or warns that only the own network is reachable', () => {
    const o = overview({
      routes: [
        route({ gateway: '10.1.1.1' }),
        route({ gateway: '10.1.2.1', ifindex: 3, ifname: 'c2', metric: 200 }),
      ],
    });
    const p = planConfig(o, { routing: { sourceRules: [{ address: '10.1.2.2', ifname: 'c2' }] } });
    expect(p.steps.map((s) => shellForStep(s))[1]).toBe(
      'ip route add default via 10.1.2.1 dev c2 table 10000 proto 77',
    );
    const q = planConfig(overview(), { routing: { sourceRules: [{ address: '10.1.2.2', ifname: 'c2' }] } });
    expect(q.steps.map((s) => s.kind)).toEqual(['route-add', 'rule-add']);
    expect(q.warnings.join()).toMatch(/no default gateway is known through c2/);
  });

  it('refuses an address the interface does not have, an unknown interface, and a table holding foreign routes', () => {
    expect(
      planConfig(overview(), {
        routing: { sourceRules: [{ address: '10.1.1.2', ifname: 'c2' }] },
      }).errors.join(),
    ).toMatch(/c2 does not have this address/);
    expect(
      planConfig(overview(), {
        routing: { sourceRules: [{ address: '10.1.2.2', ifname: 'nope0' }] },
      }).errors.join(),
    ).toMatch(/interface nope0 does not exist/);
    const o = overview({
      routes: [route({ gateway: '10.1.1.1' }), route({ table: 10000, gateway: '10.1.1.1' })],
    });
    const p = planConfig(o, {
      routing: { sourceRules: [{ address: '10.1.2.2', ifname: 'c2', table: 10000 }] },
    });
    expect(p.errors.join()).toMatch(/table 10000 holds 1 route\(s\) MPTCP Studio did not create/);
    expect(p.steps).toEqual([]);
    // Without a table, the plan skips the one in use.
    const q = planConfig(o, { routing: { sourceRules: [{ address: '10.1.2.2', ifname: 'c2' }] } });
    expect(q.errors).toEqual([]);
    expect(q.steps.every((s) => s.kind !== 'rule-add' || s.rule.table === 10001)).toBe(true);
  });

  it('refuses a table that a rule it did not create looks up, even with no route in it yet', () => {
    // `ip rule add fwmark 0x1 lookup 10000`: routes added to 10000 would carry that traffic too.
    const o = overview();
    o.routing!.rules.push(rule({ priority: 100, table: 10000, fwmark: 1 }));
    const p = planConfig(o, {
      routing: { sourceRules: [{ address: '10.1.2.2', ifname: 'c2', table: 10000, gateway: '10.1.2.1' }] },
    });
    expect(p.errors.join()).toMatch(/table 10000 is looked up by a rule MPTCP Studio did not create/);
    expect(p.steps).toEqual([]);
    // Without a table, the plan picks another.
    const q = planConfig(o, { routing: { sourceRules: [{ address: '10.1.2.2', ifname: 'c2' }] } });
    expect(q.errors).toEqual([]);
    expect(q.steps.every((s) => s.kind !== 'rule-add' || s.rule.table === 10001)).toBe(true);
  });

  it('expands a sourcePolicy for every global address of matching interfaces, IPv6 with `ip -6`', () => {
    const p = planConfig(overview(), {
      routing: { sourcePolicy: [{ match: 'c[23]', families: ['inet', 'inet6'] }] },
    });
    expect(p.steps.filter((s) => s.kind === 'rule-add').map((s) => shellForStep(s))).toEqual([
      'ip rule add from 10.1.2.2 lookup 10000 priority 10000 protocol 77',
      'ip -6 rule add from 2001:db8:3::2 lookup 10001 priority 10001 protocol 77',
    ]);
    expect(p.steps.map((s) => shellForStep(s))).toContain(
      'ip -6 route add 2001:db8:3::/64 dev c3 src 2001:db8:3::2 table 10001 proto 77',
    );
  });

  it('refuses bad configs with the field named', () => {
    const bad = (routing: unknown): string[] => {
      const r = MptcpConfigSchema.safeParse({ routing });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(bad({ sourceRules: [{ address: '10.1.2.2', ifname: 'c2', table: 254 }] }).join()).toMatch(
      /table: must be in 10000..10999/,
    );
    expect(
      bad({ sourceRules: [{ address: '10.1.2.2', ifname: 'c2', gateway: '2001:db8::1' }] }).join(),
    ).toMatch(/same family/);
    expect(bad({ rpFilter: { all: 2 } }).join()).toMatch(/global/);
    expect(bad({ rpFilter: { c1: 3 } }).length).toBeGreaterThan(0);
    expect(bad({ sourceRules: [], sourcePolicy: [{ match: 'c*' }] }).join()).toMatch(/not both/);
    expect(
      bad({
        sourceRules: [
          { address: '10.1.2.2', ifname: 'c2' },
          { address: '10.1.2.2', ifname: 'c1' },
        ],
      }).join(),
    ).toMatch(/duplicate/);
  });
});

describe('rp_filter', () => {
  it('is a sysctl step per interface (names or globs), skipped where already set', () => {
    const p = planConfig(overview(), { routing: { rpFilter: { 'c*': 2 } } });
    expect(p.steps.map((s) => shellForStep(s))).toEqual([
      'sysctl -w net.ipv4.conf.c1.rp_filter=2',
      'sysctl -w net.ipv4.conf.c2.rp_filter=2',
      'sysctl -w net.ipv4.conf.c3.rp_filter=2',
    ]);
    const o = after(overview(), p.steps);
    expect(planConfig(o, { routing: { rpFilter: { 'c*': 2 } } }).steps).toEqual([]);
    expect(invertStep(p.steps[0]!)).toMatchObject({ name: 'net.ipv4.conf.c1.rp_filter', from: '2', to: '1' });
  });

  it('says when conf.all overrides it, and refuses a read-only namespace', () => {
    const o = overview({ rpFilter: { all: 1, byIfname: { c1: 1, c2: 1, c3: 0 }, writable: true } });
    // The kernel uses the larger number (IN_DEV_MAXCONF): 2 over all=1 is loose, 0 under it is not.
    expect(planConfig(o, { routing: { rpFilter: { c2: 2 } } }).warnings).toEqual([]);
    expect(planConfig(o, { routing: { rpFilter: { c2: 0 } } }).warnings.join()).toMatch(/all.rp_filter is 1/);
    const ro = overview({ rpFilter: { all: 0, byIfname: { c1: 1, c2: 1 }, writable: false } });
    expect(planConfig(ro, { routing: { rpFilter: { c2: 2 } } }).errors).toEqual([
      'net.ipv4.conf.c2.rp_filter is read-only here',
    ]);
  });

  it('writes a VLAN name in the slash form sysctl(8) needs', () => {
    const o = overview();
    o.interfaces.push(ifc(9, 'eth0.100', '10.9.9.9'));
    o.routing!.rpFilter.byIfname['eth0.100'] = 1;
    const p = planConfig(o, { routing: { rpFilter: { 'eth0.100': 0 } } });
    expect(p.steps.map((s) => shellForStep(s))).toEqual(['sysctl -w net/ipv4/conf/eth0.100/rp_filter=0']);
  });
});

describe('impact on live traffic', () => {
  function liveFrom(address: string, n: number): ConnectionsSnapshot {
    const r = prng(7);
    const connections = Array.from({ length: n }, (_, i) => {
      const c = syntheticConnection(r, 100 + i, 1);
      c.fallback = false;
      c.subflows = c.subflows.map((sf) => ({ ...sf, state: 'ESTABLISHED' as const, localAddress: address }));
      return c;
    });
    return { takenAtMs: 1, pollDurationUs: 1, connections, orphanSubflows: 0 };
  }

  it('says that existing subflows from the address may re-route, and new ones use the rule', () => {
    const v = planView(overview(), c2Rule, { connections: liveFrom('10.1.2.2', 3) });
    const ruleStep = v.steps.find((s) => s.step.kind === 'rule-add')!;
    expect(ruleStep.impact.level).toBe('live');
    expect(ruleStep.impact.text).toBe(
      'applies to new subflows; 3 live subflows of 3 connections from 10.1.2.2 may re-route (table 10000: they leave by c2 via 10.1.2.1); none closes',
    );
    const none = planView(overview(), c2Rule, { connections: liveFrom('10.1.1.2', 2) });
    expect(none.steps.find((s) => s.step.kind === 'rule-add')!.impact.level).toBe('new');
    // Never a consent-needing step: no subflow is closed by a routing change.
    expect(v.steps.every((s) => s.impact.level !== 'closes')).toBe(true);
  });

  it('previews a removal that may stall live subflows', () => {
    const o = overview();
    const applied = after(o, planConfig(o, c2Rule).steps);
    const v = planView(applied, { routing: { sourceRules: [] } }, { connections: liveFrom('10.1.2.2', 2) });
    expect(v.steps[0]!.impact.text).toBe(
      '2 live subflows of 2 connections from 10.1.2.2 follow the main table from now on; where that does not reach their peers by their own path they may stall (none closes at once)',
    );
    // The routes go after their rule: no rule uses the table any more.
    expect(v.steps[1]!.impact.level).toBe('none');
  });

  it('says a stricter rp_filter may drop packets of live subflows on the interface', () => {
    const o = overview({ rpFilter: { all: 0, byIfname: { c1: 0, c2: 0, c3: 0 }, writable: true } });
    const v = planView(o, { routing: { rpFilter: { c2: 1 } } }, { connections: liveFrom('10.1.2.2', 1) });
    expect(v.steps[0]!.impact.text).toMatch(
      /dropped from now on: 1 live subflow of 1 connection on c2 stall if their path is asymmetric/,
    );
  });
});

it('networkOf clears the host bits', () => {
  expect(networkOf({ family: 'inet', address: '10.1.2.77', prefixLen: 24 })).toBe('10.1.2.0');
  expect(networkOf({ family: 'inet', address: '10.1.2.77', prefixLen: 0 })).toBe('0.0.0.0');
  expect(networkOf({ family: 'inet6', address: '2001:db8:3::2', prefixLen: 64 })).toBe('2001:db8:3::');
  expect(networkOf({ family: 'inet6', address: '2001:db8:3:4:5::2', prefixLen: 56 })).toBe('2001:db8:3::');
});

describe('exports', () => {
  const meta = { name: 'routed', generatedAt: '2026-01-01T00:00:00Z' };
  const config: MptcpConfig = {
    routing: {
      sourceRules: [
        { address: '10.1.2.2', ifname: 'c2', gateway: '10.1.2.1' },
        { address: '2001:DB8:3::2', ifname: 'c3', table: 10007 },
      ],
      rpFilter: { c2: 2, 'eth0.100': 0, 'wl*': 2 },
    },
  };

  it('sh sets the rules with the same fewest-disruption behaviour: replace, add if missing, remove only its own', () => {
    const sh = formatExport(config, 'sh', meta).text;
    expect(sh).toContain('mptcp_studio_source 10.1.2.2 c2 - 10.1.2.1\n');
    // The address as `ip` prints it, so the script can compare it as text.
    expect(sh).toContain('mptcp_studio_source 2001:db8:3::2 c3 10007 -\n');
    expect(sh).toContain('mptcp_studio_source_finish\n');
    expect(sh).toContain('ip $s_f route replace default via "$s_gw" dev "$2" table "$s_t" proto 77');
    expect(sh).toContain('ip $s_f rule del from "$a" lookup "$t" priority "$t" protocol 77');
    expect(sh).not.toMatch(/rule flush|route flush table "\$t"$/m);
    expect(sh).toContain('sysctl -w net.ipv4.conf.c2.rp_filter=2\n');
    expect(sh).toContain('sysctl -w net/ipv4/conf/eth0.100/rp_filter=0\n');
    expect(sh).toContain('for f in /proc/sys/net/ipv4/conf/wl*/rp_filter; do');
  });

  it('sysctl.d carries rp_filter and says that the rules need the boot script or networkd', () => {
    const text = formatExport(config, 'sysctl.d', meta).text;
    const sysctlD = text.slice(
      text.indexOf('# ----- BEGIN /etc/sysctl.d'),
      text.indexOf('# ----- END /etc/sysctl.d'),
    );
    expect(sysctlD).toContain('net.ipv4.conf.c2.rp_filter = 2\n');
    expect(sysctlD).toContain('net/ipv4/conf/eth0.100/rp_filter = 0\n');
    expect(text).toMatch(/systemd-networkd or NetworkManager/);
    const script = text.slice(text.indexOf('# ----- BEGIN /usr/local/sbin'));
    expect(script).toContain('mptcp_studio_source 10.1.2.2 c2 - 10.1.2.1\n');
    // Names are in sysctl.d, only the glob is left to the boot script.
    expect(script).not.toContain('net.ipv4.conf.c2.rp_filter');
    expect(script).toContain('/proc/sys/net/ipv4/conf/wl*/rp_filter');
  });

  it('json is a profile that parses back to the same config', () => {
    const back = parseProfile(formatExport(config, 'json', meta).text);
    expect(back.ok && back.profile.config.routing).toEqual(config.routing);
  });

  it('refuses a value that is not safe to write into a script', () => {
    const bad = { routing: { sourceRules: [{ address: '10.1.2.2', ifname: 'c2;reboot' }] } } as MptcpConfig;
    expect(() => formatExport(bad, 'sh', meta)).toThrow(/ifname/);
  });
});

it('withSourceRules adds to the rules MPTCP Studio has, never replaces them', () => {
  const o = overview();
  const applied = after(o, planConfig(o, c2Rule).steps);
  expect(
    withSourceRules(applied, [
      { address: '10.1.1.2', ifname: 'c1' },
      { address: '10.1.2.2', ifname: 'c2' },
    ]),
  ).toEqual({
    routing: {
      sourceRules: [
        { address: '10.1.2.2', ifname: 'c2', table: 10000, gateway: '10.1.2.1' },
        { address: '10.1.1.2', ifname: 'c1' },
      ],
    },
  });
});

describe('export of what the kernel holds', () => {
  /** An owned rule for `src` in `table` with its default route out of `ifname`. */
  const owned = (src: string, table: number, ifname: string): { rule: RouteRule; route: RouteEntry } => ({
    rule: rule({ priority: table, table, src, srcLen: 32, protocol: STUDIO_RTPROT }),
    route: route({ table, ifname, gateway: '10.1.2.1', protocol: STUDIO_RTPROT }),
  });

  it('leaves out what a config cannot say, so the export passes its own schema', () => {
    const live = [
      owned('10.1.2.2', 10001, 'c2'),
      owned('10.1.2.2', 10002, 'c2'), // a second rule for the same address
      owned('10.1.9.2', 10003, 'bad name;x'), // an interface name the config refuses
      owned('10.1.8.2', 10004, 'sixteen-chars-xx'), // longer than IFNAMSIZ - 1
      ...Array.from({ length: MAX_SOURCE_RULES + 5 }, (_, i) =>
        owned(`10.2.${Math.floor(i / 200)}.${(i % 200) + 1}`, 10010 + i, 'c1'),
      ),
    ];
    const o = overview({
      rules: live.map((l) => l.rule),
      routes: live.map((l) => l.route),
      rpFilter: { all: 0, byIfname: { c1: 1, c2: 1, c3: 0, default: 2 }, writable: true },
    });
    o.interfaces.push(ifc(9, 'default', '10.9.9.2'));
    const exported = exportRouting(o)!;
    expect(RoutingConfigSchema.safeParse(exported).success).toBe(true);
    const rules = exported.sourceRules!;
    expect(rules).toHaveLength(MAX_SOURCE_RULES);
    expect(rules[0]).toEqual({ address: '10.1.2.2', ifname: 'c2', table: 10001, gateway: '10.1.2.1' });
    expect(rules.filter((r) => r.address === '10.1.2.2')).toHaveLength(1);
    expect(rules.some((r) => r.ifname !== 'c1' && r.ifname !== 'c2')).toBe(false);
    expect(exported.rpFilter).toEqual({ c1: 1, c2: 1, c3: 0 });
  });

  it("quotes the kernel's interface name in a route-del's shell line", () => {
    const step = {
      kind: 'route-del' as const,
      route: {
        family: 'inet' as const,
        table: 10001,
        dst: null,
        dstLen: 0,
        gateway: '10.1.2.1',
        ifindex: 7,
        ifname: "x$(reboot)'y",
        prefsrc: null,
        scope: 0,
      },
    };
    expect(shellForRoutingStep(step)).toBe(
      `ip route del default via 10.1.2.1 dev 'x$(reboot)'\\''y' table 10001 proto ${STUDIO_RTPROT}`,
    );
    expect(shellForRoutingStep({ ...step, route: { ...step.route, ifname: 'c2' } })).toBe(
      `ip route del default via 10.1.2.1 dev c2 table 10001 proto ${STUDIO_RTPROT}`,
    );
  });
});
