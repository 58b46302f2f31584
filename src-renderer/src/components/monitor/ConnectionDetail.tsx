import { useEffect, useMemo, useRef, useState } from 'react';
import { formatTime, hostPort, tokenHex } from '../../format';
import { benchDetailIntervalMs } from '../../bench';
import { startDetailLoop } from '../../state/monitor/detail-loop';
import { WINDOWS_MS } from '../../state/monitor/monitor-store';
import { useMonitor, useOverview, useSamplesVersion, useStores } from '../../state/stores';
import type { Connection, NetInterface } from '../../../../shared/types';
import { downloadBlob, downloadText } from '../../download';
import { Badge } from '../Badge';
import { TraceThisPathButton } from '../path-doctor/TraceThisPath';
import { ErrorLine, Notice } from '../Notice';
import { chartsPng, samplesCsv, type ChartImage } from './chart-export';
import { MetricChart, subflowColor, type MetricKey } from './MetricChart';
import { ConnectionPaths } from './ConnectionPaths';
import { SubflowDetailTable } from './SubflowDetailTable';

const CHARTS: { testId: string; title: string; unit: string; metric: MetricKey }[] = [
  { testId: 'chart-rtt', title: 'RTT', unit: 'ms', metric: 'rttMs' },
  { testId: 'chart-cwnd', title: 'Congestion window', unit: 'pkts', metric: 'cwndPkts' },
  { testId: 'chart-throughput', title: 'Send rate', unit: 'Mbit/s', metric: 'sendMbitPerSec' },
];

/**
 * Points drawn per subflow line: about one per 2 px of a chart. More cannot be seen and costs
 * raster time on every update (bench/renderer.mjs: 16 lines x 3 charts at 10 Hz).
 */
const MAX_POINTS_PER_LINE = 300;

/**
 * The interfaces a connection's subflows leave by, whose link events its charts mark: each
 * subflow's resolved interface (Subflow.ifname), and the interface holding the local address of
 * every subflow charted (closed ones too: the link that took them down is the point).
 */
export function connectionIfnames(
  connection: { subflows: readonly Pick<Connection['subflows'][number], 'ifname'>[] } | null,
  localAddresses: readonly string[],
  interfaces: readonly Pick<NetInterface, 'name' | 'addresses'>[] | null,
): Set<string> {
  const out = new Set<string>();
  for (const s of connection?.subflows ?? []) if (s.ifname) out.add(s.ifname);
  for (const a of localAddresses) {
    const i = interfaces?.find((x) => x.addresses.some((y) => y.address === a));
    if (i) out.add(i.name);
  }
  return out;
}

