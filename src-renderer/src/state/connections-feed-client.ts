/**
 * The renderer's end of the connections feed: holds the snapshot rebuilt from the host's
 * `mptcp:connections:delta` events and hands every new one to its listeners (the connections
 * table, the charts, the recorder) as a whole snapshot, as if the host had sent it.
 *
 * A delta whose baseSeq is not the seq held here (a gap), or that does not fit (DeltaMismatch),
 * is dropped and a resync asked for: the host answers with a full snapshot. Over IPC each applied
 * event is acknowledged, which is what lets the host coalesce when this renderer is busy.
 * A whole `mptcp:connections:snapshot` (a host without deltas, tests) is taken as a replacement.
 *
 * When applying an event took longer than `sliceBudgetMs` (a delta of 1,000 changed connections
 * at 10,000, a full snapshot), its snapshot goes to the listeners (the stores, then React) in a
 * task of their own that starts right after the next frame, instead of one long task per poll
 * (docs/performance.md, renderer section). Listeners still get every snapshot, in order; `seq`,
 * acks and resyncs are as before, at once.
 */
import type { MptcpApi } from '../../../shared/contract';
import { applyDelta, type ConnectionsFeedEvent } from '../../../shared/delta';
import type { ConnectionsSnapshot } from '../../../shared/types';

export interface FeedClientStats {
  full: number;
  deltas: number;
  /** Deltas dropped because they did not follow the held seq or did not fit. */
  gaps: number;
  resyncs: number;
  /** Snapshots handed to the listeners in a later task (receiving took over the slice budget). */
  deferred: number;
}

export interface FeedClientOptions {
  /** Acknowledge each applied event (the IPC host needs it; over WebSocket it is not used). */
  ack?: boolean;
  /** A resync unanswered this long may be asked again. */
  resyncRetryMs?: number;
  now?: () => number;
  /**
   * Receiving an event that took longer than this (ms, by `clock`) hands its snapshot to the
   * listeners in a later task; Infinity: always at once.
   */
  sliceBudgetMs?: number;
  /**
   * ... and only for snapshots of at least this many connections: below, the work is small, and
   * listeners (component tests among them) keep getting snapshots in the same task.
   */
  sliceFromConnections?: number;
  /** A monotonic clock in ms (performance.now). */
  clock?: () => number;
  /** Runs `task` in a later task (a MessageChannel message; setTimeout without one). */
  schedule?: (task: () => void) => void;
}

/**
 * A task of its own right after the browser's next frame (requestAnimationFrame, then a
 * MessageChannel message: the task starts as a frame ends, so it has a whole frame's time before
 * the next one), or soon after without frames (a hidden page draws none; tests have no
 * requestAnimationFrame): whichever comes first runs it, once.
 */
function laterTask(): { schedule: (task: () => void) => void; close: () => void } {
  const hiddenPageMs = 250;
  if (typeof MessageChannel === 'undefined') {
    return { schedule: (task) => void setTimeout(task, 0), close: () => undefined };
  }
  const channel = new MessageChannel();
  const queue: (() => void)[] = [];
  channel.port1.onmessage = () => queue.shift()?.();
  // Node (tests): a port with a listener would keep the process alive.
  (channel.port1 as { unref?: () => void }).unref?.();
  const post = (task: () => void) => {
    queue.push(task);
    channel.port2.postMessage(null);
  };
  return {
    schedule: (task) => {
      if (typeof requestAnimationFrame === 'undefined') return post(task);
      let done = false;
      const once = () => {
        if (done) return;
        done = true;
        task();
      };
      requestAnimationFrame(() => post(once));
      setTimeout(once, hiddenPageMs);
    },
    close: () => {
      channel.port1.onmessage = null;
      channel.port1.close();
    },
  };
}

export class ConnectionsFeedClient {
  private held: { seq: number; snapshot: ConnectionsSnapshot } | null = null;
  private resyncAskedAtMs: number | null = null;
  private readonly listeners = new Set<(snapshot: ConnectionsSnapshot) => void>();
  private readonly offs: (() => void)[];
  private readonly ack: boolean;
  private readonly resyncRetryMs: number;
  private readonly now: () => number;
  private readonly sliceBudgetMs: number;
  private readonly sliceFromConnections: number;
  private readonly clock: () => number;
  private readonly schedule: (task: () => void) => void;
  private readonly closeScheduler: () => void;
  /** Snapshots received but not yet handed to the listeners (a later task will). */
  private readonly pending: ConnectionsSnapshot[] = [];
  readonly stats: FeedClientStats = { full: 0, deltas: 0, gaps: 0, resyncs: 0, deferred: 0 };

