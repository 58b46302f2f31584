/**
 * Pure decoders for sock_diag replies (include/uapi/linux/inet_diag.h, tcp.h, mptcp.h) and the
 * snapshot builder that joins MPTCP sockets with their TCP subflows.
 *
 * Every offset comes from the field tables of uapi-structs.ts (checked against the kernel's BTF by
 * uapi-structs.int.test.ts): byte offsets for u8 fields, word indices (offset / 4) for u32 and u64
 * ones, computed once at module load. Each struct has one reader (readTcpInfo, readMptcpInfo) that
 * loads native u32 words from a Uint32Array view of the received datagram (3x faster than
 * readUInt32LE per field, bench/poll.mjs). The single-struct Buffer decoders (decodeTcpInfo,
 * fillTcpInfo, ...) run the same reader on an aligned, zero-filled copy: the kernel structs grow
 * over releases, and a shorter (older) struct reads as zero-filled past its last whole field, as
 * ss does.
 *
 * This is the hot path of a poll: 10,000 connections mean 30,000 messages per tick. The builder
 * allocates nothing for messages it skips (plain TCP sockets, orphans) and one object per socket
 * it keeps (plus V8's boxes for its u32/u64 fields above 2^30).
 */
import type { AddressFamily, Connection, Subflow, SubflowFlags, TcpState } from '../../../shared/types';
import { formatIpv6 } from '../../../shared/packet/addr';
import {
  AGE_TOLERANCE_MS,
  CONN_WORDS,
  MPTCP_INFO_READ,
  MPTCP_INFO_RECORD_LEN,
  MPTCP_INFO_WORDS,
  NO_CONN,
  PollMemory,
  sameWords,
  SUB_CONN,
  SUB_POS,
  SUB_TCP_INFO,
  SUB_WORDS,
  subflowKey,
  TCP_INFO_READ,
  TCP_INFO_AGES,
  TCP_INFO_RECORD_LEN,
  TCP_INFO_WORDS,
  TokenIndex,
} from './poll-memory';
import { NLA_TYPE_MASK } from '../uapi/netlink';
import { AF_INET, AF_INET6 } from '../uapi/socket';
import { INET_DIAG_CONG, INET_DIAG_INFO, INET_DIAG_ULP_INFO } from '../uapi/sock-diag';
import {
  MPTCP_INFO_FLAG_FALLBACK,
  MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED,
  MPTCP_SUBFLOW_FLAG_BKUP_LOC,
  MPTCP_SUBFLOW_FLAG_BKUP_REM,
  MPTCP_SUBFLOW_FLAG_CONNECTED,
  MPTCP_SUBFLOW_FLAG_FULLY_ESTABLISHED,
  MPTCP_SUBFLOW_FLAG_JOIN_LOC,
  MPTCP_SUBFLOW_FLAG_JOIN_REM,
  MPTCP_SUBFLOW_FLAG_MAPVALID,
  MPTCP_SUBFLOW_FLAG_MCAP_LOC,
  MPTCP_SUBFLOW_FLAG_MCAP_REM,
} from '../uapi/mptcp';
import {
  INET_DIAG_MSG,
  INET_ULP_INFO_MPTCP,
  INET_ULP_INFO_NAME,
  MPTCP_INFO,
  MPTCP_SUBFLOW_ATTR_FLAGS,
  MPTCP_SUBFLOW_ATTR_ID_LOC,
  MPTCP_SUBFLOW_ATTR_ID_REM,
  MPTCP_SUBFLOW_ATTR_TOKEN_LOC,
  MPTCP_SUBFLOW_ATTR_TOKEN_REM,
  NLATTR,
  TCP_INFINITE_SSTHRESH,
  TCP_INFO,
  TCP_STATE_NAMES,
  wholeFieldPrefixes,
  wordIndex,
  type UapiField,
  type UapiStruct,
} from './uapi-structs';

export { PollMemory } from './poll-memory';

/** sizeof(struct inet_diag_msg): attributes start here. */
export const INET_DIAG_MSG_LEN = INET_DIAG_MSG.size;

const TWO_32 = 4294967296;
/** The high word of a u64 above which it passes Number.MAX_SAFE_INTEGER (2^53 - 1). */
const MAX_SAFE_HI = 0x1fffff;

export function tcpStateName(n: number): TcpState {
  return TCP_STATE_NAMES[n] ?? 'UNKNOWN';
}

// --- offsets, from the tables (uapi-structs.ts) -------------------------------------------------

/** A u8 field's byte offset. */
function byteOffset(f: UapiField): number {
  if (f.width !== 'u8') throw new Error(`${f.name} is a ${f.width}, not a u8`);
  return f.offset;
}

/**
 * The word index of a u32/u64 field the records keep (poll-memory.ts *_INFO_READ): a decoder
 * that read a field its record does not keep would hand out a stale object when only that field
 * changed, so such a read fails at module load.
 */
function recordedWord(read: readonly UapiField[], f: UapiField): number {
  if (!read.includes(f)) throw new Error(`${f.name} is read but not kept in the poll records`);
  return wordIndex(f);
}
function recordedByte(read: readonly UapiField[], f: UapiField): number {
  if (!read.includes(f)) throw new Error(`${f.name} is read but not kept in the poll records`);
  return byteOffset(f);
}
/**
 * Where a u8 or one-bit field of a recorded struct sits in its u32 word: [word index, shift]. The
 * tcp_info reader takes bytes and bits from the words it loads anyway (little-endian only, as the
 * builder).
 */
function recordedBitsOf(read: readonly UapiField[], f: UapiField): [number, number] {
  if (!read.includes(f)) throw new Error(`${f.name} is read but not kept in the poll records`);
  if (f.width === 'u8') return [f.offset >>> 2, (f.offset & 3) * 8];
  if (f.width === 'bits' && f.bitSize === 1) return [f.bitOffset >>> 5, f.bitOffset & 31];
  throw new Error(`${f.name} is a ${f.width}, not a u8 or a one-bit field`);
}

// struct inet_diag_msg (include/uapi/linux/inet_diag.h): byte offsets in the message.
const DM = INET_DIAG_MSG.fields;
const MSG_FAMILY = byteOffset(DM.idiag_family);
const MSG_STATE = byteOffset(DM.idiag_state);
/** idiag_sport and idiag_dport (big-endian), one u32 word together. */
const MSG_PORTS = DM['id.idiag_sport'].offset;
const MSG_DPORT = DM['id.idiag_dport'].offset;
const MSG_SRC = DM['id.idiag_src'].offset;
const MSG_DST = DM['id.idiag_dst'].offset;
const MSG_IF = DM['id.idiag_if'].offset;
const MSG_INODE = DM.idiag_inode.offset;
if (MSG_PORTS % 4 !== 0 || MSG_DPORT !== MSG_PORTS + 2 || MSG_SRC % 4 !== 0 || MSG_DST % 4 !== 0)
  throw new Error('struct inet_diag_sockid: ports or addresses are not where the word loads expect them');
