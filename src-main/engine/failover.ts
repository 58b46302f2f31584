/**
 * Failover, derived from the polls (docs/live-data.md, "Failover events"): a subflow stalling and
 * recovering (its health state from shared/health.ts going to and leaving 'stalled' between two
 * snapshots), most of a connection's traffic moving to another subflow (per-subflow throughput
 * from two readings of tcpi_bytes_acked + tcpi_bytes_received, uapi: linux/tcp.h), and the
 * kernel's own verdict, the MPTcpExt SubflowStale / SubflowRecover counters (stale_loss_cnt in
 * docs/kernel-interfaces.md), which count per namespace, not per subflow.
 *
 * Pure: the service feeds it each snapshot (and a counters reading now and then) and pushes what
 * it returns as `mptcp:failover:event`. The first snapshot is the baseline: a subflow already
 * stalled when the host starts is not reported as stalling then.
 *
 * It runs at every poll of the host, so it allocates nothing per subflow in the common case: a
 * connection whose snapshot object is the last poll's (the poll reuses the objects of sockets that
 * did not change: diag/poll-memory.ts) is skipped unless it has data waiting for an ACK (a stall
 * can then begin by time alone), and event objects are built only for events.
 */
import type { FailoverEvent, FailoverSubflow } from '../../shared/failover';
import { subflowHealthState } from '../../shared/health';
import type { Connection, ConnectionsSnapshot, Subflow } from '../../shared/types';

export interface FailoverOptions {
  /**
   * A subflow carries a connection's traffic when it has this share of it (a recent peak, halved
   * every second, so a subflow whose rate fell in the poll before it was found stalled counts).
   */
  carrierShare?: number;
  /** Below this many bytes a second (sent and received) a connection is idle: nothing moves. */
  minBytesPerSec?: number;
}

interface SubflowState {
  /** The subflow as last polled (snapshot objects are immutable). */
  s: Subflow;
  stalled: boolean;
  stalledSinceMs: number | null;
  tMs: number;
  bytes: number;
  /** The subflow's share of its connection's throughput: the recent peak, decaying. */
  share: number;
  /** Its share before this poll (what a failover is measured against). */
  prevShare: number;
  /** This poll: its throughput, and whether it is new (no rate yet). */
  bytesPerSec: number;
  /** Since the poll before. */
  dtMs: number;
  fresh: boolean;
  /** The poll (ConnState.polls) that last showed it. */
  seen: number;
}

interface ConnState {
  /** The connection object of the last poll: the same object again means nothing changed. */
  obj: Connection;
  /** By local port × 65536 + remote port; the addresses are checked on the stored subflow. */
  subs: Map<number, SubflowState>;
  /** Traffic left a subflow that stalled or closed, or went to a backup: the next move is "back". */
  failedOver: boolean;
  /** The subflow that carried most of the traffic at the last poll that measured it. */
  top: SubflowState | null;
  /** Carriers that closed or stalled, until a later poll shows where their traffic went. */
  pending: { from: Subflow; fromState: 'stalled' | 'closed'; atMs: number }[];
  polls: number;
  seenAtMs: number;
}

/** How long a carrier's loss waits for its traffic to show up elsewhere. */
const PENDING_MS = 10_000;

const portsKey = (s: Subflow): number => s.localPort * 65536 + s.remotePort;
const sameSubflow = (a: Subflow, b: Subflow): boolean =>
  a.localPort === b.localPort &&
  a.remotePort === b.remotePort &&
  a.localAddress === b.localAddress &&
  a.remoteAddress === b.remoteAddress;

/** The interface a subflow leaves by, once the poll resolves it (null before that). */
function ifnameOf(s: Subflow): string | null {
  const v = (s as { ifname?: unknown }).ifname;
  return typeof v === 'string' ? v : null;
}

export function failoverSubflow(s: Subflow): FailoverSubflow {
  return {
    localAddress: s.localAddress,
    localPort: s.localPort,
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
    backup: s.backup,
    ifname: ifnameOf(s),
  };
}

