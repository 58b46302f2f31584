/**
 * Fleet: every host a Prometheus server scrapes (each runs `mptcp-studio exporter`), now and over
 * the last hour, day or week, read by this page's own host (mptcp:fleet:overview): the renderer
 * never talks to Prometheus. Sparklines are plain SVG polylines: 200 rows × 3 charts of a charting
 * library would cost more than the whole page's budget (docs/fleet.md, "Fleet page").
 */
import { Fragment, useEffect, useMemo, useState } from 'react';
import type { FleetHost, FleetOverview, FleetRange, FleetSeries } from '../../../shared/fleet';
import { FleetHostChart } from '../components/FleetHostChart';
import { ErrorLine, Notice } from '../components/Notice';
import { RemoteHostsSection } from '../components/RemoteHostsSection';
import { countOf, formatTime } from '../format';
import { useStores } from '../state/stores';
import '../fleet.css';

type SortKey = 'instance' | 'connections' | 'fallbacks' | 'joins' | 'up';

const RANGES: { value: FleetRange; label: string }[] = [
  { value: 'hour', label: 'Last hour' },
  { value: 'day', label: 'Last day' },
  { value: 'week', label: 'Last week' },
];

export function Sparkline({ series, label }: { series: FleetSeries; label: string }) {
  const width = 96;
  const height = 20;
  if (series.length < 2) return <span className="muted">–</span>;
  const t0 = series[0]![0];
  const t1 = series[series.length - 1]![0];
  let max = 0;
  for (const [, v] of series) if (Number.isFinite(v) && v > max) max = v;
  const points = series
    .map(([t, v]) => {
      const x = t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * width;
      const y = height - 1 - (max > 0 && Number.isFinite(v) ? (v / max) * (height - 2) : 0);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
  return (
    <svg className="sparkline" width={width} height={height} role="img" aria-label={label}>
      <polyline points={points} fill="none" stroke="currentColor" strokeWidth="1" />
    </svg>
  );
}

const rate = (v: number | null): string =>
  v === null ? '–' : v === 0 ? '0' : v < 0.01 ? '<0.01' : v.toFixed(2);

function subflowsText(h: FleetHost): string {
  const parts = Object.entries(h.subflowsByInterface)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([itf, n]) => `${itf} ${n}`);
  return parts.length > 0 ? parts.join(', ') : '–';
}

function HostRow({ h, open, toggle }: { h: FleetHost; open: boolean; toggle: () => void }) {
  return (
    <tr data-testid="fleet-row" data-instance={h.instance} className={h.up ? undefined : 'row-down'}>
      <td>
        <button
          type="button"
          className="link-button"
          aria-expanded={open}
          aria-label={`${open ? 'Hide' : 'Show'} the history of ${h.instance}`}
          onClick={toggle}
          data-testid="fleet-row-toggle"
        >
          {open ? '▾' : '▸'}
        </button>{' '}
        {h.webUrl ? (
          <a href={h.webUrl} target="_blank" rel="noreferrer noopener">
            {h.instance}
          </a>
        ) : (
          h.instance
        )}
        <div className="muted small">{h.job}</div>
      </td>
      <td data-testid="fleet-up">{h.up ? 'up' : 'down'}</td>
      <td>{h.mptcpEnabled === null ? '–' : h.mptcpEnabled ? 'on' : 'off'}</td>
      <td>{h.pathManager ?? '–'}</td>
      <td className="num">{h.connections ?? '–'}</td>
      <td>{subflowsText(h)}</td>
      <td className="num">{rate(h.fallbacksPerSec)}</td>
      <td className="num">{rate(h.joinFailuresPerSec)}</td>
      <td>
        <Sparkline series={h.history.connections} label={`${h.instance} connections`} />
      </td>
      <td>
        <Sparkline series={h.history.fallbacksPerSec} label={`${h.instance} fallbacks per second`} />
      </td>
      <td>
        <Sparkline series={h.history.joinFailuresPerSec} label={`${h.instance} join failures per second`} />
      </td>
      <td>
        <Sparkline series={h.history.up} label={`${h.instance} up`} />
      </td>
    </tr>
  );
}

export function sortHosts(hosts: readonly FleetHost[], by: SortKey): FleetHost[] {
  const num = (v: number | null): number => v ?? -1;
  const cmp: Record<SortKey, (a: FleetHost, b: FleetHost) => number> = {
    instance: (a, b) => a.instance.localeCompare(b.instance),
    connections: (a, b) => num(b.connections) - num(a.connections),
    fallbacks: (a, b) => num(b.fallbacksPerSec) - num(a.fallbacksPerSec),
    joins: (a, b) => num(b.joinFailuresPerSec) - num(a.joinFailuresPerSec),
    up: (a, b) => Number(a.up) - Number(b.up),
  };
  return [...hosts].sort((a, b) => cmp[by](a, b) || a.instance.localeCompare(b.instance));
}

export function FleetPage() {
  const { api } = useStores();
  const [range, setRange] = useState<FleetRange>('hour');
  const [data, setData] = useState<FleetOverview | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  const [filter, setFilter] = useState('');
  const [sortBy, setSortBy] = useState<SortKey>('instance');
  const [expanded, setExpanded] = useState<string | null>(null);
  // Bumped by Refresh; the answer for (range, reload) ends the loading state.
  const [reload, setReload] = useState(0);
  const [loadedKey, setLoadedKey] = useState<string | null>(null);
  const key = `${range}|${reload}`;
  const loading = loadedKey !== key;

  useEffect(() => {
    let live = true;
    void api.invoke('mptcp:fleet:overview', { range }).then((res) => {
      if (!live) return;
      if (res.ok) {
        setData(res.value);
        setError(null);
      } else setError(res.error);
      setLoadedKey(`${range}|${reload}`);
    });
    return () => {
      live = false;
    };
  }, [api, range, reload]);

  const rows = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const hosts = data?.hosts ?? [];
    const kept = f
      ? hosts.filter(
          (h) =>
            h.instance.toLowerCase().includes(f) ||
            h.job.toLowerCase().includes(f) ||
            (h.pathManager ?? '').toLowerCase().includes(f),
        )
      : hosts;
    return sortHosts(kept, sortBy);
  }, [data, filter, sortBy]);
  const down = data?.hosts.filter((h) => !h.up).length ?? 0;

  return (
    <main
      className="page"
      data-testid="fleet-page"
      data-query-ms={data ? Math.round(data.queryMs) : undefined}
      data-fetched-at={data?.fetchedAtMs}
    >
      <div className="page-title">
        <h1>Fleet</h1>
        <span className="muted">
          {data?.prometheusUrl ? `from ${data.prometheusUrl}, read at ${formatTime(data.fetchedAtMs)}` : null}
        </span>
        <button type="button" className="button" onClick={() => setReload((n) => n + 1)} disabled={loading}>
          {loading ? 'Reading…' : 'Refresh'}
        </button>
      </div>
      {error ? (
        <Notice tone="bad" title="Could not read the fleet" testId="fleet-error">
          <ErrorLine code={error.code} message={error.message} />
        </Notice>
      ) : null}
      {data && data.errors.length > 0 ? (
        <Notice tone="warn" title="Some queries failed" testId="fleet-query-errors">
          {data.errors.map((e) => (
            <div key={e}>{e}</div>
          ))}
        </Notice>
      ) : null}
      <div className="toolbar">
        <label>
          Range{' '}
          <select
            value={range}
            onChange={(e) => setRange(e.target.value as FleetRange)}
            data-testid="fleet-range"
          >
            {RANGES.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Sort by{' '}
          <select
            value={sortBy}
            onChange={(e) => setSortBy(e.target.value as SortKey)}
            data-testid="fleet-sort"
          >
            <option value="instance">host</option>
            <option value="up">down first</option>
            <option value="connections">connections</option>
            <option value="fallbacks">fallbacks</option>
            <option value="joins">join failures</option>
          </select>
        </label>
        <input
          type="search"
          placeholder="Filter by host, job or path manager"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          data-testid="fleet-filter"
        />
        <span className="muted" data-testid="fleet-summary">
          {data ? `${countOf(data.hosts.length, 'host')}, ${down} down` : null}
        </span>
      </div>
      <table className="table compact" data-testid="fleet-table">
        <thead>
          <tr>
            <th>Host</th>
            <th>Exporter</th>
            <th>MPTCP</th>
            <th>Path manager</th>
            <th className="num">Connections</th>
            <th>Subflows per interface</th>
            <th className="num">Fallbacks/s</th>
            <th className="num">Join failures/s</th>
            <th>Connections</th>
            <th>Fallbacks</th>
            <th>Join failures</th>
            <th>Up</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((h) => {
            const k = `${h.job}|${h.instance}`;
            return (
              <Fragment key={k}>
                <HostRow h={h} open={expanded === k} toggle={() => setExpanded(expanded === k ? null : k)} />
                {expanded === k ? (
                  <tr>
                    <td colSpan={12}>
                      <FleetHostChart host={h} />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            );
          })}
        </tbody>
      </table>
      <RemoteHostsSection />
    </main>
  );
}