// struct nlattr (include/uapi/linux/netlink.h): one word, nla_len in the low half (little-endian).
if (NLATTR.fields.nla_len.offset !== 0 || NLATTR.fields.nla_type.offset !== 2)
  throw new Error('struct nlattr: nla_len/nla_type are not where the word loads expect them');

// struct mptcp_info (include/uapi/linux/mptcp.h)
const MI = MPTCP_INFO.fields;
const mptcpWord = (f: UapiField): number => recordedWord(MPTCP_INFO_READ, f);
const mptcpByte = (f: UapiField): number => recordedByte(MPTCP_INFO_READ, f);
const MI_SUBFLOWS = mptcpByte(MI.mptcpi_subflows);
const MI_ADD_ADDR_SIGNAL = mptcpByte(MI.mptcpi_add_addr_signal);
const MI_ADD_ADDR_ACCEPTED = mptcpByte(MI.mptcpi_add_addr_accepted);
const MI_SUBFLOWS_MAX = mptcpByte(MI.mptcpi_subflows_max);
const MI_CSUM_ENABLED = mptcpByte(MI.mptcpi_csum_enabled);
const MI_SUBFLOWS_TOTAL = mptcpByte(MI.mptcpi_subflows_total);
/** mptcpi_subflows_total came later (6.10): a shorter struct only has the extra subflows' count. */
const MI_SUBFLOWS_TOTAL_LEN = MI.mptcpi_subflows_total.minLen;
const MI_FLAGS = mptcpWord(MI.mptcpi_flags);
const MI_TOKEN = mptcpWord(MI.mptcpi_token);
const MI_RETRANSMITS = mptcpWord(MI.mptcpi_retransmits);
const MI_BYTES_RETRANS = mptcpWord(MI.mptcpi_bytes_retrans);
const MI_BYTES_SENT = mptcpWord(MI.mptcpi_bytes_sent);
const MI_BYTES_RECEIVED = mptcpWord(MI.mptcpi_bytes_received);
const MI_BYTES_ACKED = mptcpWord(MI.mptcpi_bytes_acked);

// struct tcp_info (include/uapi/linux/tcp.h)
const TI = TCP_INFO.fields;
const tcpWord = (f: UapiField): number => recordedWord(TCP_INFO_READ, f);
const TI_RTO = tcpWord(TI.tcpi_rto);
const TI_SND_MSS = tcpWord(TI.tcpi_snd_mss);
const TI_UNACKED = tcpWord(TI.tcpi_unacked);
const TI_LOST = tcpWord(TI.tcpi_lost);
const TI_PMTU = tcpWord(TI.tcpi_pmtu);
const TI_RTT = tcpWord(TI.tcpi_rtt);
const TI_RTTVAR = tcpWord(TI.tcpi_rttvar);
const TI_SND_SSTHRESH = tcpWord(TI.tcpi_snd_ssthresh);
const TI_SND_CWND = tcpWord(TI.tcpi_snd_cwnd);
const TI_TOTAL_RETRANS = tcpWord(TI.tcpi_total_retrans);
const TI_PACING_RATE = tcpWord(TI.tcpi_pacing_rate);
const TI_BYTES_ACKED = tcpWord(TI.tcpi_bytes_acked);
const TI_BYTES_RECEIVED = tcpWord(TI.tcpi_bytes_received);
const TI_MIN_RTT = tcpWord(TI.tcpi_min_rtt);
const TI_DELIVERY_RATE = tcpWord(TI.tcpi_delivery_rate);
const TI_BYTES_SENT = tcpWord(TI.tcpi_bytes_sent);
const TI_BYTES_RETRANS = tcpWord(TI.tcpi_bytes_retrans);
const [TI_PROBES, TI_PROBES_SHIFT] = recordedBitsOf(TCP_INFO_READ, TI.tcpi_probes);
const [TI_BACKOFF, TI_BACKOFF_SHIFT] = recordedBitsOf(TCP_INFO_READ, TI.tcpi_backoff);
const [TI_APP_LIMITED, TI_APP_LIMITED_SHIFT] = recordedBitsOf(
  TCP_INFO_READ,
  TI.tcpi_delivery_rate_app_limited,
);
/** The ages (ms), kept in the records as times: see TCP_INFO_AGES. */
const tcpAge = (f: UapiField): number => {
  if (!TCP_INFO_AGES.includes(f)) throw new Error(`${f.name} is not one of the recorded ages`);
  return wordIndex(f);
};
const TI_LAST_DATA_SENT = tcpAge(TI.tcpi_last_data_sent);
const TI_LAST_DATA_RECV = tcpAge(TI.tcpi_last_data_recv);
const TI_LAST_ACK_RECV = tcpAge(TI.tcpi_last_ack_recv);
/** TCP_INFO_AGES in the record's order, as word indices. */
const TI_AGES = TCP_INFO_AGES.map(wordIndex);
if (TI_AGES.join() !== [TI_LAST_DATA_SENT, TI_LAST_DATA_RECV, TI_LAST_ACK_RECV].join())
  throw new Error('TCP_INFO_AGES: not in the order the subflow record keeps them');
const AGES = TI_AGES.length;

// --- the word readers -----------------------------------------------------------------------------

/**
 * The one u64 reader: native words w[k] (low half) and w[k + 1] (high half), as a JS number.
 * Exact up to 2^53 - 1; above (a counter no kernel reaches, so a corrupted message) it is clamped
 * to Number.MAX_SAFE_INTEGER, which the contract's schema still accepts.
 */
function u64(w: Uint32Array, k: number): number {
  const hi = w[k + 1]!;
  return hi <= MAX_SAFE_HI ? w[k]! + hi * TWO_32 : Number.MAX_SAFE_INTEGER;
}

/** A u64 rate where ~0 means "unlimited" (tcpi_pacing_rate): null then. */
function u64OrNull(w: Uint32Array, k: number): number | null {
  return w[k] === 0xffffffff && w[k + 1] === 0xffffffff ? null : u64(w, k);
}

/**
 * An aligned, zero-filled copy of a struct for the Buffer decoders and for structs shorter than
 * the records need: the same readers then run on it. One for each struct, reused (decoding is
 * synchronous).
 */
class ZeroFilled {
  readonly words: Uint32Array;
  readonly bytes: Buffer;
  private readonly prefix: Uint16Array;

  constructor(private readonly s: UapiStruct) {
    this.words = new Uint32Array(Math.ceil(s.size / 4));
    this.bytes = Buffer.from(this.words.buffer);
    this.prefix = wholeFieldPrefixes(s);
  }

