/**
 * A trace's verdict in plain words: where MP_CAPABLE disappears, or why the destination answers
 * without it. Pure (unit-tested with hand-made hop lists).
 */
import type { Hop, TraceResult } from '../../../shared/path-doctor';

const hopName = (h: Hop): string => `hop ${h.ttl} (${h.address ?? '*'})`;

export function traceVerdict(t: Pick<TraceResult, 'hops' | 'destination'>): string {
  const routers = t.hops.filter((h) => h.address !== null && !h.destination);
  const dest = t.destination;
  // The first hop whose quote shows our MP_CAPABLE gone or altered, and the last one before it
  // whose quote showed it intact: the box is between them.
  let lastIntact: Hop | null = null;
  for (const h of routers) {
    if (h.mptcp === 'intact') {
      lastIntact = h;
      continue;
    }
    if (h.mptcp === 'stripped' || h.mptcp === 'modified') {
      const what = h.mptcp === 'stripped' ? 'removed' : 'modified';
      const how = h.changes.find((c) => c.field === 'MP_CAPABLE');
      const detail = how?.kind === 'option-nopped' ? ' (overwritten with NOPs)' : '';
      return lastIntact
        ? `MP_CAPABLE is ${what} between ${hopName(lastIntact)} and ${hopName(h)}${detail}`
        : `MP_CAPABLE is ${what} before ${hopName(h)}${detail}: by the first router or before it`;
    }
  }
  const others = routers.flatMap((h) => h.newChanges.map((c) => `${c.text} at ${hopName(h)}`));
  const also = others.length > 0 ? ` (also: ${others.join('; ')})` : '';
  const reachedIntact = lastIntact ? `MP_CAPABLE reaches ${hopName(lastIntact)} intact; ` : '';
  const unknownQuotes = routers.length > 0 && routers.every((h) => h.mptcp === 'unknown');
  switch (dest.class) {
    case 'mptcp-v1':
    case 'mptcp-v0':
      return `MPTCP works on this path: the server answers with MP_CAPABLE ${dest.class === 'mptcp-v1' ? 'v1' : 'v0'}${also}`;
    case 'mirror':
      return `a box on the path echoes our MP_CAPABLE back in the SYN/ACK (a mirroring middlebox): MPTCP answers here cannot be trusted${also}`;
    case 'tcp':
      if (unknownQuotes)
        return `the server answers without MPTCP; the routers' quotes are too short to show where the option went (RFC 792 quotes)${also}`;
      return `${reachedIntact}the server answers without MPTCP: it does not support it${also}`;
    case 'syn-blackhole': {
      const last = routers.at(-1);
      return `SYNs carrying MP_CAPABLE are dropped${last ? ` after ${hopName(last)}` : ''}, while a plain SYN is answered: a firewall drops MPTCP${also}`;
    }
    case 'closed':
      return `${reachedIntact}the server's port is closed (RST)${also}`;
    case 'filtered':
    case null: {
      const last = routers.at(-1);
      return `the destination does not answer (${dest.reason})${last ? `; the last hop that answered is ${hopName(last)}` : ''}${also}`;
    }
  }
}
