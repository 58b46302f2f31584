/**
 * What the host remembers so that a reload, a second window or a detail view opened late shows
 * what happened: per subflow the charted series (RTT, cwnd, send/receive throughput, TCP
 * retransmissions) at the poll rate, and the timeline (kernel events, path-manager actions, failover,
 * configuration outcomes), each for the last `retentionMs`.
 *
 * Memory is bounded by construction: a subflow's samples live in typed-array rings (25 bytes a
 * sample, grown by doubling up to retentionMs / pollIntervalMs), subflows not seen for
 * retentionMs are dropped, at most maxSubflows are kept, and the timeline holds at most
 * maxEvents entries. `npm run bench:history` measures it (docs/performance.md).
 */
import type { EventName, EventPayload } from '../../shared/contract';
import type { ConnectionHistory, HistorySamples, TimelineEntry, TimelineHistory } from '../../shared/history';
import { healthCode, subflowHealthState } from '../../shared/health';
import type { ConnectionsSnapshot } from '../../shared/types';

export interface HistoryOptions {
  retentionMs: number;
  /** The poll interval the host runs at: rings hold retentionMs / pollIntervalMs samples. */
  pollIntervalMs: number;
  maxSubflows?: number;
  maxEvents?: number;
}

/** Throughput from two readings of a byte counter; NaN on a reset (the counter went down). */
function rate(prev: number, now: number, dtMs: number): number {
  return dtMs > 0 && now >= prev ? ((now - prev) * 1000) / dtMs : Number.NaN;
}

/** A health code no state has (shared/health.ts healthCode gives 0..3). */
const UNKNOWN_HEALTH = 255;

/** One subflow's samples: parallel typed-array rings. */
class SubflowRing {
  /** Sample times as ms after `baseMs` (u32: 49 days). */
  private t: Uint32Array;
  private rtt: Float32Array;
  private cwnd: Float32Array;
  private send: Float32Array;
  private recv: Float32Array;
  private retrans: Float32Array;
  /** shared/health.ts healthCode at each poll; UNKNOWN_HEALTH when not known. */
  private health: Uint8Array;
  private start = 0;
  private length = 0;
  lastTMs: number | null = null;
  lastBytesAcked = 0;
  lastBytesReceived = 0;
  seenAtMs: number;

  constructor(
    readonly meta: ConnectionHistory['subflows'][number]['meta'],
    private readonly baseMs: number,
    private readonly maxCapacity: number,
    nowMs: number,
  ) {
    const initial = Math.min(64, maxCapacity);
    this.t = new Uint32Array(initial);
    this.rtt = new Float32Array(initial);
    this.cwnd = new Float32Array(initial);
    this.send = new Float32Array(initial);
    this.recv = new Float32Array(initial);
    this.retrans = new Float32Array(initial);
    this.health = new Uint8Array(initial);
    this.seenAtMs = nowMs;
  }

  get capacity(): number {
    return this.t.length;
  }

  /** Bytes held by the rings. */
  get bytes(): number {
    return this.capacity * 25;
  }

  private grow(): void {
    const next = Math.min(this.maxCapacity, this.capacity * 2);
    const copy = <T extends Uint32Array | Float32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(next);
      for (let i = 0; i < this.length; i++) b[i] = a[(this.start + i) % a.length] ?? 0;
      return b;
    };
    this.t = copy(this.t, (n) => new Uint32Array(n));
    this.rtt = copy(this.rtt, (n) => new Float32Array(n));
    this.cwnd = copy(this.cwnd, (n) => new Float32Array(n));
    this.send = copy(this.send, (n) => new Float32Array(n));
    this.recv = copy(this.recv, (n) => new Float32Array(n));
    this.retrans = copy(this.retrans, (n) => new Float32Array(n));
    this.health = copy(this.health, (n) => new Uint8Array(n));
    this.start = 0;
  }

  push(
    tMs: number,
    rttUs: number,
    cwndPkts: number,
    sendBps: number,
    recvBps: number,
    retransPkts: number,
    health: number,
  ): void {
    if (this.length === this.capacity && this.capacity < this.maxCapacity) this.grow();
    const cap = this.capacity;
    let i: number;
    if (this.length < cap) {
      i = (this.start + this.length) % cap;
      this.length++;
    } else {
      i = this.start;
      this.start = (this.start + 1) % cap;
    }
    this.t[i] = tMs - this.baseMs;
    this.rtt[i] = rttUs;
    this.cwnd[i] = cwndPkts;
    this.send[i] = sendBps;
    this.recv[i] = recvBps;
    this.retrans[i] = retransPkts;
    this.health[i] = health;
  }

  samples(sinceMs: number): HistorySamples {
    const out: HistorySamples = {
      tMs: [],
      rttUs: [],
      cwndPkts: [],
      sendBytesPerSec: [],
      recvBytesPerSec: [],
      retransPkts: [],
      health: [],
    };
    const health = out.health!;
    const cap = this.capacity;
    // JSON has no NaN: a rate that cannot be derived (first sample, counter reset) is null.
    const num = (v: number | undefined): number | null => (v === undefined || Number.isNaN(v) ? null : v);
    for (let k = 0; k < this.length; k++) {
      const i = (this.start + k) % cap;
      const t = (this.t[i] ?? 0) + this.baseMs;
      if (t < sinceMs) continue;
      out.tMs.push(t);
      out.rttUs.push(this.rtt[i] ?? 0);
      out.cwndPkts.push(this.cwnd[i] ?? 0);
      out.sendBytesPerSec.push(num(this.send[i]));
      out.recvBytesPerSec.push(num(this.recv[i]));
      out.retransPkts.push(this.retrans[i] ?? 0);
      const h = this.health[i] ?? UNKNOWN_HEALTH;
      health.push(h === UNKNOWN_HEALTH ? null : h);
    }
    return out;
  }
}

