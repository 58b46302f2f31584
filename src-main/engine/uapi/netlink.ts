/**
 * uapi: linux/netlink.h (and `struct nlattr`). The framing every netlink family shares: protocols,
 * struct nlmsghdr's flags and control types, attribute headers. Values are ABI; see
 * docs/kernel-interfaces.md for how the engine uses them.
 */

/** Netlink protocols (socket(AF_NETLINK, SOCK_RAW, protocol)). */
export const NETLINK_ROUTE = 0;
export const NETLINK_SOCK_DIAG = 4;
export const NETLINK_GENERIC = 16;

/** nlmsghdr.nlmsg_flags. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/** Flags of a NEW request: NLM_F_EXCL fails with EEXIST instead of replacing, NLM_F_CREATE creates. */
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

/** Control message types (nlmsghdr.nlmsg_type below NLMSG_MIN_TYPE). */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
/** The first type a family may use (generic netlink's controller has it: GENL_ID_CTRL). */
export const NLMSG_MIN_TYPE = 0x10;

/** NLMSG_HDRLEN: struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }, aligned. */
export const NLMSG_HDRLEN = 16;
/** NLA_HDRLEN: struct nlattr { u16 nla_len; u16 nla_type; }. */
export const NLA_HDRLEN = 4;
export const NLA_F_NESTED = 1 << 15;
export const NLA_F_NET_BYTEORDER = 1 << 14;
/** NLA_TYPE_MASK: the attribute type without NLA_F_NESTED and NLA_F_NET_BYTEORDER. */
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;
