/**
 * Paths: what each interface carries, from the subflows' resolved interfaces (Subflow.ifname,
 * docs/live-data.md, Interfaces of subflows). Pure, shared by the renderer (Overview and the
 * connection detail), the CLI's text output and the Prometheus exporter, so that all three count
 * the same way.
 */
import type { Connection, Subflow } from './types';

/** Where subflows without a resolved interface are counted (no route, or an old recording). */
export const UNKNOWN_PATH = 'unknown';

/** The interface a subflow is counted under. */
export function subflowPath(s: Pick<Subflow, 'ifname'>): string {
  return s.ifname ?? UNKNOWN_PATH;
}

/** `::ffff:a.b.c.d` (an IPv4 subflow of a dual-stack socket) is the IPv4 address a.b.c.d. */
export function plainAddress(address: string): string {
  const a = address.toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export interface PathSummary {
  ifname: string;
  /** Live subflows on this interface (every TCP state the poll reports). */
  subflows: number;
  /** Of those, subflows with the local or the remote backup bit. */
  backupSubflows: number;
  /** Connections with at least one subflow on this interface. */
  connections: number;
  /** Sums of the live subflows' lifetime counters (uapi: linux/tcp.h tcpi_bytes_*). */
  bytesSent: number;
  bytesReceived: number;
  bytesRetrans: number;
  /** Throughput over the interval since the previous snapshot; null without one. */
  sentBytesPerSec: number | null;
  receivedBytesPerSec: number | null;
  /**
   * Retransmitted bytes per byte sent, in %: over the interval when bytes were sent in it, else
   * over the subflows' lifetime (`retransOver` says which); null when nothing was sent at all.
   */
  retransPct: number | null;
  retransOver: 'interval' | 'lifetime';
}

/** The previous snapshot a rate is computed against. */
export interface PathBase {
  connections: readonly Connection[];
  takenAtMs: number;
}

interface Acc {
  summary: PathSummary;
  lastToken: number;
  sentDelta: number;
  receivedDelta: number;
  retransDelta: number;
}

/** Growth since the previous snapshot; a subflow first seen brings what it carried so far. */
function grown(before: number | undefined, now: number): number {
  return before === undefined || now < before ? now : now - before;
}

const sameTuple = (a: Subflow, b: Subflow): boolean =>
  a.localPort === b.localPort &&
  a.remotePort === b.remotePort &&
  a.localAddress === b.localAddress &&
  a.remoteAddress === b.remoteAddress;

/** The subflow of `before` with the 4-tuple of `s` (`k`: where it usually is, same position). */
function previousOf(before: Connection, s: Subflow, k: number): Subflow | undefined {
  const subs = before.subflows;
  const at = subs[k];
  if (at !== undefined && (at === s || sameTuple(at, s))) return at;
  for (let j = 0; j < subs.length; j++) {
    const o = subs[j]!;
    if (o === s || sameTuple(o, s)) return o;
  }
  return undefined;
}

function accumulate(by: Map<string, Acc>, c: Connection, before: Connection | undefined): void {
  const subflows = c.subflows;
  for (let k = 0; k < subflows.length; k++) {
    const s = subflows[k]!;
    const name = subflowPath(s);
    let acc = by.get(name);
    if (!acc) {
      acc = {
        summary: {
          ifname: name,
          subflows: 0,
          backupSubflows: 0,
          connections: 0,
          bytesSent: 0,
          bytesReceived: 0,
          bytesRetrans: 0,
          sentBytesPerSec: null,
          receivedBytesPerSec: null,
          retransPct: null,
          retransOver: 'lifetime',
        },
        lastToken: -1,
        sentDelta: 0,
        receivedDelta: 0,
        retransDelta: 0,
      };
      by.set(name, acc);
    }
    const p = acc.summary;
    p.subflows++;
    if (s.backup) p.backupSubflows++;
    if (acc.lastToken !== c.token) {
      p.connections++;
      acc.lastToken = c.token;
    }
    p.bytesSent += s.bytesSent;
    p.bytesReceived += s.bytesReceived;
    p.bytesRetrans += s.bytesRetrans;
    // An unchanged connection object (docs/live-data.md: unchanged sockets keep their objects)
    // carried nothing in the interval.
    if (before === c) continue;
    const old = before === undefined ? undefined : previousOf(before, s, k);
    acc.sentDelta += grown(old?.bytesSent, s.bytesSent);
    acc.receivedDelta += grown(old?.bytesReceived, s.bytesReceived);
    acc.retransDelta += grown(old?.bytesRetrans, s.bytesRetrans);
  }
}

/**
 * Per interface: subflows, connections, byte totals and, against `base` (the previous snapshot),
 * throughput and the retransmission share. Sorted by name, `unknown` last.
 */
export function summarizePaths(
  connections: readonly Connection[],
  base: PathBase | null = null,
  takenAtMs: number | null = null,
): PathSummary[] {
  const dtMs = base && takenAtMs !== null ? takenAtMs - base.takenAtMs : 0;
  const by = new Map<string, Acc>();
  if (!base || dtMs <= 0) {
    for (const c of connections) accumulate(by, c, c);
    return finish(by, 0);
  }
  // Polls list the connections in the same order from one to the next: look at the same position
  // first, and build a token index only for a connection found elsewhere.
  const old = base.connections;
  let byToken: Map<number, Connection> | null = null;
  for (let i = 0; i < connections.length; i++) {
    const c = connections[i]!;
    let before: Connection | undefined = old[i];
    if (before === undefined || before.token !== c.token) {
      byToken ??= new Map(old.map((o) => [o.token, o]));
      before = byToken.get(c.token);
    }
    accumulate(by, c, before);
  }
  return finish(by, dtMs);
}

/** The same for one connection's subflows, against the same connection read `dtMs` earlier. */
export function connectionPaths(c: Connection, before: Connection | null = null, dtMs = 0): PathSummary[] {
  const by = new Map<string, Acc>();
  accumulate(by, c, before && dtMs > 0 ? before : c);
  return finish(by, before && dtMs > 0 ? dtMs : 0);
}

function finish(by: Map<string, Acc>, dtMs: number): PathSummary[] {
  const out: PathSummary[] = [];
  for (const acc of by.values()) {
    const p = acc.summary;
    if (dtMs > 0) {
      p.sentBytesPerSec = (acc.sentDelta * 1000) / dtMs;
      p.receivedBytesPerSec = (acc.receivedDelta * 1000) / dtMs;
    }
    if (dtMs > 0 && acc.sentDelta > 0) {
      p.retransPct = (100 * acc.retransDelta) / acc.sentDelta;
      p.retransOver = 'interval';
    } else if (p.bytesSent > 0) {
      p.retransPct = (100 * p.bytesRetrans) / p.bytesSent;
    }
    out.push(p);
  }
  return out.sort((a, b) =>
    a.ifname === b.ifname
      ? 0
      : a.ifname === UNKNOWN_PATH
        ? 1
        : b.ifname === UNKNOWN_PATH
          ? -1
          : a.ifname < b.ifname
            ? -1
            : 1,
  );
}

export interface MatrixCell {
  /** The subflows between this local and this remote address, in the connection's order. */
  subflows: Subflow[];
  /** Their interfaces, each once, in order of appearance. */
  ifnames: string[];
}

/** One connection's subflows by local address (rows) and remote address (columns). */
export interface AddressMatrix {
  locals: string[];
  remotes: string[];
  /** cells[row][column]. */
  cells: MatrixCell[][];
}

/** Addresses in order of first appearance; v4-mapped addresses as plain IPv4. */
export function addressMatrix(c: Pick<Connection, 'subflows'>): AddressMatrix {
  const locals: string[] = [];
  const remotes: string[] = [];
  for (const s of c.subflows) {
    const l = plainAddress(s.localAddress);
    const r = plainAddress(s.remoteAddress);
    if (!locals.includes(l)) locals.push(l);
    if (!remotes.includes(r)) remotes.push(r);
  }
  const cells = locals.map(() => remotes.map((): MatrixCell => ({ subflows: [], ifnames: [] })));
  for (const s of c.subflows) {
    const cell =
      cells[locals.indexOf(plainAddress(s.localAddress))]?.[remotes.indexOf(plainAddress(s.remoteAddress))];
    if (!cell) continue;
    cell.subflows.push(s);
    const name = subflowPath(s);
    if (!cell.ifnames.includes(name)) cell.ifnames.push(name);
  }
  return { locals, remotes, cells };
}
