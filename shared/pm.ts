/**
 * The engine as path manager, in the contract: what `mptcp:pm:start` accepts, what
 * `mptcp:pm:status` reports and what each `mptcp:pm:action` event says. The path manager runs
 * where the engine runs (in-process for the local namespace, inside the per-namespace agent
 * otherwise), because netlink sockets are per network namespace (network_namespaces(7)).
 */
import { z } from 'zod';
import { KernelEventSchema } from './types';

export const PmModeSchema = z.enum(['fullmesh', 'ndiffports']);
export type PmMode = z.infer<typeof PmModeSchema>;
/** Client: creates subflows. Server: never does (RFC 8684 §3.4: it announces, the client joins). */
export const PmRoleSchema = z.enum(['client', 'server']);
export type PmRole = z.infer<typeof PmRoleSchema>;
/**
 * userspace: net.mptcp.path_manager=userspace and the engine sends SUBFLOW_CREATE / ANNOUNCE per
 * connection (docs/path-manager.md). kernel: the in-kernel PM creates the subflows; the engine
 * keeps its endpoints in step with the interfaces' addresses (fullmesh only, at most 8
 * endpoints: docs/kernel-interfaces.md).
 */
export const PmManagerSchema = z.enum(['userspace', 'kernel']);
export type PmManager = z.infer<typeof PmManagerSchema>;

/**
 * Recreating closed subflows under the userspace manager (docs/path-manager.md, "Self-healing"):
 * the kernel never creates a subflow again once it closed, whichever path manager runs. Attempts
 * wait retryDelayMs, doubling each time up to maxRetryDelayMs; eight of them (1, 2, 4, 8, 16, 30,
 * 30 and 30 s apart) span about two minutes, a link flap's usual length.
 */
export const PM_RECREATE = { maxRetries: 8, retryDelayMs: 1000, maxRetryDelayMs: 30_000 } as const;

/** What happens to a subflow that closed on an error under this manager, in words. */
export function recreateSummary(s: {
  running: boolean;
  manager: PmManager | null;
  role: PmRole | null;
}): string {
  if (s.running && s.manager === 'userspace' && s.role === 'server')
    return 'not re-created here: a server never creates subflows; the client re-creates them';
  if (s.running && s.manager === 'userspace')
    return (
      `re-created when they close on an error (link flap, reset, timeout): after ${PM_RECREATE.retryDelayMs / 1000} s, ` +
      `doubling up to ${PM_RECREATE.maxRetryDelayMs / 1000} s, at most ${PM_RECREATE.maxRetries} attempts, and at once when ` +
      'their interface comes back; each attempt is a path-manager action'
    );
  return (
    'not re-created: the in-kernel path manager never re-creates a subflow that closed (link flap, ' +
    'reset, timeout); start MPTCP Studio as the userspace path manager (client) to have them re-created'
  );
}

/** Default subflows per connection: ndiffports 2 (initial included), fullmesh a cap of 16. */
export const defaultPmSubflows = (mode: PmMode): number => (mode === 'ndiffports' ? 2 : 16);

export const PmStartArgsSchema = z
  .object({
    mode: PmModeSchema,
    role: PmRoleSchema,
    manager: PmManagerSchema,
    /** ndiffports: subflows per connection; fullmesh: the cap per connection. */
    subflows: z.number().int().min(1).max(256).optional(),
    /** Start even if mptcpd or NetworkManager manages MPTCP in this namespace. */
    force: z.boolean().default(false),
  })
  .strict()
  .refine((a) => a.manager === 'userspace' || a.mode === 'fullmesh', {
    message: 'the in-kernel manager supports fullmesh only (ndiffports needs the userspace PM)',
    path: ['mode'],
  });
export type PmStartArgs = z.output<typeof PmStartArgsSchema>;

export const PmActionResultSchema = z.enum(['ok', 'error', 'skipped', 'info']);

