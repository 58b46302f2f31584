/**
 * The engine as MPTCP path manager: a userspace-PM loop for one network namespace
 * (docs/path-manager.md) that gives upstream Linux the two path managers of the out-of-tree
 * kernel, fullmesh and ndiffports. What each mode does is its policy (policy.ts, policies/); this
 * loop keeps the per-connection state the policies read and carries out what they ask for.
 *
 * The state per connection is rebuilt from events (and, on restart or after lost events, from the
 * kernel: see adopt and resync), never trusted from memory. The kernel side is injected
 * (PmCommands, ../kernel.ts), so the loop and the policies are unit-tested.
 */
import { PM_RECREATE } from '../../../shared/pm';
import { countOf } from '../../../shared/units';
import type { PmCommands } from '../kernel';
import type { PmEvent } from '../mptcp-pm/events';
import type { SubflowCreateSpec } from '../mptcp-pm/userspace';
import { policyFor } from './policies/index';
import type { LocalAddress, PmActions, PmConnection, PmPolicy, WantedPair } from './policy';

export type { LocalAddress } from './policy';

export type PmMode = 'fullmesh' | 'ndiffports';
export type PmRole = 'client' | 'server';

/** One structured log entry: a command and its result, or an event/decision worth showing. */
export interface PmLogEntry {
  timeMs: number;
  token: number | null;
  what: string;
  result: 'ok' | 'error' | 'skipped' | 'info';
  message?: string;
  detail?: Record<string, unknown>;
}

