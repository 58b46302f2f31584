import { useMemo } from 'react';
import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import type { CountersPoint } from '../state/counters-store';

/** Shown: the last 5 minutes of 1 Hz samples, like the diagnostic counters' chart. */
const WINDOW_MS = 5 * 60_000;

/**
 * Failover as the kernel counts it (docs/live-data.md, "Failover events"): subflows marked stale
 * (MPTcpExt SubflowStale: stale_loss_cnt retransmission timeouts without progress, after which the
 * scheduler sends on the others) and stale subflows that delivered again (SubflowRecover), per
 * second. Which subflow it was is on the Events page (kind `failover`).
 */
export function StaleRecoverChart({ history }: { history: CountersPoint[] }) {
  const last = history.at(-1);
  const data = useMemo(() => {
    const from = (last?.tMs ?? 0) - WINDOW_MS;
    return history
      .filter((p) => p.tMs >= from)
      .map((p) => ({ tMs: p.tMs, stale: p.stalePerSec, recover: p.recoverPerSec }));
  }, [history, last]);
  if (data.length < 2) return null;
  const toMs = last?.tMs ?? 0;
  const stale = data.reduce((n, p) => n + (p.stale > 0 ? 1 : 0), 0);
  const recover = data.reduce((n, p) => n + (p.recover > 0 ? 1 : 0), 0);
  return (
    <div
      data-testid="stale-recover-chart"
      data-points={data.length}
      data-stale-samples={stale}
      data-recover-samples={recover}
    >
      <h3 className="chart-title">
        Stale subflows{' '}
        <span className="muted">(SubflowStale / SubflowRecover per second, last 5 minutes)</span>
      </h3>
      <LineChart width={720} height={120} data={data} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
        <CartesianGrid stroke="#eceef2" />
        <XAxis
          dataKey="tMs"
          type="number"
          domain={[toMs - WINDOW_MS, toMs]}
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
        <Line
          dataKey="stale"
          name="marked stale"
          stroke="#c92a2a"
          dot={false}
          isAnimationActive={false}
          type="stepAfter"
        />
        <Line
          dataKey="recover"
          name="recovered"
          stroke="#2b8a3e"
          dot={false}
          isAnimationActive={false}
          type="stepAfter"
        />
      </LineChart>
    </div>
  );
}