/** Timeline events the host keeps (the Events page's sources). */
export const TIMELINE_EVENTS = [
  'mptcp:kernel:event',
  'mptcp:pm:action',
  'mptcp:config:recovered',
  'mptcp:config:outcome',
  'mptcp:failover:event',
] as const;
export type TimelineEventName = (typeof TIMELINE_EVENTS)[number];

export class HostHistory {
  private readonly subflows = new Map<string, SubflowRing>();
  private readonly timeline: TimelineEntry[] = [];
  private readonly baseMs = Date.now();
  private readonly ringCapacity: number;
  private readonly maxSubflows: number;
  private readonly maxEvents: number;
  /** Timeline entries dropped to the cap since the host started (said in the answer). */
  private eventsDropped = 0;

  constructor(private readonly opts: HistoryOptions) {
    this.ringCapacity = Math.max(2, Math.ceil(opts.retentionMs / Math.max(1, opts.pollIntervalMs)));
    this.maxSubflows = opts.maxSubflows ?? 20_000;
    this.maxEvents = opts.maxEvents ?? 50_000;
  }

  get retentionMs(): number {
    return this.opts.retentionMs;
  }

  recordSnapshot(snapshot: ConnectionsSnapshot): void {
    const t = snapshot.takenAtMs;
    for (const c of snapshot.connections) {
      for (const s of c.subflows) {
        const key = `${c.token}|${s.localAddress}:${s.localPort}|${s.remoteAddress}:${s.remotePort}`;
        let ring = this.subflows.get(key);
        if (!ring) {
          if (this.subflows.size >= this.maxSubflows) this.evictOldest();
          ring = new SubflowRing(
            {
              token: c.token,
              localAddress: s.localAddress,
              localPort: s.localPort,
              remoteAddress: s.remoteAddress,
              remotePort: s.remotePort,
              backup: s.backup,
            },
            this.baseMs,
            this.ringCapacity,
            t,
          );
          this.subflows.set(key, ring);
        }
        ring.meta.backup = s.backup;
        ring.seenAtMs = t;
        const prevT = ring.lastTMs;
        if (prevT !== null && t <= prevT) continue;
        const dt = prevT === null ? 0 : t - prevT;
        ring.push(
          t,
          s.rttUs,
          s.cwndPkts,
          prevT === null ? Number.NaN : rate(ring.lastBytesAcked, s.bytesAcked, dt),
          prevT === null ? Number.NaN : rate(ring.lastBytesReceived, s.bytesReceived, dt),
          s.totalRetransPkts,
          healthCode(subflowHealthState(s, t)),
        );
        ring.lastTMs = t;
        ring.lastBytesAcked = s.bytesAcked;
        ring.lastBytesReceived = s.bytesReceived;
      }
    }
    this.prune(t);
  }

  /** `payload` is the event's, as the service emitted it (typed by EngineService.emit). */
  recordEvent(name: TimelineEventName, payload: EventPayload<TimelineEventName>, nowMs = Date.now()): void {
    this.timeline.push({ name, payload, atMs: nowMs } as TimelineEntry);
    if (this.timeline.length > this.maxEvents) {
      this.timeline.splice(0, this.timeline.length - this.maxEvents);
      this.eventsDropped++;
    }
    this.pruneTimeline(nowMs);
  }

  connection(token: number, sinceMs = 0): ConnectionHistory {
    const subflows: ConnectionHistory['subflows'] = [];
    for (const ring of this.subflows.values()) {
      if (ring.meta.token !== token) continue;
      subflows.push({
        meta: { ...ring.meta },
        samples: ring.samples(sinceMs),
        last:
          ring.lastTMs === null
            ? null
            : { tMs: ring.lastTMs, bytesAcked: ring.lastBytesAcked, bytesReceived: ring.lastBytesReceived },
      });
    }
    return { token, retentionMs: this.opts.retentionMs, subflows };
  }

  events(sinceMs = 0): TimelineHistory {
    this.pruneTimeline(Date.now());
    return {
      retentionMs: this.opts.retentionMs,
      entries: this.timeline.filter((e) => e.atMs >= sinceMs),
      truncated: this.eventsDropped > 0,
    };
  }

  /** What the history holds now (bench and diagnostics). */
  stats(): { subflows: number; ringBytes: number; events: number } {
    let ringBytes = 0;
    for (const r of this.subflows.values()) ringBytes += r.bytes;
    return { subflows: this.subflows.size, ringBytes, events: this.timeline.length };
  }

  private prune(nowMs: number): void {
    for (const [key, r] of this.subflows) {
      if (nowMs - r.seenAtMs > this.opts.retentionMs) this.subflows.delete(key);
    }
  }

  private pruneTimeline(nowMs: number): void {
    let drop = 0;
    while (
      drop < this.timeline.length &&
      nowMs - (this.timeline[drop]?.atMs ?? nowMs) > this.opts.retentionMs
    )
      drop++;
    if (drop > 0) this.timeline.splice(0, drop);
  }

  private evictOldest(): void {
    let oldest: string | null = null;
    let oldestMs = Infinity;
    for (const [key, r] of this.subflows) {
      if (r.seenAtMs < oldestMs) {
        oldestMs = r.seenAtMs;
        oldest = key;
      }
    }
    if (oldest !== null) this.subflows.delete(oldest);
  }
}

export function isTimelineEvent(name: EventName): name is TimelineEventName {
  return (TIMELINE_EVENTS as readonly string[]).includes(name);
}
