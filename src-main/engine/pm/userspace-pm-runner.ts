/**
 * Runs the userspace path manager (userspace-pm.ts) against the kernel of the current network
 * namespace: mptcp_pm events in, SUBFLOW_CREATE / DESTROY / ANNOUNCE / REMOVE out, rtnetlink
 * link and address notifications for the usable local addresses. Everything is per netns (G4):
 * the caller runs inside the namespace it manages (`ip netns exec`).
 *
 * On start it rebuilds its state from the kernel rather than from memory: sock_diag for the
 * connections that already exist, and GET_ADDR with TOKEN for each one's local address ids
 * (§2.2). Connections that use the in-kernel PM answer that dump with EINVAL and are left alone.
 */
import { readConnections } from '../diag/connections';
import type { ConnectionsSnapshot } from '../../../shared/types';
import { openMptcpEventReader, type MptcpEvent } from '../events/mptcp-events';
import type { NetlinkEventReader } from '../netlink/event-reader';
import { NETLINK_GENERIC, NETLINK_ROUTE, NETLINK_SOCK_DIAG, NetlinkError, NlSocket } from '../netlink/core';
import {
  buildRtmGetAddrRequest,
  buildRtmGetLinkRequest,
  decodeAddress,
  decodeLink,
  IFF_LOOPBACK,
  isUsable,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  type DecodedAddress,
  type DecodedLink,
} from '../rtnl/interfaces';
import { resolveMptcpPm, type MptcpPmFamily } from './mptcp-pm';
import {
  UserspacePm,
  type AdoptedConnection,
  type LocalAddress,
  type PmCommands,
  type PmLogEntry,
  type PmMode,
  type PmRole,
} from './userspace-pm';
import {
  buildAnnounceRequest,
  buildRemoveRequest,
  buildSubflowCreateRequest,
  buildSubflowDestroyRequest,
  listConnectionAddresses,
} from './userspace-requests';

// rtnetlink multicast groups (uapi: linux/rtnetlink.h enum rtnetlink_groups)
const RTNLGRP_LINK = 1;
const RTNLGRP_IPV4_IFADDR = 5;
const RTNLGRP_IPV6_IFADDR = 9;
const RTM_DELLINK = 17;
const RTM_DELADDR = 21;
/** RT_SCOPE_UNIVERSE: a global address; link-local and host addresses cannot reach a peer elsewhere. */
const RT_SCOPE_UNIVERSE = 0;
// IFA_F_* (uapi: linux/if_addr.h): addresses that cannot be a source yet, or any more.
const IFA_F_TENTATIVE = 0x40;
const IFA_F_DADFAILED = 0x08;
const IFA_F_DEPRECATED = 0x20;
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
  onEvent?: (ev: MptcpEvent) => void;
  /**
   * SO_RCVBUF of the events socket (default 4 MiB, capped by net.core.rmem_max); a burst of
   * connections can overflow any size (the loss is then reported and the state resynced).
   */
  eventsRecvBufferBytes?: number;
  /** Tests only: EventReaderOptions.stallMsForTests of the events reader, to force a loss. */
  eventsStallMsForTests?: number;
}

export interface RunningPm {
  pm: UserspacePm;
  stop(): void;
}

/** Usable local addresses: global scope, not on loopback, on a link that is up, not tentative. */
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

async function readUsableAddresses(route: NlSocket): Promise<LocalAddress[]> {
  const links: DecodedLink[] = [];
  const addrs: DecodedAddress[] = [];
  await route.dump(RTM_GETLINK, buildRtmGetLinkRequest(), 'list interfaces', (buf, type, off, len) => {
    const l = type === RTM_NEWLINK ? decodeLink(buf, off, len) : null;
    if (l) links.push(l);
  });
  await route.dump(RTM_GETADDR, buildRtmGetAddrRequest(), 'list addresses', (buf, type, off, len) => {
    const a = type === RTM_NEWADDR ? decodeAddress(buf, off, len) : null;
    if (a) addrs.push(a);
  });
  return usableAddresses(links, addrs);
}

