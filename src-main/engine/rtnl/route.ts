/**
 * Routes from rtnetlink (uapi: linux/rtnetlink.h, struct rtmsg and RTA_*): one route lookup, as
 * `ip route get DST from SRC [oif DEV]` asks it (an RTM_GETROUTE request without NLM_F_DUMP: the
 * kernel runs the output route lookup, policy rules included, and answers with one RTM_NEWROUTE),
 * and a dump of every table's routes (RTM_GETROUTE with NLM_F_DUMP, like `ip route show table all`).
 * What the kernel answers, as verified on this kernel: docs/kernel-interfaces.md, Routes.
 */
import { forEachAttr, nla, nlaU32, type NlSocket } from '../netlink/core';
import {
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_SRC,
  RTA_TABLE,
  RTM_F_LOOKUP_TABLE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTMSG_LEN,
} from '../uapi/rtnetlink';
import { AF_INET, AF_INET6 } from '../uapi/socket';
import { formatAddress, parseAddress } from './address';

/** One route lookup: from a local address to a destination, optionally through a bound device. */
export interface RouteQuery {
  src: string;
  dst: string;
  /** The socket's bound device (SO_BINDTODEVICE, inet_diag idiag_if); 0 or absent: none. */
  oif?: number;
}

/** What the kernel answered for a RouteQuery (an RTM_NEWROUTE message), or a decoded dump entry. */
export interface DecodedRoute {
  family: 'inet' | 'inet6';
  /** rtm_type: RTN_UNICAST (1), RTN_LOCAL (2), RTN_UNREACHABLE (7), … */
  type: number;
  /** rtm_protocol (RTPROT_*: who installed it). */
  protocol: number;
  /** rtm_scope (RT_SCOPE_*: 0 universe, 253 link, 254 host). */
  scope: number;
  /** RTA_TABLE when present, else rtm_table. */
  table: number;
  /** RTA_DST; null: the default route (dstLen 0). */
  dst: string | null;
  dstLen: number;
  /** RTA_SRC (a source-specific IPv6 route, or the queried source in a lookup's answer). */
  src: string | null;
  srcLen: number;
  /** RTA_OIF: the device the route leaves by; null for routes without one (unreachable, …). */
  oif: number | null;
  gateway: string | null;
  prefsrc: string | null;
  /** RTA_PRIORITY (the route's metric). */
  metric: number | null;
}

/** `::ffff:a.b.c.d` (an IPv4 subflow of a dual-stack socket) routes as the IPv4 address a.b.c.d. */
export function routableAddress(address: string): string {
  const a = address.toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function rtmsg(family: number, dstLen: number, srcLen: number, flags: number): Buffer {
  const b = Buffer.alloc(RTMSG_LEN);
  b[0] = family;
  b[1] = dstLen;
  b[2] = srcLen;
  b.writeUInt32LE(flags >>> 0, 8);
  return b;
}

/**
 * The body of `ip route get DST from SRC [oif N]`: struct rtmsg with full-length prefixes and
 * RTM_F_LOOKUP_TABLE (the answer then names the table the lookup matched), RTA_DST, RTA_SRC and
 * RTA_OIF. Null when an address does not parse or the two are of different families.
 */
export function buildRouteGetRequest(q: RouteQuery): Buffer | null {
  const src = parseAddress(routableAddress(q.src));
  const dst = parseAddress(routableAddress(q.dst));
  if (!src || !dst || src.family !== dst.family) return null;
  const family = dst.family === 'inet' ? AF_INET : AF_INET6;
  const bits = dst.bytes.length * 8;
  const parts = [
    rtmsg(family, bits, bits, RTM_F_LOOKUP_TABLE),
    nla(RTA_DST, dst.bytes),
    nla(RTA_SRC, src.bytes),
  ];
  if (q.oif !== undefined && q.oif > 0) {
    parts.push(nlaU32(RTA_OIF, q.oif));
  }
  return Buffer.concat(parts);
}

/** The body of a dump of every route of one family (AF_UNSPEC: both) in every table. */
export function buildRouteDumpRequest(family = 0): Buffer {
  return rtmsg(family, 0, 0, 0);
}

/** Decode an RTM_NEWROUTE body buf[off, off+len); null when it is not an IPv4/IPv6 route. */
export function decodeRoute(buf: Buffer, off: number, len: number): DecodedRoute | null {
  if (len < RTMSG_LEN) return null;
  const fam = buf[off]!;
  if (fam !== AF_INET && fam !== AF_INET6) return null;
  const alen = fam === AF_INET ? 4 : 16;
  const r: DecodedRoute = {
    family: fam === AF_INET ? 'inet' : 'inet6',
    type: buf[off + 7]!,
    protocol: buf[off + 5]!,
    scope: buf[off + 6]!,
    table: buf[off + 4]!,
    dst: null,
    dstLen: buf[off + 1]!,
    src: null,
    srcLen: buf[off + 2]!,
    oif: null,
    gateway: null,
    prefsrc: null,
    metric: null,
  };
  const addr = (aoff: number, n: number): string | null => (n >= alen ? formatAddress(fam, buf, aoff) : null);
  forEachAttr(buf, off + RTMSG_LEN, off + len, (type, aoff, n) => {
    if (type === RTA_DST) r.dst = addr(aoff, n);
    else if (type === RTA_SRC) r.src = addr(aoff, n);
    else if (type === RTA_GATEWAY) r.gateway = addr(aoff, n);
    else if (type === RTA_PREFSRC) r.prefsrc = addr(aoff, n);
    else if (type === RTA_OIF && n >= 4) r.oif = buf.readUInt32LE(aoff);
    else if (type === RTA_TABLE && n >= 4) r.table = buf.readUInt32LE(aoff);
    else if (type === RTA_PRIORITY && n >= 4) r.metric = buf.readUInt32LE(aoff);
  });
  return r;
}

/**
 * One lookup (`ip route get`). Null when the addresses cannot be routed as asked (they do not
 * parse, or mix families); a kernel refusal (ENETUNREACH: no route, also for a source this host
 * does not hold) rejects with a NetlinkError.
 */
export async function getRoute(route: NlSocket, q: RouteQuery): Promise<DecodedRoute | null> {
  const body = buildRouteGetRequest(q);
  if (!body) return null;
  const replies = await route.get(RTM_GETROUTE, body, `route lookup ${q.dst} from ${q.src}`);
  for (const r of replies) {
    const d = decodeRoute(r, 0, r.length);
    if (d) return d;
  }
  return null;
}

/** Every route of every table, both families (RTM_GETROUTE dump), cached routes left out. */
export async function dumpRoutes(route: NlSocket): Promise<DecodedRoute[]> {
  const out: DecodedRoute[] = [];
  await route.dump(RTM_GETROUTE, buildRouteDumpRequest(), 'route dump', (buf, type, off, len) => {
    if (type !== RTM_NEWROUTE) return;
    const d = decodeRoute(buf, off, len);
    if (d) out.push(d);
  });
  return out;
}
