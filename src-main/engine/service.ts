/**
 * The contract, served: validates every incoming call against its zod schema, runs the handler,
 * returns a Result (never throws across the boundary), and pushes event streams to subscribers.
 * Both hosts (Electron IPC, web WebSocket) and the per-namespace agent sit on top of this.
 */
import {
  isEventName,
  isMethodName,
  methods,
  type EventName,
  type EventPayload,
  type HostHandlers,
  type KernelHandlers,
  type MethodName,
  type ServiceHandlers,
} from '../../shared/contract';
import { ApiFailure, fail, ok, toApiError, type Result } from '../../shared/result';
import type { ConnectionsSnapshot, MptcpCounters } from '../../shared/types';
import { ConnectionsFeed, type ConnectionsSink, type FeedOptions } from './connections-feed';
import { OverviewWatch } from './overview-watch';
import { HostHistory, isTimelineEvent, type TimelineEventName } from './history';
import { FailoverDetector } from './failover';

export interface EngineBackend {
  readonly handlers: KernelHandlers;
  /** Kernel-side events (e.g. a confirm-or-revert deadline); the service re-emits them. */
  onEvent?(listener: <E extends EventName>(event: E, payload: EventPayload<E>) => void): () => void;
  close(): void | Promise<void>;
}

type Listener<E extends EventName> = (payload: EventPayload<E>) => void;

export interface ServiceOptions {
  /** Connections poll interval while anyone listens to snapshots or has a connections feed. */
  pollIntervalMs?: number;
  /** The poll slows down to at most this when it cannot keep up (default 8 × pollIntervalMs). */
  maxPollIntervalMs?: number;
  /** MPTcpExt counters sample interval while anyone listens to mptcp:counters:sample. */
  countersIntervalMs?: number;
  /** Kernel state re-read interval while anyone listens to mptcp:overview:changed. */
  overviewIntervalMs?: number;
  /**
   * Keep the last `retentionMs` of every connection's series and of the timeline (hosts that
   * serve pages: a reload shows what happened). The service then polls and watches kernel events
   * all the time, not only while a page listens.
   */
  history?: { retentionMs: number };
}

export interface PollStats {
  /** The current interval: pollIntervalMs, or more while polls are slow or nobody keeps up. */
  intervalMs: number;
  polls: number;
  /** Polls that took longer than the interval, or whose result no subscriber could take. */
  slowPolls: number;
  lastPollMs: number;
}

export class EngineService {
  private readonly listeners = new Map<EventName, Set<Listener<EventName>>>();
  private pollTimer: NodeJS.Timeout | null = null;
  private pollLoopRunning = false;
  /**
   * Bumped whenever the poll loop starts or stops. A pollTick (or its poll) that resumes under an
   * older generation belongs to a loop that was stopped meanwhile: it must neither schedule a
   * second timer next to the new loop's nor publish its result after the stop.
   */
  private pollGeneration = 0;
  private polling = false;
  private readonly pollIntervalMs: number;
  private readonly maxPollIntervalMs: number;
  private readonly countersIntervalMs: number;
  private readonly feeds = new Set<ConnectionsFeed>();
  /** The newest poll result (what a feed's full snapshot or resync sends). */
  private latest: ConnectionsSnapshot | null = null;
  readonly pollStats: PollStats = { intervalMs: 0, polls: 0, slowPolls: 0, lastPollMs: 0 };

  private readonly host: Partial<HostHandlers>;

