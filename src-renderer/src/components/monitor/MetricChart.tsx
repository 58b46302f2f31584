import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
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
  /** Called with the chart's <svg> (axes, grid, markers) and the canvas its lines are drawn on, for PNG export. */
  svgRef?: (svg: SVGSVGElement | null, lines: HTMLCanvasElement | null) => void;
}

const HEIGHT_PX = 210;
const MARGIN = { top: 8, right: 16, bottom: 22, left: 56 };
const AXIS = '#99a1b3';
const TICK = { fontSize: 11, fill: '#667085' };

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

function relativeSeconds(t: number, toMs: number): string {
  const s = Math.round((t - toMs) / 1000);
  return s === 0 ? 'now' : `${s} s`;
}

function formatValue(v: number, unit: string): string {
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ${unit}`;
}

/** 0 and a "nice" maximum above `max` (1, 2, 2.5 or 5 × 10^k), with 4 steps. */
export function niceScale(max: number): { top: number; ticks: number[] } {
  if (!(max > 0)) return { top: 1, ticks: [0, 0.25, 0.5, 0.75, 1] };
  const raw = max / 4;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * pow >= raw) ?? 10) * pow;
  return { top: step * 4, ticks: [0, 1, 2, 3, 4].map((i) => i * step) };
}

interface DrawJob {
  canvas: HTMLCanvasElement;
  draw: (ctx: CanvasRenderingContext2D) => number;
}

/**
 * Lines are drawn on a canvas, one chart per animation frame: with 16 subflows x 3 charts at
 * 10 Hz, an SVG path per line (or a charting library's element per point) costs more than a
 * frame on every update (bench/renderer.mjs), and three charts drawn in three frames leave each
 * frame short. A chart queued again before its turn is drawn once, with its newest data.
 */
const drawQueue = new Map<HTMLCanvasElement, DrawJob>();
let drawScheduled = false;

function runOneDraw(): void {
  drawScheduled = false;
  const first = drawQueue.entries().next();
  if (first.done) return;
  const [canvas, job] = first.value;
  drawQueue.delete(canvas);
  const ctx = canvas.getContext('2d');
  if (ctx) canvas.dataset.drawnLines = String(job.draw(ctx));
  if (drawQueue.size > 0) scheduleDraw();
}

function scheduleDraw(): void {
  if (drawScheduled) return;
  drawScheduled = true;
  if (typeof requestAnimationFrame === 'function') requestAnimationFrame(runOneDraw);
  else setTimeout(runOneDraw, 16);
}

/** jsdom has no 2D canvas (and logs an error when asked for one): unit tests check the data. */
const canvasAvailable = typeof navigator === 'undefined' || !/jsdom/i.test(navigator.userAgent);

function queueDraw(job: DrawJob): void {
  if (!canvasAvailable) return;
  drawQueue.set(job.canvas, job);
  scheduleDraw();
}

/** Stroke one line through the points, broken where a value is unknown; returns the points drawn. */
export function strokeLine(
  ctx: Pick<CanvasRenderingContext2D, 'beginPath' | 'moveTo' | 'lineTo' | 'stroke'>,
  points: readonly ChartPoint[],
  metric: MetricKey,
  x: (t: number) => number,
  y: (v: number) => number,
): number {
  let pen = false;
  let drawn = 0;
  ctx.beginPath();
  for (const p of points) {
    const v = p[metric];
    if (v === null || !Number.isFinite(v)) {
      pen = false;
      continue;
    }
    if (pen) ctx.lineTo(x(p.tMs), y(v));
    else ctx.moveTo(x(p.tMs), y(v));
    pen = true;
    drawn++;
  }
  ctx.stroke();
  return drawn;
}

interface Hover {
  xPx: number;
  tMs: number;
  rows: { label: string; color: string; value: number }[];
}

/**
 * One metric, one line per subflow (backup subflows dashed), kernel events as vertical lines.
 * Axes, grid and markers are SVG (they rarely change); the lines are drawn on a canvas over it.
 */
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
  const svgEl = useRef<SVGSVGElement | null>(null);
  const canvasEl = useRef<HTMLCanvasElement | null>(null);
  const [hover, setHover] = useState<Hover | null>(null);
  useEffect(() => {
    svgRef?.(svgEl.current, canvasEl.current);
  });
  const plotW = Math.max(10, width - MARGIN.left - MARGIN.right);
  const plotH = HEIGHT_PX - MARGIN.top - MARGIN.bottom;
  const spanMs = Math.max(1, toMs - fromMs);

  const { yTicks, xTicks, x, y } = useMemo(() => {
    let max = 0;
    for (const s of series)
      for (const p of s.points) {
        const v = p[metric];
        if (v !== null && v > max && p.tMs >= fromMs) max = v;
      }
    const scale = niceScale(max);
    const x = (t: number) => MARGIN.left + ((t - fromMs) / spanMs) * plotW;
    const y = (v: number) => MARGIN.top + plotH - (v / scale.top) * plotH;
    const stepMs = spanMs / 6;
    const xTicks = [0, 1, 2, 3, 4, 5, 6].map((i) => toMs - i * stepMs);
    return { yTicks: scale.ticks, xTicks, x, y };
  }, [series, metric, fromMs, toMs, spanMs, plotW, plotH]);

  useLayoutEffect(() => {
    const canvas = canvasEl.current;
    if (!canvas) return;
    const dpr = typeof devicePixelRatio === 'number' && devicePixelRatio > 0 ? devicePixelRatio : 1;
    queueDraw({
      canvas,
      draw: (ctx) => {
        if (canvas.width !== Math.round(width * dpr)) canvas.width = Math.round(width * dpr);
        if (canvas.height !== Math.round(HEIGHT_PX * dpr)) canvas.height = Math.round(HEIGHT_PX * dpr);
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.clearRect(0, 0, width, HEIGHT_PX);
        ctx.save();
        ctx.beginPath();
        ctx.rect(MARGIN.left, MARGIN.top, plotW, plotH);
        ctx.clip();
        // 1 px lines take Skia's hairline path: about 20x cheaper than 1.6 px with round joins
        // in software raster (measured: ~1 ms against 18-29 ms for 16 lines of 300 points).
        ctx.lineWidth = 1;
        let lines = 0;
        series.forEach((s, i) => {
          ctx.strokeStyle = subflowColor(i);
          ctx.setLineDash(s.meta.backup ? [6, 4] : []);
          if (strokeLine(ctx, s.points, metric, x, y) > 0) lines++;
        });
        ctx.restore();
        return lines;
      },
    });
  }, [series, metric, x, y, width, plotW, plotH]);

  const onMove = (e: React.MouseEvent<SVGSVGElement>): void => {
    const box = e.currentTarget.getBoundingClientRect();
    const px = e.clientX - box.left;
    if (px < MARGIN.left || px > MARGIN.left + plotW) return setHover(null);
    const tMs = fromMs + ((px - MARGIN.left) / plotW) * spanMs;
    const rows: Hover['rows'] = [];
    series.forEach((s, i) => {
      let best: ChartPoint | null = null;
      for (const p of s.points) if (!best || Math.abs(p.tMs - tMs) < Math.abs(best.tMs - tMs)) best = p;
      const v = best?.[metric];
      if (typeof v === 'number') rows.push({ label: s.meta.label, color: subflowColor(i), value: v });
    });
    setHover({ xPx: px, tMs, rows });
  };

  return (
    <section
      className="chart-card"
      data-testid={testId}
      data-lines={series.length}
      data-points={series[0]?.points.length ?? 0}
    >
      <h3 className="chart-title">
        {title} <span className="muted">({unit})</span>
      </h3>
      <div ref={ref} className="chart-body" style={{ position: 'relative' }}>
        <svg
          ref={svgEl}
          className="metric-chart"
          width={width}
          height={HEIGHT_PX}
          viewBox={`0 0 ${width} ${HEIGHT_PX}`}
          onMouseMove={onMove}
          onMouseLeave={() => setHover(null)}
          role="img"
          aria-label={`${title} per subflow`}
        >
          <defs>
            <clipPath id={`${testId}-clip`}>
              <rect x={MARGIN.left} y={MARGIN.top} width={plotW} height={plotH} />
            </clipPath>
          </defs>
          <g className="grid" stroke="#eceef2">
            {yTicks.map((v) => (
              <line key={`y${v}`} x1={MARGIN.left} x2={MARGIN.left + plotW} y1={y(v)} y2={y(v)} />
            ))}
            {xTicks.map((t, i) => (
              <line key={`x${i}`} x1={x(t)} x2={x(t)} y1={MARGIN.top} y2={MARGIN.top + plotH} />
            ))}
          </g>
          <g className="axis" fontSize={TICK.fontSize} fill={TICK.fill}>
            <line x1={MARGIN.left} x2={MARGIN.left} y1={MARGIN.top} y2={MARGIN.top + plotH} stroke={AXIS} />
            <line
              x1={MARGIN.left}
              x2={MARGIN.left + plotW}
              y1={MARGIN.top + plotH}
              y2={MARGIN.top + plotH}
              stroke={AXIS}
            />
            {yTicks.map((v) => (
              <text key={`yl${v}`} x={MARGIN.left - 6} y={y(v) + 4} textAnchor="end">
                {Number(v.toPrecision(3))}
              </text>
            ))}
            {xTicks.map((t, i) => (
              <text key={`xl${i}`} x={x(t)} y={HEIGHT_PX - 6} textAnchor="middle">
                {relativeSeconds(t, toMs)}
              </text>
            ))}
          </g>
          <g clipPath={`url(#${testId}-clip)`}>
            {markers.map((e, i) =>
              e.source === 'mptcp' ? (
                <g key={`${e.timestampMs}-${i}`} className="event-marker" data-kind={e.event.kind}>
                  <line
                    x1={x(e.timestampMs)}
                    x2={x(e.timestampMs)}
                    y1={MARGIN.top}
                    y2={MARGIN.top + plotH}
                    stroke={MARKER_COLORS[e.event.kind] ?? '#868e96'}
                    strokeDasharray="2 3"
                  />
                  <text x={x(e.timestampMs) + 3} y={MARGIN.top + 10} fontSize={10} fill="#667085">
                    {e.event.kind}
                  </text>
                </g>
              ) : null,
            )}
          </g>
          {hover ? (
            <line
              x1={hover.xPx}
              x2={hover.xPx}
              y1={MARGIN.top}
              y2={MARGIN.top + plotH}
              stroke="#99a1b3"
              pointerEvents="none"
            />
          ) : null}
        </svg>
        <canvas
          ref={canvasEl}
          className="metric-lines"
          data-testid={`${testId}-lines`}
          style={{ position: 'absolute', left: 0, top: 0, width, height: HEIGHT_PX, pointerEvents: 'none' }}
        />
        {hover && hover.rows.length > 0 ? (
          <div
            className="chart-tooltip"
            style={{ left: Math.min(hover.xPx + 12, Math.max(0, width - 260)) }}
            data-testid="chart-tooltip"
          >
            <div className="muted">{new Date(hover.tMs).toLocaleTimeString()}</div>
            {hover.rows.map((r) => (
              <div key={r.label} style={{ color: r.color }}>
                <span className="mono">{r.label}</span> {formatValue(r.value, unit)}
              </div>
            ))}
          </div>
        ) : null}
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
