import { describe, expect, it } from 'vitest';
import { advise, nextPowerOfTwo, type AdvisorInput } from './advisor';
import { MptcpConfigSchema } from './config';
import type { Advice } from './config-api';
import { kernelStatus } from './testing/status-fixtures';
import type { RouteEntry, RouteRule, RoutingState } from './routing';
import type {
  Connection,
  ConnectionsSnapshot,
  Endpoint,
  EndpointFlags,
  KernelStatus,
  NetInterface,
  Overview,
  Subflow,
} from './types';

// ---------------------------------------------------------------------------------------------
// Builders: a healthy dual-homed client (eth0 + wlan0, both MTU 1500) with nothing to say.

/** TCP buffers large enough for the healthy case; net.core.*mem_max cannot be written here. */
const status: KernelStatus = kernelStatus({
  buffers: {
    tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 33554432 },
    tcpWmem: { minBytes: 4096, defaultBytes: 16384, maxBytes: 4194304 },
    rmemMaxBytes: 4194304,
    wmemMaxBytes: 4194304,
  },
  readOnlySysctls: ['net.core.rmem_max', 'net.core.wmem_max'],
});

function iface(index: number, name: string, mtuBytes: number, addrs: string[]): NetInterface {
  return {
    index,
    name,
    operState: 'up',
    operStateRaw: 6,
    adminUp: true,
    running: true,
    usable: true,
    loopback: false,
    mtuBytes,
    minMtuBytes: 68,
    maxMtuBytes: 9000,
    addresses: addrs.map((address) => ({
      family: address.includes(':') ? ('inet6' as const) : ('inet' as const),
      address,
      prefixLen: address.includes(':') ? 64 : 24,
      scope: 0,
    })),
  };
}

const noFlags: EndpointFlags = {
  signal: false,
  subflow: false,
  backup: false,
  fullmesh: false,
  implicit: false,
  laminar: false,
};

function endpoint(id: number, address: string, flags: Partial<EndpointFlags>): Endpoint {
  return {
    id,
    family: address.includes(':') ? 'inet6' : 'inet',
    address,
    port: null,
    ifindex: null,
    ifname: null,
    flags: { ...noFlags, ...flags },
    rawFlags: 0,
  };
}

function overview(over: Partial<Overview> = {}, statusOver: Partial<KernelStatus> = {}): Overview {
  return {
    // Copy the nested buffers: tests edit them in place.
    status: { ...status, buffers: { ...status.buffers }, ...statusOver },
    limits: { subflows: 2, addAddrAccepted: 2 },
    endpoints: [endpoint(1, '10.0.1.2', { subflow: true })],
    interfaces: [iface(2, 'eth0', 1500, ['10.0.0.2']), iface(3, 'wlan0', 1500, ['10.0.1.2'])],
    errors: [],
    ...over,
  };
}

const mbit = (n: number) => (n * 1e6) / 8; // Mbit/s → bytes/s

function subflow(over: Partial<Subflow> = {}): Subflow {
  return {
    family: 'inet',
    state: 'ESTABLISHED',
    localAddress: '10.0.0.2',
    localPort: 40000,
    remoteAddress: '192.0.2.1',
    remotePort: 443,
    ifindex: 0,
    tokenLocal: 1,
    tokenRemote: 0,
    localId: 0,
    remoteId: 0,
    flags: {
      mcapRem: true,
      mcapLoc: true,
      joinRem: false,
      joinLoc: false,
      backupRem: false,
      backupLoc: false,
      fullyEstablished: true,
      connected: true,
      mapValid: true,
    },
    rawFlags: 0,
    backup: false,
    congestionControl: 'cubic',
    rttUs: 50_000,
    rttVarUs: 5_000,
    minRttUs: 40_000,
    cwndPkts: 10,
    ssthreshPkts: null,
    mssBytes: 1448,
    pmtuBytes: 1500,
    rtoUs: 250_000,
    unackedPkts: 0,
    lostPkts: 0,
    totalRetransPkts: 0,
    bytesAcked: 1_000_000,
    bytesReceived: 100,
    bytesSent: 1_000_000,
    bytesRetrans: 0,
    deliveryRateBytesPerSec: mbit(20),
    pacingRateBytesPerSec: null,
    ifname: null,
    backoffCount: 0,
    probesCount: 0,
    deliveryRateAppLimited: false,
    lastDataSentAtMs: null,
    lastDataRecvAtMs: null,
    lastAckRecvAtMs: null,
    ...over,
  };
}

