/**
 * Domain types shared by the engine, both hosts and the renderer.
 *
 * Every type is derived from a zod schema so that data crossing a boundary (IPC, WebSocket, the
 * per-namespace agent's stdio, CLI JSON) can be parsed, not trusted. Units are in the names.
 * Kernel sources are cited as "(uapi: <header> <field>)" so a reader can check a value's origin.
 */
import { z } from 'zod';
import { RoutingStateSchema } from './routing';

export const AddressFamilySchema = z.enum(['inet', 'inet6']);
export type AddressFamily = z.infer<typeof AddressFamilySchema>;

/** A u32 kept as a JS number. */
const u32 = z.number().int().min(0).max(0xffffffff);
/** A u64 counter; JS numbers are exact up to 2^53 bytes (8 PiB), far above any counter we read. */
const counter = z.number().int().min(0);

// ---------------------------------------------------------------------------------------------
// Kernel status and settings

export const SysctlEntrySchema = z.object({
  /** Dotted name, e.g. `net.mptcp.scheduler`. */
  name: z.string(),
  /** Raw text from /proc/sys with the trailing newline removed; shown as-is, never dropped. */
  value: z.string(),
  writable: z.boolean(),
});
export type SysctlEntry = z.infer<typeof SysctlEntrySchema>;

/** A `min default max` triplet (net.ipv4.tcp_rmem / tcp_wmem), bytes. */
export const BufferTripletSchema = z.object({
  minBytes: counter,
  defaultBytes: counter,
  maxBytes: counter,
});
export type BufferTriplet = z.infer<typeof BufferTripletSchema>;

export const PrivilegesSchema = z.object({
  /** CAP_NET_ADMIN in the target netns: needed for writes and for the mptcp_pm events group. */
  netAdmin: z.boolean(),
  /** A sentence for the UI when something is unavailable because of privileges. */
  note: z.string().nullable(),
});
export type Privileges = z.infer<typeof PrivilegesSchema>;

export const KernelStatusSchema = z.object({
  /** Network namespace the engine is looking at; null = the engine's own (usually the host's). */
  netns: z.string().nullable(),
  kernelRelease: z.string(),
  /**
   * Whether the engine runs in the host's (initial) network namespace; null when it cannot tell.
   * Outside it the kernel only accepts a default CC from the allowed list (EPERM otherwise).
   */
  inInitNetns: z.boolean().nullable(),
  /** False when /proc/sys/net/mptcp is missing (kernel built without MPTCP). */
  mptcpSupported: z.boolean(),
  /** net.mptcp.enabled */
  enabled: z.boolean(),
  /** net.mptcp.path_manager (6.15+); derived from pm_type on older kernels. */
  pathManager: z.string().nullable(),
  availablePathManagers: z.array(z.string()),
  scheduler: z.string().nullable(),
  availableSchedulers: z.array(z.string()),
  congestionControl: z.object({
    /** net.ipv4.tcp_congestion_control: default for new sockets in this netns. */
    default: z.string().nullable(),
    available: z.array(z.string()),
    /** Names unprivileged sockets may select (net.ipv4.tcp_allowed_congestion_control). */
    allowed: z.array(z.string()),
  }),
  buffers: z.object({
    tcpRmem: BufferTripletSchema.nullable(),
    tcpWmem: BufferTripletSchema.nullable(),
    rmemMaxBytes: counter.nullable(),
    wmemMaxBytes: counter.nullable(),
  }),
  /**
   * Settings outside net.mptcp that a plan may change (CC default, TCP and core buffers) but that
   * are read-only here, e.g. net.core.rmem_max in a child network namespace (docs/kernel-interfaces.md, Sysctls).
   */
  readOnlySysctls: z.array(z.string()),
  /** Every entry under /proc/sys/net/mptcp, read at runtime (never a fixed list). */
  mptcpSysctls: z.array(SysctlEntrySchema),
  privileges: PrivilegesSchema,
});
export type KernelStatus = z.infer<typeof KernelStatusSchema>;

