/**
 * What the Prometheus exporter reports, collected through the engine's contract only (an
 * EngineService: in-process, a namespace agent or the privileged agent alike). Nothing here knows
 * about Prometheus; src-main/exporter/ turns a reading into metrics.
 *
 * Two rhythms:
 * - Connections are polled in the background by the engine's poll loop (the service's
 *   mptcp:connections:snapshot stream, every pollIntervalMs). Each poll is folded into counts by
 *   state and interface and into the per-interface byte counters (interface-bytes.ts), which need
 *   a steady poll whatever the scrape interval: a subflow's bytes are only seen while it lives.
 *   A scrape reports the latest poll, so a 10,000-connection sock_diag dump never sits inside a
 *   scrape (docs/fleet.md, "Freshness").
 * - The cheap reads (limits, endpoints, MPTcpExt counters) are made afresh at each scrape.
 * - The kernel status (net.mptcp.enabled, path manager, scheduler, default CC) is a few dozen
 *   sysctl reads, 3 ms, the costliest read of a scrape; those settings change only when an
 *   administrator changes them, so it is read in the background, at most every
 *   STATUS_MAX_AGE_MS, after a poll (bench/exporter.mjs measured the difference). The coupled
 *   CCs' repair counts (a few bpftool runs) are read with it.
 *
 * Kernel events and the path manager's actions are counted from the service's event streams
 * while the collector runs (mptcp_pm events need CAP_NET_ADMIN; without it only interface events
 * are counted and `eventsNote` says why).
 */
import type { CcRepairs } from '../../../shared/cc';
import { EVENTS_DROPPED_CODE, type EventPayload } from '../../../shared/contract';
import { subflowHealthState, type SubflowHealthState } from '../../../shared/health';
import type {
  Connection,
  ConnectionsSnapshot,
  Endpoint,
  KernelStatus,
  Limits,
  MptcpCounters,
} from '../../../shared/types';
import type { EngineService } from '../service';
import { InterfaceByteCounters, subflowInterface, type InterfaceBytes } from './interface-bytes';

/** How old the reported kernel status may be (it is re-read after the first poll past this). */
export const STATUS_MAX_AGE_MS = 10_000;

/** Default cap of --per-connection: connections (with all their subflows) given their own series. */
export const DEFAULT_PER_CONNECTION_LIMIT = 100;

export interface CollectorOptions {
  /** Report per-connection and per-subflow series for at most this many connections; null = off. */
  perConnectionLimit?: number | null;
}

export interface SubflowCount {
  interface: string;
  backup: boolean;
  /** shared/health.ts subflowHealthState at the poll's takenAtMs. */
  health: SubflowHealthState;
  count: number;
}

/** The newest connections poll, folded. */
export interface ConnectionsSummary {
  takenAtMs: number;
  pollDurationUs: number;
  byState: Map<string, number>;
  fallback: number;
  subflows: SubflowCount[];
  orphanSubflows: number;
}

export interface PerConnectionSubflow {
  interface: string;
  local: string;
  remote: string;
  backup: boolean;
  rttUs: number;
  cwndPkts: number;
  sentBytes: number;
  receivedBytes: number;
  retransmittedBytes: number;
}

export interface PerConnection {
  token: number;
  state: string;
  local: string;
  remote: string;
  fallback: boolean;
  sentBytes: number;
  receivedBytes: number;
  retransmittedBytes: number;
  subflows: PerConnectionSubflow[];
}

export type ReadSource = 'status' | 'limits' | 'endpoints' | 'counters' | 'connections' | 'cc_repairs';

export interface MetricsReading {
  status: KernelStatus | null;
  limits: Limits | null;
  endpoints: Endpoint[] | null;
  counters: MptcpCounters | null;
  connections: ConnectionsSummary | null;
  interfaceBytes: Map<string, InterfaceBytes>;
  /** `${source}|${type}` → events counted since start. */
  kernelEvents: Map<string, number>;
  /** Kernel events the engine reported lost (its socket overflowed). */
  kernelEventsLost: number;
  /** `${action}|${result}` → path manager actions since start. */
  pmActions: Map<string, number>;
  polls: number;
  pollErrors: number;
  trackedSubflows: number;
  /** Which reads of this scrape succeeded (the connections entry: a poll result is at hand). */
  success: Map<ReadSource, boolean>;
  /** How long this reading took, seconds. */
  readDurationSeconds: number;
  /**
   * The coupled CCs' repair counts (mptcp:cc:repairs), read with the status in the background;
   * null when they cannot be read here (no bpftool, not permitted).
   */
  ccRepairs: CcRepairs['counts'] | null;
  perConnection: { limit: number; connections: PerConnection[]; omitted: number } | null;
}

