/**
 * What `--from` (the CLI) and `from` (the contract) name: interfaces or local addresses to probe
 * from. Resolved against this namespace's addresses, for the target's address family; link-local
 * IPv6 addresses are left out (they reach no router).
 */
import { parseIp } from '../../../shared/packet/addr';

export interface LocalAddress {
  ifindex: number;
  name: string;
  address: string;
}

export interface ProbeSource {
  /** The address probes leave from. */
  address: string;
  ifindex: number;
  /** The interface name (null when the user gave an address that no interface holds). */
  interface: string | null;
  /** What the user wrote (null: picked by route or by default). */
  spec: string | null;
}

export class SourceError extends Error {}

const usable = (a: LocalAddress, family: 4 | 16): boolean => {
  const b = parseIp(a.address);
  return b !== null && b.length === family && !a.address.toLowerCase().startsWith('fe80:');
};

/** Resolve each spec to one source (an interface's first address of the family). */
export function resolveSources(
  specs: readonly string[],
  family: 4 | 16,
  locals: readonly LocalAddress[],
): ProbeSource[] {
  const out: ProbeSource[] = [];
  for (const spec of specs) {
    const literal = parseIp(spec);
    if (literal) {
      if (literal.length !== family) throw new SourceError(`${spec} is not of the target's address family`);
      const holder = locals.find((a) => {
        const b = parseIp(a.address);
        return b !== null && Buffer.from(b).equals(Buffer.from(literal));
      });
      if (!holder) throw new SourceError(`${spec} is not an address of this host`);
      out.push({ address: holder.address, ifindex: holder.ifindex, interface: holder.name, spec });
      continue;
    }
    const mine = locals.filter((a) => a.name === spec && usable(a, family));
    const first = mine[0];
    if (!first)
      throw new SourceError(`interface ${spec} has no ${family === 4 ? 'IPv4' : 'IPv6'} address here`);
    out.push({ address: first.address, ifindex: first.ifindex, interface: first.name, spec });
  }
  const seen = new Set<string>();
  return out.filter((s) => (seen.has(s.address) ? false : (seen.add(s.address), true)));
}

/**
 * Every interface's first address of the family, loopback left out: the subflow check's
 * default ("from every local interface").
 */
export function defaultSources(
  family: 4 | 16,
  locals: readonly LocalAddress[],
  isLoopback: (name: string) => boolean,
): ProbeSource[] {
  const out: ProbeSource[] = [];
  const done = new Set<string>();
  for (const a of locals) {
    if (done.has(a.name) || isLoopback(a.name) || !usable(a, family)) continue;
    done.add(a.name);
    out.push({ address: a.address, ifindex: a.ifindex, interface: a.name, spec: null });
  }
  return out;
}
