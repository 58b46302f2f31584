/**
 * The one API contract. Both hosts (Electron IPC, web WebSocket) and the per-namespace agent serve
 * exactly this; the renderer consumes it through `MptcpApi`. Add a capability here first and the
 * compiler points at every place that must follow.
 *
 * Channel names are `mptcp:<noun>:<verb>`.
 */
import { z } from 'zod';
import type { Result } from './result';
import { MptcpConfigSchema, ProfileSchema } from './config';
import {
  AdviceSchema,
  ApplyArgsSchema,
  ApplyReportSchema,
  ConfigOutcomeSchema,
  ExportFormatSchema,
  ExportedTextSchema,
  PendingConfirmationSchema,
  PlanViewSchema,
  ProfileNameSchema,
  ProfileSummarySchema,
} from './config-api';
import {
  ConnectionSchema,
  ConnectionsSnapshotSchema,
  KernelEventSchema,
  EndpointSchema,
  KernelStatusSchema,
  LimitsSchema,
  NetInterfaceSchema,
  MptcpCountersSchema,
  CountersSampleSchema,
  OverviewSchema,
  ConfigRecoverySchema,
} from './types';
import { CcActionArgsSchema, CcActionResultSchema, CcListSchema, CcRepairsSchema } from './cc';
import { ConnectionsFeedEventSchema } from './delta';
import { PmActionSchema, PmStartArgsSchema, PmStatusSchema } from './pm';
import { FailoverEventSchema } from './failover';
import { ConnectionHistorySchema, TimelineHistorySchema } from './history';
import {
  FleetAddHostArgsSchema,
  FleetHostNameSchema,
  FleetOverviewSchema,
  FleetRangeSchema,
  FleetRemoteHostSchema,
} from './fleet';
import {
  ProbeRunIdSchema,
  ProbeRunSchema,
  ProbeProgressSchema,
  ProbeScanArgsSchema,
  ProbeStartedSchema,
  ProbeSubflowsArgsSchema,
  ProbeTraceArgsSchema,
} from './path-doctor';
import { AgentAccessArgsSchema, AgentAccessSchema } from './agent-access';

const NoArgs = z.object({}).strict();

/**
 * The longest profile file the host imports. A profile of 256 endpoints and 1,024 MTU entries is
 * well under 100 kB of JSON; the renderer checks a file's size against this before reading it.
 */
export const PROFILE_TEXT_MAX_CHARS = 256 * 1024;

interface MethodSpec {
  args: z.ZodType;
  result: z.ZodType;
  writes: boolean;
}

/**
 * Every method of the contract. `writes` marks a method that changes state outside the process:
 * the kernel (config, congestion control, path manager) or the user's profile files. The
 * privileged agent audits every writing call it serves (writeMethodNames), so the mark is
 * required on every entry: a new method cannot be added without saying whether it writes.
 */
