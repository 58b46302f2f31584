/**
 * Per-subflow history for charts, kept outside React state: a ring buffer per subflow, fed by
 * connection snapshots and by the detail view's fast `mptcp:connection:get` loop. Throughput is
 * derived here from consecutive samples' byte counters. Memory is bounded three ways: samples per
 * subflow (ring capacity), subflows not seen for `retentionMs` are dropped, and at most `maxSeries`
 * subflows are kept (the longest unseen go first; a snapshot with more subflows than that leaves
 * the newest without history rather than evict ones it still holds).
 */
import {
  backupLabel,
  healthCode,
  healthOfCode,
  SUBFLOW_HEALTH_STATES,
  subflowHealthState,
  type SubflowHealthState,
} from '../../../../shared/health';
import type { Connection, ConnectionsSnapshot, Subflow } from '../../../../shared/types';
import { hostPort } from '../../format';
import { FrameNotifier, type FrameScheduler } from './frame-notifier';
import type { ConnectionHistory } from '../../../../shared/history';
import { SampleRing, type Sample } from './ring-buffer';

export interface SeriesMeta {
  key: string;
  token: number;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Latest backup flag seen (either side's). */
  backup: boolean;
  /** Whose (shared/health.ts backupLabel): "backup (ours)", "backup (peer's)", …; "" for none. */
  backupLabel: string;
  /** "10.0.0.1:4000 → 10.0.0.2:80" */
  label: string;
}

export interface ChartPoint {
  tMs: number;
  rttMs: number | null;
  cwndPkts: number | null;
  sendMbitPerSec: number | null;
  recvMbitPerSec: number | null;
  /**
   * The worst health among the point's samples (shared/health.ts), null when unknown. A stalled
   * point has no values: the line breaks there and the chart marks the stall, rather than carry
   * the last values on as a flat, healthy-looking line.
   */
  health: SubflowHealthState | null;
}

export interface ChartSeries {
  meta: SeriesMeta;
  points: ChartPoint[];
}

export interface Rates {
  sendBytesPerSec: number;
  recvBytesPerSec: number;
}

interface Series {
  meta: SeriesMeta;
  ring: SampleRing;
  lastTMs: number | null;
  lastBytesAcked: number;
  lastBytesReceived: number;
  /** Clock of the last update, for retention. */
  seenAtMs: number;
}

interface Latest {
  connection: Connection;
  tMs: number;
  /** tMs on the engine's clock, which the subflows' times are on (healthNowMs). */
  engineMs: number;
  /** subflowKey of each of `keysOf`'s subflows, kept while the feed keeps that array. */
  keysOf: readonly Subflow[] | null;
  keys: string[];
}

export interface SamplesOptions {
  /** Samples per subflow fed by snapshots: 600 = 10 minutes at 1 Hz. */
  capacity?: number;
  /** Samples per subflow once the fast loop reads it: 3000 = 5 minutes at 10 Hz. */
  fastCapacity?: number;
  /** Drop a subflow this long after it was last seen. */
  retentionMs?: number;
  maxSeries?: number;
  schedule?: FrameScheduler;
  /** This page's clock (the fast loop's readings are stamped with it); default Date.now. */
  now?: () => number;
}

export function subflowKey(
  token: number,
  s: Pick<Subflow, 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort'>,
): string {
  return `${token}|${s.localAddress}:${s.localPort}|${s.remoteAddress}:${s.remotePort}`;
}

/** Throughput from two readings of a byte counter; NaN on a reset (the counter went down). */
export function deriveRate(prevBytes: number, bytes: number, dtMs: number): number {
  if (!(dtMs > 0) || bytes < prevBytes) return Number.NaN;
  return ((bytes - prevBytes) * 1000) / dtMs;
}

const MBIT = 1e6 / 8;

function mean(sum: number, n: number): number | null {
  return n > 0 ? sum / n : null;
}

export class SamplesStore {
  readonly capacity: number;
  readonly fastCapacity: number;
  readonly retentionMs: number;
  readonly maxSeries: number;
  private readonly series = new Map<string, Series>();
  private readonly notifier: FrameNotifier;
  /** Tokens a fast loop is sampling: snapshots skip them so two clocks do not interleave. */
  readonly fastTokens = new Set<number>();
  /** Each connection's latest reading, for the detail view's subflow table. */
  private readonly latestByToken = new Map<number, Latest>();
  /** The newest sample time seen: "now" for chart windows (live and replay alike). */
  clockMs = 0;
  /**
   * The engine's clock minus this page's, from the newest snapshot (its takenAtMs against now):
   * a subflow's times (lastAckRecvAtMs, …) are on the engine's clock, the fast loop's readings
   * are stamped with this page's, and a remote host's clock may differ.
   */
  private engineSkewMs = 0;
  private readonly now: () => number;

