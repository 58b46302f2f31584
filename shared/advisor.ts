/**
 * Plain-language advice computed from the live state. Pure: the host feeds it one overview, one
 * connections snapshot (or null when that read failed) and which endpoint managers run; tests feed
 * it hand-made states. Every rule skips itself when the data it needs is missing, so a partial
 * overview yields fewer warnings, never an exception.
 *
 * Sources quoted in the comments:
 * - "seed": the MPTCP configuration notes in /work/shared/seed (buffers, MSS/MTU, fullmesh N x M,
 *   ndiffports not for production);
 * - "reference": /work/shared/reference/linux-mptcp-interfaces.md (section numbers, gotchas G*).
 */
import {
  addressKey,
  endpointAddressProblem,
  MptcpConfigSchema,
  TCP_BUFFER_FLOOR_BYTES,
  type MptcpConfig,
} from './config';
import { pathAdvice } from './advisor-paths';
import type { Advice } from './config-api';
import { tinyBufferFields } from './plan';
import { countOf } from './units';
import type {
  BufferTriplet,
  Connection,
  ConnectionsSnapshot,
  Endpoint,
  NetInterface,
  Overview,
  Subflow,
} from './types';

export interface AdvisorInput {
  overview: Overview;
  /** Null when the connections dump failed: the rules that need live subflows skip themselves. */
  connections: ConnectionsSnapshot | null;
  /**
   * Other programs that manage MPTCP endpoints in this network namespace, and whether MPTCP
   * Studio's own userspace path manager runs there ('mptcp:pm:status').
   */
  managers: { mptcpd: boolean; networkManager: boolean; studioPm?: boolean };
}

/** The in-kernel PM caps limits and endpoints at 8 (MPTCP_PM_ADDR_MAX; docs/kernel-interfaces.md, Limits and endpoints). */
export const KERNEL_PM_MAX = 8;
/** Highest buffer maximum the advisor proposes: 1 GiB, far above any real path's BDP. */
export const BUFFER_CAP_BYTES = 2 ** 30;
/** IPv6's minimum link MTU (RFC 8200 §5); below it the kernel removes IPv6 (docs/kernel-interfaces.md, Namespaces, addresses and MTUs). */
export const IPV6_MIN_MTU_BYTES = 1280;
/**
 * Subflow MSS differences up to this are TCP options (a timestamp option is 12 bytes), not paths
 * with different MTUs, which differ by tens to hundreds of bytes.
 */
export const MSS_TOLERANCE_BYTES = 12;
/** Linux's default ip_local_port_range starts here: a local port above it means we connected. */
const EPHEMERAL_PORT_MIN = 32768;

const severityRank: Record<Advice['severity'], number> = { error: 0, warning: 1, info: 2 };

export function advise(input: AdvisorInput): Advice[] {
  const { overview } = input;
  if (!overview.status.mptcpSupported) {
    // Nothing else applies to a kernel built without MPTCP.
    return [
      {
        id: 'mptcp-unsupported',
        severity: 'error',
        title: 'This kernel has no MPTCP support',
        detail: `/proc/sys/net/mptcp is missing on kernel ${overview.status.kernelRelease}: it was built without CONFIG_MPTCP, so no setting here can enable Multipath TCP.`,
        fix: null,
      },
    ];
  }
  const live = liveConnections(input.connections);
  const rules: Array<Advice | null> = [
    mptcpDisabled(overview),
    fullmeshExplosion(overview, live),
    ...limitsAdvice(overview, live),
    mtuMismatch(overview, live),
    buffersTooSmall(overview, live),
    tinyTcpBuffers(overview),
    endpointsNotLocal(overview),
    eventsBufferCap(overview, input.connections),
    otherManagers(input.managers),
    userspacePmWithoutDaemon(overview, input.managers),
    ndiffportsStyle(live),
    fallbackTrace(input.connections),
    ...pathAdvice(overview, live),
  ];
  const seen = new Set<string>();
  const out: Advice[] = [];
  for (const a of rules) {
    if (!a || seen.has(a.id)) continue;
    seen.add(a.id);
    // A fix the apply path would refuse is worse than none: drop it and keep the advice.
    out.push({ ...a, fix: a.fix && MptcpConfigSchema.safeParse(a.fix).success ? a.fix : null });
  }
  // Array.prototype.sort is stable: rule order is kept within a severity.
  return out.sort((x, y) => severityRank[x.severity] - severityRank[y.severity]);
}

// ---------------------------------------------------------------------------------------------
// Rules

