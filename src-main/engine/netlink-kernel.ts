/**
 * The Kernel (kernel.ts) over netlink and procfs, for the network namespace of this process
 * (netlink sockets see their opener's namespace): rtnetlink, generic netlink `mptcp_pm`,
 * sock_diag, /proc. Sockets are opened on first use and kept; the mptcp_pm family id is resolved
 * by name once (it is assigned at boot) and again after a failed lookup.
 */
import { NlSocket, type NlSocketOptions } from './netlink/core';
import { netlinkWriter, type NetlinkWriterDeps } from './config/writer';
import { ConnectionPoller } from './diag/connections';
import type {
  AddressChange,
  Kernel,
  KernelReads,
  KernelWriter,
  MptcpEventsWatch,
  PmCommands,
} from './kernel';
import { getLimits, listEndpoints } from './mptcp-pm/endpoints';
import type { PmEvent } from './mptcp-pm/events';
import { resolveMptcpPm, type MptcpPmFamily } from './mptcp-pm/family';
import { openMptcpEventReader } from './mptcp-pm/subscribe';
import {
  buildAnnounceRequest,
  buildRemoveRequest,
  buildSubflowCreateRequest,
  buildSubflowDestroyRequest,
  buildSubflowPriorityRequest,
  listConnectionAddresses,
} from './mptcp-pm/userspace';
import type { EventReaderOptions } from './netlink/event-reader';
import { readNetnsIdentity } from './netns-identity';
import { listInterfaces, readLinksAndAddresses } from './rtnl/interfaces';
import { readRoutingState } from './rtnl/rules';
import { getRoute } from './rtnl/route';
import { SubflowPathResolver } from './rtnl/subflow-paths';
import { readMptcpCounters } from './sysctl/netstat';
import { readKernelStatus } from './sysctl/status';
import { NETLINK_GENERIC, NETLINK_ROUTE, NETLINK_SOCK_DIAG } from './uapi/netlink';
import {
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_IPV4_ROUTE,
  RTNLGRP_IPV4_RULE,
  RTNLGRP_IPV6_ROUTE,
  RTNLGRP_IPV6_RULE,
  RTNLGRP_LINK,
} from './uapi/rtnetlink';

/** What can move a subflow's route: links, addresses, routes and rules of both families. */
const ROUTE_GROUPS = [
  RTNLGRP_LINK,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_IPV4_ROUTE,
  RTNLGRP_IPV6_ROUTE,
  RTNLGRP_IPV4_RULE,
  RTNLGRP_IPV6_RULE,
];

const addressChanges: ReadonlyMap<number, AddressChange> = new Map([
  [RTM_NEWLINK, 'link'],
  [RTM_DELLINK, 'dellink'],
  [RTM_NEWADDR, 'newaddr'],
  [RTM_DELADDR, 'deladdr'],
]);

export interface NetlinkKernelOptions {
  /** Name reported as KernelStatus.netns (the caller already runs inside that namespace). */
  netnsLabel?: string | null;
  /** Root of the proc tree (default /proc). */
  procRoot?: string;
  /** Where a throwing listener or visitor on this kernel's sockets is reported (NlSocketOptions). */
  onListenerError?: NlSocketOptions['onListenerError'];
  /** Coupled CC registration for plans (NetlinkWriterDeps.cc). */
  cc?: NetlinkWriterDeps['cc'];
}

export class NetlinkKernel implements Kernel {
  private route: NlSocket | null = null;
  private genl: NlSocket | null = null;
  private diag: NlSocket | null = null;
  private pmFamily: Promise<MptcpPmFamily> | null = null;
  private readonly socketOptions: NlSocketOptions;
  /** Each new subflow's interface, cached per address pair (rtnl/subflow-paths.ts). */
  readonly paths: SubflowPathResolver;
  /** The connections poll: its dump workers and the last poll's objects (diag/connections.ts). */
  private readonly poller: ConnectionPoller;
  readonly reads: KernelReads;
  readonly writer: KernelWriter;
  readonly pm: PmCommands;

