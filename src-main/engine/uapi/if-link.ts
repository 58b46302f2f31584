/**
 * uapi: linux/if_link.h (IFLA_* link attributes) and linux/if.h (IFF_* device flags, IF_OPER_*
 * operational states), as found in RTM_NEWLINK messages (./rtnetlink.ts).
 */

/** enum { IFLA_* } */
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_OPERSTATE = 16;
export const IFLA_EXT_MASK = 29;
export const IFLA_MIN_MTU = 50;
export const IFLA_MAX_MTU = 51;

/** enum net_device_flags (linux/if.h), in ifinfomsg.ifi_flags. */
export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFF_RUNNING = 0x40;
export const IFF_LOWER_UP = 0x10000;

/** IF_OPER_* (linux/if.h, RFC 2863 ifOperStatus): the IFLA_OPERSTATE value is the index. */
export const IF_OPER_NAMES = [
  'unknown',
  'notpresent',
  'down',
  'lowerlayerdown',
  'testing',
  'dormant',
  'up',
] as const;
