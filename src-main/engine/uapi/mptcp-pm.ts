/**
 * uapi: linux/mptcp_pm.h (generated from the kernel's Documentation/netlink/specs/mptcp_pm.yaml).
 * The generic netlink family `mptcp_pm`: its commands, attributes and event types. What each
 * command needs and which ones need CAP_NET_ADMIN: docs/kernel-interfaces.md.
 */

/** MPTCP_PM_NAME: the family's name, resolved to its id through nlctrl (./genetlink.ts). */
export const MPTCP_PM_NAME = 'mptcp_pm';
/** MPTCP_PM_VER: genlmsghdr.version of every request. */
export const MPTCP_PM_VER = 1;

/** enum { MPTCP_PM_CMD_* } */
export const MPTCP_PM_CMD_ADD_ADDR = 1;
export const MPTCP_PM_CMD_DEL_ADDR = 2;
export const MPTCP_PM_CMD_GET_ADDR = 3;
export const MPTCP_PM_CMD_FLUSH_ADDRS = 4;
export const MPTCP_PM_CMD_SET_LIMITS = 5;
export const MPTCP_PM_CMD_GET_LIMITS = 6;
export const MPTCP_PM_CMD_SET_FLAGS = 7;
export const MPTCP_PM_CMD_ANNOUNCE = 8;
export const MPTCP_PM_CMD_REMOVE = 9;
export const MPTCP_PM_CMD_SUBFLOW_CREATE = 10;
export const MPTCP_PM_CMD_SUBFLOW_DESTROY = 11;

/** enum { MPTCP_PM_ATTR_* }: a command's top-level attributes. */
export const MPTCP_PM_ATTR_ADDR = 1;
export const MPTCP_PM_ATTR_RCV_ADD_ADDRS = 2;
export const MPTCP_PM_ATTR_SUBFLOWS = 3;
export const MPTCP_PM_ATTR_TOKEN = 4;
export const MPTCP_PM_ATTR_LOC_ID = 5;
export const MPTCP_PM_ATTR_ADDR_REMOTE = 6;

/** enum { MPTCP_PM_ADDR_ATTR_* }: inside MPTCP_PM_ATTR_ADDR / ADDR_REMOTE. */
export const MPTCP_PM_ADDR_ATTR_FAMILY = 1;
export const MPTCP_PM_ADDR_ATTR_ID = 2;
export const MPTCP_PM_ADDR_ATTR_ADDR4 = 3;
export const MPTCP_PM_ADDR_ATTR_ADDR6 = 4;
/** u16 in host byte order, unlike the event ports (docs/kernel-interfaces.md, "Byte orders"). */
export const MPTCP_PM_ADDR_ATTR_PORT = 5;
export const MPTCP_PM_ADDR_ATTR_FLAGS = 6;
export const MPTCP_PM_ADDR_ATTR_IF_IDX = 7;

/** enum mptcp_event_type: genlmsghdr.cmd of a message on the events group. */
export const MPTCP_EVENT_CREATED = 1;
export const MPTCP_EVENT_ESTABLISHED = 2;
export const MPTCP_EVENT_CLOSED = 3;
export const MPTCP_EVENT_ANNOUNCED = 6;
export const MPTCP_EVENT_REMOVED = 7;
export const MPTCP_EVENT_SUB_ESTABLISHED = 10;
export const MPTCP_EVENT_SUB_CLOSED = 11;
export const MPTCP_EVENT_SUB_PRIORITY = 13;
export const MPTCP_EVENT_LISTENER_CREATED = 15;
export const MPTCP_EVENT_LISTENER_CLOSED = 16;

/** enum mptcp_event_attr */
export const MPTCP_ATTR_TOKEN = 1;
export const MPTCP_ATTR_FAMILY = 2;
export const MPTCP_ATTR_LOC_ID = 3;
export const MPTCP_ATTR_REM_ID = 4;
export const MPTCP_ATTR_SADDR4 = 5;
export const MPTCP_ATTR_SADDR6 = 6;
export const MPTCP_ATTR_DADDR4 = 7;
export const MPTCP_ATTR_DADDR6 = 8;
/** u16, big-endian (network order). */
export const MPTCP_ATTR_SPORT = 9;
export const MPTCP_ATTR_DPORT = 10;
export const MPTCP_ATTR_BACKUP = 11;
export const MPTCP_ATTR_ERROR = 12;
export const MPTCP_ATTR_FLAGS = 13;
export const MPTCP_ATTR_TIMEOUT = 14;
export const MPTCP_ATTR_IF_IDX = 15;
export const MPTCP_ATTR_RESET_REASON = 16;
export const MPTCP_ATTR_RESET_FLAGS = 17;
export const MPTCP_ATTR_SERVER_SIDE = 18;
/** MPTCP_ATTR_MAX on 6.18: higher ids come from a newer kernel and are kept raw. */
export const MPTCP_ATTR_MAX = MPTCP_ATTR_SERVER_SIDE;

/** enum { MPTCP_SUBFLOW_ATTR_* }: the subflow's ULP info in a sock_diag TCP dump (INET_DIAG_ULP_INFO). */
export const MPTCP_SUBFLOW_ATTR_TOKEN_REM = 1;
export const MPTCP_SUBFLOW_ATTR_TOKEN_LOC = 2;
export const MPTCP_SUBFLOW_ATTR_FLAGS = 8;
export const MPTCP_SUBFLOW_ATTR_ID_REM = 9;
export const MPTCP_SUBFLOW_ATTR_ID_LOC = 10;