  /**
   * Copies buf[off, off + len) (clamped to the buffer and to the table's struct), up to its last
   * whole field, and zeroes the rest. Returns the length copied.
   */
  load(buf: Buffer, off: number, len: number): number {
    const n = this.prefix[Math.max(0, Math.min(len, buf.length - off, this.s.size))]!;
    this.words.fill(0);
    if (n > 0) buf.copy(this.bytes, 0, off, off + n);
    return n;
  }
}
const mptcpScratch = new ZeroFilled(MPTCP_INFO);
const tcpScratch = new ZeroFilled(TCP_INFO);

// --- addresses ---------------------------------------------------------------------------------

/** Interned dotted quads: a lab or a host has few addresses, so formatting them once pays. */
const v4Cache = new Map<number, string>();

function formatV4(buf: Buffer, off: number): string {
  const key = buf.readUInt32BE(off);
  let s = v4Cache.get(key);
  if (s === undefined) {
    s = `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
    if (v4Cache.size >= 4096) v4Cache.clear();
    v4Cache.set(key, s);
  }
  return s;
}

/** Text form of an inet_diag_sockid address (16 bytes at off; IPv4 uses the first 4). */
export function formatAddress(buf: Buffer, off: number, family: number): string {
  if (family === AF_INET) return off + 4 <= buf.length ? formatV4(buf, off) : '';
  // As glibc inet_ntop (and therefore ss) prints it: shared/packet/addr.ts.
  return off + 16 <= buf.length ? formatIpv6(buf, off) : '';
}

// --- struct inet_diag_msg ----------------------------------------------------------------------

export interface InetDiagMsg {
  family: number;
  state: number;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  ifindex: number;
  inode: number;
}

/** The reply header; null when the message is too short to hold it. */
export function decodeInetDiagMsg(buf: Buffer, off: number, len: number): InetDiagMsg | null {
  if (len < INET_DIAG_MSG_LEN || off + len > buf.length) return null;
  const family = buf[off + MSG_FAMILY]!;
  return {
    family,
    state: buf[off + MSG_STATE]!,
    localPort: buf.readUInt16BE(off + MSG_PORTS),
    remotePort: buf.readUInt16BE(off + MSG_DPORT),
    localAddress: formatAddress(buf, off + MSG_SRC, family),
    remoteAddress: formatAddress(buf, off + MSG_DST, family),
    ifindex: buf.readUInt32LE(off + MSG_IF),
    inode: buf.readUInt32LE(off + MSG_INODE),
  };
}

const familyName = (f: number): AddressFamily => (f === AF_INET6 ? 'inet6' : 'inet');

// --- struct mptcp_info -----------------------------------------------------------------------

export type MptcpInfoFields = Pick<
  Connection,
  | 'token'
  | 'subflowsTotal'
  | 'fallback'
  | 'remoteKeyReceived'
  | 'addAddrSignal'
  | 'addAddrAccepted'
  | 'subflowsMax'
  | 'checksumEnabled'
  | 'retransmits'
  | 'bytesSent'
  | 'bytesReceived'
  | 'bytesAcked'
  | 'bytesRetrans'
>;

/**
 * The mptcp_info reader: the struct at byte `base` (a multiple of 4) of `b`, whose native words
 * are `w`, `len` bytes long; every field must be inside (whole, or zero-filled: see ZeroFilled).
 */
function readMptcpInfo(t: MptcpInfoFields, w: Uint32Array, b: Buffer, base: number, len: number): void {
  const i = base >>> 2;
  const flags = w[i + MI_FLAGS]!;
  t.token = w[i + MI_TOKEN]!;
  // mptcpi_subflows_total counts the initial subflow; older structs only have the extra count.
  t.subflowsTotal = len >= MI_SUBFLOWS_TOTAL_LEN ? b[base + MI_SUBFLOWS_TOTAL]! : b[base + MI_SUBFLOWS]! + 1;
  t.fallback = (flags & MPTCP_INFO_FLAG_FALLBACK) !== 0;
  t.remoteKeyReceived = (flags & MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED) !== 0;
  t.addAddrSignal = b[base + MI_ADD_ADDR_SIGNAL]!;
  t.addAddrAccepted = b[base + MI_ADD_ADDR_ACCEPTED]!;
  t.subflowsMax = b[base + MI_SUBFLOWS_MAX]!;
  t.checksumEnabled = b[base + MI_CSUM_ENABLED] !== 0;
  t.retransmits = w[i + MI_RETRANSMITS]!;
  t.bytesRetrans = u64(w, i + MI_BYTES_RETRANS);
  t.bytesSent = u64(w, i + MI_BYTES_SENT);
  t.bytesReceived = u64(w, i + MI_BYTES_RECEIVED);
  t.bytesAcked = u64(w, i + MI_BYTES_ACKED);
}

/** Writes the mptcp_info fields at buf[off, off+len) into `t` (zero-filled past len). */
export function fillMptcpInfo(t: MptcpInfoFields, buf: Buffer, off: number, len: number): void {
  const n = mptcpScratch.load(buf, off, len);
  readMptcpInfo(t, mptcpScratch.words, mptcpScratch.bytes, 0, n);
}

export function decodeMptcpInfo(buf: Buffer, off: number, len: number): MptcpInfoFields {
  const t: MptcpInfoFields = {
    token: 0,
    subflowsTotal: 0,
    fallback: false,
    remoteKeyReceived: false,
    addAddrSignal: 0,
    addAddrAccepted: 0,
    subflowsMax: 0,
    checksumEnabled: false,
    retransmits: 0,
    bytesSent: 0,
    bytesReceived: 0,
    bytesAcked: 0,
    bytesRetrans: 0,
  };
  fillMptcpInfo(t, buf, off, len);
  return t;
}

// --- struct tcp_info -------------------------------------------------------------------------

export type TcpInfoFields = Pick<
  Subflow,
  | 'rttUs'
  | 'rttVarUs'
  | 'minRttUs'
  | 'cwndPkts'
  | 'ssthreshPkts'
  | 'mssBytes'
  | 'pmtuBytes'
  | 'rtoUs'
  | 'unackedPkts'
  | 'lostPkts'
  | 'totalRetransPkts'
  | 'bytesAcked'
  | 'bytesReceived'
  | 'bytesSent'
  | 'bytesRetrans'
  | 'deliveryRateBytesPerSec'
  | 'pacingRateBytesPerSec'
  | 'backoffCount'
  | 'probesCount'
  | 'deliveryRateAppLimited'
  | 'lastDataSentAtMs'
  | 'lastDataRecvAtMs'
  | 'lastAckRecvAtMs'
>;

/**
 * The tcp_info reader: the struct at word `i` of `w`, every field inside (or zero-filled); the
 * ages become times against `nowMs`, the engine's clock at the dump.
 */
function readTcpInfo(t: TcpInfoFields, w: Uint32Array, i: number, nowMs: number): void {
  t.probesCount = (w[i + TI_PROBES]! >>> TI_PROBES_SHIFT) & 0xff;
  t.backoffCount = (w[i + TI_BACKOFF]! >>> TI_BACKOFF_SHIFT) & 0xff;
  t.deliveryRateAppLimited = ((w[i + TI_APP_LIMITED]! >>> TI_APP_LIMITED_SHIFT) & 1) === 1;
  t.lastDataSentAtMs = nowMs - w[i + TI_LAST_DATA_SENT]!;
  t.lastDataRecvAtMs = nowMs - w[i + TI_LAST_DATA_RECV]!;
  t.lastAckRecvAtMs = nowMs - w[i + TI_LAST_ACK_RECV]!;
  t.rtoUs = w[i + TI_RTO]!;
  t.mssBytes = w[i + TI_SND_MSS]!;
  t.unackedPkts = w[i + TI_UNACKED]!;
  t.lostPkts = w[i + TI_LOST]!;
  t.pmtuBytes = w[i + TI_PMTU]!;
  t.rttUs = w[i + TI_RTT]!;
  t.rttVarUs = w[i + TI_RTTVAR]!;
  const ssthresh = w[i + TI_SND_SSTHRESH]!;
  t.ssthreshPkts = ssthresh >= TCP_INFINITE_SSTHRESH ? null : ssthresh;
  t.cwndPkts = w[i + TI_SND_CWND]!;
  t.totalRetransPkts = w[i + TI_TOTAL_RETRANS]!;
  t.pacingRateBytesPerSec = u64OrNull(w, i + TI_PACING_RATE);
  t.bytesAcked = u64(w, i + TI_BYTES_ACKED);
  t.bytesReceived = u64(w, i + TI_BYTES_RECEIVED);
  t.minRttUs = w[i + TI_MIN_RTT]!;
  t.deliveryRateBytesPerSec = u64(w, i + TI_DELIVERY_RATE);
  t.bytesSent = u64(w, i + TI_BYTES_SENT);
  t.bytesRetrans = u64(w, i + TI_BYTES_RETRANS);
}

/**
 * Writes the tcp_info fields at buf[off, off+len) into `t`; a field past len reads as 0. `nowMs`:
 * when the kernel filled it (the ages' reference).
 */
export function fillTcpInfo(t: TcpInfoFields, buf: Buffer, off: number, len: number, nowMs: number): void {
  tcpScratch.load(buf, off, len);
  readTcpInfo(t, tcpScratch.words, 0, nowMs);
}

export function decodeTcpInfo(buf: Buffer, off: number, len: number, nowMs = Date.now()): TcpInfoFields {
  const t: TcpInfoFields = {
    rttUs: 0,
    rttVarUs: 0,
    minRttUs: 0,
    cwndPkts: 0,
    ssthreshPkts: null,
    mssBytes: 0,
    pmtuBytes: 0,
    rtoUs: 0,
    unackedPkts: 0,
    lostPkts: 0,
    totalRetransPkts: 0,
    bytesAcked: 0,
    bytesReceived: 0,
    bytesSent: 0,
    bytesRetrans: 0,
    deliveryRateBytesPerSec: 0,
    pacingRateBytesPerSec: null,
    backoffCount: 0,
    probesCount: 0,
    deliveryRateAppLimited: false,
    lastDataSentAtMs: null,
    lastDataRecvAtMs: null,
    lastAckRecvAtMs: null,
  };
  fillTcpInfo(t, buf, off, len, nowMs);
  return t;
}

// --- MPTCP subflow flags ----------------------------------------------------------------------

/** MPTCP_SUBFLOW_FLAG_* bits in ss letter order (misc/ss.c): M m J j B b e c v. */
const FLAG_LETTERS = 'MmJjBbecv';
/** Either end's backup bit (MP_PRIO / MP_JOIN B bit). */
const BACKUP_FLAGS = MPTCP_SUBFLOW_FLAG_BKUP_REM | MPTCP_SUBFLOW_FLAG_BKUP_LOC;

/**
 * Flags objects are shared per raw value and frozen: a poll sees a handful of distinct values, and
 * one object per subflow was measurable GC work at 20,000 subflows.
 */
const flagsCache = new Map<number, SubflowFlags>();

export function subflowFlags(raw: number): SubflowFlags {
  let f = flagsCache.get(raw);
  if (f === undefined) {
    f = Object.freeze(decodeSubflowFlags(raw));
    if (flagsCache.size < 1024) flagsCache.set(raw, f);
  }
  return f;
}

function decodeSubflowFlags(raw: number): SubflowFlags {
  return {
    mcapRem: (raw & MPTCP_SUBFLOW_FLAG_MCAP_REM) !== 0,
    mcapLoc: (raw & MPTCP_SUBFLOW_FLAG_MCAP_LOC) !== 0,
    joinRem: (raw & MPTCP_SUBFLOW_FLAG_JOIN_REM) !== 0,
    joinLoc: (raw & MPTCP_SUBFLOW_FLAG_JOIN_LOC) !== 0,
    backupRem: (raw & MPTCP_SUBFLOW_FLAG_BKUP_REM) !== 0,
    backupLoc: (raw & MPTCP_SUBFLOW_FLAG_BKUP_LOC) !== 0,
    fullyEstablished: (raw & MPTCP_SUBFLOW_FLAG_FULLY_ESTABLISHED) !== 0,
    connected: (raw & MPTCP_SUBFLOW_FLAG_CONNECTED) !== 0,
    mapValid: (raw & MPTCP_SUBFLOW_FLAG_MAPVALID) !== 0,
  };
}

/** The letters ss prints after `tcp-ulp-mptcp flags:`. */
export function subflowFlagLetters(raw: number): string {
  let s = '';
  for (let i = 0; i < FLAG_LETTERS.length; i++) if (raw & (1 << i)) s += FLAG_LETTERS[i]!;
  return s;
}

// --- INET_DIAG_CONG: a handful of names, so intern them -----------------------------------------

const congNames: { bytes: Buffer; name: string }[] = [];

/** congestionId() of a name the intern table has no room for. */
const NO_CONG_ID = 0xffffffff;

/** The INET_DIAG_CONG name's intern id (index + 1; 0 is "no attribute"), or NO_CONG_ID. */
function congestionId(buf: Buffer, off: number, len: number): number {
  let end = off;
  while (end < off + len && buf[end] !== 0) end++;
  const n = end - off;
  for (let pass = 0; pass < 2; pass++) {
    for (let k = 0; k < congNames.length; k++) {
      const c = congNames[k]!;
      if (c.bytes.length !== n) continue;
      let i = 0;
      while (i < n && c.bytes[i] === buf[off + i]) i++;
      if (i === n) return k + 1;
    }
    if (pass === 0) congestionName(buf, off, len); // interns the name while there is room
  }
  return NO_CONG_ID;
}

function congestionName(buf: Buffer, off: number, len: number): string {
  let end = off;
  while (end < off + len && buf[end] !== 0) end++;
  const n = end - off;
  for (const c of congNames) {
    if (c.bytes.length !== n) continue;
    let i = 0;
    while (i < n && c.bytes[i] === buf[off + i]) i++;
    if (i === n) return c.name;
  }
  const name = buf.toString('latin1', off, end);
  if (congNames.length < 32) congNames.push({ bytes: Buffer.from(name, 'latin1'), name });
  return name;
}

// --- the snapshot builder ----------------------------------------------------------------------

/**
 * Native-endian 32-bit words of a received buffer. Netlink is host byte order
 * (include/uapi/linux/netlink.h) and every nlmsghdr, attribute header and the u32/u64 fields of
 * inet_diag_msg, tcp_info and mptcp_info sit at 4-byte offsets (NLMSG_ALIGN, NLA_ALIGN; the
 * tables' alignment check), so one indexed load replaces readUInt32LE's call and bounds check, and
 * an attribute header is one load: nla_len in the low half, nla_type in the high half. Buffers
 * that do not start on a 4-byte boundary (none that the engine receives) are copied first; see
 * SnapshotBuilder.aligned. Little-endian hosts only: a u64 is read as its low word, then its high.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A small cache of dotted quads keyed by the raw address word: no Map, no string per subflow. */
class V4Names {
  private readonly keys = new Int32Array(256);
  private readonly names: (string | undefined)[] = new Array<string | undefined>(256).fill(undefined);

  get(buf: Buffer, off: number, word: number): string {
    const slot = Math.imul(word, 0x9e3779b1) >>> 24;
    const name = this.names[slot];
    if (name !== undefined && this.keys[slot] === (word | 0)) return name;
    const s = `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
    this.keys[slot] = word;
    this.names[slot] = s;
    return s;
  }
}
const v4Names = new V4Names();

