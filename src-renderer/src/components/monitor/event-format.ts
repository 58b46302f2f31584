/** Kernel events in words for the timeline; raw attributes are kept for what we cannot decode. */
import { describeOutcome, type ConfigTimelineEntry } from '../../../../shared/config-api';
import { describeFailover } from '../../../../shared/failover';
import type { PmAction } from '../../../../shared/pm';
import { formatTime, hostPort, tokenHex } from '../../format';
import type { LogEvent } from '../../state/monitor/event-log';

export const MPTCP_KINDS = [
  'created',
  'established',
  'closed',
  'announced',
  'removed',
  'sub_established',
  'sub_closed',
  'sub_priority',
  'listener_created',
  'listener_closed',
  'unknown',
] as const;

/**
 * 'pm': the engine's own path-manager actions (subflow-create, announce, endpoint-sync, …);
 * 'config': configuration changes (applied, confirmed, reverted, rolled back) and crash recoveries;
 * 'failover': subflows stalling and recovering, traffic moving between subflows.
 */
export const KIND_OPTIONS = ['config', 'pm', 'failover', 'link', 'address', ...MPTCP_KINDS] as const;

/** A configuration outcome or recovery in words, with the steps it ran. */
export function describeConfigEntry(e: ConfigTimelineEntry): string {
  if ('recovery' in e) {
    const r = e.recovery;
    const steps = r.steps.map((s) => `${s.description}${s.ok ? '' : ` (failed: ${s.error ?? '?'})`}`);
    return [`Crash recovery: ${r.message}`, ...steps].join(' · ');
  }
  const o = e.outcome;
  const steps = [
    ...o.steps.map((s) => `${s.description}${s.ok ? '' : ` (failed: ${s.error ?? '?'})`}`),
    ...o.rolledBack.map((s) => `undone: ${s.description}${s.ok ? '' : ` (failed: ${s.error ?? '?'})`}`),
  ];
  return [describeOutcome(o, formatTime), ...steps].join(' · ');
}

/** The badge label of a configuration row: "config applied", "config reverted", "config recovered". */
export function configLabel(e: ConfigTimelineEntry): string {
  if ('recovery' in e) return 'config recovered';
  return `config ${e.outcome.kind.replace('-', ' ')}`;
}

function addr(address: string | null, port: number | null): string | null {
  if (address === null) return null;
  return port === null || port === 0 ? address : hostPort(address, port);
}

function rawHex(attrs: Record<string, string> | null): string {
  if (!attrs) return '';
  return Object.entries(attrs)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** A path-manager action in words: addresses, ids, the outcome and what the kernel said. */
export function describePmAction(a: PmAction): string {
  const parts: string[] = [];
  const local = addr(a.local, a.localPort);
  const remote = addr(a.remote, a.remotePort);
  if (local && remote) parts.push(`${local} → ${remote}`);
  else if (local) parts.push(local);
  else if (remote) parts.push(`remote ${remote}`);
  if (a.localId !== null) parts.push(`local id ${a.localId}`);
  if (a.result !== 'ok' && a.result !== 'info') parts.push(a.result);
  if (a.errno) parts.push(a.errno);
  if (a.message) parts.push(a.message);
  const detail = Object.entries(a.detail)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  if (detail) parts.push(detail);
  return parts.join(' · ');
}

/** One line describing the event; `ifname` resolves interface indexes where known. */
export function describeEvent(e: LogEvent, ifname: (index: number) => string | null = () => null): string {
  if (e.source === 'config') return describeConfigEntry(e);
  if (e.source === 'pm') return describePmAction(e.action);
  if (e.source === 'failover') return describeFailover(e.failover);
  if (e.source === 'link') {
    const state = e.deleted ? 'removed' : `${e.operState}${e.adminUp ? '' : ' (admin down)'}`;
    return `${e.name} ${state} · mtu ${e.mtuBytes}`;
  }
  if (e.source === 'address') {
    const dev = ifname(e.index) ?? `ifindex ${e.index}`;
    return `${e.deleted ? '−' : '+'} ${e.address}/${e.prefixLen} on ${dev}`;
  }
  const m = e.event;
  if (m.kind === 'unknown') {
    return `type ${m.type} · raw ${rawHex(m.rawAttrs) || rawHex(m.unknownAttrs) || '(no attributes)'}`;
  }
  const parts: string[] = [];
  const local = addr(m.localAddress, m.localPort);
  const remote = addr(m.remoteAddress, m.remotePort);
  if (local && remote) parts.push(`${local} → ${remote}`);
  else if (local) parts.push(`local ${local}`);
  else if (remote) parts.push(`remote ${remote}`);
  if (m.localId !== null || m.remoteId !== null) parts.push(`ids ${m.localId ?? '–'} → ${m.remoteId ?? '–'}`);
  // MPTCP_ATTR_BACKUP is the peer's flag (the bit sock_diag reports as BKUP_REM;
  // docs/live-data.md "Subflow health"), not ours: say whose.
  if (m.backup !== null) parts.push(m.backup ? "backup (peer's)" : "not backup (peer's)");
  if (m.error !== null && m.error !== 0) parts.push(`error ${m.error}`);
  if (m.resetReasonName) parts.push(`reset ${m.resetReasonName}`);
  if (m.ifindex !== null && m.ifindex !== 0) parts.push(`dev ${ifname(m.ifindex) ?? m.ifindex}`);
  if (m.serverSide) parts.push('server side');
  const unknown = rawHex(m.unknownAttrs);
  if (unknown) parts.push(`unknown attrs ${unknown}`);
  return parts.join(' · ');
}

export function eventTokenHex(e: LogEvent): string | null {
  if (e.source === 'pm') return e.action.token !== null ? tokenHex(e.action.token) : null;
  if (e.source === 'failover') return e.failover.token !== null ? tokenHex(e.failover.token) : null;
  return e.source === 'mptcp' && e.event.token !== null ? tokenHex(e.event.token) : null;
}

/** "12:03:04.123" */
export function formatTimeMs(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
