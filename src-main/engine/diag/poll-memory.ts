/**
 * What one poll decoded, kept for the next poll so that it can hand out last poll's objects for
 * the sockets that did not change (SnapshotBuilder `prev`). An idle 10,000-connection poll then
 * allocates almost nothing: no young-generation copies of 30,000 surviving objects, no promotion,
 * no page faults on fresh heap (bench/poll.mjs).
 *
 * Per socket it keeps a record of the raw 32-bit words its object was decoded from, in a flat
 * typed-array slab (in dump order, which the kernel keeps from poll to poll while the hash does
 * not change), and the object itself. The next poll compares the words of the same socket (found
 * at the cursor, or by token and ports) before it reads a single field into JS values: equal words
 * mean an equal object, so the old one stands in, and the check never touches the old object.
 * Records hold every word a decoded field comes from (a word may hold more than the field: then a
 * change elsewhere in it only costs a reuse, never correctness).
 */
import type { Connection, Subflow } from '../../../shared/types';
import { MPTCP_INFO, TCP_INFO, wordsCovering, type UapiField } from './uapi-structs';

/** Open-addressing int32 key → index table (typed arrays: no Map entries, no boxed keys). */
export class TokenIndex {
  private keys = new Int32Array(1024);
  /** Index + 1; 0 marks an empty slot. */
  private vals = new Int32Array(1024);
  private mask = 1023;
  private size = 0;

  clear(): void {
    if (this.size === 0) return;
    this.vals.fill(0);
    this.size = 0;
  }

  set(key: number, index: number): void {
    if (2 * (this.size + 1) > this.keys.length) this.grow();
    let i = Math.imul(key, 0x9e3779b1) >>> 0;
    for (;;) {
      i &= this.mask;
      if (this.vals[i] === 0) {
        this.keys[i] = key;
        this.vals[i] = index + 1;
        this.size++;
        return;
      }
      // A duplicate token (two sockets sharing one cannot happen; a kernel bug could): last wins,
      // as with the Map this replaces.
      if (this.keys[i] === (key | 0)) {
        this.vals[i] = index + 1;
        return;
      }
      i++;
    }
  }

  /** The index for the key, or -1. */
  get(key: number): number {
    let i = Math.imul(key, 0x9e3779b1) >>> 0;
    for (;;) {
      i &= this.mask;
      const v = this.vals[i]!;
      if (v === 0) return -1;
      if (this.keys[i] === (key | 0)) return v - 1;
      i++;
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    this.keys = new Int32Array(oldKeys.length * 2);
    this.vals = new Int32Array(oldKeys.length * 2);
    this.mask = this.keys.length - 1;
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldVals[i] !== 0) this.set(oldKeys[i]!, oldVals[i]! - 1);
  }
}

const MI = MPTCP_INFO.fields;
const TI = TCP_INFO.fields;

/**
 * The struct mptcp_info fields (include/uapi/linux/mptcp.h) a Connection holds: the builder reads
 * these and no others (decode.ts checks each field it reads against this list at load).
 */