/** The MPTCP ULP's name in INET_ULP_INFO_NAME: "mptcp" (NUL-terminated). */
function isMptcpName(buf: Buffer, off: number, len: number): boolean {
  return (
    len >= 5 &&
    buf[off] === 0x6d && // m
    buf[off + 1] === 0x70 && // p
    buf[off + 2] === 0x74 && // t
    buf[off + 3] === 0x63 && // c
    buf[off + 4] === 0x70 && // p
    (len === 5 || buf[off + 5] === 0)
  );
}

/**
 * The source and destination address words of the inet_diag_msg at byte `msg` of `w` (inet_diag_sockid
 * idiag_src and idiag_dst, 4 words each) into a record at `r[at..at+8)`.
 */
function copyAddresses(r: Uint32Array, at: number, w: Uint32Array, msg: number): void {
  const src = (msg + MSG_SRC) >>> 2;
  const dst = (msg + MSG_DST) >>> 2;
  for (let k = 0; k < 4; k++) r[at + k] = w[src + k]!;
  for (let k = 0; k < 4; k++) r[at + 4 + k] = w[dst + k]!;
}

/** True when the AGES times at a[ao..] and b[bo..] are each within AGE_TOLERANCE_MS. */
function closeTimes(a: Float64Array, ao: number, b: Float64Array, bo: number): boolean {
  for (let k = 0; k < AGES; k++) if (Math.abs(a[ao + k]! - b[bo + k]!) > AGE_TOLERANCE_MS) return false;
  return true;
}

