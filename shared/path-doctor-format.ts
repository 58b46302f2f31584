/** Scan and trace results as text, CSV and JSON: the CLI prints these, the UI exports them. */
import type { Hop, ScanRecord, ScanResult, SubflowCheckResult, TraceResult } from './path-doctor';
import { countOf, formatBytes } from './units';

const csvCell = (v: string | number | boolean | null | undefined): string => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export const SCAN_CSV_COLUMNS = [
  'target',
  'host',
  'port',
  'class',
  'mptcp_version',
  'checksum_required',
  'deny_join_initial_address',
  'join',
  'fallback',
  'rtt_ms',
  'probes',
  'reason',
] as const;

export function scanRecordsToCsv(records: readonly ScanRecord[]): string {
  const rows = records.map((r) =>
    [
      r.target,
      r.host,
      r.port,
      r.class,
      r.mptcp?.version,
      r.mptcp?.checksumRequired,
      r.mptcp?.denyJoinInitialAddress,
      r.join,
      r.fallback,
      r.rttMs === null ? null : r.rttMs.toFixed(3),
      r.probes,
      r.reason,
    ]
      .map(csvCell)
      .join(','),
  );
  return `${[SCAN_CSV_COLUMNS.join(','), ...rows].join('\n')}\n`;
}

/** Records in address order (numeric for IPv4), then port. */
export function sortScanRecords(records: readonly ScanRecord[]): ScanRecord[] {
  const key = (a: string): string =>
    a.includes(':')
      ? `1${a}`
      : `0${a
          .split('.')
          .map((x) => x.padStart(3, '0'))
          .join('.')}`;
  return [...records].sort((a, b) =>
    key(a.target) < key(b.target) ? -1 : key(a.target) > key(b.target) ? 1 : a.port - b.port,
  );
}

export function formatScanText(res: ScanResult): string {
  const lines = sortScanRecords(res.records).map((r) => {
    const flags = r.mptcp
      ? ` [v${r.mptcp.version}${r.mptcp.checksumRequired ? ', checksum required' : ''}${r.mptcp.denyJoinInitialAddress ? ', no join to this address' : ''}]`
      : '';
    const rtt = r.rttMs === null ? '' : ` ${r.rttMs.toFixed(2)} ms`;
    return `${r.host ? `${r.host} (${r.target})` : r.target}:${r.port}  ${r.class}${flags}${rtt}  — ${r.reason}`;
  });
  const s = res.summary;
  const counts = Object.entries(s.counts)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  lines.push(
    `${s.cancelled ? 'cancelled: ' : ''}${countOf(res.records.length, 'result')} (${counts || 'none'}) from ${countOf(s.probesSent, 'probe')} in ${(s.elapsedMs / 1000).toFixed(2)} s (${s.mode} mode, ${s.ratePps} probes/s)`,
  );
  return `${lines.join('\n')}\n`;
}

function hopLine(h: Hop): string {
  const who = h.address ?? '*';
  const rtt = h.rttMs === null ? '' : ` ${h.rttMs.toFixed(2)} ms`;
  if (!h.address) return `${String(h.ttl).padStart(2)}  *`;
  const quote = h.quote ? ` [${h.quote.kind}${h.quote.optionsVisible ? '' : ', options not quoted'}]` : '';
  const what = h.destination
    ? 'destination'
    : h.newChanges.length > 0
      ? h.newChanges.map((c) => c.text).join('; ')
      : h.changes.length > 0
        ? 'no new change'
        : 'unchanged';
  return `${String(h.ttl).padStart(2)}  ${who}${rtt}  MP_CAPABLE ${h.mptcp}${quote}  ${what}`;
}

export function formatTraceText(t: TraceResult): string {
  const head = `trace to ${t.target} port ${t.port} from ${t.source}${t.from ? ` (${t.from})` : ''}`;
  const lines = [head, ...t.hops.map(hopLine), `verdict: ${t.verdict}`];
  return `${lines.join('\n')}\n`;
}

const bytesText = formatBytes;