export const MPTCP_INFO_READ: readonly UapiField[] = [
  MI.mptcpi_subflows,
  MI.mptcpi_add_addr_signal,
  MI.mptcpi_add_addr_accepted,
  MI.mptcpi_subflows_max,
  MI.mptcpi_flags,
  MI.mptcpi_token,
  MI.mptcpi_csum_enabled,
  MI.mptcpi_retransmits,
  MI.mptcpi_bytes_retrans,
  MI.mptcpi_bytes_sent,
  MI.mptcpi_bytes_received,
  MI.mptcpi_bytes_acked,
  MI.mptcpi_subflows_total,
];
/** The struct tcp_info fields (include/uapi/linux/tcp.h) a Subflow holds; as above. */
export const TCP_INFO_READ: readonly UapiField[] = [
  TI.tcpi_probes,
  TI.tcpi_backoff,
  TI.tcpi_delivery_rate_app_limited,
  TI.tcpi_rto,
  TI.tcpi_snd_mss,
  TI.tcpi_unacked,
  TI.tcpi_lost,
  TI.tcpi_pmtu,
  TI.tcpi_rtt,
  TI.tcpi_rttvar,
  TI.tcpi_snd_ssthresh,
  TI.tcpi_snd_cwnd,
  TI.tcpi_total_retrans,
  TI.tcpi_pacing_rate,
  TI.tcpi_bytes_acked,
  TI.tcpi_bytes_received,
  TI.tcpi_min_rtt,
  TI.tcpi_delivery_rate,
  TI.tcpi_bytes_sent,
  TI.tcpi_bytes_retrans,
];
/**
 * The tcp_info ages (ms since the last data sent, data received, ACK received) a Subflow holds as
 * times (dump time minus the age). They grow on every poll while nothing happens, so their words
 * are not compared as the others are: a record keeps the times (subAtMs), and a time within
 * AGE_TOLERANCE_MS of last poll's counts as unchanged.
 */
export const TCP_INFO_AGES: readonly UapiField[] = [
  TI.tcpi_last_data_sent,
  TI.tcpi_last_data_recv,
  TI.tcpi_last_ack_recv,
];
/**
 * How far a recomputed time may move and still be last poll's. The kernel counts the ages in
 * jiffies (4 ms at HZ=250) from its own clock at the dump, the engine subtracts them from one
 * wall-clock reading per poll, so the same event lands a few ms (up to a slow dump's length)
 * apart from poll to poll. Anything that sends or receives data also moves a compared counter
 * (tcpi_bytes_sent, tcpi_bytes_received, tcpi_bytes_acked), so only an ACK that acknowledges
 * nothing new can be held back, by at most this long.
 */
export const AGE_TOLERANCE_MS = 500;
/** The u32 words (index = byte offset / 4) a connection record keeps of its mptcp_info. */
export const MPTCP_INFO_WORDS: readonly number[] = wordsCovering(MPTCP_INFO_READ);
/** The u32 words a subflow record keeps of its tcp_info. */
export const TCP_INFO_WORDS: readonly number[] = wordsCovering(TCP_INFO_READ);
/** The shortest mptcp_info / tcp_info that holds every recorded word: shorter ones get no record. */
export const MPTCP_INFO_RECORD_LEN = (MPTCP_INFO_WORDS[MPTCP_INFO_WORDS.length - 1]! + 1) * 4;
export const TCP_INFO_RECORD_LEN = (TCP_INFO_WORDS[TCP_INFO_WORDS.length - 1]! + 1) * 4;
// The builder reads the ages with the recorded words, without a bounds check of its own.
for (const f of TCP_INFO_AGES)
  if (f.minLen > TCP_INFO_RECORD_LEN) throw new Error(`${f.name} lies past the recorded tcp_info words`);

// A connection record: 0 token, 1 ports (inet_diag_sockid sport, dport), 2 family | state << 8,
// 3 inode, 4-7 source address, 8-11 destination address, 12.. MPTCP_INFO_WORDS.
export const CONN_WORDS = 12 + MPTCP_INFO_WORDS.length;
// A subflow record: 0 token_loc, 1 token_rem, 2 ports, 3 family | state << 8 | id_loc << 16 |
// id_rem << 24, 4 ifindex, 5 flags, 6-9 source, 10-13 destination, 14 congestion-control name id,
// 15-16 where it went (SUB_CONN, SUB_POS), 17.. TCP_INFO_WORDS.
export const SUB_CONN = 15;
export const SUB_POS = 16;
export const SUB_TCP_INFO = 17;
export const SUB_WORDS = SUB_TCP_INFO + TCP_INFO_WORDS.length;
/** SUB_CONN of a subflow that was not attached to a connection (an orphan). */
export const NO_CONN = 0xffffffff;

/** The subflow index key: token and the ports word (a collision only costs a reuse). */
export const subflowKey = (tokenLoc: number, ports: number): number =>
  (tokenLoc ^ Math.imul(ports, 0x85ebca6b)) | 0;