  constructor(
    readonly backend: EngineBackend,
    opts: ServiceOptions & { host?: Partial<HostHandlers> } = {},
  ) {
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.maxPollIntervalMs = Math.max(this.pollIntervalMs, opts.maxPollIntervalMs ?? this.pollIntervalMs * 8);
    this.countersIntervalMs = opts.countersIntervalMs ?? 1000;
    this.pollStats.intervalMs = this.pollIntervalMs;
    this.host = opts.host ?? {};
    this.history = opts.history
      ? new HostHistory({ retentionMs: opts.history.retentionMs, pollIntervalMs: this.pollIntervalMs })
      : null;
    const history = this.history;
    this.serviceHandlers = {
      'mptcp:history:connection': ({ token, sinceMs }) =>
        history
          ? Promise.resolve(history.connection(token, sinceMs))
          : Promise.reject(new ApiFailure('UNSUPPORTED', 'this host keeps no history (CLI)')),
      'mptcp:history:events': ({ sinceMs }) =>
        history
          ? Promise.resolve(history.events(sinceMs))
          : Promise.reject(new ApiFailure('UNSUPPORTED', 'this host keeps no history (CLI)')),
    };
    this.stopBackendEvents = backend.onEvent?.((event, payload) => this.emit(event, payload)) ?? null;
    this.overviewWatch = new OverviewWatch({
      read: () => this.backend.handlers['mptcp:overview:get']({}),
      emit: (o) => this.emit('mptcp:overview:changed', o),
      error: (err) => {
        const e = toApiError(err);
        this.emit('mptcp:engine:error', { source: 'overview', code: e.code, message: e.message });
      },
      intervalMs: opts.overviewIntervalMs ?? 1000,
    });
    // A host that keeps history polls and watches from the start, not when a page comes.
    if (this.history) this.updateAll();
  }

  /** The live model of the kernel state (interfaces, addresses, endpoints, limits, sysctls). */
  private readonly overviewWatch: OverviewWatch;

  /** The backend's event subscription (released by detach and close). */
  private stopBackendEvents: (() => void) | null;

  /** What the host keeps of the last minutes; null when not asked for (the CLI). */
  readonly history: HostHistory | null;
  private readonly serviceHandlers: ServiceHandlers;

  private handlerFor(method: MethodName): ((args: unknown) => Promise<unknown>) | undefined {
    const all: Partial<Record<MethodName, unknown>> = {
      ...this.backend.handlers,
      ...this.host,
      ...this.serviceHandlers,
    };
    return all[method] as ((args: unknown) => Promise<unknown>) | undefined;
  }

  /** Dispatch an untrusted call: unknown methods and malformed args are refused, not thrown. */
  async invoke(method: unknown, rawArgs: unknown): Promise<Result<unknown>> {
    if (!isMethodName(method)) return fail('BAD_REQUEST', `unknown method ${JSON.stringify(method)}`);
    const parsed = methods[method].args.safeParse(rawArgs ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? issue.path.join('.') : 'arguments';
      return fail('BAD_REQUEST', `${method}: ${where}: ${issue?.message ?? 'invalid'}`);
    }
    const handler = this.handlerFor(method);
    if (!handler) return fail('UNSUPPORTED', `${method} is not served by this host`);
    try {
      return ok(await handler(parsed.data));
    } catch (err) {
      return { ok: false, error: toApiError(err) };
    }
  }

  on<E extends EventName>(event: E, listener: Listener<E>): () => void {
    if (!isEventName(event)) throw new Error(`unknown event ${String(event)}`);
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    this.updateAll();
    return () => {
      set.delete(listener);
      this.updateAll();
    };
  }

  /**
   * A per-subscriber connections feed (hosts use it instead of forwarding whole snapshots): a full
   * snapshot first, at once if a poll result is at hand, then deltas. Polling runs while any feed
   * or snapshot listener exists.
   */
  subscribeConnections(sink: ConnectionsSink, opts: FeedOptions = {}): ConnectionsFeed {
    const feed = new ConnectionsFeed(
      sink,
      opts,
      () => this.latest,
      (f) => {
        this.feeds.delete(f);
        this.updatePolling();
      },
    );
    this.feeds.add(feed);
    if (this.latest) feed.offer(this.latest);
    this.updatePolling();
    return feed;
  }