/**
 * One thing the path manager did or decided: a command to the kernel with its outcome
 * (subflow-create, subflow-destroy, announce, remove, endpoint-sync), or a decision worth showing
 * (adopt, retry-scheduled, give-up, local-addresses, started, stopped).
 */
export const PmActionSchema = z.object({
  timestampMs: z.number(),
  /** The connection's local token; null for namespace-wide actions. */
  token: z.number().int().min(0).max(0xffffffff).nullable(),
  action: z.string().min(1).max(64),
  result: PmActionResultSchema,
  message: z.string().nullable(),
  local: z.string().nullable(),
  localPort: z.number().int().min(0).max(65535).nullable(),
  localId: z.number().int().min(0).max(255).nullable(),
  remote: z.string().nullable(),
  remotePort: z.number().int().min(0).max(65535).nullable(),
  /** The kernel's errno name when it refused (e.g. EINVAL), else null. */
  errno: z.string().nullable(),
  /** Everything else, as text for display (e.g. added/removed endpoints of a sync). */
  detail: z.record(z.string(), z.string()),
});
export type PmAction = z.infer<typeof PmActionSchema>;

export const PmDetectedManagersSchema = z.object({ mptcpd: z.boolean(), networkManager: z.boolean() });

export type PmDetectedManagers = z.infer<typeof PmDetectedManagersSchema>;

/**
 * The detected managers a start would fight with (a start refuses unless forced): mptcpd always,
 * as it is a path manager itself (under the userspace PM it drives the same connections, under
 * the in-kernel one it owns the endpoints); NetworkManager only for the in-kernel manager, whose
 * endpoints it adds and removes. Connections under the userspace PM ignore endpoints
 * (docs/kernel-interfaces.md, The userspace path manager), so NetworkManager's endpoints and a
 * userspace run do not collide.
 */
export function pmConflicts(d: PmDetectedManagers, manager: PmManager): string[] {
  const out: string[] = [];
  if (d.mptcpd) out.push('mptcpd');
  if (d.networkManager && manager === 'kernel') out.push('NetworkManager');
  return out;
}

export const PmStatusSchema = z.object({
  running: z.boolean(),
  mode: PmModeSchema.nullable(),
  role: PmRoleSchema.nullable(),
  manager: PmManagerSchema.nullable(),
  subflows: z.number().int().nullable(),
  startedAtMs: z.number().nullable(),
  /** net.mptcp.path_manager now (or the name pm_type maps to before 6.15); null if unreadable. */
  pathManager: z.string().nullable(),
  /** The value to put back on stop (the one found at start, or the one a killed run left). */
  previousPathManager: z.string().nullable(),
  /** The previous value came from the state file of a run that was killed (not from memory). */
  recovered: z.boolean(),
  /** Connections the userspace PM manages now (adopted from the kernel or seen created). */
  connections: z.number().int().min(0),
  /** In-kernel sync: addresses the 8-endpoint cap left out. */
  leftOut: z.array(z.string()),
  warnings: z.array(z.string()),
  /** Other MPTCP managers running in this namespace. */
  detected: PmDetectedManagersSchema,
  /**
   * Not running here, but a run that was killed (its pid is gone) left path_manager switched:
   * starting again adopts its connections from the kernel; stopping puts path_manager back.
   */
  orphan: z
    .object({
      pid: z.number().int(),
      mode: PmModeSchema,
      role: PmRoleSchema,
      manager: PmManagerSchema,
      previousPathManager: z.string(),
      startedAtMs: z.number(),
    })
    .nullable(),
  /** The newest actions, newest last (bounded). */
  recentActions: z.array(PmActionSchema),
});
export type PmStatus = z.infer<typeof PmStatusSchema>;

/** What the Events timeline holds: kernel events and the path manager's own actions. */
export const TimelineEventSchema = z.union([
  KernelEventSchema,
  z.object({ source: z.literal('pm'), timestampMs: z.number(), action: PmActionSchema }),
]);
export type TimelineEvent = z.infer<typeof TimelineEventSchema>;
