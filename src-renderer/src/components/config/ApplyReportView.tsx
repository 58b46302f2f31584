import type { ApplyReport, ConfigOutcome } from '../../../../shared/config-api';
import { formatTime } from '../../format';
import { ErrorLine } from '../Notice';

/**
 * The report of this page's last apply or revert. `stillPending`: the change it made still awaits
 * confirmation (how it ended otherwise is the OutcomeNotice's, never this report's "reverts at").
 */
export function ApplyReportView({
  kind,
  report,
  stillPending,
  ended = null,
}: {
  kind: 'apply' | 'revert';
  report: ApplyReport;
  stillPending: boolean;
  /** How the change this report applied ended since (confirmed, reverted), if it has. */
  ended?: ConfigOutcome | null;
}) {
  const verb = kind === 'apply' ? 'Applied' : 'Reverted';
  const since =
    ended?.kind === 'reverted'
      ? ` (reverted at ${formatTime(ended.atMs)})`
      : ended?.kind === 'confirmed'
        ? ' (confirmed)'
        : '';
  const title = report.ok
    ? `${verb}: ${report.applied.length} step${report.applied.length === 1 ? '' : 's'}${since}`
    : report.needsConsent
      ? 'Refused: it would close live subflows; nothing was changed'
      : report.planErrors.length > 0
        ? 'Refused: nothing was changed'
        : `${kind === 'apply' ? 'Apply' : 'Revert'} failed${report.rolledBack.length > 0 ? ' and was rolled back' : ''}`;
  return (
    <section
      className={`card report ${report.ok ? 'report-ok' : 'report-bad'}`}
      data-testid="apply-report"
      data-ok={String(report.ok)}
      data-kind={kind}
      aria-labelledby="report-heading"
    >
      <header className="card-header">
        <h2 id="report-heading">{title}</h2>
      </header>
      {report.planErrors.length > 0 ? (
        <ul className="plain" data-testid="report-plan-errors">
          {report.planErrors.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      ) : null}
      {report.applied.length > 0 ? (
        <>
          <h3>{report.ok ? 'Done' : 'Done before the failure'}</h3>
          <ol className="plan-steps" data-testid="report-applied">
            {report.applied.map((s, i) => (
              <li key={i}>{s.description}</li>
            ))}
          </ol>
        </>
      ) : null}
      {report.failed ? (
        <div className="report-failed" data-testid="report-failed">
          <h3>Failed step</h3>
          <p>{report.failed.description}</p>
          {report.failed.error ? (
            <p>
              <ErrorLine code={report.failed.error.code} message={report.failed.error.message} />
              {report.failed.error.errno ? (
                <span className="muted"> (errno {report.failed.error.errno})</span>
              ) : null}
            </p>
          ) : null}
        </div>
      ) : null}
      {report.rolledBack.length > 0 ? (
        <>
          <h3>Rolled back</h3>
          <ol className="plan-steps" data-testid="report-rolled-back">
            {report.rolledBack.map((s, i) => (
              <li key={i}>
                {s.description}
                {s.ok ? null : (
                  <span className="field-error-inline">
                    {' '}
                    failed{s.error ? `: ${s.error.code} ${s.error.message}` : ''}
                  </span>
                )}
              </li>
            ))}
          </ol>
        </>
      ) : null}
      {report.restored !== null ? (
        <p data-testid="report-restored" data-restored={String(report.restored)}>
          {report.restored
            ? 'The prior state was restored exactly (read back and compared).'
            : 'The state read back differs from the state before: check the Overview.'}
        </p>
      ) : null}
      {report.revertAtMs !== null && stillPending ? (
        <p className="muted" data-testid="report-pending">
          Reverts by itself at {formatTime(report.revertAtMs)} unless confirmed.
        </p>
      ) : null}
    </section>
  );
}