  private updateAll(): void {
    this.updatePolling();
    this.updateWatching();
    this.updateCounters();
    const overviewWanted = (this.listeners.get('mptcp:overview:changed')?.size ?? 0) > 0;
    if (overviewWanted) this.overviewWatch.start();
    else this.overviewWatch.stop();
  }

  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    // Interfaces and addresses come and go with rtnetlink events; MPTCP events (an endpoint
    // announced, a path manager's work) may follow state changes too: re-read the model.
    if (event === 'mptcp:kernel:event' || event === 'mptcp:pm:action' || event === 'mptcp:config:pending') {
      this.overviewWatch.nudge();
    }
    if (this.history && isTimelineEvent(event)) {
      this.history.recordEvent(event, payload as EventPayload<TimelineEventName>);
    }
    for (const l of this.listeners.get(event) ?? []) {
      try {
        l(payload);
      } catch {
        // A failing subscriber must not stop the others.
      }
    }
  }

  /** Kernel event subscriptions run while anyone listens (they hold multicast memberships). */
  private eventsWatched = false;
  private updateWatching(): void {
    const wanted = this.history !== null || (this.listeners.get('mptcp:kernel:event')?.size ?? 0) > 0;
    if (wanted === this.eventsWatched) return;
    this.eventsWatched = wanted;
    void this.backend.handlers['mptcp:events:watch']({ on: wanted }).then(
      (r) => {
        if (wanted && r.note)
          this.emit('mptcp:engine:error', {
            source: 'events',
            code: r.mptcp ? 'KERNEL' : 'EPERM',
            message: r.note,
          });
      },
      (err: unknown) => {
        const e = toApiError(err);
        this.emit('mptcp:engine:error', { source: 'events', code: e.code, message: e.message });
      },
    );
  }

  private wantsPolling(): boolean {
    return (
      this.failoverWanted() ||
      (this.listeners.get('mptcp:connections:snapshot')?.size ?? 0) > 0 ||
      this.feeds.size > 0
    );
  }

  private updatePolling(): void {
    const wanted = this.wantsPolling();
    if (wanted && !this.pollLoopRunning) {
      this.pollLoopRunning = true;
      void this.pollTick(++this.pollGeneration);
    } else if (!wanted && this.pollLoopRunning) {
      this.pollLoopRunning = false;
      this.pollGeneration++;
      if (this.pollTimer) clearTimeout(this.pollTimer);
      this.pollTimer = null;
      this.latest = null;
      this.pollStats.intervalMs = this.pollIntervalMs;
    }
  }

  /**
   * One step of the adaptive poll loop. The next poll is scheduled only after this one finished,
   * so polls never overlap or queue. The interval doubles (up to maxPollIntervalMs) when a poll
   * takes longer than the interval or no feed could take the result (every subscriber is behind),
   * and halves back towards pollIntervalMs once polls are quick and someone keeps up.
   */
  private async pollTick(generation: number): Promise<void> {
    this.pollTimer = null;
    const startedMs = performance.now();
    const sent = await this.pollOnce(generation);
    if (generation !== this.pollGeneration) return; // stopped (and maybe restarted) meanwhile
    const tookMs = performance.now() - startedMs;
    const st = this.pollStats;
    st.polls++;
    st.lastPollMs = tookMs;
    const nobodyKeepsUp = sent !== null && this.feeds.size > 0 && sent === 0;
    if (tookMs > st.intervalMs || nobodyKeepsUp) {
      st.slowPolls++;
      st.intervalMs = Math.min(this.maxPollIntervalMs, st.intervalMs * 2);
    } else if (st.intervalMs > this.pollIntervalMs && tookMs < (st.intervalMs / 2) * 0.8) {
      // Halve while the poll would fit the halved interval with 20% to spare. (The old test,
      // tookMs < intervalMs / 4, never came down after one spike when polls take more than a
      // quarter of the base interval: base 100 ms, polls of 60 ms, stuck at 200 ms.)
      st.intervalMs = Math.max(this.pollIntervalMs, st.intervalMs / 2);
    }
    this.pollTimer = setTimeout(() => void this.pollTick(generation), Math.max(0, st.intervalMs - tookMs));
  }

  /**
   * One poll: emitted to snapshot listeners and offered to every feed. Returns how many feeds
   * took it (null when the poll failed or another was running: a poll is skipped, never queued).
   * `generation` is the poll loop's: a result that arrives after that loop stopped is dropped, so
   * that a later subscriber is not handed it as the current state.
   */
  async pollOnce(generation = this.pollGeneration): Promise<number | null> {
    if (this.polling) return null;
    this.polling = true;
    try {
      const countersRead = this.failoverCounters();
      const snap = await this.backend.handlers['mptcp:connections:list']({});
      if (generation !== this.pollGeneration) return null;
      this.latest = snap;
      this.history?.recordSnapshot(snap);
      this.detectFailover(snap, await countersRead);
      this.emit('mptcp:connections:snapshot', snap);
      let sent = 0;
      for (const feed of [...this.feeds]) {
        try {
          if (feed.offer(snap)) sent++;
        } catch {
          // A failing subscriber must not stop the others.
        }
      }
      return sent;
    } catch (err) {
      const e = toApiError(err);
      this.emit('mptcp:engine:error', { source: 'connections', code: e.code, message: e.message });
      return null;
    } finally {
      this.polling = false;
    }
  }

  // ---- Failover events (./failover.ts) ---------------------------------------------------------

  private readonly failover = new FailoverDetector();
  private failoverCountersAtMs = 0;

  /** Derived while the host keeps a timeline or someone listens. */
  private failoverWanted(): boolean {
    return this.history !== null || (this.listeners.get('mptcp:failover:event')?.size ?? 0) > 0;
  }

  /** The MPTcpExt counters for SubflowStale/SubflowRecover, at most once a second; null otherwise. */
  private async failoverCounters(): Promise<MptcpCounters | null> {
    const nowMs = Date.now();
    if (!this.failoverWanted() || nowMs - this.failoverCountersAtMs < 1000) return null;
    this.failoverCountersAtMs = nowMs;
    try {
      return await this.backend.handlers['mptcp:counters:get']({});
    } catch {
      return null; // the subflow events need no counters; a counters error shows on the Overview
    }
  }

  private detectFailover(snap: ConnectionsSnapshot, counters: MptcpCounters | null): void {
    if (!this.failoverWanted()) return;
    const found = this.failover.observe(snap);
    if (counters) found.push(...this.failover.observeCounters(counters.counters, counters.takenAtMs));
    for (const e of found) this.emit('mptcp:failover:event', e);
  }

  // ---- MPTcpExt counters sampler --------------------------------------------------------------

  private countersTimer: NodeJS.Timeout | null = null;
  private lastCounters: MptcpCounters | null = null;
  private sampling = false;

  private updateCounters(): void {
    const wanted = (this.listeners.get('mptcp:counters:sample')?.size ?? 0) > 0;
    if (wanted && !this.countersTimer) {
      this.countersTimer = setInterval(() => void this.sampleCounters(), this.countersIntervalMs);
      void this.sampleCounters();
    } else if (!wanted && this.countersTimer) {
      clearInterval(this.countersTimer);
      this.countersTimer = null;
      this.lastCounters = null;
    }
  }

  /** Read the counters and emit the ones that changed since the previous sample (all, the first time). */
  async sampleCounters(): Promise<void> {
    if (this.sampling) return; // a slow read skips a tick instead of stacking reads
    this.sampling = true;
    try {
      const now = await this.backend.handlers['mptcp:counters:get']({});
      // Stopped meanwhile: drop the sample, and do not keep it as the base of a later subscription
      // (its first sample must carry every counter, prevTakenAtMs null).
      if (this.countersTimer === null) return;
      const prev = this.lastCounters;
      const changed: Record<string, number> = {};
      for (const [name, value] of Object.entries(now.counters)) {
        if (prev?.counters[name] !== value) changed[name] = value;
      }
      this.lastCounters = now;
      this.emit('mptcp:counters:sample', {
        takenAtMs: now.takenAtMs,
        prevTakenAtMs: prev?.takenAtMs ?? null,
        changed,
      });
    } catch (err) {
      const e = toApiError(err);
      this.emit('mptcp:engine:error', { source: 'counters', code: e.code, message: e.message });
    } finally {
      this.sampling = false;
    }
  }

  /**
   * Stop everything this service started (polls, samples, its subscription to the backend's
   * events) without closing the backend, which others may share (the privileged agent serves
   * every client from one backend: one subscription leaked per connection before).
   */
  detach(): void {
    this.overviewWatch.stop();
    this.stopBackendEvents?.();
    this.stopBackendEvents = null;
    this.pollLoopRunning = false;
    this.pollGeneration++;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    if (this.countersTimer) clearInterval(this.countersTimer);
    this.countersTimer = null;
    this.feeds.clear();
    this.listeners.clear();
  }

  async close(): Promise<void> {
    this.detach();
    await this.backend.close();
  }
}