function connection(subflows: Subflow[], over: Partial<Connection> = {}): Connection {
  return {
    token: 1,
    family: 'inet',
    state: 'ESTABLISHED',
    localAddress: '10.0.0.2',
    localPort: 40000,
    remoteAddress: '192.0.2.1',
    remotePort: 443,
    inode: 1234,
    subflowsTotal: subflows.length,
    fallback: false,
    remoteKeyReceived: true,
    addAddrSignal: 0,
    addAddrAccepted: 0,
    subflowsMax: 2,
    checksumEnabled: false,
    retransmits: 0,
    bytesSent: 2_000_000,
    bytesReceived: 1_000,
    bytesAcked: 2_000_000,
    bytesRetrans: 0,
    subflows,
    ...over,
  };
}

function snapshot(connections: Connection[]): ConnectionsSnapshot {
  return { takenAtMs: 1, pollDurationUs: 100, connections, orphanSubflows: 0 };
}

/** The healthy two-path connection: eth0 at 20 Mbit/s / 50 ms, wlan0 at 5 Mbit/s / 200 ms. */
function twoPaths(over: Partial<Subflow>[] = [{}, {}]): Connection {
  return connection([
    subflow({ ...over[0] }),
    subflow({
      localAddress: '10.0.1.2',
      localPort: 40001,
      localId: 1,
      rttUs: 200_000,
      deliveryRateBytesPerSec: mbit(5),
      ...over[1],
    }),
  ]);
}

function input(over: Partial<AdvisorInput> = {}): AdvisorInput {
  return {
    overview: overview(),
    connections: snapshot([twoPaths()]),
    managers: { mptcpd: false, networkManager: false },
    ...over,
  };
}

function byId(list: Advice[], id: string): Advice | undefined {
  return list.find((a) => a.id === id);
}

/** Every fix must be something the apply path accepts. */
function expectValidFix(a: Advice | undefined): void {
  expect(a).toBeDefined();
  expect(a?.fix).not.toBeNull();
  expect(MptcpConfigSchema.safeParse(a?.fix).success).toBe(true);
}

// ---------------------------------------------------------------------------------------------

describe('advise: baseline', () => {
  it('says nothing about a healthy dual-homed client', () => {
    expect(advise(input())).toEqual([]);
  });

  it('never throws on missing data, and every fix parses', () => {
    const sparse = overview({ limits: null, endpoints: [], interfaces: [] });
    sparse.status.buffers = { tcpRmem: null, tcpWmem: null, rmemMaxBytes: null, wmemMaxBytes: null };
    sparse.status.pathManager = null;
    const out = advise({ overview: sparse, connections: snapshot([twoPaths()]), managers: input().managers });
    expect(out).toEqual([]);
    expect(advise({ ...input(), connections: null })).toEqual([]);
  });

  it('reports a kernel without MPTCP and nothing else', () => {
    const out = advise(input({ overview: overview({}, { mptcpSupported: false, enabled: false }) }));
    expect(out.map((a) => a.id)).toEqual(['mptcp-unsupported']);
  });

  it('orders by severity and gives each id once', () => {
    const out = advise(
      input({
        overview: overview({}, { enabled: false, pathManager: 'userspace' }),
        managers: { mptcpd: false, networkManager: true },
      }),
    );
    expect(out.map((a) => a.severity)).toEqual(['error', 'warning', 'info']);
    expect(new Set(out.map((a) => a.id)).size).toBe(out.length);
  });
});

describe('(a) MPTCP disabled', () => {
  it('is an error with a fix that turns it on', () => {
    const a = byId(advise(input({ overview: overview({}, { enabled: false }) })), 'mptcp-disabled');
    expect(a?.severity).toBe('error');
    expect(a?.fix).toEqual({ enabled: true });
    expectValidFix(a);
  });

  it('is silent when enabled', () => {
    expect(byId(advise(input()), 'mptcp-disabled')).toBeUndefined();
  });
});

