import { memo, useState } from 'react';
import type { PathSummary } from '../../../shared/paths';
import { formatBytes, formatPercent, formatRate } from '../format';

/**
 * Per interface (path): subflows, throughput sent and received, retransmission share
 * (shared/paths.ts summarizePaths / connectionPaths). Used by the Overview and the connection detail.
 */
export const PathsTable = memo(function PathsTable({
  paths,
  testId,
}: {
  paths: readonly PathSummary[];
  testId: string;
}) {
  return (
    <table className="table paths" data-testid={testId}>
      <thead>
        <tr>
          <th scope="col">Interface</th>
          <th scope="col" className="num">
            Subflows
          </th>
          <th scope="col" className="num">
            Send rate
          </th>
          <th scope="col" className="num">
            Receive rate
          </th>
          <th scope="col" className="num" title="retransmitted bytes per byte sent">
            Retrans %
          </th>
        </tr>
      </thead>
      <tbody>
        {paths.map((p) => (
          <tr
            key={p.ifname}
            data-testid={`path-row-${p.ifname}`}
            data-subflows={p.subflows}
            data-sent-bytes-per-sec={p.sentBytesPerSec ?? ''}
          >
            <td className="mono strong">{p.ifname}</td>
            <td
              className="num"
              title={`${p.connections} connection${p.connections === 1 ? '' : 's'}${p.backupSubflows ? `, ${p.backupSubflows} backup subflow(s)` : ''}`}
            >
              {p.subflows}
              {p.backupSubflows ? <span className="muted"> ({p.backupSubflows} backup)</span> : null}
            </td>
            <td className="num" title={`lifetime ${formatBytes(p.bytesSent)} sent`}>
              {p.sentBytesPerSec === null ? <span className="muted">—</span> : formatRate(p.sentBytesPerSec)}
            </td>
            <td className="num" title={`lifetime ${formatBytes(p.bytesReceived)} received`}>
              {p.receivedBytesPerSec === null ? (
                <span className="muted">—</span>
              ) : (
                formatRate(p.receivedBytesPerSec)
              )}
            </td>
            <td
              className="num"
              title={
                p.retransOver === 'interval'
                  ? 'over the last interval'
                  : 'over the subflows’ lifetime (nothing sent in the last interval)'
              }
            >
              {p.retransPct === null ? <span className="muted">—</span> : formatPercent(p.retransPct, 100)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
});

/**
 * The value this hook was called with before the current one (null at first): a new value moves
 * the current one back. State set while rendering, React's way to keep what an earlier render saw.
 */
export function usePrevious<T>(value: T): T | null {
  const [pair, setPair] = useState<{ current: T; before: T | null }>({ current: value, before: null });
  if (pair.current !== value) {
    setPair({ current: value, before: pair.current });
    return pair.current;
  }
  return pair.before;
}
