/**
 * The kernel's sock_diag structs and constants as engine/diag reads them, written down once.
 *
 * One field table per uapi struct: every field's byte offset, width (u8, u16, be16, u32, u64, a
 * bitfield with its bit position, an array) and the shortest struct that holds it (`minLen`: a
 * kernel older than the table sends a shorter struct, and a field past its end reads as zero, as
 * ss does). The decoders take their offsets and word indices (offset / 4) from here and nowhere
 * else (decode.ts, poll-memory.ts, connections.ts, dump-worker-thread.ts), and
 * uapi-structs.int.test.ts checks every field against the running kernel's BTF
 * (/sys/kernel/btf/vmlinux), so a wrong offset fails a test instead of decoding garbage.
 *
 * Layouts are those of Linux 6.18 (include/uapi/linux/tcp.h struct tcp_info: 280 bytes;
 * include/uapi/linux/mptcp.h struct mptcp_info: 96 bytes). Structs only ever grow at the end, so a
 * newer kernel's longer struct keeps these offsets (the BTF test accepts extra trailing members).
 *
 * Constants shared beyond engine/diag (AF_*, IPPROTO_*, SOCK_DIAG_BY_FAMILY, INET_DIAG_*, NLMSG_*)
 * are defined once in ../uapi/; this file adds the ones only engine/diag reads.
 */
import type { TcpState } from '../../../shared/types';
import { IPPROTO_MPTCP, IPPROTO_TCP } from '../uapi/socket';
import {
  INET_DIAG_BC_D_EQ,
  INET_DIAG_BC_JMP,
  INET_DIAG_BC_S_EQ,
  INET_DIAG_CONG,
  INET_DIAG_INFO,
  INET_DIAG_REQ_BYTECODE,
  INET_DIAG_REQ_PROTOCOL,
  INET_DIAG_ULP_INFO,
  TCPF_LISTEN,
  TCPF_NEW_SYN_RECV,
  TCPF_TIME_WAIT,
} from '../uapi/sock-diag';

/** How a field is stored. `bits`: a bitfield (bitOffset/bitSize); `array`: `size` bytes of elements. */
export type FieldWidth = 'u8' | 'u16' | 'be16' | 'u32' | 'be32' | 'u64' | 'bits' | 'array';

export interface UapiField {
  /** The member's name in the uapi header; a member of a nested struct is `outer.inner`. */
  readonly name: string;
  /** Byte offset from the struct's start; a bitfield: the byte holding its lowest bit. */
  readonly offset: number;
  readonly width: FieldWidth;
  /** Bytes the field occupies; a bitfield: the size of its declared type (__u8: 1). */
  readonly size: number;
  /** Bit offset from the struct's start, as BTF counts (offset * 8 unless a bitfield). */
  readonly bitOffset: number;
  /** A bitfield's width in bits; 0 for every other field. */
  readonly bitSize: number;
  /** The shortest struct (attribute payload) that holds the whole field. */
  readonly minLen: number;
}

export interface UapiStruct<K extends string = string> {
  /** The struct's tag in the uapi header (and in BTF): `tcp_info` for struct tcp_info. */
  readonly name: string;
  /** The header that defines it, for readers. */
  readonly header: string;
  /** sizeof(struct) in the layout the table describes. */
  readonly size: number;
  readonly fields: { readonly [N in K]: UapiField };
  /** The fields in offset order. */
  readonly list: readonly UapiField[];
}

type FieldSpec = Omit<UapiField, 'name' | 'minLen'>;

const SIZES = { u8: 1, u16: 2, be16: 2, u32: 4, be32: 4, u64: 8 } as const;

const scalar =
  (width: keyof typeof SIZES) =>
  (offset: number): FieldSpec => ({
    offset,
    width,
    size: SIZES[width],
    bitOffset: offset * 8,
    bitSize: 0,
  });