describe('(b) fullmesh N x M subflow explosion', () => {
  const fullmesh3 = [
    endpoint(1, '10.0.0.2', { fullmesh: true }),
    endpoint(2, '10.0.1.2', { subflow: true, fullmesh: true }),
    endpoint(3, '10.0.2.2', { subflow: true, fullmesh: true }),
  ];

  it('warns when 3 fullmesh endpoints x 3 peer addresses exceed the limit and the cap of 8', () => {
    // The peer announced two more addresses: subflows reach three distinct remotes.
    const conn = connection(
      [
        subflow(),
        subflow({ localAddress: '10.0.1.2', remoteAddress: '198.51.100.1', localPort: 40001 }),
        subflow({ localAddress: '10.0.2.2', remoteAddress: '203.0.113.1', localPort: 40002 }),
      ],
      { addAddrAccepted: 2 },
    );
    const a = byId(
      advise(
        input({
          overview: overview({ endpoints: fullmesh3, limits: { subflows: 8, addAddrAccepted: 2 } }),
          connections: snapshot([conn]),
        }),
      ),
      'fullmesh-subflow-explosion',
    );
    expect(a?.severity).toBe('warning');
    expect(a?.title).toContain('9 subflows');
    expect(a?.detail).toContain('3 local fullmesh endpoints');
    expect(a?.detail).toContain('x 3 remote addresses');
    expect(a?.detail).toContain('hard cap of 8');
    expect(a?.fix).toBeNull();
  });

  it('with no connections, uses add_addr_accepted + 1 as the peer address count', () => {
    const a = byId(
      advise(
        input({
          overview: overview({ endpoints: fullmesh3, limits: { subflows: 4, addAddrAccepted: 1 } }),
          connections: snapshot([]),
        }),
      ),
      'fullmesh-subflow-explosion',
    );
    // 3 x 2 = 6 > 4 + 1 allowed, below the hard cap.
    expect(a?.detail).toContain('= 6 subflows');
    expect(a?.detail).toContain('limits.subflows = 4 allows only 5');
    expect(a?.detail).not.toContain('hard cap');
  });

  it('is silent when N x M fits (2 fullmesh x 2 remotes with subflows 4)', () => {
    const out = advise(
      input({
        overview: overview({
          endpoints: fullmesh3.slice(0, 2),
          limits: { subflows: 4, addAddrAccepted: 1 },
        }),
        connections: snapshot([]),
      }),
    );
    expect(byId(out, 'fullmesh-subflow-explosion')).toBeUndefined();
  });

  it('skips without limits and connections, and under the userspace PM', () => {
    const ov = overview({ endpoints: fullmesh3, limits: null });
    expect(
      byId(advise(input({ overview: ov, connections: null })), 'fullmesh-subflow-explosion'),
    ).toBeUndefined();
    const us = overview(
      { endpoints: fullmesh3, limits: { subflows: 0, addAddrAccepted: 8 } },
      { pathManager: 'userspace' },
    );
    expect(byId(advise(input({ overview: us })), 'fullmesh-subflow-explosion')).toBeUndefined();
  });
});

describe('(c) limits lower than the endpoints need', () => {
  const three = [
    endpoint(1, '10.0.1.2', { subflow: true }),
    endpoint(2, '10.0.2.2', { subflow: true }),
    endpoint(3, '10.0.3.2', { subflow: true, backup: true }),
    endpoint(4, '10.0.4.2', { signal: true }),
  ];

  it('warns when 3 subflow endpoints meet limits.subflows = 1, fixing it to 3', () => {
    const a = byId(
      advise(
        input({ overview: overview({ endpoints: three, limits: { subflows: 1, addAddrAccepted: 2 } }) }),
      ),
      'limits-subflows-too-low',
    );
    expect(a?.severity).toBe('warning');
    expect(a?.detail).toContain('3 endpoints ask');
    expect(a?.detail).toContain('limits.subflows is 1');
    expect(a?.fix).toEqual({ limits: { subflows: 3, addAddrAccepted: 2 } });
    expectValidFix(a);
  });

  it('is silent when the limit covers them (signal endpoints do not count)', () => {
    const out = advise(
      input({ overview: overview({ endpoints: three, limits: { subflows: 3, addAddrAccepted: 2 } }) }),
    );
    expect(byId(out, 'limits-subflows-too-low')).toBeUndefined();
  });

  it('add_addr_accepted 0 while a connection shows the peer announced → info with a fix', () => {
    const conn = { ...twoPaths(), addAddrAccepted: 2 };
    const a = byId(
      advise(
        input({
          overview: overview({ limits: { subflows: 2, addAddrAccepted: 0 } }),
          connections: snapshot([conn]),
        }),
      ),
      'limits-add-addr-accepted-zero',
    );
    expect(a?.severity).toBe('info');
    expect(a?.detail).toContain('up to 2');
    expect(a?.fix).toEqual({ limits: { subflows: 2, addAddrAccepted: 2 } });
    expectValidFix(a);
  });

  it('add_addr_accepted 0 on a client with no subflow endpoints → info', () => {
    const single = connection([subflow()]);
    const a = byId(
      advise(
        input({
          overview: overview({ endpoints: [], limits: { subflows: 0, addAddrAccepted: 0 } }),
          connections: snapshot([single]),
        }),
      ),
      'limits-add-addr-accepted-zero',
    );
    expect(a?.detail).toContain('as a client');
    expect(a?.fix).toEqual({ limits: { subflows: 1, addAddrAccepted: 1 } });
    expectValidFix(a);
  });

  it('add_addr_accepted 0 is fine on a server (local port 443) or with subflow endpoints', () => {
    const server = connection([subflow({ localPort: 443, remotePort: 50000 })], {
      localPort: 443,
      remotePort: 50000,
    });
    const lim = { subflows: 2, addAddrAccepted: 0 };
    const asServer = advise(
      input({ overview: overview({ endpoints: [], limits: lim }), connections: snapshot([server]) }),
    );
    expect(byId(asServer, 'limits-add-addr-accepted-zero')).toBeUndefined();
    const withEndpoints = advise(input({ overview: overview({ limits: lim }) }));
    expect(byId(withEndpoints, 'limits-add-addr-accepted-zero')).toBeUndefined();
  });

  it('both limits fixes carry what both need, so one never undoes the other', () => {
    const conn = { ...twoPaths(), addAddrAccepted: 1 };
    const out = advise(
      input({
        overview: overview({ endpoints: three, limits: { subflows: 1, addAddrAccepted: 0 } }),
        connections: snapshot([conn]),
      }),
    );
    const both = { limits: { subflows: 3, addAddrAccepted: 1 } };
    expect(byId(out, 'limits-subflows-too-low')?.fix).toEqual(both);
    expect(byId(out, 'limits-add-addr-accepted-zero')?.fix).toEqual(both);
  });
});

