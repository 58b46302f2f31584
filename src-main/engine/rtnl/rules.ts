/**
 * Policy routing over rtnetlink: the rule dump (RTM_GETRULE, uapi: linux/fib_rules.h struct
 * fib_rule_hdr and FRA_*), the routes a source rule needs (RTM_GETROUTE dump, route.ts), rp_filter
 * per interface (/proc/sys/net/ipv4/conf/<IF>/rp_filter), and the writes a plan makes
 * (RTM_NEWRULE / RTM_DELRULE / RTM_NEWROUTE / RTM_DELROUTE), each read back. What the kernel does,
 * as verified on this kernel: docs/kernel-interfaces.md, "Rules and routes".
 */
import { access, readdir, readFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { SOURCE_TABLE_MAX, SOURCE_TABLE_MIN, STUDIO_RTPROT } from '../../../shared/config';
import { routeMatches, ruleMatches, type RouteSpec, type RuleSpec } from '../../../shared/plan-routing';
import type { RouteEntry, RouteRule, RoutingState } from '../../../shared/routing';
import { ApiFailure } from '../../../shared/result';
import { forEachAttr, nla, nlaU32, nlaU8, readCString, type NlSocket } from '../netlink/core';
import {
  FIB_RULE_HDR_LEN,
  FR_ACT_TO_TBL,
  FRA_DST,
  FRA_FWMARK,
  FRA_IIFNAME,
  FRA_OIFNAME,
  FRA_PRIORITY,
  FRA_PROTOCOL,
  FRA_SRC,
  FRA_TABLE,
} from '../uapi/fib-rules';
import { NLM_F_CREATE, NLM_F_EXCL } from '../uapi/netlink';
import {
  RT_TABLE_MAIN,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_TABLE,
  RTM_DELROUTE,
  RTM_DELRULE,
  RTM_GETROUTE,
  RTM_GETRULE,
  RTM_NEWROUTE,
  RTM_NEWRULE,
  RTMSG_LEN,
  RTN_UNICAST,
} from '../uapi/rtnetlink';
import { AF_INET, AF_INET6 } from '../uapi/socket';
import { formatAddress, parseAddress } from './address';
import { buildRouteDumpRequest, decodeRoute } from './route';

/** Decode an RTM_NEWRULE body buf[off, off+len); null for a family other than inet / inet6. */
export function decodeRule(buf: Buffer, off: number, len: number): RouteRule | null {
  if (len < FIB_RULE_HDR_LEN) return null;
  const fam = buf[off]!;
  if (fam !== AF_INET && fam !== AF_INET6) return null;
  const alen = fam === AF_INET ? 4 : 16;
  const r: RouteRule = {
    family: fam === AF_INET ? 'inet' : 'inet6',
    priority: 0,
    src: null,
    srcLen: buf[off + 2]!,
    dst: null,
    dstLen: buf[off + 1]!,
    table: buf[off + 4]!,
    action: buf[off + 7]!,
    protocol: 0,
    iifname: null,
    oifname: null,
    fwmark: null,
  };
  forEachAttr(buf, off + FIB_RULE_HDR_LEN, off + len, (type, aoff, n) => {
    if (type === FRA_SRC && n >= alen) r.src = formatAddress(fam, buf, aoff);
    else if (type === FRA_DST && n >= alen) r.dst = formatAddress(fam, buf, aoff);
    else if (type === FRA_PRIORITY && n >= 4) r.priority = buf.readUInt32LE(aoff);
    else if (type === FRA_TABLE && n >= 4) r.table = buf.readUInt32LE(aoff);
    else if (type === FRA_PROTOCOL && n >= 1) r.protocol = buf[aoff]!;
    else if (type === FRA_IIFNAME) r.iifname = readCString(buf, aoff, n);
    else if (type === FRA_OIFNAME) r.oifname = readCString(buf, aoff, n);
    else if (type === FRA_FWMARK && n >= 4) r.fwmark = buf.readUInt32LE(aoff);
  });
  return r;
}

/** Every rule of both families (an AF_UNSPEC dump lists each family's rules), in kernel order. */
export async function dumpRules(route: NlSocket): Promise<RouteRule[]> {
  const out: RouteRule[] = [];
  await route.dump(RTM_GETRULE, Buffer.alloc(FIB_RULE_HDR_LEN), 'rule dump', (buf, type, off, len) => {
    if (type !== RTM_NEWRULE) return;
    const r = decodeRule(buf, off, len);
    if (r) out.push(r);
  });
  return out;
}

/**
 * The routes a plan looks at: every route in MPTCP Studio's tables, and the default routes of every
 * table (the gateway of an interface). Not the whole main table: a router's can be huge.
 */
export async function dumpPlanRoutes(
  route: NlSocket,
  ifnames: ReadonlyMap<number, string>,
): Promise<RouteEntry[]> {
  const out: RouteEntry[] = [];
  await route.dump(RTM_GETROUTE, buildRouteDumpRequest(), 'route dump', (buf, type, off, len) => {
    if (type !== RTM_NEWROUTE) return;
    const d = decodeRoute(buf, off, len);
    if (!d) return;
    const ours = d.table >= SOURCE_TABLE_MIN && d.table <= SOURCE_TABLE_MAX;
    if (!ours && !(d.dstLen === 0 && d.table === RT_TABLE_MAIN)) return;
    out.push({
      family: d.family,
      table: d.table,
      dst: d.dst,
      dstLen: d.dstLen,
      gateway: d.gateway,
      ifindex: d.oif,
      ifname: d.oif === null ? null : (ifnames.get(d.oif) ?? null),
      prefsrc: d.prefsrc,
      protocol: buf[off + 5]!,
      scope: buf[off + 6]!,
      type: d.type,
      metric: d.metric,
    });
  });
  return out;
}

/** rp_filter of `all` and of every interface (net.ipv4.conf is per network namespace). */
export async function readRpFilter(procRoot = '/proc'): Promise<RoutingState['rpFilter']> {
  const dir = `${procRoot}/sys/net/ipv4/conf`;
  const byIfname: Record<string, number> = {};
  let all: number | null = null;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { all: null, byIfname, writable: false };
  }
  await Promise.all(
    names.map(async (name) => {
      try {
        const v = Number((await readFile(`${dir}/${name}/rp_filter`, 'utf8')).trim());
        if (!Number.isInteger(v)) return;
        if (name === 'all') all = v;
        else if (name !== 'default' && name !== '__proto__') byIfname[name] = v;
      } catch {
        // the interface went away while reading
      }
    }),
  );
  const writable = await access(`${dir}/all/rp_filter`, constants.W_OK).then(
    () => true,
    () => false,
  );
  return { all, byIfname, writable };
}

