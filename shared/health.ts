/**
 * A subflow's health from its struct tcp_info (uapi: linux/tcp.h), so that a view shows what a
 * subflow is doing now rather than the last values the kernel happened to keep: a subflow on a
 * downed link keeps its last RTT and delivery rate for as long as it lives, and an idle subflow's
 * delivery rate is the sample of its last burst, however long ago. docs/live-data.md describes the
 * states and their thresholds for users.
 *
 * Pure: every rule reads the subflow and the time its snapshot was taken (ConnectionsSnapshot
 * takenAtMs, the engine's clock), never the caller's clock, so an agent's snapshot classifies the
 * same on any host and a replayed recording classifies as it did live.
 */
import type { Subflow, SubflowFlags } from './types';

/** In the order a table sorts them: worst first. */
export const SUBFLOW_HEALTH_STATES = ['stalled', 'idle', 'app-limited', 'active'] as const;
export type SubflowHealthState = (typeof SUBFLOW_HEALTH_STATES)[number];

/** Why a subflow is `stalled`; see classifySubflow. */
export type StallReason = 'rto-backoff' | 'probes-unanswered' | 'no-ack';

/**
 * What tcpi_delivery_rate is worth now: `current`, the last sample was limited by the path;
 * `app-limited`, by the sender having too little data (tcpi_delivery_rate_app_limited), so it
 * understates the path; `stale`, nothing was delivered recently (idle or stalled), so it is the
 * sample of the last burst, not a rate.
 */
export type RateQuality = 'current' | 'app-limited' | 'stale';

/**
 * A subflow that sent and received no data for this long is `idle`. One second: the default poll
 * interval, and longer than a round trip on any path a bulk transfer keeps busy.
 */
export const HEALTH_IDLE_AFTER_MS = 1000;

export type SubflowHealthInput = Pick<
  Subflow,
  | 'rtoUs'
  | 'unackedPkts'
  | 'backoffCount'
  | 'probesCount'
  | 'deliveryRateAppLimited'
  | 'lastDataSentAtMs'
  | 'lastDataRecvAtMs'
  | 'lastAckRecvAtMs'
> & { readonly flags: Pick<SubflowFlags, 'backupLoc' | 'backupRem'> };

export interface SubflowHealth {
  state: SubflowHealthState;
  /** Every rule that found the subflow stalled; empty unless `state` is `stalled`. */
  stallReasons: StallReason[];
  /** How to show deliveryRateBytesPerSec. */
  deliveryRate: RateQuality;
  /** Our backup flag (MPTCP_SUBFLOW_FLAG_BKUP_LOC, uapi: linux/mptcp.h): we sent MP_JOIN/MP_PRIO B. */
  backupLoc: boolean;
  /** The peer's backup flag (MPTCP_SUBFLOW_FLAG_BKUP_REM): the peer asked us to treat it as backup. */
  backupRem: boolean;
  /** Ages at the snapshot's time, ms (0 when the kernel's time is later); null: unknown. */
  lastDataSentAgoMs: number | null;
  lastDataRecvAgoMs: number | null;
  lastAckRecvAgoMs: number | null;
}

/** `nowMs - atMs`, never negative; null when the time is unknown. */
export function ageMs(atMs: number | null, nowMs: number): number | null {
  return atMs === null ? null : Math.max(0, nowMs - atMs);
}

/**
 * The stall rules, each a reading of struct tcp_info (uapi: linux/tcp.h):
 * - `rto-backoff`: tcpi_backoff > 0. The retransmission timer fired and doubled the RTO
 *   (tcpi_rto then holds the backed-off value); the kernel resets the count only on a valid RTT
 *   sample (RFC 6298 5.7), that is, when the path delivers again.
 * - `probes-unanswered`: tcpi_probes > 0, zero-window or keepalive probes sent and not yet
 *   answered (any ACK resets the count).
 * - `no-ack`: tcpi_unacked > 0 and, for longer than tcpi_rto, neither an ACK came back
 *   (tcpi_last_ack_recv) nor was anything sent (tcpi_last_data_sent): data waits on a path that
 *   says nothing. Counting from the last send as well keeps a subflow that just woke up from a
 *   long idle (its last ACK is old, its first new segment in flight) out of this rule.
 */
