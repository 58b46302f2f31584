/**
 * Request builders for the userspace path manager's per-connection commands of `mptcp_pm` (uapi:
 * linux/mptcp_pm.h): SUBFLOW_CREATE, SUBFLOW_DESTROY, ANNOUNCE, REMOVE, SET_FLAGS on one subflow
 * and the GET_ADDR dump narrowed to one connection by TOKEN. Validated before anything is sent, with the kernel's own
 * rules, so a mistake reads as a sentence instead of a bare EINVAL; what the kernel does with each
 * command was verified on 6.18: docs/kernel-interfaces.md, "The userspace path manager".
 */
import { ApiFailure } from '../../../shared/result';
import type { Endpoint } from '../../../shared/types';
import { nla, nlaNested, nlaU16, nlaU32, nlaU8, type NlSocket } from '../netlink/core';
import { parseAddress } from '../rtnl/address';
import { MPTCP_PM_ADDR_FLAG_BACKUP, MPTCP_PM_ADDR_FLAG_SIGNAL } from '../uapi/mptcp';
import {
  MPTCP_PM_ADDR_ATTR_ADDR4,
  MPTCP_PM_ADDR_ATTR_ADDR6,
  MPTCP_PM_ADDR_ATTR_FAMILY,
  MPTCP_PM_ADDR_ATTR_FLAGS,
  MPTCP_PM_ADDR_ATTR_ID,
  MPTCP_PM_ADDR_ATTR_PORT,
  MPTCP_PM_ATTR_ADDR,
  MPTCP_PM_ATTR_ADDR_REMOTE,
  MPTCP_PM_ATTR_LOC_ID,
  MPTCP_PM_ATTR_TOKEN,
  MPTCP_PM_CMD_ANNOUNCE,
  MPTCP_PM_CMD_GET_ADDR,
  MPTCP_PM_CMD_REMOVE,
  MPTCP_PM_CMD_SET_FLAGS,
  MPTCP_PM_CMD_SUBFLOW_CREATE,
  MPTCP_PM_CMD_SUBFLOW_DESTROY,
} from '../uapi/mptcp-pm';
import { AF_INET, AF_INET6 } from '../uapi/socket';
import { decodeEndpointMessage, pmHeader } from './endpoints';
import type { MptcpPmFamily } from './family';

const invalid = (field: string, rule: string): ApiFailure => new ApiFailure('EINVAL', `${field}: ${rule}`);

function checkInt(field: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw invalid(field, `must be an integer from ${min} to ${max} (got ${v})`);
}

/** An address inside a userspace-PM command: {family, addr, [id], [port], [flags]}. */
export interface PmAddress {
  address: string;
  /** 0/absent: none sent (for the local side of SUBFLOW_CREATE: the kernel reuses id 0 if it matches). */
  id?: number;
  /**
   * 0/absent: none sent (local: an ephemeral port; ANNOUNCE: the peer then connects to the
   * connection's port, which its ANNOUNCED event reports as DPORT).
   */
  port?: number;
}

function addrNest(
  type: number,
  field: string,
  a: PmAddress,
  flags: number,
  family?: 'inet' | 'inet6',
): Buffer {
  const parsed = parseAddress(a.address);
  if (!parsed) throw invalid(field, `"${a.address}" is not an IPv4 or IPv6 address`);
  if (family && parsed.family !== family)
    throw invalid(field, `${a.address} is ${parsed.family}, the other address is ${family}`);
  const id = a.id ?? 0;
  checkInt(`${field}.id`, id, 0, 255);
  const port = a.port ?? 0;
  checkInt(`${field}.port`, port, 0, 65535);
  const v6 = parsed.family === 'inet6';
  const parts = [nlaU16(MPTCP_PM_ADDR_ATTR_FAMILY, v6 ? AF_INET6 : AF_INET)];
  if (id !== 0) parts.push(nlaU8(MPTCP_PM_ADDR_ATTR_ID, id));
  parts.push(nla(v6 ? MPTCP_PM_ADDR_ATTR_ADDR6 : MPTCP_PM_ADDR_ATTR_ADDR4, parsed.bytes));
  // Endpoint PORT is host order, unlike the event ports (docs/kernel-interfaces.md, "Byte orders").
  if (port !== 0) parts.push(nlaU16(MPTCP_PM_ADDR_ATTR_PORT, port));
  if (flags !== 0) parts.push(nlaU32(MPTCP_PM_ADDR_ATTR_FLAGS, flags));
  return nlaNested(type, parts);
}

function tokenAttr(token: number): Buffer {
  if (!Number.isInteger(token) || token <= 0 || token > 0xffffffff)
    throw invalid('token', `must be a connection's local token, 1..4294967295 (got ${token})`);
  return nlaU32(MPTCP_PM_ATTR_TOKEN, token);
}

const familyOf = (address: string): 'inet' | 'inet6' | undefined => parseAddress(address)?.family;

export interface SubflowCreateSpec {
  token: number;
  local: PmAddress;
  /** The peer's address and port: the port is required (the kernel connects to it). */
  remote: PmAddress & { port: number };
  backup?: boolean;
}

/**
 * SUBFLOW_CREATE. Success only means the SYN left: the outcome arrives as SUB_ESTABLISHED or
 * SUB_CLOSED. Signal is rejected by the kernel ("invalid addr flags"), so only backup can be set.
 */
