/**
 * One subscriber's connections feed (a WebSocket client, an Electron window): remembers the
 * snapshot this subscriber last received and sends it a delta against that (shared/delta.ts).
 *
 * Adapt, never queue: when the subscriber cannot take a message (its socket has a backlog, or it
 * has not acknowledged recent events) the poll's snapshot is not sent and nothing is buffered for
 * it; the next snapshot it can take is diffed against what it last got, so the one delta covers
 * everything it missed.
 */
import { diffSnapshots, type ConnectionsFeedEvent } from '../../shared/delta';
import type { ConnectionsSnapshot } from '../../shared/types';

/**
 * Default ackTimeoutMs. A renderer acks each event as soon as it has applied it (a few ms), and
 * the poll sends about once a second (at most every maxPollIntervalMs, 8 s, while nobody keeps up:
 * the timeout only runs while the window is full, counted from the last send). Five seconds of
 * silence with a full window is far beyond a busy-but-alive renderer's lag at the default 1 s
 * poll, while a renderer that lost its acks (reloaded without a resync, a dropped IPC message)
 * is back on a full snapshot within a few polls instead of being starved for good.
 */
export const DEFAULT_ACK_TIMEOUT_MS = 5000;

export interface ConnectionsSink {
  /** The subscriber can take a message now (e.g. its WebSocket has little unsent). */
  ready(): boolean;
  send(event: ConnectionsFeedEvent): void;
}

export interface FeedOptions {
  /**
   * Send at most this many events beyond the last acknowledged one (IPC, where the transport
   * cannot tell whether the renderer keeps up). Unset: acknowledgements are not required.
   */
  ackWindow?: number;
  /** A subscriber silent this long is sent a full snapshot next (it may have reloaded). */
  ackTimeoutMs?: number;
  now?: () => number;
}

export interface FeedStats {
  full: number;
  deltas: number;
  /** Polls not sent because the subscriber was busy (coalesced into a later delta). */
  skipped: number;
  resyncs: number;
}

export class ConnectionsFeed {
  private seq = 0;
  private sent: ConnectionsSnapshot | null = null;
  private needFull = true;
  private ackedSeq = 0;
  private lastSendMs = 0;
  private readonly now: () => number;
  readonly stats: FeedStats = { full: 0, deltas: 0, skipped: 0, resyncs: 0 };

  constructor(
    private readonly sink: ConnectionsSink,
    private readonly opts: FeedOptions,
    private readonly latest: () => ConnectionsSnapshot | null,
    private readonly onClose: (feed: ConnectionsFeed) => void,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** The seq of the last event sent (what the subscriber should hold once it has caught up). */
  get lastSeq(): number {
    return this.seq;
  }

  private acksAllow(): boolean {
    const window = this.opts.ackWindow;
    if (window === undefined || this.seq - this.ackedSeq < window) return true;
    if (this.now() - this.lastSendMs > (this.opts.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS)) {
      // No word for a long time: start the subscriber over rather than wait forever.
      this.needFull = true;
      this.ackedSeq = this.seq;
      return true;
    }
    return false;
  }

  /** Offer a new poll result; returns whether it was sent. */
  offer(snapshot: ConnectionsSnapshot): boolean {
    if (!this.sink.ready() || !this.acksAllow()) {
      this.stats.skipped++;
      return false;
    }
    const base = this.sent;
    if (this.needFull || base === null) {
      this.seq++;
      this.sink.send({ kind: 'full', seq: this.seq, snapshot });
      this.stats.full++;
      this.needFull = false;
    } else {
      if (base === snapshot) return true; // already has it
      const delta = diffSnapshots(base, snapshot, this.seq + 1, this.seq);
      this.seq++;
      this.sink.send(delta);
      this.stats.deltas++;
    }
    this.sent = snapshot;
    this.lastSendMs = this.now();
    return true;
  }

  /** The subscriber lost track (gap, reload): a full snapshot next, now if there is one. */
  resync(): void {
    this.stats.resyncs++;
    this.needFull = true;
    this.ackedSeq = this.seq;
    const latest = this.latest();
    if (latest) this.offer(latest);
  }

  ack(seq: number): void {
    if (seq <= this.seq) this.ackedSeq = Math.max(this.ackedSeq, seq);
  }

  close(): void {
    this.onClose(this);
  }
}
