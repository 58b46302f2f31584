/**
 * IP address bytes ↔ text, shared by the rtnetlink and mptcp_pm codecs. Addresses travel as raw
 * network-order bytes in both (uapi: IFA_ADDRESS / IFA_LOCAL, MPTCP_PM_ADDR_ATTR_ADDR4 / ADDR6).
 */
import { formatIpv6 as formatIpv6Bytes } from '../../../shared/packet/addr';
import { AF_INET6 } from '../uapi/socket';

export function formatIpv4(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** IPv6 text as iproute2 prints it (glibc inet_ntop): shared/packet/addr.ts formatIpv6. */
export function formatIpv6(buf: Buffer, off: number): string {
  return formatIpv6Bytes(buf, off);
}

export function formatAddress(family: number, buf: Buffer, off: number): string {
  return family === AF_INET6 ? formatIpv6(buf, off) : formatIpv4(buf, off);
}

function parseIpv4(text: string): Buffer | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

function parseIpv6(text: string): Buffer | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] ?? '';
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (!v4) return null;
        out.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groupsOf(halves[0] ?? '');
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** Text → family and network-order bytes; null when the text is neither an IPv4 nor an IPv6 address. */
export function parseAddress(text: string): { family: 'inet' | 'inet6'; bytes: Buffer } | null {
  const v4 = parseIpv4(text);
  if (v4) return { family: 'inet', bytes: v4 };
  const v6 = text.includes(':') ? parseIpv6(text) : null;
  return v6 ? { family: 'inet6', bytes: v6 } : null;
}
