/**
 * Runs the userspace path manager (userspace-pm.ts) against the kernel of the current network
 * namespace (../kernel.ts): mptcp_pm events in, SUBFLOW_CREATE / DESTROY / ANNOUNCE / REMOVE out,
 * rtnetlink link and address notifications for the usable local addresses. Everything is per
 * network namespace: the caller runs inside the namespace it manages (`ip netns exec`).
 *
 * On start it rebuilds its state from the kernel rather than from memory: sock_diag for the
 * connections that already exist, and GET_ADDR with TOKEN for each one's local address ids.
 * Connections that use the in-kernel PM answer that dump with EINVAL and are left alone.
 */
import type { ConnectionsSnapshot } from '../../../shared/types';
import type { Kernel, MptcpEventsWatch } from '../kernel';
import type { PmEvent } from '../mptcp-pm/events';
import { NetlinkError } from '../netlink/core';
import { NetlinkKernel } from '../netlink-kernel';
import { isUsable, type DecodedAddress, type DecodedLink } from '../rtnl/interfaces';
import { IFA_F_DADFAILED, IFA_F_DEPRECATED, IFA_F_TENTATIVE } from '../uapi/if-addr';
import { IFF_LOOPBACK } from '../uapi/if-link';
import { RT_SCOPE_UNIVERSE } from '../uapi/rtnetlink';
import {
  UserspacePm,
  type AdoptedConnection,
  type LocalAddress,
  type PmLogEntry,
  type PmMode,
  type PmRole,
} from './userspace-pm';
/** Coalesce bursts of link/address notifications (an interface going down sends several). */
const ADDRESS_DEBOUNCE_MS = 50;

export interface RunPmOptions {
  mode: PmMode;
  role: PmRole;
  subflows: number;
  recreate?: boolean;
  maxRetries?: number;
  retryDelayMs?: number;
  log: (e: PmLogEntry) => void;
  /** Every decoded event, for a timeline; called before the loop acts on it. */
  onEvent?: (ev: PmEvent) => void;
  /**
   * SO_RCVBUF of the events socket (default 4 MiB, capped by net.core.rmem_max); a burst of
   * connections can overflow any size (the loss is then reported and the state resynced).
   */
  eventsRecvBufferBytes?: number;
  /** Tests only: EventReaderOptions.stallMsForTests of the events reader, to force a loss. */
  eventsStallMsForTests?: number;
  /**
   * The kernel to manage (unit tests: src-main/testing/fake-kernel.ts). Default: a NetlinkKernel
   * of the run's own (its sockets report listener errors to `log`), closed when the run stops.
   */
  kernel?: Kernel;
}

export interface RunningPm {
  pm: UserspacePm;
  stop(): void;
}

/**
 * Usable local addresses: global scope (RT_SCOPE_UNIVERSE: link-local and host addresses cannot
 * reach a peer elsewhere), not on loopback, on a link that is up, and neither tentative, failed
 * duplicate detection nor deprecated (IFA_F_*: not a source yet, or any more).
 */
export function usableAddresses(links: DecodedLink[], addrs: DecodedAddress[]): LocalAddress[] {
  const byIndex = new Map(links.map((l) => [l.index, l]));
  return addrs
    .filter((a) => {
      const link = byIndex.get(a.index);
      if (!link || (link.flags & IFF_LOOPBACK) !== 0 || !isUsable(link)) return false;
      if (a.scope !== RT_SCOPE_UNIVERSE) return false;
      return (a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED)) === 0;
    })
    .map((a) => ({ address: a.address, family: a.family, ifindex: a.index }));
}

async function readUsableAddresses(kernel: Kernel): Promise<LocalAddress[]> {
  const { links, addresses } = await kernel.reads.linksAndAddresses();
  return usableAddresses(links, addresses);
}