/** (a) net.mptcp.enabled = 0: socket(IPPROTO_MPTCP) fails with ENOPROTOOPT (Documentation/networking/mptcp-sysctl.rst). */
function mptcpDisabled(o: Overview): Advice | null {
  if (o.status.enabled) return null;
  return {
    id: 'mptcp-disabled',
    severity: 'error',
    title: 'MPTCP is turned off',
    detail:
      'net.mptcp.enabled is 0: applications asking for Multipath TCP get ENOPROTOOPT and fall back to plain TCP, so every other setting here has no effect until it is turned on.',
    fix: { enabled: true },
  };
}

/**
 * (b) fullmesh opens a subflow from every fullmesh endpoint to every peer address: "if the client
 * has N addresses and the server M addresses, this path manager will establish N x M subflows"
 * (seed). The in-kernel PM stops at limits.subflows extra subflows and never goes past 8
 * (docs/kernel-interfaces.md, Limits and endpoints), so a large product is either silently cut or needs the userspace PM.
 */
function fullmeshExplosion(o: Overview, live: Connection[]): Advice | null {
  if (isUserspacePm(o)) return null; // endpoints and limits do not apply (docs/kernel-interfaces.md, The userspace path manager)
  const fullmesh = o.endpoints.filter((e) => e.flags.fullmesh);
  if (fullmesh.length === 0) return null;
  let remotes: number;
  let remotesWhy: string;
  if (live.length > 0) {
    remotes = Math.max(...live.map((c) => Math.max(remoteAddressCount(c), c.addAddrAccepted + 1)));
    remotesWhy = `the most remote addresses seen on one live connection`;
  } else if (o.limits) {
    // No connection to look at: the most the peer can make us use is its initial address plus
    // every ADD_ADDR we accept.
    remotes = o.limits.addAddrAccepted + 1;
    remotesWhy = `the initial address plus add_addr_accepted = ${o.limits.addAddrAccepted}`;
  } else {
    return null;
  }
  const pairs = fullmesh.length * remotes;
  const allowed = o.limits ? o.limits.subflows + 1 : null;
  const overLimit = allowed !== null && pairs > allowed;
  const overMax = pairs > KERNEL_PM_MAX;
  if (!overLimit && !overMax) return null;
  const capNotes: string[] = [];
  if (overLimit && o.limits) {
    capNotes.push(
      `limits.subflows = ${o.limits.subflows} allows only ${countOf(allowed ?? 0, 'subflow')} per connection (the initial one plus ${o.limits.subflows}), so the kernel silently skips the rest`,
    );
  }
  if (overMax) {
    capNotes.push(
      `that is more than the in-kernel path manager's hard cap of ${KERNEL_PM_MAX}; going past it needs the userspace path manager on both ends`,
    );
  }
  return {
    id: 'fullmesh-subflow-explosion',
    severity: 'warning',
    title: `fullmesh wants ${pairs} subflows per connection`,
    detail: `fullmesh opens one subflow from each fullmesh endpoint to each peer address (N x M): ${countOf(fullmesh.length, 'local fullmesh endpoint')} (${fullmesh.map((e) => e.address).join(', ')}) x ${countOf(remotes, 'remote address', 'remote addresses')} (${remotesWhy}) = ${pairs} subflows; ${capNotes.join('; ')}. Drop fullmesh from endpoints that add little, or keep N x M within the limit.`,
    fix: null,
  };
}

/**
 * (c) Each subflow (or fullmesh) endpoint asks for one extra subflow, but the in-kernel PM opens at
 * most limits.subflows of them (docs/kernel-interfaces.md, Limits and endpoints): the rest are ignored without a word.
 */
function subflowEndpointNeed(o: Overview): { wanting: Endpoint[]; subflows: number } | null {
  if (!o.limits || isUserspacePm(o)) return null;
  const wanting = o.endpoints.filter((e) => e.flags.subflow || e.flags.fullmesh);
  if (wanting.length <= o.limits.subflows) return null;
  return { wanting, subflows: Math.min(KERNEL_PM_MAX, wanting.length) };
}

/**
 * (c) add_addr_accepted = 0 makes the kernel ignore every address the peer announces (ADD_ADDR).
 * That matters when the peer does announce (a connection accepted some while the limit was
 * higher), or when this host is a client with no subflow endpoints: then announced addresses are
 * its only way to a second path, and with 0 it stays single-path.
 */
