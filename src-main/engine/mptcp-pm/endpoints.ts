/**
 * The in-kernel path manager's endpoints and limits over the generic netlink family `mptcp_pm`
 * (uapi: linux/mptcp_pm.h, flags from linux/mptcp.h): the GET_ADDR and GET_LIMITS reads and the
 * request builders for ADD_ADDR, DEL_ADDR, FLUSH_ADDRS, SET_LIMITS and SET_FLAGS. Builders check
 * what the kernel would refuse before anything is sent, as iproute2 does, so a mistake reads as a
 * sentence instead of a bare EINVAL (netlink errors carry no message here: docs/kernel-interfaces.md).
 */
import { ApiFailure } from '../../../shared/result';
import type { Endpoint, EndpointFlags, Limits } from '../../../shared/types';
import {
  attrMap,
  forEachAttr,
  nla,
  nlaNested,
  nlaS32,
  nlaU16,
  nlaU32,
  nlaU8,
  type NlSocket,
} from '../netlink/core';
import { formatAddress, parseAddress } from '../rtnl/address';
import { GENL_HDRLEN } from '../uapi/genetlink';
import {
  MPTCP_PM_ADDR_FLAG_BACKUP,
  MPTCP_PM_ADDR_FLAG_FULLMESH,
  MPTCP_PM_ADDR_FLAG_IMPLICIT,
  MPTCP_PM_ADDR_FLAG_LAMINAR,
  MPTCP_PM_ADDR_FLAG_SIGNAL,
  MPTCP_PM_ADDR_FLAG_SUBFLOW,
} from '../uapi/mptcp';
import {
  MPTCP_PM_ADDR_ATTR_ADDR4,
  MPTCP_PM_ADDR_ATTR_ADDR6,
  MPTCP_PM_ADDR_ATTR_FAMILY,
  MPTCP_PM_ADDR_ATTR_FLAGS,
  MPTCP_PM_ADDR_ATTR_ID,
  MPTCP_PM_ADDR_ATTR_IF_IDX,
  MPTCP_PM_ADDR_ATTR_PORT,
  MPTCP_PM_ATTR_ADDR,
  MPTCP_PM_ATTR_RCV_ADD_ADDRS,
  MPTCP_PM_ATTR_SUBFLOWS,
  MPTCP_PM_CMD_ADD_ADDR,
  MPTCP_PM_CMD_DEL_ADDR,
  MPTCP_PM_CMD_FLUSH_ADDRS,
  MPTCP_PM_CMD_GET_ADDR,
  MPTCP_PM_CMD_GET_LIMITS,
  MPTCP_PM_CMD_SET_FLAGS,
  MPTCP_PM_CMD_SET_LIMITS,
  MPTCP_PM_VER,
} from '../uapi/mptcp-pm';
import { AF_INET, AF_INET6 } from '../uapi/socket';
import { genlHeader, type MptcpPmFamily } from './family';

const flagBits: Record<keyof EndpointFlags, number> = {
  signal: MPTCP_PM_ADDR_FLAG_SIGNAL,
  subflow: MPTCP_PM_ADDR_FLAG_SUBFLOW,
  backup: MPTCP_PM_ADDR_FLAG_BACKUP,
  fullmesh: MPTCP_PM_ADDR_FLAG_FULLMESH,
  implicit: MPTCP_PM_ADDR_FLAG_IMPLICIT,
  laminar: MPTCP_PM_ADDR_FLAG_LAMINAR,
};

/**
 * The in-kernel PM's cap on limits and on endpoints per namespace: MPTCP_PM_ADDR_MAX, 8 on 6.18
 * (net/mptcp/pm_kernel.c, not uapi; verified: docs/kernel-interfaces.md, "Limits and endpoints").
 */
export const MPTCP_PM_ADDR_MAX = 8;

/** A request's genlmsghdr: every mptcp_pm request carries MPTCP_PM_VER. */
export const pmHeader = (cmd: number): Buffer => genlHeader(cmd, MPTCP_PM_VER);

// --- reads -------------------------------------------------------------------------------------

