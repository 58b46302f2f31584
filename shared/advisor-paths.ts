/**
 * The advisor's rules about paths (advisor.ts runs them with the others): which interface each
 * subflow leaves by (Subflow.ifname, docs/live-data.md, Interfaces of subflows), source-based
 * routing of the endpoint addresses and reverse-path filtering, read from the live policy-routing
 * state (Overview.routing: rules, default routes, rp_filter; shared/routing.ts). Fixes are config
 * changes (MptcpConfig.routing, docs/configuration.md, "Source routing") that the Configure page
 * turns into a reviewable plan of `ip rule` / `ip route` / sysctl steps.
 */
import type { Advice } from './config-api';
import type { MptcpConfig, SourceRule } from './config';
import { plainAddress, subflowPath, UNKNOWN_PATH } from './paths';
import { exportRouting } from './plan-routing';
import { FR_ACT_TO_TBL, RT_TABLE_MAIN, type RouteRule } from './routing';
import type { Connection, Endpoint, NetInterface, Overview, Subflow } from './types';

/** rp_filter = 1: strict reverse-path filtering (RFC 3704; Documentation/networking/ip-sysctl.rst). */
const RP_FILTER_STRICT = 1;
/** rp_filter = 2: loose, what MPTCP hosts with several paths use. */
const RP_FILTER_LOOSE = 2;

export function pathAdvice(o: Overview, live: readonly Connection[]): Array<Advice | null> {
  return [subflowsShareInterface(o, live), noSourceRouting(o, live), rpFilterStrict(o, live)];
}

// ---------------------------------------------------------------------------------------------
// Rules

/**
 * (a) Two subflows of one connection leave by the same interface while another interface that
 * MPTCP uses (it holds an endpoint, or carries subflows) carries none of that connection: the
 * connection gets one path's capacity twice instead of two paths. The usual cause is routing by
 * destination only, which sends a subflow from the second interface's address out of the first
 * (then the fix is a source rule for that address); otherwise no subflow was ever opened from the
 * idle interface (an endpoint is missing).
 */
function subflowsShareInterface(o: Overview, live: readonly Connection[]): Advice | null {
  const mptcpIfs = mptcpInterfaces(o, live);
  let worst: { c: Connection; ifname: string; subs: Subflow[]; idle: NetInterface[] } | null = null;
  let affected = 0;
  for (const c of live) {
    const byIf = new Map<string, Subflow[]>();
    for (const s of c.subflows) {
      if (s.state !== 'ESTABLISHED' || s.ifname === null) continue;
      byIf.set(s.ifname, [...(byIf.get(s.ifname) ?? []), s]);
    }
    const idle = mptcpIfs.filter((i) => i.usable && !byIf.has(i.name));
    const shared = [...byIf]
      .filter(([, subs]) => subs.length >= 2)
      .sort((a, b) => b[1].length - a[1].length)[0];
    if (!shared || idle.length === 0) continue;
    affected++;
    if (!worst || shared[1].length > worst.subs.length)
      worst = { c, ifname: shared[0], subs: shared[1], idle };
  }
  if (!worst) return null;
  // Subflows whose source address lives on another interface than the one they leave by.
  const misrouted = worst.subs
    .map((s) => ({ s, home: interfaceWithAddress(o, s.localAddress) }))
    .filter(
      (x): x is { s: Subflow; home: NetInterface } => x.home !== undefined && x.home.name !== x.s.ifname,
    );
  const rules = misrouted.map((m) => ({ address: plainAddress(m.s.localAddress), ifname: m.home.name }));
  const fix = sourceRulesFix(o, rules);
  const idleNames = worst.idle.map((i) => i.name).join(', ');
  const why =
    misrouted.length > 0
      ? ` ${misrouted.map((m) => `${plainAddress(m.s.localAddress)} belongs to ${m.home.name}`).join('; ')}, yet its subflow leaves by ${worst.ifname}: the routes choose the interface by destination only. A source rule (ip rule from ADDR lookup TABLE, with a table that routes out of ADDR's own interface) sends each address out of its own interface.${fix ? '' : ' Add one for each address (ip rule add from ADDR table T; ip route add default via GATEWAY dev IF table T).'}`
      : ` No subflow starts from an address of ${idleNames}: give ${worst.idle.length === 1 ? 'it' : 'each'} a \`subflow\` endpoint (ip mptcp endpoint add ADDR dev IF subflow) so the kernel opens one there.`;
  return {
    id: 'subflows-share-interface',
    severity: 'warning',
    title: `Subflows of one connection share ${worst.ifname} while ${idleNames} carr${worst.idle.length === 1 ? 'ies' : 'y'} none`,
    detail: `${affected} connection(s) run two or more subflows over one interface while another MPTCP interface is unused, e.g. ${describeConn(worst.c)}: ${worst.subs.map((s) => `${plainAddress(s.localAddress)} → ${plainAddress(s.remoteAddress)}`).join(', ')} all leave by ${worst.ifname}, so they share its capacity.${why}`,
    fix,
  };
}