  constructor(opts: NetlinkKernelOptions = {}) {
    const procRoot = opts.procRoot;
    this.socketOptions = opts.onListenerError ? { onListenerError: opts.onListenerError } : {};
    this.paths = new SubflowPathResolver({
      route: (q) => getRoute(this.routeSock(), q),
      linkNames: async () =>
        new Map((await readLinksAndAddresses(this.routeSock())).links.map((l) => [l.index, l.name])),
      addressOwner: async (address) => {
        const { links, addresses } = await readLinksAndAddresses(this.routeSock());
        const a = addresses.find((x) => x.address === address);
        return a ? (links.find((l) => l.index === a.index)?.name ?? null) : null;
      },
      watch: (onChange) => this.watchRoutes(onChange),
    });
    this.poller = new ConnectionPoller({ paths: this.paths });
    this.writer = netlinkWriter({
      genl: () => this.genlSock(),
      route: () => this.routeSock(),
      family: () => this.family(),
      ...(procRoot !== undefined ? { procRoot } : {}),
      ...(opts.cc ? { cc: opts.cc } : {}),
    });
    this.reads = {
      status: () =>
        readKernelStatus({ netns: opts.netnsLabel ?? null, ...(procRoot !== undefined ? { procRoot } : {}) }),
      interfaces: () => listInterfaces(this.routeSock()),
      linksAndAddresses: () => readLinksAndAddresses(this.routeSock()),
      endpoints: async (ifnames) => listEndpoints(this.genlSock(), await this.family(), ifnames),
      limits: async () => getLimits(this.genlSock(), await this.family()),
      connections: (o) => this.poller.read(this.diagSock(), o),
      connection: (token) => this.poller.readOne(this.diagSock(), token),
      connectionAddresses: async (token) =>
        listConnectionAddresses(this.genlSock(), await this.family(), token),
      routing: (ifnames) => readRoutingState(this.routeSock(), ifnames ?? new Map(), procRoot),
      counters: () => readMptcpCounters(procRoot),
      identity: () => readNetnsIdentity({ diag: this.diagSock() }),
      route: (q) => getRoute(this.routeSock(), q),
    };
    const send = async (payload: () => Buffer, what: string): Promise<void> => {
      const fam = await this.family();
      await this.genlSock().request(fam.familyId, payload(), what);
    };
    this.pm = {
      subflowCreate: (s) => send(() => buildSubflowCreateRequest(s), 'SUBFLOW_CREATE'),
      subflowDestroy: (s) => send(() => buildSubflowDestroyRequest(s), 'SUBFLOW_DESTROY'),
      announce: (s) => send(() => buildAnnounceRequest(s), 'ANNOUNCE'),
      remove: (s) => send(() => buildRemoveRequest(s), 'REMOVE'),
      subflowPriority: (s) => send(() => buildSubflowPriorityRequest(s), 'SET_FLAGS (subflow)'),
    };
  }

  /** The mptcp_pm family (id and groups), resolved once; a failed lookup is retried next time. */
  family(): Promise<MptcpPmFamily> {
    if (this.pmFamily) return this.pmFamily;
    const lookup = resolveMptcpPm(this.genlSock());
    this.pmFamily = lookup;
    lookup.catch(() => {
      if (this.pmFamily === lookup) this.pmFamily = null;
    });
    return lookup;
  }

  watchAddresses(onChange: (change: AddressChange) => void): () => void {
    const sock = new NlSocket(NETLINK_ROUTE, this.socketOptions);
    try {
      for (const g of [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR]) sock.addMembership(g);
    } catch (e) {
      sock.close();
      throw e;
    }
    sock.onNotification((_buf, type) => {
      const change = addressChanges.get(type);
      if (change) onChange(change);
    });
    return () => sock.close();
  }

  /**
   * Route, rule, link and address notifications (rtnetlink groups), on a socket of their own until
   * closed: what can change the interface a subflow's route leaves by. A socket error (ENOBUFS:
   * notifications were dropped) counts as a change.
   */
  watchRoutes(onChange: () => void): () => void {
    const sock = new NlSocket(NETLINK_ROUTE, this.socketOptions);
    try {
      for (const g of ROUTE_GROUPS) sock.addMembership(g);
    } catch (e) {
      sock.close();
      throw e;
    }
    sock.onNotification(() => onChange());
    sock.onError(() => onChange());
    return () => sock.close();
  }

  async watchMptcpEvents(
    onEvent: (ev: PmEvent) => void,
    opts: EventReaderOptions = {},
  ): Promise<MptcpEventsWatch> {
    const reader = await openMptcpEventReader(await this.family(), (ev) => onEvent(ev), opts);
    return { onLost: (listener) => reader.onLost(listener), close: () => reader.close() };
  }

  close(): void {
    this.paths.close();
    void this.poller.close();
    for (const s of [this.route, this.genl, this.diag]) s?.close();
    this.route = this.genl = this.diag = null;
    this.pmFamily = null;
  }

  private routeSock(): NlSocket {
    return (this.route ??= new NlSocket(NETLINK_ROUTE, this.socketOptions));
  }
  private genlSock(): NlSocket {
    return (this.genl ??= new NlSocket(NETLINK_GENERIC, this.socketOptions));
  }
  private diagSock(): NlSocket {
    return (this.diag ??= new NlSocket(NETLINK_SOCK_DIAG, this.socketOptions));
  }
}