export function buildSubflowCreateRequest(s: SubflowCreateSpec): Buffer {
  const token = tokenAttr(s.token);
  checkInt('remote.port', s.remote.port, 1, 65535);
  const local = addrNest(MPTCP_PM_ATTR_ADDR, 'local', s.local, s.backup ? MPTCP_PM_ADDR_FLAG_BACKUP : 0);
  const remote = addrNest(
    MPTCP_PM_ATTR_ADDR_REMOTE,
    'remote',
    { address: s.remote.address, port: s.remote.port },
    0,
    familyOf(s.local.address),
  );
  return Buffer.concat([pmHeader(MPTCP_PM_CMD_SUBFLOW_CREATE), token, local, remote]);
}

export interface SubflowDestroySpec {
  token: number;
  local: { address: string; port: number };
  remote: { address: string; port: number };
}

/** SUBFLOW_DESTROY: matches one subflow exactly, so both ports are required ("missing local port"). */
export function buildSubflowDestroyRequest(s: SubflowDestroySpec): Buffer {
  const token = tokenAttr(s.token);
  checkInt('local.port', s.local.port, 1, 65535);
  checkInt('remote.port', s.remote.port, 1, 65535);
  return Buffer.concat([
    pmHeader(MPTCP_PM_CMD_SUBFLOW_DESTROY),
    token,
    addrNest(MPTCP_PM_ATTR_ADDR, 'local', s.local, 0),
    addrNest(MPTCP_PM_ATTR_ADDR_REMOTE, 'remote', s.remote, 0, familyOf(s.local.address)),
  ]);
}

export interface AnnounceSpec {
  token: number;
  /** id 1..255 (id 0 is the initial address, which the peer already knows: "invalid addr id"). */
  local: PmAddress & { id: number };
  backup?: boolean;
}

/** ANNOUNCE: ADD_ADDR to the peer; the kernel requires id ≠ 0 and the signal flag. */
export function buildAnnounceRequest(s: AnnounceSpec): Buffer {
  const token = tokenAttr(s.token);
  checkInt('local.id', s.local.id, 1, 255);
  const flags = MPTCP_PM_ADDR_FLAG_SIGNAL | (s.backup ? MPTCP_PM_ADDR_FLAG_BACKUP : 0);
  return Buffer.concat([
    pmHeader(MPTCP_PM_CMD_ANNOUNCE),
    token,
    addrNest(MPTCP_PM_ATTR_ADDR, 'local', s.local, flags),
  ]);
}

/** REMOVE (TOKEN, LOC_ID): RM_ADDR to the peer; both sides close every subflow on that id. */
export function buildRemoveRequest(s: { token: number; localId: number }): Buffer {
  const token = tokenAttr(s.token);
  checkInt('localId', s.localId, 0, 255);
  return Buffer.concat([pmHeader(MPTCP_PM_CMD_REMOVE), token, nlaU8(MPTCP_PM_ATTR_LOC_ID, s.localId)]);
}

export interface SubflowPrioritySpec {
  token: number;
  /** The subflow's local address and port ... */
  local: { address: string; port: number };
  /** ... and its remote ones: together they name one subflow. */
  remote: { address: string; port: number };
  /** The backup bit to set (true) or clear (false). */
  backup: boolean;
}

/**
 * SET_FLAGS with TOKEN and ADDR_REMOTE: the userspace PM's way to change one subflow's backup
 * bit. The kernel sets it on every subflow matching the local and remote address (and port, when
 * given) and sends MP_PRIO to the peer; the default scheduler then sends on a backup subflow only
 * while no other one is available. Both ports are required here so that exactly one subflow
 * matches (docs/kernel-interfaces.md, "The userspace path manager").
 */
export function buildSubflowPriorityRequest(s: SubflowPrioritySpec): Buffer {
  const token = tokenAttr(s.token);
  checkInt('local.port', s.local.port, 1, 65535);
  checkInt('remote.port', s.remote.port, 1, 65535);
  return Buffer.concat([
    pmHeader(MPTCP_PM_CMD_SET_FLAGS),
    token,
    addrNest(MPTCP_PM_ATTR_ADDR, 'local', s.local, s.backup ? MPTCP_PM_ADDR_FLAG_BACKUP : 0),
    addrNest(MPTCP_PM_ATTR_ADDR_REMOTE, 'remote', s.remote, 0, familyOf(s.local.address)),
  ]);
}

/** GET_ADDR dump with TOKEN: the kernel's per-connection local address list. */
export const buildGetAddrByTokenRequest = (token: number): Buffer =>
  Buffer.concat([pmHeader(MPTCP_PM_CMD_GET_ADDR), tokenAttr(token)]);

/**
 * The local addresses (with their ids) the kernel keeps for one userspace-PM connection. Fails
 * with EINVAL for a connection that uses the in-kernel PM ("userspace PM not selected").
 */
export async function listConnectionAddresses(
  genl: NlSocket,
  fam: MptcpPmFamily,
  token: number,
): Promise<Endpoint[]> {
  const out: Endpoint[] = [];
  await genl.dump(
    fam.familyId,
    buildGetAddrByTokenRequest(token),
    `list local addresses of connection ${token}`,
    (buf, type, off, len) => {
      if (type !== fam.familyId) return;
      const ep = decodeEndpointMessage(buf, off, len);
      if (ep) out.push(ep);
    },
  );
  return out;
}