export interface UserspacePmOptions {
  mode: PmMode;
  role: PmRole;
  /** ndiffports: subflows per connection (initial included); fullmesh: the cap per connection. */
  subflows: number;
  /** What the mode does; default: policyFor(mode, role, subflows) (policies/index.ts). */
  policy?: PmPolicy;
  commands: PmCommands;
  log: (e: PmLogEntry) => void;
  /** Recreate a subflow that closed (or failed) while its addresses are still usable. */
  recreate?: boolean;
  /** Recreate attempts per (connection, address pair); bounded so a refusing peer causes no storm. */
  maxRetries?: number;
  /** First retry delay; doubles with every attempt on the same pair, up to maxRetryDelayMs. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
}

/** Recreating closed subflows: shared/pm.ts PM_RECREATE (docs/path-manager.md, "Self-healing"). */
export const RECREATE_DEFAULTS = PM_RECREATE;

/** The wait before recreate attempt `attempt` (1-based): first × 2^(attempt−1), at most cap. */
export function retryDelayFor(attempt: number, firstMs: number, capMs: number): number {
  return Math.min(capMs, firstMs * 2 ** Math.max(0, attempt - 1));
}

/** errno names of the SUB_CLOSED error attribute (sk_err; uapi: asm-generic/errno.h). */
const ERRNO_NAMES: Record<number, string> = {
  32: 'EPIPE',
  101: 'ENETUNREACH',
  103: 'ECONNABORTED',
  104: 'ECONNRESET',
  110: 'ETIMEDOUT',
  111: 'ECONNREFUSED',
  113: 'EHOSTUNREACH',
};
const errnoName = (n: number): string => ERRNO_NAMES[n] ?? `errno ${n}`;

interface SubflowRec {
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  localId: number | null;
  remoteId: number | null;
}

interface ConnState extends PmConnection {
  token: number;
  family: 'inet' | 'inet6';
  serverSide: boolean;
  established: boolean;
  local: string;
  localPort: number;
  remote: string;
  remotePort: number;
  /** The kernel's per-connection local list: address → id (0 = the initial address). */
  localIds: Map<string, number>;
  /** Known peer addresses by remote id; id 0 is the initial one. */
  remotes: Map<number, { address: string; port: number }>;
  subflows: Map<string, SubflowRec>;
  /** SUBFLOW_CREATEs sent and not yet answered by SUB_ESTABLISHED/SUB_CLOSED, per pair. */
  pending: Map<string, number>;
  /** Of those, the ones whose command the kernel has not acknowledged yet. */
  unacked: Map<string, number>;
  retries: Map<string, number>;
  /** Pairs not to recreate (policy says no, or the retries are spent). */
  givenUp: Set<string>;
  /** Pairs waiting for their retry timer: not created before it fires (the backoff holds). */
  waiting: Set<string>;
  /** The retry timer of each waiting pair (cancelled when its address or the connection goes). */
  retryTimers: Map<string, NodeJS.Timeout>;
  /**
   * Pairs that lost a subflow (closed on error, a create refused, their address gone) and have
   * not got one back: the next create on them is a recreate, shown as such, with why.
   */
  lost: Map<string, string>;
  /**
   * When each recreated pair's subflow came up: a loss after it held for maxRetryDelayMs starts
   * the backoff afresh; an earlier one continues it (a peer that accepts and resets at once must
   * not get a create a second forever).
   */
  upSinceMs: Map<string, number>;
  /** Subflows we are destroying ourselves: their SUB_CLOSED is no failure. */
  destroying: Set<string>;
  /** Server fullmesh: addresses announced on this connection → id. */
  announced: Map<string, number>;
  timers: Set<NodeJS.Timeout>;
  /** During a resync (beginResync): subflows that events added or removed since it began. */
  changedSinceResync: Set<string>;
  /** Subflows a resync took as the answer to a create before their SUB_ESTABLISHED came. */
  settledByResync: Set<string>;
}

const pairKey = (local: string, remote: string, remotePort: number): string =>
  `${local}|${remote}|${remotePort}`;
const subflowKey = (s: Omit<SubflowRec, 'localId' | 'remoteId'>): string =>
  `${s.local}|${s.localPort}|${s.remote}|${s.remotePort}`;

/** What adopt() needs about a connection that existed before the loop started. */
export interface AdoptedConnection {
  token: number;
  family: 'inet' | 'inet6';
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  serverSide: boolean;
  subflows: SubflowRec[];
  /** From GET_ADDR with TOKEN. */
  localIds: { address: string; id: number }[];
}

export interface PmConnectionView {
  token: number;
  serverSide: boolean;
  subflows: SubflowRec[];
  remotes: { id: number; address: string; port: number }[];
  localIds: { address: string; id: number }[];
  pending: number;
}

export class UserspacePm {
  private readonly conns = new Map<number, ConnState>();
  private readonly policy: PmPolicy;
  /** What policies may do, bound to this loop (see PmActions). */
  private readonly actions: PmActions;
  private usable: LocalAddress[] = [];
  /**
   * Stable local ids per address across connections, 1..255; id 0 is each initial address. A
   * server's announcements then carry the same id for an address on every connection, which a
   * resync relies on (see resync).
   */
  private readonly addrIds = new Map<string, number>();
  private stopped = false;
  /** Between beginResync and endResync (see there). */
  private resyncing = false;
  /**
   * During a resync: subflow changes of connections not tracked yet (null: closed), by token. A
   * connection the resync then adopts from its older read of the kernel takes them in (adopt).
   */
  private readonly untrackedChanges = new Map<number, Map<string, SubflowRec | null>>();
  private readonly recreate: boolean;
  private readonly maxRetries: number;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;

  constructor(private readonly opts: UserspacePmOptions) {
    if (!Number.isInteger(opts.subflows) || opts.subflows < 1 || opts.subflows > 256)
      throw new RangeError(`subflows must be 1..256 (got ${opts.subflows})`);
    this.recreate = opts.recreate ?? true;
    this.maxRetries = opts.maxRetries ?? RECREATE_DEFAULTS.maxRetries;
    this.retryDelayMs = opts.retryDelayMs ?? RECREATE_DEFAULTS.retryDelayMs;
    this.maxRetryDelayMs = Math.max(
      this.retryDelayMs,
      opts.maxRetryDelayMs ?? RECREATE_DEFAULTS.maxRetryDelayMs,
    );
    this.policy = opts.policy ?? policyFor(opts.mode, opts.role, opts.subflows);
    const state = (c: PmConnection): ConnState | null => {
      const s = this.conns.get(c.token);
      return s === c ? s : null;
    };
    const each = (c: PmConnection, f: (s: ConnState) => void): void => {
      const s = state(c);
      if (s) f(s);
    };
    this.actions = {
      usableAddresses: (c) => this.usable.filter((a) => a.family === c.family),
      reconcile: (c) => each(c, (s) => this.reconcile(s)),
      createSubflows: (c, wanted) => each(c, (s) => this.createMissing(s, wanted)),
      announce: (c, addresses) => each(c, (s) => this.announce(s, addresses)),
      withdrawAnnouncement: (c, address) => each(c, (s) => this.withdrawAnnouncement(s, address)),
      destroySubflowsFrom: (c, address) => each(c, (s) => this.destroySubflowsFrom(s, address)),
      retryLater: (c, pair, why) => each(c, (s) => this.retryLater(s, pair, why)),
      forgetRetries: (c, address) => each(c, (s) => this.forgetRetries(s, address)),
      retryWaitingNow: (c) => each(c, (s) => this.retryWaitingNow(s)),
      cancelRetries: (c, address, why) =>
        each(c, (s) => this.cancelRetries(s, (pk) => pk.startsWith(`${address}|`), why)),
    };
  }