const COUNTERS = [
  ['SubflowStale', 'kernel-stale'],
  ['SubflowRecover', 'kernel-recover'],
] as const;

function blank(kind: FailoverEvent['kind'], timestampMs: number, token: number | null): FailoverEvent {
  return {
    timestampMs,
    kind,
    token,
    subflow: null,
    from: null,
    fromState: null,
    back: false,
    backoff: null,
    noAckMs: null,
    stalledForMs: null,
    share: null,
    count: null,
  };
}

export class FailoverDetector {
  private readonly conns = new Map<number, ConnState>();
  private counters: Record<string, number> | null = null;
  private readonly carrierShare: number;
  private readonly minBytesPerSec: number;

  constructor(opts: FailoverOptions = {}) {
    this.carrierShare = opts.carrierShare ?? 0.2;
    this.minBytesPerSec = opts.minBytesPerSec ?? 16 * 1024;
  }

  /**
   * The MPTcpExt counters read now: a rise of SubflowStale or SubflowRecover since the previous
   * reading is an event. A counter that went down (the namespace was recreated) is a new baseline.
   */
  observeCounters(counters: Record<string, number>, takenAtMs: number): FailoverEvent[] {
    const out: FailoverEvent[] = [];
    const prev = this.counters;
    this.counters = { ...counters };
    if (!prev) return out;
    for (const [name, kind] of COUNTERS) {
      const before = prev[name];
      const now = counters[name];
      if (before === undefined || now === undefined || now <= before) continue;
      out.push({ ...blank(kind, takenAtMs, null), count: now - before });
    }
    return out;
  }

  observe(snap: ConnectionsSnapshot): FailoverEvent[] {
    const t = snap.takenAtMs;
    const out: FailoverEvent[] = [];
    for (const c of snap.connections) {
      const cs = this.conns.get(c.token);
      if (!cs) {
        this.conns.set(c.token, this.baseline(c, t));
        continue;
      }
      cs.seenAtMs = t;
      if (cs.obj === c && !c.subflows.some((s) => s.unackedPkts > 0)) continue; // nothing moved
      this.connection(cs, c, t, out);
    }
    // Forget the connections the poll no longer shows.
    for (const [k, cs] of this.conns) if (cs.seenAtMs !== t) this.conns.delete(k);
    return out;
  }

  private baseline(c: Connection, t: number): ConnState {
    const cs: ConnState = {
      obj: c,
      subs: new Map(),
      failedOver: false,
      top: null,
      pending: [],
      polls: 0,
      seenAtMs: t,
    };
    for (const s of c.subflows) cs.subs.set(portsKey(s), this.fresh(s, t, 0));
    return cs;
  }

  private fresh(s: Subflow, t: number, poll: number): SubflowState {
    const stalled = subflowHealthState(s, t) === 'stalled';
    return {
      s,
      stalled,
      stalledSinceMs: stalled ? t : null,
      tMs: t,
      bytes: s.bytesAcked + s.bytesReceived,
      share: 0,
      prevShare: 0,
      bytesPerSec: 0,
      dtMs: 0,
      fresh: true,
      seen: poll,
    };
  }

