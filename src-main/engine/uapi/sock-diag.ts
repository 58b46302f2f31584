/**
 * uapi: linux/sock_diag.h, linux/inet_diag.h, linux/unix_diag.h and linux/netlink_diag.h. The
 * sock_diag requests the engine sends (NETLINK_SOCK_DIAG, ./netlink.ts) and the attributes it reads
 * back. Struct layouts beyond their lengths live with their decoders.
 */

/** linux/sock_diag.h: the one request type; the family is the request's first byte. */
export const SOCK_DIAG_BY_FAMILY = 20;

// --- linux/inet_diag.h -------------------------------------------------------------------------

/** sizeof(struct inet_diag_req_v2). */
export const INET_DIAG_REQ_V2_LEN = 56;
/** sizeof(struct inet_diag_msg). */
export const INET_DIAG_MSG_LEN = 72;
/** INET_DIAG_NOCOOKIE: idiag_cookie "any". */
export const INET_DIAG_NOCOOKIE = 0xffffffff;

/** enum { INET_DIAG_REQ_* }: request attributes. */
export const INET_DIAG_REQ_BYTECODE = 1;
/** u32; needed for IPPROTO_MPTCP, which does not fit the request's u8 sdiag_protocol. */
export const INET_DIAG_REQ_PROTOCOL = 3;

/** enum { INET_DIAG_* }: reply attributes; the request's idiag_ext asks for (1 << (type - 1)). */
export const INET_DIAG_INFO = 2;
export const INET_DIAG_CONG = 4;
export const INET_DIAG_ULP_INFO = 19;

/** enum { INET_ULP_INFO_* }: inside INET_DIAG_ULP_INFO. */
export const INET_ULP_INFO_NAME = 1;
export const INET_ULP_INFO_MPTCP = 3;

/** enum { INET_DIAG_BC_* }: the filter bytecode's operations. */
export const INET_DIAG_BC_JMP = 1;
export const INET_DIAG_BC_S_GE = 2;
export const INET_DIAG_BC_S_LE = 3;
export const INET_DIAG_BC_D_GE = 4;
export const INET_DIAG_BC_D_LE = 5;
export const INET_DIAG_BC_S_EQ = 11;
export const INET_DIAG_BC_D_EQ = 12;

/**
 * TCPF_* = 1 << TCP_* state (include/net/tcp_states.h; not uapi, but ABI through
 * inet_diag_req_v2.idiag_states, and the same in ss).
 */
export const TCPF_TIME_WAIT = 1 << 6;
export const TCPF_LISTEN = 1 << 10;
export const TCPF_NEW_SYN_RECV = 1 << 12;

// --- linux/unix_diag.h -------------------------------------------------------------------------

/** sizeof(struct unix_diag_req). */
export const UNIX_DIAG_REQ_LEN = 24;
/** sizeof(struct unix_diag_msg). */
export const UNIX_DIAG_MSG_LEN = 16;
/** unix_diag_req.udiag_show bits. */
export const UDIAG_SHOW_VFS = 0x02;
export const UDIAG_SHOW_PEER = 0x04;
export const UDIAG_SHOW_UID = 0x40;
/** enum { UNIX_DIAG_* } */
export const UNIX_DIAG_VFS = 1;
export const UNIX_DIAG_PEER = 2;
export const UNIX_DIAG_UID = 7;

// --- linux/netlink_diag.h ----------------------------------------------------------------------

/** sizeof(struct netlink_diag_req { u8 family; u8 protocol; u16 pad; u32 ino; u32 show; u32 cookie[2]; }). */
export const NETLINK_DIAG_REQ_LEN = 20;
/**
 * sizeof(struct netlink_diag_msg { u8 family, type, protocol, state; u32 portid, dst_portid,
 * dst_group, ino; u32 cookie[2]; }).
 */
export const NETLINK_DIAG_MSG_LEN = 28;