/**
 * (b) A host with several interfaces sends a packet by its destination: without a rule that routes
 * by source (`ip rule from ADDR lookup T`, table T routing out of ADDR's interface), a subflow
 * bound to the second interface's address still leaves by the interface of the destination's
 * route, and the peer (or the provider's reverse-path check) may drop it. Checked for the
 * endpoints that open subflows (subflow, fullmesh); an address whose interface carries the main
 * table's default route leaves by it anyway. A live subflow from the address that leaves by
 * another interface is proof enough, whatever the rules.
 */
function noSourceRouting(o: Overview, live: readonly Connection[]): Advice | null {
  const routing = o.routing;
  if (!routing) return null;
  const global = o.interfaces.filter(
    (i) => !i.loopback && i.usable && i.addresses.some((a) => a.scope === 0),
  );
  if (global.length < 2) return null; // not multihomed
  const mainDefault = new Set(
    routing.routes
      .filter((r) => r.table === RT_TABLE_MAIN && r.dstLen === 0 && r.ifname)
      .map((r) => r.ifname),
  );
  const missing: { ep: Endpoint; ifc: NetInterface; evidence: Subflow | null }[] = [];
  for (const ep of o.endpoints) {
    if (ep.flags.implicit || !(ep.flags.subflow || ep.flags.fullmesh)) continue;
    const ifc = endpointInterface(o, ep);
    if (!ifc || ifc.loopback) continue;
    const addr = plainAddress(ep.address);
    const evidence =
      live
        .flatMap((c) => c.subflows)
        .find((s) => plainAddress(s.localAddress) === addr && s.ifname !== null && s.ifname !== ifc.name) ??
      null;
    if (evidence) {
      missing.push({ ep, ifc, evidence });
      continue;
    }
    if (mainDefault.has(ifc.name)) continue;
    const rule = routing.rules.find((r) => r.action === FR_ACT_TO_TBL && coversSource(r, addr));
    const tableRoutes = rule ? routing.routes.filter((r) => r.table === rule.table) : [];
    // A table whose routes the state does not list (only default routes of other tables are read)
    // is given the benefit of the doubt; one that lists routes must route out of the interface.
    if (rule && (tableRoutes.length === 0 || tableRoutes.some((r) => r.ifname === ifc.name))) continue;
    missing.push({ ep, ifc, evidence: null });
  }
  if (missing.length === 0) return null;
  const fix = sourceRulesFix(
    o,
    missing.map((m) => ({ address: plainAddress(m.ep.address), ifname: m.ifc.name })),
  );
  const notes = missing.map(
    (m) =>
      `${plainAddress(m.ep.address)} (${m.ifc.name})${m.evidence ? `: its subflow to ${plainAddress(m.evidence.remoteAddress)} leaves by ${m.evidence.ifname}` : ''}`,
  );
  return {
    id: 'no-source-routing',
    severity: 'warning',
    title:
      missing.length === 1
        ? `No source-based routing for endpoint ${plainAddress(missing[0]!.ep.address)}`
        : `No source-based routing for ${missing.length} endpoint addresses`,
    detail: `This host has ${global.length} interfaces with global addresses, and Linux picks the outgoing interface by destination: a subflow from an endpoint address leaves by another interface unless a rule routes by source (ip rule from ADDR lookup TABLE, the table routing out of ADDR's own interface). Without one, subflows pile onto one link and a peer or provider that checks source addresses drops them. Missing for ${notes.join('; ')}.${fix ? ' The fix adds a source rule and table per address.' : ' Add per address: ip rule add from ADDR table T; ip route add default via GATEWAY dev IF table T.'}`,
    fix,
  };
}

/**
 * (c) rp_filter = 1 (strict, RFC 3704) drops a packet that arrives on an interface other than the
 * one the reply would leave by. MPTCP's subflows to and from each address make exactly such
 * asymmetric paths, and the drops are silent (an MP_JOIN that never completes). The kernel uses
 * max(conf.all, conf.IF) (Documentation/networking/ip-sysctl.rst), so setting the interface to 2
 * (loose) lifts it whatever `all` says.
 */
