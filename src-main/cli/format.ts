/** Human-readable CLI output. JSON output (--json) is the contract's types, unformatted. */
import type { ApplyReport, PlanView } from '../../shared/config-api';
import { backupLabel, classifySubflow, describeHealth, type SubflowHealth } from '../../shared/health';
import { summarizePaths, type PathSummary } from '../../shared/paths';
import { formatBytes, formatPercent, retransPercent } from '../../shared/units';
import type {
  Connection,
  ConnectionsSnapshot,
  Endpoint,
  KernelStatus,
  Limits,
  Subflow,
} from '../../shared/types';

export function formatPlan(plan: PlanView): string {
  const out: string[] = [];
  for (const e of plan.errors) out.push(`error: ${e}`);
  for (const w of plan.warnings) out.push(`warning: ${w}`);
  if (plan.steps.length === 0 && plan.errors.length === 0) out.push('nothing to change');
  for (const s of plan.steps) {
    const mark = s.impact.level === 'closes' ? 'DISRUPTS: ' : '';
    out.push(`- ${s.description}\n    ${s.shell}\n    live traffic: ${mark}${s.impact.text}`);
  }
  if (plan.steps.length > 0) {
    out.push(
      plan.live
        ? `(impact computed from ${plan.live.connections} live MPTCP connection${plan.live.connections === 1 ? '' : 's'} with ${plan.live.subflows} subflow${plan.live.subflows === 1 ? '' : 's'})`
        : '(the live connections could not be read: impact unknown)',
    );
  }
  if (plan.steps.some((s) => s.impact.level === 'closes'))
    out.push('steps marked DISRUPTS close live subflows: apply them with --allow-disruption');
  return out.join('\n') + '\n';
}

export function formatReport(r: ApplyReport): string {
  const out: string[] = [];
  for (const e of r.planErrors) out.push(`refused: ${e}`);
  for (const a of r.applied) out.push(`done: ${a.description}`);
  if (r.failed) {
    out.push(
      `FAILED: ${r.failed.description}: ${r.failed.error?.code ?? ''} ${r.failed.error?.message ?? ''}`.trimEnd(),
    );
    for (const b of r.rolledBack)
      out.push(
        `${b.ok ? 'undone' : 'UNDO FAILED'}: ${b.description}${b.error ? `: ${b.error.message}` : ''}`,
      );
    out.push(
      r.restored
        ? 'the prior state was restored exactly'
        : 'WARNING: the state differs from before the apply',
    );
  }
  if (r.ok && r.applied.length === 0) out.push('nothing to change');
  return out.join('\n') + '\n';
}

export function formatFlags(ep: Endpoint): string {
  const names: string[] = (Object.keys(ep.flags) as (keyof Endpoint['flags'])[]).filter((k) => ep.flags[k]);
  const known = 0x3f;
  if (ep.rawFlags & ~known) names.push(`rawflags 0x${(ep.rawFlags & ~known).toString(16)}`);
  return names.join(' ');
}

export function formatEndpoints(eps: Endpoint[]): string {
  if (eps.length === 0) return 'no MPTCP endpoints\n';
  return eps
    .map((e) => {
      const port = e.port === null ? '' : ` port ${e.port}`;
      const dev = e.ifname ? ` dev ${e.ifname}` : e.ifindex ? ` ifindex ${e.ifindex}` : '';
      return `${e.address}${port} id ${e.id} ${formatFlags(e)}${dev}`.trimEnd();
    })
    .join('\n')
    .concat('\n');
}

export function formatStatus(s: KernelStatus, limits: Limits | null): string {
  const lines = [
    `kernel        ${s.kernelRelease}${s.netns ? `  (netns ${s.netns})` : ''}`,
    `mptcp         ${!s.mptcpSupported ? 'not supported by this kernel' : s.enabled ? 'enabled' : 'disabled'}`,
    `path manager  ${s.pathManager ?? '?'}  (available: ${s.availablePathManagers.join(' ') || '?'})`,
    `scheduler     ${s.scheduler ?? '?'}  (available: ${s.availableSchedulers.join(' ') || '?'})`,
    `congestion    ${s.congestionControl.default ?? '?'}  (available: ${s.congestionControl.available.join(' ')})`,
  ];
  if (limits)
    lines.push(`limits        subflows ${limits.subflows}  add_addr_accepted ${limits.addAddrAccepted}`);
  if (s.privileges.note) lines.push(`note          ${s.privileges.note}`);
  return lines.join('\n') + '\n';
}

