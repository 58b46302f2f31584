/**
 * The engine's kernel boundary, as narrow tables of operations (cf. mptcpd's kcmd_ops in
 * src/netlink_pm_upstream.c): what it reads, what a plan writes (KernelWriter), the userspace path
 * manager's per-connection commands (PmCommands), and the notifications the path manager follows.
 *
 * One implementation speaks netlink and procfs (netlink-kernel.ts); unit tests use the in-memory
 * one in src-main/testing/fake-kernel.ts. What the kernel does behind each operation, and which
 * need CAP_NET_ADMIN: docs/kernel-interfaces.md.
 */
import type {
  Connection,
  ConnectionsSnapshot,
  Endpoint,
  KernelStatus,
  Limits,
  MptcpCounters,
  NetInterface,
} from '../../shared/types';
import type { RoutingState } from '../../shared/routing';
import type { KernelWriter } from './config/apply';
import type { PmEvent } from './mptcp-pm/events';
import type {
  AnnounceSpec,
  SubflowCreateSpec,
  SubflowDestroySpec,
  SubflowPrioritySpec,
} from './mptcp-pm/userspace';
import type { EventReaderOptions, EventsLost } from './netlink/event-reader';
import type { NetnsIdentity } from './netns-identity';
import type { DecodedAddress, DecodedLink } from './rtnl/interfaces';
import type { DecodedRoute, RouteQuery } from './rtnl/route';

export type { KernelWriter } from './config/apply';

/** Reads: what the kernel says now, nothing cached. Every one works without CAP_NET_ADMIN. */
export interface KernelReads {
  /** net.mptcp.*, congestion control, buffers, privileges (procfs). */
  status(): Promise<KernelStatus>;
  /** Links with their addresses (rtnetlink dumps). */
  interfaces(): Promise<NetInterface[]>;
  /** The same dumps undigested: link flags, and addresses with their IFA_F_* flags. */
  linksAndAddresses(): Promise<{ links: DecodedLink[]; addresses: DecodedAddress[] }>;
  /** The in-kernel path manager's endpoints, sorted by id (GET_ADDR dump). */
  endpoints(ifnames?: ReadonlyMap<number, string>): Promise<Endpoint[]>;
  /** The in-kernel path manager's limits (GET_LIMITS). */
  limits(): Promise<Limits>;
  /** Every MPTCP connection with its subflows (sock_diag). */
  connections(opts?: { inThread?: boolean }): Promise<ConnectionsSnapshot>;
  connection(token: number): Promise<Connection | null>;
  /**
   * A userspace-PM connection's local addresses and their ids (GET_ADDR dump with TOKEN); a
   * NetlinkError EINVAL for a connection under the in-kernel path manager.
   */
  connectionAddresses(token: number): Promise<Endpoint[]>;
  /** Policy-routing rules, the routes source routing uses, rp_filter (rtnl/rules.ts). */
  routing(ifnames?: ReadonlyMap<number, string>): Promise<RoutingState>;
  /** MPTcpExt counters (/proc/net/netstat). */
  counters(): Promise<MptcpCounters>;
  /** This network namespace's never-reused name (netns-identity.ts). */
  identity(): Promise<NetnsIdentity>;
  /**
   * The kernel's output route from `src` to `dst` (RTM_GETROUTE, `ip route get DST from SRC`,
   * rtnl/route.ts); null when the addresses cannot be asked about; rejects with ENETUNREACH when
   * there is no route.
   */
  route(q: RouteQuery): Promise<DecodedRoute | null>;
}

/** The userspace path manager's commands (mptcp-pm/userspace.ts builds them). */
export interface PmCommands {
  subflowCreate(s: SubflowCreateSpec): Promise<void>;
  subflowDestroy(s: SubflowDestroySpec): Promise<void>;
  announce(s: AnnounceSpec): Promise<void>;
  remove(s: { token: number; localId: number }): Promise<void>;
  /** One subflow's backup bit (SET_FLAGS with TOKEN and ADDR_REMOTE; the kernel sends MP_PRIO). */
  subflowPriority(s: SubflowPrioritySpec): Promise<void>;
}

/** An rtnetlink notification the path manager reacts to. */
export type AddressChange = 'link' | 'dellink' | 'newaddr' | 'deladdr';

/** A running subscription to mptcp_pm events. */
export interface MptcpEventsWatch {
  /** The kernel dropped events (ENOBUFS), or the reader failed: the subscriber must resync. */
  onLost(listener: (lost: EventsLost) => void): () => void;
  close(): void;
}

export interface Kernel {
  readonly reads: KernelReads;
  readonly writer: KernelWriter;
  readonly pm: PmCommands;
  /** Link and address notifications (rtnetlink groups), on a socket of their own until closed. */
  watchAddresses(onChange: (change: AddressChange) => void): () => void;
  /** mptcp_pm events of this namespace, read off-thread; joining needs CAP_NET_ADMIN. */
  watchMptcpEvents(onEvent: (ev: PmEvent) => void, opts?: EventReaderOptions): Promise<MptcpEventsWatch>;
  close(): void;
}
