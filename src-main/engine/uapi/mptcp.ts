/**
 * uapi: linux/mptcp.h. The names of the `mptcp_pm` multicast groups, endpoint flags, event flags,
 * struct mptcp_info and subflow flags, and MP_TCPRST reason codes (the family's numbers:
 * ./mptcp-pm.ts, linux/mptcp_pm.h).
 */

/** MPTCP_PM_CMD_GRP_NAME: a group anyone may join; nothing is sent to it. */
export const MPTCP_PM_CMD_GRP_NAME = 'mptcp_pm_cmds';
/** MPTCP_PM_EV_GRP_NAME: every path-manager event; joining needs CAP_NET_ADMIN. */
export const MPTCP_PM_EV_GRP_NAME = 'mptcp_pm_events';

/** MPTCP_PM_ADDR_FLAG_*: endpoint flags (MPTCP_PM_ADDR_ATTR_FLAGS). */
export const MPTCP_PM_ADDR_FLAG_SIGNAL = 1 << 0;
export const MPTCP_PM_ADDR_FLAG_SUBFLOW = 1 << 1;
export const MPTCP_PM_ADDR_FLAG_BACKUP = 1 << 2;
export const MPTCP_PM_ADDR_FLAG_FULLMESH = 1 << 3;
export const MPTCP_PM_ADDR_FLAG_IMPLICIT = 1 << 4;
export const MPTCP_PM_ADDR_FLAG_LAMINAR = 1 << 5;

/** MPTCP_PM_EV_FLAG_*: bits of MPTCP_ATTR_FLAGS in CREATED / ESTABLISHED events. */
export const MPTCP_PM_EV_FLAG_DENY_JOIN_ID0 = 1 << 0;
export const MPTCP_PM_EV_FLAG_SERVER_SIDE = 1 << 1;

/** MPTCP_INFO_FLAG_*: struct mptcp_info's mptcpi_flags. */
export const MPTCP_INFO_FLAG_FALLBACK = 1 << 0;
export const MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED = 1 << 1;

/** MPTCP_SUBFLOW_FLAG_*: MPTCP_SUBFLOW_ATTR_FLAGS of a subflow's ULP info (sock_diag). */
export const MPTCP_SUBFLOW_FLAG_MCAP_REM = 1 << 0;
export const MPTCP_SUBFLOW_FLAG_MCAP_LOC = 1 << 1;
export const MPTCP_SUBFLOW_FLAG_JOIN_REM = 1 << 2;
export const MPTCP_SUBFLOW_FLAG_JOIN_LOC = 1 << 3;
export const MPTCP_SUBFLOW_FLAG_BKUP_REM = 1 << 4;
export const MPTCP_SUBFLOW_FLAG_BKUP_LOC = 1 << 5;
export const MPTCP_SUBFLOW_FLAG_FULLY_ESTABLISHED = 1 << 6;
export const MPTCP_SUBFLOW_FLAG_CONNECTED = 1 << 7;
export const MPTCP_SUBFLOW_FLAG_MAPVALID = 1 << 8;

/** MPTCP_RST_* (RFC 8684 §3.6), indexed by MPTCP_ATTR_RESET_REASON. */
export const MPTCP_RST_NAMES = [
  'unspecified',
  'mptcp',
  'resource',
  'prohibited',
  'wq2big',
  'badperf',
  'middlebox',
] as const;