const hostPort = (addr: string, port: number): string =>
  addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;

/** A rate in bits per second, as `ss` and the UI show it. */
function bitRate(bytesPerSec: number): string {
  const bps = bytesPerSec * 8;
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} Gbit/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbit/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(1)} kbit/s`;
  return `${bps} bit/s`;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * A subflow's health words (shared/health.ts, docs/live-data.md): the state, why when stalled,
 * the backoff and RTO behind a stall, the delivery rate marked when it is not a current rate, and
 * whose backup flag is set.
 */
function healthText(sf: Subflow, h: SubflowHealth): string {
  const parts = [`health ${describeHealth(h)}`];
  if (sf.backoffCount > 0) parts.push(`backoff ${sf.backoffCount}  rto ${Math.round(sf.rtoUs / 1000)} ms`);
  if (h.state === 'stalled' && h.lastAckRecvAgoMs !== null)
    parts.push(`last ack ${seconds(h.lastAckRecvAgoMs)} ago`);
  const rate = `delivery ${bitRate(sf.deliveryRateBytesPerSec)}`;
  parts.push(h.deliveryRate === 'current' ? rate : `${rate} (${h.deliveryRate})`);
  const backup = backupLabel(h);
  if (backup !== '') parts.push(backup);
  return parts.join('  ');
}

/**
 * `connections --json`: the snapshot as the contract has it, each subflow with its `health`
 * (classifySubflow at the snapshot's takenAtMs).
 */
export function connectionsJson(snap: ConnectionsSnapshot): unknown {
  return {
    ...snap,
    connections: snap.connections.map((c) => ({
      ...c,
      subflows: c.subflows.map((sf) => ({ ...sf, health: classifySubflow(sf, snap.takenAtMs) })),
    })),
    // Per interface (shared/paths.ts), as the text output and the Overview show it.
    paths: summarizePaths(snap.connections),
  };
}

/** `nowMs`: the snapshot's takenAtMs, which the subflows' health is judged at. */
export function formatConnections(conns: Connection[], nowMs: number): string {
  if (conns.length === 0) return 'no MPTCP connections\n';
  const out: string[] = [];
  for (const c of conns) {
    out.push(
      `${hostPort(c.localAddress, c.localPort)} -> ${hostPort(c.remoteAddress, c.remotePort)}  token ${c.token.toString(16)}  ` +
        `subflows ${c.subflowsTotal}${c.fallback ? '  FALLBACK' : ''}  sent ${formatBytes(c.bytesSent)}  ` +
        `received ${formatBytes(c.bytesReceived)}  mptcp retrans ${formatBytes(c.bytesRetrans)}`,
    );
    for (const sf of c.subflows) {
      out.push(
        `    ${hostPort(sf.localAddress, sf.localPort)} -> ${hostPort(sf.remoteAddress, sf.remotePort)}  ` +
          `dev ${sf.ifname ?? '?'}  id ${sf.localId}/${sf.remoteId}  rtt ${(sf.rttUs / 1000).toFixed(2)} ms  cwnd ${sf.cwndPkts}  ` +
          `mss ${sf.mssBytes}  retrans ${retransPercent(sf) ?? '-'}  ${healthText(sf, classifySubflow(sf, nowMs))}`,
      );
    }
  }
  out.push('', ...formatPaths(summarizePaths(conns)));
  return out.join('\n') + '\n';
}

/** Per interface (shared/paths.ts): what the live subflows carried over their lifetime. */
export function formatPaths(paths: readonly PathSummary[]): string[] {
  if (paths.length === 0) return [];
  return [
    'paths (interface: live subflows, their lifetime bytes):',
    ...paths.map(
      (p) =>
        `  ${p.ifname}  subflows ${p.subflows}${p.backupSubflows ? ` (${p.backupSubflows} backup)` : ''}  connections ${p.connections}  ` +
        `sent ${formatBytes(p.bytesSent)}  received ${formatBytes(p.bytesReceived)}  retrans ${p.retransPct === null ? '-' : formatPercent(p.retransPct, 100)}`,
    ),
  ];
}