const u8 = scalar('u8');
const u16 = scalar('u16');
const be16 = scalar('be16');
const u32 = scalar('u32');
const u64 = scalar('u64');
/** An array of `count` elements of `elemSize` bytes. */
const array = (offset: number, elemSize: number, count: number): FieldSpec => ({
  offset,
  width: 'array',
  size: elemSize * count,
  bitOffset: offset * 8,
  bitSize: 0,
});
/** A bitfield of a __u8: `bitSize` bits at bit `bitOffset` of the struct (little-endian order). */
const bits = (bitOffset: number, bitSize: number): FieldSpec => ({
  offset: bitOffset >>> 3,
  width: 'bits',
  size: 1,
  bitOffset,
  bitSize,
});
/** The fields of a nested struct at `base`, named `prefix.member`. */
function nested<K extends string>(
  prefix: string,
  base: number,
  inner: { readonly [N in K]: FieldSpec },
): Record<string, FieldSpec> {
  const out: Record<string, FieldSpec> = {};
  for (const [name, f] of Object.entries<FieldSpec>(inner))
    out[`${prefix}.${name}`] = { ...f, offset: base + f.offset, bitOffset: base * 8 + f.bitOffset };
  return out;
}

/**
 * Builds a table and checks it at module load: fields in offset order, none overlapping another,
 * all inside the struct, scalars aligned to their size (the word decoders rely on it). A table
 * that breaks one of these throws on import, so any test that loads the decoders catches it.
 */
function uapiStruct<K extends string>(
  name: string,
  header: string,
  size: number,
  specs: { readonly [N in K]: FieldSpec },
): UapiStruct<K> {
  const fields = {} as { [N in K]: UapiField };
  const list: UapiField[] = [];
  let endBits = 0;
  for (const [fname, s] of Object.entries<FieldSpec>(specs)) {
    const bitEnd = s.bitOffset + (s.bitSize || s.size * 8);
    const f: UapiField = { name: fname, ...s, minLen: Math.ceil(bitEnd / 8) };
    const where = `struct ${name}.${fname}`;
    if (s.bitOffset < endBits) throw new Error(`${where} overlaps the field before it or is out of order`);
    if (f.minLen > size) throw new Error(`${where} ends past sizeof(struct ${name}) = ${size}`);
    if (s.width !== 'bits' && s.width !== 'array' && s.offset % s.size !== 0)
      throw new Error(`${where} at ${s.offset} is not aligned to its ${s.size} bytes`);
    endBits = bitEnd;
    (fields as Record<string, UapiField>)[fname] = f;
    list.push(f);
  }
  return { name, header, size, fields, list };
}

// --- include/uapi/linux/inet_diag.h ------------------------------------------------------------

/** struct inet_diag_sockid: ports and addresses in network byte order. */
const INET_DIAG_SOCKID = {
  idiag_sport: be16(0),
  idiag_dport: be16(2),
  /** __be32[4]; IPv4 uses the first. */
  idiag_src: array(4, 4, 4),
  idiag_dst: array(20, 4, 4),
  idiag_if: u32(36),
  /** __u32[2]; INET_DIAG_NOCOOKIE is ~0. */
  idiag_cookie: array(40, 4, 2),
} as const;

/** struct inet_diag_msg: the head of every sock_diag reply; attributes follow it. */
export const INET_DIAG_MSG = uapiStruct('inet_diag_msg', 'include/uapi/linux/inet_diag.h', 72, {
  idiag_family: u8(0),
  idiag_state: u8(1),
  idiag_timer: u8(2),
  idiag_retrans: u8(3),
  ...(nested('id', 4, INET_DIAG_SOCKID) as {
    [N in `id.${keyof typeof INET_DIAG_SOCKID}`]: FieldSpec;
  }),
  idiag_expires: u32(52),
  idiag_rqueue: u32(56),
  idiag_wqueue: u32(60),
  idiag_uid: u32(64),
  idiag_inode: u32(68),
});