export const methods = {
  /** Kernel MPTCP status, settings, capabilities and privileges. */
  'mptcp:status:get': { args: NoArgs, result: KernelStatusSchema, writes: false },
  /** In-kernel PM endpoints (MPTCP_PM_CMD_GET_ADDR dump). */
  'mptcp:endpoints:list': { args: NoArgs, result: z.array(EndpointSchema), writes: false },
  /** In-kernel PM limits (MPTCP_PM_CMD_GET_LIMITS). */
  'mptcp:limits:get': { args: NoArgs, result: LimitsSchema, writes: false },
  /** Interfaces with their addresses (RTM_GETLINK + RTM_GETADDR dumps). */
  'mptcp:interfaces:list': { args: NoArgs, result: z.array(NetInterfaceSchema), writes: false },
  /** Every MPTCP connection with its subflows (sock_diag). */
  'mptcp:connections:list': { args: NoArgs, result: ConnectionsSnapshotSchema, writes: false },
  /** One connection by its local token (cheap enough for 10 Hz detail views); null once gone. */
  'mptcp:connection:get': {
    args: z.object({ token: z.number().int().min(0).max(0xffffffff) }).strict(),
    result: ConnectionSchema.nullable(),
    writes: false,
  },
  /**
   * Start or stop the kernel event subscriptions (hosts call it when the first renderer listens to
   * mptcp:kernel:event and when the last one leaves). MPTCP events need CAP_NET_ADMIN; without it
   * only interface events flow and `note` says why.
   */
  'mptcp:events:watch': {
    args: z.object({ on: z.boolean() }).strict(),
    result: z.object({ mptcp: z.boolean(), interfaces: z.boolean(), note: z.string().nullable() }),
    writes: false,
  },
  /**
   * This subscriber's connections feed starts over: the host sends a `full` mptcp:connections:delta
   * next (the renderer asks on start and whenever a delta's baseSeq is not the seq it holds).
   * Served by the transport host per subscriber (WebSocket, IPC window), not by the engine.
   */
  'mptcp:connections:resync': { args: NoArgs, result: z.object({}), writes: false },
  /**
   * This subscriber applied the feed event `seq`. Over IPC the host sends at most a few events
   * beyond the last acknowledged one (a busy renderer makes it coalesce, not queue); over
   * WebSocket the socket's bufferedAmount plays that role and acks are accepted but not needed.
   */
  'mptcp:connections:ack': {
    args: z.object({ seq: z.number().int().min(0) }).strict(),
    result: z.object({}),
    writes: false,
  },
  /** MPTcpExt counters (join failures, fallbacks, drops) for diagnostics. */
  'mptcp:counters:get': { args: NoArgs, result: MptcpCountersSchema, writes: false },
  /** Everything the Overview shows, read in one go; partial failures are listed, not hidden. */
  'mptcp:overview:get': { args: NoArgs, result: OverviewSchema, writes: false },

  /** The whole current configuration (what a profile export captures). */
  'mptcp:config:export': { args: NoArgs, result: MptcpConfigSchema, writes: false },
  /** What applying `config` would change, as steps and shell commands; changes nothing. */
  'mptcp:config:plan': {
    args: z.object({ config: MptcpConfigSchema }).strict(),
    result: PlanViewSchema,
    writes: false,
  },
  /** Apply all or nothing; a failure rolls back to the exact prior state. */
  'mptcp:config:apply': { args: ApplyArgsSchema, result: ApplyReportSchema, writes: true },
  /** Keep a change applied with a confirm deadline. */
  'mptcp:config:confirm': { args: NoArgs, result: PendingConfirmationSchema, writes: true },
  /** Undo the change that awaits confirmation, now. */
  'mptcp:config:revert': { args: NoArgs, result: ApplyReportSchema, writes: true },

  'mptcp:profiles:list': { args: NoArgs, result: z.array(ProfileSummarySchema), writes: false },
  'mptcp:profiles:get': {
    args: z.object({ name: ProfileNameSchema }).strict(),
    result: ProfileSchema,
    writes: false,
  },
  'mptcp:profiles:save': {
    args: z.object({ profile: ProfileSchema }).strict(),
    result: ProfileSummarySchema,
    writes: true,
  },
  'mptcp:profiles:rename': {
    args: z.object({ from: ProfileNameSchema, to: ProfileNameSchema }).strict(),
    result: ProfileSummarySchema,
    writes: true,
  },
  'mptcp:profiles:delete': {
    args: z.object({ name: ProfileNameSchema }).strict(),
    result: z.object({}),
    writes: true,
  },
  /** Import a profile file's text: parsed and validated in the engine, saved under its name. */
  'mptcp:profiles:import': {
    args: z.object({ text: z.string().max(PROFILE_TEXT_MAX_CHARS) }).strict(),
    result: ProfileSchema,
    writes: true,
  },
  /** A saved profile (or, with no name, the current state) as a file. */
  'mptcp:profiles:export': {
    args: z.object({ name: ProfileNameSchema.nullable(), format: ExportFormatSchema }).strict(),
    result: ExportedTextSchema,
    writes: false,
  },

  /**
   * Coupled congestion control (BPF struct_ops): each algorithm with whether it can be loaded
   * here, whether it is registered, and why not. Registration is global to the kernel.
   */
  'mptcp:cc:list': { args: NoArgs, result: CcListSchema, writes: false },
  /** The coupled CCs' repair counts (bpftool; the exporter's mptcp_cc_repairs_total). */
  'mptcp:cc:repairs': { args: NoArgs, result: CcRepairsSchema, writes: false },
  /** Register an algorithm (bpftool struct_ops register with the shipped object); idempotent. */
  'mptcp:cc:load': { args: CcActionArgsSchema, result: CcActionResultSchema, writes: true },
  /** Unregister it; refused while it is the namespace default or carries live subflows. */
  'mptcp:cc:unload': { args: CcActionArgsSchema, result: CcActionResultSchema, writes: true },
  /**
   * The engine as path manager of its namespace (shared/pm.ts). These run where the engine runs,
   * so the PM lives in that namespace's engine process and stops (restoring path_manager) with it.
   */
  'mptcp:pm:status': { args: NoArgs, result: PmStatusSchema, writes: false },
  /** Refused while another MPTCP manager (mptcpd, NetworkManager) runs there, unless `force`. */
  'mptcp:pm:start': { args: PmStartArgsSchema, result: PmStatusSchema, writes: true },
  /** Stop and put net.mptcp.path_manager back; connections keep their subflows. */
  'mptcp:pm:stop': { args: NoArgs, result: PmStatusSchema, writes: true },

  /**
   * What the host remembers of one connection's subflows (RTT, cwnd, throughput, retransmissions
   * per poll) for the last minutes, so a detail view opened late starts with its history.
   * Served by the host's service from its polls (serviceMethodNames).
   */
  'mptcp:history:connection': {
    args: z
      .object({ token: z.number().int().min(0).max(0xffffffff), sinceMs: z.number().min(0).optional() })
      .strict(),
    result: ConnectionHistorySchema,
    writes: false,
  },
  /** The timeline the host kept (kernel events, path-manager actions, recoveries) for the last minutes. */
  'mptcp:history:events': {
    args: z.object({ sinceMs: z.number().min(0).optional() }).strict(),
    result: TimelineHistorySchema,
    writes: false,
  },

  /** Plain-language warnings computed from the live state. */
  'mptcp:advice:get': { args: NoArgs, result: z.array(AdviceSchema), writes: false },

  /**
   * Fleet (shared/fleet.ts, docs/fleet.md): every host a Prometheus server scrapes, now and over
   * the range, queried by this host (`serve --prometheus URL`); the renderer never reaches
   * Prometheus itself.
   */
  'mptcp:fleet:overview': {
    args: z.object({ range: FleetRangeSchema }).strict(),
    result: FleetOverviewSchema,
    writes: false,
  },
  /** The direct mode's remote web hosts, each probed now (up, refused, and why). */
  'mptcp:fleet:hosts:list': { args: NoArgs, result: z.array(FleetRemoteHostSchema), writes: false },
  /** Register a remote `mptcp-studio serve` (its token is stored 0600 in the config directory). */
  'mptcp:fleet:hosts:add': { args: FleetAddHostArgsSchema, result: FleetRemoteHostSchema, writes: true },
  'mptcp:fleet:hosts:remove': {
    args: z.object({ name: FleetHostNameSchema }).strict(),
    result: z.object({}),
    writes: true,
  },
  /**
   * The header's host switcher: every page then works against this registered host (null: this
   * host itself), through this host. For the whole host process, not one page.
   */
  'mptcp:fleet:hosts:select': {
    args: z.object({ name: FleetHostNameSchema.nullable() }).strict(),
    result: z.object({ selected: FleetHostNameSchema.nullable() }),
    writes: false,
  },

  /**
   * The Path doctor (shared/path-doctor.ts, docs/path-doctor.md): a trace, a scan or a subflow
   * check from the engine's namespace, through the probe helper. Each starts a run and answers at
   * once with its id (the client's): the run reports on mptcp:probe:progress and ends in the
   * history. They send packets to other hosts but change no state here (`writes: false`); the
   * privileged agent still audits them (auditedMethodNames, docs/security.md). The arguments are
   * bounded by their schemas: no multicast or broadcast target, the helper's rate ceiling, ports
   * 1..65535.
   */
  'mptcp:probe:trace': { args: ProbeTraceArgsSchema, result: ProbeStartedSchema, writes: false },
  'mptcp:probe:scan': { args: ProbeScanArgsSchema, result: ProbeStartedSchema, writes: false },
  /** Needs CAP_NET_ADMIN (the privileged agent, or root): the engine adds the subflows. */
  'mptcp:probe:subflows': { args: ProbeSubflowsArgsSchema, result: ProbeStartedSchema, writes: false },
  /** Stop a run: it ends as `cancelled` with what it found so far. */
  'mptcp:probe:cancel': {
    args: z.object({ runId: ProbeRunIdSchema }).strict(),
    result: z.object({ cancelled: z.boolean() }),
    writes: false,
  },
  /** The last runs (PROBE_HISTORY_MAX), newest first, without their results. */
  'mptcp:probe:history': { args: NoArgs, result: z.array(ProbeRunSchema), writes: false },
  /** One run with its result (null once it left the history). */
  'mptcp:probe:get': {
    args: z.object({ runId: ProbeRunIdSchema }).strict(),
    result: ProbeRunSchema.nullable(),
    writes: false,
  },

  /**
   * How this host reaches the write path (shared/agent-access.ts): the privileged agent found at
   * the default socket, or why none is used and the ways that work for this user. Served by the
   * host, never forwarded to an agent.
   */
  'mptcp:agent:status': { args: AgentAccessArgsSchema, result: AgentAccessSchema, writes: false },
  /**
   * Start the privileged agent through pkexec and the shipped polkit action, then use it. It
   * changes no kernel state itself, but it starts a root process that will: marked `writes` so
   * that the host's audit log records who asked (docs/security.md, "Finding the privileged agent").
   */
  'mptcp:agent:start': { args: NoArgs, result: AgentAccessSchema, writes: true },
} as const satisfies Record<string, MethodSpec>;