describe('(d) MSS/MTU mismatch between paths', () => {
  it('warns when endpoint interfaces have MTU 1500 and 1400, equalising to 1400', () => {
    const ov = overview({
      endpoints: [endpoint(1, '10.0.0.2', { subflow: true }), endpoint(2, '10.0.1.2', { subflow: true })],
      interfaces: [iface(2, 'eth0', 1500, ['10.0.0.2']), iface(3, 'wwan0', 1400, ['10.0.1.2'])],
    });
    const a = byId(advise(input({ overview: ov, connections: null })), 'mtu-mismatch');
    expect(a?.severity).toBe('warning');
    expect(a?.detail).toContain('eth0 1500, wwan0 1400');
    expect(a?.fix).toEqual({ mtu: { eth0: 1400 } });
    expectValidFix(a);
  });

  it('never goes below 1280 on an interface with IPv6', () => {
    const ov = overview({
      endpoints: [endpoint(1, '10.0.0.2', { subflow: true }), endpoint(2, '10.0.1.2', { subflow: true })],
      interfaces: [iface(2, 'eth0', 1500, ['10.0.0.2', '2001:db8::2']), iface(3, 'tun0', 1200, ['10.0.1.2'])],
    });
    const a = byId(advise(input({ overview: ov, connections: null })), 'mtu-mismatch');
    expect(a?.fix).toEqual({ mtu: { eth0: 1280 } });
    expect(a?.detail).toContain("IPv6's minimum");
    expectValidFix(a);
  });

  it('finds subflow interfaces too, by ifindex or local address', () => {
    const ov = overview({
      endpoints: [],
      interfaces: [iface(2, 'eth0', 1500, ['10.0.0.2']), iface(3, 'wlan0', 1492, ['10.0.1.2'])],
    });
    const a = byId(advise(input({ overview: ov })), 'mtu-mismatch');
    expect(a?.fix).toEqual({ mtu: { eth0: 1492 } });
  });

  it('with equal link MTUs, warns on subflow MSS 1448 vs 1348 and equalises to the smallest path MTU', () => {
    const conn = twoPaths([{}, { mssBytes: 1348, pmtuBytes: 1400 }]);
    const a = byId(advise(input({ connections: snapshot([conn]) })), 'mss-mismatch');
    expect(a?.severity).toBe('warning');
    expect(a?.detail).toContain('MSS 1448');
    expect(a?.detail).toContain('1348');
    expect(a?.fix).toEqual({ mtu: { eth0: 1400, wlan0: 1400 } });
    expectValidFix(a);
  });

  it('is silent with equal MTUs and MSS within option noise', () => {
    const conn = twoPaths([{}, { mssBytes: 1436 }]);
    const out = advise(input({ connections: snapshot([conn]) }));
    expect(byId(out, 'mtu-mismatch')).toBeUndefined();
    expect(byId(out, 'mss-mismatch')).toBeUndefined();
  });
});

describe('events sockets capped by net.core.rmem_max', () => {
  const many = (n: number): ConnectionsSnapshot =>
    snapshot(Array.from({ length: n }, (_, i) => ({ ...twoPaths(), token: i + 1 })));
  const capped = (cap: number, readOnly = false): Overview => {
    const ov = overview({}, { readOnlySysctls: readOnly ? ['net.core.rmem_max'] : [] });
    ov.status.buffers.rmemMaxBytes = cap;
    return ov;
  };

  it('212992 bytes with 1,000 connections: info, fix 4 MiB', () => {
    const a = byId(advise(input({ overview: capped(212992), connections: many(1000) })), 'events-buffer-cap');
    expect(a?.severity).toBe('info');
    expect(a?.detail).toContain('net.core.rmem_max is 212992 bytes');
    expect(a?.detail).toContain('1,000 connections');
    expect(a?.fix).toEqual({ buffers: { rmemMaxBytes: 4194304 } });
    expectValidFix(a);
  });

  it('is silent at 4 MiB, and below 1,000 connections', () => {
    expect(
      byId(advise(input({ overview: capped(4194304), connections: many(1000) })), 'events-buffer-cap'),
    ).toBeUndefined();
    expect(
      byId(advise(input({ overview: capped(212992), connections: many(999) })), 'events-buffer-cap'),
    ).toBeUndefined();
    expect(
      byId(advise(input({ overview: capped(212992), connections: null })), 'events-buffer-cap'),
    ).toBeUndefined();
  });

  it('gives no fix when net.core.rmem_max is read-only here', () => {
    const a = byId(
      advise(input({ overview: capped(212992, true), connections: many(1000) })),
      'events-buffer-cap',
    );
    expect(a?.detail).toContain('read-only here');
    expect(a?.fix).toBeNull();
  });
});

