/**
 * What the user names as targets: addresses, CIDR ranges, host names, and @FILE (one of those per
 * line, # comments). Everything a probe could be sent to goes through forbiddenTargetReason: a
 * range or name that reaches a multicast or broadcast address is refused as a whole.
 */
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import {
  forbiddenTargetReason,
  formatIp,
  ipv4ToNumber,
  numberToIpv4,
  parseIp,
} from '../../../shared/packet/addr';

export interface Target {
  address: Uint8Array;
  text: string;
  /** The host name the address came from, if any. */
  host: string | null;
}

/** The most addresses one scan may name (a /12 of IPv4); more is refused, not truncated. */
export const MAX_TARGETS = 1 << 20;

export class TargetError extends Error {}

export type Resolver = (name: string) => Promise<string[]>;

const systemResolver: Resolver = async (name) => (await lookup(name, { all: true })).map((a) => a.address);

function expandCidr(spec: string, out: Target[], max: number): void {
  const [base, lenText] = spec.split('/');
  const addr = parseIp(base ?? '');
  const len = Number(lenText);
  if (!addr || !/^\d{1,3}$/.test(lenText ?? '') || len > addr.length * 8)
    throw new TargetError(`not a CIDR range: ${spec}`);
  const hostBits = addr.length * 8 - len;
  if (hostBits > 20)
    throw new TargetError(`${spec} has ${2 ** hostBits} addresses; at most ${MAX_TARGETS} per scan`);
  const count = 2 ** hostBits;
  if (out.length + count > max) throw new TargetError(`more than ${max} targets`);
  if (addr.length === 4) {
    const mask = hostBits === 32 ? 0 : (0xffffffff << hostBits) >>> 0;
    const first = (ipv4ToNumber(addr) & mask) >>> 0;
    // A range's first and last addresses are its network and directed-broadcast addresses
    // (RFC 919, RFC 922) unless it is a /31 or /32 (RFC 3021): never probed.
    const skip = hostBits >= 2 ? 1 : 0;
    for (let i = skip; i < count - skip; i++) {
      const b = numberToIpv4((first + i) >>> 0);
      const why = forbiddenTargetReason(b);
      if (why) throw new TargetError(`refusing ${spec}: ${formatIp(b)} is ${why}`);
      out.push({ address: b, text: formatIp(b), host: null });
    }
    return;
  }
  const start = Uint8Array.from(addr);
  for (let bit = len; bit < 128; bit++) start[bit >> 3] = (start[bit >> 3] ?? 0) & ~(0x80 >> (bit & 7));
  const why = forbiddenTargetReason(start);
  if (why) throw new TargetError(`refusing ${spec}: it is ${why}`);
  for (let i = 0; i < count; i++) {
    const b = Uint8Array.from(start);
    let carry = i;
    for (let k = 15; k >= 0 && carry > 0; k--) {
      const v = (b[k] ?? 0) + (carry & 0xff);
      b[k] = v & 0xff;
      carry = (carry >>> 8) + (v >> 8);
    }
    out.push({ address: b, text: formatIp(b), host: null });
  }
}

/** Expand target specs, in order, without duplicates. Throws TargetError on anything refused. */
export async function expandTargets(
  specs: readonly string[],
  opts: { max?: number; resolve?: Resolver } = {},
): Promise<Target[]> {
  const max = opts.max ?? MAX_TARGETS;
  const resolve = opts.resolve ?? systemResolver;
  const out: Target[] = [];
  const add = async (spec: string): Promise<void> => {
    const s = spec.trim();
    if (!s || s.startsWith('#')) return;
    if (s.startsWith('@')) {
      const text = await readFile(s.slice(1), 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new TargetError(`cannot read ${s.slice(1)}: ${e.code ?? e.message}`);
      });
      for (const line of text.split('\n')) await add(line.replace(/#.*/, ''));
      return;
    }
    if (s.includes('/')) return expandCidr(s, out, max);
    const literal = parseIp(s);
    if (literal) {
      const why = forbiddenTargetReason(literal);
      if (why) throw new TargetError(`refusing ${s}: it is ${why}`);
      out.push({ address: literal, text: formatIp(literal), host: null });
    } else {
      if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(s))
        throw new TargetError(`not an address, range or host name: ${s}`);
      const addrs = await resolve(s).catch((e: Error) => {
        throw new TargetError(`cannot resolve ${s}: ${e.message}`);
      });
      for (const a of addrs) {
        const b = parseIp(a);
        if (!b) continue;
        const why = forbiddenTargetReason(b);
        if (why) throw new TargetError(`refusing ${s} → ${a}: it is ${why}`);
        out.push({ address: b, text: formatIp(b), host: s });
      }
    }
    if (out.length > max) throw new TargetError(`more than ${max} targets`);
  };
  for (const s of specs) await add(s);
  const seen = new Set<string>();
  return out.filter((t) => (seen.has(t.text) ? false : (seen.add(t.text), true)));
}

/** "80,443,8000-8010" → ports; 1..65535 each, at most 1024 of them. */
export function parsePorts(text: string): number[] {
  const ports: number[] = [];
  for (const part of text.split(',')) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part.trim());
    if (!m) throw new TargetError(`not a port or port range: ${part}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a < 1 || b > 65535 || b < a) throw new TargetError(`ports are 1..65535: ${part}`);
    for (let p = a; p <= b; p++) ports.push(p);
  }
  const unique = [...new Set(ports)];
  if (unique.length > 1024) throw new TargetError('at most 1024 ports per scan');
  return unique;
}