  constructor(opts: SamplesOptions = {}) {
    this.capacity = opts.capacity ?? 600;
    this.fastCapacity = Math.max(this.capacity, opts.fastCapacity ?? 3000);
    this.retentionMs = opts.retentionMs ?? 120_000;
    this.maxSeries = opts.maxSeries ?? 2048;
    this.notifier = new FrameNotifier(opts.schedule);
    this.now = opts.now ?? Date.now;
  }

  readonly subscribe = (listener: () => void): (() => void) => this.notifier.subscribe(listener);
  readonly getVersion = (): number => this.notifier.getVersion();
  get rawVersion(): number {
    return this.notifier.rawVersion;
  }

  ingestSnapshot(snapshot: ConnectionsSnapshot): void {
    const t = snapshot.takenAtMs;
    this.engineSkewMs = t - this.now();
    // Subflows without a series wait until every known one has been marked seen: a newcomer may
    // only take the place of a series this snapshot no longer has. Evicting the oldest for each
    // newcomer instead, 20,000 subflows against 2,048 series replaced the whole store on every
    // poll, a scan of it per subflow (2/3 of the page's script time at 10,000 connections,
    // bench/renderer.mjs --connections). Beyond the bound, newcomers go without history until
    // others leave (a detail view's fast loop always gets its series: ingestConnection).
    const newTokens: number[] = [];
    const newKeys: string[] = [];
    const newSubflows: Subflow[] = [];
    let seenNow = 0;
    for (const c of snapshot.connections) {
      if (this.fastTokens.has(c.token)) {
        for (const s of c.subflows) {
          const existing = this.series.get(subflowKey(c.token, s));
          if (existing) existing.seenAtMs = Math.max(existing.seenAtMs, t);
        }
        continue;
      }
      const keys = this.noteLatest(c, t, t);
      for (let i = 0; i < c.subflows.length; i++) {
        const s = c.subflows[i] as Subflow;
        const key = keys[i] as string;
        const series = this.series.get(key);
        if (series) {
          if (series.seenAtMs < t) seenNow++;
          this.pushSample(series, s, t, t);
        } else {
          newTokens.push(c.token);
          newKeys.push(key);
          newSubflows.push(s);
        }
      }
    }
    // Full, and every series was in this snapshot: no room for anyone (the usual poll beyond the
    // bound, found without a look at the newcomers).
    const full = this.series.size >= this.maxSeries && seenNow >= this.series.size;
    let evictable: Series[] | null = null;
    let next = 0;
    for (let n = 0; n < newKeys.length && !full; n++) {
      if (this.series.size >= this.maxSeries) {
        evictable ??= [...this.series.values()]
          .filter((x) => x.seenAtMs < t)
          .sort((a, b) => a.seenAtMs - b.seenAtMs);
        let victim: Series | undefined;
        while (!victim && next < evictable.length) {
          const x = evictable[next++];
          if (x && x.seenAtMs < t && this.series.get(x.meta.key) === x) victim = x;
        }
        if (!victim) break;
        this.series.delete(victim.meta.key);
      }
      const key = newKeys[n] as string;
      const s = newSubflows[n] as Subflow;
      const series = this.newSeries(key, newTokens[n] as number, s, t);
      this.series.set(key, series);
      this.pushSample(series, s, t, t);
    }
    this.clockMs = Math.max(this.clockMs, t);
    this.prune(t);
    this.notifier.bump();
  }

  /** One connection read at `tMs` (the fast loop). */
  ingestConnection(c: Connection, tMs: number): void {
    this.addConnection(c, tMs);
    for (const s of c.subflows)
      this.series.get(subflowKey(c.token, s))?.ring.raiseCapacity(this.fastCapacity);
    this.clockMs = Math.max(this.clockMs, tMs);
    this.notifier.bump();
  }