describe('(e) buffers too small for the measured paths', () => {
  it('20 + 5 Mbit/s at RTT 50/200 ms need 1.25 MB: tcp_rmem max 1 MiB → warning, fix 2 MiB', () => {
    const ov = overview();
    ov.status.buffers.tcpRmem = { minBytes: 4096, defaultBytes: 131072, maxBytes: 1048576 };
    const a = byId(advise(input({ overview: ov })), 'buffers-too-small');
    expect(a?.severity).toBe('warning');
    expect(a?.detail).toContain('20.0 Mbit/s + 5.0 Mbit/s');
    expect(a?.detail).toContain('200.0 ms');
    expect(a?.detail).toContain('2 x 3.125 MB/s x 0.200 s = 1250000 bytes');
    expect(a?.detail).toContain('net.ipv4.tcp_rmem maximum of 1048576 bytes');
    expect(a?.fix).toEqual({
      buffers: { tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 2097152 } },
    });
    expectValidFix(a);
  });

  it('is silent with tcp_rmem max 32 MiB (and tcp_wmem max 4 MiB)', () => {
    expect(byId(advise(input()), 'buffers-too-small')).toBeUndefined();
  });

  it('checks tcp_wmem only on the sending side', () => {
    const ov = overview();
    ov.status.buffers.tcpWmem = { minBytes: 4096, defaultBytes: 16384, maxBytes: 1048576 };
    const sending = byId(advise(input({ overview: ov })), 'buffers-too-small');
    expect(sending?.fix).toEqual({
      buffers: { tcpWmem: { minBytes: 4096, defaultBytes: 16384, maxBytes: 2097152 } },
    });
    const receiving = { ...twoPaths(), bytesSent: 1_000, bytesReceived: 2_000_000 };
    const out = advise(input({ overview: ov, connections: snapshot([receiving]) }));
    expect(byId(out, 'buffers-too-small')).toBeUndefined();
  });

  it('caps the proposed maximum at 1 GiB', () => {
    // 2 x 10 Gbit/s x 1 s = 2.5 GB, far above the cap.
    const conn = twoPaths([
      { deliveryRateBytesPerSec: mbit(5000), rttUs: 1_000_000 },
      { deliveryRateBytesPerSec: mbit(5000) },
    ]);
    const a = byId(advise(input({ connections: snapshot([conn]) })), 'buffers-too-small');
    expect(a?.fix?.buffers?.tcpRmem?.maxBytes).toBe(2 ** 30);
    expectValidFix(a);
  });

  it('gives no fix for a read-only tcp_rmem (a child netns may lock it), but still warns', () => {
    const ov = overview({}, { readOnlySysctls: ['net.ipv4.tcp_rmem'] });
    ov.status.buffers.tcpRmem = { minBytes: 4096, defaultBytes: 131072, maxBytes: 1048576 };
    const a = byId(advise(input({ overview: ov })), 'buffers-too-small');
    expect(a?.detail).toContain('net.ipv4.tcp_rmem is read-only here');
    expect(a?.fix).toBeNull();
  });

  it('skips with no connections, a failed dump or unknown buffers', () => {
    const ov = overview();
    ov.status.buffers.tcpRmem = { minBytes: 4096, defaultBytes: 131072, maxBytes: 1048576 };
    expect(
      byId(advise(input({ overview: ov, connections: snapshot([]) })), 'buffers-too-small'),
    ).toBeUndefined();
    expect(byId(advise(input({ overview: ov, connections: null })), 'buffers-too-small')).toBeUndefined();
    ov.status.buffers.tcpRmem = null;
    expect(byId(advise(input({ overview: ov })), 'buffers-too-small')).toBeUndefined();
  });

  it('nextPowerOfTwo rounds up', () => {
    expect(nextPowerOfTwo(1_250_000)).toBe(2_097_152);
    expect(nextPowerOfTwo(1_048_576)).toBe(1_048_576);
  });
});

