import { useMemo } from 'react';
import { summarizePaths, type PathBase, type PathSummary } from '../../../shared/paths';
import type { ConnectionsSnapshot } from '../../../shared/types';
import { useConnections } from '../state/stores';
import { PathsTable, usePrevious } from './PathsTable';

/**
 * Per interface, from the live connections: what each path carries now. Throughput is the growth
 * of the subflows' byte counters between the last two snapshots (shared/paths.ts).
 */
export function usePathSummaries(snapshot: ConnectionsSnapshot | null): PathSummary[] {
  const before = usePrevious(snapshot);
  return useMemo(() => {
    if (!snapshot) return [];
    const base: PathBase | null = before
      ? { connections: before.connections, takenAtMs: before.takenAtMs }
      : null;
    return summarizePaths(snapshot.connections, base, snapshot.takenAtMs);
  }, [snapshot, before]);
}

export function PathsSection() {
  const snapshot = useConnections((s) => s.snapshot);
  const paths = usePathSummaries(snapshot);
  return (
    <section className="card" aria-labelledby="paths-heading" data-testid="paths-section">
      <header className="card-header">
        <h2 id="paths-heading">Paths</h2>
        <span className="muted">
          which interface each subflow leaves by (its bound device, else the kernel&apos;s route)
        </span>
      </header>
      {snapshot === null ? (
        <p className="muted">Shown once the first connections snapshot arrives.</p>
      ) : paths.length === 0 ? (
        <p className="empty" data-testid="paths-empty">
          No subflows
        </p>
      ) : (
        <PathsTable paths={paths} testId="paths-table" />
      )}
    </section>
  );
}