/** struct inet_diag_req_v2: a SOCK_DIAG_BY_FAMILY request; request attributes follow it. */
export const INET_DIAG_REQ_V2 = uapiStruct('inet_diag_req_v2', 'include/uapi/linux/inet_diag.h', 56, {
  sdiag_family: u8(0),
  /** A __u8: IPPROTO_MPTCP (262) goes in the INET_DIAG_REQ_PROTOCOL attribute instead. */
  sdiag_protocol: u8(1),
  idiag_ext: u8(2),
  pad: u8(3),
  idiag_states: u32(4),
  ...(nested('id', 8, INET_DIAG_SOCKID) as {
    [N in `id.${keyof typeof INET_DIAG_SOCKID}`]: FieldSpec;
  }),
});

/** struct inet_diag_bc_op: one op of an INET_DIAG_REQ_BYTECODE filter. */
export const INET_DIAG_BC_OP = uapiStruct('inet_diag_bc_op', 'include/uapi/linux/inet_diag.h', 4, {
  code: u8(0),
  yes: u8(1),
  no: u16(2),
});

// --- include/uapi/linux/netlink.h ----------------------------------------------------------------

/** struct nlmsghdr, host byte order. */
export const NLMSGHDR = uapiStruct('nlmsghdr', 'include/uapi/linux/netlink.h', 16, {
  nlmsg_len: u32(0),
  nlmsg_type: u16(4),
  nlmsg_flags: u16(6),
  nlmsg_seq: u32(8),
  nlmsg_pid: u32(12),
});

/** struct nlattr, host byte order: one u32 word holds nla_len (low half) and nla_type (high half). */
export const NLATTR = uapiStruct('nlattr', 'include/uapi/linux/netlink.h', 4, {
  nla_len: u16(0),
  nla_type: u16(2),
});

// --- include/uapi/linux/tcp.h --------------------------------------------------------------------

/** struct tcp_info (INET_DIAG_INFO of a TCP socket). */
export const TCP_INFO = uapiStruct('tcp_info', 'include/uapi/linux/tcp.h', 280, {
  tcpi_state: u8(0),
  tcpi_ca_state: u8(1),
  tcpi_retransmits: u8(2),
  tcpi_probes: u8(3),
  tcpi_backoff: u8(4),
  tcpi_options: u8(5),
  tcpi_snd_wscale: bits(48, 4),
  tcpi_rcv_wscale: bits(52, 4),
  tcpi_delivery_rate_app_limited: bits(56, 1),
  tcpi_fastopen_client_fail: bits(57, 2),
  tcpi_rto: u32(8),
  tcpi_ato: u32(12),
  tcpi_snd_mss: u32(16),
  tcpi_rcv_mss: u32(20),
  tcpi_unacked: u32(24),
  tcpi_sacked: u32(28),
  tcpi_lost: u32(32),
  tcpi_retrans: u32(36),
  tcpi_fackets: u32(40),
  tcpi_last_data_sent: u32(44),
  tcpi_last_ack_sent: u32(48),
  tcpi_last_data_recv: u32(52),
  tcpi_last_ack_recv: u32(56),
  tcpi_pmtu: u32(60),
  tcpi_rcv_ssthresh: u32(64),
  tcpi_rtt: u32(68),
  tcpi_rttvar: u32(72),
  tcpi_snd_ssthresh: u32(76),
  tcpi_snd_cwnd: u32(80),
  tcpi_advmss: u32(84),
  tcpi_reordering: u32(88),
  tcpi_rcv_rtt: u32(92),
  tcpi_rcv_space: u32(96),
  tcpi_total_retrans: u32(100),
  tcpi_pacing_rate: u64(104),
  tcpi_max_pacing_rate: u64(112),
  tcpi_bytes_acked: u64(120),
  tcpi_bytes_received: u64(128),
  tcpi_segs_out: u32(136),
  tcpi_segs_in: u32(140),
  tcpi_notsent_bytes: u32(144),
  tcpi_min_rtt: u32(148),
  tcpi_data_segs_in: u32(152),
  tcpi_data_segs_out: u32(156),
  tcpi_delivery_rate: u64(160),
  tcpi_busy_time: u64(168),
  tcpi_rwnd_limited: u64(176),
  tcpi_sndbuf_limited: u64(184),
  tcpi_delivered: u32(192),
  tcpi_delivered_ce: u32(196),
  tcpi_bytes_sent: u64(200),
  tcpi_bytes_retrans: u64(208),
  tcpi_dsack_dups: u32(216),
  tcpi_reord_seen: u32(220),
  tcpi_rcv_ooopack: u32(224),
  tcpi_snd_wnd: u32(228),
  tcpi_rcv_wnd: u32(232),
  tcpi_rehash: u32(236),
  tcpi_total_rto: u16(240),
  tcpi_total_rto_recoveries: u16(242),
  tcpi_total_rto_time: u32(244),
  tcpi_received_ce: u32(248),
  tcpi_delivered_e1_bytes: u32(252),
  tcpi_delivered_e0_bytes: u32(256),
  tcpi_delivered_ce_bytes: u32(260),
  tcpi_received_e1_bytes: u32(264),
  tcpi_received_e0_bytes: u32(268),
  tcpi_received_ce_bytes: u32(272),
  tcpi_accecn_fail_mode: u16(276),
  tcpi_accecn_opt_seen: u16(278),
});

