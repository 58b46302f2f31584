/**
 * Path doctor (docs/path-doctor.md): does MPTCP work from each interface to that host, and if
 * not, where does it break? A trace (where MP_CAPABLE is stripped or changed, hop by hop, one
 * column per interface), a scan (which hosts and ports speak MPTCP), and a subflow check (a
 * subflow from every interface to a cooperating responder). Runs happen in the host's engine
 * (through the privileged agent when the UI is unprivileged); the host keeps the last ones.
 */
import { useEffect, useMemo } from 'react';
import type { ProbeKind, ProbeRun } from '../../../shared/path-doctor';
import type { NetInterface } from '../../../shared/types';
import { Badge, type Tone } from '../components/Badge';
import { ErrorLine, Notice } from '../components/Notice';
import { ScanView } from '../components/path-doctor/ScanView';
import { SubflowsView } from '../components/path-doctor/SubflowsView';
import { TraceView } from '../components/path-doctor/TraceView';
import { countOf, formatTime } from '../format';
import { formToCall } from '../state/path-doctor-store';
import { useOverview, usePathDoctor } from '../state/stores';
import '../path-doctor.css';

const TOOLS: { kind: ProbeKind; label: string; hint: string }[] = [
  {
    kind: 'trace',
    label: 'Trace',
    hint: 'TTL-limited SYNs with MP_CAPABLE v1; each router’s quote shows where the option is stripped or changed.',
  },
  {
    kind: 'scan',
    label: 'Scan',
    hint: 'Which hosts and ports answer with MPTCP v1 or v0, and what answers instead (plain TCP, a mirroring box, a firewall that drops MP_CAPABLE).',
  },
  {
    kind: 'subflows',
    label: 'Subflow check',
    hint: 'One connection to an MPTCP echo server (mptcp-studio responder --port P there), a subflow from every interface, a known payload over them: which paths join, refuse, drop or break the data.',
  },
];

const STATE_TONE: Record<ProbeRun['state'], Tone> = {
  running: 'info',
  done: 'ok',
  failed: 'bad',
  cancelled: 'warn',
};

/** Interfaces worth probing from: up, not loopback, with a routable address. */
function candidates(ifs: readonly NetInterface[]): { name: string; addresses: string[] }[] {
  return ifs
    .filter((i) => !i.loopback)
    .map((i) => ({
      name: i.name,
      addresses: i.addresses.filter((a) => a.scope === 0).map((a) => a.address),
      usable: i.usable,
    }))
    .filter((i) => i.addresses.length > 0 && i.usable);
}

function FromPicker() {
  const interfaces = useOverview((s) => s.interfaces);
  const from = usePathDoctor((s) => s.form.from);
  const tool = usePathDoctor((s) => s.form.tool);
  const toggle = usePathDoctor((s) => s.toggleFrom);
  const list = useMemo(() => candidates(interfaces), [interfaces]);
  // Sources the form holds that are no interface (an address from "Trace this path").
  const others = from.filter((f) => !list.some((i) => i.name === f));
  return (
    <fieldset className="from-picker" data-testid="pd-from">
      <legend>
        From{' '}
        <span className="muted">
          {from.length === 0
            ? tool === 'subflows'
              ? '(none ticked: every interface)'
              : '(none ticked: by route)'
            : `(${from.length} selected${tool === 'trace' ? ', side by side' : ''})`}
        </span>
      </legend>
      {list.map((i) => (
        <label key={i.name} className="from-option">
          <input
            type="checkbox"
            checked={from.includes(i.name)}
            onChange={() => toggle(i.name)}
            data-testid={`pd-from-${i.name}`}
          />
          <span>{i.name}</span> <span className="mono muted">{i.addresses.join(', ')}</span>
        </label>
      ))}
      {others.map((f) => (
        <label key={f} className="from-option">
          <input type="checkbox" checked onChange={() => toggle(f)} />
          <span className="mono">{f}</span>
        </label>
      ))}
      {list.length === 0 && others.length === 0 ? (
        <span className="muted">no interface with an address</span>
      ) : null}
    </fieldset>
  );
}

/**
 * The subflow check's one change to this host, shown before it runs: under the in-kernel path
 * manager its socket is created under `userspace` for about a millisecond (docs/path-doctor.md).
 */
function PmSwitchConsent() {
  const pm = useOverview((s) => s.status?.pathManager ?? null);
  const allowed = usePathDoctor((s) => s.form.allowPmSwitch);
  const setForm = usePathDoctor((s) => s.setForm);
  if (pm === 'userspace') return null;
  return (
    <label className="pd-consent" data-testid="pd-pm-consent">
      <input
        type="checkbox"
        checked={allowed}
        onChange={(e) => setForm({ allowPmSwitch: e.target.checked })}
        data-testid="pd-allow-pm-switch"
      />{' '}
      Switch <span className="mono">net.mptcp.path_manager</span> from{' '}
      <span className="mono">{pm ?? 'kernel'}</span> to <span className="mono">userspace</span> while the
      check&apos;s socket is created, and back at once (about a millisecond). An MPTCP socket another program
      opens in that moment gets no subflows from the in-kernel path manager.
    </label>
  );
}

