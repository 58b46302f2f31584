/**
 * One host's history on the Fleet page, opened from its row: connections, fallbacks and join
 * failures per second over the chosen range (the same 60-point series as the row's sparklines).
 */
import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import type { FleetHost } from '../../../shared/fleet';

const time = (s: number): string =>
  new Date(s * 1000).toLocaleString([], {
    hour: '2-digit',
    minute: '2-digit',
    day: '2-digit',
    month: 'short',
  });

export function FleetHostChart({ host }: { host: FleetHost }) {
  // One row per timestamp, the three series side by side.
  const rows = new Map<number, { t: number; connections?: number; fallbacks?: number; joins?: number }>();
  const put = (series: [number, number][], key: 'connections' | 'fallbacks' | 'joins'): void => {
    for (const [t, v] of series) {
      const row = rows.get(t) ?? { t };
      row[key] = v;
      rows.set(t, row);
    }
  };
  put(host.history.connections, 'connections');
  put(host.history.fallbacksPerSec, 'fallbacks');
  put(host.history.joinFailuresPerSec, 'joins');
  const data = [...rows.values()].sort((a, b) => a.t - b.t);
  return (
    <div className="fleet-host-chart" data-testid="fleet-host-chart">
      <LineChart width={720} height={200} data={data} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
        <CartesianGrid stroke="#eaecf0" vertical={false} />
        <XAxis dataKey="t" tickFormatter={time} tick={{ fontSize: 11, fill: '#667085' }} minTickGap={40} />
        <YAxis yAxisId="c" width={48} tick={{ fontSize: 11, fill: '#667085' }} />
        <YAxis
          yAxisId="r"
          orientation="right"
          width={48}
          allowDecimals
          tick={{ fontSize: 11, fill: '#667085' }}
        />
        <Tooltip labelFormatter={(t) => time(Number(t))} />
        <Legend />
        <Line
          yAxisId="c"
          dataKey="connections"
          name="connections"
          stroke="#2f6fdf"
          dot={false}
          isAnimationActive={false}
        />
        <Line
          yAxisId="r"
          dataKey="fallbacks"
          name="fallbacks/s"
          stroke="#d97706"
          dot={false}
          isAnimationActive={false}
        />
        <Line
          yAxisId="r"
          dataKey="joins"
          name="join failures/s"
          stroke="#dc2626"
          dot={false}
          isAnimationActive={false}
        />
      </LineChart>
    </div>
  );
}