// --- include/uapi/linux/mptcp.h ------------------------------------------------------------------

/** struct mptcp_info (INET_DIAG_INFO of an MPTCP socket). */
export const MPTCP_INFO = uapiStruct('mptcp_info', 'include/uapi/linux/mptcp.h', 96, {
  mptcpi_subflows: u8(0),
  mptcpi_add_addr_signal: u8(1),
  mptcpi_add_addr_accepted: u8(2),
  mptcpi_subflows_max: u8(3),
  mptcpi_add_addr_signal_max: u8(4),
  mptcpi_add_addr_accepted_max: u8(5),
  mptcpi_flags: u32(8),
  mptcpi_token: u32(12),
  mptcpi_write_seq: u64(16),
  mptcpi_snd_una: u64(24),
  mptcpi_rcv_nxt: u64(32),
  mptcpi_local_addr_used: u8(40),
  mptcpi_local_addr_max: u8(41),
  mptcpi_csum_enabled: u8(42),
  mptcpi_retransmits: u32(44),
  mptcpi_bytes_retrans: u64(48),
  mptcpi_bytes_sent: u64(56),
  mptcpi_bytes_received: u64(64),
  mptcpi_bytes_acked: u64(72),
  mptcpi_subflows_total: u8(80),
  mptcpi_endp_laminar_max: u8(81),
  reserved: array(82, 1, 2),
  mptcpi_last_data_sent: u32(84),
  mptcpi_last_data_recv: u32(88),
  mptcpi_last_ack_recv: u32(92),
});

/** Every table, for the BTF check. */
export const UAPI_STRUCTS: readonly UapiStruct[] = [
  INET_DIAG_MSG,
  INET_DIAG_REQ_V2,
  INET_DIAG_BC_OP,
  NLMSGHDR,
  NLATTR,
  TCP_INFO,
  MPTCP_INFO,
];

/**
 * The u32 word index (offset / 4) of a u32 or u64 field: where a word decoder reads it (a u64's
 * low half; its high half is the next word). Throws for any other field, so a decoder cannot
 * word-load a u8 by mistake.
 */
export function wordIndex(f: UapiField): number {
  if (f.width !== 'u32' && f.width !== 'u64')
    throw new Error(`${f.name} is a ${f.width}, not a u32/u64 word`);
  return f.offset >>> 2;
}

/**
 * Every u32 word index the fields occupy, ascending, each once. (A plain array of small integers,
 * filled by push: V8 keeps it a packed Smi array, which the record loops index per socket.)
 */
export function wordsCovering(fields: readonly UapiField[]): number[] {
  const used = new Uint8Array(1 << 14);
  let last = -1;
  for (const f of fields) {
    for (let k = f.offset >>> 2; k <= (f.offset + f.size - 1) >>> 2; k++) used[k] = 1;
    last = Math.max(last, (f.offset + f.size - 1) >>> 2);
  }
  const out: number[] = [];
  for (let k = 0; k <= last; k++) if (used[k] === 1) out.push(k);
  return out;
}

