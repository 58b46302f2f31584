/**
 * Framing for the contract over a byte stream (WebSocket text frames, agent stdio JSON lines).
 * Electron IPC carries the same call/result objects without this envelope.
 */
import { z } from 'zod';
import { ApiErrorSchema } from './result';

export const WireCallSchema = z.object({
  t: z.literal('call'),
  id: z.number().int().min(0),
  method: z.string().max(100),
  args: z.unknown(),
});
export type WireCall = z.infer<typeof WireCallSchema>;

export const WireResultSchema = z.object({
  t: z.literal('result'),
  id: z.number().int().min(0),
  result: z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), value: z.unknown() }),
    z.object({ ok: z.literal(false), error: ApiErrorSchema }),
  ]),
});
export type WireResult = z.infer<typeof WireResultSchema>;

export const WireEventSchema = z.object({
  t: z.literal('event'),
  name: z.string().max(100),
  payload: z.unknown(),
});
export type WireEvent = z.infer<typeof WireEventSchema>;

/** Messages a client sends. */
export const ClientMessageSchema = WireCallSchema;
/** Messages a server sends. */
export const ServerMessageSchema = z.discriminatedUnion('t', [WireResultSchema, WireEventSchema]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;

/** Largest message a host accepts from its agent (a 10k-connection snapshot is ~10 MB of JSON). */
export const MAX_WIRE_BYTES = 64 * 1024 * 1024;

/**
 * Largest call a client may send (a WebSocket message, an agent request line). The biggest call
 * the contract has is a profile import (PROFILE_TEXT_MAX_CHARS of text, which JSON escaping can
 * grow at most sixfold); everything else is a few hundred bytes.
 */
export const MAX_CALL_BYTES = 2 * 1024 * 1024;

/**
 * Host <-> agent only: `mptcp:connections:list` called with these arguments (instead of `{}`)
 * answers with a ConnectionsFeedEvent (shared/delta.ts) instead of a whole snapshot: `full` when
 * `baseSeq` is null or is not the last one this agent connection sent, else a `delta` on top of
 * it. A 10,000-connection snapshot is ~10 MB of JSON per poll; a delta of idle connections is a few
 * kB. An agent that predates this refuses the arguments (the contract's strict NoArgs), one of
 * another build refuses the feed (`fields`), and the host falls back to whole snapshots.
 */
export const AgentFeedArgsSchema = z
  .object({
    feed: z
      .object({
        baseSeq: z.number().int().min(0).nullable(),
        /**
         * The host's packed-field layout (connection fields, `|`, subflow fields: delta.ts codes a
         * field by its position). An agent with another layout refuses the feed.
         */
        fields: z.string().max(4096),
      })
      .strict(),
  })
  .strict();
export type AgentFeedArgs = z.infer<typeof AgentFeedArgsSchema>;