function addAddrNeed(o: Overview, live: Connection[]): { accept: number; why: string } | null {
  if (!o.limits || isUserspacePm(o) || o.limits.addAddrAccepted !== 0) return null;
  const announced = live.filter((c) => c.addAddrAccepted > 0);
  if (announced.length > 0) {
    const most = Math.max(...announced.map((c) => c.addAddrAccepted));
    const c = announced.find((x) => x.addAddrAccepted === most);
    return {
      accept: Math.min(KERNEL_PM_MAX, most),
      why: `${countOf(announced.length, 'live connection')} ${announced.length === 1 ? 'shows' : 'show'} the peer announced addresses (up to ${most}, e.g. ${describeConn(c)}), accepted while the limit was higher; new connections will ignore them.`,
    };
  }
  const hasSubflowEndpoints = o.endpoints.some((e) => e.flags.subflow || e.flags.fullmesh);
  const clients = live.filter(isClientSide);
  if (!hasSubflowEndpoints && clients.length > 0) {
    return {
      accept: 1,
      why: `This host opened ${countOf(clients.length, 'MPTCP connection')} as a client (e.g. ${describeConn(clients[0])}) and has no subflow endpoints, so the peer's announced addresses are its only way to a second path.`,
    };
  }
  return null;
}

/**
 * Both (c) rules fix the same limits object: each fix carries what both need, so applying one
 * never undoes the other. Every accepted ADD_ADDR also uses up one extra subflow.
 */
function mergedLimits(
  o: Overview,
  sub: ReturnType<typeof subflowEndpointNeed>,
  add: ReturnType<typeof addAddrNeed>,
): MptcpConfig['limits'] | null {
  if (!o.limits) return null;
  const accept = add?.accept ?? 0;
  return {
    subflows: Math.min(KERNEL_PM_MAX, Math.max(o.limits.subflows, sub?.subflows ?? 0, accept)),
    addAddrAccepted: Math.max(o.limits.addAddrAccepted, accept),
  };
}