// ---------------------------------------------------------------------------------------------
// In-kernel path manager: endpoints and limits (generic netlink family mptcp_pm)

/** MPTCP_PM_ADDR_FLAG_* (uapi: linux/mptcp_pm.h). Unknown bits are kept in rawFlags. */
export const EndpointFlagsSchema = z.object({
  signal: z.boolean(),
  subflow: z.boolean(),
  backup: z.boolean(),
  fullmesh: z.boolean(),
  implicit: z.boolean(),
  laminar: z.boolean(),
});
export type EndpointFlags = z.infer<typeof EndpointFlagsSchema>;

export const EndpointSchema = z.object({
  /** MPTCP_PM_ADDR_ATTR_ID, 1..255. */
  id: z.number().int().min(0).max(255),
  family: AddressFamilySchema,
  address: z.string(),
  /** MPTCP_PM_ADDR_ATTR_PORT (host order on the wire); null = none. */
  port: z.number().int().min(1).max(65535).nullable(),
  /** MPTCP_PM_ADDR_ATTR_IF_IDX; null = not bound to a device. */
  ifindex: z.number().int().nullable(),
  /** Resolved from ifindex when the interface exists. */
  ifname: z.string().nullable(),
  flags: EndpointFlagsSchema,
  rawFlags: u32,
});
export type Endpoint = z.infer<typeof EndpointSchema>;

export const LimitsSchema = z.object({
  /** MPTCP_PM_ATTR_SUBFLOWS: extra subflows per connection (0..8 on 6.18). */
  subflows: z.number().int().min(0),
  /** MPTCP_PM_ATTR_RCV_ADD_ADDRS: ADD_ADDRs accepted per connection (0..8 on 6.18). */
  addAddrAccepted: z.number().int().min(0),
});
export type Limits = z.infer<typeof LimitsSchema>;

// ---------------------------------------------------------------------------------------------
// Interfaces (rtnetlink)

export const OperStateSchema = z.enum([
  'unknown',
  'notpresent',
  'down',
  'lowerlayerdown',
  'testing',
  'dormant',
  'up',
]);
export type OperState = z.infer<typeof OperStateSchema>;

export const InterfaceAddressSchema = z.object({
  family: AddressFamilySchema,
  address: z.string(),
  prefixLen: z.number().int().min(0).max(128),
  /** RT_SCOPE_*: 0 universe, 200 site, 253 link, 254 host. */
  scope: z.number().int().min(0).max(255),
});
export type InterfaceAddress = z.infer<typeof InterfaceAddressSchema>;

export const NetInterfaceSchema = z.object({
  index: z.number().int().min(1),
  name: z.string(),
  /** IFLA_OPERSTATE; a value outside RFC 2863's list is reported as unknown with operStateRaw. */
  operState: OperStateSchema,
  operStateRaw: z.number().int(),
  adminUp: z.boolean(),
  /** IFF_RUNNING | IFF_LOWER_UP. */
  running: z.boolean(),
  /** Usable = operstate UP, or UNKNOWN with IFF_RUNNING (loopback, some tunnels). */
  usable: z.boolean(),
  loopback: z.boolean(),
  mtuBytes: z.number().int().min(0),
  minMtuBytes: z.number().int().min(0).nullable(),
  maxMtuBytes: z.number().int().min(0).nullable(),
  addresses: z.array(InterfaceAddressSchema),
});
export type NetInterface = z.infer<typeof NetInterfaceSchema>;

// ---------------------------------------------------------------------------------------------
// Connections and subflows (sock_diag)

