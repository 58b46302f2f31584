/**
 * Interfaces and their addresses from rtnetlink (uapi: linux/rtnetlink.h, linux/if_link.h,
 * linux/if_addr.h): one RTM_GETLINK dump and one RTM_GETADDR dump (AF_UNSPEC: both families).
 */
import type { InterfaceAddress, NetInterface, OperState } from '../../../shared/types';
import { forEachAttr, nlaU32, readCString, type NlSocket } from '../netlink/core';
import { IFA_ADDRESS, IFA_FLAGS, IFA_LOCAL, IFADDRMSG_LEN } from '../uapi/if-addr';
import {
  IF_OPER_NAMES,
  IFF_LOOPBACK,
  IFF_LOWER_UP,
  IFF_RUNNING,
  IFF_UP,
  IFLA_EXT_MASK,
  IFLA_IFNAME,
  IFLA_MAX_MTU,
  IFLA_MIN_MTU,
  IFLA_MTU,
  IFLA_OPERSTATE,
} from '../uapi/if-link';
import {
  IFINFOMSG_LEN,
  RTEXT_FILTER_SKIP_STATS,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
} from '../uapi/rtnetlink';
import { AF_INET, AF_INET6 } from '../uapi/socket';
import { formatAddress } from './address';

export interface DecodedLink {
  index: number;
  name: string;
  /** ifinfomsg.ifi_flags (IFF_*). */
  flags: number;
  operState: OperState;
  operStateRaw: number;
  mtuBytes: number;
  minMtuBytes: number | null;
  maxMtuBytes: number | null;
}

export interface DecodedAddress extends InterfaceAddress {
  index: number;
  /** IFA_F_* from IFA_FLAGS (u32) when present, else the u8 in ifaddrmsg. */
  flags: number;
}

/** IF_OPER_* (RFC 2863) by the IFLA_OPERSTATE value. */
export function operStateName(raw: number): OperState {
  return IF_OPER_NAMES[raw] ?? 'unknown';
}

/**
 * Decode an RTM_NEWLINK body, buf[off, off+len); null when it is too short for struct ifinfomsg or
 * names no device (ifi_index <= 0: the kernel numbers devices from 1, net/core/dev.c).
 */
export function decodeLink(buf: Buffer, off: number, len: number): DecodedLink | null {
  if (len < IFINFOMSG_LEN) return null;
  const index = buf.readInt32LE(off + 4);
  if (index <= 0) return null;
  const link: DecodedLink = {
    index,
    name: '',
    flags: buf.readUInt32LE(off + 8),
    operState: 'unknown',
    operStateRaw: 0,
    mtuBytes: 0,
    minMtuBytes: null,
    maxMtuBytes: null,
  };
  forEachAttr(buf, off + IFINFOMSG_LEN, off + len, (type, aoff, alen) => {
    if (type === IFLA_IFNAME) link.name = readCString(buf, aoff, alen);
    else if (type === IFLA_MTU && alen >= 4) link.mtuBytes = buf.readUInt32LE(aoff);
    else if (type === IFLA_MIN_MTU && alen >= 4) link.minMtuBytes = buf.readUInt32LE(aoff);
    else if (type === IFLA_MAX_MTU && alen >= 4) link.maxMtuBytes = buf.readUInt32LE(aoff);
    else if (type === IFLA_OPERSTATE && alen >= 1) {
      link.operStateRaw = buf.readUInt8(aoff);
      link.operState = operStateName(link.operStateRaw);
    }
  });
  return link;
}

