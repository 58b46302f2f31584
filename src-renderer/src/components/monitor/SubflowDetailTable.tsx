import { classifySubflow } from '../../../../shared/health';
import type { Connection } from '../../../../shared/types';
import { formatDurationUs, formatRttMs, hostPort, retransPercent } from '../../format';
import { COLUMN } from '../../labels';
import { BackupBadge, DeliveryRateCell, HEALTH_COLUMN_TITLE, HealthBadge } from './SubflowHealth';
import { subflowColor } from './MetricChart';
import type { SeriesMeta } from '../../state/monitor/samples-store';

/**
 * The selected connection's subflows as last read (the fast loop, else the last snapshot), with
 * their health judged at `readAtMs`: when that reading was taken, on the engine's clock.
 */
export function SubflowDetailTable({
  connection,
  series,
  readAtMs,
}: {
  connection: Connection | null;
  series: SeriesMeta[];
  readAtMs: number | null;
}) {
  if (!connection) return <p className="muted">No reading of this connection is kept any more.</p>;
  if (connection.subflows.length === 0)
    return <p className="muted">No subflow details in the last reading.</p>;
  const colorOf = new Map(series.map((m, i) => [m.key, subflowColor(i)]));
  return (
    <table className="table subflow-detail" data-testid="subflow-detail-table">
      <thead>
        <tr>
          <th scope="col">Subflow local → remote</th>
          <th scope="col">Interface</th>
          <th scope="col">State</th>
          <th scope="col" title={HEALTH_COLUMN_TITLE}>
            Health
          </th>
          <th scope="col" className="num">
            RTT
          </th>
          <th scope="col" className="num">
            RTT var
          </th>
          <th scope="col" className="num">
            cwnd (pkts)
          </th>
          <th scope="col" className="num">
            MSS (B)
          </th>
          <th scope="col" className="num" title={COLUMN.deliveryRate.title}>
            {COLUMN.deliveryRate.label}
          </th>
          <th scope="col" className="num" title={COLUMN.tcpRetransPkts.title}>
            {COLUMN.tcpRetransPkts.label}
          </th>
          <th scope="col" className="num" title={COLUMN.retransPct.title}>
            {COLUMN.retransPct.label}
          </th>
          <th
            scope="col"
            title="Whose backup flag is set: ours (MPTCP_SUBFLOW_FLAG_BKUP_LOC) or the peer's (BKUP_REM)"
          >
            Backup
          </th>
        </tr>
      </thead>
      <tbody>
        {connection.subflows.map((s) => {
          const key = `${connection.token}|${s.localAddress}:${s.localPort}|${s.remoteAddress}:${s.remotePort}`;
          const h = classifySubflow(s, readAtMs ?? 0);
          return (
            <tr
              key={key}
              data-testid="subflow-detail-row"
              data-rtt-us={s.rttUs}
              data-cwnd={s.cwndPkts}
              data-health={h.state}
            >
              <td className="mono">
                <span className="swatch" style={{ background: colorOf.get(key) ?? 'transparent' }} />
                {hostPort(s.localAddress, s.localPort)} <span className="arrow">→</span>{' '}
                {hostPort(s.remoteAddress, s.remotePort)}
              </td>
              <td className="mono" data-testid="subflow-ifname">
                {s.ifname ?? <span className="muted">?</span>}
              </td>
              <td>
                <span className="state">{s.state}</span>
              </td>
              <td>
                <HealthBadge state={h.state} subflow={s} reasons={h.stallReasons} />
              </td>
              <td className="num" title={`${s.rttUs} µs`}>
                {formatRttMs(s.rttUs)}
              </td>
              <td className="num">{formatDurationUs(s.rttVarUs)}</td>
              <td className="num">{s.cwndPkts}</td>
              <td className="num">{s.mssBytes}</td>
              <DeliveryRateCell bytesPerSec={s.deliveryRateBytesPerSec} state={h.state} />
              <td className="num">{s.totalRetransPkts}</td>
              <td
                className="num"
                data-testid="subflow-retrans-pct"
                title={`${s.bytesRetrans} of ${s.bytesSent} bytes sent were retransmissions`}
              >
                {retransPercent(s) ?? <span className="muted">—</span>}
              </td>
              <td>
                {h.backupLoc || h.backupRem ? (
                  <BackupBadge flags={s.flags} />
                ) : (
                  <span className="muted">no</span>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
