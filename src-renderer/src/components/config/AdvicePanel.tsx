import type { Advice } from '../../../../shared/config-api';
import { useConfig } from '../../state/stores';
import { Badge } from '../Badge';
import { ErrorLine } from '../Notice';
import { TraceThisPathButton } from '../path-doctor/TraceThisPath';

const TONE = { info: 'info', warning: 'warn', error: 'bad' } as const;

function AdviceItem({ advice, onFix, disabled }: { advice: Advice; onFix: () => void; disabled: boolean }) {
  return (
    <li
      className={`advice advice-${advice.severity}`}
      data-testid={`advice-item-${advice.id}`}
      data-severity={advice.severity}
    >
      <div className="advice-head">
        <Badge tone={TONE[advice.severity]}>{advice.severity}</Badge>
        <strong>{advice.title}</strong>
        {advice.fix ? (
          <button
            type="button"
            className="button small"
            data-testid={`advice-fix-${advice.id}`}
            disabled={disabled}
            title="Loads the fix into the form and opens the review; nothing is applied yet"
            onClick={onFix}
          >
            Fix…
          </button>
        ) : null}
        {advice.trace ? (
          <TraceThisPathButton {...advice.trace} small testId={`advice-trace-${advice.id}`} />
        ) : null}
      </div>
      <p className="advice-detail">{advice.detail}</p>
    </li>
  );
}

export function AdvicePanel() {
  const advice = useConfig((s) => s.advice);
  const error = useConfig((s) => s.adviceError);
  const loading = useConfig((s) => s.adviceLoading);
  const loadAdvice = useConfig((s) => s.loadAdvice);
  const loadDesired = useConfig((s) => s.loadDesired);
  const applying = useConfig((s) => s.applying);
  return (
    <section className="card" data-testid="advice" aria-labelledby="advice-heading">
      <header className="card-header">
        <h2 id="advice-heading">Advisor</h2>
        <button type="button" className="button" onClick={() => void loadAdvice()} disabled={loading}>
          {loading ? 'Checking…' : 'Check again'}
        </button>
      </header>
      {error ? (
        <p className="field-error-inline" data-testid="advice-error">
          <ErrorLine code={error.code} message={error.message} />
        </p>
      ) : null}
      {advice === null ? (
        !error ? (
          <p className="muted">Checking…</p>
        ) : null
      ) : advice.length === 0 ? (
        <p className="muted">No advice: nothing looks wrong.</p>
      ) : (
        <ul className="advice-list">
          {advice.map((a) => (
            <AdviceItem
              key={a.id}
              advice={a}
              disabled={applying}
              onFix={() => {
                if (a.fix) void loadDesired(a.fix, `the advisor’s fix for “${a.title}”`);
              }}
            />
          ))}
        </ul>
      )}
    </section>
  );
}
