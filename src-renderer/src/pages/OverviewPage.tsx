import { ConnectionsSection } from '../components/ConnectionsSection';
import { CountersSection } from '../components/CountersSection';
import { InterfacesSection } from '../components/InterfacesSection';
import { KernelSection } from '../components/KernelSection';
import { LimitsSection } from '../components/LimitsSection';
import { PathsSection } from '../components/PathsSection';
import { ErrorLine, Notice, ReadErrorsNotice } from '../components/Notice';
import { ReadOnlyBanner } from '../components/ReadOnlyBanner';
import { formatTime } from '../format';
import { useOverview } from '../state/stores';

function RefreshButton() {
  const refresh = useOverview((s) => s.refresh);
  const loading = useOverview((s) => s.loading);
  return (
    <button type="button" className="button" onClick={() => void refresh()} disabled={loading}>
      {loading ? 'Reading…' : 'Refresh'}
    </button>
  );
}

export function OverviewPage() {
  const status = useOverview((s) => s.status);
  const limits = useOverview((s) => s.limits);
  const endpoints = useOverview((s) => s.endpoints);
  const interfaces = useOverview((s) => s.interfaces);
  const errors = useOverview((s) => s.errors);
  const error = useOverview((s) => s.error);
  const loading = useOverview((s) => s.loading);
  const updatedAtMs = useOverview((s) => s.updatedAtMs);

  return (
    <main className="page">
      <div className="page-title">
        <h1>Overview</h1>
        <span className="muted">{updatedAtMs !== null ? `read at ${formatTime(updatedAtMs)}` : null}</span>
        <RefreshButton />
      </div>

      {error ? (
        <Notice
          tone="bad"
          title={
            status
              ? 'Could not refresh the overview; showing the last good read'
              : 'Could not read the overview'
          }
          testId="overview-error"
        >
          <ErrorLine code={error.code} message={error.message} />
        </Notice>
      ) : null}

      {status ? <ReadOnlyBanner status={status} testId="privileges-banner" /> : null}

      <ReadErrorsNotice
        errors={errors}
        title="Some kernel reads failed; their sections are incomplete"
        testId="overview-errors"
      />

      {status ? (
        <>
          <div className="grid">
            <KernelSection status={status} />
            <LimitsSection limits={limits} endpointCount={endpoints.length} />
          </div>
          <InterfacesSection interfaces={interfaces} endpoints={endpoints} />
          <PathsSection />
          <CountersSection />
        </>
      ) : !error ? (
        <p className="muted loading">{loading ? 'Reading kernel state…' : 'Waiting for the engine…'}</p>
      ) : null}

      <ConnectionsSection />
    </main>
  );
}