/**
 * Per attribute length 0..s.size: the longest prefix that holds only whole fields. A decoder that
 * zero-fills past it reads a field cut by a short attribute as 0, never as half a value.
 */
export function wholeFieldPrefixes(s: UapiStruct): Uint16Array {
  const out = new Uint16Array(s.size + 1);
  let k = 0;
  let best = 0;
  for (let len = 0; len <= s.size; len++) {
    while (k < s.list.length && s.list[k]!.minLen <= len) best = Math.max(best, s.list[k++]!.minLen);
    out[len] = best;
  }
  return out;
}

// --- constants engine/diag reads that ../uapi/ does not define --------------------------------

// INET_ULP_INFO_* (include/uapi/linux/inet_diag.h): the INET_DIAG_ULP_INFO nest.
export const INET_ULP_INFO_NAME = 1;
export const INET_ULP_INFO_MPTCP = 3;
// MPTCP_SUBFLOW_ATTR_* (include/uapi/linux/mptcp.h): the INET_ULP_INFO_MPTCP nest.
export const MPTCP_SUBFLOW_ATTR_TOKEN_REM = 1;
export const MPTCP_SUBFLOW_ATTR_TOKEN_LOC = 2;
export const MPTCP_SUBFLOW_ATTR_FLAGS = 8;
export const MPTCP_SUBFLOW_ATTR_ID_REM = 9;
export const MPTCP_SUBFLOW_ATTR_ID_LOC = 10;

/**
 * idiag_state / tcpi_state names by their TCP_* value (include/net/tcp_states.h; the index is the
 * value). Names are the contract's TcpState (checked here); the BTF check compares `TCP_${name}`
 * with the index.
 */
export const TCP_STATE_NAMES = [
  'UNKNOWN',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
  'BOUND_INACTIVE',
] as const satisfies readonly TcpState[];

/**
 * Enum constants engine/diag uses, here and from ../uapi/, by their uapi name: the BTF check
 * compares each with the kernel's enumerator of that name (#defines are not in BTF: the lab tests
 * check those against ss and the kernel's answers).
 */
export const UAPI_ENUM_VALUES: Readonly<Record<string, number>> = {
  INET_DIAG_INFO,
  INET_DIAG_CONG,
  INET_DIAG_ULP_INFO,
  INET_DIAG_REQ_BYTECODE,
  INET_DIAG_REQ_PROTOCOL,
  INET_DIAG_BC_JMP,
  INET_DIAG_BC_S_EQ,
  INET_DIAG_BC_D_EQ,
  INET_ULP_INFO_NAME,
  INET_ULP_INFO_MPTCP,
  MPTCP_SUBFLOW_ATTR_TOKEN_REM,
  MPTCP_SUBFLOW_ATTR_TOKEN_LOC,
  MPTCP_SUBFLOW_ATTR_FLAGS,
  MPTCP_SUBFLOW_ATTR_ID_REM,
  MPTCP_SUBFLOW_ATTR_ID_LOC,
  IPPROTO_TCP,
  IPPROTO_MPTCP,
  ...Object.fromEntries(TCP_STATE_NAMES.slice(1).map((n, i) => [`TCP_${n}`, i + 1])),
};
/** TCPF_* masks (1 << TCP_*) from ../uapi/sock-diag.ts, for the BTF check of their states. */
export const UAPI_STATE_MASKS: Readonly<Record<string, number>> = {
  TCP_TIME_WAIT: TCPF_TIME_WAIT,
  TCP_LISTEN: TCPF_LISTEN,
  TCP_NEW_SYN_RECV: TCPF_NEW_SYN_RECV,
};

// --- #define constants (not in BTF) -------------------------------------------------------------

// MPTCP_INFO_FLAG_* (mptcpi_flags) and MPTCP_SUBFLOW_FLAG_* (MPTCP_SUBFLOW_ATTR_FLAGS) are in
// ../uapi/mptcp.ts, with the rest of uapi: linux/mptcp.h.
/** TCP_INFINITE_SSTHRESH (include/net/tcp.h): tcpi_snd_ssthresh when there is none. */
export const TCP_INFINITE_SSTHRESH = 0x7fffffff;
