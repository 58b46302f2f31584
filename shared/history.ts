/**
 * The host's memory of the last minutes (src-main/engine/history.ts): per-subflow chart series and
 * the timeline, so that a reload or a late-opened view starts with what happened.
 */
import { z } from 'zod';
import { ConfigOutcomeSchema } from './config-api';
import { PmActionSchema } from './pm';
import { FailoverEventSchema } from './failover';
import { ConfigRecoverySchema, KernelEventSchema } from './types';

const u32 = z.number().int().min(0).max(0xffffffff);

/** Parallel arrays, one entry per poll; a rate that could not be derived is null. */
export const HistorySamplesSchema = z.object({
  tMs: z.array(z.number()),
  rttUs: z.array(z.number()),
  cwndPkts: z.array(z.number()),
  sendBytesPerSec: z.array(z.number().nullable()),
  recvBytesPerSec: z.array(z.number().nullable()),
  retransPkts: z.array(z.number()),
  /**
   * The subflow's health at each poll (shared/health.ts healthCode), so that a stall shows as one
   * after a reload too; null: unknown. Absent from a host that predates it.
   */
  health: z.array(z.number().int().min(0).max(3).nullable()).optional(),
});
export type HistorySamples = z.infer<typeof HistorySamplesSchema>;

export const ConnectionHistorySchema = z.object({
  token: u32,
  /** How far back the host keeps history. */
  retentionMs: z.number(),
  subflows: z.array(
    z.object({
      meta: z.object({
        token: u32,
        localAddress: z.string(),
        localPort: z.number().int().min(0).max(65535),
        remoteAddress: z.string(),
        remotePort: z.number().int().min(0).max(65535),
        backup: z.boolean(),
      }),
      samples: HistorySamplesSchema,
      /**
       * The last reading's byte counters and time: a client that continues the series from its
       * own readings derives the next rate from these (no gap, no spike).
       */
      last: z.object({ tMs: z.number(), bytesAcked: z.number(), bytesReceived: z.number() }).nullable(),
    }),
  ),
});
export type ConnectionHistory = z.infer<typeof ConnectionHistorySchema>;

/** One timeline entry as it was pushed, with when the host got it. */
export const TimelineEntrySchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('mptcp:kernel:event'), atMs: z.number(), payload: KernelEventSchema }),
  z.object({ name: z.literal('mptcp:pm:action'), atMs: z.number(), payload: PmActionSchema }),
  z.object({ name: z.literal('mptcp:config:recovered'), atMs: z.number(), payload: ConfigRecoverySchema }),
  z.object({ name: z.literal('mptcp:config:outcome'), atMs: z.number(), payload: ConfigOutcomeSchema }),
  z.object({ name: z.literal('mptcp:failover:event'), atMs: z.number(), payload: FailoverEventSchema }),
]);
export type TimelineEntry = z.infer<typeof TimelineEntrySchema>;

export const TimelineHistorySchema = z.object({
  retentionMs: z.number(),
  entries: z.array(TimelineEntrySchema),
  /** Entries were dropped to the host's cap (a burst of more than it keeps). */
  truncated: z.boolean(),
});
export type TimelineHistory = z.infer<typeof TimelineHistorySchema>;