export class PollMemory {
  connWords = new Uint32Array(1024 * CONN_WORDS);
  /** 1 when the record was taken (a full mptcp_info); 0: never reuse this one. */
  connValid = new Uint8Array(1024);
  /** How many subflows the connection's object has. */
  connSubCount = new Int32Array(1024);
  /** The poll's connections, slot = index (SnapshotBuilder.connections). */
  conns: readonly Connection[] = [];
  connCount = 0;
  /** Token → slot: the builder's join index. */
  readonly byToken = new TokenIndex();

  subWords = new Uint32Array(2048 * SUB_WORDS);
  /** Per subflow record, the TCP_INFO_AGES as times (ms since the epoch), in that order. */
  subAtMs = new Float64Array(2048 * TCP_INFO_AGES.length);
  subValid = new Uint8Array(2048);
  readonly subs: Subflow[] = [];
  subCount = 0;
  readonly subIndex = new TokenIndex();

  /** Polls that read this memory as `prev` right now: it is not recycled under them. */
  readers = 0;

  /** Empties the memory for a new poll to fill (typed arrays are kept: no new pages). */
  reset(): void {
    this.conns = [];
    this.connCount = 0;
    this.byToken.clear();
    this.subs.length = 0;
    this.subCount = 0;
    this.subIndex.clear();
  }

  /** A new connection record's slot (its words to be written by the caller). */
  reserveConn(): number {
    const slot = this.connCount++;
    if (slot >= this.connValid.length) {
      const n = this.connValid.length * 2;
      this.connWords = grown(this.connWords, n * CONN_WORDS);
      this.connValid = grown(this.connValid, n);
      this.connSubCount = grown(this.connSubCount, n);
    }
    this.connValid[slot] = 0;
    this.connSubCount[slot] = 0;
    return slot;
  }

  /** A new subflow record's slot; `obj` is the subflow the record stands for. */
  reserveSub(obj: Subflow | null): number {
    const slot = this.subCount++;
    if (slot >= this.subValid.length) {
      const n = this.subValid.length * 2;
      this.subWords = grown(this.subWords, n * SUB_WORDS);
      this.subAtMs = grown(this.subAtMs, n * TCP_INFO_AGES.length);
      this.subValid = grown(this.subValid, n);
    }
    this.subValid[slot] = 0;
    this.subs[slot] = obj as Subflow;
    return slot;
  }

  /** The slot of a valid connection record for `token`: at `hint` (the cursor) or by token; -1. */
  findConn(token: number, hint: number): number {
    if (hint < this.connCount && this.connWords[hint * CONN_WORDS] === token && this.connValid[hint] === 1)
      return hint;
    const q = this.byToken.get(token);
    return q >= 0 && this.connValid[q] === 1 ? q : -1;
  }

  /** The slot of a valid subflow record with this token and ports word: at `hint` or by key; -1. */
  findSub(tokenLoc: number, ports: number, hint: number): number {
    const w = this.subWords;
    if (hint < this.subCount) {
      const o = hint * SUB_WORDS;
      if (w[o] === tokenLoc && w[o + 2] === ports && this.subValid[hint] === 1) return hint;
    }
    const j = this.subIndex.get(subflowKey(tokenLoc, ports));
    if (j < 0 || this.subValid[j] !== 1) return -1;
    const o = j * SUB_WORDS;
    return w[o] === tokenLoc && w[o + 2] === ports ? j : -1;
  }
}

function grown<T extends Uint32Array | Uint8Array | Int32Array | Float64Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

/** True when words [from, to) of record a (at ao) and record b (at bo) are equal. */
export function sameWords(
  a: Uint32Array,
  ao: number,
  b: Uint32Array,
  bo: number,
  from: number,
  to: number,
): boolean {
  for (let k = from; k < to; k++) if (a[ao + k] !== b[bo + k]) return false;
  return true;
}
