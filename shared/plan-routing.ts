/**
 * Source-based routing and rp_filter as plan steps (docs/configuration.md, "Source routing"). A
 * source rule {address A, interface IF, table T, gateway GW} is, in the kernel:
 *
 *   ip route add <A's prefix> dev IF src A scope link table T proto 77   (the connected route)
 *   ip route add default via GW dev IF table T proto 77
 *   ip rule add from A lookup T priority T protocol 77
 *
 * so that a subflow from A leaves by IF whatever the main table says (a multihomed host has one
 * default route in main; RFC 8684 §3.2 lets each subflow use its own address, which is only useful
 * when that address's packets take its own path). Only rules and routes carrying MPTCP Studio's
 * marker (config.ts SOURCE_TABLE_MIN..MAX, STUDIO_RTPROT) are ever changed or deleted. Routes are
 * added before the rule that uses them and deleted after it, so a rule never points at a table
 * without its routes.
 *
 * rp_filter per interface is an ordinary sysctl step (net.ipv4.conf.IF.rp_filter).
 */
import {
  addressKey,
  MAX_SOURCE_RULES,
  SourceRuleSchema,
  SOURCE_TABLE_MAX,
  SOURCE_TABLE_MIN,
  STUDIO_RTPROT,
  type MptcpConfig,
  type SourceRule,
} from './config';
import type { StepImpact } from './config-api';
import { compileGlob } from './glob';
import type { LiveSubflow, Step } from './plan';
import { FR_ACT_TO_TBL, RT_TABLE_MAIN, type RouteEntry, type RouteRule } from './routing';
import type { InterfaceAddress, NetInterface, Overview } from './types';

/** `ip rule add from SRC/LEN lookup TABLE priority PRIORITY protocol 77`. */
export interface RuleSpec {
  family: 'inet' | 'inet6';
  priority: number;
  src: string;
  srcLen: number;
  table: number;
}

/** `ip route add DST/LEN [via GATEWAY] dev IFNAME [src PREFSRC] table TABLE proto 77`. */
export interface RouteSpec {
  family: 'inet' | 'inet6';
  table: number;
  /** null with dstLen 0: the default route. */
  dst: string | null;
  dstLen: number;
  gateway: string | null;
  ifindex: number;
  ifname: string;
  prefsrc: string | null;
  /** RT_SCOPE_UNIVERSE 0 (through a gateway) or RT_SCOPE_LINK 253 (on the link). */
  scope: number;
}

export type RoutingStep =
  | { kind: 'rule-add'; rule: RuleSpec }
  | { kind: 'rule-del'; rule: RuleSpec }
  | { kind: 'route-add'; route: RouteSpec }
  | { kind: 'route-del'; route: RouteSpec };

const RP_FILTER_RE = /^net\.ipv4\.conf\.([A-Za-z0-9_.:@-]{1,15})\.rp_filter$/;

/** The interface of a `net.ipv4.conf.IF.rp_filter` sysctl name, or null for any other name. */
export function rpFilterOf(name: string): string | null {
  const m = RP_FILTER_RE.exec(name);
  const ifname = m?.[1];
  return ifname === undefined || ifname === 'all' || ifname === 'default' || /^\.+$/.test(ifname)
    ? null
    : ifname;
}

export const rpFilterSysctl = (ifname: string): string => `net.ipv4.conf.${ifname}.rp_filter`;

const sameAddr = (a: string | null, b: string | null): boolean =>
  a === b || (a !== null && b !== null && addressKey(a) !== null && addressKey(a) === addressKey(b));

const fullLen = (family: 'inet' | 'inet6'): number => (family === 'inet' ? 32 : 128);
const familyOf = (address: string): 'inet' | 'inet6' => (address.includes(':') ? 'inet6' : 'inet');

export const inSourceRange = (table: number): boolean =>
  table >= SOURCE_TABLE_MIN && table <= SOURCE_TABLE_MAX;

/** A live rule MPTCP Studio created: the only kind it deletes. */
export function isOwnedRule(r: RouteRule): boolean {
  return (
    r.protocol === STUDIO_RTPROT &&
    inSourceRange(r.table) &&
    r.priority === r.table &&
    r.action === FR_ACT_TO_TBL &&
    r.src !== null &&
    r.srcLen === fullLen(r.family) &&
    r.dst === null &&
    r.iifname === null &&
    r.oifname === null &&
    r.fwmark === null
  );
}