  private addConnection(c: Connection, tMs: number): void {
    const engineMs = tMs + this.engineSkewMs;
    this.noteLatest(c, tMs, engineMs);
    for (const s of c.subflows) this.addSubflow(c.token, s, tMs, engineMs);
  }

  /**
   * Records c as its token's latest reading (unless an earlier one) and returns its subflows'
   * keys. The keys are built again only when the subflow list is a new array: the feed keeps an
   * unchanged connection's (docs/live-data.md), and 20,000 keys built per poll were most of this
   * store's time at 10,000 connections.
   */
  private noteLatest(c: Connection, tMs: number, engineMs: number): readonly string[] {
    let l = this.latestByToken.get(c.token);
    if (!l) {
      l = { connection: c, tMs, engineMs, keysOf: null, keys: [] };
      this.latestByToken.set(c.token, l);
    } else if (l.tMs <= tMs) {
      // In place: 10,000 connections a second would otherwise be 10,000 new objects.
      l.connection = c;
      l.tMs = tMs;
      l.engineMs = engineMs;
    }
    if (l.keysOf === c.subflows) return l.keys;
    const keys = c.subflows.map((s) => subflowKey(c.token, s));
    l.keysOf = c.subflows;
    l.keys = keys;
    return keys;
  }

  private newSeries(key: string, token: number, s: Subflow, tMs: number): Series {
    return {
      meta: {
        key,
        token,
        localAddress: s.localAddress,
        localPort: s.localPort,
        remoteAddress: s.remoteAddress,
        remotePort: s.remotePort,
        backup: s.backup,
        backupLabel: backupLabel(s.flags),
        label: `${hostPort(s.localAddress, s.localPort)} → ${hostPort(s.remoteAddress, s.remotePort)}`,
      },
      ring: new SampleRing(this.capacity),
      lastTMs: null,
      lastBytesAcked: 0,
      lastBytesReceived: 0,
      seenAtMs: tMs,
    };
  }

  private addSubflow(token: number, s: Subflow, tMs: number, engineMs: number): void {
    const key = subflowKey(token, s);
    let series = this.series.get(key);
    if (!series) {
      series = this.newSeries(key, token, s, tMs);
      this.series.set(key, series);
      if (this.series.size > this.maxSeries) this.evictOldest();
    }
    this.pushSample(series, s, tMs, engineMs);
  }

  /** `engineMs`: tMs on the engine's clock, where the subflow's health is judged. */
  private pushSample(series: Series, s: Subflow, tMs: number, engineMs: number): void {
    series.meta.backup = s.backup;
    series.meta.backupLabel = backupLabel(s.flags);
    series.seenAtMs = Math.max(series.seenAtMs, tMs);
    const prevT = series.lastTMs;
    if (prevT !== null && tMs <= prevT) return; // a duplicate or an older reading: Δt would be ≤ 0
    const dtMs = prevT === null ? 0 : tMs - prevT;
    series.ring.push({
      tMs,
      rttUs: s.rttUs,
      cwndPkts: s.cwndPkts,
      sendBytesPerSec: prevT === null ? Number.NaN : deriveRate(series.lastBytesAcked, s.bytesAcked, dtMs),
      recvBytesPerSec:
        prevT === null ? Number.NaN : deriveRate(series.lastBytesReceived, s.bytesReceived, dtMs),
      retransPkts: s.totalRetransPkts,
      health: healthCode(subflowHealthState(s, engineMs)),
    });
    series.lastTMs = tMs;
    series.lastBytesAcked = s.bytesAcked;
    series.lastBytesReceived = s.bytesReceived;
  }

