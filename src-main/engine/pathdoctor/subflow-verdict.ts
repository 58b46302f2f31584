/**
 * The subflow check's reading of what happened to each subflow, per path, and overall: pure
 * (unit-tested with hand-made evidence). Evidence comes from the kernel: mptcp_pm events
 * (SUB_ESTABLISHED, SUB_CLOSED with sk_err and the MP_RST reason), sock_diag (state, bytes,
 * retransmissions) and the connection's TCP_IS_MPTCP.
 */
import type {
  CheckedPath,
  CheckedSubflow,
  SubflowCheckResult,
  SubflowOutcome,
} from '../../../shared/path-doctor';

export interface SubflowEvidence {
  initial: boolean;
  extra: boolean;
  /** The kernel refused SUBFLOW_CREATE (no route, no free port, …). */
  createError: string | null;
  /** SUB_ESTABLISHED arrived, or sock_diag showed it ESTABLISHED. */
  established: boolean;
  /** SUB_CLOSED arrived (or it vanished from sock_diag). */
  closed: { error: number | null; resetReason: string | null } | null;
  /** sock_diag state when last seen (null: never seen). */
  lastState: string | null;
  /** Still there at the end. */
  alive: boolean;
  /** The check wrote data while this subflow was established. */
  dataFlowed: boolean;
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
  /** The connection fell back to TCP (the initial subflow's evidence). */
  connectionFallback: 'handshake' | 'data' | null;
  /**
   * MP_RSTs this end sent during the check (MPTcpExt MPRstTx): the kernel resets a subflow whose
   * data arrives without a usable DSS mapping. Per namespace, not per subflow.
   */
  localResets: number;
  /**
   * The check sent a chunk with every other subflow set to backup (SET_FLAGS, MP_PRIO), so this
   * one was the only subflow the scheduler could send on (docs/path-doctor.md, "The payload").
   */
  forcedChunk?: boolean;
}

/** Linux errno numbers a subflow's sk_err takes here (uapi asm-generic/errno.h). */
const ERRNO_NAMES: Record<number, string> = {
  32: 'EPIPE',
  101: 'ENETUNREACH',
  103: 'ECONNABORTED',
  104: 'ECONNRESET',
  110: 'ETIMEDOUT',
  111: 'ECONNREFUSED',
  113: 'EHOSTUNREACH',
};

export function errnoName(n: number | null): string | null {
  if (n === null || n === 0) return null;
  return ERRNO_NAMES[n] ?? `errno ${n}`;
}

/** An idle subflow's reason once a chunk was forced onto it (SubflowEvidence.forcedChunk). */
export const FORCED_IDLE_REASON =
  'joined, but carried no data even as the only subflow the scheduler could use (every other one set to backup): the path carries no data';

export function classifySubflow(e: SubflowEvidence): { outcome: SubflowOutcome; reason: string } {
  const carried = e.bytesSent > 0 || e.bytesReceived > 0;
  if (e.connectionFallback === 'handshake')
    return {
      outcome: 'fallback',
      reason: 'the SYN/ACK came back without MP_CAPABLE: the connection fell back to TCP at the handshake',
    };
  if (e.connectionFallback === 'data')
    return {
      outcome: 'fallback',
      reason:
        'the connection fell back to TCP once data flowed (DSS lost: MPCapableDataFallback / DssFallback)',
    };
  if (e.createError) return { outcome: 'not-created', reason: e.createError };
  const err = errnoName(e.closed?.error ?? null);
  if (!e.established) {
    if (e.closed) {
      if (e.closed.error === 111)
        return { outcome: 'refused', reason: 'the SYN + MP_JOIN was answered with an RST (ECONNREFUSED)' };
      if (e.closed.resetReason)
        return { outcome: 'refused', reason: `the join was reset (MP_RST: ${e.closed.resetReason})` };
      return {
        outcome: 'refused',
        reason: err ? `the join failed (${err})` : 'the join was closed before it was established',
      };
    }
    if (e.lastState === 'SYN_SENT' || e.lastState === null)
      return {
        outcome: 'dropped',
        reason:
          e.retransmits > 0
            ? `no answer to the SYN + MP_JOIN after ${e.retransmits} retransmission${e.retransmits === 1 ? '' : 's'}`
            : 'no answer to the SYN + MP_JOIN',
      };
    return { outcome: 'dropped', reason: `not established (last seen ${e.lastState})` };
  }
  if (e.closed || !e.alive) {
    const middlebox = e.closed?.resetReason === 'middlebox';
    // Naming the box: the peer's MP_RST says middlebox (RFC 8684 §3.6), or this end reset it.
    if (middlebox || (e.dataFlowed && e.closed?.resetReason))
      return {
        outcome: 'fallback',
        reason: `reset once data flowed (the peer's MP_RST: ${e.closed?.resetReason ?? 'unknown'}): a box on this path strips or alters DSS`,
      };
    if (e.dataFlowed && !err && e.localResets > 0)
      return {
        outcome: 'fallback',
        reason: `reset by this end once data flowed: data arrived on it without its DSS mapping (MPRstTx +${e.localResets}); a box on this path strips or alters DSS`,
      };
    if (e.dataFlowed && !carried)
      return {
        outcome: 'fallback',
        reason: `closed once data flowed${err ? ` (${err})` : ''}, before carrying any`,
      };
    return {
      outcome: 'closed',
      reason: `closed${err ? ` (${err})` : ''}${e.closed?.resetReason ? ` (MP_RST: ${e.closed.resetReason})` : ''}`,
    };
  }
  if (!carried)
    return {
      outcome: 'idle',
      reason: e.forcedChunk
        ? FORCED_IDLE_REASON
        : 'joined, but the scheduler sent nothing on it and nothing came back on it',
    };
  return { outcome: 'ok', reason: e.initial ? 'MP_CAPABLE handshake and data' : 'joined and carried data' };
}

