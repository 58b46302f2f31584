import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import {
  CartesianGrid,
  LineChart,
  XAxis,
  YAxis,
  usePlotArea,
  useXAxisScale,
  useYAxisScale,
  type PlotArea,
  type ScaleFunction,
} from 'recharts';
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
  /**
   * Called with a getter of the chart's recharts <svg> (axes, grid, markers) and the canvas its
   * lines are drawn on, for PNG export. A getter: recharts renders its <svg> only once it has
   * measured the chart, after this component's first effects.
   */
  exportRef?: (get: () => { svg: SVGSVGElement | null; lines: HTMLCanvasElement | null }) => void;
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

/** A tick of the relative time axis (ms before the window's end). */
function relativeSeconds(relMs: number): string {
  const s = Math.round(relMs / 1000);
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
 * 10 Hz, an SVG path per line costs more than a frame on every update, and recharts' own <Line>
 * costs ~140 ms of script per update even with its SVG path replaced (bench/renderer.mjs);
 * three charts drawn in three frames leave each frame short. A chart queued again before its
 * turn is drawn once, with its newest data.
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

/**
 * Draw before this paint (from a layout effect): for a canvas being resized, whose bitmap would
 * otherwise be shown stretched against the new axes until its turn in the queue.
 */
function drawNow(job: DrawJob): void {
  if (!canvasAvailable) return;
  drawQueue.delete(job.canvas);
  const ctx = job.canvas.getContext('2d');
  if (ctx) job.canvas.dataset.drawnLines = String(job.draw(ctx));
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

/** Where the pointer is over the plot: the readout is worked out from it at each render. */
interface HoverAt {
  xPx: number;
  /** The pointer's place in the plot's width, 0..1 (the window slides under it). */
  fraction: number;
  /** The plot area's top and height, where the hover line goes. */
  topPx: number;
  heightPx: number;
}

/**
 * Time (ms since the epoch) and value to pixels, from recharts' scales of the chart's axes: the
 * x axis is relative to the window's end (`[-span, 0]`), the y axis `[0, yTop]`; both linear, so
 * two readings of each scale give the map. Null until recharts has scales.
 */
export function pixelMaps(
  xScale: ScaleFunction | undefined,
  yScale: ScaleFunction | undefined,
  fromMs: number,
  toMs: number,
  yTop: number,
): { x: (tMs: number) => number; y: (v: number) => number } | null {
  const spanMs = Math.max(1, Math.round(toMs - fromMs));
  const x0 = xScale?.(-spanMs);
  const x1 = xScale?.(0);
  const y0 = yScale?.(0);
  const y1 = yScale?.(yTop);
  if (x0 === undefined || x1 === undefined || y0 === undefined || y1 === undefined) return null;
  return {
    x: (t) => x1 + ((t - toMs) / spanMs) * (x1 - x0),
    y: (v) => y0 + (v / yTop) * (y1 - y0),
  };
}

/** recharts' plot area and the chart's pixel maps (pixelMaps), for a child of the chart. */
function useChartGeometry(
  fromMs: number,
  toMs: number,
  yTop: number,
): { area: PlotArea | undefined; maps: ReturnType<typeof pixelMaps> } {
  const xScale = useXAxisScale();
  const yScale = useYAxisScale();
  const area = usePlotArea();
  const maps = useMemo(
    () => pixelMaps(xScale, yScale, fromMs, toMs, yTop),
    [xScale, yScale, fromMs, toMs, yTop],
  );
  return { area, maps };
}

interface CanvasSeriesProps {
  canvas: React.RefObject<HTMLCanvasElement | null>;
  series: ChartSeries[];
  metric: MetricKey;
  width: number;
  fromMs: number;
  toMs: number;
  yTop: number;
  onPlotArea: (area: PlotArea | undefined) => void;
}

/**
 * The subflow lines, as a recharts series of our own: recharts lays out the chart (plot area,
 * axes' scales) and this child strokes the points on the canvas over the chart's SVG, with
 * recharts' scales. Both axes are linear with domains set by the chart, so two readings of each
 * scale give the affine map used for every point (a scale call per point would cost more than
 * the drawing).
 */
function CanvasSeries({ canvas, series, metric, width, fromMs, toMs, yTop, onPlotArea }: CanvasSeriesProps) {
  const { area, maps } = useChartGeometry(fromMs, toMs, yTop);
  useLayoutEffect(() => onPlotArea(area), [area, onPlotArea]);
  useLayoutEffect(() => {
    const el = canvas.current;
    if (!el || !area || !maps) return;
    const { x, y } = maps;
    const dpr = typeof devicePixelRatio === 'number' && devicePixelRatio > 0 ? devicePixelRatio : 1;
    const resized = el.width !== Math.round(width * dpr) || el.height !== Math.round(HEIGHT_PX * dpr);
    (resized ? drawNow : queueDraw)({
      canvas: el,
      draw: (ctx) => {
        if (el.width !== Math.round(width * dpr)) el.width = Math.round(width * dpr);
        if (el.height !== Math.round(HEIGHT_PX * dpr)) el.height = Math.round(HEIGHT_PX * dpr);
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.clearRect(0, 0, width, HEIGHT_PX);
        ctx.save();
        ctx.beginPath();
        ctx.rect(area.x, area.y, area.width, area.height);
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
  }, [canvas, series, metric, width, area, maps]);
  return null;
}

interface EventMarkersProps {
  markers: KernelEvent[];
  fromMs: number;
  toMs: number;
  yTop: number;
  clipId: string;
}

/**
 * Kernel events as dashed vertical lines with their kind, in the chart's SVG at recharts' scales.
 * Plain SVG rather than recharts <ReferenceLine>s: each of those registers itself again in
 * recharts' store on every render, and their x moves on every update (relative axis): 10 markers
 * on the three charts took the update from 6 to 25 ms of script (bench:renderer
 * --markers-per-min 10).
 */
function EventMarkers({ markers, fromMs, toMs, yTop, clipId }: EventMarkersProps) {
  const { area, maps } = useChartGeometry(fromMs, toMs, yTop);
  if (!maps || !area) return null;
  // Link events of the subflows' own interfaces read "eth1 down", "eth1 up" (ConnectionDetail).
  const placed = placeMarkerLabels(
    markers.flatMap((e): { x: number; e: KernelEvent; kind: string }[] =>
      e.source === 'mptcp'
        ? [{ x: maps.x(e.timestampMs), e, kind: e.event.kind }]
        : e.source === 'link'
          ? [{ x: maps.x(e.timestampMs), e, kind: `${e.name} ${e.usable ? 'up' : 'down'}` }]
          : [],
    ),
  );
  return (
    <g className="event-markers">
      <defs>
        <clipPath id={clipId}>
          <rect x={area.x} y={area.y} width={area.width} height={area.height} />
        </clipPath>
      </defs>
      <g clipPath={`url(#${clipId})`}>
        {placed.map(({ x, e, kind, row }, i) => (
          <g
            key={`${e.timestampMs}-${i}`}
            className="event-marker"
            data-kind={e.source === 'link' ? 'link' : kind}
            data-label={kind}
          >
            <line
              x1={x}
              x2={x}
              y1={area.y}
              y2={area.y + area.height}
              stroke={
                e.source === 'link'
                  ? e.usable
                    ? MARKER_COLORS.sub_established
                    : MARKER_COLORS.sub_closed
                  : (MARKER_COLORS[kind] ?? '#868e96')
              }
              strokeDasharray="2 3"
            />
            <text x={x + 3} y={area.y + 10 + row * MARKER_ROW_PX} fontSize={10} fill="#667085">
              {kind}
            </text>
          </g>
        ))}
      </g>
    </g>
  );
}

/** A stalled run of points: its first and last sample times. */
export interface StallSpan {
  fromMs: number;
  toMs: number;
}

/**
 * The runs of stalled points of one series (ChartPoint health, shared/health.ts): the chart marks
 * them, and their values are left out (samples-store window), so a stall shows as a marked gap
 * and never as the subflow's last values carried on as a flat line.
 */
export function stallSpans(points: readonly ChartPoint[]): StallSpan[] {
  const out: StallSpan[] = [];
  let open: StallSpan | null = null;
  for (const p of points) {
    if (p.health === 'stalled') {
      if (open) open.toMs = p.tMs;
      else {
        open = { fromMs: p.tMs, toMs: p.tMs };
        out.push(open);
      }
    } else open = null;
  }
  return out;
}

/** Narrowest a stall is drawn, px: a single stalled sample must still show. */
const STALL_MIN_PX = 4;
const STALL_BAR_PX = 5;
const STALL_COLOR = '#c92a2a';

/**
 * Stalls as SVG at recharts' scales: a shaded band in the subflow's colour over the plot's
 * height, with a red bar along the bottom; the legend names the stalled subflows.
 */
function StallMarkers({
  series,
  fromMs,
  toMs,
  yTop,
}: {
  series: ChartSeries[];
  fromMs: number;
  toMs: number;
  yTop: number;
}) {
  const { area, maps } = useChartGeometry(fromMs, toMs, yTop);
  if (!maps || !area) return null;
  const left = area.x;
  const right = area.x + area.width;
  return (
    <g className="stall-markers">
      {series.flatMap((s, i) =>
        stallSpans(s.points).map((span) => {
          const x0 = Math.max(left, maps.x(span.fromMs) - STALL_MIN_PX / 2);
          const x1 = Math.min(right, Math.max(maps.x(span.toMs) + STALL_MIN_PX / 2, x0 + STALL_MIN_PX));
          if (x1 <= left || x0 >= right) return null;
          return (
            <g
              key={`${s.meta.key}-${span.fromMs}`}
              className="stall-marker"
              data-testid="stall-marker"
              data-subflow={s.meta.label}
            >
              <title>{`${s.meta.label} stalled (no values while stalled)`}</title>
              <rect
                x={x0}
                y={area.y}
                width={x1 - x0}
                height={area.height}
                fill={subflowColor(i)}
                fillOpacity={0.12}
              />
              <rect
                x={x0}
                y={area.y + area.height - STALL_BAR_PX}
                width={x1 - x0}
                height={STALL_BAR_PX}
                fill={STALL_COLOR}
              />
            </g>
          );
        }),
      )}
    </g>
  );
}

const MARKER_ROW_PX = 11;
/** Width of a marker label per character at font-size 10 (a little over the average glyph). */
const MARKER_CHAR_PX = 6;

/**
 * Rows for marker labels, so that events close in time (a subflow's removal and its closing come
 * within a millisecond) do not print over each other: each label, left to right, takes the first
 * row whose last label ends before it starts.
 */
export function placeMarkerLabels<T extends { x: number; kind: string }>(
  items: readonly T[],
): (T & { row: number })[] {
  const rowsEnd: number[] = [];
  return [...items]
    .sort((a, b) => a.x - b.x)
    .map((it) => {
      let row = rowsEnd.findIndex((end) => end <= it.x);
      if (row < 0) row = rowsEnd.length;
      rowsEnd[row] = it.x + 3 + it.kind.length * MARKER_CHAR_PX + 4;
      return { ...it, row };
    });
}

/**
 * One metric as a recharts chart: one line per subflow (backup subflows dashed), kernel events
 * as reference lines, a hover readout of every subflow's value. The lines are a canvas series
 * (CanvasSeries, above); grid and axes are recharts', the event markers SVG of ours (EventMarkers).
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
  exportRef,
}: MetricChartProps) {
  const [ref, width] = useWidth();
  const canvasEl = useRef<HTMLCanvasElement | null>(null);
  const plotArea = useRef<PlotArea | undefined>(undefined);
  const [hoverAt, setHoverAt] = useState<HoverAt | null>(null);
  useEffect(() => {
    exportRef?.(() => ({
      svg: ref.current?.querySelector<SVGSVGElement>('svg.recharts-surface') ?? null,
      lines: canvasEl.current,
    }));
  }, [exportRef, ref]);
  // Rounded: toMs - fromMs in floating point wobbles, and the axes below are memoised on it.
  const spanMs = Math.max(1, Math.round(toMs - fromMs));

  const yTicksKey = useMemo(() => {
    let max = 0;
    for (const s of series)
      for (const p of s.points) {
        const v = p[metric];
        if (v !== null && v > max && p.tMs >= fromMs) max = v;
      }
    return niceScale(max).ticks.join(',');
  }, [series, metric, fromMs]);
  // Keyed by value, not by array: a new array on every update would re-render the axes.
  const yTicks = useMemo(() => yTicksKey.split(',').map(Number), [yTicksKey]);
  const yTop = yTicks[yTicks.length - 1] ?? 1;

  // The x axis is time relative to the window's end, so grid and axes keep the same props while
  // the window slides: their elements are memoised and React skips them on every 10 Hz update
  // (an absolute axis re-rendered them all: ~26 ms of script per update for three charts).
  const frame = useMemo(
    () => [
      <CartesianGrid key="grid" stroke="#eceef2" />,
      <XAxis
        key="x"
        dataKey="tMs"
        type="number"
        domain={[-spanMs, 0]}
        ticks={[6, 5, 4, 3, 2, 1, 0].map((i) => (-i * spanMs) / 6)}
        allowDataOverflow
        height={MARGIN.bottom}
        tickFormatter={relativeSeconds}
        tick={TICK}
        stroke={AXIS}
      />,
      <YAxis
        key="y"
        type="number"
        width={MARGIN.left}
        domain={[0, yTop]}
        ticks={yTicks}
        allowDataOverflow
        tickFormatter={(v: number) => String(Number(v.toPrecision(3)))}
        tick={TICK}
        stroke={AXIS}
      />,
    ],
    [spanMs, yTop, yTicks],
  );

  const onArea = useMemo(
    () => (area: PlotArea | undefined) => {
      plotArea.current = area;
    },
    [],
  );

  const onMove = (e: React.MouseEvent<HTMLDivElement>): void => {
    const area = plotArea.current;
    if (!area) return;
    const box = e.currentTarget.getBoundingClientRect();
    const px = e.clientX - box.left;
    if (px < area.x || px > area.x + area.width) return setHoverAt(null);
    setHoverAt({ xPx: px, fraction: (px - area.x) / area.width, topPx: area.y, heightPx: area.height });
  };
  // The values under the pointer now: with the window sliding, the same place shows newer data.
  const hover = useMemo(() => {
    if (!hoverAt) return null;
    const tMs = fromMs + hoverAt.fraction * spanMs;
    const rows: { label: string; color: string; value: number }[] = [];
    series.forEach((s, i) => {
      let best: ChartPoint | null = null;
      for (const p of s.points) if (!best || Math.abs(p.tMs - tMs) < Math.abs(best.tMs - tMs)) best = p;
      const v = best?.[metric];
      if (typeof v === 'number') rows.push({ label: s.meta.label, color: subflowColor(i), value: v });
    });
    return { ...hoverAt, tMs, rows };
  }, [hoverAt, fromMs, spanMs, series, metric]);

  return (
    <section
      className="chart-card"
      data-testid={testId}
      data-lines={series.length}
      data-points={series[0]?.points.length ?? 0}
      data-first-ms={series[0]?.points[0]?.tMs ?? ''}
    >
      <h3 className="chart-title">
        {title} <span className="muted">({unit})</span>
      </h3>
      <div
        ref={ref}
        className="chart-body metric-chart"
        style={{ position: 'relative' }}
        onMouseMove={onMove}
        onMouseLeave={() => setHoverAt(null)}
        role="img"
        aria-label={`${title} per subflow`}
      >
        <LineChart
          accessibilityLayer={false}
          width={width}
          height={HEIGHT_PX}
          margin={{ top: MARGIN.top, right: MARGIN.right, bottom: 0, left: 0 }}
        >
          {frame}
          <EventMarkers markers={markers} fromMs={fromMs} toMs={toMs} yTop={yTop} clipId={`${testId}-clip`} />
          <StallMarkers series={series} fromMs={fromMs} toMs={toMs} yTop={yTop} />
          <CanvasSeries
            canvas={canvasEl}
            series={series}
            metric={metric}
            width={width}
            fromMs={fromMs}
            toMs={toMs}
            yTop={yTop}
            onPlotArea={onArea}
          />
        </LineChart>
        <canvas
          ref={canvasEl}
          className="metric-lines"
          data-testid={`${testId}-lines`}
          style={{ position: 'absolute', left: 0, top: 0, width, height: HEIGHT_PX, pointerEvents: 'none' }}
        />
        {hover ? (
          <div
            className="chart-hover-line"
            style={{
              position: 'absolute',
              left: hover.xPx,
              top: hover.topPx,
              height: hover.heightPx,
              width: 1,
              background: AXIS,
              pointerEvents: 'none',
            }}
          />
        ) : null}
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
            {s.meta.backup ? <span className="muted"> {s.meta.backupLabel || 'backup'}</span> : null}
            {s.points[s.points.length - 1]?.health === 'stalled' ? (
              <span className="stall-note" data-testid="legend-stalled">
                {' '}
                stalled
              </span>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
