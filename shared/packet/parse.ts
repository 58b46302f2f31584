/** One packet as received by the probe helper (starting at its IP header): IP + TCP or ICMP. */
import { parseIcmp, type IcmpMessage } from './icmp';
import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  ipPayloadLength,
  parseIpHeader,
  parseTcpHeader,
  type IpHeader,
  type TcpHeader,
} from './packet';

export type ParsedPacket =
  | { ip: IpHeader; kind: 'tcp'; tcp: TcpHeader }
  | { ip: IpHeader; kind: 'icmp'; icmp: IcmpMessage }
  | { ip: IpHeader; kind: 'other' };

/** Never throws; null when the bytes are not a whole IPv4/IPv6 header and a sane upper layer. */
export function parsePacket(b: Uint8Array): ParsedPacket | null {
  const ip = parseIpHeader(b);
  if (!ip) return null;
  if (ip.version === 4 && (ip.fragmentOffset !== 0 || ip.mf)) return { ip, kind: 'other' };
  const start = ip.headerBytes;
  // Trust the IP length over a capture's trailing bytes, but never read past what arrived.
  const end = Math.min(b.length, start + Math.max(0, ipPayloadLength(ip)));
  if (end <= start) return { ip, kind: 'other' };
  if (ip.protocol === IPPROTO_TCP) {
    const tcp = parseTcpHeader(b, start, end);
    return tcp ? { ip, kind: 'tcp', tcp } : null;
  }
  if (
    (ip.version === 4 && ip.protocol === IPPROTO_ICMP) ||
    (ip.version === 6 && ip.protocol === IPPROTO_ICMPV6)
  ) {
    const icmp = parseIcmp(ip.version, b, start, end);
    return icmp ? { ip, kind: 'icmp', icmp } : null;
  }
  return { ip, kind: 'other' };
}