/** MPTCP_SUBFLOW_FLAG_* (uapi: linux/mptcp.h), also the letters `ss` prints. */
export const SubflowFlagsSchema = z.object({
  mcapRem: z.boolean(),
  mcapLoc: z.boolean(),
  joinRem: z.boolean(),
  joinLoc: z.boolean(),
  backupRem: z.boolean(),
  backupLoc: z.boolean(),
  fullyEstablished: z.boolean(),
  connected: z.boolean(),
  mapValid: z.boolean(),
});
export type SubflowFlags = z.infer<typeof SubflowFlagsSchema>;

export const TcpStateSchema = z.enum([
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
  'BOUND_INACTIVE',
  'UNKNOWN',
]);
export type TcpState = z.infer<typeof TcpStateSchema>;

export const SubflowSchema = z.object({
  family: AddressFamilySchema,
  state: TcpStateSchema,
  localAddress: z.string(),
  localPort: z.number().int().min(0).max(65535),
  remoteAddress: z.string(),
  remotePort: z.number().int().min(0).max(65535),
  /** inet_diag_sockid.idiag_if: nonzero when bound to a device. */
  ifindex: z.number().int(),
  /** MPTCP_SUBFLOW_ATTR_TOKEN_LOC: equals the connection's mptcpi_token. */
  tokenLocal: u32,
  /** MPTCP_SUBFLOW_ATTR_TOKEN_REM: 0 on the MP_CAPABLE subflow. */
  tokenRemote: u32,
  localId: z.number().int().min(0).max(255),
  remoteId: z.number().int().min(0).max(255),
  flags: SubflowFlagsSchema,
  rawFlags: u32,
  /** Local or remote backup bit set (MP_PRIO / MP_JOIN B bit). */
  backup: z.boolean(),
  /** INET_DIAG_CONG; null when the kernel did not send it. */
  congestionControl: z.string().nullable(),
  // struct tcp_info fields (uapi: linux/tcp.h)
  rttUs: u32,
  rttVarUs: u32,
  minRttUs: u32,
  cwndPkts: u32,
  /** 0x7fffffff (TCP_INFINITE_SSTHRESH) is reported as null. */
  ssthreshPkts: u32.nullable(),
  mssBytes: u32,
  pmtuBytes: u32,
  rtoUs: u32,
  unackedPkts: u32,
  lostPkts: u32,
  totalRetransPkts: u32,
  bytesAcked: counter,
  bytesReceived: counter,
  bytesSent: counter,
  bytesRetrans: counter,
  /** tcpi_delivery_rate. */
  deliveryRateBytesPerSec: counter,
  /** tcpi_pacing_rate; ~0 (unlimited) is reported as null. */
  pacingRateBytesPerSec: counter.nullable(),
  /**
   * The interface the subflow leaves by: the bound device (ifindex), else the kernel's output
   * route for its source and destination (RTM_GETROUTE; docs/live-data.md, Interfaces of
   * subflows). Null: no route, or not resolved (recordings made before this field).
   */
  ifname: z.string().nullable().default(null),
  // Health inputs (uapi: linux/tcp.h; shared/health.ts, docs/live-data.md). Defaults let a
  // recording made before these fields load.
  /** tcpi_backoff: RTO exponential backoffs since the last valid RTT sample. */
  backoffCount: u32.default(0),
  /** tcpi_probes: zero-window or keepalive probes sent and not yet answered. */
  probesCount: u32.default(0),
  /** tcpi_delivery_rate_app_limited: the delivery-rate sample was limited by the sender's data. */
  deliveryRateAppLimited: z.boolean().default(false),
  /**
   * When the last data segment was sent, data received, ACK received: engine wall clock in ms since
   * the epoch (the clock of takenAtMs), the dump time minus tcpi_last_data_sent,
   * tcpi_last_data_recv, tcpi_last_ack_recv. Times rather than ages, so that an idle subflow is
   * the same value from poll to poll. Null: unknown.
   */
  lastDataSentAtMs: z.number().nullable().default(null),
  lastDataRecvAtMs: z.number().nullable().default(null),
  lastAckRecvAtMs: z.number().nullable().default(null),
});
export type Subflow = z.infer<typeof SubflowSchema>;

