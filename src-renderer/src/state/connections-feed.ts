/**
 * The renderer's end of the connections feed: holds the snapshot rebuilt from the host's
 * `mptcp:connections:delta` events and hands every new one to its listeners (the connections
 * table, the charts, the recorder) as a whole snapshot, as if the host had sent it.
 *
 * A delta whose baseSeq is not the seq held here (a gap), or that does not fit (DeltaMismatch),
 * is dropped and a resync asked for: the host answers with a full snapshot. Over IPC each applied
 * event is acknowledged, which is what lets the host coalesce when this renderer is busy.
 * A whole `mptcp:connections:snapshot` (a host without deltas, tests) is taken as a replacement.
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
}

export interface FeedClientOptions {
  /** Acknowledge each applied event (the IPC host needs it; over WebSocket it is not used). */
  ack?: boolean;
  /** A resync unanswered this long may be asked again. */
  resyncRetryMs?: number;
  now?: () => number;
}

export class ConnectionsFeedClient {
  private held: { seq: number; snapshot: ConnectionsSnapshot } | null = null;
  private resyncAskedAtMs: number | null = null;
  private readonly listeners = new Set<(snapshot: ConnectionsSnapshot) => void>();
  private readonly offs: (() => void)[];
  private readonly ack: boolean;
  private readonly resyncRetryMs: number;
  private readonly now: () => number;
  readonly stats: FeedClientStats = { full: 0, deltas: 0, gaps: 0, resyncs: 0 };

  constructor(
    private readonly api: MptcpApi,
    opts: FeedClientOptions = {},
  ) {
    this.ack = opts.ack ?? false;
    this.resyncRetryMs = opts.resyncRetryMs ?? 3000;
    this.now = opts.now ?? Date.now;
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
    this.emit(this.held.snapshot);
  }

  private publish(snapshot: ConnectionsSnapshot): void {
    this.emit(snapshot);
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
  }
}
