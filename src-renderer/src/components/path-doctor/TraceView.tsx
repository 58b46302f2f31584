/**
 * Traces side by side: the verdicts on top, then one row per TTL and one column per interface the
 * trace left from. Each cell is what that hop quoted back, in tracebox's words (the seed's
 * "IP::DSCP/ECN TCP::Option_MSS"): what changed between the previous hop and this one is
 * highlighted, what earlier hops already changed is listed quietly, and the hop where MP_CAPABLE
 * disappears is marked.
 */
import type { Hop, TraceResult } from '../../../../shared/path-doctor';
import { seedChangeText } from '../../../../shared/path-doctor-format';
import { countOf } from '../../format';
import { Badge, type Tone } from '../Badge';

const MPC_TONE: Record<Hop['mptcp'], Tone> = {
  intact: 'ok',
  stripped: 'bad',
  modified: 'warn',
  unknown: 'neutral',
};
const CLASS_TONE: Record<string, Tone> = {
  'mptcp-v1': 'ok',
  'mptcp-v0': 'info',
  mirror: 'warn',
  tcp: 'warn',
  closed: 'neutral',
  filtered: 'neutral',
  'syn-blackhole': 'bad',
};

export function traceLabel(t: TraceResult): string {
  return t.from ? (t.from === t.source ? t.source : `${t.from} (${t.source})`) : `${t.source} (by route)`;
}

/** The verdict's tone: MPTCP works, something breaks it, or the answer is inconclusive. */
export function verdictTone(t: TraceResult): 'ok' | 'bad' | 'warn' {
  if (t.destination.class === 'mptcp-v1' || t.destination.class === 'mptcp-v0') return 'ok';
  if (
    t.hops.some((h) => h.mptcp === 'stripped' || h.mptcp === 'modified') ||
    t.destination.class === 'syn-blackhole'
  )
    return 'bad';
  return 'warn';
}

/** The first hop whose quote shows MP_CAPABLE gone or changed after an intact one (or none). */
function breakingTtl(t: TraceResult): number | null {
  const h = t.hops.find((x) => !x.destination && (x.mptcp === 'stripped' || x.mptcp === 'modified'));
  return h?.ttl ?? null;
}

function HopCell({
  hop,
  trace,
  breaking,
  afterBreak,
}: {
  hop: Hop | undefined;
  trace: TraceResult;
  breaking: boolean;
  /** MP_CAPABLE was already gone at an earlier hop: its state here is old news. */
  afterBreak: boolean;
}) {
  if (!hop) return <td className="hop-cell hop-none" />;
  if (!hop.address)
    return (
      <td className="hop-cell hop-silent" data-testid="hop-cell" data-ttl={hop.ttl}>
        <span className="muted">* no answer</span>
      </td>
    );
  const fresh = new Set(hop.newChanges.map((c) => `${c.kind}|${c.field}|${c.to ?? ''}`));
  const older = hop.changes.filter((c) => !fresh.has(`${c.kind}|${c.field}|${c.to ?? ''}`));
  return (
    <td
      className={`hop-cell${breaking ? ' hop-breaking' : ''}${hop.destination ? ' hop-destination' : ''}`}
      data-testid="hop-cell"
      data-ttl={hop.ttl}
      data-mptcp={hop.mptcp}
      data-breaking={breaking ? 'true' : undefined}
    >
      <div className="hop-head">
        <span className="mono">{hop.address}</span>
        {hop.rttMs !== null ? <span className="muted small">{hop.rttMs.toFixed(2)} ms</span> : null}
      </div>
      <div className="hop-badges">
        {hop.destination ? (
          <Badge
            tone={CLASS_TONE[trace.destination.class ?? ''] ?? 'neutral'}
            title={trace.destination.reason}
          >
            destination: {trace.destination.class ?? 'unknown'}
          </Badge>
        ) : (
          <Badge
            tone={afterBreak && hop.mptcp !== 'intact' ? 'off' : MPC_TONE[hop.mptcp]}
            title={
              hop.mptcp === 'unknown'
                ? hop.quote && !hop.quote.optionsVisible
                  ? 'the router quoted too little of the probe to see its TCP options'
                  : 'no quote to compare'
                : `MP_CAPABLE as this hop quoted it back`
            }
          >
            MP_CAPABLE {hop.mptcp}
          </Badge>
        )}
        {hop.quote ? (
          <span className="muted small" title={`${hop.quote.transportBytes} bytes of TCP quoted`}>
            {hop.quote.kind}
            {hop.quote.optionsVisible ? '' : ', options not quoted'}
          </span>
        ) : null}
      </div>
      {hop.newChanges.length + older.length > 0 ? (
        <ul className="hop-changes">
          {hop.newChanges.map((c) => (
            <li
              key={`n${c.kind}${c.field}`}
              className="change change-new"
              title={`changed before this hop: ${c.text}`}
              data-testid="change-new"
            >
              {seedChangeText(c)}
            </li>
          ))}
          {older.map((c) => (
            <li
              key={`o${c.kind}${c.field}`}
              className="change change-old"
              title={`changed at an earlier hop: ${c.text}`}
            >
              {seedChangeText(c)}
            </li>
          ))}
        </ul>
      ) : hop.destination ? null : (
        <div className="muted small">unchanged</div>
      )}
    </td>
  );
}

export function TraceView({ traces, cancelled }: { traces: TraceResult[]; cancelled: boolean }) {
  const rows = Math.max(0, ...traces.map((t) => t.hops.length));
  const breaking = traces.map(breakingTtl);
  return (
    <section className="card" data-testid="trace-result">
      <header className="card-header">
        <h2>
          Trace to <span className="mono">{traces[0]?.target}</span> port {traces[0]?.port}
        </h2>
        <span className="muted small">
          {`${countOf(
            traces.reduce((n, t) => n + t.probesSent, 0),
            'probe',
          )}, `}
          {(Math.max(...traces.map((t) => t.elapsedMs)) / 1000).toFixed(2)} s
        </span>
        <span className="spacer" />
        {cancelled ? <Badge tone="warn">cancelled</Badge> : null}
      </header>
      <ul className="verdicts">
        {traces.map((t) => (
          <li key={traceLabel(t)} className={`verdict verdict-${verdictTone(t)}`} data-testid="trace-verdict">
            <span className="verdict-from">{traceLabel(t)}</span> {t.verdict}
          </li>
        ))}
      </ul>
      <div className="table-scroll">
        <table className="table hops" data-testid="hop-table">
          <thead>
            <tr>
              <th className="num">TTL</th>
              {traces.map((t) => (
                <th key={traceLabel(t)} data-testid="hop-column">
                  from {traceLabel(t)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {Array.from({ length: rows }, (_, i) => (
              <tr key={i} data-testid="hop-row">
                <td className="num">{i + 1}</td>
                {traces.map((t, k) => (
                  <HopCell
                    key={traceLabel(t)}
                    hop={t.hops[i]}
                    trace={t}
                    breaking={breaking[k] === i + 1}
                    afterBreak={
                      breaking[k] !== null && breaking[k] !== undefined && i + 1 > (breaking[k] ?? 0)
                    }
                  />
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="hint">
        Highlighted: what changed between the previous hop and this one (tracebox&apos;s field names). Grey:
        changed earlier on the path. A red cell is the first hop whose quote shows MP_CAPABLE removed or
        altered.
      </p>
    </section>
  );
}