/** A live route MPTCP Studio created. */
export const isOwnedRoute = (r: RouteEntry): boolean =>
  r.protocol === STUDIO_RTPROT && inSourceRange(r.table);

export function ruleMatches(spec: RuleSpec, live: RouteRule): boolean {
  return (
    live.family === spec.family &&
    live.priority === spec.priority &&
    live.table === spec.table &&
    live.srcLen === spec.srcLen &&
    sameAddr(live.src, spec.src)
  );
}

export function routeMatches(spec: RouteSpec, live: RouteEntry): boolean {
  return (
    live.family === spec.family &&
    live.table === spec.table &&
    live.dstLen === spec.dstLen &&
    sameAddr(live.dst, spec.dst) &&
    sameAddr(live.gateway, spec.gateway) &&
    live.ifindex === spec.ifindex &&
    // IPv6 routes report no preferred source unless one was set; compare it only when asked for.
    (spec.prefsrc === null || sameAddr(live.prefsrc, spec.prefsrc))
  );
}

export const ruleSpecOf = (r: RouteRule): RuleSpec => ({
  family: r.family,
  priority: r.priority,
  src: r.src ?? '',
  srcLen: r.srcLen,
  table: r.table,
});

export const routeSpecOf = (r: RouteEntry): RouteSpec => ({
  family: r.family,
  table: r.table,
  dst: r.dst,
  dstLen: r.dstLen,
  gateway: r.gateway,
  ifindex: r.ifindex ?? 0,
  ifname: r.ifname ?? '',
  prefsrc: r.prefsrc,
  scope: r.scope,
});

export function invertRoutingStep(s: RoutingStep): RoutingStep {
  switch (s.kind) {
    case 'rule-add':
      return { kind: 'rule-del', rule: s.rule };
    case 'rule-del':
      return { kind: 'rule-add', rule: s.rule };
    case 'route-add':
      return { kind: 'route-del', route: s.route };
    case 'route-del':
      return { kind: 'route-add', route: s.route };
  }
}

/** Adding or deleting something is never a no-op: the planner only plans what differs. */
export const isNoopRoutingStep = (_s: RoutingStep): boolean => false;

function routeText(r: RouteSpec, dev: (ifname: string) => string = (n) => n): string {
  const dst = r.dst === null ? 'default' : `${r.dst}/${r.dstLen}`;
  return `${dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${dev(r.ifname)}${r.prefsrc ? ` src ${r.prefsrc}` : ''}`;
}

/**
 * One shell word: as it is when it holds only characters no shell treats specially, else in single
 * quotes. A route-del names the interface the kernel reported, and Linux allows far more in an
 * interface name than a shell reads literally (only '/', ':' and whitespace are refused:
 * dev_valid_name, net/core/dev.c).
 */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_.:@%+=,/-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

export function describeRoutingStep(s: RoutingStep): string {
  switch (s.kind) {
    case 'rule-add':
      return `Add rule: traffic from ${s.rule.src} looks up table ${s.rule.table} (priority ${s.rule.priority})`;
    case 'rule-del':
      return `Remove rule: traffic from ${s.rule.src} looks up table ${s.rule.table} (priority ${s.rule.priority})`;
    case 'route-add':
      return `Add route ${routeText(s.route)} to table ${s.route.table}`;
    case 'route-del':
      return `Remove route ${routeText(s.route)} from table ${s.route.table}`;
  }
}

export function shellForRoutingStep(s: RoutingStep): string {
  switch (s.kind) {
    case 'rule-add':
    case 'rule-del': {
      const r = s.rule;
      const src = r.srcLen === fullLen(r.family) ? r.src : `${r.src}/${r.srcLen}`;
      return `ip ${r.family === 'inet6' ? '-6 ' : ''}rule ${s.kind === 'rule-add' ? 'add' : 'del'} from ${src} lookup ${r.table} priority ${r.priority} protocol ${STUDIO_RTPROT}`;
    }
    case 'route-add':
    case 'route-del': {
      const r = s.route;
      const scope = r.scope === 253 && r.family === 'inet' ? ' scope link' : '';
      return `ip ${r.family === 'inet6' ? '-6 ' : ''}route ${s.kind === 'route-add' ? 'add' : 'del'} ${routeText(r, shellWord)}${scope} table ${r.table} proto ${STUDIO_RTPROT}`;
    }
  }
}

