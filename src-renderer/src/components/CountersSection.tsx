import { useMemo } from 'react';
import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import { useStore } from 'zustand';
import { counterText } from '../../../shared/mptcp-counters';
import { ErrorLine } from './Notice';
import { StaleRecoverChart } from './StaleRecoverChart';
import { useMonitor, useStores } from '../state/stores';
import { DIAGNOSTIC_GROUP_NAMES, type CountersPoint, type DiagnosticGroup } from '../state/counters-store';

/**
 * MPTcpExt counters that point at a problem when they move (names as the kernel spells them in
 * /proc/net/netstat); what each counts is in shared/mptcp-counters.ts.
 */
const DIAGNOSTIC: ReadonlySet<string> = new Set([
  'MPCapableFallbackACK',
  'MPCapableFallbackSYNACK',
  'MPCapableSYNTXDrop',
  'MPCapableSYNTXDisabled',
  'MPJoinRejected',
  'MPJoinNoTokenFound',
  'MPJoinSynAckHMacFailure',
  'MPJoinAckHMacFailure',
  'DSSNoMatchTCP',
  'DataCsumErr',
  'MPFailTx',
  'MPFailRx',
  'MPTCPRetrans',
  'RcvPruned',
  'SubflowStale',
]);

const GROUP_LABELS: Record<DiagnosticGroup, { label: string; color: string }> = {
  joinFailures: { label: 'join failures', color: '#c92a2a' },
  fallbacks: { label: 'fallbacks to TCP', color: '#e67700' },
  drops: { label: 'drops', color: '#5c7cfa' },
  checksumErrors: { label: 'checksum / MP_FAIL', color: '#9c36b5' },
};

/** Shown: the last 5 minutes of 1 Hz samples. */
const CHART_WINDOW_MS = 5 * 60_000;

/** Rates of the diagnostic groups over time (events per second), from the sampled counters. */
function CounterRatesChart({ history }: { history: CountersPoint[] }) {
  const last = history.at(-1);
  const data = useMemo(() => {
    const from = (last?.tMs ?? 0) - CHART_WINDOW_MS;
    return history.filter((p) => p.tMs >= from).map((p) => ({ tMs: p.tMs, ...p.perSec }));
  }, [history, last]);
  if (data.length < 2) return <p className="muted">Collecting samples for the rate chart…</p>;
  const toMs = last?.tMs ?? 0;
  return (
    <div data-testid="counter-rates-chart" data-points={data.length}>
      <h3 className="chart-title">
        Diagnostic counters <span className="muted">(events per second, last 5 minutes)</span>
      </h3>
      <LineChart width={720} height={180} data={data} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
        <CartesianGrid stroke="#eceef2" />
        <XAxis
          dataKey="tMs"
          type="number"
          domain={[toMs - CHART_WINDOW_MS, toMs]}
          allowDataOverflow
          tickFormatter={(t: number) => `${Math.round((t - toMs) / 1000)} s`}
          tick={{ fontSize: 11, fill: '#667085' }}
        />
        <YAxis width={48} allowDecimals tick={{ fontSize: 11, fill: '#667085' }} />
        <Tooltip
          isAnimationActive={false}
          labelFormatter={(t) => (typeof t === 'number' ? new Date(t).toLocaleTimeString() : '')}
          formatter={(v) => (typeof v === 'number' ? `${v.toFixed(2)} /s` : String(v))}
        />
        <Legend wrapperStyle={{ fontSize: 12 }} />
        {DIAGNOSTIC_GROUP_NAMES.map((g) => (
          <Line
            key={g}
            dataKey={g}
            name={GROUP_LABELS[g].label}
            stroke={GROUP_LABELS[g].color}
            dot={false}
            isAnimationActive={false}
            type="stepAfter"
          />
        ))}
      </LineChart>
    </div>
  );
}

/**
 * The namespace's MPTcpExt counters, live (sampled by the host about once a second) or from a
 * recording while one replays: the diagnostic ones called out first, their rates charted, then
 * every nonzero one.
 */
export function CountersSection() {
  const store = useStores().counters;
  const counters = useStore(store, (s) => s.counters);
  const error = useStore(store, (s) => s.error);
  const history = useStore(store, (s) => s.history);
  const replaying = useMonitor((s) => s.mode === 'replay');

  const entries = Object.entries(counters?.counters ?? {});
  const nonzero = entries.filter(([, v]) => v > 0);
  const alarms = nonzero.filter(([k]) => DIAGNOSTIC.has(k));
  return (
    <section className="card" data-testid="overview-counters" aria-labelledby="counters-heading">
      <header className="card-header">
        <h2 id="counters-heading">MPTCP counters</h2>
        <span className="muted">
          {counters
            ? `${nonzero.length} of ${entries.length} nonzero · ${replaying ? 'replayed from the recording' : 'live, about once a second'}`
            : null}
        </span>
      </header>
      {error ? <ErrorLine code={error.code} message={error.message} /> : null}
      {replaying && !counters ? (
        <p className="muted" data-testid="counters-not-recorded">
          This recording has no counter readings (yet, or at all: version 1 recordings have none).
        </p>
      ) : null}
      {counters && entries.length === 0 ? (
        <p className="muted">This kernel reports no MPTcpExt counters.</p>
      ) : null}
      {alarms.length > 0 ? (
        <ul className="plain" data-testid="counter-alarms">
          {alarms.map(([k, v]) => (
            <li key={k}>
              <strong>{v}</strong> {counterText(k) ?? k} <code>{k}</code>
            </li>
          ))}
        </ul>
      ) : counters && entries.length > 0 ? (
        <p className="muted">No join failures, fallbacks or checksum errors counted.</p>
      ) : null}
      {counters && entries.length > 0 ? <CounterRatesChart history={history} /> : null}
      {counters && entries.length > 0 ? <StaleRecoverChart history={history} /> : null}
      {nonzero.length > 0 ? (
        <details>
          <summary>All nonzero counters</summary>
          <table className="table compact">
            <tbody>
              {nonzero.map(([k, v]) => (
                <tr key={k} data-testid="counter-row" data-counter={k} title={counterText(k) ?? undefined}>
                  <td>
                    <code>{k}</code>
                    <div className="muted small counter-text">
                      {counterText(k) ?? 'not described here (newer than this version of MPTCP Studio)'}
                    </div>
                  </td>
                  <td className="num">{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      ) : null}
    </section>
  );
}
