/**
 * The event timeline: the newest `capacity` events (MPTCP, link, address, the engine's own
 * path-manager actions, and configuration outcomes and recoveries), kept outside React state like
 * the samples and published once per animation frame.
 */
import type { ConfigTimelineEntry } from '../../../../shared/config-api';
import type { FailoverEvent } from '../../../../shared/failover';
import type { TimelineEvent } from '../../../../shared/pm';
import type { KernelEvent } from '../../../../shared/types';
import { FrameNotifier, type FrameScheduler } from './frame-notifier';

/** A subflow stalling or recovering, traffic moving between subflows (mptcp:failover:event). */
export interface FailoverTimelineEntry {
  source: 'failover';
  timestampMs: number;
  failover: FailoverEvent;
}

/**
 * A timeline row: a kernel event, a path-manager action, a configuration outcome/recovery, or a
 * failover.
 */
export type LogEvent = TimelineEvent | ConfigTimelineEntry | FailoverTimelineEntry;

export interface LoggedEvent {
  /** Arrival order, for React keys. */
  seq: number;
  event: LogEvent;
}

/**
 * 'link', 'address', 'pm' (a path-manager action), 'config' (a configuration change's outcome or
 * a crash recovery), 'failover' (stalls, recoveries, traffic moving), or the MPTCP event kind
 * (created, …, unknown).
 */
export function eventKind(e: LogEvent): string {
  return e.source === 'mptcp' ? e.event.kind : e.source;
}

export function eventToken(e: LogEvent): number | null {
  if (e.source === 'mptcp') return e.event.token;
  if (e.source === 'pm') return e.action.token;
  if (e.source === 'failover') return e.failover.token;
  return null;
}

/** The MPTCP event kinds marked on a connection's charts. */
export const CHART_EVENT_KINDS: ReadonlySet<string> = new Set([
  'sub_established',
  'sub_closed',
  'sub_priority',
  'announced',
  'removed',
]);

export class EventLog {
  private readonly entries: (LoggedEvent | undefined)[];
  private start = 0;
  private count = 0;
  private seq = 0;
  private readonly notifier: FrameNotifier;
  private cache: { version: number; list: LoggedEvent[] } | null = null;

  constructor(
    readonly capacity = 5000,
    schedule?: FrameScheduler,
  ) {
    this.entries = new Array<LoggedEvent | undefined>(capacity);
    this.notifier = new FrameNotifier(schedule);
  }

  readonly subscribe = (listener: () => void): (() => void) => this.notifier.subscribe(listener);
  readonly getVersion = (): number => this.notifier.getVersion();

  push(event: LogEvent): void {
    const entry = { seq: ++this.seq, event };
    if (this.count < this.capacity) {
      this.entries[(this.start + this.count) % this.capacity] = entry;
      this.count++;
    } else {
      this.entries[this.start] = entry;
      this.start = (this.start + 1) % this.capacity;
    }
    this.notifier.bump();
  }

  /**
   * Events from before this page started (the host's timeline, mptcp:history:events), put before
   * everything already logged; those not older than the oldest logged event are skipped (this
   * page saw them live).
   */
  prependOlder(older: LogEvent[]): void {
    const current = this.list().slice().reverse(); // oldest first
    const firstMs = current[0]?.event.timestampMs ?? Infinity;
    const keep = older.filter((e) => e.timestampMs < firstMs);
    if (keep.length === 0) return;
    this.entries.fill(undefined);
    this.start = 0;
    this.count = 0;
    for (const e of keep) this.push(e);
    for (const { event } of current) this.push(event);
  }

  get size(): number {
    return this.count;
  }

  /** Newest first; the same array until the next change. */
  list(): LoggedEvent[] {
    const version = this.notifier.rawVersion;
    if (this.cache?.version === version) return this.cache.list;
    const list: LoggedEvent[] = [];
    for (let i = this.count - 1; i >= 0; i--) {
      const e = this.entries[(this.start + i) % this.capacity];
      if (e) list.push(e);
    }
    this.cache = { version, list };
    return list;
  }

  /**
   * Chart-marked events of one connection in [fromMs, toMs], oldest first: its MPTCP events, and
   * the links of `ifnames` (the interfaces its subflows leave by) going down or up (a link event
   * that does not change whether the interface is usable is left out).
   */
  markers(token: number, fromMs: number, toMs: number, ifnames?: ReadonlySet<string>): KernelEvent[] {
    const out: KernelEvent[] = [];
    const usable = new Map<string, boolean>();
    const list = this.list();
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i]!.event;
      if (e.source === 'link') {
        if (!ifnames?.has(e.name)) continue;
        const before = usable.get(e.name);
        usable.set(e.name, e.usable);
        if (before === e.usable) continue;
      } else if (e.source !== 'mptcp' || e.event.token !== token || !CHART_EVENT_KINDS.has(e.event.kind)) {
        continue;
      }
      if (e.timestampMs >= fromMs && e.timestampMs <= toMs) out.push(e);
    }
    return out;
  }

  clear(): void {
    this.entries.fill(undefined);
    this.start = 0;
    this.count = 0;
    this.notifier.bump();
  }
}
