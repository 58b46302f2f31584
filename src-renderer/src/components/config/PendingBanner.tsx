import { useEffect, useState } from 'react';
import { useConfig } from '../../state/stores';
import { ErrorLine } from '../Notice';

/** The current time, ticking from the component's mount. */
function useNow(everyMs = 250): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** A change awaits confirmation: a live countdown and the two ways out. */
export function PendingBanner() {
  const revertAtMs = useConfig((s) => s.pendingRevertAtMs);
  return revertAtMs === null ? null : <PendingCountdown revertAtMs={revertAtMs} />;
}

function PendingCountdown({ revertAtMs }: { revertAtMs: number }) {
  const busy = useConfig((s) => s.pendingBusy);
  const error = useConfig((s) => s.pendingError);
  const confirm = useConfig((s) => s.confirm);
  const revert = useConfig((s) => s.revert);
  const now = useNow();
  const remainingS = Math.max(0, Math.ceil((revertAtMs - now) / 1000));
  return (
    <div className="notice notice-warn pending" role="alert" data-testid="pending-banner">
      <div className="notice-body">
        <strong className="notice-title">
          {remainingS > 0 ? (
            <>
              The change reverts in{' '}
              <span className="countdown" data-testid="pending-countdown" data-remaining-s={remainingS}>
                {remainingS} s
              </span>{' '}
              unless you confirm it
            </>
          ) : (
            <span data-testid="pending-countdown" data-remaining-s={0}>
              Reverting…
            </span>
          )}
        </strong>
        <div className="notice-text">
          Check that you can still reach what you need (a remote session, the service), then keep it.
          {error ? (
            <div>
              <ErrorLine code={error.code} message={error.message} />
            </div>
          ) : null}
        </div>
      </div>
      <div className="notice-action">
        <button
          type="button"
          className="button primary"
          data-testid="pending-confirm"
          disabled={busy}
          onClick={() => void confirm()}
        >
          Keep the change
        </button>
        <button
          type="button"
          className="button"
          data-testid="pending-revert"
          disabled={busy}
          onClick={() => void revert()}
        >
          Revert now
        </button>
      </div>
    </div>
  );
}
