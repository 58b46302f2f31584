/**
 * The one API contract. Both hosts (Electron IPC, web WebSocket) and the per-namespace agent serve
 * exactly this; the renderer consumes it through `MptcpApi`. Add a capability here first and the
 * compiler points at every place that must follow.
 *
 * Channel names are `mptcp:<noun>:<verb>`.
 */
import { z } from 'zod';
import type { Result } from './result';
import {
  ConnectionsSnapshotSchema,
  EndpointSchema,
  KernelStatusSchema,
  LimitsSchema,
  NetInterfaceSchema,
  OverviewSchema,
} from './types';

const NoArgs = z.object({}).strict();

export const methods = {
  /** Kernel MPTCP status, settings, capabilities and privileges. */
  'mptcp:status:get': { args: NoArgs, result: KernelStatusSchema },
  /** In-kernel PM endpoints (MPTCP_PM_CMD_GET_ADDR dump). */
  'mptcp:endpoints:list': { args: NoArgs, result: z.array(EndpointSchema) },
  /** In-kernel PM limits (MPTCP_PM_CMD_GET_LIMITS). */
  'mptcp:limits:get': { args: NoArgs, result: LimitsSchema },
  /** Interfaces with their addresses (RTM_GETLINK + RTM_GETADDR dumps). */
  'mptcp:interfaces:list': { args: NoArgs, result: z.array(NetInterfaceSchema) },
  /** Every MPTCP connection with its subflows (sock_diag). */
  'mptcp:connections:list': { args: NoArgs, result: ConnectionsSnapshotSchema },
  /** Everything the Overview shows, read in one go; partial failures are listed, not hidden. */
  'mptcp:overview:get': { args: NoArgs, result: OverviewSchema },
} as const;

export const events = {
  /** Periodic connections snapshot, pushed by the host's poller. */
  'mptcp:connections:snapshot': ConnectionsSnapshotSchema,
  /** The poller could not read the kernel; the UI shows it instead of stale data. */
  'mptcp:engine:error': z.object({ source: z.string(), code: z.string(), message: z.string() }),
} as const;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type MethodArgs<M extends MethodName> = z.input<Methods[M]['args']>;
export type MethodResult<M extends MethodName> = z.output<Methods[M]['result']>;

export type Events = typeof events;
export type EventName = keyof Events;
export type EventPayload<E extends EventName> = z.output<Events[E]>;

export const methodNames = Object.keys(methods) as MethodName[];
export const eventNames = Object.keys(events) as EventName[];

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(methods, name);
}

export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(events, name);
}

/** What the renderer holds: `window.mptcp` in Electron, a WebSocket client in the browser. */
export interface MptcpApi {
  invoke<M extends MethodName>(method: M, args: MethodArgs<M>): Promise<Result<MethodResult<M>>>;
  /** Subscribe to an event stream; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
}

/** The engine side: one handler per method, args already parsed. */
export type Handlers = {
  [M in MethodName]: (args: z.output<Methods[M]['args']>) => Promise<MethodResult<M>>;
};