  private connection(cs: ConnState, c: Connection, t: number, out: FailoverEvent[]): void {
    const poll = ++cs.polls;
    cs.obj = c;
    let total = 0;
    for (const s of c.subflows) {
      const key = portsKey(s);
      const st = cs.subs.get(key);
      if (!st || !sameSubflow(st.s, s)) {
        cs.subs.set(key, this.fresh(s, t, poll));
        continue;
      }
      const stalled = subflowHealthState(s, t) === 'stalled';
      if (stalled && !st.stalled) {
        out.push({
          ...blank('stalled', t, c.token),
          subflow: failoverSubflow(s),
          backoff: s.backoffCount,
          noAckMs: s.lastAckRecvAtMs === null ? null : Math.max(0, t - s.lastAckRecvAtMs),
        });
        st.stalledSinceMs = t;
      } else if (!stalled && st.stalled) {
        out.push({
          ...blank('recovered', t, c.token),
          subflow: failoverSubflow(s),
          stalledForMs: st.stalledSinceMs === null ? null : t - st.stalledSinceMs,
        });
        st.stalledSinceMs = null;
      }
      const bytes = s.bytesAcked + s.bytesReceived;
      const dtMs = t - st.tMs;
      st.bytesPerSec = dtMs > 0 && bytes >= st.bytes ? ((bytes - st.bytes) * 1000) / dtMs : 0;
      st.dtMs = dtMs;
      st.s = s;
      st.stalled = stalled;
      st.tMs = t;
      st.bytes = bytes;
      st.fresh = false;
      st.seen = poll;
      st.prevShare = st.share;
      total += st.bytesPerSec;
    }
    // A carrier (by its share before this poll) that closed or stalled: its traffic has to go
    // elsewhere. Where it went shows in a later poll (this one's interval may still hold what the
    // other subflows of a downed link delivered before it went down), so it waits in `pending`.
    for (const [k, st] of cs.subs) {
      const closed = st.seen !== poll;
      if (closed) cs.subs.delete(k);
      // A closed subflow's share is still the last poll's; a present one's moved on in this one.
      const before = closed ? st.share : st.prevShare;
      if (before < this.carrierShare || (!closed && !st.stalled)) continue;
      cs.pending.push({ from: st.s, fromState: closed ? 'closed' : 'stalled', atMs: t });
      st.share = 0;
      st.prevShare = 0;
    }
    // Losses whose traffic never showed up elsewhere (every path down) are left to the stall events.
    if (cs.pending.length > 0) cs.pending = cs.pending.filter((p) => t - p.atMs <= PENDING_MS);
    if (total < this.minBytesPerSec) return; // idle (or every path down): nothing moved
    let top: SubflowState | null = null;
    for (const st of cs.subs.values()) {
      if (st.fresh) continue;
      st.share = Math.max(st.bytesPerSec / total, st.prevShare * 0.5 ** (st.dtMs / 1000));
      if (!top || st.bytesPerSec > top.bytesPerSec) top = st;
    }
    if (!top) return;
    const prevTop = cs.top;
    cs.top = top;
    const to = top;
    const shareOf = (st: SubflowState): number => Math.min(1, st.bytesPerSec / total);
    const moved = (
      dest: SubflowState,
      from: Subflow,
      fromState: 'stalled' | 'closed' | 'active',
      back: boolean,
    ): FailoverEvent => ({
      ...blank('traffic-moved', t, c.token),
      subflow: failoverSubflow(dest.s),
      from: failoverSubflow(from),
      fromState,
      back,
      share: shareOf(dest),
    });
    const due = to.stalled ? [] : cs.pending.filter((p) => p.atMs < t);
    if (due.length > 0) {
      for (const p of due) out.push(moved(to, p.from, p.fromState, false));
      cs.pending = cs.pending.filter((p) => p.atMs >= t);
      cs.failedOver = true;
      return;
    }
    if (cs.pending.length > 0) return;
    if (!prevTop || prevTop === to || prevTop.seen !== poll) return;
    // Most of it on a backup now, and the regular subflow that had most of it carries little.
    if (to.s.backup && !prevTop.s.backup && shareOf(to) >= 0.5 && shareOf(prevTop) < this.carrierShare) {
      out.push(moved(to, prevTop.s, prevTop.stalled ? 'stalled' : 'active', false));
      cs.failedOver = true;
      return;
    }
    // After a failover, a regular subflow that carried nothing takes a carrier's share: back.
    if (!cs.failedOver) return;
    for (const st of cs.subs.values()) {
      if (st.fresh || st.s.backup || st === prevTop || st.stalled) continue;
      if (st.prevShare >= this.carrierShare || shareOf(st) < this.carrierShare) continue;
      out.push(moved(st, prevTop.s, prevTop.stalled ? 'stalled' : 'active', true));
      cs.failedOver = false;
      return;
    }
  }
}
