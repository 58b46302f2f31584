import { memo, useCallback, useMemo, useRef, useState } from 'react';
import type { Connection } from '../../../../shared/types';
import { formatRate, tokenHex } from '../../format';
import {
  ConnectionsIndex,
  connectionPath,
  NO_RATES,
  type Sort,
  type SortKey,
} from '../../state/connections-index';
import { useConnections, useMonitor, useStores, useUi } from '../../state/stores';
import { COLUMN } from '../../labels';
import { Badge } from '../Badge';
import { ErrorLine, Notice } from '../Notice';
import { connectionKey, spacers, useRowVirtualizer } from './virtual-rows';

const SORT_KEYS: ReadonlySet<string> = new Set<SortKey>([
  'token',
  'path',
  'state',
  'subflows',
  'send',
  'recv',
]);
const DEFAULT_SORT: Sort = { key: 'send', desc: true };
/** Rates sort busiest first by default, everything else A to Z. */
const descByDefault = (key: SortKey): boolean => key === 'send' || key === 'recv';

/** The sort in the URL (`#/connections?sort=recv&order=asc`); the default leaves both out. */
export function sortFromParams(params: Readonly<Record<string, string>>): Sort {
  const key = params.sort;
  if (key === undefined || !SORT_KEYS.has(key)) return DEFAULT_SORT;
  const k = key as SortKey;
  const order = params.order;
  return { key: k, desc: order === 'desc' ? true : order === 'asc' ? false : descByDefault(k) };
}

/** A row's height before it is measured (one line of text plus the cell padding). */
const ROW_PX = 37;
const estimateSize = (): number => ROW_PX;

const COLUMNS: { key: SortKey; label: string; title?: string; num?: boolean }[] = [
  { key: 'token', label: 'Token' },
  { key: 'path', label: 'Local → remote' },
  { key: 'state', label: 'State' },
  { key: 'subflows', label: 'Subflows', num: true },
  { key: 'send', ...COLUMN.sendRate, num: true },
  { key: 'recv', ...COLUMN.receiveRate, num: true },
];

/**
 * One connection. Memoised on the connection object and its two rates: an idle connection keeps
 * its object from poll to poll (docs/live-data.md), so a poll re-renders only rows that moved.
 */
const ConnectionRow = memo(function ConnectionRow({
  c,
  index,
  send,
  recv,
  onSelect,
  measure,
}: {
  c: Connection;
  index: number;
  send: number;
  recv: number;
  onSelect: (token: number) => void;
  measure: (el: Element | null) => void;
}) {
  const hex = tokenHex(c.token);
  return (
    <tr
      ref={measure}
      data-index={index}
      aria-rowindex={index + 2}
      className="clickable"
      data-testid={`conn-row-${hex}`}
      data-send-bytes-per-sec={Math.round(send)}
      tabIndex={0}
      onClick={() => onSelect(c.token)}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') onSelect(c.token);
      }}
    >
      <td className="mono strong">{hex}</td>
      <td className="mono">{connectionPath(c)}</td>
      <td>
        <span className="state">{c.state}</span>
        {c.fallback ? (
          <Badge tone="warn" title="MPTCP_INFO_FLAG_FALLBACK: fell back to plain TCP">
            fallback
          </Badge>
        ) : null}
      </td>
      <td className="num">{c.subflowsTotal}</td>
      <td className="num">{formatRate(send)}</td>
      <td className="num">{formatRate(recv)}</td>
    </tr>
  );
});

/**
 * Every connection with its throughput, sortable and filterable. The order is kept by a
 * ConnectionsIndex (updated from what changed, not re-sorted per poll) and only the rows in view
 * are rendered (virtual-rows.ts); the whole list scrolls.
 */
export function ConnectionsTable() {
  const stores = useStores();
  const live = useConnections((s) => s.snapshot);
  const loadError = useConnections((s) => s.loadError);
  const engineError = useConnections((s) => s.engineError);
  const paused = useMonitor((s) => s.paused);
  const frozen = useMonitor((s) => s.frozenSnapshot);
  const select = useMonitor((s) => s.select);
  // Sort and filter live in the URL (#/connections?filter=10.0.0&sort=recv), so that they survive
  // a reload and Back returns to them.
  const params = useUi((s) => s.params);
  const setParams = useUi((s) => s.setParams);
  const sort = useMemo(() => sortFromParams(params), [params]);
  const filter = params.filter ?? '';
  const [index] = useState(() => new ConnectionsIndex());
  const scrollRef = useRef<HTMLDivElement>(null);

  const snapshot = paused ? frozen : live;
  const rates = stores.connections.ratesOf(snapshot);
  const rows = useMemo(
    () => index.update(snapshot?.connections ?? [], rates, sort, filter),
    [index, snapshot, rates, sort, filter],
  );

  // Stable between polls that keep the order: a new getItemKey makes the virtualiser lay out
  // every row again, which scrolling would otherwise do on each wheel step.
  const getItemKey = useCallback(
    (i: number) => {
      const c = rows[i];
      return c ? connectionKey(c) : -1 - i;
    },
    [rows],
  );
  const virtualizer = useRowVirtualizer({ count: rows.length, scrollRef, estimateSize, getItemKey });
  const items = virtualizer.getVirtualItems();
  const pad = spacers(virtualizer);

  const onSort = (key: SortKey): void => {
    const next: Sort = sort.key === key ? { key, desc: !sort.desc } : { key, desc: descByDefault(key) };
    const isDefault = next.key === DEFAULT_SORT.key && next.desc === DEFAULT_SORT.desc;
    setParams({
      sort: isDefault ? '' : next.key,
      order: isDefault || next.desc === descByDefault(next.key) ? '' : next.desc ? 'desc' : 'asc',
    });
  };

  return (
    <section className="card" aria-labelledby="conn-table-heading">
      <header className="card-header">
        <h2 id="conn-table-heading">Connections</h2>
        <span className="muted" data-testid="conn-count">
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
          onChange={(e) => setParams({ filter: e.target.value })}
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
        <div className="virtual-scroll" ref={scrollRef} data-testid="conn-list">
          <table className="table conn-table" data-testid="conn-table" aria-rowcount={rows.length + 1}>
            <colgroup>
              <col className="col-token" />
              <col className="col-conn-path" />
              <col className="col-conn-state" />
              <col className="col-count" />
              <col className="col-rate" />
              <col className="col-rate" />
            </colgroup>
            <thead>
              <tr aria-rowindex={1}>
                {COLUMNS.map((col) => (
                  <th
                    key={col.key}
                    scope="col"
                    className={col.num ? 'num' : undefined}
                    aria-sort={sort.key === col.key ? (sort.desc ? 'descending' : 'ascending') : 'none'}
                    title={col.title}
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
              {pad.top > 0 ? (
                <tr className="virtual-spacer" aria-hidden="true" style={{ height: pad.top }}>
                  <td colSpan={COLUMNS.length} />
                </tr>
              ) : null}
              {items.map((v) => {
                const c = rows[v.index];
                if (!c) return null;
                const r = rates.get(c.token) ?? NO_RATES;
                return (
                  <ConnectionRow
                    key={v.key}
                    c={c}
                    index={v.index}
                    send={r.sendBytesPerSec}
                    recv={r.recvBytesPerSec}
                    onSelect={select}
                    measure={virtualizer.measureElement}
                  />
                );
              })}
              {pad.bottom > 0 ? (
                <tr className="virtual-spacer" aria-hidden="true" style={{ height: pad.bottom }}>
                  <td colSpan={COLUMNS.length} />
                </tr>
              ) : null}
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
        </div>
      )}
    </section>
  );
}