function kernelCommands(genl: NlSocket, fam: MptcpPmFamily): PmCommands {
  const send = async (payload: Buffer, what: string): Promise<void> => {
    await genl.request(fam.familyId, payload, what);
  };
  return {
    subflowCreate: (s) => send(buildSubflowCreateRequest(s), 'SUBFLOW_CREATE'),
    subflowDestroy: (s) => send(buildSubflowDestroyRequest(s), 'SUBFLOW_DESTROY'),
    announce: (s) => send(buildAnnounceRequest(s), 'ANNOUNCE'),
    remove: (s) => send(buildRemoveRequest(s), 'REMOVE'),
  };
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
  // The events come from a reader thread (netlink/event-reader.ts), opened once the family is
  // known: it keeps up with bursts (~5 events per new connection: created, established, one
  // SUB_ESTABLISHED per subflow) and reports what the kernel still drops, resynced below.
  let events: NetlinkEventReader | null = null;
  const cmds = new NlSocket(NETLINK_GENERIC, { onListenerError: listenerError });
  const route = new NlSocket(NETLINK_ROUTE, { onListenerError: listenerError });
  const diag = new NlSocket(NETLINK_SOCK_DIAG, { onListenerError: listenerError });
  const timers: NodeJS.Timeout[] = [];
  const closeAll = (): void => {
    for (const t of timers) clearTimeout(t);
    events?.close();
    for (const s of [cmds, route, diag]) s.close();
  };
  try {
    const fam = await resolveMptcpPm(cmds);
    const pm = new UserspacePm({
      mode: opts.mode,
      role: opts.role,
      subflows: opts.subflows,
      commands: kernelCommands(cmds, fam),
      log: opts.log,
      ...(opts.recreate !== undefined ? { recreate: opts.recreate } : {}),
      ...(opts.maxRetries !== undefined ? { maxRetries: opts.maxRetries } : {}),
      ...(opts.retryDelayMs !== undefined ? { retryDelayMs: opts.retryDelayMs } : {}),
    });
    // Subscribe before reading the kernel's state, and hold events until it is adopted: an event
    // between the two reads is then applied on top instead of lost.
    let queue: MptcpEvent[] | null = [];
    const reader = await openMptcpEventReader(
      fam,
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
    for (const g of [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR]) route.addMembership(g);
    const refresh = coalesced(() =>
      readUsableAddresses(route)
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
    route.onNotification((_buf, type) => {
      if (![RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR].includes(type)) return;
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(refresh, ADDRESS_DEBOUNCE_MS);
      timers.push(debounce);
    });
    pm.setLocalAddresses(await readUsableAddresses(route));
    await adoptExisting(pm, cmds, diag, fam, opts.role, opts.log);
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
      return resyncFromKernel(pm, cmds, diag, fam, opts.role)
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
  genl: NlSocket,
  diag: NlSocket,
  fam: MptcpPmFamily,
  role: PmRole,
): Promise<{ adopted: number; resynced: number; forgotten: number }> {
  const trackedBefore = new Set(pm.tokens());
  pm.beginResync();
  try {
    return await resyncWith(
      pm,
      trackedBefore,
      await readConnections(diag, { inThread: true }),
      genl,
      fam,
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
  genl: NlSocket,
  fam: MptcpPmFamily,
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
    const localIds = await connectionLocalIds(genl, fam, conn.token);
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
  genl: NlSocket,
  fam: MptcpPmFamily,
  token: number,
): Promise<{ address: string; id: number }[] | null> {
  try {
    return (await listConnectionAddresses(genl, fam, token)).map((e) => ({ address: e.address, id: e.id }));
  } catch (e) {
    if (e instanceof NetlinkError && (e.code === 'EINVAL' || e.code === 'ENOENT')) return null;
    throw e;
  }
}

async function adoptExisting(
  pm: UserspacePm,
  genl: NlSocket,
  diag: NlSocket,
  fam: MptcpPmFamily,
  role: PmRole,
  log: (e: PmLogEntry) => void,
): Promise<void> {
  const snap = await readConnections(diag, { inThread: true });
  for (const conn of snap.connections) {
    if (conn.state !== 'ESTABLISHED' || conn.fallback) continue;
    let localIds: { address: string; id: number }[];
    try {
      localIds = (await listConnectionAddresses(genl, fam, conn.token)).map((e) => ({
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
