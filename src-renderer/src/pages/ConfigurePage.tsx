import { useEffect, useMemo } from 'react';
import { AdvicePanel } from '../components/config/AdvicePanel';
import { ApplyReportView } from '../components/config/ApplyReportView';
import { BuffersCard, MtuCard } from '../components/config/BuffersCard';
import { EndpointsCard } from '../components/config/EndpointsCard';
import type { CardProps } from '../components/config/Field';
import { GeneralCard, LimitsCard } from '../components/config/GeneralCard';
import { endOf, OutcomeNotice, RecoveryNotice } from '../components/config/OutcomeNotice';
import { PlanReview } from '../components/config/PlanReview';
import { RoutingCard } from '../components/config/RoutingCard';
import { SysctlsCard } from '../components/config/SysctlsCard';
import { ErrorLine, Notice, ReadErrorsNotice } from '../components/Notice';
import { ReadOnlyBanner } from '../components/ReadOnlyBanner';
import { buildDesired } from '../state/config-draft';
import { changeChips } from '../components/config/change-chips';
import { countOf } from '../format';
import { useConfig, useOverview, useStores } from '../state/stores';

function ChangesPanel({ desired }: { desired: ReturnType<typeof buildDesired> }) {
  const review = useConfig((s) => s.review);
  const startReview = useConfig((s) => s.startReview);
  const reset = useConfig((s) => s.reset);
  const applying = useConfig((s) => s.applying);
  const base = useConfig((s) => s.base);
  const fields = changeChips(desired.config, base);
  const blocked = desired.errorCount > 0;
  return (
    <section className="card changes" data-testid="cfg-changes" aria-labelledby="changes-heading">
      <header className="card-header">
        <h2 id="changes-heading">Changes</h2>
        <span className="muted" data-testid="cfg-change-count" data-count={fields.length}>
          {fields.length === 0 ? 'none' : countOf(fields.length, 'setting')}
        </span>
      </header>
      {fields.length > 0 ? (
        <p className="changed-list" data-testid="cfg-change-chips">
          {fields.map((f) => (
            <code key={f.key} title={`${f.key} in a profile`} data-key={f.key}>
              {f.label}
            </code>
          ))}
        </p>
      ) : (
        <p className="muted">Only the fields you change are sent; everything else is left as it is.</p>
      )}
      {blocked ? (
        <p className="field-error-inline" data-testid="cfg-error-count">
          {desired.errorCount} problem{desired.errorCount === 1 ? '' : 's'} in the form: fix{' '}
          {desired.errorCount === 1 ? 'it' : 'them'} to review.
        </p>
      ) : null}
      <div className="button-row">
        <button
          type="button"
          className="button primary"
          data-testid="cfg-review"
          disabled={!desired.changed || blocked || applying || review?.loading === true}
          onClick={() => void startReview()}
        >
          Review changes
        </button>
        <button type="button" className="button" disabled={!desired.changed || applying} onClick={reset}>
          Discard
        </button>
      </div>
    </section>
  );
}

