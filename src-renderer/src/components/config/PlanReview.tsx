import { useState } from 'react';
import type { PlanView, StepImpact } from '../../../../shared/config-api';
import { countOf, formatTime } from '../../format';
import type { Review } from '../../state/config-store';
import { Badge, type Tone } from '../Badge';
import { ErrorLine, Notice } from '../Notice';

const DEFAULT_CONFIRM_S = 30;

const IMPACT: Record<StepImpact['level'], { tone: Tone; label: string }> = {
  none: { tone: 'neutral', label: 'no live effect' },
  new: { tone: 'info', label: 'new connections' },
  live: { tone: 'ok', label: 'live, keeps subflows' },
  closes: { tone: 'bad', label: 'closes live subflows' },
};

/** Where the impacts come from: the live connections read when the plan was made. */
function LiveSource({ live }: { live: PlanView['live'] }) {
  return (
    <p className="muted impact-source" data-testid="plan-live">
      {live
        ? `Impact on live traffic computed from ${live.connections} live MPTCP ${live.connections === 1 ? 'connection' : 'connections'} (${countOf(live.subflows, 'subflow')}) read at ${formatTime(live.takenAtMs)}; checked again when you apply.`
        : 'The live connections could not be read: a step that may close subflows is counted as closing them.'}
    </p>
  );
}

export function PlanReview({
  review,
  applying,
  onApply,
  onClose,
}: {
  review: Review;
  applying: boolean;
  onApply: (confirmWithinS: number | null, allowDisruption: boolean) => void;
  onClose: () => void;
}) {
  const [safeguard, setSafeguard] = useState(false);
  const [seconds, setSeconds] = useState(String(DEFAULT_CONFIRM_S));
  const [consent, setConsent] = useState(false);
  const plan = review.plan;
  const secondsN = Number(seconds);
  const secondsOk = /^\d+$/.test(seconds) && secondsN >= 5 && secondsN <= 3600;
  const closing = plan?.steps.filter((s) => s.impact.level === 'closes') ?? [];
  const canApply =
    plan !== null &&
    plan.errors.length === 0 &&
    plan.steps.length > 0 &&
    !applying &&
    (!safeguard || secondsOk) &&
    (closing.length === 0 || consent);

  return (
    <section className="card review" data-testid="plan-review" aria-labelledby="plan-heading">
      <header className="card-header">
        <h2 id="plan-heading">Review changes</h2>
        <button type="button" className="button" onClick={onClose} disabled={applying}>
          Close
        </button>
      </header>
      {review.loading ? <p className="muted">Planning…</p> : null}
      {review.error ? (
        <Notice tone="bad" title="The engine could not plan these changes" testId="plan-failed">
          <ErrorLine code={review.error.code} message={review.error.message} />
        </Notice>
      ) : null}
      {plan ? (
        <>
          {plan.errors.length > 0 ? (
            <Notice tone="bad" title="These changes cannot be applied as they are">
              <ul className="plain" data-testid="plan-errors">
                {plan.errors.map((e) => (
                  <li key={e}>{e}</li>
                ))}
              </ul>
            </Notice>
          ) : null}
          {plan.warnings.length > 0 ? (
            <Notice tone="warn" title="Worth knowing">
              <ul className="plain" data-testid="plan-warnings">
                {plan.warnings.map((w) => (
                  <li key={w}>{w}</li>
                ))}
              </ul>
            </Notice>
          ) : null}
          {plan.steps.length === 0 ? (
            <p className="muted" data-testid="plan-empty">
              Nothing to do: the kernel already matches.
            </p>
          ) : (
            <div className="plan-columns">
              <div>
                <h3>Steps, in order</h3>
                <LiveSource live={plan.live} />
                <ol className="plan-steps" data-testid="plan-steps">
                  {plan.steps.map((s, i) => (
                    <li key={i} data-kind={s.step.kind} data-impact={s.impact.level}>
                      <span className="step-text">{s.description}</span>
                      <span className="step-impact" data-testid="step-impact" data-level={s.impact.level}>
                        <Badge tone={IMPACT[s.impact.level].tone}>{IMPACT[s.impact.level].label}</Badge>{' '}
                        {s.impact.text}
                      </span>
                    </li>
                  ))}
                </ol>
              </div>
              <div>
                <h3>The same as shell commands</h3>
                <pre className="shell" data-testid="plan-shell">
                  {plan.steps.map((s) => s.shell).join('\n')}
                </pre>
              </div>
            </div>
          )}
          {/* Sticky at the bottom of the side column: Apply stays in view however long the plan. */}
          <div className="apply-footer" data-testid="cfg-apply-footer">
            {closing.length > 0 ? (
              <div className="consent" data-testid="cfg-disruption">
                <p>
                  <strong>
                    {closing.length === 1 ? 'One step closes' : `${closing.length} steps close`} live
                    subflows.
                  </strong>{' '}
                  The connections stay up on their other subflows (if they have any); the closed ones are not
                  guaranteed to come back.
                </p>
                <ul className="plain">
                  {closing.map((s, i) => (
                    <li key={i}>
                      {s.description}: {s.impact.text}
                    </li>
                  ))}
                </ul>
                <label className="check">
                  <input
                    type="checkbox"
                    data-testid="cfg-allow-disruption"
                    checked={consent}
                    disabled={applying}
                    onChange={(e) => setConsent(e.target.checked)}
                  />
                  Close these live subflows
                </label>
              </div>
            ) : null}
            <div className="apply-bar">
              <label className="check">
                <input
                  type="checkbox"
                  data-testid="cfg-confirm-toggle"
                  checked={safeguard}
                  onChange={(e) => setSafeguard(e.target.checked)}
                />
                Revert automatically unless I confirm within
              </label>
              <input
                type="number"
                className="num-input"
                aria-label="seconds to confirm"
                data-testid="cfg-confirm-seconds"
                min={5}
                max={3600}
                value={seconds}
                disabled={!safeguard}
                onChange={(e) => setSeconds(e.target.value)}
              />
              <span>s</span>
              {safeguard && !secondsOk ? <span className="field-error-inline">5..3600 s</span> : null}
              <button
                type="button"
                className="button primary"
                data-testid="cfg-apply"
                disabled={!canApply}
                title={closing.length > 0 && !consent ? 'Tick “Close these live subflows” first' : undefined}
                onClick={() => onApply(safeguard ? secondsN : null, closing.length > 0 && consent)}
              >
                {applying ? 'Applying…' : `Apply ${countOf(plan.steps.length, 'step')}`}
              </button>
            </div>
          </div>
          <p className="hint">
            All or nothing: if a step fails, the steps already done are undone and the prior state is read
            back to check it was restored.
          </p>
        </>
      ) : null}
    </section>
  );
}
