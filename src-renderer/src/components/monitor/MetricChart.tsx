import { useEffect, useRef, useState } from 'react';
import { CartesianGrid, Line, LineChart, ReferenceLine, Tooltip, XAxis, YAxis } from 'recharts';
import type { KernelEvent } from '../../../../shared/types';
import type { ChartPoint, ChartSeries } from '../../state/monitor/samples-store';

export const SUBFLOW_COLORS = [
  '#2453c8',
  '#d9480f',
  '#2f9e44',
  '#9c36b5',
  '#0c8599',
  '#e67700',
  '#c2255c',
  '#5c7cfa',
];

export function subflowColor(index: number): string {
  return SUBFLOW_COLORS[index % SUBFLOW_COLORS.length] ?? '#2453c8';
}

const MARKER_COLORS: Record<string, string> = {
  sub_established: '#2f9e44',
  sub_closed: '#c92a2a',
  sub_priority: '#e67700',
  announced: '#1971c2',
  removed: '#868e96',
};

export type MetricKey = 'rttMs' | 'cwndPkts' | 'sendMbitPerSec';

interface MetricChartProps {
  testId: string;
  title: string;
  unit: string;
  metric: MetricKey;
  series: ChartSeries[];
  fromMs: number;
  toMs: number;
  markers: KernelEvent[];
  /** Called with the chart's <svg> for PNG export. */
  svgRef?: (svg: SVGSVGElement | null) => void;
}

const HEIGHT_PX = 210;

/** The container's width, following resizes; a fixed fallback where layout is not measured (jsdom). */
function useWidth(): [React.RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement | null>(null);
  const [width, setWidth] = useState(720);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(([entry]) => {
      const w = Math.floor(entry?.contentRect.width ?? 0);
      if (w > 0) setWidth(w);
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}

function relativeSeconds(toMs: number): (t: number) => string {
  return (t) => {
    const s = Math.round((t - toMs) / 1000);
    return s === 0 ? 'now' : `${s} s`;
  };
}

function formatValue(v: unknown, unit: string): string {
  return typeof v === 'number' ? `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ${unit}` : String(v);
}

/** One metric, one line per subflow (backup subflows dashed), kernel events as vertical lines. */
export function MetricChart({
  testId,
  title,
  unit,
  metric,
  series,
  fromMs,
  toMs,
  markers,
  svgRef,
}: MetricChartProps) {
  const [ref, width] = useWidth();
  useEffect(() => {
    if (!svgRef) return;
    svgRef(ref.current?.querySelector<SVGSVGElement>('svg.recharts-surface') ?? null);
  });
  return (
    <section className="chart-card" data-testid={testId} data-lines={series.length}>
      <h3 className="chart-title">
        {title} <span className="muted">({unit})</span>
      </h3>
      <div ref={ref} className="chart-body">
        <LineChart width={width} height={HEIGHT_PX} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
          <CartesianGrid stroke="#eceef2" />
          <XAxis
            dataKey="tMs"
            type="number"
            domain={[fromMs, toMs]}
            allowDataOverflow
            tickFormatter={relativeSeconds(toMs)}
            tick={{ fontSize: 11, fill: '#667085' }}
            stroke="#99a1b3"
          />
          <YAxis width={56} tick={{ fontSize: 11, fill: '#667085' }} stroke="#99a1b3" />
          <Tooltip
            isAnimationActive={false}
            labelFormatter={(t) => (typeof t === 'number' ? new Date(t).toLocaleTimeString() : '')}
            formatter={(v) => formatValue(v, unit)}
          />
          {markers.map((e, i) =>
            e.source === 'mptcp' ? (
              <ReferenceLine
                key={`${e.timestampMs}-${i}`}
                x={e.timestampMs}
                stroke={MARKER_COLORS[e.event.kind] ?? '#868e96'}
                strokeDasharray="2 3"
                ifOverflow="hidden"
                label={{ value: e.event.kind, position: 'insideTopLeft', fontSize: 10, fill: '#667085' }}
              />
            ) : null,
          )}
          {series.map((s, i) => (
            <Line
              key={s.meta.key}
              data={s.points}
              dataKey={(p: ChartPoint) => p[metric]}
              name={s.meta.label}
              type="linear"
              stroke={subflowColor(i)}
              strokeWidth={1.6}
              strokeDasharray={s.meta.backup ? '6 4' : undefined}
              dot={false}
              connectNulls={false}
              isAnimationActive={false}
              legendType="plainline"
            />
          ))}
        </LineChart>
      </div>
      <ul className="chart-legend">
        {series.map((s, i) => (
          <li key={s.meta.key}>
            <svg width="24" height="8" aria-hidden="true">
              <line
                x1="0"
                y1="4"
                x2="24"
                y2="4"
                stroke={subflowColor(i)}
                strokeWidth="2"
                strokeDasharray={s.meta.backup ? '6 4' : undefined}
              />
            </svg>
            <span className="mono">{s.meta.label}</span>
            {s.meta.backup ? <span className="muted"> backup</span> : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