/** Rules, the plan's routes and rp_filter, read together. */
export async function readRoutingState(
  route: NlSocket,
  ifnames: ReadonlyMap<number, string>,
  procRoot?: string,
): Promise<RoutingState> {
  const rules = await dumpRules(route);
  const routes = await dumpPlanRoutes(route, ifnames);
  return { rules, routes, rpFilter: await readRpFilter(procRoot) };
}

function address(text: string, family: 'inet' | 'inet6', what: string): Buffer {
  const a = parseAddress(text);
  if (!a || a.family !== family)
    throw new ApiFailure('EINVAL', `${what}: "${text}" is not an ${family} address`);
  return a.bytes;
}

function checkTable(table: number): void {
  if (!Number.isInteger(table) || table < SOURCE_TABLE_MIN || table > SOURCE_TABLE_MAX)
    throw new ApiFailure(
      'EPERM',
      `table ${table} is not one of MPTCP Studio's (${SOURCE_TABLE_MIN}..${SOURCE_TABLE_MAX})`,
    );
}

/**
 * The body of RTM_NEWRULE / RTM_DELRULE for `spec`: `from SRC/LEN lookup TABLE priority P protocol
 * 77`. Checked here again: the table in MPTCP Studio's range, the priority equal to it.
 */
export function buildRuleRequest(spec: RuleSpec): Buffer {
  checkTable(spec.table);
  if (spec.priority !== spec.table)
    throw new ApiFailure('EPERM', `rule priority ${spec.priority} is not its table ${spec.table}`);
  const family = spec.family === 'inet' ? AF_INET : AF_INET6;
  const src = address(spec.src, spec.family, 'rule source');
  if (!Number.isInteger(spec.srcLen) || spec.srcLen < 1 || spec.srcLen > src.length * 8)
    throw new ApiFailure('EINVAL', `rule source length ${spec.srcLen} is out of range`);
  const hdr = Buffer.alloc(FIB_RULE_HDR_LEN);
  hdr[0] = family;
  hdr[2] = spec.srcLen;
  hdr[4] = 0; // RT_TABLE_UNSPEC: the table is FRA_TABLE (ids above 255 need it)
  hdr[7] = FR_ACT_TO_TBL;
  return Buffer.concat([
    hdr,
    nla(FRA_SRC, src),
    nlaU32(FRA_PRIORITY, spec.priority),
    nlaU32(FRA_TABLE, spec.table),
    nlaU8(FRA_PROTOCOL, STUDIO_RTPROT),
  ]);
}

