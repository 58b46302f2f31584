/**
 * What a path did to a probe: the probe as sent against the copy a router quoted back in an
 * ICMP error (tracebox's method). The expected differences are normalised away: the TTL (the
 * quoting hop saw it at 1 or decremented it) and both checksums (they follow any other change).
 * Everything else that differs is a change. TCP options are only compared when the quote holds
 * the whole option area; otherwise their fate is "unknown", never "stripped".
 */
import type { IpHeader, TcpQuote } from './packet';
import { describeOption, findOption, type TcpOption } from './tcp-options';

export type ChangeKind =
  | 'dscp'
  | 'ecn'
  | 'ip-id'
  | 'df'
  | 'address'
  | 'port'
  | 'seq'
  | 'ack'
  | 'flags'
  | 'window'
  | 'urgent'
  | 'mss'
  | 'option-added'
  | 'option-removed'
  | 'option-nopped'
  | 'option-modified';

export interface Change {
  kind: ChangeKind;
  /** Which field: "src address", "MP_CAPABLE", "timestamp", ... */
  field: string;
  from: string | null;
  to: string | null;
  /** One line of plain words. */
  text: string;
}

/** The fate of the probe's MP_CAPABLE at one hop. */
export type MpcFate = 'intact' | 'stripped' | 'modified' | 'unknown';

export interface ProbeImage {
  ip: IpHeader;
  tcp: {
    srcPort: number;
    dstPort: number;
    seq: number;
    ack: number;
    flags: number;
    window: number;
    urgent: number;
    options: TcpOption[];
  };
}

export interface Comparison {
  changes: Change[];
  mptcp: MpcFate;
}

const hex2 = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Options that carry meaning (padding is not an option anyone strips or adds on purpose). */
const meaningful = (o: TcpOption): boolean => o.kind !== 'nop' && o.kind !== 'eol';

function optionName(o: TcpOption): string {
  switch (o.kind) {
    case 'mp-capable':
      return 'MP_CAPABLE';
    case 'mp-join':
      return 'MP_JOIN';
    case 'mptcp':
      return o.name;
    case 'mss':
      return 'MSS';
    case 'wscale':
      return 'window scale';
    case 'sack-permitted':
      return 'SACK-permitted';
    case 'sack':
      return 'SACK';
    case 'timestamp':
      return 'timestamp';
    case 'unknown':
    case 'malformed':
      return `option ${o.code}`;
    case 'nop':
      return 'NOP';
    case 'eol':
      return 'EOL';
  }
}

/** Same option kind (and for kind 30, same subtype; for unknown kinds, same code). */
function sameKind(a: TcpOption, b: TcpOption): boolean {
  if (a.kind !== b.kind) return false;
  if ((a.kind === 'unknown' || a.kind === 'malformed') && (b.kind === 'unknown' || b.kind === 'malformed'))
    return a.code === b.code;
  if (a.kind === 'mptcp' && b.kind === 'mptcp') return a.subtype === b.subtype;
  return true;
}

function compareOptions(sent: TcpOption[], quoted: TcpOption[], quotedArea: Uint8Array): Change[] {
  const changes: Change[] = [];
  const used = new Set<number>();
  for (const s of sent.filter(meaningful)) {
    const idx = quoted.findIndex((q, i) => !used.has(i) && sameKind(s, q));
    const name = optionName(s);
    if (idx >= 0) {
      used.add(idx);
      const q = quoted[idx] as TcpOption;
      if (sameBytes(s.raw, q.raw)) continue;
      if (s.kind === 'mss' && q.kind === 'mss') {
        changes.push({
          kind: 'mss',
          field: 'MSS',
          from: String(s.mss),
          to: String(q.mss),
          text: `MSS rewritten ${s.mss} → ${q.mss}`,
        });
      } else {
        changes.push({
          kind: 'option-modified',
          field: name,
          from: describeOption(s),
          to: describeOption(q),
          text: `${name} modified (${describeOption(s)} → ${describeOption(q)})`,
        });
      }
      continue;
    }
    const span = quotedArea.slice(s.offset, s.offset + s.raw.length);
    const nopped = span.length === s.raw.length && span.every((x) => x === 1);
    changes.push(
      nopped
        ? {
            kind: 'option-nopped',
            field: name,
            from: describeOption(s),
            to: null,
            text: `${name} replaced by NOPs`,
          }
        : { kind: 'option-removed', field: name, from: describeOption(s), to: null, text: `${name} removed` },
    );
  }
  quoted.forEach((q, i) => {
    if (used.has(i) || !meaningful(q)) return;
    const name = optionName(q);
    changes.push({
      kind: 'option-added',
      field: name,
      from: null,
      to: describeOption(q),
      text: `${describeOption(q)} added`,
    });
  });
  return changes;
}

