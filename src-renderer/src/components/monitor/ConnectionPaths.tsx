import { useMemo } from 'react';
import { rateQualityOf, subflowHealthState } from '../../../../shared/health';
import { addressMatrix, connectionPaths } from '../../../../shared/paths';
import type { Connection } from '../../../../shared/types';
import { formatRate } from '../../format';
import { Badge } from '../Badge';
import { PathsTable, usePrevious } from '../PathsTable';

/**
 * One connection's paths: per interface (subflows, throughput, retransmissions) against the
 * previous reading of the same connection, and its subflows by local × remote address.
 */
export function ConnectionPaths({
  connection,
  readAtMs,
}: {
  connection: Connection | null;
  readAtMs: number | null;
}) {
  const reading = useMemo(
    () => (connection && readAtMs !== null ? { c: connection, atMs: readAtMs } : null),
    [connection, readAtMs],
  );
  const before = usePrevious(reading);
  const paths = useMemo(() => {
    if (!connection) return [];
    // The previous reading of this same connection (the detail may switch connections).
    const b = before && reading && before.c.token === reading.c.token ? before : null;
    return connectionPaths(connection, b?.c ?? null, b && reading ? reading.atMs - b.atMs : 0);
  }, [connection, reading, before]);
  if (!connection || connection.subflows.length === 0) return null;
  return (
    <div className="connection-paths">
      <div>
        <h3>Per interface</h3>
        <PathsTable paths={paths} testId="conn-paths-table" />
      </div>
      <div>
        <h3>Local × remote addresses</h3>
        <AddressMatrixTable connection={connection} readAtMs={readAtMs} />
      </div>
    </div>
  );
}

/** Subflows by local address (rows) and remote address (columns), each cell naming its interfaces. */
export function AddressMatrixTable({
  connection,
  readAtMs = null,
}: {
  connection: Connection;
  /** When `connection` was read (engine clock): a rate that is not current is marked (shared/health.ts). */
  readAtMs?: number | null;
}) {
  const rate = (s: Connection['subflows'][number]): string => {
    const quality = readAtMs === null ? 'current' : rateQualityOf(subflowHealthState(s, readAtMs));
    const r = formatRate(s.deliveryRateBytesPerSec);
    return quality === 'current' ? r : `${r} (${quality})`;
  };
  const m = useMemo(() => addressMatrix(connection), [connection]);
  return (
    <table className="table address-matrix" data-testid="address-matrix">
      <thead>
        <tr>
          <th scope="col">local ↓ · remote →</th>
          {m.remotes.map((r) => (
            <th key={r} scope="col" className="mono">
              {r}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {m.locals.map((l, i) => (
          <tr key={l} data-testid={`matrix-row-${l}`}>
            <th scope="row" className="mono">
              {l}
            </th>
            {m.remotes.map((r, j) => {
              const cell = m.cells[i]?.[j];
              const n = cell?.subflows.length ?? 0;
              return (
                <td key={r} data-testid={`matrix-cell-${l}-${r}`} data-subflows={n}>
                  {!cell || n === 0 ? (
                    <span className="muted">—</span>
                  ) : (
                    <>
                      <span className="strong">
                        {n} subflow{n === 1 ? '' : 's'}
                      </span>{' '}
                      {cell.ifnames.map((name) => (
                        <Badge key={name} tone={name === 'unknown' ? 'warn' : 'info'} title="leaves by">
                          {name}
                        </Badge>
                      ))}
                      <span
                        className="muted"
                        title="delivery rate (tcpi_delivery_rate) of each subflow, as last measured"
                      >
                        {' '}
                        {cell.subflows.map(rate).join(' + ')}
                      </span>
                    </>
                  )}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
