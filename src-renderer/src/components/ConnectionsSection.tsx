import { memo, useCallback, useRef, useState } from 'react';
import type { Connection, Subflow } from '../../../shared/types';
import {
  countOf,
  formatBytes,
  formatDurationUs,
  formatRttMs,
  formatTime,
  hostPort,
  retransPercent,
  tokenHex,
} from '../format';
import { COLUMN } from '../labels';
import { useSession, useConnections } from '../state/stores';
import { Badge } from './Badge';
import { connectionKey, spacers, useRowVirtualizer } from './monitor/virtual-rows';
import { subflowHealthState, type SubflowHealthState } from '../../../shared/health';
import { BackupBadge, DeliveryRateCell, HEALTH_COLUMN_TITLE, HealthBadge } from './monitor/SubflowHealth';
import { ErrorLine, Notice } from './Notice';

const CONNECTION_COLUMNS = 7;
const NONE: readonly Connection[] = [];
/** First guesses of heights in px (rows are measured once rendered): a connection's row, the
 * subflow table's header and padding, one subflow. */
const CONNECTION_PX = 37;
const SUBFLOWS_TABLE_PX = 40;
const SUBFLOW_PX = 30;

/**
 * Each subflow's health at the snapshot's time, joined: a memoised connection row re-renders when
 * a subflow's health changes although its objects did not (an idle subflow's object stays).
 */
function healthKey(c: Connection, nowMs: number): string {
  return c.subflows.map((s) => subflowHealthState(s, nowMs)).join(',');
}

const SubflowRow = memo(function SubflowRow({
  subflow: s,
  health,
}: {
  subflow: Subflow;
  health: SubflowHealthState;
}) {
  const local = hostPort(s.localAddress, s.localPort);
  const remote = hostPort(s.remoteAddress, s.remotePort);
  return (
    <tr
      data-testid="subflow-row"
      data-rtt-us={s.rttUs}
      data-cwnd={s.cwndPkts}
      data-local={local}
      data-remote={remote}
      data-ifname={s.ifname ?? ''}
    >
      <td className="mono">
        {local} <span className="arrow">→</span> {remote}
      </td>
      <td className="mono" title="the interface it leaves by: its bound device, else the kernel's route">
        {s.ifname ?? <span className="muted">?</span>}
      </td>
      <td className="num" title="local id → remote id">
        {s.localId} → {s.remoteId}
      </td>
      <td>
        <span className="state">{s.state}</span>
        <BackupBadge flags={s.flags} />
      </td>
      <td>
        <HealthBadge state={health} subflow={s} />
      </td>
      <td className="num" title={`rtt ${s.rttUs} µs, rttvar ${s.rttVarUs} µs, min ${s.minRttUs} µs`}>
        {formatRttMs(s.rttUs)}
      </td>
      <td
        className="num"
        title={s.ssthreshPkts === null ? 'ssthresh infinite' : `ssthresh ${s.ssthreshPkts}`}
      >
        {s.cwndPkts}
      </td>
      <td className="num">{s.mssBytes}</td>
      <DeliveryRateCell bytesPerSec={s.deliveryRateBytesPerSec} state={health} />
      <td
        className="num"
        data-testid="subflow-retrans-pct"
        title={`${s.bytesRetrans} of ${s.bytesSent} bytes sent were retransmissions (${countOf(s.totalRetransPkts, 'packet')})`}
      >
        {retransPercent(s) ?? <span className="muted">—</span>}
      </td>
      <td className="mono">{s.congestionControl ?? '—'}</td>
    </tr>
  );
});

/**
 * One connection and, expanded, its subflows. Memoised: an idle connection keeps its object from
 * poll to poll (docs/live-data.md), so a poll re-renders only the connections that changed.
 */