  private log(
    token: number | null,
    what: string,
    result: PmLogEntry['result'],
    extra: Partial<PmLogEntry> = {},
  ): void {
    this.opts.log({ timeMs: Date.now(), token, what, result, ...extra });
  }

  /** Stop: cancel retry timers. Connections and subflows stay as they are. */
  stop(): void {
    this.stopped = true;
    for (const c of this.conns.values()) for (const t of c.timers) clearTimeout(t);
  }

  connections(): PmConnectionView[] {
    return [...this.conns.values()].map((c) => ({
      token: c.token,
      serverSide: c.serverSide,
      subflows: [...c.subflows.values()],
      remotes: [...c.remotes].map(([id, r]) => ({ id, ...r })),
      localIds: [...c.localIds].map(([address, id]) => ({ address, id })),
      pending: [...c.pending.values()].reduce((a, b) => a + b, 0),
    }));
  }

  // --- inputs ----------------------------------------------------------------------------------

  handleEvent(ev: PmEvent): void {
    if (this.stopped || ev.token === null) return;
    const token = ev.token;
    switch (ev.kind) {
      case 'created':
      case 'established': {
        let c = this.conns.get(token);
        if (!c) {
          if (
            !ev.family ||
            !ev.localAddress ||
            !ev.remoteAddress ||
            ev.localPort === null ||
            ev.remotePort === null
          )
            return;
          c = this.newConn(
            token,
            ev.family,
            ev.localAddress,
            ev.localPort,
            ev.remoteAddress,
            ev.remotePort,
            ev.serverSide,
          );
        }
        if (ev.kind === 'established') {
          c.established = true;
          this.reconcile(c);
        }
        return;
      }
      case 'closed': {
        const c = this.conns.get(token);
        if (c) {
          this.cancelRetries(c, () => true, 'the connection closed');
          for (const t of c.timers) clearTimeout(t);
        }
        this.conns.delete(token);
        return;
      }
      case 'announced': {
        const c = this.conns.get(token);
        if (!c || ev.remoteId === null || !ev.remoteAddress) return;
        // DPORT holds the connection's port when the ADD_ADDR had none: connect there.
        c.remotes.set(ev.remoteId, { address: ev.remoteAddress, port: ev.remotePort ?? c.remotePort });
        this.policy.newAddress(c, ev.remoteId, this.actions);
        return;
      }
      case 'removed': {
        const c = this.conns.get(token);
        // The kernel closes the subflows to that id itself (RM_ADDR, RFC 8684 §3.4.2).
        if (!c || ev.remoteId === null) return;
        const gone = c.remotes.get(ev.remoteId);
        c.remotes.delete(ev.remoteId);
        if (gone && ![...c.remotes.values()].some((r) => r.address === gone.address))
          this.cancelRetries(
            c,
            (pk) => pk.endsWith(`|${gone.address}|${gone.port}`),
            `the peer removed ${gone.address}`,
          );
        return;
      }
      case 'sub_established':
        this.onSubEstablished(ev);
        return;
      case 'sub_closed':
        this.onSubClosed(ev);
        return;
      case 'sub_priority':
      case 'listener_created':
      case 'listener_closed':
      case 'unknown':
        return; // nothing for the path manager to do
    }
  }

