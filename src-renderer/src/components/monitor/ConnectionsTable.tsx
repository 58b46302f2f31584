import { useMemo, useState } from 'react';
import type { Connection } from '../../../../shared/types';
import { formatRate, hostPort, tokenHex } from '../../format';
import type { Rates } from '../../state/monitor/samples-store';
import { useConnections, useMonitor, useSamplesVersion, useStores } from '../../state/stores';
import { Badge } from '../Badge';
import { ErrorLine, Notice } from '../Notice';

type SortKey = 'token' | 'path' | 'state' | 'subflows' | 'send' | 'recv';
const INITIAL_ROWS = 200;
const NO_RATES: Rates = { sendBytesPerSec: 0, recvBytesPerSec: 0 };

const COLUMNS: { key: SortKey; label: string; num?: boolean }[] = [
  { key: 'token', label: 'Token' },
  { key: 'path', label: 'Local → remote' },
  { key: 'state', label: 'State' },
  { key: 'subflows', label: 'Subflows', num: true },
  { key: 'send', label: 'Send', num: true },
  { key: 'recv', label: 'Receive', num: true },
];

function path(c: Connection): string {
  return `${hostPort(c.localAddress, c.localPort)} → ${hostPort(c.remoteAddress, c.remotePort)}`;
}

function compare(a: Connection, b: Connection, key: SortKey, rates: Map<number, Rates>): number {
  switch (key) {
    case 'token':
      return a.token - b.token;
    case 'path':
      return path(a).localeCompare(path(b));
    case 'state':
      return a.state.localeCompare(b.state);
    case 'subflows':
      return a.subflowsTotal - b.subflowsTotal;
    case 'send':
      return (
        (rates.get(a.token) ?? NO_RATES).sendBytesPerSec - (rates.get(b.token) ?? NO_RATES).sendBytesPerSec
      );
    case 'recv':
      return (
        (rates.get(a.token) ?? NO_RATES).recvBytesPerSec - (rates.get(b.token) ?? NO_RATES).recvBytesPerSec
      );
  }
}

function matches(c: Connection, filter: string): boolean {
  if (!filter) return true;
  const f = filter.toLowerCase();
  return (
    tokenHex(c.token).includes(f) ||
    path(c).toLowerCase().includes(f) ||
    c.state.toLowerCase().includes(f) ||
    c.subflows.some((s) => s.localAddress.includes(f) || s.remoteAddress.includes(f))
  );
}

/** Every connection with its throughput (from the samples), sortable and filterable. */
export function ConnectionsTable() {
  const { samples } = useStores();
  const version = useSamplesVersion();
  const live = useConnections((s) => s.snapshot);
  const loadError = useConnections((s) => s.loadError);
  const engineError = useConnections((s) => s.engineError);
  const paused = useMonitor((s) => s.paused);
  const frozen = useMonitor((s) => s.frozenSnapshot);
  const pausedAtMs = useMonitor((s) => s.pausedAtMs);
  const select = useMonitor((s) => s.select);
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: 'send', desc: true });
  const [filter, setFilter] = useState('');
  const [showAll, setShowAll] = useState(false);

  const snapshot = paused ? frozen : live;
  const rates = useMemo(
    () => samples.ratesByToken(paused && pausedAtMs !== null ? pausedAtMs : Infinity),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- version stands for the samples' contents
    [samples, paused, pausedAtMs, version],
  );
  const rows = useMemo(() => {
    const list = (snapshot?.connections ?? []).filter((c) => matches(c, filter.trim()));
    list.sort((a, b) => (sort.desc ? -1 : 1) * compare(a, b, sort.key, rates) || a.token - b.token);
    return list;
  }, [snapshot, filter, sort, rates]);
  const shown = showAll ? rows : rows.slice(0, INITIAL_ROWS);

  const onSort = (key: SortKey): void =>
    setSort((s) =>
      s.key === key ? { key, desc: !s.desc } : { key, desc: key === 'send' || key === 'recv' },
    );

  return (
    <section className="card" aria-labelledby="conn-table-heading">
      <header className="card-header">
        <h2 id="conn-table-heading">Connections</h2>
        <span className="muted">
          {snapshot ? `${rows.length} of ${snapshot.connections.length}` : ''}
          {paused ? ' · paused' : ''}
        </span>
        <span className="spacer" />
        <input
          className="filter-input"
          type="search"
          placeholder="Filter: token, address, state"
          aria-label="Filter connections"
          data-testid="conn-filter"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
      </header>
      {engineError ? (
        <Notice tone="bad" title="Could not read connections">
          <ErrorLine source={engineError.source} code={engineError.code} message={engineError.message} />
        </Notice>
      ) : null}
      {snapshot === null ? (
        loadError ? (
          <Notice tone="bad" title="Could not list connections">
            <ErrorLine code={loadError.code} message={loadError.message} />
          </Notice>
        ) : (
          <p className="muted">Waiting for the first snapshot…</p>
        )
      ) : (
        <table className="table conn-table" data-testid="conn-table">
          <thead>
            <tr>
              {COLUMNS.map((col) => (
                <th
                  key={col.key}
                  scope="col"
                  className={col.num ? 'num' : undefined}
                  aria-sort={sort.key === col.key ? (sort.desc ? 'descending' : 'ascending') : 'none'}
                >
                  <button type="button" className="sort-button" onClick={() => onSort(col.key)}>
                    {col.label}
                    {sort.key === col.key ? (sort.desc ? ' ▾' : ' ▴') : ''}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.map((c) => {
              const hex = tokenHex(c.token);
              const r = rates.get(c.token) ?? NO_RATES;
              return (
                <tr
                  key={`${c.token}-${c.inode}`}
                  className="clickable"
                  data-testid={`conn-row-${hex}`}
                  data-send-bytes-per-sec={Math.round(r.sendBytesPerSec)}
                  tabIndex={0}
                  onClick={() => select(c.token)}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter' || e.key === ' ') select(c.token);
                  }}
                >
                  <td className="mono strong">{hex}</td>
                  <td className="mono">{path(c)}</td>
                  <td>
                    <span className="state">{c.state}</span>
                    {c.fallback ? (
                      <Badge tone="warn" title="MPTCP_INFO_FLAG_FALLBACK: fell back to plain TCP">
                        fallback
                      </Badge>
                    ) : null}
                  </td>
                  <td className="num">{c.subflowsTotal}</td>
                  <td className="num">{formatRate(r.sendBytesPerSec)}</td>
                  <td className="num">{formatRate(r.recvBytesPerSec)}</td>
                </tr>
              );
            })}
            {rows.length === 0 ? (
              <tr>
                <td colSpan={COLUMNS.length} className="empty">
                  {snapshot.connections.length === 0
                    ? 'No MPTCP connections'
                    : 'No connection matches the filter'}
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      )}
      {shown.length < rows.length ? (
        <button type="button" className="button" onClick={() => setShowAll(true)}>
          Show all {rows.length} connections
        </button>
      ) : null}
    </section>
  );
}
