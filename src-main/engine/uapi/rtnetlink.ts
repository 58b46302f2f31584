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