describe('(f) other endpoint managers', () => {
  it('NetworkManager and mptcpd → one info advice naming both', () => {
    const a = byId(
      advise(input({ managers: { mptcpd: true, networkManager: true } })),
      'other-endpoint-managers',
    );
    expect(a?.severity).toBe('info');
    expect(a?.title).toContain('mptcpd and NetworkManager');
    expect(a?.detail).toMatch(/Coordinate rather than fight/);
    expect(a?.fix).toBeNull();
  });

  it('is silent when neither runs', () => {
    expect(byId(advise(input()), 'other-endpoint-managers')).toBeUndefined();
  });
});

describe('(g) userspace path manager without mptcpd', () => {
  const us = () => overview({}, { pathManager: 'userspace' });

  it('warns that no subflows will be created', () => {
    const a = byId(advise(input({ overview: us() })), 'userspace-pm-without-daemon');
    expect(a?.severity).toBe('warning');
    expect(a?.detail).toContain('single subflow');
    expect(a?.fix).toEqual({ pathManager: 'kernel' });
    expectValidFix(a);
  });

  it('is silent with mptcpd running or under the kernel PM', () => {
    const withDaemon = advise(input({ overview: us(), managers: { mptcpd: true, networkManager: false } }));
    expect(byId(withDaemon, 'userspace-pm-without-daemon')).toBeUndefined();
    // MPTCP Studio's own path manager (Path manager page / mptcp-studio pm) drives it.
    const withStudio = advise(
      input({ overview: us(), managers: { mptcpd: false, networkManager: false, studioPm: true } }),
    );
    expect(byId(withStudio, 'userspace-pm-without-daemon')).toBeUndefined();
    expect(byId(advise(input()), 'userspace-pm-without-daemon')).toBeUndefined();
  });
});

describe('(h) ndiffports-style subflows', () => {
  it('3 subflows on one address pair → info: not for production', () => {
    const conn = connection([subflow(), subflow({ localPort: 40001 }), subflow({ localPort: 40002 })]);
    const a = byId(advise(input({ connections: snapshot([conn]) })), 'ndiffports-style-subflows');
    expect(a?.severity).toBe('info');
    expect(a?.detail).toContain('3 subflows on 10.0.0.2 → 192.0.2.1');
    expect(a?.detail).toContain('never meant for production');
  });

  it('is silent when each subflow has its own address pair', () => {
    expect(byId(advise(input()), 'ndiffports-style-subflows')).toBeUndefined();
  });
});

describe('values the kernel accepts without a word', () => {
  it('tcp_wmem 1 1 1 → warning with a fix raising every field to 4096', () => {
    const o = overview();
    o.status.buffers.tcpWmem = { minBytes: 1, defaultBytes: 1, maxBytes: 1 };
    const a = byId(advise(input({ overview: o })), 'tcp-buffers-tiny');
    expect(a?.severity).toBe('warning');
    expect(a?.detail).toContain('net.ipv4.tcp_wmem is 1 1 1: min, default, max below 4096 bytes');
    expect(a?.fix).toEqual({ buffers: { tcpWmem: { minBytes: 4096, defaultBytes: 4096, maxBytes: 4096 } } });
    expectValidFix(a);
  });

  it('keeps min <= default <= max when raising an unordered triplet, and gives no fix when read-only', () => {
    const o = overview();
    o.status.buffers.tcpRmem = { minBytes: 8192, defaultBytes: 1, maxBytes: 1 };
    expect(byId(advise(input({ overview: o })), 'tcp-buffers-tiny')?.fix).toEqual({
      buffers: { tcpRmem: { minBytes: 8192, defaultBytes: 8192, maxBytes: 8192 } },
    });
    o.status.readOnlySysctls = ['net.ipv4.tcp_rmem'];
    const ro = byId(advise(input({ overview: o })), 'tcp-buffers-tiny');
    expect(ro?.fix).toBeNull();
    expect(ro?.detail).toContain('net.ipv4.tcp_rmem is read-only here');
  });

  it('is silent at 4096 and up', () => {
    expect(byId(advise(input()), 'tcp-buffers-tiny')).toBeUndefined();
  });

  it('warns about endpoints whose address no interface holds, or that is never a host address', () => {
    const o = overview({
      endpoints: [
        endpoint(1, '10.0.1.2', { subflow: true }),
        endpoint(2, '10.9.9.9', { subflow: true }),
        endpoint(3, '0.0.0.0', { signal: true }),
        endpoint(4, '255.255.255.255', { signal: true }),
        endpoint(5, '::ffff:10.0.0.2', { subflow: true }),
        endpoint(6, '10.8.8.8', { subflow: true, implicit: true }),
      ],
    });
    const a = byId(advise(input({ overview: o })), 'endpoint-address-not-local');
    expect(a?.severity).toBe('warning');
    expect(a?.title).toBe('4 endpoints have addresses this host does not hold');
    expect(a?.detail).toContain('endpoint 2: no interface here has 10.9.9.9');
    expect(a?.detail).toContain('endpoint 3: 0.0.0.0 is the unspecified address');
    expect(a?.detail).toContain('endpoint 4: 255.255.255.255 is the limited broadcast address');
    expect(a?.detail).toContain('endpoint 5: ::ffff:10.0.0.2 is an IPv4-mapped IPv6 address');
    expect(a?.detail).not.toContain('endpoint 1:');
    expect(a?.detail).not.toContain('endpoint 6:'); // implicit: the kernel's own
    expect(a?.fix).toBeNull();
  });

  it('compares IPv6 addresses by value, and without interfaces checks the address alone', () => {
    const v6 = overview({
      endpoints: [endpoint(1, '2001:db8::2', { subflow: true })],
      interfaces: [iface(2, 'eth0', 1500, ['2001:DB8:0:0::2'])],
    });
    expect(byId(advise(input({ overview: v6 })), 'endpoint-address-not-local')).toBeUndefined();
    const blind = overview({
      endpoints: [endpoint(1, '10.9.9.9', {}), endpoint(2, '0.0.0.0', {})],
      interfaces: [],
    });
    const a = byId(advise(input({ overview: blind })), 'endpoint-address-not-local');
    expect(a?.title).toBe('An endpoint has an address this host does not hold');
    expect(a?.detail).toContain('endpoint 2: 0.0.0.0');
  });
});