/**
 * Joins the two dumps: subflows are attached to their connection by TOKEN_LOC == mptcpi_token
 * (MPTCP_SUBFLOW_ATTR_TOKEN_LOC, include/uapi/linux/mptcp.h) as they stream past. Messages are (buf, offset, len) views as NlSocket.dump hands them
 * out.
 *
 * By default every MPTCP socket is fed (onMptcp) before the TCP sockets (onTcp), and a subflow
 * whose token is unknown is an orphan at once. With `{ mptcpPending: true }` TCP messages may come
 * first (the two dumps run concurrently): such subflows wait, in arrival order, until mptcpDone()
 * attaches them, so each connection's subflows keep the TCP dump's order either way.
 *
 * With `{ prev }` (the last poll's memory()), a socket whose every decoded field equals last poll's
 * is given last poll's object instead of a new one, and a connection whose fields and subflows are
 * all unchanged is last poll's object, subflow array included; finish() settles the connections.
 * An idle 10,000-connection poll then allocates almost nothing (no young-generation copies, no
 * promotion, no page faults for fresh heap: bench/poll.mjs), and identity tells consumers what is
 * unchanged (shared/delta.ts diffSnapshots skips `old === next`). So snapshot objects are
 * immutable: no consumer may write to a Connection, a Subflow or a subflows array it was given.
 * (The connections array itself is the caller's: the memory keeps a copy of it.)
 */

export class SnapshotBuilder {
  readonly connections: Connection[] = [];
  /**
   * Subflows built anew by this poll whose interface is not known yet (ifname null): the caller
   * resolves them before it hands the snapshot out (rtnl/subflow-paths.ts). A rebuilt object of a
   * socket whose addresses and bound device did not change takes last poll's ifname instead.
   */
  readonly fresh: Subflow[] = [];
  orphanSubflows = 0;
  private readonly byToken: TokenIndex;
  private mptcpComplete: boolean;
  /** Subflows that arrived before their MPTCP socket, with their record slots (or -1). */
  private readonly waiting: Subflow[] = [];
  private readonly waitingSlot: number[] = [];
  private readonly waitingPrev: number[] = [];
  private wordsOf: Buffer | null = null;
  private words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  /** Last poll's memory, whose unchanged objects are reused (opts.prev); null: build everything. */
  private readonly prev: PollMemory | null;
  /** This poll's memory, filled as the messages are decoded (opts.into); null: keep none. */
  private readonly mem: PollMemory | null;
  /** Where in last poll's records the next connection and subflow are looked for first. */
  private prevConnCursor = 0;
  private prevSubCursor = 0;
  /**
   * Per connection index (only with `prev`): 1 while `connections[i]` is last poll's unchanged
   * object, which it stays only if its subflows come back as its own subflow objects, in order;
   * `matched[i]` counts those seen so far, `prevSlot[i]` is its record in last poll's memory.
   */
  private readonly probation: number[] = [];
  private readonly matched: number[] = [];
  private readonly prevSlot: number[] = [];
  private finished = false;
  /** The engine's clock when the dump began: tcp_info's ages count back from it (opts.nowMs). */
  private readonly nowMs: number;

  constructor(
    opts: {
      mptcpPending?: boolean;
      prev?: PollMemory | null;
      into?: PollMemory | null;
      /** Wall clock (ms since the epoch) of the dump; default: now. */
      nowMs?: number;
    } = {},
  ) {
    if (!LITTLE_ENDIAN) throw new Error('sock_diag decoding needs a little-endian host');
    this.nowMs = opts.nowMs ?? Date.now();
    this.mptcpComplete = !opts.mptcpPending;
    this.prev = opts.prev ?? null;
    this.mem = opts.into ?? (this.prev ? new PollMemory() : null);
    if (this.mem === this.prev && this.mem !== null) throw new Error('SnapshotBuilder: into === prev');
    this.mem?.reset();
    this.byToken = this.mem ? this.mem.byToken : new TokenIndex();
  }