export function decodeEndpointFlags(raw: number): EndpointFlags {
  return {
    signal: (raw & MPTCP_PM_ADDR_FLAG_SIGNAL) !== 0,
    subflow: (raw & MPTCP_PM_ADDR_FLAG_SUBFLOW) !== 0,
    backup: (raw & MPTCP_PM_ADDR_FLAG_BACKUP) !== 0,
    fullmesh: (raw & MPTCP_PM_ADDR_FLAG_FULLMESH) !== 0,
    implicit: (raw & MPTCP_PM_ADDR_FLAG_IMPLICIT) !== 0,
    laminar: (raw & MPTCP_PM_ADDR_FLAG_LAMINAR) !== 0,
  };
}

/** Decode one MPTCP_PM_ADDR_ATTR_* nest, buf[start, end). */
export function decodeAddrNest(
  buf: Buffer,
  start: number,
  end: number,
  ifnames?: ReadonlyMap<number, string>,
): Endpoint | null {
  const a = attrMap(buf, start, end);
  const fam = a.get(MPTCP_PM_ADDR_ATTR_FAMILY);
  if (!fam || fam.length < 2) return null;
  const familyNum = fam.readUInt16LE(0);
  const raw = familyNum === AF_INET6 ? a.get(MPTCP_PM_ADDR_ATTR_ADDR6) : a.get(MPTCP_PM_ADDR_ATTR_ADDR4);
  if (familyNum !== AF_INET && familyNum !== AF_INET6) return null;
  const want = familyNum === AF_INET6 ? 16 : 4;
  const id = a.get(MPTCP_PM_ADDR_ATTR_ID);
  // PORT is u16 in host order, unlike the ports of events and sock_diag (docs/kernel-interfaces.md,
  // "Byte orders"); sent only when nonzero.
  const port = a.get(MPTCP_PM_ADDR_ATTR_PORT);
  const portNum = port && port.length >= 2 ? port.readUInt16LE(0) : 0;
  const flags = a.get(MPTCP_PM_ADDR_ATTR_FLAGS);
  const rawFlags = flags && flags.length >= 4 ? flags.readUInt32LE(0) : 0;
  // IF_IDX is s32 and sent only when the endpoint is bound to a device (`dev X`).
  const ifIdx = a.get(MPTCP_PM_ADDR_ATTR_IF_IDX);
  const ifindex = ifIdx && ifIdx.length >= 4 && ifIdx.readInt32LE(0) > 0 ? ifIdx.readInt32LE(0) : null;
  return {
    id: id && id.length >= 1 ? id.readUInt8(0) : 0,
    family: familyNum === AF_INET6 ? 'inet6' : 'inet',
    address:
      raw && raw.length >= want
        ? formatAddress(familyNum, raw, 0)
        : familyNum === AF_INET6
          ? '::'
          : '0.0.0.0',
    port: portNum === 0 ? null : portNum,
    ifindex,
    // Endpoints outlive their interfaces: an ifindex that no longer exists has no name.
    ifname: ifindex !== null ? (ifnames?.get(ifindex) ?? null) : null,
    flags: decodeEndpointFlags(rawFlags),
    rawFlags,
  };
}

/** Decode a GET_ADDR reply body: genlmsghdr, then MPTCP_PM_ATTR_ADDR (nested). */
export function decodeEndpointMessage(
  buf: Buffer,
  off: number,
  len: number,
  ifnames?: ReadonlyMap<number, string>,
): Endpoint | null {
  let ep: Endpoint | null = null;
  forEachAttr(buf, off + GENL_HDRLEN, off + len, (type, aoff, alen) => {
    if (type === MPTCP_PM_ATTR_ADDR) ep = decodeAddrNest(buf, aoff, aoff + alen, ifnames);
  });
  return ep;
}

/** Decode a GET_LIMITS reply body. */
export function decodeLimits(body: Buffer): Limits {
  const a = attrMap(body, GENL_HDRLEN, body.length);
  const rcv = a.get(MPTCP_PM_ATTR_RCV_ADD_ADDRS);
  const sub = a.get(MPTCP_PM_ATTR_SUBFLOWS);
  if (!rcv || rcv.length < 4 || !sub || sub.length < 4) {
    throw new ApiFailure('KERNEL', 'mptcp_pm GET_LIMITS reply without RCV_ADD_ADDRS and SUBFLOWS');
  }
  return { subflows: sub.readUInt32LE(0), addAddrAccepted: rcv.readUInt32LE(0) };
}

