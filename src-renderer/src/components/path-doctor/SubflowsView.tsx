/**
 * A subflow check: the verdict, one row per path (interface), and every subflow with what
 * happened to it, the bytes it carried and the kernel's own words (sk_err, MP_RST reason).
 */
import type { SubflowCheckResult, SubflowOutcome } from '../../../../shared/path-doctor';
import { subflowCheckToCsv } from '../../../../shared/path-doctor-format';
import { downloadText } from '../../download';
import { formatBytes, formatDurationUs } from '../../format';
import { COLUMN } from '../../labels';
import { Badge, type Tone } from '../Badge';

export const OUTCOME_TONE: Record<SubflowOutcome, Tone> = {
  ok: 'ok',
  idle: 'info',
  refused: 'bad',
  dropped: 'bad',
  fallback: 'bad',
  closed: 'warn',
  'not-created': 'warn',
};

const OUTCOME_LABEL: Record<SubflowOutcome, string> = {
  ok: 'join OK',
  idle: 'joined, idle',
  refused: 'join refused',
  dropped: 'join dropped',
  fallback: 'broken by data',
  closed: 'closed',
  'not-created': 'not started',
};

/** The verdict's first line: how many paths work and what became of the payload (the table says the rest). */
export function checkHeadline(c: SubflowCheckResult): string {
  const good = c.paths.filter((p) => p.outcome === 'ok').length;
  const paths =
    c.paths.length === 0
      ? 'no path to test'
      : good === c.paths.length
        ? `MPTCP works on ${c.paths.length === 1 ? 'the one path' : `all ${c.paths.length} paths`}: every subflow joined and carried data`
        : good === 0
          ? `MPTCP works on ${c.paths.length === 1 ? 'the one path' : `none of the ${c.paths.length} paths`}`
          : `${good} of ${c.paths.length} paths carry MPTCP subflows`;
  const pl = c.payload;
  const payload =
    pl.sent === 0
      ? 'no data was sent'
      : pl.intact
        ? `the payload (${formatBytes(pl.sent)}) came back intact`
        : pl.mismatchAt !== null
          ? `the payload came back altered from byte ${pl.mismatchAt} on`
          : `only ${formatBytes(pl.echoed)} of ${formatBytes(pl.sent)} came back`;
  return `${paths}; ${payload}${c.cancelled ? ' (cancelled before the end)' : ''}.`;
}

export function SubflowsView({ check, stamp }: { check: SubflowCheckResult; stamp: number }) {
  const ok = check.paths.every((p) => p.outcome === 'ok') && check.payload.intact;
  const some = check.paths.some((p) => p.outcome === 'ok');
  const pm = check.connection.pathManager;
  return (
    <section className="card" data-testid="subflows-result">
      <header className="card-header">
        <h2>
          Subflow check to <span className="mono">{check.target}</span> port {check.port}
        </h2>
        <span className="spacer" />
        {check.cancelled ? <Badge tone="warn">cancelled</Badge> : null}
        <button
          type="button"
          className="button"
          data-testid="subflows-export-csv"
          onClick={() =>
            downloadText(`mptcp-subflows-${stamp}.csv`, subflowCheckToCsv(check), 'text/csv;charset=utf-8')
          }
        >
          Export CSV
        </button>
        <button
          type="button"
          className="button"
          onClick={() =>
            downloadText(
              `mptcp-subflows-${stamp}.json`,
              `${JSON.stringify(check, null, 2)}\n`,
              'application/json',
            )
          }
        >
          Export JSON
        </button>
      </header>
      <p
        className={`verdict verdict-${ok ? 'ok' : some ? 'warn' : 'bad'}`}
        data-testid="subflows-verdict"
        title={check.verdict}
      >
        {checkHeadline(check)}
      </p>
      <table className="table compact" data-testid="path-table">
        <thead>
          <tr>
            <th>Path</th>
            <th>Outcome</th>
            <th className="num">Subflows</th>
            <th>What happened</th>
          </tr>
        </thead>
        <tbody>
          {check.paths.map((p) => (
            <tr
              key={p.localAddress}
              data-testid="path-row"
              data-interface={p.interface ?? ''}
              data-outcome={p.outcome}
            >
              <td>
                {p.interface ?? ''} <span className="mono muted">{p.localAddress}</span>
              </td>
              <td>
                <Badge tone={OUTCOME_TONE[p.outcome]}>{OUTCOME_LABEL[p.outcome]}</Badge>
              </td>
              <td className="num">{p.subflows}</td>
              <td>{p.verdict}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Subflows</h3>
      <div className="table-scroll">
        <table className="table compact" data-testid="subflow-table">
          <thead>
            <tr>
              <th>From</th>
              <th>Outcome</th>
              <th className="num" title="Data bytes this subflow sent during the check (tcpi_bytes_sent)">
                Sent in check
              </th>
              <th
                className="num"
                title="Data bytes this subflow received during the check (tcpi_bytes_received)"
              >
                Received in check
              </th>
              <th className="num" title={COLUMN.tcpRetransPkts.title}>
                {COLUMN.tcpRetransPkts.label}
              </th>
              <th className="num">RTT</th>
              <th>Why</th>
            </tr>
          </thead>
          <tbody>
            {check.subflows.map((s) => (
              <tr
                key={`${s.localAddress}|${s.localPort}|${s.initial ? 'i' : ''}`}
                data-testid="subflow-row"
                data-outcome={s.outcome}
              >
                <td>
                  {s.interface ?? ''}{' '}
                  <span className="mono">
                    {s.localAddress}
                    {s.localPort ? `:${s.localPort}` : ''}
                  </span>
                  {s.initial ? (
                    <>
                      {' '}
                      <Badge tone="neutral" title="the connection's first subflow (MP_CAPABLE), not a join">
                        initial
                      </Badge>
                    </>
                  ) : null}
                  {s.extra ? <span className="muted"> added by another path manager</span> : null}
                </td>
                <td>
                  <Badge tone={OUTCOME_TONE[s.outcome]}>{OUTCOME_LABEL[s.outcome]}</Badge>
                </td>
                <td className="num">{s.bytesSent ? formatBytes(s.bytesSent) : '–'}</td>
                <td className="num">{s.bytesReceived ? formatBytes(s.bytesReceived) : '–'}</td>
                <td className="num">{s.retransmits}</td>
                <td className="num">{s.rttUs !== null ? formatDurationUs(s.rttUs) : '–'}</td>
                <td className="reason">
                  {s.reason}
                  {s.error && !s.reason.includes(s.error) ? (
                    <span className="muted"> · {s.error}</span>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <dl className="facts check-facts">
        <dt>Payload</dt>
        <dd data-testid="subflows-payload">
          {formatBytes(check.payload.sent)} sent, {formatBytes(check.payload.echoed)} back
          {check.payload.intact
            ? ', every byte intact'
            : check.payload.mismatchAt !== null
              ? `, altered from byte ${check.payload.mismatchAt}`
              : ', incomplete'}{' '}
          <span className="muted">({(check.payload.ms / 1000).toFixed(2)} s)</span>
        </dd>
        <dt>Counters</dt>
        <dd className="mono small">
          {Object.entries(check.counters)
            .map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}`)
            .join('  ') || 'none moved'}
        </dd>
        <dt>Path manager</dt>
        <dd className="small">
          {pm.switched
            ? `the check created its socket under the userspace path manager, then put ${pm.before} back at once`
            : `already ${pm.before}: nothing switched`}
        </dd>
      </dl>
    </section>
  );
}