  /**
   * Ends the poll, after the last message (and mptcpDone): a connection still on probation keeps
   * last poll's object only when every one of its subflows came back unchanged and in order;
   * otherwise it gets a copy with the ones that did. Returns the connections. Needed with `prev`.
   */
  finish(): Connection[] {
    if (this.finished) return this.connections;
    this.finished = true;
    const prev = this.prev;
    const mem = this.mem;
    if (prev !== null) {
      for (let i = 0; i < this.probation.length; i++) {
        if (this.probation[i] !== 1) continue;
        const k = this.matched[i]!;
        if (k !== prev.connSubCount[this.prevSlot[i]!]) this.release(i, k);
        else if (mem !== null) mem.connSubCount[i] = k;
      }
    }
    // A copy: the memory finds last poll's objects by index, whatever the caller does with its array.
    if (mem !== null) mem.conns = this.connections.slice();
    return this.connections;
  }

  /**
   * This poll's memory, for the next poll's `prev`: null without `into`/`prev`, and until finish()
   * (before it, the memory holds no connections and unsettled subflow counts).
   */
  memory(): PollMemory | null {
    return this.finished ? this.mem : null;
  }

  /**
   * Connection `index` leaves probation: a fresh object with last poll's values and its first `k`
   * subflows (the ones that came back unchanged so far), so that last poll's object is never
   * written to.
   */
  private release(index: number, k: number): Connection {
    const p = this.connections[index]!;
    const c: Connection = {
      token: p.token,
      family: p.family,
      state: p.state,
      localAddress: p.localAddress,
      localPort: p.localPort,
      remoteAddress: p.remoteAddress,
      remotePort: p.remotePort,
      inode: p.inode,
      subflowsTotal: p.subflowsTotal,
      fallback: p.fallback,
      remoteKeyReceived: p.remoteKeyReceived,
      addAddrSignal: p.addAddrSignal,
      addAddrAccepted: p.addAddrAccepted,
      subflowsMax: p.subflowsMax,
      checksumEnabled: p.checksumEnabled,
      retransmits: p.retransmits,
      bytesSent: p.bytesSent,
      bytesReceived: p.bytesReceived,
      bytesAcked: p.bytesAcked,
      bytesRetrans: p.bytesRetrans,
      subflows: p.subflows.slice(0, k),
    };
    this.connections[index] = c;
    this.probation[index] = 0;
    if (this.mem !== null) this.mem.connSubCount[index] = k;
    return c;
  }

  /** Every MPTCP message was fed: attach the subflows that arrived early; the rest are orphans. */
  mptcpDone(): void {
    if (this.mptcpComplete) return;
    this.mptcpComplete = true;
    for (let i = 0; i < this.waiting.length; i++)
      this.attach(this.waiting[i]!, this.waitingSlot[i]!, this.waitingPrev[i]!);
    this.waiting.length = 0;
    this.waitingSlot.length = 0;
    this.waitingPrev.length = 0;
  }

  /**
   * The word view of `buf` (cached: a batch holds hundreds of messages). Null when `buf` does not
   * start on a 4-byte boundary or the host is big-endian; the caller then decodes an aligned copy.
   */
  private view(buf: Buffer): Uint32Array | null {
    if (buf === this.wordsOf) return this.words;
    if ((buf.byteOffset & 3) !== 0) return null;
    this.wordsOf = buf;
    this.words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    return this.words;
  }

  /** The message at buf[off, off+len) copied to a fresh, aligned buffer (the rare path). */
  private static aligned(buf: Buffer, off: number, len: number): Buffer {
    const copy = Buffer.alloc((len + 7) & ~7);
    buf.copy(copy, 0, off, off + len);
    return copy;
  }

  onMptcp(buf: Buffer, off: number, len: number): void {
    if (len < INET_DIAG_MSG_LEN || off + len > buf.length) return;
    const w = this.view(buf);
    if (w === null || (off & 3) !== 0) {
      this.onMptcp(SnapshotBuilder.aligned(buf, off, len), 0, len);
      return;
    }
    const end = off + len;
    let infoOff = -1;
    let infoLen = 0;
    let a = off + INET_DIAG_MSG_LEN;
    while (a + 4 <= end) {
      const hdr = w[a >>> 2]!;
      const alen = hdr & 0xffff;
      if (alen < 4 || a + alen > end) break; // truncated: stop, never read past the message
      if (((hdr >>> 16) & NLA_TYPE_MASK) === INET_DIAG_INFO) {
        infoOff = a + 4;
        infoLen = alen - 4;
      }
      a += (alen + 3) & ~3;
    }
    // A socket without mptcp_info (no INFO ext, or a kernel that failed to fill it) has no token.
    if (infoOff < 0) return;
    const family = buf[off + MSG_FAMILY]!;
    const state = buf[off + MSG_STATE]!;
    // Every word the record keeps is inside the attribute: word loads without per-field bounds
    // checks (a 6.18 struct is 96 bytes; the record needs 84).
    const full = infoLen >= MPTCP_INFO_RECORD_LEN;
    const mem = this.mem;
    if (full && mem !== null) {
      // This socket's record: the words every field of its Connection comes from.
      const slot = mem.reserveConn();
      const o = slot * CONN_WORDS;
      const r = mem.connWords;
      const i = infoOff >>> 2;
      const token = w[i + MI_TOKEN]!;
      r[o] = token;
      r[o + 1] = w[(off + MSG_PORTS) >>> 2]!;
      r[o + 2] = family | (state << 8);
      r[o + 3] = w[(off + MSG_INODE) >>> 2]!;
      copyAddresses(r, o + 4, w, off);
      for (let k = 0; k < MPTCP_INFO_WORDS.length; k++) r[o + 12 + k] = w[i + MPTCP_INFO_WORDS[k]!]!;
      mem.connValid[slot] = 1;
      const prev = this.prev;
      if (prev !== null) {
        const q = prev.findConn(token, this.prevConnCursor);
        if (q >= 0 && sameWords(r, o, prev.connWords, q * CONN_WORDS, 0, CONN_WORDS)) {
          // Unchanged: last poll's object stands in, on probation until its subflows are known
          // (addSubflow, finish).
          this.prevConnCursor = q + 1;
          this.byToken.set(token, this.connections.length);
          this.connections.push(prev.conns[q]!);
          this.probation.push(1);
          this.matched.push(0);
          this.prevSlot.push(q);
          return;
        }
      }
    } else if (mem !== null) {
      mem.reserveConn(); // a record that never matches, so that slots stay connection indices
    }
    const c: Connection = {
      token: 0,
      family: familyName(family),
      state: tcpStateName(state),
      localAddress:
        family === AF_INET
          ? v4Names.get(buf, off + MSG_SRC, w[(off + MSG_SRC) >>> 2]!)
          : formatAddress(buf, off + MSG_SRC, family),
      localPort: (buf[off + MSG_PORTS]! << 8) | buf[off + MSG_PORTS + 1]!,
      remoteAddress:
        family === AF_INET
          ? v4Names.get(buf, off + MSG_DST, w[(off + MSG_DST) >>> 2]!)
          : formatAddress(buf, off + MSG_DST, family),
      remotePort: (buf[off + MSG_DPORT]! << 8) | buf[off + MSG_DPORT + 1]!,
      inode: w[(off + MSG_INODE) >>> 2]!,
      subflowsTotal: 0,
      fallback: false,
      remoteKeyReceived: false,
      addAddrSignal: 0,
      addAddrAccepted: 0,
      subflowsMax: 0,
      checksumEnabled: false,
      retransmits: 0,
      bytesSent: 0,
      bytesReceived: 0,
      bytesAcked: 0,
      bytesRetrans: 0,
      subflows: [],
    };
    if (full) readMptcpInfo(c, w, buf, infoOff, infoLen);
    else fillMptcpInfo(c, buf, infoOff, infoLen);
    this.byToken.set(c.token, this.connections.length);
    this.connections.push(c);
    if (this.prev !== null) {
      this.probation.push(0);
      this.matched.push(0);
      this.prevSlot.push(-1);
    }
  }

