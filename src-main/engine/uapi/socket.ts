/**
 * Address families (AF_*: <sys/socket.h>, the kernel's include/linux/socket.h) and IP protocols
 * (uapi: linux/in.h), as they appear in netlink messages.
 */

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;

/** enum { IPPROTO_* } (linux/in.h). */
export const IPPROTO_TCP = 6;
export const IPPROTO_MPTCP = 262;
