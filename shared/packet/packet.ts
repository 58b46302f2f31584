/**
 * IPv4 (RFC 791), IPv6 (RFC 8200) and TCP (RFC 9293) headers: parse what the wire brought and
 * build what a probe sends. Parsing never throws: anything short or inconsistent is null.
 */
import { formatIpv4, formatIpv6 } from './addr';
import { internetChecksum, onesSum, pseudoHeaderSum } from './checksum';
import { parseTcpOptions, type TcpOption } from './tcp-options';

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_ICMPV6 = 58;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export interface Ipv4Header {
  version: 4;
  headerBytes: number;
  /** The whole second byte: DSCP (upper 6 bits) and ECN (lower 2), RFC 2474 / RFC 3168. */
  tos: number;
  totalLength: number;
  id: number;
  df: boolean;
  mf: boolean;
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: string;
  dst: string;
  srcBytes: Uint8Array;
  dstBytes: Uint8Array;
}

export interface Ipv6Header {
  version: 6;
  /** 40 plus the extension headers walked to reach the upper layer. */
  headerBytes: number;
  /** Traffic class: DSCP and ECN as in IPv4's TOS byte (RFC 8200 §7). */
  tos: number;
  flowLabel: number;
  payloadLength: number;
  /** The upper-layer protocol after any extension headers. */
  protocol: number;
  ttl: number;
  src: string;
  dst: string;
  srcBytes: Uint8Array;
  dstBytes: Uint8Array;
}

export type IpHeader = Ipv4Header | Ipv6Header;

/** The IP header that starts at `at`, with as much as `end` allows; null if not even that. */
export function parseIpHeader(b: Uint8Array, at = 0, end = b.length): IpHeader | null {
  if (end - at < 1) return null;
  const version = (b[at] ?? 0) >>> 4;
  if (version === 4) {
    if (end - at < 20) return null;
    const ihl = ((b[at] ?? 0) & 0x0f) * 4;
    if (ihl < 20 || end - at < ihl) return null;
    const frag = ((b[at + 6] ?? 0) << 8) | (b[at + 7] ?? 0);
    const srcBytes = b.slice(at + 12, at + 16);
    const dstBytes = b.slice(at + 16, at + 20);
    return {
      version: 4,
      headerBytes: ihl,
      tos: b[at + 1] ?? 0,
      totalLength: ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0),
      id: ((b[at + 4] ?? 0) << 8) | (b[at + 5] ?? 0),
      df: (frag & 0x4000) !== 0,
      mf: (frag & 0x2000) !== 0,
      fragmentOffset: (frag & 0x1fff) * 8,
      ttl: b[at + 8] ?? 0,
      protocol: b[at + 9] ?? 0,
      checksum: ((b[at + 10] ?? 0) << 8) | (b[at + 11] ?? 0),
      src: formatIpv4(srcBytes),
      dst: formatIpv4(dstBytes),
      srcBytes,
      dstBytes,
    };
  }
  if (version === 6) {
    if (end - at < 40) return null;
    const w0 =
      (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
    let next = b[at + 6] ?? 0;
    let off = at + 40;
    // Hop-by-hop (0), routing (43), destination options (60): (len + 1) × 8 bytes; fragment (44): 8.
    for (let hops = 0; hops < 8 && (next === 0 || next === 43 || next === 60 || next === 44); hops++) {
      if (off + 8 > end) break;
      const len = next === 44 ? 8 : ((b[off + 1] ?? 0) + 1) * 8;
      next = b[off] ?? 0;
      off += len;
    }
    const srcBytes = b.slice(at + 8, at + 24);
    const dstBytes = b.slice(at + 24, at + 40);
    return {
      version: 6,
      headerBytes: Math.min(off, end) - at,
      tos: (w0 >>> 20) & 0xff,
      flowLabel: w0 & 0xfffff,
      payloadLength: ((b[at + 4] ?? 0) << 8) | (b[at + 5] ?? 0),
      protocol: next,
      ttl: b[at + 7] ?? 0,
      src: formatIpv6(srcBytes),
      dst: formatIpv6(dstBytes),
      srcBytes,
      dstBytes,
    };
  }
  return null;
}

