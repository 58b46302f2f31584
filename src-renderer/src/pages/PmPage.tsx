import { useEffect, useState } from 'react';
import {
  defaultPmSubflows,
  pmConflicts,
  PmStartArgsSchema,
  recreateSummary,
  type PmManager,
  type PmMode,
  type PmRole,
  type PmStatus,
} from '../../../shared/pm';
import { Badge, type Tone } from '../components/Badge';
import { describePmAction, formatTimeMs } from '../components/monitor/event-format';
import { ErrorLine, Notice } from '../components/Notice';
import { countOf, formatTime, hostPort, tokenHex } from '../format';
import { useConnections, usePm } from '../state/stores';

/** Status read while the page is open: the managed-connection count moves without an action. */
const STATUS_REFRESH_MS = 3000;
const ACTIONS_SHOWN = 50;
const RESULT_TONES: Record<string, Tone> = { ok: 'ok', error: 'bad', skipped: 'warn', info: 'info' };

function others(d: PmStatus['detected']): string[] {
  return [d.mptcpd ? 'mptcpd' : null, d.networkManager ? 'NetworkManager' : null].filter(
    (x): x is string => x !== null,
  );
}

function CurrentCard({ status }: { status: PmStatus }) {
  const detected = others(status.detected);
  return (
    <section className="card" data-testid="pm-current">
      <header className="card-header">
        <h2>Current manager</h2>
        <span className="spacer" />
        {status.running ? (
          <Badge tone="ok" testId="pm-running">
            run by MPTCP Studio
          </Badge>
        ) : (
          <Badge tone="off" testId="pm-running">
            not run by MPTCP Studio
          </Badge>
        )}
      </header>
      <dl className="facts">
        <dt>
          Kernel path manager <span className="muted">net.mptcp.path_manager</span>
        </dt>
        <dd className="mono" data-testid="pm-sysctl">
          {status.pathManager ?? 'unreadable'}
        </dd>
        {status.running ? (
          <>
            <dt>MPTCP Studio runs</dt>
            <dd data-testid="pm-running-what">
              {status.mode} · {status.role} ·{' '}
              {status.manager === 'kernel' ? 'in-kernel endpoints' : 'userspace'}
              {status.manager === 'userspace' && status.subflows !== null
                ? ` · ${countOf(status.subflows, 'subflow')}`
                : ''}
              {status.mode === 'ndiffports' ? (
                <>
                  {' '}
                  <Badge tone="warn">not for production</Badge>
                </>
              ) : null}
            </dd>
            <dt>Since</dt>
            <dd>{status.startedAtMs !== null ? formatTime(status.startedAtMs) : '–'}</dd>
            <dt>Restores on stop</dt>
            <dd className="mono" data-testid="pm-previous">
              {status.previousPathManager ?? '–'}
              {status.recovered ? (
                <span className="muted"> (left by a run that was killed; taken from its state file)</span>
              ) : null}
            </dd>
            {status.manager === 'userspace' ? (
              <>
                <dt>Connections managed</dt>
                <dd data-testid="pm-connections">{status.connections}</dd>
              </>
            ) : null}
          </>
        ) : null}
        <dt>Other MPTCP managers here</dt>
        <dd data-testid="pm-detected">{detected.length > 0 ? detected.join(', ') : 'none detected'}</dd>
        <dt>Subflows that close</dt>
        <dd data-testid="pm-recreate">{recreateSummary(status)}</dd>
      </dl>
    </section>
  );
}