  /**
   * The usable local addresses changed (rtnetlink: address or link events): the policy of each
   * connection hears which left and which came (fullmesh: destroy or withdraw, create or announce).
   */
  setLocalAddresses(addrs: LocalAddress[]): void {
    const before = new Set(this.usable.map((a) => a.address));
    const after = new Set(addrs.map((a) => a.address));
    this.usable = [...addrs];
    if (this.stopped) return;
    const gone = [...before].filter((a) => !after.has(a));
    const added = [...after].filter((a) => !before.has(a));
    if (gone.length > 0 || added.length > 0)
      this.log(null, 'local-addresses', 'info', { detail: { gone, added } });
    for (const c of [...this.conns.values()]) {
      if (gone.length > 0) this.policy.deleteLocalAddresses(c, gone, this.actions);
      if (added.length > 0) this.policy.newLocalAddresses(c, added, this.actions);
    }
  }

  /** Whether the loop tracks this connection (by local token). */
  has(token: number): boolean {
    return this.conns.has(token);
  }

  /** The tokens the loop tracks. */
  tokens(): number[] {
    return [...this.conns.keys()];
  }

  /**
   * Events were lost (ENOBUFS on the events socket): bring a tracked connection in line with what
   * sock_diag reports now. Its subflows become the kernel's; a create whose SUB_ESTABLISHED was
   * lost is settled by the subflow now seen; a create the kernel acknowledged that has no subflow
   * now failed or is still in its handshake (its SUB_CLOSED may be lost): it goes through the retry
   * path, whose delayed reconcile counts the subflows again and so duplicates nothing.
   * Call it for every connection of a snapshot after adopting the new ones, so the peer addresses
   * borrowed from other connections (see below) are known.
   */
  resync(token: number, k: { subflows: SubflowRec[] }): void {
    const c = this.conns.get(token);
    if (!c || this.stopped) return;
    c.established = true;
    const before = c.subflows;
    c.subflows = new Map(k.subflows.map((s) => [subflowKey(s), { ...s }]));
    // The kernel's list was read when the resync began; what events changed since is newer.
    // (Without this, a subflow established after the read was dropped here and created again.)
    for (const key of c.changedSinceResync) {
      const now = before.get(key);
      if (now) c.subflows.set(key, now);
      else c.subflows.delete(key);
    }
    for (const s of k.subflows) {
      if (s.remoteId !== null && !c.remotes.has(s.remoteId))
        c.remotes.set(s.remoteId, { address: s.remote, port: s.remotePort });
      if (s.localId !== null && !c.localIds.has(s.local)) c.localIds.set(s.local, s.localId);
    }
    // A lost ADD_ADDR cannot be read back (the kernel keeps no list of the peer's announced
    // addresses that userspace can dump), so the peer's other addresses are taken from the other
    // connections to the same peer (same initial address and port), with the ids it gave there: a
    // server running our PM uses the same id for an address on every connection (addrIds).
    for (const o of this.conns.values()) {
      if (o === c || o.remote !== c.remote || o.remotePort !== c.remotePort) continue;
      for (const [id, r] of o.remotes) {
        if (c.remotes.has(id) || [...c.remotes.values()].some((x) => x.address === r.address)) continue;
        c.remotes.set(id, { ...r });
      }
    }
    for (const key of [...c.destroying]) if (!c.subflows.has(key)) c.destroying.delete(key);
    for (const key of [...c.settledByResync]) if (!c.subflows.has(key)) c.settledByResync.delete(key);
    for (const [pk, n] of [...c.pending]) {
      const inFlight = Math.min(n, c.unacked.get(pk) ?? 0);
      // Subflows on the pair we had no SUB_ESTABLISHED for (lost, or a join still in its handshake).
      const seen: string[] = [];
      for (const [key, s] of c.subflows)
        if (!before.has(key) && pairKey(s.local, s.remote, s.remotePort) === pk) seen.push(key);
      // They settle the creates whose SUB_ESTABLISHED was lost, or has not come yet: noted, so
      // that such a SUB_ESTABLISHED when it comes does not settle one more (onSubEstablished).
      const settled = Math.min(n - inFlight, seen.length);
      for (const key of seen.slice(0, settled)) c.settledByResync.add(key);
      const unanswered = n - inFlight - settled;
      if (inFlight > 0) c.pending.set(pk, inFlight);
      else c.pending.delete(pk);
      if (unanswered > 0) this.failed(c, pk, 'events lost (ENOBUFS) and no subflow in the kernel');
    }
    this.reconcile(c);
  }