export const ConnectionSchema = z.object({
  /** mptcpi_token: the local token, the key that joins events, diag and subflows. */
  token: u32,
  family: AddressFamilySchema,
  state: TcpStateSchema,
  localAddress: z.string(),
  localPort: z.number().int().min(0).max(65535),
  remoteAddress: z.string(),
  remotePort: z.number().int().min(0).max(65535),
  inode: u32,
  /** mptcpi_subflows_total (all subflows, initial included); older kernels: extra + 1. */
  subflowsTotal: z.number().int().min(0),
  /** mptcpi_flags bit0 MPTCP_INFO_FLAG_FALLBACK: the connection fell back to plain TCP. */
  fallback: z.boolean(),
  /** mptcpi_flags bit1 MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED. */
  remoteKeyReceived: z.boolean(),
  addAddrSignal: z.number().int().min(0),
  addAddrAccepted: z.number().int().min(0),
  /** mptcpi_subflows_max at the time the connection was created. */
  subflowsMax: z.number().int().min(0),
  checksumEnabled: z.boolean(),
  retransmits: u32,
  bytesSent: counter,
  bytesReceived: counter,
  bytesAcked: counter,
  bytesRetrans: counter,
  subflows: z.array(SubflowSchema),
});
export type Connection = z.infer<typeof ConnectionSchema>;

export const ConnectionsSnapshotSchema = z.object({
  /** Engine wall clock in ms since the epoch when the dump finished. */
  takenAtMs: z.number(),
  /** How long the sock_diag dump + decode took, µs. */
  pollDurationUs: z.number().min(0),
  connections: z.array(ConnectionSchema),
  /**
   * Subflows whose TOKEN_LOC matched no MPTCP socket in the same dump (closing races). IPv6
   * subflows count only while some IPv6 MPTCP socket exists: without one, the poll leaves out
   * the AF_INET6 TCP dump (engine/diag/connections.ts).
   */
  orphanSubflows: z.number().int().min(0),
});
export type ConnectionsSnapshot = z.infer<typeof ConnectionsSnapshotSchema>;

// ---------------------------------------------------------------------------------------------
// Kernel events (mptcp_pm_events multicast group, rtnetlink link/address groups)

/** One mptcp_pm event (uapi: linux/mptcp_pm.h MPTCP_EVENT_*, MPTCP_ATTR_*); unknown types kept raw. */
export const MptcpEventSchema = z.object({
  type: z.number().int(),
  /** created, established, closed, announced, removed, sub_established, …; 'unknown' otherwise. */
  kind: z.string(),
  token: u32.nullable(),
  family: AddressFamilySchema.nullable(),
  localId: z.number().int().nullable(),
  remoteId: z.number().int().nullable(),
  localAddress: z.string().nullable(),
  remoteAddress: z.string().nullable(),
  localPort: z.number().int().nullable(),
  remotePort: z.number().int().nullable(),
  backup: z.boolean().nullable(),
  /** sk_err of a closed subflow (e.g. 111 ECONNREFUSED). */
  error: z.number().int().nullable(),
  flags: z.number().int().nullable(),
  denyJoinId0: z.boolean(),
  serverSide: z.boolean(),
  timeout: z.number().nullable(),
  ifindex: z.number().int().nullable(),
  resetReason: z.number().int().nullable(),
  resetReasonName: z.string().nullable(),
  resetFlags: z.number().int().nullable(),
  unknownAttrs: z.record(z.string(), z.string()),
  rawAttrs: z.record(z.string(), z.string()).nullable(),
});
export type MptcpEvent = z.infer<typeof MptcpEventSchema>;

