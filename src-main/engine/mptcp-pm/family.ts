/**
 * Generic netlink family resolution through the controller, nlctrl (uapi: linux/genetlink.h):
 * the `mptcp_pm` family's id and its multicast group ids are assigned when the kernel registers
 * the family, so they are looked up by name on every start, never hard-coded
 * (docs/kernel-interfaces.md, "Generic netlink family mptcp_pm").
 *
 * Every genl message is struct genlmsghdr { u8 cmd; u8 version; u16 reserved; } followed by
 * attributes; mptcp_pm has no family header after it (CTRL_ATTR_HDRSIZE 0).
 */
import { ApiFailure } from '../../../shared/result';
import { attrMap, forEachAttr, NetlinkError, nlaStr, readCString, type NlSocket } from '../netlink/core';
import {
  CTRL_ATTR_FAMILY_ID,
  CTRL_ATTR_FAMILY_NAME,
  CTRL_ATTR_MCAST_GROUPS,
  CTRL_ATTR_MCAST_GRP_ID,
  CTRL_ATTR_MCAST_GRP_NAME,
  CTRL_ATTR_VERSION,
  CTRL_CMD_GETFAMILY,
  GENL_HDRLEN,
  GENL_ID_CTRL,
} from '../uapi/genetlink';
import { MPTCP_PM_NAME } from '../uapi/mptcp-pm';

/** The controller's own version; any value works, iproute2 sends 1 as well. */
const CTRL_VERSION = 1;
/** ENOENT: nlctrl's answer for a family this kernel does not have. */
const ENOENT = 2;

export interface GenlFamily {
  familyId: number;
  version: number;
  /** Multicast group name → id (both assigned at runtime). */
  groups: Map<string, number>;
}
export type MptcpPmFamily = GenlFamily;

/** struct genlmsghdr for command `cmd` of a family at `version`. */
export const genlHeader = (cmd: number, version: number): Buffer => Buffer.from([cmd, version, 0, 0]);

export function buildGetFamilyRequest(name: string): Buffer {
  return Buffer.concat([genlHeader(CTRL_CMD_GETFAMILY, CTRL_VERSION), nlaStr(CTRL_ATTR_FAMILY_NAME, name)]);
}

/** Decode a CTRL_CMD_NEWFAMILY reply body (genlmsghdr + CTRL_ATTR_*). */
export function decodeGenlFamily(body: Buffer): GenlFamily & { name: string } {
  const attrs = attrMap(body, GENL_HDRLEN, body.length);
  const id = attrs.get(CTRL_ATTR_FAMILY_ID);
  if (!id || id.length < 2)
    throw new ApiFailure('KERNEL', 'genl controller reply without CTRL_ATTR_FAMILY_ID');
  const nameAttr = attrs.get(CTRL_ATTR_FAMILY_NAME);
  const version = attrs.get(CTRL_ATTR_VERSION);
  const groups = new Map<string, number>();
  const mcast = attrs.get(CTRL_ATTR_MCAST_GROUPS);
  if (mcast) {
    // CTRL_ATTR_MCAST_GROUPS is an array: one nest per group, indexed 1..n, each with NAME and ID.
    forEachAttr(mcast, 0, mcast.length, (_index, off, len) => {
      const g = attrMap(mcast, off, off + len);
      const gName = g.get(CTRL_ATTR_MCAST_GRP_NAME);
      const gId = g.get(CTRL_ATTR_MCAST_GRP_ID);
      if (gName && gId && gId.length >= 4)
        groups.set(readCString(gName, 0, gName.length), gId.readUInt32LE(0));
    });
  }
  return {
    name: nameAttr ? readCString(nameAttr, 0, nameAttr.length) : '',
    familyId: id.readUInt16LE(0),
    version: version && version.length >= 4 ? version.readUInt32LE(0) : 0,
    groups,
  };
}

/** Resolve a generic netlink family by name; null when the kernel does not have it (ENOENT). */
export async function resolveGenlFamily(genl: NlSocket, name: string): Promise<GenlFamily | null> {
  let replies: Buffer[];
  try {
    replies = await genl.request(GENL_ID_CTRL, buildGetFamilyRequest(name), `resolve genl family ${name}`);
  } catch (e) {
    if (e instanceof NetlinkError && e.errnoNumber === ENOENT) return null;
    throw e;
  }
  const body = replies[0];
  if (!body) throw new ApiFailure('KERNEL', `resolve genl family ${name}: the controller sent no reply`);
  const { familyId, version, groups } = decodeGenlFamily(body);
  return { familyId, version, groups };
}

export async function resolveMptcpPm(genl: NlSocket): Promise<MptcpPmFamily> {
  const fam = await resolveGenlFamily(genl, MPTCP_PM_NAME);
  if (!fam) {
    throw new ApiFailure(
      'UNSUPPORTED',
      'This kernel has no MPTCP path manager: the generic netlink family mptcp_pm does not exist (kernel built without CONFIG_MPTCP?).',
    );
  }
  return fam;
}