  /**
   * A resync is about to read the kernel's state: from now until endResync, the subflows events
   * add or remove are noted per connection, so that resync() keeps them over the older read.
   */
  beginResync(): void {
    this.resyncing = true;
    this.untrackedChanges.clear();
    for (const c of this.conns.values()) c.changedSinceResync.clear();
  }

  endResync(): void {
    this.resyncing = false;
    this.untrackedChanges.clear();
    for (const c of this.conns.values()) c.changedSinceResync.clear();
  }

  /** A subflow event for a connection not tracked (yet): kept during a resync, for adopt(). */
  private noteUntracked(token: number | null, key: string, rec: SubflowRec | null): void {
    if (!this.resyncing || token === null) return;
    let m = this.untrackedChanges.get(token);
    if (!m) this.untrackedChanges.set(token, (m = new Map<string, SubflowRec | null>()));
    m.set(key, rec);
  }

  /** Events were lost: a tracked connection sock_diag no longer reports is gone. */
  forget(token: number): void {
    const c = this.conns.get(token);
    if (!c) return;
    for (const t of c.timers) clearTimeout(t);
    this.conns.delete(token);
  }

  /** Take over a connection that existed before this loop (restart): state from the kernel. */
  adopt(a: AdoptedConnection): void {
    const c = this.newConn(
      a.token,
      a.family,
      a.localAddress,
      a.localPort,
      a.remoteAddress,
      a.remotePort,
      a.serverSide,
    );
    c.established = true;
    for (const { address, id } of a.localIds) {
      c.localIds.set(address, id);
      if (id !== 0 && !this.addrIds.has(address) && ![...this.addrIds.values()].includes(id))
        this.addrIds.set(address, id);
    }
    for (const s of a.subflows) {
      c.subflows.set(subflowKey(s), { ...s });
      if (s.remoteId !== null && !c.remotes.has(s.remoteId))
        c.remotes.set(s.remoteId, { address: s.remote, port: s.remotePort });
    }
    // Adopted during a resync, from the kernel read when it began: subflow events since are newer
    // (and marked changed, so the resync() that follows keeps them too).
    for (const [key, rec] of this.untrackedChanges.get(a.token) ?? []) {
      if (rec) c.subflows.set(key, rec);
      else c.subflows.delete(key);
      c.changedSinceResync.add(key);
    }
    this.untrackedChanges.delete(a.token);
    this.log(a.token, 'adopt', 'info', {
      detail: { subflows: a.subflows.length, localIds: a.localIds.length, serverSide: a.serverSide },
    });
    this.reconcile(c);
  }

  // --- state -----------------------------------------------------------------------------------

  private newConn(
    token: number,
    family: 'inet' | 'inet6',
    local: string,
    localPort: number,
    remote: string,
    remotePort: number,
    serverSide: boolean,
  ): ConnState {
    const c: ConnState = {
      token,
      family,
      serverSide,
      established: false,
      local,
      localPort,
      remote,
      remotePort,
      localIds: new Map([[local, 0]]),
      remotes: new Map([[0, { address: remote, port: remotePort }]]),
      subflows: new Map(),
      pending: new Map(),
      unacked: new Map(),
      retries: new Map(),
      givenUp: new Set(),
      waiting: new Set(),
      retryTimers: new Map(),
      lost: new Map(),
      upSinceMs: new Map(),
      destroying: new Set(),
      changedSinceResync: new Set(),
      settledByResync: new Set(),
      announced: new Map(),
      timers: new Set(),
    };
    // The initial subflow has no SUB_ESTABLISHED of its own: it is the connection.
    const initial = { local, localPort, remote, remotePort, localId: 0, remoteId: 0 };
    c.subflows.set(subflowKey(initial), initial);
    this.conns.set(token, c);
    return c;
  }