function windowLabel(ms: number): string {
  return ms >= 60_000 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

/** While shown, live and not paused, read this connection about 10 times a second. */
function useFastLoop(token: number, enabled: boolean): void {
  const stores = useStores();
  useEffect(() => {
    if (!enabled) return;
    const { samples } = stores;
    samples.fastTokens.add(token);
    const benchMs = benchDetailIntervalMs();
    const loop = startDetailLoop(
      stores.api,
      token,
      (c, tMs) => {
        if (c) samples.ingestConnection(c, tMs);
      },
      benchMs === undefined ? {} : { intervalMs: benchMs, maxIntervalMs: Math.max(benchMs, 50) },
    );
    return () => {
      loop.stop();
      samples.fastTokens.delete(token);
    };
  }, [stores, token, enabled]);
}

export function ConnectionDetail({ token }: { token: number }) {
  const stores = useStores();
  const { samples, events } = stores;
  const version = useSamplesVersion();
  const mode = useMonitor((s) => s.mode);
  const paused = useMonitor((s) => s.paused);
  const pausedAtMs = useMonitor((s) => s.pausedAtMs);
  const windowMs = useMonitor((s) => s.windowMs);
  const setWindow = useMonitor((s) => s.setWindow);
  const select = useMonitor((s) => s.select);
  const [exportError, setExportError] = useState<string | null>(null);
  const exporters = useRef(
    new Map<string, () => { svg: SVGSVGElement | null; lines: HTMLCanvasElement | null }>(),
  );

  // One stable callback per chart (an inline one would re-run the chart's effect on every update).
  const exportRefs = useMemo(
    () =>
      Object.fromEntries(
        CHARTS.map((c) => [
          c.testId,
          (get: () => { svg: SVGSVGElement | null; lines: HTMLCanvasElement | null }) =>
            exporters.current.set(c.testId, get),
        ]),
      ),
    [],
  );
  useFastLoop(token, mode === 'live' && !paused);

  const toMs = paused && pausedAtMs !== null ? pausedAtMs : samples.clockMs;
  const fromMs = toMs - windowMs;
  // Recomputed when the samples change (at most once a frame) or the window moves.
  const interfaces = useOverview((s) => s.interfaces);
  const { series, markers, connection, readAtMs } = useMemo(
    () => {
      const latest = samples.latest(token);
      const locals = samples.seriesOf(token).map((m) => m.localAddress);
      return {
        series: samples.window(token, fromMs, toMs, MAX_POINTS_PER_LINE),
        markers: events.markers(token, fromMs, toMs, connectionIfnames(latest, locals, interfaces)),
        connection: latest,
        readAtMs: samples.latestAtEngineMs(token),
      };
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps -- version stands for the samples' contents
    [samples, events, token, fromMs, toMs, version, interfaces],
  );
  const metas = samples.seriesOf(token);

  const onCsv = (): void => {
    const text = samplesCsv(samples.rawWindow(token, fromMs, toMs));
    downloadText(`mptcp-${tokenHex(token)}-${Math.round(toMs)}.csv`, text, 'text/csv;charset=utf-8');
  };

  const onPng = (): void => {
    const legend = series.map((s, i) => ({
      label: s.meta.label,
      color: subflowColor(i),
      dashed: s.meta.backup,
    }));
    const images: ChartImage[] = [];
    for (const c of CHARTS) {
      const { svg, lines } = exporters.current.get(c.testId)?.() ?? { svg: null, lines: null };
      if (svg) images.push({ title: `${c.title} (${c.unit})`, svg, lines, legend });
    }
    if (images.length === 0) {
      setExportError('the charts are not drawn yet');
      return;
    }
    setExportError(null);
    chartsPng(images, `MPTCP connection ${tokenHex(token)} · ${formatTime(toMs)}`).then(
      (blob) => downloadBlob(`mptcp-${tokenHex(token)}-${Math.round(toMs)}.png`, blob),
      (e: unknown) => setExportError(e instanceof Error ? e.message : String(e)),
    );
  };

  return (
    <section className="card" data-testid="conn-detail" data-token={tokenHex(token)}>
      <header className="card-header detail-header">
        <button type="button" className="button" onClick={() => select(null)} data-testid="detail-back">
          ← All connections
        </button>
        <h2>
          Connection <span className="mono">{tokenHex(token)}</span>
        </h2>
        {connection ? (
          <span className="mono muted">
            {hostPort(connection.localAddress, connection.localPort)} →{' '}
            {hostPort(connection.remoteAddress, connection.remotePort)}
          </span>
        ) : null}
        {connection?.fallback ? <Badge tone="warn">fallback</Badge> : null}
        {connection?.fallback ? (
          <TraceThisPathButton
            target={connection.remoteAddress}
            port={connection.remotePort}
            from={connection.localAddress}
          />
        ) : null}
        <span className="spacer" />
        <div className="segmented" role="group" aria-label="Time window">
          {WINDOWS_MS.map((ms) => (
            <button
              key={ms}
              type="button"
              className={ms === windowMs ? 'seg seg-active' : 'seg'}
              aria-pressed={ms === windowMs}
              data-testid={`window-${ms / 1000}s`}
              onClick={() => setWindow(ms)}
            >
              {windowLabel(ms)}
            </button>
          ))}
        </div>
        <button type="button" className="button" data-testid="export-csv" onClick={onCsv}>
          Export CSV
        </button>
        <button
          type="button"
          className="button"
          data-testid="export-png"
          onClick={onPng}
          disabled={series.length === 0}
        >
          Export PNG
        </button>
      </header>
      {exportError ? (
        <Notice tone="bad" title="Could not export the charts" testId="export-error">
          <ErrorLine code="EXPORT" message={exportError} />
        </Notice>
      ) : null}
      {series.length === 0 ? <p className="muted">Waiting for samples of this connection…</p> : null}
      <div className="charts">
        {CHARTS.map((c) => (
          <MetricChart
            key={c.testId}
            {...c}
            series={series}
            fromMs={fromMs}
            toMs={toMs}
            markers={markers}
            exportRef={exportRefs[c.testId]}
          />
        ))}
      </div>
      <h3>Subflows</h3>
      <SubflowDetailTable connection={connection} series={metas} readAtMs={readAtMs} />
      <ConnectionPaths connection={connection} readAtMs={readAtMs} />
    </section>
  );
}