/** The network of `a` (address/prefixLen with the host bits cleared), as text. */
export function networkOf(a: Pick<InterfaceAddress, 'family' | 'address' | 'prefixLen'>): string | null {
  if (a.family === 'inet') {
    const q = a.address.split('.').map(Number);
    if (q.length !== 4 || q.some((x) => !Number.isInteger(x))) return null;
    const n = ((q[0]! << 24) | (q[1]! << 16) | (q[2]! << 8) | q[3]!) >>> 0;
    const mask = a.prefixLen === 0 ? 0 : (0xffffffff << (32 - a.prefixLen)) >>> 0;
    const net = (n & mask) >>> 0;
    return [net >>> 24, (net >>> 16) & 0xff, (net >>> 8) & 0xff, net & 0xff].join('.');
  }
  const key = addressKey(a.address);
  if (key === null) return null;
  const groups = key.split(':').map((g) => parseInt(g, 16));
  const out = groups.map((g, i) => {
    const bits = Math.max(0, Math.min(16, a.prefixLen - i * 16));
    const mask = bits === 0 ? 0 : (0xffff << (16 - bits)) & 0xffff;
    return g & mask;
  });
  // RFC 5952 §4.2.3: the longest run of zero groups (two or more) becomes "::".
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (out[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && out[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = out.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** A source rule with everything the plan decided (table, gateway, interface). */
export interface ResolvedSourceRule {
  address: string;
  family: 'inet' | 'inet6';
  ifc: NetInterface;
  table: number;
  gateway: string | null;
  addr: InterfaceAddress;
}

/** The default gateway the main table has through `ifindex` for `family`, or null. */
function mainGateway(o: Overview, ifindex: number, family: 'inet' | 'inet6'): string | null {
  const r = o.routing?.routes.find(
    (x) =>
      x.table === RT_TABLE_MAIN &&
      x.family === family &&
      x.dstLen === 0 &&
      x.gateway !== null &&
      x.ifindex === ifindex,
  );
  return r?.gateway ?? null;
}

/** The rules (address, interface) a sourcePolicy asks for, against the live addresses. */
function expandSourcePolicy(
  policy: NonNullable<NonNullable<MptcpConfig['routing']>['sourcePolicy']>,
  interfaces: NetInterface[],
): SourceRule[] {
  const out: SourceRule[] = [];
  const seen = new Set<string>();
  for (const rule of policy) {
    const matches = compileGlob(rule.match) ?? (() => false);
    for (const ifc of interfaces) {
      if (ifc.loopback || !ifc.adminUp || !matches(ifc.name)) continue;
      for (const a of ifc.addresses) {
        // Global addresses only (RT_SCOPE_UNIVERSE): a link-local one never leaves its link.
        if (a.scope !== 0 || !rule.families.includes(a.family)) continue;
        const key = addressKey(a.address) ?? a.address;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ address: a.address, ifname: ifc.name });
      }
    }
  }
  return out;
}

/**
 * Resolve tables and gateways. A rule without a table keeps the one MPTCP Studio already gave its
 * address, else gets the lowest table in range that no rule or route uses.
 */
function resolveSourceRules(
  o: Overview,
  wanted: SourceRule[],
  errors: string[],
  warnings: string[],
): ResolvedSourceRule[] {
  const routing = o.routing!;
  const owned = routing.rules.filter(isOwnedRule);
  const used = new Set<number>([
    ...wanted.flatMap((w) => (w.table === undefined ? [] : [w.table])),
    ...routing.rules.flatMap((r) => [r.table, r.priority]),
    ...routing.routes.map((r) => r.table),
  ]);
  const claimed = new Set<number>(wanted.flatMap((w) => (w.table === undefined ? [] : [w.table])));
  const out: ResolvedSourceRule[] = [];
  const byName = new Map(o.interfaces.map((i) => [i.name, i]));
  for (const w of wanted) {
    const ifc = byName.get(w.ifname);
    if (!ifc) {
      errors.push(`source rule for ${w.address}: interface ${w.ifname} does not exist`);
      continue;
    }
    if (!ifc.adminUp) {
      // The kernel refuses a route through a device that is down (ENETDOWN).
      errors.push(`source rule for ${w.address}: ${w.ifname} is down, so its routes cannot be added now`);
      continue;
    }
    const addr = ifc.addresses.find((a) => sameAddr(a.address, w.address));
    if (!addr) {
      errors.push(
        `source rule for ${w.address}: ${w.ifname} does not have this address (it has ${ifc.addresses.map((a) => a.address).join(', ') || 'none'})`,
      );
      continue;
    }
    const family = familyOf(w.address);
    let table = w.table;
    if (table === undefined) {
      const mine = owned.find((r) => sameAddr(r.src, w.address) && !claimed.has(r.table));
      if (mine) table = mine.table;
      else {
        for (let t = SOURCE_TABLE_MIN; t <= SOURCE_TABLE_MAX; t++)
          if (!used.has(t)) {
            table = t;
            break;
          }
      }
      if (table === undefined) {
        errors.push(
          `source rule for ${w.address}: no table is free in ${SOURCE_TABLE_MIN}..${SOURCE_TABLE_MAX}`,
        );
        continue;
      }
      claimed.add(table);
      used.add(table);
    }
    const foreign = routing.routes.filter((r) => r.table === table && !isOwnedRoute(r));
    if (foreign.length > 0) {
      errors.push(
        `source rule for ${w.address}: table ${table} holds ${foreign.length} route(s) MPTCP Studio did not create; give another table`,
      );
      continue;
    }
    // A rule of someone else's that looks this table up would send its traffic by our routes too.
    const foreignRule = routing.rules.find((r) => r.table === table && !isOwnedRule(r));
    if (foreignRule) {
      errors.push(
        `source rule for ${w.address}: table ${table} is looked up by a rule MPTCP Studio did not create (priority ${foreignRule.priority}); give another table`,
      );
      continue;
    }
    const t = table;
    const liveDefault = routing.routes.find(
      (r) => r.table === t && isOwnedRoute(r) && r.dstLen === 0 && r.ifindex === ifc.index && r.gateway,
    );
    const gateway = w.gateway ?? mainGateway(o, ifc.index, family) ?? liveDefault?.gateway ?? null;
    if (gateway === null) {
      warnings.push(
        `source rule for ${w.address}: no default gateway is known through ${w.ifname} (none in the main table); table ${t} gets only the route to ${w.ifname}'s own network: give the gateway to reach further`,
      );
    }
    // A rule that comes first for the same source decides instead of ours.
    const earlier = routing.rules.find(
      (r) =>
        !isOwnedRule(r) &&
        r.priority < t &&
        r.src !== null &&
        r.srcLen === fullLen(family) &&
        sameAddr(r.src, w.address),
    );
    if (earlier) {
      warnings.push(
        `source rule for ${w.address}: a rule at priority ${earlier.priority} (not MPTCP Studio's) already sends this address's traffic to table ${earlier.table}; it comes first`,
      );
    }
    out.push({ address: w.address, family, ifc, table: t, gateway, addr });
  }
  return out;
}

/** The routes and rule a resolved source rule needs. */
export function sourceRuleKernelSpecs(r: ResolvedSourceRule): { routes: RouteSpec[]; rule: RuleSpec } {
  const routes: RouteSpec[] = [];
  const full = fullLen(r.family);
  const net = r.addr.prefixLen < full ? networkOf(r.addr) : null;
  if (net !== null) {
    routes.push({
      family: r.family,
      table: r.table,
      dst: net,
      dstLen: r.addr.prefixLen,
      gateway: null,
      ifindex: r.ifc.index,
      ifname: r.ifc.name,
      prefsrc: r.address,
      // IPv6 routes are all RT_SCOPE_UNIVERSE (net/ipv6/route.c ignores rtm_scope).
      scope: r.family === 'inet' ? 253 : 0,
    });
  }
  if (r.gateway !== null) {
    routes.push({
      family: r.family,
      table: r.table,
      dst: null,
      dstLen: 0,
      gateway: r.gateway,
      ifindex: r.ifc.index,
      ifname: r.ifc.name,
      prefsrc: null,
      scope: 0,
    });
  }
  return {
    routes,
    rule: { family: r.family, priority: r.table, src: r.address, srcLen: full, table: r.table },
  };
}

/** The interfaces an rpFilter key names: one name, or every non-loopback interface a glob matches. */
function rpFilterTargets(key: string, interfaces: NetInterface[]): NetInterface[] {
  if (!/[*?[]/.test(key)) return interfaces.filter((i) => i.name === key);
  const m = compileGlob(key);
  return m ? interfaces.filter((i) => !i.loopback && m(i.name)) : [];
}

/**
 * Steps for `routing` (absent: none): rule deletions, route deletions, route additions, rule
 * additions, rp_filter. Refusals go to `errors`.
 */
export function planRouting(
  o: Overview,
  routing: MptcpConfig['routing'],
  errors: string[],
  warnings: string[],
): Step[] {
  if (!routing) return [];
  const live = o.routing;
  if (!live) {
    errors.push('the routing rules and rp_filter cannot be read here, so they cannot be changed');
    return [];
  }
  const ruleDels: Step[] = [];
  const routeDels: Step[] = [];
  const routeAdds: Step[] = [];
  const ruleAdds: Step[] = [];
  const rp: Step[] = [];
  const wanted = routing.sourcePolicy
    ? expandSourcePolicy(routing.sourcePolicy, o.interfaces)
    : (routing.sourceRules ?? null);
  if (wanted) {
    const resolved = resolveSourceRules(o, wanted, errors, warnings);
    const keepRules = new Set<RouteRule>();
    const keepRoutes = new Set<RouteEntry>();
    const ownedRules = live.rules.filter(isOwnedRule);
    const ownedRoutes = live.routes.filter(isOwnedRoute);
    for (const r of resolved) {
      const { routes, rule } = sourceRuleKernelSpecs(r);
      for (const spec of routes) {
        const have = ownedRoutes.find((x) => !keepRoutes.has(x) && routeMatches(spec, x));
        if (have) keepRoutes.add(have);
        else routeAdds.push({ kind: 'route-add', route: spec });
      }
      const have = ownedRules.find((x) => !keepRules.has(x) && ruleMatches(rule, x));
      if (have) keepRules.add(have);
      else ruleAdds.push({ kind: 'rule-add', rule });
    }
    for (const x of ownedRules)
      if (!keepRules.has(x)) ruleDels.push({ kind: 'rule-del', rule: ruleSpecOf(x) });
    for (const x of ownedRoutes)
      if (!keepRoutes.has(x)) routeDels.push({ kind: 'route-del', route: routeSpecOf(x) });
    // A changed route of a kept rule goes away before its replacement comes: the same table then
    // briefly has no default route, and the rule falls through to the main table meanwhile.
  }
  for (const [key, value] of Object.entries(routing.rpFilter ?? {})) {
    const targets = rpFilterTargets(key, o.interfaces);
    if (targets.length === 0) {
      if (!/[*?[]/.test(key)) errors.push(`rp_filter: interface ${key} does not exist`);
      continue;
    }
    for (const ifc of targets) {
      const name = rpFilterSysctl(ifc.name);
      const now = live.rpFilter.byIfname[ifc.name];
      if (now === undefined) {
        errors.push(`${name} cannot be read here`);
        continue;
      }
      if (now === value) continue;
      if (!live.rpFilter.writable) {
        errors.push(`${name} is read-only here`);
        continue;
      }
      if (live.rpFilter.all !== null && live.rpFilter.all > value) {
        warnings.push(
          `${name} = ${value}, but net.ipv4.conf.all.rp_filter is ${live.rpFilter.all} and the kernel uses the larger of the two (Documentation/networking/ip-sysctl.rst): ${ifc.name} stays at ${live.rpFilter.all}`,
        );
      }
      rp.push({ kind: 'sysctl', name, from: String(now), to: String(value) });
    }
  }
  return [...ruleDels, ...routeDels, ...routeAdds, ...ruleAdds, ...rp];
}

/**
 * The live source rules as a config (export): only MPTCP Studio's, with their interface and gateway.
 * The kernel may hold what a config cannot say (an interface name the config refuses, two rules
 * for one address, a table used twice, more than MAX_SOURCE_RULES): such rules are left out, the
 * first of each address and table kept, so the export always passes RoutingConfigSchema.
 */
export function exportRouting(o: Overview): MptcpConfig['routing'] | undefined {
  const live = o.routing;
  if (!live) return undefined;
  const sourceRules: SourceRule[] = [];
  const addresses = new Set<string>();
  const tables = new Set<number>();
  const ownedRoutes = live.routes.filter(isOwnedRoute);
  for (const r of live.rules.filter(isOwnedRule)) {
    if (sourceRules.length >= MAX_SOURCE_RULES) break;
    const routes = ownedRoutes.filter((x) => x.table === r.table && x.family === r.family);
    const dev = routes.find((x) => x.ifname !== null)?.ifname;
    if (!dev || r.src === null) continue; // its routes are gone (the link went down): nothing to export
    const gw = routes.find((x) => x.dstLen === 0 && x.gateway !== null)?.gateway;
    const candidate = { address: r.src, ifname: dev, table: r.table, ...(gw ? { gateway: gw } : {}) };
    const parsed = SourceRuleSchema.safeParse(candidate);
    if (!parsed.success) continue;
    const key = addressKey(r.src) ?? r.src;
    if (addresses.has(key) || tables.has(r.table)) continue;
    addresses.add(key);
    tables.add(r.table);
    sourceRules.push(parsed.data);
  }
  const rpFilter: Record<string, 0 | 1 | 2> = {};
  for (const ifc of o.interfaces) {
    const v = live.rpFilter.byIfname[ifc.name];
    if (ifc.loopback || (v !== 0 && v !== 1 && v !== 2)) continue;
    if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(ifc.name) || /[*?[]/.test(ifc.name)) continue;
    if (ifc.name === 'all' || ifc.name === 'default') continue; // the config reads these as global
    if (Object.keys(rpFilter).length >= 1024) break;
    rpFilter[ifc.name] = v;
  }
  return { sourceRules, rpFilter };
}

// ---------------------------------------------------------------------------------------------
// Impact on live traffic

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
const countText = (list: LiveSubflow[]): string =>
  `${plural(list.length, 'live subflow')} of ${plural(new Set(list.map((l) => l.conn.token)).size, 'connection')}`;

/** Where table T sends traffic after the plan: "c2 via 10.1.2.1". */
function tableTarget(table: number, o: Overview, steps: Step[]): string | null {
  const planned = steps.find(
    (t): t is Extract<Step, { kind: 'route-add' }> =>
      t.kind === 'route-add' && t.route.table === table && t.route.dstLen === 0,
  );
  if (planned)
    return `${planned.route.ifname}${planned.route.gateway ? ` via ${planned.route.gateway}` : ''}`;
  const liveRoute = o.routing?.routes.find((r) => r.table === table && r.dstLen === 0 && isOwnedRoute(r));
  if (liveRoute) return `${liveRoute.ifname ?? '?'}${liveRoute.gateway ? ` via ${liveRoute.gateway}` : ''}`;
  const any = steps.find(
    (t): t is Extract<Step, { kind: 'route-add' }> => t.kind === 'route-add' && t.route.table === table,
  );
  return any ? `${any.route.ifname} (its own network only)` : null;
}

/** The source a table serves: a live owned rule or one this plan adds. */
function tableSource(table: number, o: Overview, steps: Step[]): string | null {
  const planned = steps.find(
    (t): t is Extract<Step, { kind: 'rule-add' }> => t.kind === 'rule-add' && t.rule.table === table,
  );
  if (planned) return planned.rule.src;
  const removed = steps.some((t) => t.kind === 'rule-del' && t.rule.table === table);
  if (removed) return null;
  return o.routing?.rules.find((r) => r.table === table && isOwnedRule(r))?.src ?? null;
}

export function routingStepImpact(
  s: RoutingStep,
  o: Overview,
  all: LiveSubflow[] | null,
  steps: Step[],
): StepImpact {
  const from = (address: string): LiveSubflow[] | null =>
    all === null ? null : all.filter((l) => sameAddr(l.sf.localAddress, address));
  switch (s.kind) {
    case 'rule-add': {
      const list = from(s.rule.src);
      const where = tableTarget(s.rule.table, o, steps);
      const via = where ? `: they leave by ${where}` : '';
      if (list === null)
        return {
          level: 'live',
          text: `applies to new subflows from ${s.rule.src}; live ones from it may re-route (table ${s.rule.table}${via}); none closes`,
          closes: null,
        };
      if (list.length === 0)
        return {
          level: 'new',
          text: `applies to new subflows from ${s.rule.src} (none live now)${via}`,
          closes: null,
        };
      return {
        level: 'live',
        text: `applies to new subflows; ${countText(list)} from ${s.rule.src} may re-route (table ${s.rule.table}${via}); none closes`,
        closes: null,
      };
    }
    case 'rule-del': {
      const list = from(s.rule.src);
      const replaced = steps.some(
        (t) => t.kind === 'rule-add' && sameAddr(t.rule.src, s.rule.src) && t.rule.family === s.rule.family,
      );
      const then = replaced ? 'the new rule for it, once added' : 'the main table';
      if (list !== null && list.length === 0)
        return { level: 'none', text: `no live subflow uses ${s.rule.src}`, closes: null };
      return {
        level: 'live',
        text: `${list === null ? 'live subflows' : countText(list)} from ${s.rule.src} follow ${then} from now on; where that does not reach their peers by their own path they may stall (none closes at once)`,
        closes: null,
      };
    }
    case 'route-add':
    case 'route-del': {
      const src = tableSource(s.route.table, o, steps);
      if (src === null)
        return {
          level: 'none',
          text: `no rule uses table ${s.route.table}${s.kind === 'route-add' ? ' yet' : ' any more'}`,
          closes: null,
        };
      const list = from(src);
      if (list !== null && list.length === 0)
        return {
          level: 'none',
          text: `table ${s.route.table} serves ${src}, which no live subflow uses`,
          closes: null,
        };
      return {
        level: 'live',
        text:
          s.kind === 'route-add'
            ? `${list === null ? 'live subflows' : countText(list)} from ${src} may re-route through ${s.route.ifname}; none closes`
            : `${list === null ? 'live subflows' : countText(list)} from ${src} lose this route (table ${s.route.table}) until it is replaced; they may stall meanwhile`,
        closes: null,
      };
    }
  }
}

/** 0 off, 2 loose, 1 strict: how much rp_filter drops. */
const strictness = (v: number): number => (v === 1 ? 2 : v === 2 ? 1 : 0);

export function rpFilterImpact(
  s: Extract<Step, { kind: 'sysctl' }>,
  ifname: string,
  o: Overview,
  all: LiveSubflow[] | null,
): StepImpact {
  const ifc = o.interfaces.find((i) => i.name === ifname);
  const on =
    all === null
      ? null
      : all.filter(
          (l) =>
            (ifc !== undefined && l.sf.ifindex === ifc.index) ||
            (ifc?.addresses.some((a) => sameAddr(a.address, l.sf.localAddress)) ?? false),
        );
  const stricter = strictness(Number(s.to)) > strictness(Number(s.from));
  if (!stricter)
    return {
      level: on !== null && on.length === 0 ? 'none' : 'live',
      text: `packets arriving on ${ifname} are checked less strictly from now on (RFC 3704); no subflow closes`,
      closes: null,
    };
  const who = on === null ? 'live subflows' : on.length === 0 ? null : countText(on);
  return {
    level: who === null ? 'none' : 'live',
    text:
      who === null
        ? `no live subflow on ${ifname}; from now on packets arriving on it whose reverse route is another interface are dropped`
        : `packets arriving on ${ifname} whose reverse route is another interface are dropped from now on: ${who} on ${ifname} stall if their path is asymmetric (none closes at once)`,
    closes: null,
  };
}

/**
 * A config fragment that adds source rules and keeps MPTCP Studio's existing ones (sourceRules is
 * the exact set): what an advisor fix proposes. Addresses that already have one are left as they are.
 */
export function withSourceRules(o: Overview, add: SourceRule[]): MptcpConfig {
  const have = exportRouting(o)?.sourceRules ?? [];
  const known = new Set(have.map((r) => addressKey(r.address) ?? r.address));
  return {
    routing: {
      sourceRules: [...have, ...add.filter((r) => !known.has(addressKey(r.address) ?? r.address))],
    },
  };
}
