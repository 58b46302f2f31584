import {
  backupLabel,
  rateQualityOf,
  type StallReason,
  type SubflowHealthState,
} from '../../../../shared/health';
import type { Subflow } from '../../../../shared/types';
import { formatRate } from '../../format';
import { Badge, type Tone } from '../Badge';

/**
 * A subflow's health and its delivery rate as every subflow table shows them (shared/health.ts;
 * docs/live-data.md "Subflow health"). The tables pass the state, a string, rather than the
 * subflow and a clock, so a memoised row re-renders only when the state changes.
 */

/** The Health column's tooltip, in both subflow tables. */
export const HEALTH_COLUMN_TITLE =
  'From tcp_info at the poll: stalled (RTO backoff, unanswered probes, or no ACK for longer than the RTO), idle (nothing sent or received for over 1 s), app-limited, or active';

const TONE: Record<SubflowHealthState, Tone> = {
  stalled: 'bad',
  idle: 'off',
  'app-limited': 'info',
  active: 'ok',
};

const MEANING: Record<SubflowHealthState, string> = {
  stalled:
    'No progress: the retransmission timer backed off (tcpi_backoff), probes are unanswered (tcpi_probes), or data waits unacknowledged longer than the RTO',
  idle: 'Nothing sent or received for more than a second (tcpi_last_data_sent, tcpi_last_data_recv)',
  'app-limited':
    'Carries data, but the sender had too little to fill the path (tcpi_delivery_rate_app_limited)',
  active: 'Carries data; the delivery rate is a current sample',
};

const REASON: Record<StallReason, string> = {
  'rto-backoff': 'RTO backoff',
  'probes-unanswered': 'probes unanswered',
  'no-ack': 'no ACK for longer than the RTO',
};

export function HealthBadge({
  state,
  subflow,
  reasons = [],
}: {
  state: SubflowHealthState;
  /** For the tooltip's figures (backoff count, RTO); optional. */
  subflow?: Pick<Subflow, 'backoffCount' | 'rtoUs' | 'probesCount'>;
  reasons?: readonly StallReason[];
}) {
  let title = MEANING[state];
  if (state === 'stalled' && subflow)
    title += ` — backoff ${subflow.backoffCount}, RTO ${Math.round(subflow.rtoUs / 1000)} ms, probes ${subflow.probesCount}`;
  if (reasons.length > 0) title += ` (${reasons.map((r) => REASON[r]).join(', ')})`;
  return (
    <span className="health-cell" data-testid="subflow-health" data-health={state}>
      <Badge tone={TONE[state]} title={title}>
        {state}
      </Badge>
    </span>
  );
}

/**
 * tcpi_delivery_rate, dimmed and marked when it is not a current rate: "app-limited" (it
 * understates the path) or "stale" (idle or stalled: the sample of the last burst).
 */
export function DeliveryRateCell({ bytesPerSec, state }: { bytesPerSec: number; state: SubflowHealthState }) {
  const quality = rateQualityOf(state);
  const note =
    quality === 'stale'
      ? 'the last sample before the subflow went idle or stalled, not a current rate'
      : quality === 'app-limited'
        ? 'limited by the sender having too little data: it understates the path'
        : 'a current sample';
  return (
    <td
      className={quality === 'current' ? 'num' : 'num rate-dim'}
      data-testid="subflow-delivery-rate"
      data-rate-quality={quality}
      title={`${bytesPerSec} bytes/s: ${note}`}
    >
      {formatRate(bytesPerSec)}
      {quality === 'current' ? null : <span className="rate-note"> {quality}</span>}
    </td>
  );
}

/** Whose backup flag is set, as a badge ("backup (ours)", "backup (peer's)", "backup (both)"). */
export function BackupBadge({ flags }: { flags: Pick<Subflow['flags'], 'backupLoc' | 'backupRem'> }) {
  const label = backupLabel(flags);
  if (label === '') return null;
  return (
    <Badge
      tone="info"
      title={`ours (MPTCP_SUBFLOW_FLAG_BKUP_LOC): ${flags.backupLoc ? 'set' : 'not set'}; peer's (MPTCP_SUBFLOW_FLAG_BKUP_REM): ${flags.backupRem ? 'set' : 'not set'}`}
      testId="subflow-backup"
    >
      {label}
    </Badge>
  );
}
