import { describeOutcome, type ConfigOutcome } from '../../../../shared/config-api';
import { formatTime } from '../../format';
import { useConfig } from '../../state/stores';
import { Badge } from '../Badge';
import { Notice } from '../Notice';

/** The short label next to the sentence. */
function labelOf(o: ConfigOutcome): string {
  if (o.kind !== 'reverted') return o.kind.replace('-', ' ');
  return o.reason === 'deadline'
    ? 'automatic revert'
    : o.reason === 'shutdown'
      ? 'revert on disconnect'
      : 'reverted on request';
}

/**
 * How the change a report shows ended, when the outcome is about that change: it was applied
 * with a confirmation window that ends where the report's did.
 */
export function endOf(outcome: ConfigOutcome | null, revertAtMs: number | null): ConfigOutcome | null {
  if (!outcome || revertAtMs === null || outcome.appliedAtMs === null || outcome.confirmWithinS === null)
    return null;
  if (outcome.kind !== 'reverted' && outcome.kind !== 'confirmed' && outcome.kind !== 'revert-failed')
    return null;
  return Math.abs(outcome.appliedAtMs + outcome.confirmWithinS * 1000 - revertAtMs) < 2000 ? outcome : null;
}

function toneOf(o: ConfigOutcome): 'info' | 'warn' | 'bad' {
  if (o.kind === 'apply-failed' || o.kind === 'revert-failed' || o.restored === false) return 'bad';
  if (o.kind === 'reverted' && o.reason !== 'user') return 'warn';
  return 'info';
}

/**
 * How the latest change ended, in words ("Reverted at 03:39:59: not confirmed within 15 s"), from
 * the engine's mptcp:config:outcome events: a change reverted at its deadline or because its
 * engine stopped is not mistaken for one that stayed. An apply's own outcome is in its report.
 */
export function OutcomeNotice() {
  const outcome = useConfig((s) => s.outcome);
  const report = useConfig((s) => s.report);
  if (!outcome) return null;
  const ownApply =
    report?.kind === 'apply' && (outcome.kind === 'applied' || outcome.kind === 'apply-failed');
  if (ownApply) return null;
  const undone = outcome.kind === 'reverted' ? outcome.steps : [];
  return (
    <Notice
      tone={toneOf(outcome)}
      title={describeOutcome(outcome, formatTime)}
      testId="cfg-outcome"
      action={
        <span data-kind={outcome.kind} data-reason={outcome.reason ?? ''} data-testid="cfg-outcome-kind">
          <Badge tone={toneOf(outcome)}>{labelOf(outcome)}</Badge>
        </span>
      }
    >
      {undone.length > 0 ? (
        <>
          Undone:
          <ol className="plan-steps">
            {undone.map((s, i) => (
              <li key={i}>
                {s.description}
                {s.ok ? null : <span className="field-error-inline"> failed: {s.error}</span>}
              </li>
            ))}
          </ol>
        </>
      ) : outcome.kind === 'confirmed' ? (
        'It is kept; nothing will revert it.'
      ) : null}
    </Notice>
  );
}

/**
 * What engines did about changes a killed engine left behind (the config journal, docs/security.md
 * "Crash safety"): an interrupted apply undone, a pending change reverted or adopted.
 */
export function RecoveryNotice() {
  const recoveries = useConfig((s) => s.recoveries);
  const dismiss = useConfig((s) => s.dismissRecoveries);
  const pending = useConfig((s) => s.pendingRevertAtMs);
  if (recoveries.length === 0) return null;
  const bad = recoveries.some((r) => r.kind === 'not-recovered' || r.restored === false);
  return (
    <Notice
      tone={bad ? 'bad' : 'warn'}
      title={
        recoveries.length === 1
          ? 'MPTCP Studio found a change a stopped engine left behind'
          : `MPTCP Studio found ${recoveries.length} changes stopped engines left behind`
      }
      testId="cfg-recovered"
      action={
        <button type="button" className="button" onClick={dismiss}>
          Dismiss
        </button>
      }
    >
      <ul className="plain">
        {recoveries.map((r, i) => (
          <li key={`${r.atMs}-${i}`} data-kind={r.kind}>
            <span className="mono">{formatTime(r.atMs)}</span> {r.message}
            {r.kind === 'pending-adopted' && pending === null ? (
              <em data-testid="cfg-recovered-settled">
                {' '}
                No change is waiting for confirmation now: it was confirmed or reverted since.
              </em>
            ) : null}
          </li>
        ))}
      </ul>
    </Notice>
  );
}
