/**
 * uapi: linux/genetlink.h. The generic netlink header and its controller (`nlctrl`), which
 * resolves a family such as `mptcp_pm` by name to the id and multicast group ids the kernel
 * assigned at boot (docs/kernel-interfaces.md, "Generic netlink family mptcp_pm").
 */
import { NLMSG_MIN_TYPE } from './netlink';

/** GENL_HDRLEN: struct genlmsghdr { u8 cmd; u8 version; u16 reserved; }. */
export const GENL_HDRLEN = 4;
/** GENL_ID_CTRL: the controller's fixed family id. */
export const GENL_ID_CTRL = NLMSG_MIN_TYPE;

/** enum { CTRL_CMD_* } */
export const CTRL_CMD_GETFAMILY = 3;

/** enum { CTRL_ATTR_* } */
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const CTRL_ATTR_VERSION = 3;
export const CTRL_ATTR_HDRSIZE = 4;
export const CTRL_ATTR_MAXATTR = 5;
export const CTRL_ATTR_OPS = 6;
export const CTRL_ATTR_MCAST_GROUPS = 7;

/** enum { CTRL_ATTR_OP_* }: one nest per command inside CTRL_ATTR_OPS. */
export const CTRL_ATTR_OP_ID = 1;
export const CTRL_ATTR_OP_FLAGS = 2;

/** enum { CTRL_ATTR_MCAST_GRP_* }: one nest per group inside CTRL_ATTR_MCAST_GROUPS. */
export const CTRL_ATTR_MCAST_GRP_NAME = 1;
export const CTRL_ATTR_MCAST_GRP_ID = 2;

/** CTRL_ATTR_OP_FLAGS bits: what a command allows and which capability it needs. */
export const GENL_ADMIN_PERM = 0x01;
export const GENL_CMD_CAP_DO = 0x02;
export const GENL_CMD_CAP_DUMP = 0x04;
export const GENL_CMD_CAP_HASPOL = 0x08;
/** CAP_NET_ADMIN in the user namespace owning the network namespace (not the initial one). */
export const GENL_UNS_ADMIN_PERM = 0x10;
