/**
 * The independent views the exporter's tests compare with: `ss` (iproute2) for connections and
 * subflows, `nstat` for the MPTcpExt counters, read inside a lab namespace.
 */
import { nsRun } from './lab';

/** MPTcpExt counters as nstat prints them (absolute, zeros included, history untouched). */
export async function nstatMptcp(ns: string): Promise<Map<string, number>> {
  // -a absolute values, -s do not update nstat's history file, -z zeros too.
  const { stdout } = await nsRun(ns, 'nstat', ['-asz']);
  const out = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    const m = /^MPTcpExt(\S+)\s+(\d+)/.exec(line);
    if (m?.[1] && m[2]) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** Non-listening MPTCP sockets (`ss -M` without -a), optionally in one state. */
export async function ssMptcpCount(ns: string, state?: string): Promise<number> {
  const { stdout } = await nsRun(ns, 'ss', ['-MHn', ...(state ? ['state', state] : [])]);
  return stdout.split('\n').filter((l) => l.trim() !== '').length;
}

export interface SsSubflow {
  localAddress: string;
  bytesSent: number;
  bytesReceived: number;
  bytesRetrans: number;
}

/** TCP sockets that are MPTCP subflows (tcp-ulp-mptcp) with their tcp_info byte counters. */
export async function ssSubflows(ns: string): Promise<SsSubflow[]> {
  const { stdout } = await nsRun(ns, 'ss', ['-tinH']);
  const out: SsSubflow[] = [];
  let local: string | null = null;
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      // State Recv-Q Send-Q Local:Port Peer:Port
      const addr = line.trim().split(/\s+/)[3] ?? '';
      local = addr.slice(0, addr.lastIndexOf(':')).replace(/^\[|\]$/g, '');
      continue;
    }
    if (local === null || !line.includes('tcp-ulp-mptcp')) continue;
    const num = (k: string): number => Number(new RegExp(`\\b${k}:(\\d+)`).exec(line)?.[1] ?? 0);
    out.push({
      localAddress: local,
      bytesSent: num('bytes_sent'),
      bytesReceived: num('bytes_received'),
      bytesRetrans: num('bytes_retrans'),
    });
    local = null;
  }
  return out;
}
