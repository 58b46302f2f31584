/** uapi: linux/capability.h. Bit numbers in /proc/PID/status CapEff. */

/** Endpoint, limit and userspace-PM commands, joining mptcp_pm_events, sysctl and MTU writes. */
export const CAP_NET_ADMIN = 12;