/** Worst first: what a path is reported as when its subflows disagree. */
const SEVERITY: SubflowOutcome[] = ['fallback', 'refused', 'dropped', 'closed', 'not-created', 'idle', 'ok'];

const fmtBytes = (n: number): string =>
  n >= 1024 * 1024
    ? `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) ? 1 : 0)} MiB`
    : n >= 1024
      ? `${Math.round(n / 1024)} KiB`
      : `${n} B`;

/** A path in words: the local end, and the remote one when the check joined to more than one. */
function pathNameOf(
  p: { interface: string | null; localAddress: string; remoteAddress: string },
  remotes: number,
): string {
  const local = p.interface ? `${p.interface} (${p.localAddress})` : p.localAddress;
  return remotes > 1 ? `${local} to ${p.remoteAddress}` : local;
}

/** One path per local address × remote address (a subflow's two ends). */
export function summarisePaths(subflows: readonly CheckedSubflow[]): CheckedPath[] {
  const groups = new Map<string, CheckedSubflow[]>();
  for (const s of subflows) {
    if (s.extra) continue;
    const k = `${s.localAddress}|${s.remoteAddress}`;
    const list = groups.get(k) ?? [];
    list.push(s);
    groups.set(k, list);
  }
  const remotes = new Set([...groups.values()].map((l) => l[0]?.remoteAddress)).size;
  const out: CheckedPath[] = [];
  for (const list of groups.values()) {
    const counts: Record<string, number> = {};
    for (const s of list) counts[s.outcome] = (counts[s.outcome] ?? 0) + 1;
    const outcome = SEVERITY.find((o) => (counts[o] ?? 0) > 0) ?? 'ok';
    const worst = list.find((s) => s.outcome === outcome);
    const p = {
      interface: list[0]?.interface ?? null,
      localAddress: list[0]?.localAddress ?? '',
      remoteAddress: list[0]?.remoteAddress ?? '',
    };
    const pathName = (q: typeof p): string => pathNameOf(q, remotes);
    const n = list.length;
    const of = (k: number): string =>
      k === n
        ? n === 1
          ? 'its one subflow'
          : n === 2
            ? 'both subflows'
            : `all ${n} subflows`
        : `${k} of ${n} subflows`;
    const k = counts[outcome] ?? 0;
    let verdict: string;
    switch (outcome) {
      case 'ok':
        verdict = `MPTCP works from ${pathName(p)}: ${of(n)} joined and carried data`;
        break;
      case 'idle':
        verdict = list.some((x) => x.outcome === 'idle' && x.reason === FORCED_IDLE_REASON)
          ? `from ${pathName(p)}, ${of(k)} joined but carried no data, even when the only subflow the scheduler could use: the path carries no data`
          : `from ${pathName(p)}, ${of(k)} joined but carried no data (the scheduler did not use ${k === 1 ? 'it' : 'them'})`;
        break;
      case 'dropped':
        verdict = `joins from ${pathName(p)} are dropped silently: ${worst?.reason ?? 'no answer'} (${of(k)})`;
        break;
      case 'refused':
        verdict = `joins from ${pathName(p)} are refused: ${worst?.reason ?? 'reset'} (${of(k)})`;
        break;
      case 'fallback':
        verdict = worst?.initial
          ? `from ${pathName(p)}: ${worst.reason}`
          : `subflows from ${pathName(p)} join, then are ${worst?.reason ?? 'closed'} (${of(k)})`;
        break;
      case 'closed':
        verdict = `subflows from ${pathName(p)} join, then are ${worst?.reason ?? 'closed'} (${of(k)})`;
        break;
      case 'not-created':
        verdict = `no subflow could be started from ${pathName(p)}: ${worst?.reason ?? ''}`;
        break;
    }
    out.push({ ...p, outcome, subflows: n, counts, verdict });
  }
  return out;
}

export function checkVerdict(
  r: Pick<SubflowCheckResult, 'paths' | 'payload' | 'connection' | 'cancelled'>,
): string {
  const parts: string[] = [];
  const good = r.paths.filter((p) => p.outcome === 'ok');
  if (r.paths.length > 0) {
    parts.push(
      good.length === r.paths.length
        ? `MPTCP works on ${r.paths.length === 1 ? 'the one path' : `all ${r.paths.length} paths`}: every subflow joined and carried data`
        : `${good.length} of ${r.paths.length} ${r.paths.length === 1 ? 'path carries' : 'paths carry'} MPTCP subflows`,
    );
  }
  for (const p of r.paths) if (p.outcome !== 'ok') parts.push(p.verdict);
  const pl = r.payload;
  if (pl.sent > 0) {
    if (pl.intact) parts.push(`the payload (${fmtBytes(pl.sent)}) came back intact`);
    else if (pl.mismatchAt !== null)
      parts.push(`the payload came back altered from byte ${pl.mismatchAt} on: a box rewrote data`);
    else parts.push(`only ${fmtBytes(pl.echoed)} of ${fmtBytes(pl.sent)} came back`);
  }
  const refused = r.paths.filter((p) => p.outcome === 'refused');
  if (refused.length > 1 && refused.length === r.paths.length - good.length && good.length <= 1)
    parts.push(
      'when every join is refused, check the responder first: its namespace accepts at most `ip mptcp limits` subflows per connection',
    );
  if (r.cancelled) parts.push('cancelled before the end');
  return parts.join('; ');
}
