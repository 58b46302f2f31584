/**
 * The agent side of the connections feed (AgentFeedArgsSchema in shared/wire.ts): per agent
 * connection, the snapshot it was sent last, so that the next `mptcp:connections:list` with
 * feed arguments answers with a delta against it (shared/delta.ts).
 */
import {
  CONNECTION_FIELDS,
  diffSnapshots,
  SUBFLOW_FIELDS,
  type ConnectionsFeedEvent,
} from '../../../shared/delta';
import type { Result } from '../../../shared/result';
import type { ConnectionsSnapshot } from '../../../shared/types';
import type { EngineService } from '../service';

/**
 * The field layout delta packing uses (shared/delta.ts codes fields by position): a host and an
 * agent of different builds could otherwise put values in the wrong fields.
 */
export const FEED_FIELDS = `${CONNECTION_FIELDS.join(',')}|${SUBFLOW_FIELDS.join(',')}`;

/** How long an agent keeps a silent client's last feed snapshot (polls come every 1-8 s). */
export const FEED_IDLE_MS = 60_000;

export class AgentFeed {
  private last: { seq: number; snapshot: ConnectionsSnapshot } | null = null;
  // A client that stops polling (the privileged agent may serve several over its socket) does not
  // keep a whole snapshot (~10 MB at 10,000 connections) in the daemon: its next poll is full.
  private idle: NodeJS.Timeout | null = null;
  private seq = 0;

  constructor(private readonly service: EngineService) {}

  async list(baseSeq: number | null, fields: string): Promise<Result<unknown>> {
    if (fields !== FEED_FIELDS) {
      return {
        ok: false,
        error: {
          code: 'BAD_REQUEST',
          message: 'connections feed: the host packs other fields (another build); send whole snapshots',
        },
      };
    }
    const r = await this.service.invoke('mptcp:connections:list', {});
    if (!r.ok) return r;
    const snapshot = r.value as ConnectionsSnapshot;
    const seq = ++this.seq;
    const ev: ConnectionsFeedEvent =
      baseSeq !== null && this.last?.seq === baseSeq
        ? diffSnapshots(this.last.snapshot, snapshot, seq, baseSeq)
        : { kind: 'full', seq, snapshot };
    this.last = { seq, snapshot };
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => (this.last = null), FEED_IDLE_MS);
    this.idle.unref();
    return { ok: true, value: ev };
  }

  close(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    this.last = null;
  }
}
