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
  remoteAddress: string;
  /**
   * The interface it leaves by, as iproute2 says: `ip route get REMOTE from LOCAL`'s dev, else
   * (no route: its link is down) the interface `ip addr` lists the local address on — what the
   * exporter's per-interface metrics mean (docs/live-data.md, Interfaces of subflows).
   */
  ifname: string | null;
  bytesSent: number;
  bytesReceived: number;
  bytesRetrans: number;
}

/** TCP sockets that are MPTCP subflows (tcp-ulp-mptcp) with their tcp_info byte counters. */
export async function ssSubflows(ns: string): Promise<SsSubflow[]> {
  const { stdout } = await nsRun(ns, 'ss', ['-tinH']);
  const out: SsSubflow[] = [];
  let local: string | null = null;
  let remote = '';
  const host = (addr: string): string => addr.slice(0, addr.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      // State Recv-Q Send-Q Local:Port Peer:Port
      const cols = line.trim().split(/\s+/);
      local = host(cols[3] ?? '');
      remote = host(cols[4] ?? '');
      continue;
    }
    if (local === null || !line.includes('tcp-ulp-mptcp')) continue;
    const num = (k: string): number => Number(new RegExp(`\\b${k}:(\\d+)`).exec(line)?.[1] ?? 0);
    out.push({
      localAddress: local,
      remoteAddress: remote,
      ifname: null,
      bytesSent: num('bytes_sent'),
      bytesReceived: num('bytes_received'),
      bytesRetrans: num('bytes_retrans'),
    });
    local = null;
  }
  const devs = new Map<string, string | null>();
  let owners: Map<string, string> | null = null;
  for (const s of out) {
    const key = `${s.localAddress}|${s.remoteAddress}`;
    if (!devs.has(key)) {
      const r = await nsRun(ns, 'ip', ['route', 'get', s.remoteAddress, 'from', s.localAddress]).catch(
        () => null,
      );
      let dev = r ? (/ dev (\S+)/.exec(r.stdout)?.[1] ?? null) : null;
      if (dev === null) {
        owners ??= await addressOwners(ns);
        dev = owners.get(s.localAddress) ?? null;
      }
      devs.set(key, dev);
    }
    s.ifname = devs.get(key) ?? null;
  }
  return out;
}

/** Local address → the interface `ip -o addr show` lists it on. */
async function addressOwners(ns: string): Promise<Map<string, string>> {
  const { stdout } = await nsRun(ns, 'ip', ['-o', 'addr', 'show']);
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet6?\s+([^/\s]+)/.exec(line);
    if (m?.[1] && m[2]) out.set(m[2], m[1].replace(/@.*$/, ''));
  }
  return out;
}