  private onSubEstablished(ev: PmEvent): void {
    if (!ev.localAddress || !ev.remoteAddress || ev.localPort === null || ev.remotePort === null) return;
    const rec: SubflowRec = {
      local: ev.localAddress,
      localPort: ev.localPort,
      remote: ev.remoteAddress,
      remotePort: ev.remotePort,
      localId: ev.localId,
      remoteId: ev.remoteId,
    };
    const key = subflowKey(rec);
    const c = this.conns.get(ev.token ?? -1);
    if (!c) return this.noteUntracked(ev.token, key, rec);
    c.subflows.set(key, rec);
    if (this.resyncing) c.changedSinceResync.add(key);
    // A resync that saw this join in its handshake settled its create then: settling again would
    // take the place of another create on the same pair.
    const pk = pairKey(rec.local, rec.remote, rec.remotePort);
    if (!c.settledByResync.delete(key)) this.settlePending(c, pk);
    if (ev.localId !== null && !c.localIds.has(rec.local)) c.localIds.set(rec.local, ev.localId);
    // A pair that lost its subflow has one again (failed() decides whether the count restarts).
    const why = c.lost.get(pk);
    if (why !== undefined) {
      const attempts = c.retries.get(pk) ?? 0;
      c.lost.delete(pk);
      c.upSinceMs.set(pk, Date.now());
      this.log(c.token, 'subflow-recreated', 'ok', {
        message: `subflow back (${why}${attempts > 0 ? `; after ${attempts} attempt${attempts === 1 ? '' : 's'}` : ''})`,
        detail: {
          local: rec.local,
          localPort: rec.localPort,
          remote: rec.remote,
          remotePort: rec.remotePort,
        },
      });
    }
  }

  private settlePending(c: ConnState, pk: string): boolean {
    const n = c.pending.get(pk) ?? 0;
    if (n <= 0) return false;
    if (n === 1) c.pending.delete(pk);
    else c.pending.set(pk, n - 1);
    return true;
  }

  private onSubClosed(ev: PmEvent): void {
    if (!ev.localAddress || !ev.remoteAddress || ev.localPort === null || ev.remotePort === null) return;
    const key = subflowKey({
      local: ev.localAddress,
      localPort: ev.localPort,
      remote: ev.remoteAddress,
      remotePort: ev.remotePort,
    });
    const c = this.conns.get(ev.token ?? -1);
    if (!c) return this.noteUntracked(ev.token, key, null);
    const pk = pairKey(ev.localAddress, ev.remoteAddress, ev.remotePort);
    const wasUp = c.subflows.delete(key);
    c.settledByResync.delete(key);
    if (this.resyncing) c.changedSinceResync.add(key);
    // A join whose SYN failed never had SUB_ESTABLISHED: it ends one pending create.
    if (!wasUp) this.settlePending(c, pk);
    if (c.destroying.delete(key)) return;
    const err = ev.error ?? 0;
    // An established subflow closed without an error or a reset reason was closed on purpose,
    // by the peer (FIN): creating it again would fight the peer. Errors (sk_err: a reset, a
    // timeout, an unreachable path) and failed joins are failures (uapi: linux/mptcp_pm.h,
    // MPTCP_EVENT_SUB_CLOSED with MPTCP_ATTR_ERROR, MPTCP_ATTR_RESET_REASON).
    if (wasUp && err === 0 && ev.resetReason === null) {
      this.log(c.token, 'subflow-closed', 'info', {
        message: 'closed by the peer without an error: not recreated',
        detail: {
          local: ev.localAddress,
          localPort: ev.localPort,
          remote: ev.remoteAddress,
          remotePort: ev.remotePort,
        },
      });
      return;
    }
    const parts: string[] = [wasUp ? 'closed' : 'join failed'];
    if (err !== 0) parts.push(`with ${errnoName(err)}`);
    if (ev.resetReasonName) parts.push(`(reset: ${ev.resetReasonName})`);
    this.failed(c, pk, parts.join(' '));
  }

  /** A subflow on pair pk closed or could not be created: the policy decides (retryLater). */
  private failed(c: ConnState, pk: string, why: string): void {
    const upSinceMs = c.upSinceMs.get(pk);
    if (upSinceMs !== undefined) {
      c.upSinceMs.delete(pk);
      if (Date.now() - upSinceMs >= this.maxRetryDelayMs) c.retries.delete(pk);
    }
    c.lost.set(pk, why);
    this.policy.subflowClosed(c, pk, why, this.actions);
  }

  /** The waiting retries run at the next reconcile (PmActions.retryWaitingNow). */
  private retryWaitingNow(c: ConnState): void {
    for (const [pk, t] of [...c.retryTimers]) {
      clearTimeout(t);
      c.timers.delete(t);
      c.retryTimers.delete(pk);
      c.waiting.delete(pk);
    }
  }