function rpFilterStrict(o: Overview, live: readonly Connection[]): Advice | null {
  const rp = o.routing?.rpFilter;
  if (!rp) return null;
  const strict = mptcpInterfaces(o, live).filter(
    (i) => Math.max(rp.all ?? 0, rp.byIfname[i.name] ?? 0) === RP_FILTER_STRICT,
  );
  if (strict.length === 0) return null;
  const rpFilter: Record<string, 0 | 1 | 2> = {};
  for (const i of strict) rpFilter[i.name] = RP_FILTER_LOOSE;
  const fromAll = rp.all === RP_FILTER_STRICT;
  return {
    id: 'rp-filter-strict',
    severity: 'warning',
    title: `Strict reverse-path filtering on ${strict.map((i) => i.name).join(', ')}`,
    detail: `rp_filter is 1 (strict) on ${strict.map((i) => `${i.name} (net.ipv4.conf.${i.name}.rp_filter = ${rp.byIfname[i.name] ?? '?'}${fromAll ? ', net.ipv4.conf.all.rp_filter = 1' : ''})`).join(', ')}: the kernel drops packets that arrive on an interface other than the one its reply would leave by, which MPTCP's subflows over several paths do, so joins and subflows fail without a word. The kernel applies the larger of conf.all and conf.IF: set each interface to 2 (loose), which still drops packets from addresses with no route at all.${rp.writable ? '' : ' These sysctls are read-only here.'}`,
    fix: rp.writable ? { routing: { rpFilter } } : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Interfaces MPTCP uses: those holding an endpoint, or carrying a live subflow. */
function mptcpInterfaces(o: Overview, live: readonly Connection[]): NetInterface[] {
  const names = new Set<string>();
  for (const ep of o.endpoints) {
    if (ep.flags.implicit) continue;
    const ifc = endpointInterface(o, ep);
    if (ifc) names.add(ifc.name);
  }
  for (const c of live)
    for (const s of c.subflows) if (subflowPath(s) !== UNKNOWN_PATH) names.add(subflowPath(s));
  return o.interfaces.filter((i) => !i.loopback && names.has(i.name)).sort((a, b) => a.index - b.index);
}

/**
 * The config change that adds source rules for `add` to the rules MPTCP Studio already owns (the
 * routing config's sourceRules is the exact set: a fix must keep the others). Null without the
 * live routing state.
 */
function sourceRulesFix(o: Overview, add: readonly SourceRule[]): MptcpConfig | null {
  if (!o.routing || add.length === 0) return null;
  const current = exportRouting(o)?.sourceRules ?? [];
  const have = new Set(current.map((r) => plainAddress(r.address)));
  const extra = add.filter(
    (r, i) => !have.has(r.address) && add.findIndex((x) => x.address === r.address) === i,
  );
  if (extra.length === 0) return null;
  return { routing: { sourceRules: [...current, ...extra] } };
}

/** Whether a rule's source prefix (not `from all`) holds the address. */
function coversSource(r: RouteRule, address: string): boolean {
  if (r.src === null || r.srcLen === 0) return false;
  const a = bytesOf(address);
  const p = bytesOf(r.src);
  if (!a || !p || a.length !== p.length) return false;
  for (let bit = 0; bit < r.srcLen; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((a[bit >> 3]! & m) !== (p[bit >> 3]! & m)) return false;
  }
  return true;
}

/** IPv4 dotted quad or IPv6 text → bytes; null otherwise. */
function bytesOf(address: string): number[] | null {
  const a = plainAddress(address);
  if (!a.includes(':')) {
    const parts = a.split('.').map(Number);
    return parts.length === 4 && parts.every((n) => Number.isInteger(n) && n >= 0 && n <= 255) ? parts : null;
  }
  const halves = a.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = groups(halves[0] ?? '');
  const tail = halves.length === 2 ? groups(halves[1] ?? '') : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  if (all.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

function interfaceWithAddress(o: Overview, address: string): NetInterface | undefined {
  const want = plainAddress(address);
  return o.interfaces.find((i) => i.addresses.some((a) => a.address.toLowerCase() === want));
}

function endpointInterface(o: Overview, ep: Endpoint): NetInterface | undefined {
  if (ep.ifindex !== null && ep.ifindex > 0) {
    const byIndex = o.interfaces.find((i) => i.index === ep.ifindex);
    if (byIndex) return byIndex;
  }
  return interfaceWithAddress(o, ep.address);
}

function describeConn(c: Connection): string {
  const hp = (a: string, p: number): string => {
    const x = plainAddress(a);
    return x.includes(':') ? `[${x}]:${p}` : `${x}:${p}`;
  };
  return `${hp(c.localAddress, c.localPort)} ↔ ${hp(c.remoteAddress, c.remotePort)}`;
}