// ---------------------------------------------------------------------------------------------
// Paths (advisor-paths.ts): subflows' interfaces, source routing, rp_filter

describe('advise: paths', () => {
  const rule = (src: string, table: number, over: Partial<RouteRule> = {}): RouteRule => ({
    family: 'inet',
    priority: table,
    src,
    srcLen: 32,
    dst: null,
    dstLen: 0,
    table,
    action: 1,
    protocol: 0,
    iifname: null,
    oifname: null,
    fwmark: null,
    ...over,
  });
  const route = (table: number, ifname: string, over: Partial<RouteEntry> = {}): RouteEntry => ({
    family: 'inet',
    table,
    dst: null,
    dstLen: 0,
    gateway: ifname === 'eth0' ? '10.0.0.1' : '10.0.1.1',
    ifindex: ifname === 'eth0' ? 2 : 3,
    ifname,
    prefsrc: null,
    protocol: 0,
    scope: 0,
    type: 1,
    metric: null,
    ...over,
  });
  /** eth0 carries the main default route; no rule routes by source. */
  const routing = (over: Partial<RoutingState> = {}): RoutingState => ({
    rules: [],
    routes: [route(254, 'eth0')],
    rpFilter: { all: 0, byIfname: { eth0: 0, wlan0: 0 }, writable: true },
    ...over,
  });

  it('(a) two subflows on eth0 while wlan0 carries none: the misrouted address and its source-rule fix', () => {
    const conn = twoPaths([{ ifname: 'eth0' }, { ifname: 'eth0' }]);
    const withRouting = overview({ routing: routing() });
    const a = byId(
      advise(input({ overview: withRouting, connections: snapshot([conn]) })),
      'subflows-share-interface',
    );
    expect(a?.title).toBe('Subflows of one connection share eth0 while wlan0 carries none');
    expect(a?.detail).toContain('10.0.1.2 belongs to wlan0, yet its subflow leaves by eth0');
    expectValidFix(a);
    expect(a?.fix).toEqual({ routing: { sourceRules: [{ address: '10.0.1.2', ifname: 'wlan0' }] } });
    // Without the routing state: the same finding, the fix in words.
    const text = byId(advise(input({ connections: snapshot([conn]) })), 'subflows-share-interface');
    expect(text?.fix).toBeNull();
    expect(text?.detail).toContain('ip rule add from ADDR table T');
  });

  it('(a) is quiet when the subflows are spread, and names a missing endpoint when none starts on wlan0', () => {
    const spread = twoPaths([{ ifname: 'eth0' }, { ifname: 'wlan0' }]);
    expect(
      byId(advise(input({ connections: snapshot([spread]) })), 'subflows-share-interface'),
    ).toBeUndefined();
    const sameAddress = twoPaths([{ ifname: 'eth0' }, { ifname: 'eth0', localAddress: '10.0.0.2' }]);
    const a = byId(advise(input({ connections: snapshot([sameAddress]) })), 'subflows-share-interface');
    expect(a?.detail).toContain('No subflow starts from an address of wlan0');
    expect(a?.fix).toBeNull();
  });

  it('(b) a subflow endpoint on wlan0 without a source rule, on a host whose default route is eth0', () => {
    const o = overview({ routing: routing() });
    const b = byId(advise(input({ overview: o })), 'no-source-routing');
    expect(b?.title).toBe('No source-based routing for endpoint 10.0.1.2');
    expect(b?.detail).toContain('Missing for 10.0.1.2 (wlan0)');
    expectValidFix(b);
    expect(b?.fix).toEqual({ routing: { sourceRules: [{ address: '10.0.1.2', ifname: 'wlan0' }] } });
  });

  it('(b) is quiet with a rule whose table routes out of wlan0, and fires when it routes out of eth0', () => {
    const ok = routing({ rules: [rule('10.0.1.2', 100)], routes: [route(254, 'eth0'), route(100, 'wlan0')] });
    expect(byId(advise(input({ overview: overview({ routing: ok }) })), 'no-source-routing')).toBeUndefined();
    const wrong = routing({
      rules: [rule('10.0.1.2', 100)],
      routes: [route(254, 'eth0'), route(100, 'eth0')],
    });
    expect(
      byId(advise(input({ overview: overview({ routing: wrong }) })), 'no-source-routing'),
    ).toBeDefined();
    // A prefix rule (from 10.0.1.0/24) covers the address too.
    const prefix = routing({
      rules: [rule('10.0.1.0', 100, { srcLen: 24 })],
      routes: [route(254, 'eth0'), route(100, 'wlan0')],
    });
    expect(
      byId(advise(input({ overview: overview({ routing: prefix }) })), 'no-source-routing'),
    ).toBeUndefined();
  });

  it('(b) a live subflow from the address leaving by another interface is proof, whatever the rules', () => {
    const ok = routing({ rules: [rule('10.0.1.2', 100)], routes: [route(254, 'eth0'), route(100, 'wlan0')] });
    const conn = twoPaths([{ ifname: 'eth0' }, { ifname: 'eth0' }]);
    const b = byId(
      advise(input({ overview: overview({ routing: ok }), connections: snapshot([conn]) })),
      'no-source-routing',
    );
    expect(b?.detail).toContain('10.0.1.2 (wlan0): its subflow to 192.0.2.1 leaves by eth0');
  });

  it('(b) keeps the source rules MPTCP Studio already owns in its fix', () => {
    const owned = routing({
      rules: [rule('10.0.0.2', 10000, { protocol: 77 })],
      routes: [route(254, 'eth0'), route(10000, 'eth0', { protocol: 77 })],
    });
    const b = byId(advise(input({ overview: overview({ routing: owned }) })), 'no-source-routing');
    expectValidFix(b);
    expect(b?.fix?.routing?.sourceRules).toEqual([
      { address: '10.0.0.2', ifname: 'eth0', table: 10000, gateway: '10.0.0.1' },
      { address: '10.0.1.2', ifname: 'wlan0' },
    ]);
  });

  it('(b) needs two interfaces with global addresses', () => {
    const single = overview({
      routing: routing(),
      interfaces: [iface(3, 'wlan0', 1500, ['10.0.1.2'])],
    });
    expect(byId(advise(input({ overview: single })), 'no-source-routing')).toBeUndefined();
  });

  it('(c) rp_filter = 1 on an MPTCP interface, from conf.IF or conf.all: set it to 2 (loose)', () => {
    const strictIf = routing({ rpFilter: { all: 0, byIfname: { eth0: 0, wlan0: 1 }, writable: true } });
    const c = byId(advise(input({ overview: overview({ routing: strictIf }) })), 'rp-filter-strict');
    expect(c?.title).toBe('Strict reverse-path filtering on wlan0');
    expectValidFix(c);
    expect(c?.fix).toEqual({ routing: { rpFilter: { wlan0: 2 } } });
    // conf.all = 1 makes every interface strict (max(all, IF)); eth0 carries subflows.
    const strictAll = routing({ rpFilter: { all: 1, byIfname: { eth0: 0, wlan0: 0 }, writable: true } });
    const conn = twoPaths([{ ifname: 'eth0' }, { ifname: 'wlan0' }]);
    const all = byId(
      advise(input({ overview: overview({ routing: strictAll }), connections: snapshot([conn]) })),
      'rp-filter-strict',
    );
    expect(all?.fix).toEqual({ routing: { rpFilter: { eth0: 2, wlan0: 2 } } });
    expect(all?.detail).toContain('net.ipv4.conf.all.rp_filter = 1');
  });

  it('(c) is quiet at 0 or 2, and offers no fix where the sysctls are read-only', () => {
    const loose = routing({ rpFilter: { all: 2, byIfname: { wlan0: 1 }, writable: true } });
    expect(
      byId(advise(input({ overview: overview({ routing: loose }) })), 'rp-filter-strict'),
    ).toBeUndefined();
    const ro = routing({ rpFilter: { all: 0, byIfname: { wlan0: 1 }, writable: false } });
    const c = byId(advise(input({ overview: overview({ routing: ro }) })), 'rp-filter-strict');
    expect(c?.fix).toBeNull();
    expect(c?.detail).toContain('read-only here');
  });
});