/** The MP_CAPABLE verdict alone, from the options compared (or unknown without them). */
function mpcFate(sent: TcpOption[], quoted: TcpOption[] | null): MpcFate {
  const s = findOption(sent, 'mp-capable');
  if (!s || !quoted) return 'unknown';
  const q = findOption(quoted, 'mp-capable');
  if (!q) return 'stripped';
  return sameBytes(s.raw, q.raw) ? 'intact' : 'modified';
}

/** Compare a probe with its quote (ip + as much TCP as was quoted). */
export function compareQuote(probe: ProbeImage, qIp: IpHeader, qTcp: TcpQuote | null): Comparison {
  const changes: Change[] = [];
  const p = probe.ip;
  const push = (kind: ChangeKind, field: string, from: string, to: string, text: string): void => {
    changes.push({ kind, field, from, to, text });
  };
  if (p.tos >>> 2 !== qIp.tos >>> 2)
    push(
      'dscp',
      'DSCP',
      String(p.tos >>> 2),
      String(qIp.tos >>> 2),
      `DSCP changed ${p.tos >>> 2} → ${qIp.tos >>> 2}`,
    );
  if ((p.tos & 3) !== (qIp.tos & 3))
    push('ecn', 'ECN', String(p.tos & 3), String(qIp.tos & 3), `ECN changed ${p.tos & 3} → ${qIp.tos & 3}`);
  if (p.version === 4 && qIp.version === 4) {
    if (p.id !== qIp.id)
      push('ip-id', 'IP ID', String(p.id), String(qIp.id), `IP ID rewritten ${p.id} → ${qIp.id}`);
    if (p.df !== qIp.df) push('df', 'DF', String(p.df), String(qIp.df), `DF ${p.df ? 'cleared' : 'set'}`);
  }
  if (p.src !== qIp.src)
    push('address', 'src address', p.src, qIp.src, `source address rewritten ${p.src} → ${qIp.src} (NAT)`);
  if (p.dst !== qIp.dst)
    push('address', 'dst address', p.dst, qIp.dst, `destination address rewritten ${p.dst} → ${qIp.dst}`);
  const t = probe.tcp;
  if (!qTcp) return { changes, mptcp: 'unknown' };
  if (t.srcPort !== qTcp.srcPort)
    push(
      'port',
      'src port',
      String(t.srcPort),
      String(qTcp.srcPort),
      `source port rewritten ${t.srcPort} → ${qTcp.srcPort} (NAT)`,
    );
  if (t.dstPort !== qTcp.dstPort)
    push(
      'port',
      'dst port',
      String(t.dstPort),
      String(qTcp.dstPort),
      `destination port rewritten ${t.dstPort} → ${qTcp.dstPort}`,
    );
  if (t.seq !== qTcp.seq) {
    const shift = (qTcp.seq - t.seq) | 0;
    push(
      'seq',
      'sequence',
      String(t.seq),
      String(qTcp.seq),
      `sequence number shifted by ${shift} (a proxy or sequence randomiser)`,
    );
  }
  if (qTcp.ack !== null && qTcp.ack !== t.ack)
    push('ack', 'ack', String(t.ack), String(qTcp.ack), 'acknowledgment number changed');
  if (qTcp.flags !== null && qTcp.flags !== t.flags)
    push(
      'flags',
      'flags',
      hex2(t.flags),
      hex2(qTcp.flags),
      `TCP flags changed ${hex2(t.flags)} → ${hex2(qTcp.flags)}`,
    );
  if (qTcp.window !== null && qTcp.window !== t.window)
    push(
      'window',
      'window',
      String(t.window),
      String(qTcp.window),
      `window changed ${t.window} → ${qTcp.window}`,
    );
  if (qTcp.urgent !== null && qTcp.urgent !== t.urgent)
    push('urgent', 'urgent pointer', String(t.urgent), String(qTcp.urgent), 'urgent pointer changed');
  if (qTcp.options && qTcp.optionArea)
    changes.push(...compareOptions(t.options, qTcp.options, qTcp.optionArea));
  return { changes, mptcp: mpcFate(t.options, qTcp.options) };
}