  onTcp(buf: Buffer, off: number, len: number): void {
    if (len < INET_DIAG_MSG_LEN || off + len > buf.length) return;
    const w = this.view(buf);
    if (w === null || (off & 3) !== 0) {
      this.onTcp(SnapshotBuilder.aligned(buf, off, len), 0, len);
      return;
    }
    const end = off + len;
    let infoOff = -1;
    let infoLen = 0;
    let congOff = -1;
    let congLen = 0;
    let ulpOff = -1;
    let ulpLen = 0;
    let a = off + INET_DIAG_MSG_LEN;
    while (a + 4 <= end) {
      const hdr = w[a >>> 2]!;
      const alen = hdr & 0xffff;
      if (alen < 4 || a + alen > end) break;
      const type = (hdr >>> 16) & NLA_TYPE_MASK;
      if (type === INET_DIAG_INFO) {
        infoOff = a + 4;
        infoLen = alen - 4;
      } else if (type === INET_DIAG_CONG) {
        congOff = a + 4;
        congLen = alen - 4;
      } else if (type === INET_DIAG_ULP_INFO) {
        ulpOff = a + 4;
        ulpLen = alen - 4;
      }
      a += (alen + 3) & ~3;
    }
    if (ulpOff < 0) return; // plain TCP: not ours

    // INET_DIAG_ULP_INFO nest: NAME must be "mptcp" and an INET_ULP_INFO_MPTCP nest must follow.
    let isMptcp = false;
    let mpOff = -1;
    let mpEnd = -1;
    const ulpEnd = ulpOff + ulpLen;
    a = ulpOff;
    while (a + 4 <= ulpEnd) {
      const hdr = w[a >>> 2]!;
      const alen = hdr & 0xffff;
      if (alen < 4 || a + alen > ulpEnd) break;
      const type = (hdr >>> 16) & NLA_TYPE_MASK;
      if (type === INET_ULP_INFO_NAME) isMptcp = isMptcpName(buf, a + 4, alen - 4);
      else if (type === INET_ULP_INFO_MPTCP) {
        mpOff = a + 4;
        mpEnd = a + alen;
      }
      a += (alen + 3) & ~3;
    }
    if (!isMptcp || mpOff < 0) return; // kTLS, or the TCP listener under an MPTCP listener

    let tokenLoc = -1;
    let tokenRem = 0;
    let rawFlags = 0;
    let idRem = 0;
    let idLoc = 0;
    a = mpOff;
    while (a + 4 <= mpEnd) {
      const hdr = w[a >>> 2]!;
      const alen = hdr & 0xffff;
      if (alen < 4 || a + alen > mpEnd) break;
      const type = (hdr >>> 16) & NLA_TYPE_MASK;
      if (alen >= 8) {
        if (type === MPTCP_SUBFLOW_ATTR_TOKEN_LOC) tokenLoc = w[(a + 4) >>> 2]!;
        else if (type === MPTCP_SUBFLOW_ATTR_TOKEN_REM) tokenRem = w[(a + 4) >>> 2]!;
        else if (type === MPTCP_SUBFLOW_ATTR_FLAGS) rawFlags = w[(a + 4) >>> 2]!;
      }
      if (alen >= 5) {
        if (type === MPTCP_SUBFLOW_ATTR_ID_REM) idRem = buf[a + 4]!;
        else if (type === MPTCP_SUBFLOW_ATTR_ID_LOC) idLoc = buf[a + 4]!;
      }
      a += (alen + 3) & ~3;
    }
    if (tokenLoc < 0) {
      this.orphanSubflows++;
      return;
    }
    const conn = this.byToken.get(tokenLoc);
    if (conn < 0 && this.mptcpComplete) {
      // Its MPTCP socket was not in the dump: created or closed between the two dumps.
      this.orphanSubflows++;
      return;
    }

    const family = buf[off + MSG_FAMILY]!;
    const state = buf[off + MSG_STATE]!;
    const cong = congOff >= 0 ? congestionId(buf, congOff, congLen) : 0;
    // Every word the record keeps is inside the attribute: word loads without bounds checks.
    const full = infoLen >= TCP_INFO_RECORD_LEN;
    const mem = this.mem;
    let slot = -1;
    /** Last poll's ifname for this socket, when its addresses and device are the same. */
    let ifname: string | null | undefined;
    if (full && mem !== null) {
      slot = mem.reserveSub(null);
      const o = slot * SUB_WORDS;
      const r = mem.subWords;
      const ports = w[(off + MSG_PORTS) >>> 2]!;
      r[o] = tokenLoc;
      r[o + 1] = tokenRem;
      r[o + 2] = ports;
      r[o + 3] = (family | (state << 8) | (idLoc << 16) | (idRem << 24)) >>> 0;
      r[o + 4] = w[(off + MSG_IF) >>> 2]!;
      r[o + 5] = rawFlags;
      copyAddresses(r, o + 6, w, off);
      r[o + 14] = cong;
      r[o + SUB_CONN] = NO_CONN;
      r[o + SUB_POS] = 0;
      const i = infoOff >>> 2;
      for (let k = 0; k < TCP_INFO_WORDS.length; k++) r[o + SUB_TCP_INFO + k] = w[i + TCP_INFO_WORDS[k]!]!;
      // The ages as times, as readTcpInfo computes them.
      const at = mem.subAtMs;
      const ao = slot * AGES;
      for (let k = 0; k < AGES; k++) at[ao + k] = this.nowMs - w[i + TI_AGES[k]!]!;
      // A name past the intern table's size has no id: such a record never matches.
      if (cong !== NO_CONG_ID) {
        mem.subValid[slot] = 1;
        mem.subIndex.set(subflowKey(tokenLoc, ports), slot);
      }
      const prev = this.prev;
      if (prev !== null && cong !== NO_CONG_ID) {
        const j = prev.findSub(tokenLoc, ports, this.prevSubCursor);
        const po = j * SUB_WORDS;
        if (
          j >= 0 &&
          sameWords(r, o, prev.subWords, po, 0, SUB_CONN) &&
          sameWords(r, o, prev.subWords, po, SUB_TCP_INFO, SUB_WORDS) &&
          closeTimes(mem.subAtMs, slot * AGES, prev.subAtMs, j * AGES)
        ) {
          // Last poll's object holds last poll's times: the record keeps those, so that a time
          // is compared with the one the object shows and never drifts by tolerances adding up.
          for (let k = 0; k < AGES; k++) mem.subAtMs[slot * AGES + k] = prev.subAtMs[j * AGES + k]!;
          this.prevSubCursor = j + 1;
          const p = prev.subs[j]!;
          mem.subs[slot] = p;
          if (conn < 0 || this.waiting.length > 0) this.wait(p, slot, j);
          else this.addSubflow(conn, p, slot, j);
          return;
        }
        // Same socket, same addresses (words 6-13) and bound device (word 4): same route.
        if (j >= 0 && r[o + 4] === prev.subWords[po + 4] && sameWords(r, o, prev.subWords, po, 6, 14))
          ifname = prev.subs[j]!.ifname;
      }
    }
    // Built as one literal (not from decodeTcpInfo's object plus a spread) so every subflow gets
    // the same V8 shape in one allocation: this runs 20,000 times per poll at 10k connections.
    const s: Subflow = {
      family: familyName(family),
      state: tcpStateName(state),
      localAddress:
        family === AF_INET
          ? v4Names.get(buf, off + MSG_SRC, w[(off + MSG_SRC) >>> 2]!)
          : formatAddress(buf, off + MSG_SRC, family),
      localPort: (buf[off + MSG_PORTS]! << 8) | buf[off + MSG_PORTS + 1]!,
      remoteAddress:
        family === AF_INET
          ? v4Names.get(buf, off + MSG_DST, w[(off + MSG_DST) >>> 2]!)
          : formatAddress(buf, off + MSG_DST, family),
      remotePort: (buf[off + MSG_DPORT]! << 8) | buf[off + MSG_DPORT + 1]!,
      ifindex: w[(off + MSG_IF) >>> 2]!,
      tokenLocal: tokenLoc,
      tokenRemote: tokenRem,
      localId: idLoc,
      remoteId: idRem,
      flags: subflowFlags(rawFlags),
      rawFlags,
      backup: (rawFlags & BACKUP_FLAGS) !== 0,
      // The id found the interned name already; a name past the table is decoded again.
      congestionControl:
        congOff < 0
          ? null
          : cong !== NO_CONG_ID
            ? congNames[cong - 1]!.name
            : congestionName(buf, congOff, congLen),
      rttUs: 0,
      rttVarUs: 0,
      minRttUs: 0,
      cwndPkts: 0,
      ssthreshPkts: null,
      mssBytes: 0,
      pmtuBytes: 0,
      rtoUs: 0,
      unackedPkts: 0,
      lostPkts: 0,
      totalRetransPkts: 0,
      bytesAcked: 0,
      bytesReceived: 0,
      bytesSent: 0,
      bytesRetrans: 0,
      deliveryRateBytesPerSec: 0,
      pacingRateBytesPerSec: null,
      ifname: ifname ?? null,
      backoffCount: 0,
      probesCount: 0,
      deliveryRateAppLimited: false,
      lastDataSentAtMs: null,
      lastDataRecvAtMs: null,
      lastAckRecvAtMs: null,
    };
    if (full) readTcpInfo(s, w, infoOff >>> 2, this.nowMs);
    else if (infoOff >= 0) fillTcpInfo(s, buf, infoOff, infoLen, this.nowMs);
    if (slot >= 0) mem!.subs[slot] = s;
    if (ifname === undefined) this.fresh.push(s);
    // Until the MPTCP dumps have ended, once one subflow waits, the later ones wait behind it: a
    // connection's subflows keep the TCP dump's order.
    // A new object: it matched no record of the last poll (-1).
    if (conn < 0 || this.waiting.length > 0) this.wait(s, slot, -1);
    else this.addSubflow(conn, s, slot, -1);
  }