/**
 * `mptcp:engine:error` code of a notice that kernel events were lost, with how many in the message:
 * sent by a host that dropped them for a client that fell behind (the web host does not queue for
 * slow clients), and by the engine when the kernel dropped them (its events socket overflowed).
 */
export const EVENTS_DROPPED_CODE = 'EVENTS_DROPPED';

export const events = {
  /**
   * Periodic connections snapshot from the engine's poller, whole. Hosts do not forward it (they
   * send mptcp:connections:delta); the renderer still accepts it as a full replacement.
   */
  'mptcp:connections:snapshot': ConnectionsSnapshotSchema,
  /**
   * The connections feed, per subscriber: a `full` snapshot first (and after a resync), then
   * deltas against what this subscriber last received (shared/delta.ts).
   */
  'mptcp:connections:delta': ConnectionsFeedEventSchema,
  /**
   * MPTcpExt counters sampled about once a second: only the counters whose value changed since
   * the engine's previous sample (`prevTakenAtMs`; null on the first, which carries all of them).
   * Values are absolute, so a client whose base (mptcp:counters:get) was read at or after
   * prevTakenAtMs can apply it; otherwise it reads the base again.
   */
  'mptcp:counters:sample': CountersSampleSchema,
  /** The poller could not read the kernel; the UI shows it instead of stale data. */
  'mptcp:engine:error': z.object({ source: z.string(), code: z.string(), message: z.string() }),
  /** A kernel event, timestamped by the engine when it was read. */
  'mptcp:kernel:event': KernelEventSchema,
  /** Something the engine's path manager did (a subflow created, an endpoint added, ...). */
  'mptcp:pm:action': PmActionSchema,
  /**
   * A subflow stalled or recovered, traffic moved to another subflow, or the kernel marked
   * subflows stale (shared/failover.ts), derived by the host's service from its polls.
   */
  'mptcp:failover:event': FailoverEventSchema,
  /**
   * The kernel state the Overview shows (status, sysctls, path manager, limits, endpoints,
   * interfaces), pushed when it changed: at once on interface and address events, and within
   * about a second for what the kernel does not announce (endpoints, limits, sysctls).
   */
  'mptcp:overview:changed': OverviewSchema,
  /** A change awaits confirmation (revertAtMs set) or no longer does (null). */
  'mptcp:config:pending': PendingConfirmationSchema,
  /**
   * What a killed engine left in this namespace and what this engine did about it (an interrupted
   * apply undone, a pending change reverted or adopted; src-main/engine/config/journal.ts). Sent
   * when the engine starts, before it answers anything, and before config calls.
   */
  'mptcp:config:recovered': ConfigRecoverySchema,
  /**
   * What became of a configuration change, as it happens: applied, failed and rolled back,
   * confirmed, reverted (on request, at the confirmation deadline, or because the engine holding it
   * shut down), or a revert that failed (shared/config-api.ts ConfigOutcomeSchema). Every client.
   */
  'mptcp:config:outcome': ConfigOutcomeSchema,
  /** A probe run's state (mptcp:probe:*), a few times a second while it runs, and once at its end. */
  'mptcp:probe:progress': ProbeProgressSchema,
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

/** Methods that change state (see `writes` in methods): the set every audit log is checked with. */
export const writeMethodNames = methodNames.filter((m) => methods[m].writes);

/**
 * Methods that write nothing here but make this host send packets to others: the Path doctor's
 * runs. Audited like writes (who probed what, at what rate: docs/security.md).
 */
export const probeMethodNames = [
  'mptcp:probe:trace',
  'mptcp:probe:scan',
  'mptcp:probe:subflows',
  'mptcp:probe:cancel',
] as const satisfies readonly MethodName[];

/** Every method an audit log records: the writes and the probes. */
export const auditedMethodNames: MethodName[] = [...writeMethodNames, ...probeMethodNames];

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

/**
 * Methods served by the host process itself rather than by the kernel engine: profiles live in
 * the desktop user's config directory, and advice is computed from kernel reads. Everything else
 * runs where the kernel state is (in a per-namespace agent when looking at another namespace).
 */
export const hostMethodNames = [
  'mptcp:profiles:list',
  'mptcp:profiles:get',
  'mptcp:profiles:save',
  'mptcp:profiles:rename',
  'mptcp:profiles:delete',
  'mptcp:profiles:import',
  'mptcp:profiles:export',
  'mptcp:advice:get',
  'mptcp:fleet:overview',
  'mptcp:fleet:hosts:list',
  'mptcp:fleet:hosts:add',
  'mptcp:fleet:hosts:remove',
  'mptcp:fleet:hosts:select',
  'mptcp:agent:status',
  'mptcp:agent:start',
] as const satisfies readonly MethodName[];
export type HostMethodName = (typeof hostMethodNames)[number];
/** Methods about one subscriber's event stream, answered by the transport host that carries it. */
export const streamMethodNames = [
  'mptcp:connections:resync',
  'mptcp:connections:ack',
] as const satisfies readonly MethodName[];
export type StreamMethodName = (typeof streamMethodNames)[number];
/** Methods the host's service answers from what it keeps (its polls and events), not the kernel. */
export const serviceMethodNames = [
  'mptcp:history:connection',
  'mptcp:history:events',
] as const satisfies readonly MethodName[];
export type ServiceMethodName = (typeof serviceMethodNames)[number];
export type ServiceHandlers = Pick<Handlers, ServiceMethodName>;
export type KernelMethodName = Exclude<MethodName, HostMethodName | StreamMethodName | ServiceMethodName>;
export type KernelHandlers = Pick<Handlers, KernelMethodName>;
export type HostHandlers = Pick<Handlers, HostMethodName>;

export const kernelMethodNames = methodNames.filter(
  (m): m is KernelMethodName =>
    !(hostMethodNames as readonly string[]).includes(m) &&
    !(streamMethodNames as readonly string[]).includes(m) &&
    !(serviceMethodNames as readonly string[]).includes(m),
);