function stallReasons(s: SubflowHealthInput, nowMs: number): StallReason[] {
  const out: StallReason[] = [];
  if (s.backoffCount > 0) out.push('rto-backoff');
  if (s.probesCount > 0) out.push('probes-unanswered');
  if (s.unackedPkts > 0) {
    const ack = ageMs(s.lastAckRecvAtMs, nowMs);
    const sent = ageMs(s.lastDataSentAtMs, nowMs);
    const rtoMs = s.rtoUs / 1000;
    if (ack !== null && sent !== null && ack > rtoMs && sent > rtoMs) out.push('no-ack');
  }
  return out;
}

/**
 * idle: no data sent (tcpi_last_data_sent) and none received (tcpi_last_data_recv) for longer
 * than HEALTH_IDLE_AFTER_MS. Unknown times (a recording older than these fields) are not idle.
 */
function isIdle(s: SubflowHealthInput, nowMs: number): boolean {
  const sent = ageMs(s.lastDataSentAtMs, nowMs);
  const recv = ageMs(s.lastDataRecvAtMs, nowMs);
  return sent !== null && recv !== null && sent > HEALTH_IDLE_AFTER_MS && recv > HEALTH_IDLE_AFTER_MS;
}

/**
 * What the delivery rate is worth in a state: a sample of the last burst when idle or stalled,
 * marked when app-limited, else a current rate.
 */
export function rateQualityOf(state: SubflowHealthState): RateQuality {
  return state === 'stalled' || state === 'idle'
    ? 'stale'
    : state === 'app-limited'
      ? 'app-limited'
      : 'current';
}

/**
 * A state as a small number (its index in SUBFLOW_HEALTH_STATES: 0 stalled … 3 active), for typed
 * arrays such as the charts' sample rings; NaN reads back as null (unknown).
 */
export function healthCode(state: SubflowHealthState): number {
  return SUBFLOW_HEALTH_STATES.indexOf(state);
}
export function healthOfCode(code: number): SubflowHealthState | null {
  return Number.isInteger(code) ? (SUBFLOW_HEALTH_STATES[code] ?? null) : null;
}

/**
 * The state alone (no allocation: the exporter and the failover detector run it over every
 * subflow of every poll). First rule that matches: stalled, idle, app-limited
 * (tcpi_delivery_rate_app_limited), else active.
 */
export function subflowHealthState(s: SubflowHealthInput, nowMs: number): SubflowHealthState {
  if (s.backoffCount > 0 || s.probesCount > 0) return 'stalled';
  if (s.unackedPkts > 0 && stallReasons(s, nowMs).length > 0) return 'stalled';
  if (isIdle(s, nowMs)) return 'idle';
  return s.deliveryRateAppLimited ? 'app-limited' : 'active';
}

/** The state, the reasons behind it, what the delivery rate is worth, and both backup flags. */
export function classifySubflow(s: SubflowHealthInput, nowMs: number): SubflowHealth {
  const state = subflowHealthState(s, nowMs);
  return {
    state,
    stallReasons: state === 'stalled' ? stallReasons(s, nowMs) : [],
    deliveryRate: rateQualityOf(state),
    backupLoc: s.flags.backupLoc,
    backupRem: s.flags.backupRem,
    lastDataSentAgoMs: ageMs(s.lastDataSentAtMs, nowMs),
    lastDataRecvAgoMs: ageMs(s.lastDataRecvAtMs, nowMs),
    lastAckRecvAgoMs: ageMs(s.lastAckRecvAtMs, nowMs),
  };
}

/**
 * Whose backup flag is set, in words, for every place that shows one: "backup (ours)" (we marked
 * the subflow backup: our endpoint's backup flag, MP_JOIN/MP_PRIO sent), "backup (peer's)" (the
 * peer marked it), "backup (both)", or "" for neither. A bare "backup" hides which side's flag
 * a view read, which made two views disagree about one subflow.
 */
export function backupLabel(f: { readonly backupLoc: boolean; readonly backupRem: boolean }): string {
  if (f.backupLoc && f.backupRem) return 'backup (both)';
  if (f.backupLoc) return 'backup (ours)';
  if (f.backupRem) return "backup (peer's)";
  return '';
}

/** One line for a tooltip or the CLI: the state and, when stalled, why. */
export function describeHealth(h: SubflowHealth): string {
  if (h.state !== 'stalled') return h.state;
  const why = h.stallReasons.map((r) =>
    r === 'rto-backoff'
      ? 'RTO backoff'
      : r === 'probes-unanswered'
        ? 'probes unanswered'
        : 'no ACK for > RTO',
  );
  return `stalled (${why.join(', ')})`;
}