function StartForm({ status }: { status: PmStatus }) {
  const start = usePm((s) => s.start);
  const busy = usePm((s) => s.busy);
  const [mode, setMode] = useState<PmMode>('fullmesh');
  const [role, setRole] = useState<PmRole>('client');
  const [manager, setManager] = useState<PmManager>('userspace');
  const [subflows, setSubflows] = useState('');
  const [force, setForce] = useState(false);
  const detected = pmConflicts(status.detected, manager);
  const nmAside = status.detected.networkManager && manager === 'userspace';
  const subflowsNumber = subflows.trim() === '' ? undefined : Number(subflows);
  const parsed = PmStartArgsSchema.safeParse({
    mode,
    role,
    manager,
    force,
    ...(subflowsNumber === undefined ? {} : { subflows: subflowsNumber }),
  });
  const problem = parsed.success
    ? null
    : parsed.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; ');
  const blocked = detected.length > 0 && !force;

  return (
    <section className="card" data-testid="pm-start-form">
      <header className="card-header">
        <h2>Start the path manager</h2>
      </header>
      <form
        className="stack-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (parsed.success && !blocked) void start(parsed.data);
        }}
      >
        <label>
          Mode
          <select
            data-testid="pm-mode"
            value={mode}
            onChange={(e) => {
              const m = e.target.value === 'ndiffports' ? 'ndiffports' : 'fullmesh';
              setMode(m);
              if (m === 'ndiffports') setManager('userspace');
            }}
          >
            <option value="fullmesh">fullmesh</option>
            <option value="ndiffports">ndiffports (not for production)</option>
          </select>
          <span className="muted">
            {mode === 'fullmesh'
              ? 'a subflow from every local address to every peer address, following interfaces'
              : 'N subflows over the initial address pair, each with its own source port'}
          </span>
        </label>
        {mode === 'ndiffports' ? (
          <Notice tone="warn" title="ndiffports is not for production" testId="pm-ndiffports-warning">
            It opens several subflows over the same two addresses with different source ports, to spread a
            connection over ECMP paths in a lab or data centre. It adds no path diversity.
          </Notice>
        ) : null}
        <label>
          Role
          <select
            data-testid="pm-role"
            value={role}
            onChange={(e) => setRole(e.target.value === 'server' ? 'server' : 'client')}
          >
            <option value="client">client</option>
            <option value="server">server</option>
          </select>
          <span className="muted">
            {role === 'client'
              ? 'creates the subflows of the connections this host opens'
              : 'never creates subflows (the peer may sit behind NAT); announces its other addresses'}
          </span>
        </label>
        <label>
          Manager
          <select
            data-testid="pm-manager"
            value={manager}
            onChange={(e) => setManager(e.target.value === 'kernel' ? 'kernel' : 'userspace')}
          >
            <option value="userspace">userspace</option>
            <option value="kernel" disabled={mode !== 'fullmesh'}>
              in-kernel endpoints (fullmesh only)
            </option>
          </select>
          <span className="muted">
            {manager === 'userspace'
              ? 'path_manager=userspace while it runs: MPTCP Studio creates each subflow, no 8-subflow cap'
              : 'the kernel creates the subflows; MPTCP Studio keeps its endpoints in step with the addresses (at most 8)'}
          </span>
        </label>
        {manager === 'userspace' ? (
          <label>
            Subflows per connection{' '}
            <span className="muted">
              {mode === 'ndiffports' ? 'how many, the initial one included' : 'the cap'} (default{' '}
              {defaultPmSubflows(mode)})
            </span>
            <input
              className="num-input"
              data-testid="pm-subflows"
              inputMode="numeric"
              value={subflows}
              placeholder={String(defaultPmSubflows(mode))}
              onChange={(e) => setSubflows(e.target.value)}
            />
          </label>
        ) : null}
        {nmAside ? (
          <Notice tone="info" title="NetworkManager runs here" testId="pm-nm-aside">
            It manages the in-kernel path manager&apos;s endpoints; connections under the userspace path
            manager do not use endpoints, so the two do not collide.
          </Notice>
        ) : null}
        {detected.length > 0 ? (
          <Notice
            tone="warn"
            title={`${detected.join(' and ')} manages MPTCP in this namespace`}
            testId="pm-conflict"
          >
            Starting now would make two managers act on the same endpoints and connections. Stop{' '}
            {detected.join(' and ')} first, or override below.
            <div>
              <label className="check">
                <input
                  type="checkbox"
                  data-testid="pm-force"
                  checked={force}
                  onChange={(e) => setForce(e.target.checked)}
                />
                Override: start anyway
              </label>
            </div>
          </Notice>
        ) : null}
        {problem ? (
          <p className="field-errors" role="alert" data-testid="pm-form-error">
            {problem}
          </p>
        ) : null}
        <div className="button-row">
          <button
            type="submit"
            className="button"
            data-testid="pm-start"
            disabled={busy || !parsed.success || blocked}
          >
            {busy ? 'Starting…' : 'Start'}
          </button>
        </div>
      </form>
    </section>
  );
}

