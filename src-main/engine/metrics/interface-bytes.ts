/**
 * Per-interface subflow byte counters that stay monotonic while connections come and go.
 *
 * A subflow's tcp_info byte counters (uapi: linux/tcp.h tcpi_bytes_sent, tcpi_bytes_received,
 * tcpi_bytes_retrans) vanish with the socket, so summing the live subflows would make a
 * per-interface total drop whenever a connection closes. Instead every poll adds, per subflow, what
 * its counters grew since the previous poll to the total of the interface the subflow uses now.
 *
 * Which interface: the one the engine resolved for the subflow (Subflow.ifname: its bound device,
 * else the kernel's route for its source and destination; docs/live-data.md, Interfaces of
 * subflows), counted as shared/paths.ts counts it everywhere else. A subflow the engine could not
 * resolve (no route) counts as "unknown". A subflow whose route moves to another interface counts
 * what it carries from then on there.
 *
 * What is not counted: the bytes a subflow carries between its last poll and its close, and
 * connections that open and close between two polls (the poll interval bounds both). Totals live
 * in the exporter process: a restart starts them at zero, which Prometheus treats as a counter
 * reset (rate() and increase() account for it).
 */
import { subflowPath, UNKNOWN_PATH } from '../../../shared/paths';
import type { ConnectionsSnapshot, Subflow } from '../../../shared/types';

export const UNKNOWN_INTERFACE = UNKNOWN_PATH;

export interface InterfaceBytes {
  sentBytes: number;
  receivedBytes: number;
  retransmittedBytes: number;
}

/** The interface a subflow's bytes are counted under. */
export const subflowInterface = (s: Pick<Subflow, 'ifname'>): string => subflowPath(s);

/** A subflow's counters at the previous poll, with its 4-tuple (its identity inside the connection). */
interface SeenSubflow {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  sentBytes: number;
  receivedBytes: number;
  retransmittedBytes: number;
}

export class InterfaceByteCounters {
  /**
   * Last counters of every live subflow: by the connection's local token (a number key, no string
   * built per subflow: 20,000 subflows are folded every second), then by 4-tuple within it (a
   * connection has a handful of subflows: a linear match). A 4-tuple reused by a later connection
   * comes with another token, so it is a new subflow, counted from zero.
   */
  private last = new Map<number, SeenSubflow[]>();
  private readonly totals = new Map<string, InterfaceBytes>();
  private tracked = 0;

  /**
   * Adds what every subflow of `snapshot` carried since the previous call; `visit` sees each
   * subflow with its interface (the caller's counts, without resolving the interface again).
   */
  update(snapshot: ConnectionsSnapshot, visit?: (itf: string, s: Subflow) => void): void {
    const next = new Map<number, SeenSubflow[]>();
    let tracked = 0;
    let lastItf = '';
    let t: InterfaceBytes | undefined;
    for (const c of snapshot.connections) {
      const prev = this.last.get(c.token);
      const seen: SeenSubflow[] = [];
      for (const s of c.subflows) {
        const before = prev?.find(
          (p) =>
            p.localPort === s.localPort &&
            p.remotePort === s.remotePort &&
            p.localAddress === s.localAddress &&
            p.remoteAddress === s.remoteAddress,
        );
        seen.push({
          localAddress: s.localAddress,
          localPort: s.localPort,
          remoteAddress: s.remoteAddress,
          remotePort: s.remotePort,
          sentBytes: s.bytesSent,
          receivedBytes: s.bytesReceived,
          retransmittedBytes: s.bytesRetrans,
        });
        const itf = subflowPath(s);
        visit?.(itf, s);
        if (itf !== lastItf || !t) {
          t = this.totals.get(itf);
          if (!t) {
            t = { sentBytes: 0, receivedBytes: 0, retransmittedBytes: 0 };
            this.totals.set(itf, t);
          }
          lastItf = itf;
        }
        t.sentBytes += grown(before?.sentBytes, s.bytesSent);
        t.receivedBytes += grown(before?.receivedBytes, s.bytesReceived);
        t.retransmittedBytes += grown(before?.retransmittedBytes, s.bytesRetrans);
      }
      tracked += seen.length;
      if (seen.length > 0) next.set(c.token, seen);
    }
    this.last = next;
    this.tracked = tracked;
  }

  /** Totals per interface since this process started (a copy). */
  snapshot(): Map<string, InterfaceBytes> {
    return new Map([...this.totals].map(([k, v]) => [k, { ...v }]));
  }

  /** Live subflows remembered (the accumulator's memory, for the exporter's own metrics). */
  get trackedSubflows(): number {
    return this.tracked;
  }
}

/** Growth since the previous poll; a subflow seen for the first time brings everything it has. */
function grown(before: number | undefined, now: number): number {
  if (before === undefined || now < before) return now;
  return now - before;
}