  /** Drop the retries waiting on the pairs `which` selects, saying why (PmActions.cancelRetries). */
  private cancelRetries(c: ConnState, which: (pk: string) => boolean, why: string): void {
    for (const [pk, t] of [...c.retryTimers]) {
      if (!which(pk)) continue;
      clearTimeout(t);
      c.timers.delete(t);
      c.retryTimers.delete(pk);
      c.waiting.delete(pk);
      const [local, remote, remotePort] = pk.split('|');
      this.log(c.token, 'retry-cancelled', 'info', {
        message: why,
        detail: { local, remote, remotePort: Number(remotePort), attempt: c.retries.get(pk) ?? 0 },
      });
    }
  }

  /** Recreate pair pk later, with a backoff, or give up once its retries are spent. */
  private retryLater(c: ConnState, pk: string, why: string): void {
    const used = c.retries.get(pk) ?? 0;
    if (!this.recreate || used >= this.maxRetries) {
      if (!c.givenUp.has(pk)) {
        c.givenUp.add(pk);
        this.log(c.token, 'give-up', 'skipped', {
          message: this.recreate
            ? `${why}; ${countOf(used, 'retry', 'retries')} spent`
            : `${why}; recreate is off`,
          detail: { pair: pk },
        });
      }
      return;
    }
    const attempt = used + 1;
    c.retries.set(pk, attempt);
    const delayMs = retryDelayFor(attempt, this.retryDelayMs, this.maxRetryDelayMs);
    const [local, remote, remotePort] = pk.split('|');
    this.log(c.token, 'retry-scheduled', 'info', {
      message: `${why}; recreate attempt ${attempt} of ${this.maxRetries} in ${(delayMs / 1000).toFixed(1)} s`,
      detail: { local, remote, remotePort: Number(remotePort), attempt, delayMs },
    });
    const old = c.retryTimers.get(pk);
    if (old) {
      clearTimeout(old);
      c.timers.delete(old);
    }
    c.waiting.add(pk);
    const t = setTimeout(() => {
      c.timers.delete(t);
      c.retryTimers.delete(pk);
      c.waiting.delete(pk);
      if (!this.stopped && this.conns.get(c.token) === c) this.reconcile(c);
    }, delayMs);
    c.timers.add(t);
    c.retryTimers.set(pk, t);
  }

  private localId(c: ConnState, address: string): number {
    const known = c.localIds.get(address);
    if (known !== undefined) return known;
    let id = this.addrIds.get(address);
    const taken = new Set(c.localIds.values());
    if (id === undefined || taken.has(id)) {
      const global = new Set(this.addrIds.values());
      id = 1;
      while (id < 255 && (global.has(id) || taken.has(id))) id++;
      if (!this.addrIds.has(address)) this.addrIds.set(address, id);
    }
    c.localIds.set(address, id);
    return id;
  }

  /** Bring one connection towards what the policy wants. Idempotent; called after every change. */
  private reconcile(c: ConnState): void {
    if (this.stopped || !c.established) return;
    this.policy.connectionEstablished(c, this.actions);
  }

  /**
   * `address` came back: forget the retries spent and the pairs given up from it, and stop
   * waiting for their timers, so that the reconcile that follows recreates them at once.
   */
  private forgetRetries(c: ConnState, address: string): void {
    for (const k of [...c.givenUp, ...c.retries.keys(), ...c.waiting]) {
      if (k.startsWith(`${address}|`)) {
        c.givenUp.delete(k);
        c.retries.delete(k);
        c.waiting.delete(k);
        const t = c.retryTimers.get(k);
        if (t) {
          clearTimeout(t);
          c.timers.delete(t);
          c.retryTimers.delete(k);
        }
      }
    }
    for (const k of c.lost.keys()) if (k.startsWith(`${address}|`)) c.lost.set(k, `${address} is back`);
  }

  /** Creates what `wanted` lacks, up to the cap (PmActions.createSubflows). */
  private createMissing(c: ConnState, wanted: readonly WantedPair[]): void {
    let total = c.subflows.size + [...c.pending.values()].reduce((a, b) => a + b, 0);
    for (const w of wanted) {
      const pk = pairKey(w.local, w.remote, w.remotePort);
      if (c.givenUp.has(pk) || c.waiting.has(pk)) continue;
      let have = c.pending.get(pk) ?? 0;
      for (const s of c.subflows.values())
        if (s.local === w.local && s.remote === w.remote && s.remotePort === w.remotePort) have++;
      for (; have < w.count && total < this.opts.subflows; have++, total++)
        this.create(c, w.local, w.remote, w.remotePort, pk);
    }
  }