export const buildGetAddrDumpRequest = (): Buffer => pmHeader(MPTCP_PM_CMD_GET_ADDR);
export const buildGetLimitsRequest = (): Buffer => pmHeader(MPTCP_PM_CMD_GET_LIMITS);

/** Every in-kernel PM endpoint of this netns, sorted by id. */
export async function listEndpoints(
  genl: NlSocket,
  fam: MptcpPmFamily,
  ifnames?: ReadonlyMap<number, string>,
): Promise<Endpoint[]> {
  const out: Endpoint[] = [];
  await genl.dump(fam.familyId, buildGetAddrDumpRequest(), 'list MPTCP endpoints', (buf, type, off, len) => {
    if (type !== fam.familyId) return;
    const ep = decodeEndpointMessage(buf, off, len, ifnames);
    if (ep) out.push(ep);
  });
  return out.sort((x, y) => x.id - y.id);
}

export async function getLimits(genl: NlSocket, fam: MptcpPmFamily): Promise<Limits> {
  const replies = await genl.request(fam.familyId, buildGetLimitsRequest(), 'read MPTCP limits');
  const body = replies[0];
  if (!body) throw new ApiFailure('KERNEL', 'read MPTCP limits: the kernel sent no reply');
  return decodeLimits(body);
}

// --- write request builders (validated like iproute2 before anything is sent) -------------------

const invalid = (field: string, rule: string): ApiFailure => new ApiFailure('EINVAL', `${field}: ${rule}`);

function checkInt(field: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw invalid(field, `must be an integer from ${min} to ${max} (got ${v})`);
}

/** What an endpoint write needs; shared/plan's EndpointSpec fits it. */
export interface EndpointWrite {
  /** 0 or absent: the kernel allocates one. */
  id?: number;
  /** Checked against the address when given. */
  family?: 'inet' | 'inet6';
  address: string;
  port?: number | null;
  ifindex?: number | null;
  flags: Partial<EndpointFlags>;
}

export function encodeEndpointFlags(flags: Partial<EndpointFlags>): number {
  let raw = 0;
  for (const [name, bit] of Object.entries(flagBits) as [keyof EndpointFlags, number][]) {
    if (flags[name]) raw |= bit;
  }
  return raw;
}

function addressAttrs(field: string, address: string, family?: 'inet' | 'inet6'): Buffer[] {
  const parsed = parseAddress(address);
  if (!parsed) throw invalid(field, `"${address}" is not an IPv4 or IPv6 address`);
  if (family && family !== parsed.family)
    throw invalid('family', `${family} does not match the address ${address}`);
  const v6 = parsed.family === 'inet6';
  return [
    nlaU16(MPTCP_PM_ADDR_ATTR_FAMILY, v6 ? AF_INET6 : AF_INET),
    nla(v6 ? MPTCP_PM_ADDR_ATTR_ADDR6 : MPTCP_PM_ADDR_ATTR_ADDR4, parsed.bytes),
  ];
}

/**
 * ADD_ADDR. Attribute order follows iproute2 (ID, FLAGS, IF_IDX, PORT, FAMILY, ADDR) so the bytes
 * equal what `ip mptcp endpoint add` sends.
 */
export function buildAddEndpointRequest(spec: EndpointWrite): Buffer {
  const id = spec.id ?? 0;
  checkInt('id', id, 0, 255);
  const f = spec.flags;
  if (f.implicit)
    throw invalid('flags.implicit', 'implicit endpoints are created by the kernel and cannot be added');
  if (f.signal && f.fullmesh) throw invalid('flags', 'signal and fullmesh cannot be combined');
  const port = spec.port ?? 0;
  if (port !== 0) {
    checkInt('port', port, 1, 65535);
    if (!f.signal || f.subflow)
      throw invalid('port', 'a port requires the signal flag and not the subflow flag');
  }
  const ifindex = spec.ifindex ?? 0;
  if (ifindex !== 0) checkInt('ifindex', ifindex, 1, 0x7fffffff);
  const addr = addressAttrs('address', spec.address, spec.family);
  const rawFlags = encodeEndpointFlags(f);
  const parts: Buffer[] = [];
  if (id !== 0) parts.push(nlaU8(MPTCP_PM_ADDR_ATTR_ID, id));
  if (rawFlags !== 0) parts.push(nlaU32(MPTCP_PM_ADDR_ATTR_FLAGS, rawFlags));
  if (ifindex !== 0) parts.push(nlaS32(MPTCP_PM_ADDR_ATTR_IF_IDX, ifindex));
  if (port !== 0) parts.push(nlaU16(MPTCP_PM_ADDR_ATTR_PORT, port)); // host order
  parts.push(...addr);
  return Buffer.concat([pmHeader(MPTCP_PM_CMD_ADD_ADDR), nlaNested(MPTCP_PM_ATTR_ADDR, parts)]);
}

