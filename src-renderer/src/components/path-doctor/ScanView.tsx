/**
 * A scan's records: filter by text or class, exported as CSV or JSON (the CLI's formats,
 * shared/path-doctor-format.ts). Shown while the scan runs too, from its progress events.
 */
import { useMemo, useState } from 'react';
import type { ScanClass, ScanRecord, ScanSummary } from '../../../../shared/path-doctor';
import { ScanClassSchema } from '../../../../shared/path-doctor';
import { scanRecordsToCsv, sortScanRecords } from '../../../../shared/path-doctor-format';
import { downloadText } from '../../download';
import { countOf } from '../../format';
import { Badge, type Tone } from '../Badge';

export const SCAN_CLASS_TONE: Record<ScanClass, Tone> = {
  'mptcp-v1': 'ok',
  'mptcp-v0': 'info',
  mirror: 'warn',
  tcp: 'off',
  closed: 'neutral',
  filtered: 'neutral',
  'syn-blackhole': 'bad',
};

/** Rows drawn at once; the rest is one filter or export away. */
const ROWS_SHOWN = 1000;

export function filterScanRecords(
  records: readonly ScanRecord[],
  text: string,
  cls: ScanClass | 'all',
): ScanRecord[] {
  const q = text.trim().toLowerCase();
  return records.filter(
    (r) =>
      (cls === 'all' || r.class === cls) &&
      (q === '' ||
        r.target.includes(q) ||
        (r.host ?? '').toLowerCase().includes(q) ||
        String(r.port) === q ||
        r.reason.toLowerCase().includes(q)),
  );
}

function flags(r: ScanRecord): string {
  if (!r.mptcp) return '';
  const f = [`v${r.mptcp.version}`];
  if (r.mptcp.checksumRequired) f.push('checksum required');
  if (r.mptcp.denyJoinInitialAddress) f.push('no join to this address');
  return f.join(', ');
}

export function ScanView({
  records,
  summary,
  live,
  stamp,
}: {
  records: readonly ScanRecord[];
  summary: ScanSummary | null;
  live: boolean;
  /** For export file names. */
  stamp: number;
}) {
  const [text, setText] = useState('');
  const [cls, setCls] = useState<ScanClass | 'all'>('all');
  const sorted = useMemo(() => sortScanRecords(records), [records]);
  const rows = useMemo(() => filterScanRecords(sorted, text, cls), [sorted, text, cls]);
  const counts = useMemo(() => {
    const c: Record<string, number> = {};
    for (const r of records) c[r.class] = (c[r.class] ?? 0) + 1;
    return c;
  }, [records]);
  const name = `mptcp-scan-${stamp}`;
  return (
    <section className="card" data-testid="scan-result">
      <header className="card-header">
        <h2>Scan results</h2>
        <span className="scan-counts" data-testid="scan-counts">
          {ScanClassSchema.options
            .filter((k) => counts[k])
            .map((k) => (
              <button
                key={k}
                type="button"
                className="badge-button"
                title={cls === k ? 'show every class' : `show only ${k}`}
                aria-pressed={cls === k}
                onClick={() => setCls(cls === k ? 'all' : k)}
              >
                <Badge tone={SCAN_CLASS_TONE[k]}>
                  {counts[k]} {k}
                </Badge>
              </button>
            ))}
        </span>
        <span className="spacer" />
        {summary?.cancelled ? <Badge tone="warn">cancelled</Badge> : null}
        <button
          type="button"
          className="button"
          data-testid="scan-export-csv"
          disabled={rows.length === 0}
          onClick={() => downloadText(`${name}.csv`, scanRecordsToCsv(rows), 'text/csv;charset=utf-8')}
        >
          Export CSV
        </button>
        <button
          type="button"
          className="button"
          data-testid="scan-export-json"
          disabled={rows.length === 0}
          onClick={() =>
            downloadText(
              `${name}.json`,
              `${JSON.stringify({ records: rows, summary }, null, 2)}\n`,
              'application/json',
            )
          }
        >
          Export JSON
        </button>
      </header>
      <div className="pd-toolbar">
        <input
          type="search"
          placeholder="Filter: address, host, port or reason"
          value={text}
          onChange={(e) => setText(e.target.value)}
          data-testid="scan-filter"
        />
        <select
          value={cls}
          onChange={(e) => setCls(e.target.value as ScanClass | 'all')}
          data-testid="scan-filter-class"
        >
          <option value="all">every class</option>
          {ScanClassSchema.options.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <span className="muted" data-testid="scan-shown">
          {rows.length === records.length
            ? countOf(records.length, 'result')
            : `${rows.length} of ${countOf(records.length, 'result')}`}
          {live ? ' so far' : ''}
          {summary
            ? ` · ${countOf(summary.probesSent, 'probe')} in ${(summary.elapsedMs / 1000).toFixed(1)} s (${summary.mode} mode)`
            : ''}
          {rows.length > ROWS_SHOWN ? ` · the first ${ROWS_SHOWN} shown; export for all` : ''}
        </span>
      </div>
      <div className="table-scroll">
        <table className="table compact" data-testid="scan-table">
          <thead>
            <tr>
              <th>Target</th>
              <th className="num">Port</th>
              <th>Class</th>
              <th>MPTCP</th>
              <th>Join</th>
              <th className="num">RTT</th>
              <th>Why</th>
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, ROWS_SHOWN).map((r) => (
              <tr key={`${r.target}|${r.port}`} data-testid="scan-row" data-class={r.class}>
                <td className="mono">
                  {r.target}
                  {r.host ? <span className="muted"> {r.host}</span> : null}
                </td>
                <td className="num">{r.port}</td>
                <td>
                  <Badge tone={SCAN_CLASS_TONE[r.class]}>{r.class}</Badge>
                </td>
                <td>{flags(r)}</td>
                <td>{r.join ?? ''}</td>
                <td className="num">{r.rttMs === null ? '' : `${r.rttMs.toFixed(2)} ms`}</td>
                <td className="reason">{r.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {records.length === 0 ? (
          <p className="empty">{live ? 'Waiting for the first answers…' : 'No results.'}</p>
        ) : null}
      </div>
    </section>
  );
}