  /**
   * A connection's series as the host kept them (mptcp:history:connection), put before what this
   * page read itself: a detail view opened late, or a reload, starts with the last minutes.
   * Samples at or after a series' own oldest sample are this page's and stay as they are.
   */
  ingestHistory(history: ConnectionHistory): void {
    for (const h of history.subflows) {
      const m = h.meta;
      const key = subflowKey(m.token, m);
      const existing = this.series.get(key);
      const own = existing?.ring;
      const firstOwnMs = own && own.size > 0 ? own.field('tMs', 0) : Infinity;
      const older: Sample[] = [];
      const s = h.samples;
      for (let i = 0; i < s.tMs.length; i++) {
        const tMs = s.tMs[i] ?? 0;
        if (tMs >= firstOwnMs) break;
        older.push({
          tMs,
          rttUs: s.rttUs[i] ?? Number.NaN,
          cwndPkts: s.cwndPkts[i] ?? Number.NaN,
          sendBytesPerSec: s.sendBytesPerSec[i] ?? Number.NaN,
          recvBytesPerSec: s.recvBytesPerSec[i] ?? Number.NaN,
          retransPkts: s.retransPkts[i] ?? Number.NaN,
          health: s.health?.[i] ?? Number.NaN,
        });
      }
      if (older.length === 0) continue;
      const ownCount = own?.size ?? 0;
      const ring = new SampleRing(Math.max(own?.capacity ?? this.capacity, older.length + ownCount));
      for (const sample of older) ring.push(sample);
      for (let i = 0; i < ownCount; i++) {
        const sample = own?.at(i);
        if (sample) ring.push(sample);
      }
      const lastOlder = older[older.length - 1];
      if (existing) {
        existing.ring = ring;
        continue;
      }
      // A series this page never read: continue it from the host's last counters.
      this.series.set(key, {
        meta: {
          key,
          token: m.token,
          localAddress: m.localAddress,
          localPort: m.localPort,
          remoteAddress: m.remoteAddress,
          remotePort: m.remotePort,
          backup: m.backup,
          // The host's history keeps one backup bit, not whose.
          backupLabel: m.backup ? 'backup' : '',
          label: `${hostPort(m.localAddress, m.localPort)} → ${hostPort(m.remoteAddress, m.remotePort)}`,
        },
        ring,
        // Without the host's last counters the next rate cannot be derived: start it afresh.
        lastTMs: h.last?.tMs ?? null,
        lastBytesAcked: h.last?.bytesAcked ?? 0,
        lastBytesReceived: h.last?.bytesReceived ?? 0,
        seenAtMs: lastOlder?.tMs ?? 0,
      });
      if (this.series.size > this.maxSeries) this.evictOldest();
    }
    this.notifier.bump();
  }

  /** The newest reading of a connection (snapshot or fast loop), if still kept. */
  latest(token: number): Connection | null {
    return this.latestByToken.get(token)?.connection ?? null;
  }

  /** When latest(token) was read, on the engine's clock: the time its subflows' health is judged at. */
  latestAtEngineMs(token: number): number | null {
    return this.latestByToken.get(token)?.engineMs ?? null;
  }

  private prune(nowMs: number): void {
    for (const [token, l] of this.latestByToken) {
      if (nowMs - l.tMs > this.retentionMs) this.latestByToken.delete(token);
    }
    for (const [key, s] of this.series) {
      if (nowMs - s.seenAtMs > this.retentionMs) this.series.delete(key);
    }
  }

  private evictOldest(): void {
    let oldest: string | null = null;
    let oldestMs = Infinity;
    for (const [key, s] of this.series) {
      if (s.seenAtMs < oldestMs) {
        oldestMs = s.seenAtMs;
        oldest = key;
      }
    }
    if (oldest !== null) this.series.delete(oldest);
  }