const hostPort = (address: string, port: number): string =>
  address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

export class MetricsCollector {
  private readonly bytes = new InterfaceByteCounters();
  private latest: ConnectionsSummary | null = null;
  private latestSnapshot: ConnectionsSnapshot | null = null;
  private readonly kernelEvents = new Map<string, number>();
  private readonly pmActions = new Map<string, number>();
  private kernelEventsLost = 0;
  private polls = 0;
  private pollErrors = 0;
  /** A snapshot waiting to be folded while the previous one is (at most one waits). */
  private pending: ConnectionsSnapshot | null = null;
  private folding = false;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly perConnectionLimit: number | null;
  private status: { ok: boolean; value: KernelStatus | null; readAtMs: number } | null = null;
  private ccRepairs: CcRepairs['counts'] | null = null;
  /** Why MPTCP events are not counted (no CAP_NET_ADMIN), once the engine said so. */
  eventsNote: string | null = null;

  constructor(
    private readonly service: EngineService,
    opts: CollectorOptions = {},
  ) {
    this.perConnectionLimit = opts.perConnectionLimit ?? null;
  }

  /** Starts the background poll and the event counts. */
  start(): void {
    this.unsubscribe.push(
      this.service.on('mptcp:connections:snapshot', (snap) => this.offer(snap)),
      this.service.on('mptcp:kernel:event', (e) => this.countEvent(e)),
      this.service.on('mptcp:pm:action', (a) => bump(this.pmActions, `${a.action}|${a.result}`)),
      this.service.on('mptcp:engine:error', (e) => this.onEngineError(e)),
    );
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  private countEvent(e: EventPayload<'mptcp:kernel:event'>): void {
    const type =
      e.source === 'mptcp'
        ? e.event.kind
        : e.source === 'link'
          ? e.deleted
            ? 'deleted'
            : 'changed'
          : e.deleted
            ? 'deleted'
            : 'added';
    bump(this.kernelEvents, `${e.source}|${type}`);
  }

  private onEngineError(e: EventPayload<'mptcp:engine:error'>): void {
    if (e.code === EVENTS_DROPPED_CODE) {
      // KernelEventWatcher's notice: "The kernel dropped N MPTCP events …" (N may carry commas).
      const n = /([\d,]+)/.exec(e.message)?.[1];
      this.kernelEventsLost += n ? Number(n.replace(/,/g, '')) : 1;
    } else if (e.source === 'connections') {
      this.pollErrors++;
    } else if (e.source === 'events') {
      this.eventsNote = e.message;
    }
  }

  /** A poll result: folded now, or after the one being folded (intermediate ones are skipped). */
  private offer(snap: ConnectionsSnapshot): void {
    this.pending = snap;
    if (!this.folding) void this.foldPending();
  }

  private async foldPending(): Promise<void> {
    this.folding = true;
    try {
      while (this.pending) {
        const snap = this.pending;
        this.pending = null;
        this.fold(snap);
        if (!this.status || Date.now() - this.status.readAtMs >= STATUS_MAX_AGE_MS) await this.readStatus();
      }
    } finally {
      this.folding = false;
    }
  }

  private fold(snap: ConnectionsSnapshot): void {
    this.polls++;
    const subflows = new Map<string, SubflowCount>();
    this.bytes.update(snap, (itf, s) => {
      const health = subflowHealthState(s, snap.takenAtMs);
      const key = `${itf}|${s.backup ? 'b' : ''}|${health}`;
      const entry = subflows.get(key);
      if (entry) entry.count++;
      else subflows.set(key, { interface: itf, backup: s.backup, health, count: 1 });
    });
    const byState = new Map<string, number>();
    let fallback = 0;
    for (const c of snap.connections) {
      bump(byState, c.state);
      if (c.fallback) fallback++;
    }
    this.latest = {
      takenAtMs: snap.takenAtMs,
      pollDurationUs: snap.pollDurationUs,
      byState,
      fallback,
      subflows: [...subflows.values()],
      orphanSubflows: snap.orphanSubflows,
    };
    if (this.perConnectionLimit !== null) this.latestSnapshot = snap;
  }

  private async readStatus(): Promise<void> {
    const r = await this.service.invoke('mptcp:status:get', {});
    // A failed read keeps the last good value out of the scrape (read_success says why).
    this.status = { ok: r.ok, value: r.ok ? (r.value as KernelStatus) : null, readAtMs: Date.now() };
    // The repair counts change rarely (about one repair in 100 runs, docs/coupled-cc-anomaly.md)
    // and cost a few bpftool runs: read at the status's rhythm, not in the scrape.
    const cc = await this.service.invoke('mptcp:cc:repairs', {});
    const repairs = cc.ok ? (cc.value as CcRepairs) : null;
    this.ccRepairs = repairs && repairs.error === null ? repairs.counts : null;
  }

  /** One scrape's reading: fresh cheap reads plus the newest poll's summary. */
  async read(): Promise<MetricsReading> {
    const started = performance.now();
    if (!this.status) await this.readStatus();
    const status = this.status!;
    const [limits, endpoints, counters] = await Promise.all([
      this.service.invoke('mptcp:limits:get', {}),
      this.service.invoke('mptcp:endpoints:list', {}),
      this.service.invoke('mptcp:counters:get', {}),
    ]);
    const success = new Map<ReadSource, boolean>([
      ['status', status.ok],
      ['limits', limits.ok],
      ['endpoints', endpoints.ok],
      ['counters', counters.ok],
      ['connections', this.latest !== null],
      ['cc_repairs', this.ccRepairs !== null],
    ]);
    return {
      status: status.value,
      limits: limits.ok ? (limits.value as Limits) : null,
      endpoints: endpoints.ok ? (endpoints.value as Endpoint[]) : null,
      counters: counters.ok ? (counters.value as MptcpCounters) : null,
      connections: this.latest,
      interfaceBytes: this.bytes.snapshot(),
      kernelEvents: new Map(this.kernelEvents),
      kernelEventsLost: this.kernelEventsLost,
      pmActions: new Map(this.pmActions),
      polls: this.polls,
      pollErrors: this.pollErrors,
      trackedSubflows: this.bytes.trackedSubflows,
      success,
      readDurationSeconds: (performance.now() - started) / 1000,
      ccRepairs: this.ccRepairs,
      perConnection: this.perConnection(),
    };
  }

  /**
   * The busiest connections (bytes sent + received), at most perConnectionLimit of them: the cap
   * keeps a 10,000-connection host from turning into 10,000 × subflows series per scrape.
   */
  private perConnection(): MetricsReading['perConnection'] {
    const limit = this.perConnectionLimit;
    const snap = this.latestSnapshot;
    if (limit === null) return null;
    if (!snap) return { limit, connections: [], omitted: 0 };
    const all = snap.connections;
    const chosen =
      all.length <= limit
        ? all
        : [...all]
            .sort((a, b) => b.bytesSent + b.bytesReceived - (a.bytesSent + a.bytesReceived))
            .slice(0, limit);
    return {
      limit,
      omitted: all.length - chosen.length,
      connections: chosen.map((c) => this.describe(c)),
    };
  }

  private describe(c: Connection): PerConnection {
    return {
      token: c.token,
      state: c.state,
      local: hostPort(c.localAddress, c.localPort),
      remote: hostPort(c.remoteAddress, c.remotePort),
      fallback: c.fallback,
      sentBytes: c.bytesSent,
      receivedBytes: c.bytesReceived,
      retransmittedBytes: c.bytesRetrans,
      subflows: c.subflows.map((s) => ({
        interface: subflowInterface(s),
        local: hostPort(s.localAddress, s.localPort),
        remote: hostPort(s.remoteAddress, s.remotePort),
        backup: s.backup,
        rttUs: s.rttUs,
        cwndPkts: s.cwndPkts,
        sentBytes: s.bytesSent,
        receivedBytes: s.bytesReceived,
        retransmittedBytes: s.bytesRetrans,
      })),
    };
  }
}

function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}