function ProbeForm() {
  const form = usePathDoctor((s) => s.form);
  const setForm = usePathDoctor((s) => s.setForm);
  const start = usePathDoctor((s) => s.start);
  const running = usePathDoctor((s) => s.running);
  const pm = useOverview((s) => s.status?.pathManager ?? null);
  const check = formToCall(form, 'preview-00000000');
  const problem =
    'problem' in check
      ? check.problem
      : form.tool === 'subflows' && pm !== 'userspace' && !form.allowPmSwitch
        ? 'tick the path manager switch to run the check'
        : null;
  const tool = TOOLS.find((t) => t.kind === form.tool) ?? TOOLS[0]!;
  return (
    <section className="card" data-testid="pd-form">
      <header className="card-header">
        <div className="segmented" role="group" aria-label="Probe">
          {TOOLS.map((t) => (
            <button
              key={t.kind}
              type="button"
              className={t.kind === form.tool ? 'seg seg-active' : 'seg'}
              aria-pressed={t.kind === form.tool}
              data-testid={`pd-tool-${t.kind}`}
              onClick={() => setForm({ tool: t.kind })}
            >
              {t.label}
            </button>
          ))}
        </div>
        <span className="muted small tool-hint">{tool.hint}</span>
      </header>
      <form
        className="pd-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!problem) void start();
        }}
      >
        {form.tool === 'scan' ? (
          <>
            <label className="pd-wide">
              Targets
              <input
                value={form.scanTargets}
                onChange={(e) => setForm({ scanTargets: e.target.value })}
                placeholder="addresses, ranges (10.0.5.0/24) or host names"
                data-testid="pd-scan-targets"
                spellCheck={false}
              />
            </label>
            <label>
              Ports
              <input
                value={form.scanPorts}
                onChange={(e) => setForm({ scanPorts: e.target.value })}
                placeholder="80,443,8000-8010"
                data-testid="pd-scan-ports"
                spellCheck={false}
              />
            </label>
            <label>
              Mode
              <select
                value={form.scanMode}
                onChange={(e) => setForm({ scanMode: e.target.value === 'connect' ? 'connect' : 'raw' })}
                data-testid="pd-scan-mode"
              >
                <option value="raw">raw SYNs (v1, v0, mirror)</option>
                <option value="connect">real connections (v1 only)</option>
              </select>
            </label>
            <label className="check">
              <input
                type="checkbox"
                checked={form.scanJoin}
                disabled={form.scanMode !== 'raw'}
                onChange={(e) => setForm({ scanJoin: e.target.checked })}
              />
              also MP_JOIN
            </label>
          </>
        ) : (
          <>
            <label className="pd-wide">
              Target
              <input
                value={form.target}
                onChange={(e) => setForm({ target: e.target.value })}
                placeholder="host name or address"
                data-testid="pd-target"
                spellCheck={false}
              />
            </label>
            <label>
              Port
              <input
                className="num-input"
                value={form.port}
                onChange={(e) => setForm({ port: e.target.value })}
                inputMode="numeric"
                data-testid="pd-port"
              />
            </label>
          </>
        )}
        {form.tool === 'trace' ? (
          <label>
            Max TTL
            <input
              className="num-input"
              value={form.maxTtl}
              onChange={(e) => setForm({ maxTtl: e.target.value })}
              inputMode="numeric"
            />
          </label>
        ) : null}
        {form.tool === 'subflows' ? (
          <>
            <label>
              Subflows per path
              <input
                className="num-input"
                value={form.subflowsPerPath}
                onChange={(e) => setForm({ subflowsPerPath: e.target.value })}
                inputMode="numeric"
                data-testid="pd-per-path"
              />
            </label>
            <label>
              Payload (KiB)
              <input
                className="num-input"
                value={form.payloadKiB}
                onChange={(e) => setForm({ payloadKiB: e.target.value })}
                inputMode="numeric"
              />
            </label>
            <label>
              Also join to
              <input
                value={form.remotes}
                onChange={(e) => setForm({ remotes: e.target.value })}
                placeholder="more addresses of the host (it announces its own)"
                data-testid="pd-remotes"
              />
            </label>
            <PmSwitchConsent />
          </>
        ) : (
          <label>
            Rate (probes/s)
            <input
              className="num-input"
              value={form.ratePps}
              onChange={(e) => setForm({ ratePps: e.target.value })}
              inputMode="numeric"
              data-testid="pd-rate"
            />
          </label>
        )}
        {form.tool === 'scan' ? null : <FromPicker />}
        <div className="pd-actions">
          <button
            type="submit"
            className="button primary"
            disabled={problem !== null || running !== null}
            data-testid="pd-run"
            title={problem ?? undefined}
          >
            {form.tool === 'trace' ? 'Trace' : form.tool === 'scan' ? 'Scan' : 'Check subflows'}
          </button>
          {problem && (form.target || form.scanTargets) ? (
            <span className="field-error-inline" data-testid="pd-form-problem">
              {problem}
            </span>
          ) : null}
        </div>
      </form>
    </section>
  );
}