  /** The subflows recorded for a connection, in a stable order. */
  seriesOf(token: number): SeriesMeta[] {
    const out: SeriesMeta[] = [];
    for (const s of this.series.values()) if (s.meta.token === token) out.push(s.meta);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  ring(key: string): SampleRing | null {
    return this.series.get(key)?.ring ?? null;
  }

  /**
   * Chart data for one connection in [fromMs, toMs], at most `maxPoints` per subflow (bucket means),
   * in display units. Subflows without samples in the window are left out.
   */
  window(token: number, fromMs: number, toMs: number, maxPoints = 600): ChartSeries[] {
    const out: ChartSeries[] = [];
    for (const meta of this.seriesOf(token)) {
      const ring = this.series.get(meta.key)?.ring;
      if (!ring) continue;
      const first = ring.lowerBound(fromMs);
      const end = ring.upperBound(toMs);
      const n = end - first;
      if (n <= 0) continue;
      const per = Math.max(1, Math.ceil(n / maxPoints));
      const points: ChartPoint[] = [];
      for (let b = first; b < end; b += per) {
        const stop = Math.min(end, b + per);
        let t = 0;
        const sums = [0, 0, 0, 0];
        const counts = [0, 0, 0, 0];
        // The worst health in the bucket: the lowest code (SUBFLOW_HEALTH_STATES, worst first).
        let worst: number = SUBFLOW_HEALTH_STATES.length;
        const add = (i: number, v: number): void => {
          if (Number.isFinite(v)) {
            sums[i] = (sums[i] ?? 0) + v;
            counts[i] = (counts[i] ?? 0) + 1;
          }
        };
        for (let i = b; i < stop; i++) {
          t += ring.field('tMs', i);
          add(0, ring.field('rttUs', i) / 1000);
          add(1, ring.field('cwndPkts', i));
          add(2, ring.field('sendBytesPerSec', i) / MBIT);
          add(3, ring.field('recvBytesPerSec', i) / MBIT);
          const h = ring.field('health', i);
          if (h < worst) worst = h;
        }
        const health = healthOfCode(worst);
        const stalled = health === 'stalled';
        points.push({
          tMs: t / (stop - b),
          rttMs: stalled ? null : mean(sums[0] ?? 0, counts[0] ?? 0),
          cwndPkts: stalled ? null : mean(sums[1] ?? 0, counts[1] ?? 0),
          sendMbitPerSec: stalled ? null : mean(sums[2] ?? 0, counts[2] ?? 0),
          recvMbitPerSec: stalled ? null : mean(sums[3] ?? 0, counts[3] ?? 0),
          health,
        });
      }
      out.push({ meta, points });
    }
    return out;
  }

  /** Every raw sample of a connection in [fromMs, toMs] (exports). */
  rawWindow(token: number, fromMs: number, toMs: number): { meta: SeriesMeta; samples: Sample[] }[] {
    return this.seriesOf(token).map((meta) => {
      const ring = this.series.get(meta.key)?.ring;
      const samples: Sample[] = [];
      if (ring) {
        for (let i = ring.lowerBound(fromMs); i < ring.size; i++) {
          const s = ring.at(i);
          if (!s || s.tMs > toMs) break;
          samples.push(s);
        }
      }
      return { meta, samples };
    });
  }

  /** Every connection's throughput in one pass (the table), like `rates`. */
  ratesByToken(atMs = Infinity): Map<number, Rates> {
    const out = new Map<number, Rates>();
    for (const s of this.series.values()) {
      const ring = s.ring;
      let i = ring.upperBound(atMs) - 1;
      while (i >= 0 && !Number.isFinite(ring.field('sendBytesPerSec', i))) i--;
      if (i < 0) continue;
      const r = out.get(s.meta.token) ?? { sendBytesPerSec: 0, recvBytesPerSec: 0 };
      r.sendBytesPerSec += ring.field('sendBytesPerSec', i);
      const recv = ring.field('recvBytesPerSec', i);
      if (Number.isFinite(recv)) r.recvBytesPerSec += recv;
      out.set(s.meta.token, r);
    }
    return out;
  }

  /** A connection's throughput: the sum of its subflows' latest rates at or before `atMs`. */
  rates(token: number, atMs = Infinity): Rates {
    let send = 0;
    let recv = 0;
    for (const s of this.series.values()) {
      if (s.meta.token !== token) continue;
      const ring = s.ring;
      let i = ring.upperBound(atMs) - 1;
      // The newest sample with a known rate (the first after a reset has none).
      while (i >= 0 && !Number.isFinite(ring.field('sendBytesPerSec', i))) i--;
      if (i < 0) continue;
      send += ring.field('sendBytesPerSec', i);
      const r = ring.field('recvBytesPerSec', i);
      if (Number.isFinite(r)) recv += r;
    }
    return { sendBytesPerSec: send, recvBytesPerSec: recv };
  }

  get seriesCount(): number {
    return this.series.size;
  }

  /** Bytes held by every ring: at most maxSeries × capacity × 48 (plus the few fast-loop subflows). */
  get allocatedBytes(): number {
    let total = 0;
    for (const s of this.series.values()) total += s.ring.allocatedBytes;
    return total;
  }

  clear(): void {
    this.series.clear();
    this.latestByToken.clear();
    this.clockMs = 0;
    this.notifier.bump();
  }
}