  private wait(s: Subflow, slot: number, prevSub: number): void {
    this.waiting.push(s);
    this.waitingSlot.push(slot);
    this.waitingPrev.push(prevSub);
  }

  private attach(s: Subflow, slot: number, prevSub: number): void {
    const conn = this.byToken.get(s.tokenLocal);
    if (conn < 0) this.orphanSubflows++;
    else this.addSubflow(conn, s, slot, prevSub);
  }

  /**
   * Appends subflow `s` (this poll's record `slot`, reused from last poll's record `prevSub`; -1 for
   * none) to connection `index`.
   */
  private addSubflow(index: number, s: Subflow, slot: number, prevSub: number): void {
    let conn = this.connections[index]!;
    const mem = this.mem;
    if (this.prev !== null && this.probation[index] === 1) {
      // Last poll's connection: it stays while its subflows come back as last poll's objects, in
      // order, which last poll's records tell without reading the objects.
      const k = this.matched[index]!;
      const pw = this.prev.subWords;
      const po = prevSub * SUB_WORDS;
      if (prevSub >= 0 && pw[po + SUB_CONN] === this.prevSlot[index] && pw[po + SUB_POS] === k) {
        this.matched[index] = k + 1;
        if (slot >= 0) {
          mem!.subWords[slot * SUB_WORDS + SUB_CONN] = index;
          mem!.subWords[slot * SUB_WORDS + SUB_POS] = k;
        }
        return;
      }
      conn = this.release(index, k);
    }
    // Most connections have one or two subflows: exact-size arrays for those, since a first push()
    // would reserve 17 slots (1.3 MB of surviving young-generation garbage per 10,000 connections).
    const subs = conn.subflows;
    const pos = subs.length;
    if (pos === 0) conn.subflows = [s];
    else if (pos === 1) conn.subflows = [subs[0]!, s];
    else subs.push(s);
    if (mem !== null) {
      mem.connSubCount[index] = pos + 1;
      if (slot >= 0) {
        mem.subWords[slot * SUB_WORDS + SUB_CONN] = index;
        mem.subWords[slot * SUB_WORDS + SUB_POS] = pos;
      }
    }
  }
}