  private create(c: ConnState, local: string, remote: string, remotePort: number, pk: string): void {
    // The initial address: no id, no port → the kernel reuses id 0 and picks an ephemeral port.
    const id = local === c.local ? 0 : this.localId(c, local);
    const spec: SubflowCreateSpec = {
      token: c.token,
      local: id === 0 ? { address: local } : { address: local, id },
      remote: { address: remote, port: remotePort },
    };
    c.pending.set(pk, (c.pending.get(pk) ?? 0) + 1);
    c.unacked.set(pk, (c.unacked.get(pk) ?? 0) + 1);
    const answered = (): void => {
      const n = c.unacked.get(pk) ?? 0;
      if (n <= 1) c.unacked.delete(pk);
      else c.unacked.set(pk, n - 1);
    };
    // A pair that lost its subflow: this create is a recreate, an attempt worth showing as such.
    const why = c.lost.get(pk);
    const what = why === undefined ? 'subflow-create' : 'subflow-recreate';
    const attempt = c.retries.get(pk) ?? 0;
    const detail = { local, localId: id, remote, remotePort, ...(why === undefined ? {} : { attempt }) };
    const message = why === undefined ? undefined : attempt > 0 ? `attempt ${attempt}: ${why}` : why;
    this.opts.commands.subflowCreate(spec).then(
      () => {
        answered();
        this.log(c.token, what, 'ok', { detail, ...(message ? { message } : {}) });
      },
      (e: unknown) => {
        answered();
        this.log(c.token, what, 'error', {
          message: message ? `${message}; ${errText(e)}` : errText(e),
          detail,
        });
        if (this.conns.get(c.token) !== c) return;
        this.settlePending(c, pk);
        this.failed(c, pk, `create failed: ${errText(e)}`);
      },
    );
  }

  private announce(c: ConnState, addresses: readonly LocalAddress[]): void {
    for (const a of addresses) {
      if (a.address === c.local || c.announced.has(a.address)) continue;
      const id = this.localId(c, a.address);
      c.announced.set(a.address, id);
      const detail = { address: a.address, localId: id };
      this.opts.commands.announce({ token: c.token, local: { address: a.address, id } }).then(
        () => this.log(c.token, 'announce', 'ok', { detail }),
        (e: unknown) => this.log(c.token, 'announce', 'error', { message: errText(e), detail }),
      );
    }
  }

  /** REMOVE the announcement of an address that left (RM_ADDR to the peer). */
  private withdrawAnnouncement(c: ConnState, address: string): void {
    const id = c.announced.get(address);
    if (id === undefined) return;
    c.announced.delete(address);
    const detail = { address, localId: id };
    this.opts.commands.remove({ token: c.token, localId: id }).then(
      () => this.log(c.token, 'remove', 'ok', { detail }),
      (e: unknown) => this.log(c.token, 'remove', 'error', { message: errText(e), detail }),
    );
  }

  /** An address left: destroy our subflows from it, drop the creates in flight from it. */
  private destroySubflowsFrom(c: ConnState, address: string): void {
    for (const pk of [...c.pending.keys()]) if (pk.startsWith(`${address}|`)) c.pending.delete(pk);
    for (const [key, s] of c.subflows) {
      if (s.local !== address || c.destroying.has(key)) continue;
      c.destroying.add(key);
      c.lost.set(pairKey(s.local, s.remote, s.remotePort), `${address} went away`);
      const detail = { local: s.local, localPort: s.localPort, remote: s.remote, remotePort: s.remotePort };
      this.opts.commands
        .subflowDestroy({
          token: c.token,
          local: { address: s.local, port: s.localPort },
          remote: { address: s.remote, port: s.remotePort },
        })
        .then(
          () => this.log(c.token, 'subflow-destroy', 'ok', { detail }),
          (e: unknown) => {
            c.destroying.delete(key);
            this.log(c.token, 'subflow-destroy', 'error', { message: errText(e), detail });
          },
        );
    }
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
