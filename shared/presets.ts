/**
 * Built-in profiles: the multipath-tcp.org "Recommended configuration" advice, restated for
 * upstream Linux (6.18). The out-of-tree kernel that advice was written for had fullmesh and
 * ndiffports path managers and LIA/OLIA coupled congestion control; upstream has one in-kernel
 * path manager driven by endpoint flags (signal, subflow, backup, fullmesh, laminar) and limits
 * (0..8), a userspace path manager, the `default` scheduler only, and no coupled congestion control.
 * So the presets are endpoint policies and limits, and each explanation says what is and is not
 * the same as the old advice.
 *
 * They use endpointPolicy (per-interface rules) rather than addresses, so they apply on any host:
 * the plan expands them against the live interfaces.
 */
import { PROFILE_SCHEMA_VERSION, type EndpointFlagsInput, type EndpointPolicy, type Profile } from './config';

export interface Preset {
  profile: Profile;
  /** Why these settings, in plain language (shown next to the preset). */
  explanation: string;
}

const flags = (set: Partial<EndpointFlagsInput>): EndpointFlagsInput => ({
  signal: false,
  subflow: false,
  backup: false,
  fullmesh: false,
  laminar: false,
  ...set,
});

const rule = (match: string, set: Partial<EndpointFlagsInput>): EndpointPolicy => ({
  match,
  flags: flags(set),
  families: ['inet', 'inet6'],
});

const dualHomedClient: Preset = {
  profile: {
    schemaVersion: PROFILE_SCHEMA_VERSION,
    name: 'dual-homed client (fullmesh)',
    description:
      'A client with two or more interfaces (Wi-Fi and Ethernet, or Wi-Fi and cellular) talking to servers: a subflow from every local address to every server address.',
    config: {
      enabled: true,
      pathManager: 'kernel',
      limits: { subflows: 8, addAddrAccepted: 8 },
      endpointPolicy: [rule('*', { subflow: true, fullmesh: true })],
      // Each address's subflows leave by its own interface (docs/configuration.md, "Source routing").
      routing: { sourcePolicy: [{ match: '*', families: ['inet', 'inet6'] }], rpFilter: { '*': 2 } },
    },
  },
  explanation: [
    'The typical Multipath TCP deployment: a multi-homed client (a laptop or phone with two networks) connected to a single- or multi-homed server.',
    'Every global address of every interface that is up becomes an endpoint with the subflow and fullmesh flags. "subflow" opens an extra subflow from that address once a connection is established; "fullmesh" opens one from that address to every address the server announces as well. With N local addresses and M server addresses that is N × M subflows, which is what the old fullmesh path manager did, and is not always what you want: with many addresses, narrow the rule to the interfaces that matter (e.g. "wlan*" and "eth0") instead of "*".',
    'Limits: subflows 8 lets each connection open up to 8 extra subflows (the kernel maximum), and add_addr_accepted 8 makes the client use up to 8 addresses the server announces. Limits are ceilings, not targets: the endpoints and the announcements decide how many subflows are actually made. The in-kernel path manager also holds at most 8 endpoints; addresses beyond that are left out, with a warning in the plan.',
    'Source routing: a subflow from the second address is only useful if its packets leave by the second interface, but the main routing table has one default route, so without help they leave by the first (and a strict reverse-path filter there, or the provider, drops them). The preset gives every global address a rule of its own (`ip rule add from ADDR lookup T`) with a table holding the route to its network and the default route through its interface\'s gateway (from the main table), and sets rp_filter to 2 (loose) on the interfaces, so that replies arriving on the "other" interface are not dropped. Only rules and routes MPTCP Studio created are ever changed.',
    'Upstream differences: endpoints are not tied to interfaces, and the app expands the rule when you apply it, so an address that appears later (a new DHCP lease) needs the profile applied again. Congestion control is per subflow and uncoupled (upstream has no LIA/OLIA). Multipath TCP uses more buffer space than TCP because the paths have different delays: raise the maximum of net.ipv4.tcp_rmem/tcp_wmem if throughput stalls. Equal MTUs on all interfaces avoid a known slowdown with different segment sizes.',
  ].join('\n\n'),
};