/** The subflow check as text: one line per subflow, then one per path, then the verdict. */
export function formatSubflowCheckText(r: SubflowCheckResult): string {
  const pm = r.connection.pathManager;
  const lines = [
    `subflow check to ${r.target} port ${r.port}, ${r.subflowsPerPath} subflow${r.subflowsPerPath === 1 ? '' : 's'} per path` +
      (r.connection.token !== null
        ? ` (connection ${r.connection.token.toString(16).padStart(8, '0')})`
        : ''),
  ];
  // With more than one far address (announced or given), each line names the one it joined to.
  const many = r.remotes.length > 1;
  if (many)
    lines.push(
      `remote addresses: ${r.remotes.map((x) => `${x.address}${x.port !== r.port ? ` port ${x.port}` : ''} (${x.from})`).join(', ')}`,
    );
  for (const s of r.subflows) {
    const from =
      `${s.interface ? `${s.interface} ` : ''}${s.localAddress}${s.localPort ? `:${s.localPort}` : ''}` +
      (many ? ` → ${s.remoteAddress}` : '');
    const tag = s.initial ? ' [initial]' : s.extra ? ' [extra]' : '';
    const data =
      s.bytesSent || s.bytesReceived
        ? `  sent ${bytesText(s.bytesSent)}, received ${bytesText(s.bytesReceived)}`
        : '';
    lines.push(`  ${from.padEnd(30)} ${s.outcome.padEnd(11)}${tag}  ${s.reason}${data}`);
  }
  lines.push('paths:');
  for (const p of r.paths)
    lines.push(
      `  ${`${p.interface ?? p.localAddress}${many ? ` → ${p.remoteAddress}` : ''}`.padEnd(12)} ${p.outcome.padEnd(11)} ${p.verdict}`,
    );
  const moved = Object.entries(r.counters)
    .map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}`)
    .join(', ');
  if (moved) lines.push(`counters: ${moved}`);
  if (pm.switched)
    lines.push(
      `(the check's socket was created under path_manager=userspace; ${pm.before} was put back at once)`,
    );
  lines.push(`verdict: ${r.verdict}`);
  return `${lines.join('\n')}\n`;
}

/**
 * A change as tracebox prints it (the seed: "IP::DSCP/ECN IP::TTL TCP::Option_MSS"), with the
 * values when there are two: `TCP::Option_MSS 1460→1200`.
 */
export function seedChangeName(c: Pick<Hop['changes'][number], 'kind' | 'field'>): string {
  switch (c.kind) {
    case 'dscp':
      return 'IP::DSCP';
    case 'ecn':
      return 'IP::ECN';
    case 'ip-id':
      return 'IP::ID';
    case 'df':
      return 'IP::DF';
    case 'address':
      return `IP::${c.field.startsWith('src') ? 'SrcAddr' : 'DstAddr'}`;
    case 'port':
      return `TCP::${c.field.startsWith('src') ? 'SPort' : 'DPort'}`;
    case 'seq':
      return 'TCP::SeqNumber';
    case 'ack':
      return 'TCP::AckNumber';
    case 'flags':
      return 'TCP::Flags';
    case 'window':
      return 'TCP::Window';
    case 'urgent':
      return 'TCP::UrgPtr';
    case 'mss':
      return 'TCP::Option_MSS';
    default:
      return `TCP::Option_${c.field.replace(/\s+/g, '_')}`;
  }
}

export function seedChangeText(c: Hop['changes'][number]): string {
  const name = seedChangeName(c);
  if (c.kind === 'option-removed' || c.kind === 'option-nopped')
    return `${name} ${c.kind === 'option-nopped' ? 'NOPed' : 'removed'}`;
  if (c.kind === 'option-added') return `${name} added`;
  return c.from !== null && c.to !== null ? `${name} ${c.from}→${c.to}` : name;
}

/** Subflow check rows as CSV (the UI's export). */
export function subflowCheckToCsv(r: SubflowCheckResult): string {
  const head =
    'interface,local_address,local_port,remote_address,remote_port,initial,extra,outcome,bytes_sent,bytes_received,retransmits,rtt_us,error,reset_reason,reason';
  const rows = r.subflows.map((s) =>
    [
      s.interface,
      s.localAddress,
      s.localPort,
      s.remoteAddress,
      s.remotePort,
      s.initial,
      s.extra,
      s.outcome,
      s.bytesSent,
      s.bytesReceived,
      s.retransmits,
      s.rttUs,
      s.error,
      s.resetReason,
      s.reason,
    ]
      .map(csvCell)
      .join(','),
  );
  return `${[head, ...rows].join('\n')}\n`;
}

/** [80, 443, 8000, 8001, 8002] → "80,443,8000-8002" (runs of three or more as ranges). */
export function compactPorts(ports: readonly number[]): string {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] ?? 0) + 1) j++;
    const a = sorted[i] ?? 0;
    const b = sorted[j] ?? 0;
    if (j - i >= 2) out.push(`${a}-${b}`);
    else for (let k = i; k <= j; k++) out.push(String(sorted[k]));
    i = j + 1;
  }
  return out.join(',');
}