export function ConfigurePage() {
  const stores = useStores();
  const status = useOverview((s) => s.status);
  const interfaces = useOverview((s) => s.interfaces);
  const readErrors = useOverview((s) => s.errors);
  const base = useConfig((s) => s.base);
  const draft = useConfig((s) => s.draft);
  const draftSource = useConfig((s) => s.draftSource);
  const loadError = useConfig((s) => s.loadError);
  const loading = useConfig((s) => s.loading);
  const review = useConfig((s) => s.review);
  const report = useConfig((s) => s.report);
  const applyError = useConfig((s) => s.applyError);
  const applying = useConfig((s) => s.applying);
  const pendingRevertAtMs = useConfig((s) => s.pendingRevertAtMs);
  const outcome = useConfig((s) => s.outcome);
  const edit = useConfig((s) => s.edit);
  const load = useConfig((s) => s.load);
  const apply = useConfig((s) => s.apply);
  const closeReview = useConfig((s) => s.closeReview);
  const reset = useConfig((s) => s.reset);

  useEffect(() => {
    // One read after the other: overlapping reads can make the engine's netlink dumps collide.
    void (async () => {
      const s = stores.config.getState();
      if (!s.base && !s.loading) await s.load();
      const t = stores.config.getState();
      if (t.advice === null && !t.adviceLoading) await t.loadAdvice();
      const c = stores.cc.getState();
      if (c.list === null && !c.loading) await c.refresh();
      // Recoveries (and outcomes) from before this page connected, from the host's timeline.
      await stores.config.getState().loadPast();
    })();
  }, [stores]);

  // An apply or revert may register or unregister a coupled CC: read the list again.
  useEffect(() => {
    if (report) void stores.cc.getState().refresh();
  }, [report, stores]);

  const desired = useMemo(() => (base && draft ? buildDesired(base, draft) : null), [base, draft]);

  const ready = status && base && draft && desired;
  const props: CardProps | null = ready
    ? {
        draft,
        base,
        status,
        interfaces,
        errors: desired.errors,
        desired: desired.config,
        edit,
        disabled: applying,
      }
    : null;

  return (
    <main className="page" data-testid="configure-page">
      <div className="page-title">
        <h1>Configure</h1>
        <span className="muted">
          {status?.netns ? `network namespace ${status.netns}` : 'this host’s network namespace'}
        </span>
        <button type="button" className="button" onClick={() => void load()} disabled={loading || applying}>
          {loading ? 'Reading…' : 'Reload'}
        </button>
      </div>

      {loadError ? (
        <Notice tone="bad" title="Could not read the current configuration" testId="cfg-load-error">
          <ErrorLine code={loadError.code} message={loadError.message} />
        </Notice>
      ) : null}
      <RecoveryNotice />
      {status ? <ReadOnlyBanner status={status} testId="cfg-read-only" /> : null}
      <ReadErrorsNotice
        errors={readErrors}
        title="Some kernel reads failed; the choices below may be incomplete"
        testId="cfg-read-errors"
      />
      {draftSource ? (
        <Notice
          tone="info"
          title={`The form holds the desired changes from ${draftSource}`}
          testId="cfg-draft-source"
          action={
            <button type="button" className="button" onClick={reset} disabled={applying}>
              Discard
            </button>
          }
        >
          They are not applied: review the plan, then apply it or discard it.
        </Notice>
      ) : null}

      {props && desired ? (
        <div className="config-layout">
          <div className="config-form">
            <div className="grid-2">
              <GeneralCard {...props} />
              <LimitsCard {...props} />
            </div>
            <EndpointsCard {...props} />
            <RoutingCard {...props} />
            <SysctlsCard {...props} />
            <div className="grid-2">
              <BuffersCard {...props} />
              <MtuCard {...props} />
            </div>
          </div>
          <aside className="config-side">
            {/* How the last change ended comes first: after an automatic revert it is the news. */}
            <OutcomeNotice />
            <ChangesPanel desired={desired} />
            {review ? (
              <PlanReview
                review={review}
                applying={applying}
                onApply={(s, allowDisruption) => void apply(s, allowDisruption)}
                onClose={closeReview}
              />
            ) : null}
            {applyError ? (
              <Notice tone="bad" title="The apply request failed" testId="apply-error">
                <ErrorLine code={applyError.code} message={applyError.message} />
              </Notice>
            ) : null}
            {applying ? (
              <p className="muted" data-testid="apply-progress" role="status">
                Applying… each step is checked; a failure rolls back everything done so far.
              </p>
            ) : null}
            {report ? (
              <ApplyReportView
                kind={report.kind}
                report={report.value}
                stillPending={
                  report.value.revertAtMs !== null && pendingRevertAtMs === report.value.revertAtMs
                }
                ended={report.kind === 'apply' ? endOf(outcome, report.value.revertAtMs) : null}
              />
            ) : null}
            <AdvicePanel />
          </aside>
        </div>
      ) : !loadError ? (
        <p className="muted loading">Reading the current configuration…</p>
      ) : null}
    </main>
  );
}
