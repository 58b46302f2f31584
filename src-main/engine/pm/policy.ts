/**
 * What a path-manager mode decides, as one small table of operations the userspace-PM loop
 * (userspace-pm.ts) calls, the way mptcpd calls a path-manager plugin (struct mptcpd_plugin_ops
 * in mptcpd's include/mptcpd/plugin.h; one plugin per policy, e.g. plugins/path_managers/sspi.c):
 * a connection established, a peer's new address, a subflow that closed, local addresses that
 * came or left. One module per mode under policies/.
 *
 * The loop keeps the state (from events, and from the kernel after a restart or lost events) and
 * the bookkeeping of every command: local ids, creates in flight, retries and their backoff, the
 * per-connection cap. A policy only says what its mode wants, through PmActions.
 */

/** A usable local address (global scope, on a link that is up, not tentative). */
export interface LocalAddress {
  address: string;
  family: 'inet' | 'inet6';
  ifindex: number;
}

/** What a policy sees of a connection. */
export interface PmConnection {
  readonly token: number;
  readonly family: 'inet' | 'inet6';
  /** The peer opened it (MPTCP_ATTR_SERVER_SIDE, or the role for a connection adopted from sock_diag). */
  readonly serverSide: boolean;
  /** The initial subflow's addresses. */
  readonly local: string;
  readonly localPort: number;
  readonly remote: string;
  readonly remotePort: number;
  /** The peer's known addresses by remote id; id 0 is the initial one. */
  readonly remotes: ReadonlyMap<number, { address: string; port: number }>;
}

/** Subflows wanted over one address pair. */
export interface WantedPair {
  local: string;
  remote: string;
  remotePort: number;
  count: number;
}

/** What a policy may ask of the loop. */
export interface PmActions {
  /** The usable local addresses of the connection's family. */
  usableAddresses(c: PmConnection): LocalAddress[];
  /** Bring the connection to what the policy wants (connectionEstablished), once it is established. */
  reconcile(c: PmConnection): void;
  /**
   * SUBFLOW_CREATE what `wanted` lacks, pair by pair in order, counting the subflows there and the
   * creates in flight, up to the per-connection cap; a pair given up or waiting for its retry is
   * skipped.
   */
  createSubflows(c: PmConnection, wanted: readonly WantedPair[]): void;
  /** ANNOUNCE the addresses not announced on the connection yet (never its initial one). */
  announce(c: PmConnection, addresses: readonly LocalAddress[]): void;
  /** REMOVE the announcement of `address` (RM_ADDR to the peer), if there was one. */
  withdrawAnnouncement(c: PmConnection, address: string): void;
  /** SUBFLOW_DESTROY our subflows from `address` and drop the creates in flight from it. */
  destroySubflowsFrom(c: PmConnection, address: string): void;
  /** Create `pair` again after a backoff, or give it up once its retries are spent. */
  retryLater(c: PmConnection, pair: string, why: string): void;
  /** `address` came back: its pairs may be retried again, at once. */
  forgetRetries(c: PmConnection, address: string): void;
  /**
   * An interface came up: the retries waiting on any pair run at the next reconcile instead of at
   * their timers (the route they lacked may be back); their attempt counts stay.
   */
  retryWaitingNow(c: PmConnection): void;
  /** `address` went away: drop the retries waiting on its pairs, saying why. */
  cancelRetries(c: PmConnection, address: string, why: string): void;
}

export interface PmPolicy {
  readonly name: string;
  /** ESTABLISHED, and whenever the loop reconciles the connection (adopted, resynced, a retry due). */
  connectionEstablished(c: PmConnection, pm: PmActions): void;
  /** ANNOUNCED: the peer has another address (already in c.remotes). */
  newAddress(c: PmConnection, remoteId: number, pm: PmActions): void;
  /**
   * A subflow we did not destroy closed (SUB_CLOSED), a SUBFLOW_CREATE was refused, or a create
   * was lost with events; `pair` names its address pair.
   */
  subflowClosed(c: PmConnection, pair: string, why: string, pm: PmActions): void;
  /** Local addresses became usable (rtnetlink), for each tracked connection. */
  newLocalAddresses(c: PmConnection, addresses: readonly string[], pm: PmActions): void;
  /** Local addresses left, for each tracked connection. */
  deleteLocalAddresses(c: PmConnection, addresses: readonly string[], pm: PmActions): void;
}