function ConnectionsCard() {
  const snapshot = useConnections((s) => s.snapshot);
  const conns = snapshot?.connections ?? [];
  return (
    <section className="card" data-testid="pm-connections-card">
      <header className="card-header">
        <h2>Connections now</h2>
        <span className="muted">{conns.length}</span>
      </header>
      {conns.length === 0 ? <p className="muted">No MPTCP connections in this namespace.</p> : null}
      <table className="table">
        <tbody>
          {conns.map((c) => {
            const up = c.subflows.filter((f) => f.state === 'ESTABLISHED').length;
            return (
              <tr key={c.token} data-testid="pm-conn-row" data-token={tokenHex(c.token)} data-subflows={up}>
                <td className="mono">{tokenHex(c.token)}</td>
                <td className="mono">
                  {hostPort(c.localAddress, c.localPort)} → {hostPort(c.remoteAddress, c.remotePort)}
                </td>
                <td>
                  {up} subflow{up === 1 ? '' : 's'}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

function ActionsCard() {
  const actions = usePm((s) => s.actions);
  const shown = actions.slice(0, ACTIONS_SHOWN);
  return (
    <section className="card" data-testid="pm-actions">
      <header className="card-header">
        <h2>Last actions</h2>
        <span className="muted">newest first; all of them are in the Events timeline (filter: pm)</span>
      </header>
      {shown.length === 0 ? <p className="muted">No actions yet.</p> : null}
      <ol className="events-list">
        {shown.map((a, i) => (
          <li
            key={`${a.timestampMs}-${i}`}
            className="event-row"
            data-testid="pm-action-row"
            data-action={a.action}
            data-result={a.result}
          >
            <span className="mono muted event-time">{formatTimeMs(a.timestampMs)}</span>
            <Badge tone={RESULT_TONES[a.result] ?? 'info'}>{a.action}</Badge>
            <span className="mono event-token">{a.token !== null ? tokenHex(a.token) : ''}</span>
            <span className="event-text">{describePmAction(a)}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}

export function PmPage() {
  const status = usePm((s) => s.status);
  const error = usePm((s) => s.error);
  const commandError = usePm((s) => s.commandError);
  const busy = usePm((s) => s.busy);
  const refresh = usePm((s) => s.refresh);
  const stop = usePm((s) => s.stop);

  useEffect(() => {
    void refresh();
    const t = setInterval(() => void refresh(), STATUS_REFRESH_MS);
    return () => clearInterval(t);
  }, [refresh]);

  return (
    <main className="page" data-testid="pm-page">
      <div className="page-title">
        <h1>Path manager</h1>
        <span className="muted">
          MPTCP Studio as the path manager of this namespace: fullmesh or ndiffports on upstream Linux
        </span>
        {status?.running ? (
          <button
            type="button"
            className="button"
            data-testid="pm-stop"
            disabled={busy}
            onClick={() => void stop()}
          >
            {busy ? 'Stopping…' : 'Stop'}
          </button>
        ) : null}
      </div>
      {error ? (
        <Notice tone="bad" title="Could not read the path manager's status" testId="pm-error">
          <ErrorLine code={error.code} message={error.message} />
        </Notice>
      ) : null}
      {commandError ? (
        <Notice tone="bad" title="The engine refused" testId="pm-command-error">
          <ErrorLine code={commandError.code} message={commandError.message} />
        </Notice>
      ) : null}
      {status?.orphan ? (
        <Notice
          tone="warn"
          title={`A path manager run was killed (pid ${status.orphan.pid}); path_manager is still ${status.pathManager ?? 'unknown'}`}
          testId="pm-orphan"
          action={
            <button
              type="button"
              className="button"
              data-testid="pm-restore"
              disabled={busy}
              onClick={() => void stop()}
            >
              Restore path_manager {status.orphan.previousPathManager}
            </button>
          }
        >
          It ran {status.orphan.mode} as {status.orphan.role} ({status.orphan.manager}) since{' '}
          {formatTime(status.orphan.startedAtMs)}. Its connections keep their subflows. Start again to adopt
          them from the kernel (the value to restore is kept), or restore path_manager now.
        </Notice>
      ) : null}
      {status && status.leftOut.length > 0 ? (
        <Notice
          tone="warn"
          title="The in-kernel path manager holds 8 endpoints; these addresses are left out"
          testId="pm-left-out"
        >
          <span className="mono">{status.leftOut.join(', ')}</span>
        </Notice>
      ) : null}
      {status && status.warnings.length > 0 && status.leftOut.length === 0 ? (
        <Notice tone="warn" title="Warnings" testId="pm-warnings">
          {status.warnings.join('; ')}
        </Notice>
      ) : null}
      {status ? (
        status.running ? (
          <CurrentCard status={status} />
        ) : (
          <div className="grid">
            <CurrentCard status={status} />
            <StartForm status={status} />
          </div>
        )
      ) : !error ? (
        <p className="muted loading">Reading the path manager&apos;s status…</p>
      ) : null}
      {status ? <ConnectionsCard /> : null}
      <ActionsCard />
    </main>
  );
}