export async function runUserspacePm(opts: RunPmOptions): Promise<RunningPm> {
  const listenerError = (err: unknown, where: string): void =>
    opts.log({
      timeMs: Date.now(),
      token: null,
      what: 'internal-error',
      result: 'error',
      message: `${where} threw: ${err instanceof Error ? err.message : String(err)}`,
    });
  // The events come from a reader of their own (netlink/event-reader.ts): it keeps up with bursts
  // (~5 events per new connection: created, established, one SUB_ESTABLISHED per subflow) and
  // reports what the kernel still drops, resynced below.
  let events: MptcpEventsWatch | null = null;
  let stopWatchingAddresses: (() => void) | null = null;
  const kernel = opts.kernel ?? new NetlinkKernel({ onListenerError: listenerError });
  const timers: NodeJS.Timeout[] = [];
  const closeAll = (): void => {
    for (const t of timers) clearTimeout(t);
    events?.close();
    stopWatchingAddresses?.();
    if (!opts.kernel) kernel.close();
  };
  try {
    const pm = new UserspacePm({
      mode: opts.mode,
      role: opts.role,
      subflows: opts.subflows,
      commands: kernel.pm,
      log: opts.log,
      ...(opts.recreate !== undefined ? { recreate: opts.recreate } : {}),
      ...(opts.maxRetries !== undefined ? { maxRetries: opts.maxRetries } : {}),
      ...(opts.retryDelayMs !== undefined ? { retryDelayMs: opts.retryDelayMs } : {}),
    });
    // Subscribe before reading the kernel's state, and hold events until it is adopted: an event
    // between the two reads is then applied on top instead of lost.
    let queue: PmEvent[] | null = [];
    const reader = await kernel.watchMptcpEvents(
      (ev) => {
        try {
          opts.onEvent?.(ev);
          if (queue) queue.push(ev);
          else pm.handleEvent(ev);
        } catch (e) {
          listenerError(e, 'the event handler');
        }
      },
      {
        recvBufferBytes: opts.eventsRecvBufferBytes ?? 4 * 1024 * 1024,
        ...(opts.eventsStallMsForTests ? { stallMsForTests: opts.eventsStallMsForTests } : {}),
      },
    );
    events = reader;
    const refresh = coalesced(() =>
      readUsableAddresses(kernel)
        .then((a) => pm.setLocalAddresses(a))
        .catch((e: unknown) =>
          opts.log({
            timeMs: Date.now(),
            token: null,
            what: 'local-addresses',
            result: 'error',
            message: e instanceof Error ? e.message : String(e),
          }),
        ),
    );
    let debounce: NodeJS.Timeout | null = null;
    stopWatchingAddresses = kernel.watchAddresses(() => {
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(refresh, ADDRESS_DEBOUNCE_MS);
      timers.push(debounce);
    });
    pm.setLocalAddresses(await readUsableAddresses(kernel));
    await adoptExisting(pm, kernel, opts.role, opts.log);
    const held = queue;
    queue = null;
    for (const ev of held) pm.handleEvent(ev);

    // ENOBUFS on the events socket: the kernel dropped MPTCP events (netlink_overrun), so
    // connections, subflows or closes were missed. NETLINK_NO_ENOBUFS would hide that; instead
    // the loss is logged and the state rebuilt from the kernel, as on a restart.
    let stopped = false;
    const resync = coalesced(() => {
      if (stopped) return Promise.resolve();
      const t0 = performance.now();
      return resyncFromKernel(pm, kernel, opts.role)
        .then((r) =>
          opts.log({
            timeMs: Date.now(),
            token: null,
            what: 'resync',
            result: 'ok',
            message: `state rebuilt from the kernel in ${(performance.now() - t0).toFixed(0)} ms`,
            detail: r,
          }),
        )
        .catch((e: unknown) =>
          opts.log({
            timeMs: Date.now(),
            token: null,
            what: 'resync',
            result: 'error',
            message: e instanceof Error ? e.message : String(e),
          }),
        );
    });
    reader.onLost(({ dropped, message }) => {
      const lost = message === undefined;
      opts.log({
        timeMs: Date.now(),
        token: null,
        what: lost ? 'events-lost' : 'events-error',
        result: 'error',
        message: lost
          ? `the kernel dropped ${dropped === null ? '' : `${dropped} `}MPTCP events (ENOBUFS: the events socket receive buffer overflowed); resyncing from sock_diag`
          : `events socket: ${message}; resyncing from sock_diag`,
        ...(dropped === null ? {} : { detail: { dropped } }),
      });
      resync();
    });
    return {
      pm,
      stop: () => {
        stopped = true;
        pm.stop();
        closeAll();
      },
    };
  } catch (e) {
    closeAll();
    throw e;
  }
}

/**
 * After lost events: tracked connections get the kernel's subflows (or are forgotten when gone),
 * untracked ones are adopted as on a restart. Events keep flowing meanwhile: a connection first
 * seen by an event during the resync is left to it.
 */
async function resyncFromKernel(
  pm: UserspacePm,
  kernel: Kernel,
  role: PmRole,
): Promise<{ adopted: number; resynced: number; forgotten: number }> {
  const trackedBefore = new Set(pm.tokens());
  pm.beginResync();
  try {
    return await resyncWith(
      pm,
      trackedBefore,
      await kernel.reads.connections({ inThread: true }),
      kernel,
      role,
    );
  } finally {
    pm.endResync();
  }
}

