/**
 * Failover in the timeline: a subflow stalling and recovering, traffic moving to another subflow
 * (a backup, or away from a stalled or closed one), and the kernel marking subflows stale
 * (MPTcpExt SubflowStale / SubflowRecover). The engine derives them from its polls
 * (src-main/engine/failover.ts; docs/live-data.md, "Failover events") and pushes them as
 * `mptcp:failover:event`; the host keeps them in its timeline like kernel events.
 */
import { z } from 'zod';

const u32 = z.number().int().min(0).max(0xffffffff);
const port = z.number().int().min(0).max(65535);

export const FailoverKindSchema = z.enum([
  /** A subflow's data went unacknowledged for longer than its RTO, or its RTO backed off. */
  'stalled',
  /** A stalled subflow's data was acknowledged again. */
  'recovered',
  /** Most of a connection's traffic left one subflow for another (failover, or back). */
  'traffic-moved',
  /** MPTcpExt SubflowStale rose: the kernel's scheduler stopped using stale subflows. */
  'kernel-stale',
  /** MPTcpExt SubflowRecover rose: stale subflows carry data again. */
  'kernel-recover',
]);
export type FailoverKind = z.infer<typeof FailoverKindSchema>;

/** A subflow as a failover event names it. */
export const FailoverSubflowSchema = z.object({
  localAddress: z.string(),
  localPort: port,
  remoteAddress: z.string(),
  remotePort: port,
  /** Our or the peer's backup flag (MP_PRIO / MP_JOIN B bit). */
  backup: z.boolean(),
  /** The interface it leaves by, when known. */
  ifname: z.string().nullable(),
});
export type FailoverSubflow = z.infer<typeof FailoverSubflowSchema>;

export const FailoverEventSchema = z.object({
  /** When the poll that showed it was taken (engine clock, ms since the epoch). */
  timestampMs: z.number(),
  kind: FailoverKindSchema,
  /** The connection's local token; null for the namespace-wide counter events. */
  token: u32.nullable(),
  /** stalled/recovered: the subflow; traffic-moved: where the traffic went. */
  subflow: FailoverSubflowSchema.nullable(),
  /** traffic-moved: where most of the traffic was before. */
  from: FailoverSubflowSchema.nullable(),
  /** traffic-moved: what became of `from` (it stalled, closed, or is fine). */
  fromState: z.enum(['stalled', 'closed', 'active']).nullable(),
  /** traffic-moved: the move back after a failover (or from a backup to a regular subflow). */
  back: z.boolean(),
  /** tcpi_backoff (uapi: linux/tcp.h) when the kernel reports it. */
  backoff: z.number().int().min(0).nullable(),
  /** How long unacknowledged data has waited for an ACK, ms. */
  noAckMs: z.number().min(0).nullable(),
  /** recovered: how long the stall lasted, ms. */
  stalledForMs: z.number().min(0).nullable(),
  /** traffic-moved: the share of the connection's throughput on `subflow` now, 0..1. */
  share: z.number().min(0).max(1).nullable(),
  /** kernel-stale / kernel-recover: by how much the counter rose since the previous poll. */
  count: z.number().int().min(0).nullable(),
});
export type FailoverEvent = z.infer<typeof FailoverEventSchema>;

function hostPort(a: string, p: number): string {
  return a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`;
}

/** "10.0.1.1:40000 → 10.0.2.1:5201 (eth1)" */
export function describeFailoverSubflow(s: FailoverSubflow): string {
  const dev = s.ifname ? ` (${s.ifname})` : '';
  return `${hostPort(s.localAddress, s.localPort)} → ${hostPort(s.remoteAddress, s.remotePort)}${dev}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The event in plain words, for the Events page, the CLI and logs. */
export function describeFailover(e: FailoverEvent): string {
  switch (e.kind) {
    case 'stalled': {
      const why: string[] = [];
      if (e.backoff !== null && e.backoff > 0) why.push(`backoff ${e.backoff}`);
      if (e.noAckMs !== null) why.push(`no ACK for ${seconds(e.noAckMs)}`);
      const sub = e.subflow ? describeFailoverSubflow(e.subflow) : '?';
      return `subflow ${sub} stalled${why.length ? ` (${why.join(', ')})` : ''}`;
    }
    case 'recovered': {
      const sub = e.subflow ? describeFailoverSubflow(e.subflow) : '?';
      return `subflow ${sub} recovered${e.stalledForMs !== null ? ` after ${seconds(e.stalledForMs)}` : ''}`;
    }
    case 'traffic-moved': {
      const to = e.subflow;
      const target = to ? `${to.backup ? 'backup subflow' : 'subflow'} ${describeFailoverSubflow(to)}` : '?';
      const share = e.share !== null ? ` (${Math.round(e.share * 100)}% of the traffic)` : '';
      const from = e.from
        ? ` from ${e.from.backup ? 'backup subflow' : 'subflow'} ${describeFailoverSubflow(e.from)}${
            e.fromState === 'stalled' ? ', stalled' : e.fromState === 'closed' ? ', closed' : ''
          }`
        : '';
      return `traffic moved${e.back ? ' back' : ''} to ${target}${share}${from}`;
    }
    case 'kernel-stale':
      return `the kernel marked ${e.count ?? '?'} subflow${e.count === 1 ? '' : 's'} stale (MPTcpExt SubflowStale): the scheduler sends on the others`;
    case 'kernel-recover':
      return `${e.count ?? '?'} stale subflow${e.count === 1 ? '' : 's'} recovered (MPTcpExt SubflowRecover)`;
  }
}