/** Decode an RTM_NEWADDR body; null for a family other than inet / inet6. */
export function decodeAddress(buf: Buffer, off: number, len: number): DecodedAddress | null {
  if (len < IFADDRMSG_LEN) return null;
  const family = buf.readUInt8(off);
  if (family !== AF_INET && family !== AF_INET6) return null;
  const alen = family === AF_INET6 ? 16 : 4;
  let address: string | null = null;
  let local: string | null = null;
  let flags = buf.readUInt8(off + 2);
  forEachAttr(buf, off + IFADDRMSG_LEN, off + len, (type, aoff, l) => {
    if (type === IFA_ADDRESS && l >= alen) address = formatAddress(family, buf, aoff);
    else if (type === IFA_LOCAL && l >= alen) local = formatAddress(family, buf, aoff);
    else if (type === IFA_FLAGS && l >= 4) flags = buf.readUInt32LE(aoff);
  });
  // IPv4: IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
  // links. IPv6 sends IFA_ADDRESS (and IFA_LOCAL only with a peer, where it is again ours).
  const own: string | null = local ?? address;
  if (own === null) return null;
  return {
    index: buf.readUInt32LE(off + 4),
    family: family === AF_INET6 ? 'inet6' : 'inet',
    address: own,
    prefixLen: buf.readUInt8(off + 1),
    scope: buf.readUInt8(off + 3),
    flags,
  };
}

/** Operstate UP, or UNKNOWN with IFF_RUNNING (loopback and some tunnels never report UP). */
export function isUsable(link: Pick<DecodedLink, 'operState' | 'flags'>): boolean {
  return link.operState === 'up' || (link.operState === 'unknown' && (link.flags & IFF_RUNNING) !== 0);
}

export function toNetInterface(link: DecodedLink, addresses: InterfaceAddress[]): NetInterface {
  return {
    index: link.index,
    name: link.name,
    operState: link.operState,
    operStateRaw: link.operStateRaw,
    adminUp: (link.flags & IFF_UP) !== 0,
    running: (link.flags & (IFF_RUNNING | IFF_LOWER_UP)) !== 0,
    usable: isUsable(link),
    loopback: (link.flags & IFF_LOOPBACK) !== 0,
    mtuBytes: link.mtuBytes,
    minMtuBytes: link.minMtuBytes,
    maxMtuBytes: link.maxMtuBytes,
    addresses,
  };
}

/** RTM_GETLINK dump request: an AF_UNSPEC ifinfomsg and IFLA_EXT_MASK without stats. */
export const buildRtmGetLinkRequest = (): Buffer =>
  Buffer.concat([Buffer.alloc(IFINFOMSG_LEN), nlaU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)]);

/** RTM_GETADDR dump request: AF_UNSPEC returns IPv4 and IPv6 addresses. */
export const buildRtmGetAddrRequest = (): Buffer => Buffer.alloc(IFADDRMSG_LEN);

/** The link dump and the address dump (both families), decoded, in kernel order. */
export async function readLinksAndAddresses(
  route: NlSocket,
): Promise<{ links: DecodedLink[]; addresses: DecodedAddress[] }> {
  const links: DecodedLink[] = [];
  const addresses: DecodedAddress[] = [];
  await route.dump(RTM_GETLINK, buildRtmGetLinkRequest(), 'list interfaces', (buf, type, off, len) => {
    if (type !== RTM_NEWLINK) return;
    const l = decodeLink(buf, off, len);
    if (l) links.push(l);
  });
  await route.dump(RTM_GETADDR, buildRtmGetAddrRequest(), 'list addresses', (buf, type, off, len) => {
    if (type !== RTM_NEWADDR) return;
    const a = decodeAddress(buf, off, len);
    if (a) addresses.push(a);
  });
  return { links, addresses };
}

/** Every link of this netns with its addresses, sorted by ifindex; addresses in kernel order. */
export async function listInterfaces(route: NlSocket): Promise<NetInterface[]> {
  const { links, addresses } = await readLinksAndAddresses(route);
  const addrs = new Map<number, InterfaceAddress[]>();
  for (const a of addresses) {
    const list = addrs.get(a.index) ?? [];
    list.push({ family: a.family, address: a.address, prefixLen: a.prefixLen, scope: a.scope });
    addrs.set(a.index, list);
  }
  return links.sort((x, y) => x.index - y.index).map((l) => toNetInterface(l, addrs.get(l.index) ?? []));
}