/** The body of RTM_NEWROUTE / RTM_DELROUTE for `spec`, with rtm_protocol 77. */
export function buildRouteRequest(spec: RouteSpec): Buffer {
  checkTable(spec.table);
  if (!Number.isInteger(spec.ifindex) || spec.ifindex < 1)
    throw new ApiFailure('EINVAL', `bad interface index ${spec.ifindex}`);
  const family = spec.family === 'inet' ? AF_INET : AF_INET6;
  const bits = spec.family === 'inet' ? 32 : 128;
  if (!Number.isInteger(spec.dstLen) || spec.dstLen < 0 || spec.dstLen > bits)
    throw new ApiFailure('EINVAL', `route prefix length ${spec.dstLen} is out of range`);
  if (spec.scope !== 0 && spec.scope !== 253) throw new ApiFailure('EINVAL', `route scope ${spec.scope}`);
  const hdr = Buffer.alloc(RTMSG_LEN);
  hdr[0] = family;
  hdr[1] = spec.dstLen;
  hdr[4] = 0; // RT_TABLE_UNSPEC: RTA_TABLE says which
  hdr[5] = STUDIO_RTPROT;
  hdr[6] = spec.scope;
  hdr[7] = RTN_UNICAST;
  const parts: Buffer[] = [hdr];
  if (spec.dst !== null) parts.push(nla(RTA_DST, address(spec.dst, spec.family, 'route destination')));
  else if (spec.dstLen !== 0)
    throw new ApiFailure('EINVAL', 'a route without destination is the default route');
  if (spec.gateway !== null) parts.push(nla(RTA_GATEWAY, address(spec.gateway, spec.family, 'gateway')));
  parts.push(nlaU32(RTA_OIF, spec.ifindex));
  if (spec.prefsrc !== null) parts.push(nla(RTA_PREFSRC, address(spec.prefsrc, spec.family, 'route source')));
  parts.push(nlaU32(RTA_TABLE, spec.table));
  return Buffer.concat(parts);
}

const ruleText = (r: RuleSpec): string => `from ${r.src} lookup ${r.table} priority ${r.priority}`;
const routeText = (r: RouteSpec): string =>
  `${r.dst === null ? 'default' : `${r.dst}/${r.dstLen}`}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.ifname} table ${r.table}`;

const ownedRule = (r: RouteRule): boolean => r.protocol === STUDIO_RTPROT;
const ownedRoute = (r: RouteEntry): boolean => r.protocol === STUDIO_RTPROT;

/** The four writes, each read back with a fresh dump. */
export function routingWriter(route: () => NlSocket): {
  addRule(spec: RuleSpec): Promise<void>;
  delRule(spec: RuleSpec): Promise<void>;
  addRoute(spec: RouteSpec): Promise<void>;
  delRoute(spec: RouteSpec): Promise<void>;
} {
  const rulePresent = async (spec: RuleSpec): Promise<boolean> =>
    (await dumpRules(route())).some((r) => ownedRule(r) && ruleMatches(spec, r));
  const routePresent = async (spec: RouteSpec): Promise<boolean> =>
    (await dumpPlanRoutes(route(), new Map())).some((r) => ownedRoute(r) && routeMatches(spec, r));
  return {
    async addRule(spec) {
      const body = buildRuleRequest(spec);
      await route().request(RTM_NEWRULE, body, `add rule ${ruleText(spec)}`, NLM_F_CREATE | NLM_F_EXCL);
      if (!(await rulePresent(spec)))
        throw new ApiFailure('KERNEL', `rule ${ruleText(spec)} was accepted but is not listed`);
    },
    async delRule(spec) {
      // FRA_PROTOCOL in the request: the kernel deletes only a rule with this protocol
      // (net/core/fib_rules.c rule_find), never one MPTCP Studio did not create.
      await route().request(RTM_DELRULE, buildRuleRequest(spec), `delete rule ${ruleText(spec)}`);
      if (await rulePresent(spec))
        throw new ApiFailure('KERNEL', `rule ${ruleText(spec)} is still listed after its deletion`);
    },
    async addRoute(spec) {
      await route().request(
        RTM_NEWROUTE,
        buildRouteRequest(spec),
        `add route ${routeText(spec)}`,
        NLM_F_CREATE | NLM_F_EXCL,
      );
      if (!(await routePresent(spec)))
        throw new ApiFailure('KERNEL', `route ${routeText(spec)} was accepted but is not listed`);
    },
    async delRoute(spec) {
      // rtm_protocol in the request: only a route with this protocol matches
      // (net/ipv4/fib_trie.c fib_table_delete, net/ipv6/route.c ip6_route_del).
      await route().request(RTM_DELROUTE, buildRouteRequest(spec), `delete route ${routeText(spec)}`);
      if (await routePresent(spec))
        throw new ApiFailure('KERNEL', `route ${routeText(spec)} is still listed after its deletion`);
    },
  };
}