const ConnectionRows = memo(function ConnectionRows({
  connection: c,
  health,
  index,
  expanded,
  onToggle,
  measure,
}: {
  connection: Connection;
  /** healthKey(c, takenAtMs): each subflow's health state, comma-joined. */
  health: string;
  index: number;
  expanded: boolean;
  onToggle: (token: number) => void;
  measure: (el: Element | null) => void;
}) {
  const hex = tokenHex(c.token);
  const healths = health.split(',');
  return (
    <tbody className="connection" ref={measure} data-index={index}>
      <tr data-testid={`connection-row-${hex}`} data-token={hex} className="connection-row">
        <td>
          <button
            type="button"
            className="toggle"
            aria-expanded={expanded}
            aria-label={expanded ? 'Hide subflows' : 'Show subflows'}
            onClick={() => onToggle(c.token)}
          >
            {expanded ? '▾' : '▸'}
          </button>
          <span className="mono strong">{hex}</span>
        </td>
        <td className="mono">
          {hostPort(c.localAddress, c.localPort)} <span className="arrow">→</span>{' '}
          {hostPort(c.remoteAddress, c.remotePort)}
        </td>
        <td>
          <span className="state">{c.state}</span>
          {c.fallback ? (
            <Badge tone="warn" title="MPTCP_INFO_FLAG_FALLBACK: this connection fell back to plain TCP">
              fallback
            </Badge>
          ) : null}
        </td>
        <td className="num" data-testid="subflow-count">
          {c.subflowsTotal}
        </td>
        <td className="num" title={`${c.bytesSent} bytes`}>
          {formatBytes(c.bytesSent)}
        </td>
        <td className="num" title={`${c.bytesReceived} bytes`}>
          {formatBytes(c.bytesReceived)}
        </td>
        <td className="num" title={`${c.bytesRetrans} bytes sent again at the MPTCP level`}>
          {c.bytesRetrans > 0 ? formatBytes(c.bytesRetrans) : <span className="muted">0 B</span>}
        </td>
      </tr>
      {expanded ? (
        <tr className="subflows-row">
          <td colSpan={CONNECTION_COLUMNS}>
            {c.subflows.length === 0 ? (
              <span className="muted">No subflow details in this snapshot.</span>
            ) : (
              <table className="table subflows">
                <colgroup>
                  <col className="col-path" />
                  <col className="col-ifname" />
                  <col className="col-ids" />
                  <col className="col-state" />
                  <col className="col-health" />
                  <col className="col-rtt" />
                  <col className="col-cwnd" />
                  <col className="col-mss" />
                  <col className="col-rate" />
                  <col className="col-pct" />
                  <col className="col-cc" />
                </colgroup>
                <thead>
                  <tr>
                    <th scope="col">Subflow local → remote</th>
                    <th scope="col">Interface</th>
                    <th scope="col" className="num">
                      IDs
                    </th>
                    <th scope="col">State</th>
                    <th scope="col" title={HEALTH_COLUMN_TITLE}>
                      Health
                    </th>
                    <th scope="col" className="num">
                      RTT
                    </th>
                    <th scope="col" className="num">
                      cwnd (pkts)
                    </th>
                    <th scope="col" className="num">
                      MSS
                    </th>
                    <th scope="col" className="num" title={COLUMN.deliveryRate.title}>
                      {COLUMN.deliveryRate.label}
                    </th>
                    <th scope="col" className="num" title={COLUMN.retransPct.title}>
                      {COLUMN.retransPct.label}
                    </th>
                    <th scope="col">CC</th>
                  </tr>
                </thead>
                <tbody>
                  {c.subflows.map((s, i) => (
                    <SubflowRow
                      key={`${s.localAddress}:${s.localPort}-${s.remoteAddress}:${s.remotePort}`}
                      subflow={s}
                      health={(healths[i] ?? 'active') as SubflowHealthState}
                    />
                  ))}
                </tbody>
              </table>
            )}
          </td>
        </tr>
      ) : null}
    </tbody>
  );
});

