/**
 * `mptcp-studio counters`: the MPTcpExt counters, each with a line saying what it counts
 * (shared/mptcp-counters.ts). JSON output (--json) is the contract's type, unformatted.
 */
import { counterText } from '../../shared/mptcp-counters';

export function formatCounters(counters: Record<string, number>, all: boolean): string {
  const entries = Object.entries(counters);
  if (entries.length === 0) return 'this kernel reports no MPTcpExt counters\n';
  const shown = all ? entries : entries.filter(([, v]) => v > 0);
  if (shown.length === 0)
    return `${entries.length === 1 ? 'the one MPTcpExt counter is' : `all ${entries.length} MPTcpExt counters are`} 0 (--all lists them)\n`;
  const nameWidth = Math.max(...shown.map(([k]) => k.length));
  const valueWidth = Math.max(...shown.map(([, v]) => String(v).length));
  return shown
    .map(
      ([k, v]) =>
        `${k.padEnd(nameWidth)}  ${String(v).padStart(valueWidth)}  ${counterText(k) ?? '(not described by this version)'}`,
    )
    .join('\n')
    .concat('\n');
}