  constructor(
    private readonly api: MptcpApi,
    opts: FeedClientOptions = {},
  ) {
    this.ack = opts.ack ?? false;
    this.resyncRetryMs = opts.resyncRetryMs ?? 3000;
    this.now = opts.now ?? Date.now;
    this.sliceBudgetMs = opts.sliceBudgetMs ?? 4;
    this.sliceFromConnections = opts.sliceFromConnections ?? 1000;
    this.clock = opts.clock ?? (() => performance.now());
    if (opts.schedule) {
      this.schedule = opts.schedule;
      this.closeScheduler = () => undefined;
    } else {
      // Made on first use: a feed that is never slow never opens a channel.
      let later: ReturnType<typeof laterTask> | null = null;
      this.schedule = (task) => (later ??= laterTask()).schedule(task);
      this.closeScheduler = () => later?.close();
    }
    this.offs = [
      api.on('mptcp:connections:delta', (e) => this.receive(e)),
      api.on('mptcp:connections:snapshot', (s) => this.publish(s)),
    ];
  }

  /** The snapshot as rebuilt here (null until the first full one). */
  get snapshot(): ConnectionsSnapshot | null {
    return this.held?.snapshot ?? null;
  }

  get seq(): number | null {
    return this.held?.seq ?? null;
  }

  subscribe(listener: (snapshot: ConnectionsSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Ask the host to start this feed over with a full snapshot. */
  resync(): void {
    const now = this.now();
    if (this.resyncAskedAtMs !== null && now - this.resyncAskedAtMs < this.resyncRetryMs) return;
    this.resyncAskedAtMs = now;
    this.stats.resyncs++;
    this.api.invoke('mptcp:connections:resync', {}).then(
      (r) => {
        if (!r.ok) this.resyncAskedAtMs = null; // e.g. closed meanwhile: the next gap asks again
      },
      () => {
        this.resyncAskedAtMs = null;
      },
    );
  }

  receive(e: ConnectionsFeedEvent): void {
    // The event was validated just before this (ws-client.ts), in the same task: the apply's time
    // tells whether the listeners' work should wait for a task of its own.
    const t0 = this.clock();
    if (e.kind === 'full') {
      this.stats.full++;
      this.resyncAskedAtMs = null;
      this.held = { seq: e.seq, snapshot: e.snapshot };
    } else {
      const held = this.held;
      if (!held || held.seq !== e.baseSeq) {
        this.stats.gaps++;
        this.resync();
        return;
      }
      let next: ConnectionsSnapshot;
      try {
        next = applyDelta(held.snapshot, e);
      } catch {
        this.stats.gaps++;
        this.held = null;
        this.resync();
        return;
      }
      this.stats.deltas++;
      this.held = { seq: e.seq, snapshot: next };
    }
    if (this.ack) void this.api.invoke('mptcp:connections:ack', { seq: e.seq });
    const snapshot = this.held.snapshot;
    this.hand(
      snapshot,
      snapshot.connections.length >= this.sliceFromConnections && this.clock() - t0 > this.sliceBudgetMs,
    );
  }

  private publish(snapshot: ConnectionsSnapshot): void {
    this.hand(snapshot, false);
  }

  /** To the listeners now, or in a later task; after any still waiting, so always in order. */
  private hand(snapshot: ConnectionsSnapshot, later: boolean): void {
    if (!later && this.pending.length === 0) {
      this.emit(snapshot);
      return;
    }
    this.stats.deferred++;
    this.pending.push(snapshot);
    if (this.pending.length === 1) this.schedule(() => this.flush());
  }

  private flush(): void {
    const next = this.pending.shift();
    if (next === undefined) return;
    this.emit(next);
    if (this.pending.length > 0) this.schedule(() => this.flush());
  }

  private emit(snapshot: ConnectionsSnapshot): void {
    for (const l of [...this.listeners]) {
      try {
        l(snapshot);
      } catch (err) {
        console.error('connections feed listener threw', err);
      }
    }
  }

  dispose(): void {
    for (const off of this.offs) off();
    this.listeners.clear();
    this.pending.length = 0;
    this.closeScheduler();
  }
}