const server: Preset = {
  profile: {
    schemaVersion: PROFILE_SCHEMA_VERSION,
    name: 'server (announce all addresses)',
    description:
      'A server that announces all of its addresses to clients and accepts their extra subflows, but never opens subflows itself.',
    config: {
      enabled: true,
      pathManager: 'kernel',
      limits: { subflows: 8, addAddrAccepted: 0 },
      endpointPolicy: [rule('*', { signal: true })],
    },
  },
  explanation: [
    'Every global address of every interface that is up becomes a "signal" endpoint: the server announces it (ADD_ADDR) on each connection, so clients can open subflows to it.',
    'The server never creates subflows itself, as with the old fullmesh path manager: clients are usually behind NAT or a firewall, where a connection attempt from the server would fail. So no endpoint has the subflow flag, and add_addr_accepted is 0: addresses that clients announce are ignored.',
    'subflows 8 is the number of extra subflows (joins) the server accepts per connection, the kernel maximum. A client that wants more than 8 needs the userspace path manager on both ends.',
    'Applications still have to open MPTCP sockets (IPPROTO_MPTCP, or run under mptcpize); a plain TCP listener gets plain TCP. Narrow "*" to the public interfaces if the host has private or container networks: announcing an address clients cannot reach only costs them failed attempts.',
  ].join('\n\n'),
};

const datacenterEcmp: Preset = {
  profile: {
    schemaVersion: PROFILE_SCHEMA_VERSION,
    name: 'datacenter ECMP (ndiffports, not for production)',
    description:
      'NOT FOR PRODUCTION. Several subflows over one address pair, to spread a connection over equal-cost paths in a datacenter. Sets limits only: the subflows of the client come from the ndiffports path manager of the engine (the Path manager page, or mptcp-studio pm --mode ndiffports).',
    config: {
      enabled: true,
      pathManager: 'kernel',
      limits: { subflows: 8, addAddrAccepted: 0 },
    },
  },
  explanation: [
    'Not for production. The old ndiffports path manager opened several subflows between the same two addresses, each with its own source port, so that ECMP hashing in a datacenter fabric spreads them over different paths. It was an experiment and an example of how to write a path manager, and it did not learn addresses or react to interface changes.',
    'Upstream Linux has no ndiffports path manager, and the in-kernel one cannot do it: it opens at most one subflow per local endpoint, and an endpoint cannot be the same address again with another port. The same behaviour is possible with the userspace path manager, by asking for N−1 extra subflows on the same address pair when a connection is established. MPTCP Studio runs that loop in its engine: start ndiffports on the client from the Path manager page, or with `mptcp-studio pm --mode ndiffports --subflows N` (docs/path-manager.md).',
    'What this preset sets today is what both ends need for that: subflows 8, so an in-kernel path manager accepts up to 8 joins per connection (the kernel maximum; the server side needs this), and add_addr_accepted 0, because the hosts are single-homed. The endpoints are left as they are, and the path manager stays "kernel": the engine switches the client to "userspace" itself while ndiffports runs and restores it on stop; switching by hand with nothing running the loop would leave its connections with a single subflow.',
  ].join('\n\n'),
};

const cellularBackup: Preset = {
  profile: {
    schemaVersion: PROFILE_SCHEMA_VERSION,
    name: 'cellular as backup',
    description:
      'Wi-Fi and Ethernet carry the traffic; cellular interfaces (wwan*, rmnet*, usb*) get subflows marked backup, used only when no other path works.',
    config: {
      enabled: true,
      pathManager: 'kernel',
      limits: { subflows: 8, addAddrAccepted: 8 },
      endpointPolicy: [
        rule('wwan*', { subflow: true, backup: true }),
        rule('rmnet*', { subflow: true, backup: true }),
        rule('usb*', { subflow: true, backup: true }),
        rule('*', { subflow: true }),
      ],
    },
  },
  explanation: [
    'Cellular modems usually appear as wwan* (ModemManager, MBIM/QMI), rmnet* (Qualcomm) or usb* (RNDIS/tethering) interfaces. Their addresses become endpoints with the subflow and backup flags: the subflow is opened and kept ready, but the scheduler sends data on it only when no non-backup subflow can carry it, so metered data is used only when Wi-Fi or Ethernet fail. Every other interface gets a plain subflow endpoint.',
    'The rules are tried in order and the first one that matches an address wins, so the cellular rules come before "*". If your modem has another name, add a rule for it above "*".',
    'The first subflow of a connection follows the routing table, not these flags: if the default route goes through the cellular interface, the connection starts on cellular as a regular path. Give the Wi-Fi/Ethernet default route the lower metric.',
    'Limits: subflows 8 and add_addr_accepted 8 are ceilings (the kernel maximum); the endpoints and the addresses a server announces decide how many subflows are made.',
  ].join('\n\n'),
};

export const presets: Preset[] = [dualHomedClient, server, datacenterEcmp, cellularBackup];

/** The preset with this name, if any (names are compared exactly, as profile names are). */
export function findPreset(name: string): Preset | undefined {
  return presets.find((p) => p.profile.name === name);
}
