/**
 * IPv4 and IPv6 addresses as text and bytes, and the address classes a probe must never target.
 * Pure TypeScript (shared/): the scanner's target parser, the packet codecs and the UI use it.
 */

/** Parse dotted-quad IPv4 ("10.0.1.2"); null if it is not exactly four decimal octets. */
export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^\d{1,3}$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

/** Parse IPv6 text (RFC 4291 §2.2, including "::" and a trailing dotted quad); null if invalid. */
export function parseIpv6(text: string): Uint8Array | null {
  if (text.length === 0 || text.length > 45 || text.includes('%')) return null;
  let head = text;
  let tail4: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail4 = parseIpv4(text.slice(lastColon + 1));
    if (!tail4) return null;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = groups(halves[0] ?? '');
  const right = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (!left || !right) return null;
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...left, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >>> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (tail4) out.set(tail4, 12);
  return out;
}

/** 4 or 16 bytes for an IPv4 or IPv6 literal, else null. */
export function parseIp(text: string): Uint8Array | null {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

export function formatIpv4(b: Uint8Array, at = 0): string {
  return `${b[at] ?? 0}.${b[at + 1] ?? 0}.${b[at + 2] ?? 0}.${b[at + 3] ?? 0}`;
}

/**
 * IPv6 text exactly as glibc's inet_ntop(3) prints it, which is what `ip` and `ss` show (RFC 5952:
 * lower case, the first longest run of two or more zero groups as "::"), including its dotted
 * tails: `::ffff:a.b.c.d` for an IPv4-mapped address and `::a.b.c.d` for an IPv4-compatible one
 * (all but `::` and `::1`). The one IPv6 formatter of the repository: the rtnetlink and mptcp_pm
 * codecs, the packet codecs and the exported scripts all print through it, so their text compares.
 */
export function formatIpv6(b: Uint8Array, at = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((b[at + 2 * i] ?? 0) << 8) | (b[at + 2 * i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  const quad = (): string => formatIpv4(b, at + 12);
  if (bestStart === 0) {
    if (bestLen === 6 || (bestLen === 7 && g[7] !== 1)) return `::${quad()}`;
    if (bestLen === 5 && g[5] === 0xffff) return `::ffff:${quad()}`;
  }
  const hexes = g.map((x) => x.toString(16));
  if (bestStart < 0) return hexes.join(':');
  return `${hexes.slice(0, bestStart).join(':')}::${hexes.slice(bestStart + bestLen).join(':')}`;
}

export function formatIp(b: Uint8Array): string {
  return b.length === 16 ? formatIpv6(b) : formatIpv4(b);
}

/** The address as a 32-bit unsigned number (IPv4 only). */
export function ipv4ToNumber(b: Uint8Array): number {
  return (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
}

export function numberToIpv4(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/**
 * Why an address may never be a probe target, or null if it may: multicast (224.0.0.0/4,
 * ff00::/8), limited broadcast 255.255.255.255, the unspecified address, "this network" 0/8 and
 * the reserved 240.0.0.0/4 (RFC 1122 §3.2.1.3, RFC 1112, RFC 4291 §2.7). A subnet's directed
 * broadcast depends on the interfaces; the probe helper checks that against its own.
 */
export function forbiddenTargetReason(b: Uint8Array): string | null {
  if (b.length === 4) {
    const a = b[0] ?? 0;
    if (ipv4ToNumber(b) === 0xffffffff) return 'the limited broadcast address';
    if (a >= 224 && a <= 239) return 'a multicast address';
    if (a >= 240) return 'a reserved (class E) address';
    if (a === 0) return 'a "this network" address (0.0.0.0/8)';
    return null;
  }
  if (b.length === 16) {
    if (b[0] === 0xff) return 'a multicast address';
    if (b.every((x) => x === 0)) return 'the unspecified address';
    return null;
  }
  return 'not an IPv4 or IPv6 address';
}
