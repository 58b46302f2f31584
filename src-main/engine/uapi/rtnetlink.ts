/**
 * uapi: linux/rtnetlink.h. rtnetlink message types, multicast groups, address scopes and the
 * extended dump filter; struct ifinfomsg is declared here too (its attributes: ./if-link.ts).
 */

/** enum { RTM_* }: links and addresses. */
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;

/** enum rtnetlink_groups: joined with NETLINK_ADD_MEMBERSHIP; no privilege needed. */
export const RTNLGRP_LINK = 1;
export const RTNLGRP_IPV4_IFADDR = 5;
export const RTNLGRP_IPV6_IFADDR = 9;

/** enum rt_scope_t: RT_SCOPE_UNIVERSE is a global address (link and host scopes are larger). */
export const RT_SCOPE_UNIVERSE = 0;

/** RTEXT_FILTER_SKIP_STATS (IFLA_EXT_MASK): leave the per-link counters out of a link dump. */
export const RTEXT_FILTER_SKIP_STATS = 1 << 3;

/** sizeof(struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index; u32 flags; u32 change; }). */
export const IFINFOMSG_LEN = 16;

/** enum { RTM_* }: routes and policy-routing rules. */
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;

/** enum rtnetlink_groups: route and rule changes (no privilege needed to join). */
export const RTNLGRP_IPV4_ROUTE = 7;
export const RTNLGRP_IPV4_RULE = 8;
export const RTNLGRP_IPV6_ROUTE = 11;
export const RTNLGRP_IPV6_RULE = 19;

/** sizeof(struct rtmsg { u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags; }). */
export const RTMSG_LEN = 12;

/** enum rtattr_type_t: attributes of RTM_*ROUTE. */
export const RTA_DST = 1;
export const RTA_SRC = 2;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;

/** rtm_type values: RTN_UNICAST is a gatewayed or direct route; RTN_LOCAL an address of this host. */
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;

/** rtm_table ids (enum rt_class_t). */
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

/** rtm_scope (enum rt_scope_t): a route straight to the link, no gateway. */
export const RT_SCOPE_LINK = 253;
/** rtm_protocol: RTPROT_KERNEL marks the routes the kernel adds for an address. */
export const RTPROT_KERNEL = 2;

/** rtm_flags of RTM_GETROUTE: answer with the table the lookup matched in rtm_table / RTA_TABLE. */
export const RTM_F_LOOKUP_TABLE = 0x1000;