/** Bytes of upper-layer data the IP header says follow it (total/payload length). */
export function ipPayloadLength(ip: IpHeader): number {
  return ip.version === 4 ? ip.totalLength - ip.headerBytes : ip.payloadLength + 40 - ip.headerBytes;
}

export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  dataOffsetBytes: number;
  flags: number;
  window: number;
  checksum: number;
  urgent: number;
  /** The option area (data offset − 20 bytes) and what it holds. */
  optionArea: Uint8Array;
  options: TcpOption[];
  payloadLength: number;
}

/**
 * What an ICMP error quotes of a TCP header: the first 8 bytes always (ports and sequence,
 * RFC 792), the rest only when the router quoted more (RFC 1812 §4.3.2.3). Fields the quote
 * does not reach are null; `options` is null unless the whole option area is in the quote.
 */
export interface TcpQuote {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number | null;
  dataOffsetBytes: number | null;
  flags: number | null;
  window: number | null;
  checksum: number | null;
  urgent: number | null;
  optionArea: Uint8Array | null;
  options: TcpOption[] | null;
}

const u16 = (b: Uint8Array, at: number): number => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
const u32 = (b: Uint8Array, at: number): number =>
  (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;

/** A whole TCP header at `at` (options included); null if it does not fit before `end`. */
export function parseTcpHeader(b: Uint8Array, at: number, end: number): TcpHeader | null {
  if (end - at < 20) return null;
  const dataOffsetBytes = ((b[at + 12] ?? 0) >>> 4) * 4;
  if (dataOffsetBytes < 20 || end - at < dataOffsetBytes) return null;
  const optionArea = b.slice(at + 20, at + dataOffsetBytes);
  return {
    srcPort: u16(b, at),
    dstPort: u16(b, at + 2),
    seq: u32(b, at + 4),
    ack: u32(b, at + 8),
    dataOffsetBytes,
    flags: b[at + 13] ?? 0,
    window: u16(b, at + 14),
    checksum: u16(b, at + 16),
    urgent: u16(b, at + 18),
    optionArea,
    options: parseTcpOptions(optionArea),
    payloadLength: end - at - dataOffsetBytes,
  };
}

/** The part of a TCP header that `end - at` quoted bytes reach; null below 8 bytes. */
export function parseTcpQuote(b: Uint8Array, at: number, end: number): TcpQuote | null {
  const n = end - at;
  if (n < 8) return null;
  const dataOffsetBytes = n >= 13 ? ((b[at + 12] ?? 0) >>> 4) * 4 : null;
  const full = dataOffsetBytes !== null && dataOffsetBytes >= 20 && n >= dataOffsetBytes;
  const optionArea = full ? b.slice(at + 20, at + (dataOffsetBytes ?? 20)) : null;
  return {
    srcPort: u16(b, at),
    dstPort: u16(b, at + 2),
    seq: u32(b, at + 4),
    ack: n >= 12 ? u32(b, at + 8) : null,
    dataOffsetBytes,
    flags: n >= 14 ? (b[at + 13] ?? 0) : null,
    window: n >= 16 ? u16(b, at + 14) : null,
    checksum: n >= 18 ? u16(b, at + 16) : null,
    urgent: n >= 20 ? u16(b, at + 18) : null,
    optionArea,
    options: optionArea ? parseTcpOptions(optionArea) : null,
  };
}

// --- building ----------------------------------------------------------------------------------

export interface TcpSegmentSpec {
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  window: number;
  urgent?: number;
  /** Already encoded and padded (encodeTcpOptions). */
  options?: Uint8Array;
  payload?: Uint8Array;
}

/** A TCP segment with its checksum over the pseudo-header of src/dst. */
export function buildTcpSegment(s: TcpSegmentSpec): Uint8Array {
  const opts = s.options ?? new Uint8Array(0);
  if (opts.length % 4 !== 0 || opts.length > 40) throw new Error('TCP options must be padded, ≤ 40 bytes');
  const payload = s.payload ?? new Uint8Array(0);
  const hl = 20 + opts.length;
  const seg = new Uint8Array(hl + payload.length);
  const dv = new DataView(seg.buffer);
  dv.setUint16(0, s.srcPort);
  dv.setUint16(2, s.dstPort);
  dv.setUint32(4, s.seq >>> 0);
  dv.setUint32(8, (s.ack ?? 0) >>> 0);
  seg[12] = (hl / 4) << 4;
  seg[13] = s.flags & 0xff;
  dv.setUint16(14, s.window);
  dv.setUint16(18, s.urgent ?? 0);
  seg.set(opts, 20);
  seg.set(payload, hl);
  dv.setUint16(16, tcpChecksum(s.src, s.dst, seg));
  return seg;
}

/** The checksum a TCP segment should carry (its own checksum field counted as zero). */
export function tcpChecksum(src: Uint8Array, dst: Uint8Array, seg: Uint8Array): number {
  const stored = u16(seg, 16);
  // Subtracting the stored value in one's complement = summing with that word zeroed.
  const sum = onesSum(seg, 0, seg.length, pseudoHeaderSum(src, dst, IPPROTO_TCP, seg.length));
  let s = sum + (~stored & 0xffff);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export interface IpSpec {
  src: Uint8Array;
  dst: Uint8Array;
  protocol: number;
  ttl: number;
  /** DSCP + ECN byte (IPv4 TOS, IPv6 traffic class). */
  tos?: number;
  /** IPv4 identification; also the IPv6 flow label's low 16 bits, to tell probes apart. */
  id?: number;
  df?: boolean;
  payload: Uint8Array;
}

/** An IPv4 or IPv6 packet (by the address length) around `payload`. */
export function buildIpPacket(s: IpSpec): Uint8Array {
  if (s.src.length !== s.dst.length) throw new Error('source and destination families differ');
  if (s.src.length === 4) {
    const total = 20 + s.payload.length;
    const p = new Uint8Array(total);
    const dv = new DataView(p.buffer);
    p[0] = 0x45;
    p[1] = (s.tos ?? 0) & 0xff;
    dv.setUint16(2, total);
    dv.setUint16(4, (s.id ?? 0) & 0xffff);
    dv.setUint16(6, s.df === false ? 0 : 0x4000);
    p[8] = s.ttl & 0xff;
    p[9] = s.protocol;
    p.set(s.src, 12);
    p.set(s.dst, 16);
    dv.setUint16(10, internetChecksum(p, 0, 20));
    p.set(s.payload, 20);
    return p;
  }
  const p = new Uint8Array(40 + s.payload.length);
  const dv = new DataView(p.buffer);
  dv.setUint32(0, ((6 << 28) | (((s.tos ?? 0) & 0xff) << 20) | ((s.id ?? 0) & 0xffff)) >>> 0);
  dv.setUint16(4, s.payload.length);
  p[6] = s.protocol;
  p[7] = s.ttl & 0xff;
  p.set(s.src, 8);
  p.set(s.dst, 24);
  p.set(s.payload, 40);
  return p;
}

export interface TcpPacketSpec extends TcpSegmentSpec {
  ttl: number;
  tos?: number;
  id?: number;
  df?: boolean;
}

export function buildTcpPacket(s: TcpPacketSpec): Uint8Array {
  return buildIpPacket({
    src: s.src,
    dst: s.dst,
    protocol: IPPROTO_TCP,
    ttl: s.ttl,
    ...(s.tos !== undefined ? { tos: s.tos } : {}),
    ...(s.id !== undefined ? { id: s.id } : {}),
    ...(s.df !== undefined ? { df: s.df } : {}),
    payload: buildTcpSegment(s),
  });
}
