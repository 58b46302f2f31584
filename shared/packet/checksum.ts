/** The Internet checksum (RFC 1071) and the TCP/ICMPv6 pseudo-headers (RFC 9293 §3.1, RFC 8200 §8.1). */

/** One's-complement sum of 16-bit big-endian words of b[from, to), folded, not inverted. */
export function onesSum(b: Uint8Array, from = 0, to = b.length, initial = 0): number {
  let sum = initial;
  let i = from;
  for (; i + 1 < to; i += 2) sum += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  if (i < to) sum += (b[i] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function internetChecksum(b: Uint8Array, from = 0, to = b.length, initial = 0): number {
  return ~onesSum(b, from, to, initial) & 0xffff;
}

/** Sum of the pseudo-header of an upper-layer segment (IPv4 or IPv6 by the address length). */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  let sum = onesSum(src) + onesSum(dst) + protocol;
  sum += src.length === 16 ? (length >>> 16) + (length & 0xffff) : length;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