async function resyncWith(
  pm: UserspacePm,
  trackedBefore: ReadonlySet<number>,
  snap: ConnectionsSnapshot,
  kernel: Kernel,
  role: PmRole,
): Promise<{ adopted: number; resynced: number; forgotten: number }> {
  const inKernel = new Set<number>();
  const established: { token: number; subflows: AdoptedConnection['subflows'] }[] = [];
  let adopted = 0;
  for (const conn of snap.connections) {
    inKernel.add(conn.token);
    if (conn.state !== 'ESTABLISHED' || conn.fallback) continue;
    // Joins still in their handshake count: they are creates the kernel accepted whose
    // SUB_ESTABLISHED has not come yet (or was lost). Leaving them out made the resync take
    // them for failed creates and retry them, a subflow too many (seen in the lab test).
    const subflows = conn.subflows
      .filter((s) => s.state === 'ESTABLISHED' || s.state === 'SYN_SENT' || s.state === 'SYN_RECV')
      .map((s) => ({
        local: s.localAddress,
        localPort: s.localPort,
        remote: s.remoteAddress,
        remotePort: s.remotePort,
        localId: s.localId,
        remoteId: s.remoteId,
      }));
    established.push({ token: conn.token, subflows });
    if (pm.has(conn.token)) continue;
    const localIds = await connectionLocalIds(kernel, conn.token);
    if (localIds === null) continue; // the in-kernel PM's (or gone)
    if (pm.has(conn.token)) continue; // an event brought it in meanwhile
    pm.adopt({
      token: conn.token,
      family: conn.family,
      localAddress: conn.localAddress,
      localPort: conn.localPort,
      remoteAddress: conn.remoteAddress,
      remotePort: conn.remotePort,
      serverSide: role === 'server',
      subflows,
      localIds,
    });
    adopted++;
  }
  // Then every one, the adopted included: a resync borrows the peer addresses (lost ADD_ADDRs)
  // from the other connections to the same peer, which must all be known by now.
  let resynced = 0;
  for (const e of established) {
    if (!pm.has(e.token)) continue;
    pm.resync(e.token, { subflows: e.subflows });
    resynced++;
  }
  let forgotten = 0;
  for (const token of trackedBefore) {
    if (inKernel.has(token) || !pm.has(token)) continue;
    pm.forget(token);
    forgotten++;
  }
  return { adopted, resynced, forgotten };
}

/** GET_ADDR with TOKEN; null for a connection under the in-kernel PM (EINVAL) or already gone. */
async function connectionLocalIds(
  kernel: Kernel,
  token: number,
): Promise<{ address: string; id: number }[] | null> {
  try {
    return (await kernel.reads.connectionAddresses(token)).map((e) => ({ address: e.address, id: e.id }));
  } catch (e) {
    if (e instanceof NetlinkError && (e.code === 'EINVAL' || e.code === 'ENOENT')) return null;
    throw e;
  }
}

async function adoptExisting(
  pm: UserspacePm,
  kernel: Kernel,
  role: PmRole,
  log: (e: PmLogEntry) => void,
): Promise<void> {
  const snap = await kernel.reads.connections({ inThread: true });
  for (const conn of snap.connections) {
    if (conn.state !== 'ESTABLISHED' || conn.fallback) continue;
    let localIds: { address: string; id: number }[];
    try {
      localIds = (await kernel.reads.connectionAddresses(conn.token)).map((e) => ({
        address: e.address,
        id: e.id,
      }));
    } catch (e) {
      if (e instanceof NetlinkError && e.code === 'EINVAL') {
        log({
          timeMs: Date.now(),
          token: conn.token,
          what: 'adopt',
          result: 'skipped',
          message: 'the connection uses the in-kernel path manager',
        });
        continue;
      }
      throw e;
    }
    pm.adopt({
      token: conn.token,
      family: conn.family,
      localAddress: conn.localAddress,
      localPort: conn.localPort,
      remoteAddress: conn.remoteAddress,
      remotePort: conn.remotePort,
      // sock_diag does not say which side opened the connection; the role decides (a server
      // never creates subflows, a client's connections are its own).
      serverSide: role === 'server',
      subflows: conn.subflows
        .filter((s) => s.state === 'ESTABLISHED')
        .map((s) => ({
          local: s.localAddress,
          localPort: s.localPort,
          remote: s.remoteAddress,
          remotePort: s.remotePort,
          localId: s.localId,
          remoteId: s.remoteId,
        })),
      localIds,
    });
  }
}

/**
 * One run of `task` at a time: a call while it runs asks for exactly one more run once it ends
 * (address bursts and repeated ENOBUFS collapse into a single re-read, never a queue).
 */
function coalesced(task: () => Promise<void>): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void task().finally(() => {
      running = false;
      if (again) {
        again = false;
        run();
      }
    });
  };
  return run;
}