function ProgressBar() {
  const running = usePathDoctor((s) => s.running);
  const progress = usePathDoctor((s) => s.progress);
  const cancel = usePathDoctor((s) => s.cancel);
  const cancelling = usePathDoctor((s) => s.cancelling);
  if (!running) return null;
  const p = progress && progress.runId === running.runId ? progress : null;
  const determinate = p !== null && p.total > 0;
  return (
    <div className="pd-progress" role="status" data-testid="pd-progress" data-run-id={running.runId}>
      <span className="strong">
        {running.kind === 'subflows' ? 'Subflow check' : running.kind === 'scan' ? 'Scan' : 'Trace'}
      </span>
      {determinate ? <progress max={p.total} value={p.done} /> : <progress />}
      <span className="muted" data-testid="pd-progress-message">
        {p?.message ?? 'starting…'}
        {p && p.probesSent > 0 ? ` · ${countOf(p.probesSent, 'probe')} sent` : ''}
      </span>
      <button
        type="button"
        className="button"
        onClick={() => void cancel()}
        disabled={cancelling}
        data-testid="pd-cancel"
      >
        {cancelling ? 'Cancelling…' : 'Cancel'}
      </button>
    </div>
  );
}

function Result() {
  const shown = usePathDoctor((s) => s.shown);
  const running = usePathDoctor((s) => s.running);
  const liveRecords = usePathDoctor((s) => s.liveRecords);
  if (running?.kind === 'scan' && (!shown || shown.runId !== running.runId))
    return <ScanView records={liveRecords} summary={null} live stamp={running.startedAtMs} />;
  if (!shown) return null;
  const r = shown.result;
  if (!r)
    return (
      <Notice
        tone={shown.state === 'failed' ? 'bad' : 'warn'}
        title={`The ${shown.kind} ${shown.state === 'failed' ? 'failed' : 'has no result'}`}
        testId="pd-run-failed"
      >
        {shown.summary}
      </Notice>
    );
  switch (r.kind) {
    case 'trace':
      return <TraceView traces={r.traces} cancelled={r.cancelled} />;
    case 'scan':
      return (
        <ScanView records={r.scan.records} summary={r.scan.summary} live={false} stamp={shown.startedAtMs} />
      );
    case 'subflows':
      return <SubflowsView check={r.check} stamp={shown.startedAtMs} />;
  }
}

function History() {
  const history = usePathDoctor((s) => s.history);
  const shown = usePathDoctor((s) => s.shown);
  const open = usePathDoctor((s) => s.open);
  const refresh = usePathDoctor((s) => s.refreshHistory);
  return (
    <section className="card" data-testid="pd-history">
      <header className="card-header">
        <h2>History</h2>
        <span className="muted small">the host keeps the last runs</span>
        <span className="spacer" />
        <button type="button" className="button" onClick={() => void refresh()}>
          Refresh
        </button>
      </header>
      {history.length === 0 ? (
        <p className="empty">No runs yet.</p>
      ) : (
        <ul className="pd-history">
          {history.map((h) => (
            <li
              key={h.runId}
              className={shown?.runId === h.runId ? 'pd-history-item active' : 'pd-history-item'}
              data-testid="pd-history-item"
              data-state={h.state}
            >
              <button
                type="button"
                className="link-button"
                onClick={() => void open(h.runId)}
                disabled={h.state === 'running'}
              >
                <span className="strong">{h.kind === 'subflows' ? 'subflow check' : h.kind}</span> {h.title}
              </button>
              <Badge tone={STATE_TONE[h.state]}>{h.state}</Badge>
              <span className="muted small">{formatTime(h.startedAtMs)}</span>
              <div className="muted small pd-history-summary">{h.summary}</div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function PathDoctorPage() {
  const error = usePathDoctor((s) => s.error);
  const refresh = usePathDoctor((s) => s.refreshHistory);
  useEffect(() => {
    void refresh();
  }, [refresh]);
  return (
    <main className="page pd-page" data-testid="path-doctor-page">
      <div className="page-title">
        <h1>Path doctor</h1>
        <span className="muted">
          Does MPTCP work from each interface to that host, and where does it break?
        </span>
      </div>
      <ProbeForm />
      <ProgressBar />
      {error ? (
        <Notice tone="bad" title="The probe could not run" testId="pd-error">
          <ErrorLine code={error.code} message={error.message} />
        </Notice>
      ) : null}
      <Result />
      <History />
    </main>
  );
}
