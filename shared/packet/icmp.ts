/**
 * ICMP (RFC 792) and ICMPv6 (RFC 4443) errors and the packet they quote. How much is quoted
 * decides what a trace may conclude: RFC 792 asks for the IP header and 8 bytes of the
 * datagram (TCP ports and sequence number only: the options are invisible, so "stripped" can
 * never be concluded from such a quote), RFC 1812 §4.3.2.3 lets routers quote up to 576 bytes
 * in all, ICMPv6 quotes as much as fits in 1280 (RFC 4443 §2.4 (c)), and RFC 4884 §4 adds a
 * length attribute (in 32-bit words for ICMP, 64-bit words for ICMPv6) when extensions follow.
 */
import {
  IPPROTO_TCP,
  ipPayloadLength,
  parseIpHeader,
  parseTcpQuote,
  type IpHeader,
  type TcpQuote,
} from './packet';

export type IcmpKind = 'time-exceeded' | 'unreachable' | 'packet-too-big' | 'parameter-problem' | 'other';

/** How the quote was formed: see the file comment. */
export type QuoteKind = 'rfc792' | 'rfc1812' | 'rfc4884' | 'icmpv6';

export interface Quote {
  kind: QuoteKind;
  ip: IpHeader;
  /** The quoted TCP header as far as it goes; null for other protocols or under 8 bytes. */
  tcp: TcpQuote | null;
  /** Bytes of the quoted datagram after its IP header (padding and extensions excluded). */
  transportBytes: number;
  /** Every TCP option of the quoted segment is in the quote. */
  optionsVisible: boolean;
}

export interface IcmpMessage {
  family: 4 | 6;
  type: number;
  code: number;
  kind: IcmpKind;
  /** Plain words for the type and code ("port unreachable", "TTL exceeded in transit"). */
  reason: string;
  /** RFC 4884 original-datagram length in bytes, or null when the field is 0 / not defined. */
  rfc4884LengthBytes: number | null;
  quote: Quote | null;
}

const V4_UNREACH = [
  'network unreachable',
  'host unreachable',
  'protocol unreachable',
  'port unreachable',
  'fragmentation needed',
  'source route failed',
  'destination network unknown',
  'destination host unknown',
  'source host isolated',
  'network administratively prohibited',
  'host administratively prohibited',
  'network unreachable for TOS',
  'host unreachable for TOS',
  'communication administratively prohibited',
  'host precedence violation',
  'precedence cutoff in effect',
];
const V6_UNREACH = [
  'no route to destination',
  'communication administratively prohibited',
  'beyond scope of source address',
  'address unreachable',
  'port unreachable',
  'source address failed ingress/egress policy',
  'reject route to destination',
  'error in source routing header',
];

function describe(family: 4 | 6, type: number, code: number): { kind: IcmpKind; reason: string } {
  if (family === 4) {
    if (type === 11)
      return {
        kind: 'time-exceeded',
        reason: code === 0 ? 'TTL exceeded in transit' : 'fragment reassembly time exceeded',
      };
    if (type === 3) return { kind: 'unreachable', reason: V4_UNREACH[code] ?? `unreachable code ${code}` };
    if (type === 12) return { kind: 'parameter-problem', reason: 'parameter problem' };
    return { kind: 'other', reason: `ICMP type ${type} code ${code}` };
  }
  if (type === 3)
    return {
      kind: 'time-exceeded',
      reason: code === 0 ? 'hop limit exceeded in transit' : 'fragment reassembly time exceeded',
    };
  if (type === 1) return { kind: 'unreachable', reason: V6_UNREACH[code] ?? `unreachable code ${code}` };
  if (type === 2) return { kind: 'packet-too-big', reason: 'packet too big' };
  if (type === 4) return { kind: 'parameter-problem', reason: 'parameter problem' };
  return { kind: 'other', reason: `ICMPv6 type ${type} code ${code}` };
}

/**
 * An ICMP or ICMPv6 message that starts at `at` (the ICMP header) and ends at `end`. Errors
 * (types that quote) get their quote parsed; informational messages get quote null.
 */
export function parseIcmp(family: 4 | 6, b: Uint8Array, at: number, end: number): IcmpMessage | null {
  if (end - at < 8) return null;
  const type = b[at] ?? 0;
  const code = b[at + 1] ?? 0;
  const { kind, reason } = describe(family, type, code);
  const quoting = kind !== 'other';
  // The length attribute of RFC 4884 section 4: ICMP types 3, 11 and 12 carry it in octet 5, in
  // 32-bit words; ICMPv6 types 1 and 3 in octet 4, in 64-bit words.
  let lengthBytes: number | null = null;
  if (family === 4 && (type === 3 || type === 11 || type === 12)) {
    const w = b[at + 5] ?? 0;
    lengthBytes = w > 0 ? w * 4 : null;
  } else if (family === 6 && (type === 1 || type === 3)) {
    const w = b[at + 4] ?? 0;
    lengthBytes = w > 0 ? w * 8 : null;
  }
  const msg: IcmpMessage = { family, type, code, kind, reason, rfc4884LengthBytes: lengthBytes, quote: null };
  if (!quoting) return msg;
  const qStart = at + 8;
  // A length attribute longer than what arrived is a lie; the data that is there still counts.
  const qEnd = lengthBytes !== null ? Math.min(end, qStart + lengthBytes) : end;
  const ip = parseIpHeader(b, qStart, qEnd);
  if (!ip) return msg;
  const tStart = qStart + ip.headerBytes;
  // Zero padding (RFC 4884) or a router's trailing bytes are not part of the datagram.
  const tEnd = Math.max(tStart, Math.min(qEnd, tStart + Math.max(0, ipPayloadLength(ip))));
  const transportBytes = tEnd - tStart;
  const tcp = ip.protocol === IPPROTO_TCP ? parseTcpQuote(b, tStart, tEnd) : null;
  let qKind: QuoteKind;
  if (family === 6) qKind = 'icmpv6';
  else if (lengthBytes !== null) qKind = 'rfc4884';
  else qKind = transportBytes <= 8 ? 'rfc792' : 'rfc1812';
  msg.quote = { kind: qKind, ip, tcp, transportBytes, optionsVisible: tcp?.options != null };
  return msg;
}