/** Every connection of the latest snapshot with its subflows; only those in view are rendered. */
export function ConnectionsSection() {
  const snapshot = useConnections((s) => s.snapshot);
  const engineError = useConnections((s) => s.engineError);
  const loadError = useConnections((s) => s.loadError);
  const linkState = useSession((s) => s.state);
  const [collapsed, setCollapsed] = useState<ReadonlySet<number>>(() => new Set());
  const scrollRef = useRef<HTMLDivElement>(null);

  const toggle = useCallback(
    (token: number): void =>
      setCollapsed((prev) => {
        const next = new Set(prev);
        if (next.has(token)) next.delete(token);
        else next.add(token);
        return next;
      }),
    [],
  );

  const connections = snapshot?.connections ?? NONE;
  const stale = linkState !== 'open' && snapshot !== null;
  const estimateSize = (i: number): number => {
    const c = connections[i];
    if (!c || collapsed.has(c.token)) return CONNECTION_PX;
    return CONNECTION_PX + SUBFLOWS_TABLE_PX + SUBFLOW_PX * Math.max(1, c.subflows.length);
  };
  // Stable until the next snapshot: a new getItemKey makes the virtualiser lay out every row
  // again, which scrolling would otherwise do on each wheel step.
  const getItemKey = useCallback(
    (i: number) => {
      const c = connections[i];
      return c ? connectionKey(c) : -1 - i;
    },
    [connections],
  );
  const virtualizer = useRowVirtualizer({ count: connections.length, scrollRef, estimateSize, getItemKey });
  const pad = spacers(virtualizer);

  return (
    <section className="card" aria-labelledby="connections-heading">
      <header className="card-header">
        <h2 id="connections-heading">Connections</h2>
        {snapshot ? (
          <span className="muted" data-testid="snapshot-info" data-taken-at-ms={snapshot.takenAtMs}>
            {countOf(connections.length, 'connection')} · polled at {formatTime(snapshot.takenAtMs)} in{' '}
            {formatDurationUs(snapshot.pollDurationUs)}
            {snapshot.orphanSubflows > 0 ? ` · ${countOf(snapshot.orphanSubflows, 'orphan subflow')}` : ''}
          </span>
        ) : null}
      </header>

      {engineError ? (
        <Notice tone="bad" title="Could not read connections" testId="engine-error">
          <ErrorLine source={engineError.source} code={engineError.code} message={engineError.message} />
          {snapshot ? (
            <div>The table shows the last good snapshot ({formatTime(snapshot.takenAtMs)}).</div>
          ) : null}
        </Notice>
      ) : null}
      {stale ? (
        <Notice tone="warn" title="Not live">
          The connection to the engine is down; this is the snapshot from {formatTime(snapshot.takenAtMs)}.
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
      ) : connections.length === 0 ? (
        <p className="empty" data-testid="connections-empty">
          No MPTCP connections
        </p>
      ) : (
        <div className="virtual-scroll" ref={scrollRef} data-testid="connections-list">
          <table className="table connections" data-testid="connections-table">
            <colgroup>
              <col className="col-conn-token" />
              <col className="col-conn-path" />
              <col className="col-conn-state" />
              <col className="col-count" />
              <col className="col-bytes" />
              <col className="col-bytes" />
              <col className="col-bytes" />
            </colgroup>
            <thead>
              <tr>
                <th scope="col">Token</th>
                <th scope="col">Local → remote</th>
                <th scope="col">State</th>
                <th scope="col" className="num">
                  Subflows
                </th>
                <th scope="col" className="num" title={COLUMN.sentTotal.title}>
                  {COLUMN.sentTotal.label}
                </th>
                <th scope="col" className="num" title={COLUMN.receivedTotal.title}>
                  {COLUMN.receivedTotal.label}
                </th>
                <th scope="col" className="num" title={COLUMN.mptcpRetrans.title}>
                  {COLUMN.mptcpRetrans.label}
                </th>
              </tr>
            </thead>
            {pad.top > 0 ? (
              <tbody aria-hidden="true">
                <tr className="virtual-spacer" style={{ height: pad.top }}>
                  <td colSpan={CONNECTION_COLUMNS} />
                </tr>
              </tbody>
            ) : null}
            {virtualizer.getVirtualItems().map((v) => {
              const c = connections[v.index];
              if (!c) return null;
              return (
                <ConnectionRows
                  key={v.key}
                  connection={c}
                  health={healthKey(c, snapshot.takenAtMs)}
                  index={v.index}
                  expanded={!collapsed.has(c.token)}
                  onToggle={toggle}
                  measure={virtualizer.measureElement}
                />
              );
            })}
            {pad.bottom > 0 ? (
              <tbody aria-hidden="true">
                <tr className="virtual-spacer" style={{ height: pad.bottom }}>
                  <td colSpan={CONNECTION_COLUMNS} />
                </tr>
              </tbody>
            ) : null}
          </table>
        </div>
      )}
    </section>
  );
}