export const KernelEventSchema = z.discriminatedUnion('source', [
  z.object({ source: z.literal('mptcp'), timestampMs: z.number(), event: MptcpEventSchema }),
  z.object({
    source: z.literal('link'),
    timestampMs: z.number(),
    /** RTM_DELLINK: the interface is gone. */
    deleted: z.boolean(),
    index: z.number().int(),
    name: z.string(),
    operState: OperStateSchema,
    adminUp: z.boolean(),
    running: z.boolean(),
    usable: z.boolean(),
    mtuBytes: z.number().int(),
  }),
  z.object({
    source: z.literal('address'),
    timestampMs: z.number(),
    /** RTM_DELADDR. */
    deleted: z.boolean(),
    index: z.number().int(),
    family: AddressFamilySchema,
    address: z.string(),
    prefixLen: z.number().int(),
  }),
]);
export type KernelEvent = z.infer<typeof KernelEventSchema>;

/** MPTcpExt MIB counters of the namespace (/proc/net/netstat), by the kernel's names. */
export const MptcpCountersSchema = z.object({
  takenAtMs: z.number(),
  /** e.g. MPJoinRejected, MPCapableFallbackACK, AddAddr; empty when the kernel has no MPTCP. */
  counters: z.record(z.string(), z.number().min(0)),
});
export type MptcpCounters = z.infer<typeof MptcpCountersSchema>;

/** One sample of the MPTcpExt counters: those that changed since the previous sample. */
export const CountersSampleSchema = z.object({
  takenAtMs: z.number(),
  /** When the engine's previous sample was read; null for the first (which carries every counter). */
  prevTakenAtMs: z.number().nullable(),
  changed: z.record(z.string(), z.number().min(0)),
});
export type CountersSample = z.infer<typeof CountersSampleSchema>;

export const OverviewSchema = z.object({
  status: KernelStatusSchema,
  limits: LimitsSchema.nullable(),
  endpoints: z.array(EndpointSchema),
  interfaces: z.array(NetInterfaceSchema),
  /** Policy routing and rp_filter (shared/routing.ts); absent when not read. */
  routing: RoutingStateSchema.optional(),
  /** A read that failed (e.g. mptcp_pm family missing) is reported here instead of faked. */
  errors: z.array(z.object({ source: z.string(), code: z.string(), message: z.string() })),
});
export type Overview = z.infer<typeof OverviewSchema>;

// ---------------------------------------------------------------------------------------------
// Crash recovery of configuration changes (src-main/engine/config/journal.ts)

/**
 * What an engine found that a killed engine left in its namespace (the config journal), and what
 * it did about it. Sent as mptcp:config:recovered when the engine starts (before it answers
 * anything else) or before a config call.
 */
export const ConfigRecoverySchema = z.object({
  kind: z.enum([
    /** An apply was interrupted: the steps that had run were undone. */
    'apply-undone',
    /** The revert of a change awaiting confirmation was interrupted: finished. */
    'revert-finished',
    /** A change awaiting confirmation passed its deadline with no engine holding it: reverted. */
    'pending-reverted',
    /** A change awaiting confirmation whose engine is gone, before its deadline: this engine holds it now. */
    'pending-adopted',
    /** A journal of a namespace that no longer exists (same inode, other cookie), or unreadable: not applied. */
    'discarded',
    /** Found, but this engine cannot undo it (no CAP_NET_ADMIN, or the journal cannot be taken over). */
    'not-recovered',
  ]),
  /** The sentence hosts print and show. */
  message: z.string(),
  atMs: z.number(),
  /** The engine process that left it (null when unknown). */
  pid: z.number().int().nullable(),
  /** When that engine started the apply (ms since epoch). */
  appliedAtMs: z.number().nullable(),
  /** Confirmation deadline of a change that awaited confirmation. */
  revertAtMs: z.number().nullable(),
  /** After an undo: whether the state read back equals the state before the apply exactly. */
  restored: z.boolean().nullable(),
  /** The undo steps that ran, in order. */
  steps: z.array(z.object({ description: z.string(), ok: z.boolean(), error: z.string().nullable() })),
});
export type ConfigRecovery = z.infer<typeof ConfigRecoverySchema>;