function limitsAdvice(o: Overview, live: Connection[]): Array<Advice | null> {
  const sub = subflowEndpointNeed(o);
  const add = addAddrNeed(o, live);
  const limits = mergedLimits(o, sub, add);
  if (!o.limits || !limits) return [];
  const current = o.limits;
  return [
    sub && {
      id: 'limits-subflows-too-low',
      severity: 'warning',
      title: 'The subflow limit is lower than your endpoints need',
      detail: `${countOf(sub.wanting.length, 'endpoint')} ${sub.wanting.length === 1 ? 'asks for its' : 'ask for their'} own subflow (${sub.wanting.map((e) => e.address).join(', ')}), but limits.subflows is ${current.subflows}, so ${sub.wanting.length - current.subflows} of them are never used. Raise it to ${sub.subflows}${sub.wanting.length > KERNEL_PM_MAX ? ` (the kernel's maximum)` : ''}.`,
      fix: { limits },
    },
    add && {
      id: 'limits-add-addr-accepted-zero',
      severity: 'info',
      title: 'Addresses announced by the peer are ignored',
      detail: `add_addr_accepted is 0. ${add.why} Accepting ${add.accept} lets the kernel open subflows to them.`,
      fix: { limits },
    },
  ];
}

/**
 * (d) "if Multipath TCP is used on paths having different Maximum Segment Sizes, there are
 * scenarios where the performance can be significantly reduced ... force the MTU on all your
 * interfaces ... to use the same value" (seed). Evidence: interfaces that carry endpoints or
 * subflows with different MTUs, or else live subflows of one connection with different MSS (the
 * path, not the link, is smaller: equalise to the smallest path MTU).
 */
function mtuMismatch(o: Overview, live: Connection[]): Advice | null {
  const carrying = new Map<number, NetInterface>();
  for (const ep of o.endpoints) {
    const ifc = endpointInterface(o, ep);
    if (ifc && !ifc.loopback) carrying.set(ifc.index, ifc);
  }
  for (const c of live) {
    for (const s of c.subflows) {
      const ifc = subflowInterface(o, s);
      if (ifc && !ifc.loopback) carrying.set(ifc.index, ifc);
    }
  }
  const ifcs = [...carrying.values()].sort((a, b) => a.index - b.index);
  const mtus = new Set(ifcs.map((i) => i.mtuBytes));
  if (ifcs.length >= 2 && mtus.size >= 2) {
    const smallest = Math.min(...mtus);
    const { fix, notes } = equaliseMtu(ifcs, smallest);
    return {
      id: 'mtu-mismatch',
      severity: 'warning',
      title: 'Your MPTCP interfaces have different MTUs',
      detail: `Paths with different segment sizes can sharply reduce MPTCP throughput. The interfaces carrying endpoints or subflows have MTUs ${ifcs.map((i) => `${i.name} ${i.mtuBytes}`).join(', ')} bytes; setting them all to ${smallest} gives every subflow the same MSS.${notes}`,
      fix,
    };
  }
  // Same link MTUs (or unknown links): look at what the subflows actually negotiated.
  let worst: { c: Connection; subs: Subflow[]; spreadBytes: number } | null = null;
  for (const c of live) {
    const subs = c.subflows.filter((s) => s.state === 'ESTABLISHED' && s.mssBytes > 0);
    if (subs.length < 2) continue;
    const mss = subs.map((s) => s.mssBytes);
    const spreadBytes = Math.max(...mss) - Math.min(...mss);
    if (spreadBytes > MSS_TOLERANCE_BYTES && (!worst || spreadBytes > worst.spreadBytes)) {
      worst = { c, subs, spreadBytes };
    }
  }
  if (!worst) return null;
  const pmtus = worst.subs.map((s) => s.pmtuBytes).filter((p) => p > 0);
  const smallestPmtu = pmtus.length > 0 ? Math.min(...pmtus) : null;
  const subIfcs = uniqueInterfaces(worst.subs.map((s) => subflowInterface(o, s)));
  const equalised = smallestPmtu !== null && subIfcs.length > 0 ? equaliseMtu(subIfcs, smallestPmtu) : null;
  return {
    id: 'mss-mismatch',
    severity: 'warning',
    title: 'Subflows of one connection use different segment sizes',
    detail: `Paths with different segment sizes can sharply reduce MPTCP throughput. On ${describeConn(worst.c)} the subflows use MSS ${worst.subs.map((s) => `${s.mssBytes} (${s.localAddress} → ${s.remoteAddress}, path MTU ${s.pmtuBytes})`).join(', ')} bytes.${equalised ? ` Setting the local interfaces to the smallest path MTU, ${smallestPmtu}, equalises them.${equalised.notes}` : ' The local interfaces could not be identified, so there is no one-click fix: lower the MTU of the larger path by hand.'}`,
    fix: equalised?.fix ?? null,
  };
}

/**
 * (e) "Multipath TCP tends to consume more buffers than regular TCP since data is transmitted over
 * paths with different delays" (seed). Rule of thumb (RFC 6182 / RFC 8684 receiver
 * considerations): buffer ≈ 2 x sum of the subflows' bandwidths x the largest subflow RTT, so the
 * fast path keeps going while the slow one is retransmitted or reordered. Autotuning stops at
 * tcp_rmem[2] / tcp_wmem[2], which are per netns, so those are what we raise (docs/kernel-interfaces.md,
 * Sysctls: core rmem_max is read-only in a child netns).
 *
 * tcp_info has no receive rate, so the measured delivery rates (what this side's subflows carry)
 * stand for the paths in both directions: checked against tcp_rmem on every connection, and
 * against tcp_wmem on connections where this side is the sender.
 */
function buffersTooSmall(o: Overview, live: Connection[]): Advice | null {
  const { tcpRmem, tcpWmem } = o.status.buffers;
  let worstR: BufferNeed | null = null;
  let worstW: BufferNeed | null = null;
  for (const c of live) {
    const need = bufferNeed(c);
    if (!need) continue;
    if (tcpRmem && need.needBytes > tcpRmem.maxBytes && need.needBytes > (worstR?.needBytes ?? 0)) {
      worstR = need;
    }
    const sender = c.bytesSent > c.bytesReceived;
    if (sender && tcpWmem && need.needBytes > tcpWmem.maxBytes && need.needBytes > (worstW?.needBytes ?? 0)) {
      worstW = need;
    }
  }
  if (!worstR && !worstW) return null;
  const buffers: NonNullable<MptcpConfig['buffers']> = {};
  const parts: string[] = [];
  // Raise a maximum unless the sysctl is read-only here or already at the cap we propose.
  const raise = (t: BufferTriplet, need: BufferNeed, name: string) => {
    const raised = raisedTriplet(t, need.needBytes);
    if (!raised) parts.push(`${name} is already at ${fmtBytes(BUFFER_CAP_BYTES)}, the most proposed here.`);
    else if (o.status.readOnlySysctls.includes(name)) parts.push(`${name} is read-only here.`);
    else return raised;
    return undefined;
  };
  if (worstR && tcpRmem) {
    parts.push(explainNeed(worstR, 'net.ipv4.tcp_rmem', tcpRmem.maxBytes));
    const raised = raise(tcpRmem, worstR, 'net.ipv4.tcp_rmem');
    if (raised) buffers.tcpRmem = raised;
  }
  if (worstW && tcpWmem) {
    parts.push(explainNeed(worstW, 'net.ipv4.tcp_wmem (this side sends)', tcpWmem.maxBytes));
    const raised = raise(tcpWmem, worstW, 'net.ipv4.tcp_wmem');
    if (raised) buffers.tcpWmem = raised;
  }
  const fixParts = [
    buffers.tcpRmem ? `tcp_rmem max to ${fmtBytes(buffers.tcpRmem.maxBytes)}` : null,
    buffers.tcpWmem ? `tcp_wmem max to ${fmtBytes(buffers.tcpWmem.maxBytes)}` : null,
  ].filter((p): p is string => p !== null);
  return {
    id: 'buffers-too-small',
    severity: 'warning',
    title: 'TCP buffers are too small for the measured paths',
    detail: `MPTCP needs about 2 x (sum of subflow rates) x (largest subflow RTT) of buffer to keep every path busy. ${parts.join(' ')}${fixParts.length > 0 ? ` Raise ${fixParts.join(' and ')} (the next power of two; min and default unchanged).` : ''}`,
    fix: fixParts.length > 0 ? { buffers } : null,
  };
}

/**
 * tcp_rmem / tcp_wmem fields below one page: the kernel accepts anything from 1, and then every
 * TCP socket, MPTCP subflows included, works with next to no buffer (plan.ts tinyBufferFields).
 * The fix raises each field to at least TCP_BUFFER_FLOOR_BYTES, keeping min <= default <= max.
 */
function tinyTcpBuffers(o: Overview): Advice | null {
  const { tcpRmem, tcpWmem } = o.status.buffers;
  const parts: string[] = [];
  const buffers: NonNullable<MptcpConfig['buffers']> = {};
  for (const [name, key, t] of [
    ['net.ipv4.tcp_rmem', 'tcpRmem', tcpRmem],
    ['net.ipv4.tcp_wmem', 'tcpWmem', tcpWmem],
  ] as const) {
    const tiny = tinyBufferFields(t);
    if (!t || !tiny) continue;
    const readOnly = o.status.readOnlySysctls.includes(name);
    parts.push(
      `${name} is ${t.minBytes} ${t.defaultBytes} ${t.maxBytes}: ${tiny}.${readOnly ? ` ${name} is read-only here.` : ''}`,
    );
    if (readOnly) continue;
    const minBytes = Math.max(t.minBytes, TCP_BUFFER_FLOOR_BYTES);
    const defaultBytes = Math.max(t.defaultBytes, minBytes);
    buffers[key] = { minBytes, defaultBytes, maxBytes: Math.max(t.maxBytes, defaultBytes) };
  }
  if (parts.length === 0) return null;
  const fixed = Object.keys(buffers).length > 0;
  return {
    id: 'tcp-buffers-tiny',
    severity: 'warning',
    title: 'TCP buffer sizes are below one page',
    detail: `${parts.join(' ')}${fixed ? ` Raise every field to at least ${TCP_BUFFER_FLOOR_BYTES} bytes.` : ''}`,
    fix: fixed ? { buffers } : null,
  };
}

/**
 * Endpoints whose address no interface holds, or that is never a host's own (unspecified,
 * broadcast, multicast, IPv4-mapped: config.ts endpointAddressProblem). The kernel takes them
 * without a word; a subflow cannot start from such an address (binding it fails), and a peer
 * reaches an announced one only if something forwards it here. Implicit endpoints are the
 * kernel's own bookkeeping and skipped; without the interface list only the address itself is
 * checked.
 */
function endpointsNotLocal(o: Overview): Advice | null {
  const local =
    o.interfaces.length > 0
      ? new Set(o.interfaces.flatMap((i) => i.addresses.map((a) => addressKey(a.address))))
      : null;
  const notes: string[] = [];
  for (const ep of o.endpoints) {
    if (ep.flags.implicit) continue;
    const problem = endpointAddressProblem(ep.address);
    if (problem) notes.push(`endpoint ${ep.id}: ${problem}`);
    else if (local && !local.has(addressKey(ep.address)))
      notes.push(`endpoint ${ep.id}: no interface here has ${ep.address}`);
  }
  if (notes.length === 0) return null;
  return {
    id: 'endpoint-address-not-local',
    severity: 'warning',
    title:
      notes.length === 1
        ? 'An endpoint has an address this host does not hold'
        : `${notes.length} endpoints have addresses this host does not hold`,
    detail: `The kernel accepts any address as an endpoint, but no subflow can start from an address that no interface holds, and peers reach an announced one only if it is forwarded to this host. ${notes.join('; ')}. Remove these endpoints, or give the address to an interface.`,
    fix: null,
  };
}

/** What the engine asks for its events sockets (netlink/event-reader.ts): SO_RCVBUF 4 MiB. */
const EVENTS_RCVBUF_BYTES = 4 * 2 ** 20;
/** From this many connections on, a burst of opens or closes is plausible enough to warn. */
const EVENTS_BURST_CONNECTIONS = 1000;

/**
 * net.core.rmem_max caps every socket's SO_RCVBUF, the events sockets' too (the kernel doubles
 * the value for its bookkeeping). When many connections open or close at once the kernel queues
 * ~1 KiB per mptcp_pm event; past the cap it drops them (netlink_overrun, ENOBUFS). Measured:
 * 10,000 connections opened and reset at once, events socket at 212992 bytes (what Debian's
 * default rmem_max allows) lost about 6,500 of 50,000 events, at 4 MiB none
 * (bench/event-burst.mjs --rcvbuf).
 */
function eventsBufferCap(o: Overview, snap: ConnectionsSnapshot | null): Advice | null {
  const cap = o.status.buffers.rmemMaxBytes;
  const n = snap?.connections.length ?? 0;
  if (cap === null || cap >= EVENTS_RCVBUF_BYTES || n < EVENTS_BURST_CONNECTIONS) return null;
  const readOnly = o.status.readOnlySysctls.includes('net.core.rmem_max');
  return {
    id: 'events-buffer-cap',
    severity: 'info',
    title: 'Bursts of MPTCP events can overflow the event sockets',
    detail: `net.core.rmem_max is ${fmtBytes(cap)}, so each events socket queues at most twice that (the engine asks for ${fmtBytes(EVENTS_RCVBUF_BYTES)}). With ${n.toLocaleString('en-US')} connections, many opening or closing at once can overflow it and the kernel drops events: the Events timeline then says how many, the path manager here rebuilds its state from the kernel, and other listeners (mptcpd, ip mptcp monitor) lose them too.${readOnly ? ' net.core.rmem_max is read-only here.' : ` Raise net.core.rmem_max to ${fmtBytes(EVENTS_RCVBUF_BYTES)}.`}`,
    fix: readOnly ? null : { buffers: { rmemMaxBytes: EVENTS_RCVBUF_BYTES } },
  };
}

/** (f) Both manage MPTCP endpoints from interface events (docs/kernel-interfaces.md, Limits and endpoints): two owners fight. */
function otherManagers(m: AdvisorInput['managers']): Advice | null {
  const names = [m.mptcpd ? 'mptcpd' : null, m.networkManager ? 'NetworkManager' : null].filter(
    (n): n is string => n !== null,
  );
  if (names.length === 0) return null;
  return {
    id: 'other-endpoint-managers',
    severity: 'info',
    title: `${names.join(' and ')} also manage${names.length === 1 ? 's' : ''} MPTCP endpoints`,
    detail: `${names.join(' and ')} ${names.length === 1 ? 'is' : 'are'} running and add${names.length === 1 ? 's' : ''} or remove${names.length === 1 ? 's' : ''} MPTCP endpoints as interfaces come and go, so changes made here can be undone behind your back. Coordinate rather than fight: let one program own the endpoints${m.networkManager ? ' (NetworkManager: set connection.mptcp-flags on its connections, or "disabled" to leave endpoints alone)' : ''}.`,
    fix: null,
  };
}

/** (g) Under the userspace PM the kernel creates no subflows itself (docs/kernel-interfaces.md, The userspace path manager). */
function userspacePmWithoutDaemon(o: Overview, m: AdvisorInput['managers']): Advice | null {
  if (!isUserspacePm(o) || m.mptcpd || m.studioPm) return null;
  return {
    id: 'userspace-pm-without-daemon',
    severity: 'warning',
    title: 'Userspace path manager with no daemon: no extra subflows',
    detail:
      'net.mptcp.path_manager is "userspace", so the kernel neither creates subflows nor announces addresses for new connections, and no mptcpd is running to do it. Connections will stay on a single subflow unless another program drives the path manager. Start mptcpd, or switch back to the in-kernel path manager.',
    fix: { pathManager: 'kernel' },
  };
}

/**
 * (h) Several subflows over the same address pair is the ndiffports pattern (docs/path-manager.md):
 * "The ndiffports path manager should not be used in production" (seed); it was written for ECMP
 * inside a datacenter.
 */
function ndiffportsStyle(live: Connection[]): Advice | null {
  let worst: { c: Connection; pair: string; count: number } | null = null;
  let affected = 0;
  for (const c of live) {
    const byPair = new Map<string, number>();
    for (const s of c.subflows) {
      if (s.state !== 'ESTABLISHED') continue;
      const pair = `${plainAddress(s.localAddress)} → ${plainAddress(s.remoteAddress)}`;
      byPair.set(pair, (byPair.get(pair) ?? 0) + 1);
    }
    const top = [...byPair.entries()].reduce<[string, number] | null>(
      (best, e) => (!best || e[1] > best[1] ? e : best),
      null,
    );
    if (!top || top[1] < 2) continue;
    affected++;
    if (!worst || top[1] > worst.count) worst = { c, pair: top[0], count: top[1] };
  }
  if (!worst) return null;
  return {
    id: 'ndiffports-style-subflows',
    severity: 'info',
    title: 'Several subflows share one address pair (ndiffports style)',
    detail: `${countOf(affected, 'connection')} ${affected === 1 ? 'runs' : 'run'} more than one subflow over the same addresses, e.g. ${worst.count} subflows on ${worst.pair} (${describeConn(worst.c)}). This spreads one path over ECMP routes by port, as the ndiffports path manager did; it helps only inside a datacenter and was never meant for production.`,
    fix: null,
  };
}

/**
 * Connections this host opened that run as plain TCP now (mptcpi_flags FALLBACK): the server does
 * not speak MPTCP, or a box on the path strips or blocks its options. The Path doctor's trace
 * tells which (docs/path-doctor.md); the advice carries the path to trace.
 */
function fallbackTrace(snap: ConnectionsSnapshot | null): Advice | null {
  const fell = (snap?.connections ?? []).filter(
    (c) => c.fallback && c.state === 'ESTABLISHED' && isClientSide(c),
  );
  if (fell.length === 0) return null;
  const byPeer = new Map<string, Connection[]>();
  for (const c of fell) {
    const k = hostPort(c.remoteAddress, c.remotePort);
    byPeer.set(k, [...(byPeer.get(k) ?? []), c]);
  }
  const [peer, list] = [...byPeer.entries()].sort((a, b) => b[1].length - a[1].length)[0] ?? ['', []];
  const c = list[0];
  if (!c) return null;
  return {
    id: 'fallback-trace',
    severity: 'warning',
    title: `${fell.length} connection${fell.length === 1 ? '' : 's'} fell back to plain TCP`,
    detail: `${fell.length} MPTCP connection${fell.length === 1 ? '' : 's'} this host opened now run${fell.length === 1 ? 's' : ''} as plain TCP, ${list.length === fell.length ? 'all to' : `${list.length} of them to`} ${peer} (${describeConn(c)}). Either that server does not speak MPTCP, or a box on the path strips or blocks MPTCP options: trace the path to see which hop.`,
    fix: null,
    trace: { target: plainAddress(c.remoteAddress), port: c.remotePort, from: plainAddress(c.localAddress) },
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function isUserspacePm(o: Overview): boolean {
  return o.status.pathManager === 'userspace';
}

/** Connections worth advising on: established and not fallen back to plain TCP. */
function liveConnections(s: ConnectionsSnapshot | null): Connection[] {
  return (s?.connections ?? []).filter((c) => c.state === 'ESTABLISHED' && !c.fallback);
}

/** Dual-stack sockets report v4-mapped addresses (docs/kernel-interfaces.md, Namespaces, addresses and MTUs). */
function plainAddress(a: string): string {
  return a.toLowerCase().startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function remoteAddressCount(c: Connection): number {
  const set = new Set([
    plainAddress(c.remoteAddress),
    ...c.subflows.map((s) => plainAddress(s.remoteAddress)),
  ]);
  return set.size;
}

function isClientSide(c: Connection): boolean {
  return c.localPort >= EPHEMERAL_PORT_MIN && c.remotePort < EPHEMERAL_PORT_MIN;
}

function describeConn(c: Connection | undefined): string {
  if (!c) return 'a connection';
  return `${hostPort(c.localAddress, c.localPort)} ↔ ${hostPort(c.remoteAddress, c.remotePort)}`;
}

function hostPort(a: string, port: number): string {
  const p = plainAddress(a);
  return p.includes(':') ? `[${p}]:${port}` : `${p}:${port}`;
}

function interfaceWithAddress(o: Overview, address: string): NetInterface | undefined {
  const want = plainAddress(address).toLowerCase();
  return o.interfaces.find((i) => i.addresses.some((a) => a.address.toLowerCase() === want));
}

/** An endpoint bound to a device names it; otherwise it lives where its address is. */
function endpointInterface(o: Overview, ep: Endpoint): NetInterface | undefined {
  if (ep.ifindex !== null && ep.ifindex > 0) {
    const byIndex = o.interfaces.find((i) => i.index === ep.ifindex);
    if (byIndex) return byIndex;
  }
  if (ep.ifname !== null) {
    const byName = o.interfaces.find((i) => i.name === ep.ifname);
    if (byName) return byName;
  }
  return interfaceWithAddress(o, ep.address);
}

function subflowInterface(o: Overview, s: Subflow): NetInterface | undefined {
  // The interface the engine resolved (bound device or route: docs/live-data.md).
  if (s.ifname !== null) {
    const byName = o.interfaces.find((i) => i.name === s.ifname);
    if (byName) return byName;
  }
  if (s.ifindex > 0) {
    const byIndex = o.interfaces.find((i) => i.index === s.ifindex);
    if (byIndex) return byIndex;
  }
  return interfaceWithAddress(o, s.localAddress);
}

function uniqueInterfaces(list: Array<NetInterface | undefined>): NetInterface[] {
  const m = new Map<number, NetInterface>();
  for (const i of list) if (i && !i.loopback) m.set(i.index, i);
  return [...m.values()].sort((a, b) => a.index - b.index);
}

/**
 * MTU per interface to reach `targetBytes`, never below 1280 on an interface with IPv6 (reference
 * docs/kernel-interfaces.md: a smaller MTU deletes its IPv6 addresses) nor below the driver's minimum.
 */
function equaliseMtu(ifcs: NetInterface[], targetBytes: number): { fix: MptcpConfig | null; notes: string } {
  const mtu: Record<string, number> = {};
  const notes: string[] = [];
  for (const i of ifcs) {
    let to = targetBytes;
    if (i.addresses.some((a) => a.family === 'inet6') && to < IPV6_MIN_MTU_BYTES) {
      to = IPV6_MIN_MTU_BYTES;
      notes.push(`${i.name} keeps ${IPV6_MIN_MTU_BYTES}, IPv6's minimum, so its IPv6 addresses survive`);
    }
    if (i.minMtuBytes !== null && to < i.minMtuBytes) {
      to = i.minMtuBytes;
      notes.push(`${i.name} cannot go below ${i.minMtuBytes}`);
    }
    if (to !== i.mtuBytes) mtu[i.name] = to;
  }
  return {
    fix: Object.keys(mtu).length > 0 ? { mtu } : null,
    notes: notes.length > 0 ? ` (${notes.join('; ')}.)` : '',
  };
}

interface BufferNeed {
  conn: Connection;
  ratesBytesPerSec: number[];
  sumRateBytesPerSec: number;
  maxRttUs: number;
  needBytes: number;
}

/** 2 x sum(rate) x max(RTT) over the subflows that carry data (a idle backup adds no rate). */
function bufferNeed(c: Connection): BufferNeed | null {
  const subs = c.subflows.filter(
    (s) => s.state === 'ESTABLISHED' && s.deliveryRateBytesPerSec > 0 && s.rttUs > 0,
  );
  if (subs.length === 0) return null;
  const ratesBytesPerSec = subs.map((s) => s.deliveryRateBytesPerSec);
  const sumRateBytesPerSec = ratesBytesPerSec.reduce((a, b) => a + b, 0);
  const maxRttUs = Math.max(...subs.map((s) => s.rttUs));
  const needBytes = Math.ceil((2 * sumRateBytesPerSec * maxRttUs) / 1e6);
  return { conn: c, ratesBytesPerSec, sumRateBytesPerSec, maxRttUs, needBytes };
}

function explainNeed(n: BufferNeed, sysctl: string, maxBytes: number): string {
  return `On ${describeConn(n.conn)} the subflows deliver ${n.ratesBytesPerSec.map(fmtRate).join(' + ')} with a largest RTT of ${fmtMs(n.maxRttUs)}: 2 x ${fmtRateBytes(n.sumRateBytesPerSec)} x ${(n.maxRttUs / 1e6).toFixed(3)} s = ${fmtBytes(n.needBytes)}, above the ${sysctl} maximum of ${fmtBytes(maxBytes)}.`;
}

/** Next power of two ≥ need, capped; null when the current max is already at the cap. */
function raisedTriplet(t: BufferTriplet, needBytes: number) {
  const maxBytes = Math.min(BUFFER_CAP_BYTES, nextPowerOfTwo(needBytes));
  if (maxBytes <= t.maxBytes) return null;
  return { minBytes: t.minBytes, defaultBytes: t.defaultBytes, maxBytes };
}

export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function fmtRate(bytesPerSec: number): string {
  return `${((bytesPerSec * 8) / 1e6).toFixed(1)} Mbit/s`;
}

function fmtRateBytes(bytesPerSec: number): string {
  return `${(bytesPerSec / 1e6).toFixed(3)} MB/s`;
}

function fmtMs(us: number): string {
  return `${(us / 1000).toFixed(1)} ms`;
}

function fmtBytes(bytes: number): string {
  return `${bytes} bytes (${(bytes / 2 ** 20).toFixed(2)} MiB)`;
}
