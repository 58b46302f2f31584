import type { Connection } from '../../../../shared/types';
import { formatDurationUs, formatRate, formatRttMs, hostPort } from '../../format';
import { Badge } from '../Badge';
import { subflowColor } from './MetricChart';
import type { SeriesMeta } from '../../state/monitor/samples-store';

/** The selected connection's subflows as last read (the fast loop, else the last snapshot). */
export function SubflowDetailTable({
  connection,
  series,
}: {
  connection: Connection | null;
  series: SeriesMeta[];
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
          <th scope="col">State</th>
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
          <th scope="col" className="num">
            Delivery rate
          </th>
          <th scope="col" className="num">
            Retrans (pkts)
          </th>
          <th scope="col">Backup</th>
        </tr>
      </thead>
      <tbody>
        {connection.subflows.map((s) => {
          const key = `${connection.token}|${s.localAddress}:${s.localPort}|${s.remoteAddress}:${s.remotePort}`;
          return (
            <tr key={key} data-testid="subflow-detail-row" data-rtt-us={s.rttUs} data-cwnd={s.cwndPkts}>
              <td className="mono">
                <span className="swatch" style={{ background: colorOf.get(key) ?? 'transparent' }} />
                {hostPort(s.localAddress, s.localPort)} <span className="arrow">→</span>{' '}
                {hostPort(s.remoteAddress, s.remotePort)}
              </td>
              <td>
                <span className="state">{s.state}</span>
              </td>
              <td className="num" title={`${s.rttUs} µs`}>
                {formatRttMs(s.rttUs)}
              </td>
              <td className="num">{formatDurationUs(s.rttVarUs)}</td>
              <td className="num">{s.cwndPkts}</td>
              <td className="num">{s.mssBytes}</td>
              <td className="num" title={`${s.deliveryRateBytesPerSec} bytes/s`}>
                {formatRate(s.deliveryRateBytesPerSec)}
              </td>
              <td className="num">{s.totalRetransPkts}</td>
              <td>{s.backup ? <Badge tone="info">backup</Badge> : <span className="muted">no</span>}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