/**
 * DEL_ADDR by id. Id 0 is the address of the initial subflows and the kernel needs that address
 * to remove it, so it is required then.
 */
export function buildDelEndpointRequest(sel: { id: number; address?: string }): Buffer {
  checkInt('id', sel.id, 0, 255);
  const parts = [nlaU8(MPTCP_PM_ADDR_ATTR_ID, sel.id)];
  if (sel.address !== undefined) parts.push(...addressAttrs('address', sel.address));
  else if (sel.id === 0) throw invalid('address', 'deleting id 0 needs the address');
  return Buffer.concat([pmHeader(MPTCP_PM_CMD_DEL_ADDR), nlaNested(MPTCP_PM_ATTR_ADDR, parts)]);
}

/** FLUSH_ADDRS: removes every endpoint of the netns; no attributes needed. */
export const buildFlushEndpointsRequest = (): Buffer => pmHeader(MPTCP_PM_CMD_FLUSH_ADDRS);

/** SET_LIMITS: each limit is optional; the kernel keeps the value of one left out. */
export function buildSetLimitsRequest(limits: Partial<Limits>): Buffer {
  const parts: Buffer[] = [];
  if (limits.addAddrAccepted !== undefined) {
    checkInt('addAddrAccepted', limits.addAddrAccepted, 0, MPTCP_PM_ADDR_MAX);
    parts.push(nlaU32(MPTCP_PM_ATTR_RCV_ADD_ADDRS, limits.addAddrAccepted));
  }
  if (limits.subflows !== undefined) {
    checkInt('subflows', limits.subflows, 0, MPTCP_PM_ADDR_MAX);
    parts.push(nlaU32(MPTCP_PM_ATTR_SUBFLOWS, limits.subflows));
  }
  if (parts.length === 0) throw invalid('limits', 'give subflows, addAddrAccepted or both');
  return Buffer.concat([pmHeader(MPTCP_PM_CMD_SET_LIMITS), ...parts]);
}

export interface SetFlagsWrite {
  /** Select the endpoint by id (1..255) ... */
  id?: number;
  /** ... or by address, whose port must match the endpoint's as well (docs/kernel-interfaces.md). */
  address?: string;
  port?: number | null;
  /** SET_FLAGS changes only these two; a bit left out is cleared (docs/kernel-interfaces.md). */
  backup: boolean;
  fullmesh: boolean;
}

/** SET_FLAGS for the in-kernel PM (no TOKEN). */
export function buildSetFlagsRequest(w: SetFlagsWrite): Buffer {
  const parts: Buffer[] = [];
  if (w.id !== undefined && w.id !== 0) {
    checkInt('id', w.id, 1, 255);
    parts.push(nlaU8(MPTCP_PM_ADDR_ATTR_ID, w.id));
  } else if (w.address === undefined) {
    throw invalid('id', 'give the endpoint id (1..255) or its address');
  }
  parts.push(
    nlaU32(MPTCP_PM_ADDR_ATTR_FLAGS, encodeEndpointFlags({ backup: w.backup, fullmesh: w.fullmesh })),
  );
  const port = w.port ?? 0;
  if (port !== 0) {
    if (w.address === undefined)
      throw invalid('port', 'a port selects an endpoint only together with its address');
    checkInt('port', port, 1, 65535);
    parts.push(nlaU16(MPTCP_PM_ADDR_ATTR_PORT, port));
  }
  if (w.address !== undefined) parts.push(...addressAttrs('address', w.address));
  return Buffer.concat([pmHeader(MPTCP_PM_CMD_SET_FLAGS), nlaNested(MPTCP_PM_ATTR_ADDR, parts)]);
}
