/** Realistic contract values for tests (a two-path client on 6.18). Every builder takes overrides. */
import type { MptcpConfig } from '../../../shared/config';
import type { Advice, ApplyReport, PlanView } from '../../../shared/config-api';
import { planView as sharedPlanView } from '../../../shared/plan';
import type { CcStatus } from '../../../shared/cc';
import type {
  Connection,
  ConnectionsSnapshot,
  Endpoint,
  KernelEvent,
  KernelStatus,
  NetInterface,
  MptcpEvent,
  Overview,
  Subflow,
} from '../../../shared/types';

export function kernelStatus(overrides: Partial<KernelStatus> = {}): KernelStatus {
  return {
    netns: null,
    kernelRelease: '6.18.2-mptcp',
    mptcpSupported: true,
    enabled: true,
    pathManager: 'kernel',
    availablePathManagers: ['kernel', 'userspace'],
    scheduler: 'default',
    availableSchedulers: ['default', 'bpf_burst'],
    congestionControl: { default: 'cubic', available: ['reno', 'cubic', 'bbr'], allowed: ['reno', 'cubic'] },
    buffers: {
      tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 6291456 },
      tcpWmem: { minBytes: 4096, defaultBytes: 16384, maxBytes: 4194304 },
      rmemMaxBytes: 212992,
      wmemMaxBytes: 212992,
    },
    readOnlySysctls: [],
    inInitNetns: true,
    mptcpSysctls: [
      { name: 'net.mptcp.enabled', value: '1', writable: true },
      { name: 'net.mptcp.scheduler', value: 'default', writable: true },
      { name: 'net.mptcp.available_schedulers', value: 'default bpf_burst', writable: false },
    ],
    privileges: { netAdmin: true, note: null },
    ...overrides,
  };
}

const noFlags = {
  signal: false,
  subflow: false,
  backup: false,
  fullmesh: false,
  implicit: false,
  laminar: false,
};

export function endpoint(overrides: Partial<Endpoint> & Pick<Endpoint, 'id' | 'address'>): Endpoint {
  return {
    family: overrides.address.includes(':') ? 'inet6' : 'inet',
    port: null,
    ifindex: null,
    ifname: null,
    flags: noFlags,
    rawFlags: 0,
    ...overrides,
  };
}

export function netInterface(
  overrides: Partial<NetInterface> & Pick<NetInterface, 'index' | 'name'>,
): NetInterface {
  return {
    operState: 'up',
    operStateRaw: 6,
    adminUp: true,
    running: true,
    usable: true,
    loopback: false,
    mtuBytes: 1500,
    minMtuBytes: 68,
    maxMtuBytes: 65535,
    addresses: [],
    ...overrides,
  };
}

export function overview(overrides: Partial<Overview> = {}): Overview {
  return {
    status: kernelStatus(),
    limits: { subflows: 2, addAddrAccepted: 2 },
    endpoints: [
      endpoint({
        id: 1,
        address: '10.0.1.2',
        ifindex: 2,
        ifname: 'eth0',
        flags: { ...noFlags, signal: true, subflow: true },
        rawFlags: 3,
      }),
      endpoint({
        id: 2,
        address: '10.0.2.2',
        flags: { ...noFlags, subflow: true, backup: true },
        rawFlags: 6,
      }),
      endpoint({
        id: 3,
        address: '192.0.2.99',
        port: 8080,
        flags: { ...noFlags, signal: true },
        rawFlags: 1,
      }),
    ],
    interfaces: [
      netInterface({
        index: 1,
        name: 'lo',
        operState: 'unknown',
        operStateRaw: 0,
        loopback: true,
        mtuBytes: 65536,
        addresses: [{ family: 'inet', address: '127.0.0.1', prefixLen: 8, scope: 254 }],
      }),
      netInterface({
        index: 2,
        name: 'eth0',
        addresses: [
          { family: 'inet', address: '10.0.1.2', prefixLen: 24, scope: 0 },
          { family: 'inet6', address: 'fe80::1', prefixLen: 64, scope: 253 },
        ],
      }),
      netInterface({
        index: 3,
        name: 'eth1',
        operState: 'down',
        operStateRaw: 2,
        adminUp: false,
        running: false,
        usable: false,
        addresses: [{ family: 'inet', address: '10.0.2.2', prefixLen: 24, scope: 0 }],
      }),
    ],
    errors: [],
    ...overrides,
  };
}

const subflowFlags = {
  mcapRem: false,
  mcapLoc: false,
  joinRem: false,
  joinLoc: false,
  backupRem: false,
  backupLoc: false,
  fullyEstablished: true,
  connected: true,
  mapValid: true,
};

export function subflow(overrides: Partial<Subflow> = {}): Subflow {
  return {
    family: 'inet',
    state: 'ESTABLISHED',
    localAddress: '10.0.1.2',
    localPort: 40000,
    remoteAddress: '10.0.9.1',
    remotePort: 5201,
    ifindex: 0,
    tokenLocal: 0xdeadbeef,
    tokenRemote: 0,
    localId: 0,
    remoteId: 0,
    flags: subflowFlags,
    rawFlags: 0,
    backup: false,
    congestionControl: 'cubic',
    rttUs: 12345,
    rttVarUs: 800,
    minRttUs: 10100,
    cwndPkts: 42,
    ssthreshPkts: null,
    mssBytes: 1448,
    pmtuBytes: 1500,
    rtoUs: 212000,
    unackedPkts: 3,
    lostPkts: 0,
    totalRetransPkts: 0,
    bytesAcked: 1_000_000,
    bytesReceived: 2000,
    bytesSent: 1_000_500,
    bytesRetrans: 0,
    deliveryRateBytesPerSec: 12_500_000,
    pacingRateBytesPerSec: null,
    ...overrides,
  };
}

export function connection(overrides: Partial<Connection> = {}): Connection {
  return {
    token: 0xdeadbeef,
    family: 'inet',
    state: 'ESTABLISHED',
    localAddress: '10.0.1.2',
    localPort: 40000,
    remoteAddress: '10.0.9.1',
    remotePort: 5201,
    inode: 12345,
    subflowsTotal: 2,
    fallback: false,
    remoteKeyReceived: true,
    addAddrSignal: 0,
    addAddrAccepted: 1,
    subflowsMax: 2,
    checksumEnabled: false,
    retransmits: 0,
    bytesSent: 52_428_800,
    bytesReceived: 4096,
    bytesAcked: 52_428_800,
    bytesRetrans: 0,
    subflows: [
      subflow(),
      subflow({
        localAddress: '10.0.2.2',
        localPort: 40001,
        tokenRemote: 0x1234,
        localId: 2,
        remoteId: 0,
        backup: true,
        flags: { ...subflowFlags, backupLoc: true, joinLoc: true },
        rttUs: 48210,
        cwndPkts: 10,
      }),
    ],
    ...overrides,
  };
}

export function snapshot(overrides: Partial<ConnectionsSnapshot> = {}): ConnectionsSnapshot {
  return {
    takenAtMs: Date.UTC(2025, 0, 1, 12, 0, 0),
    pollDurationUs: 850,
    connections: [connection()],
    orphanSubflows: 0,
    ...overrides,
  };
}

/** A decoded mptcp_pm event of the fixture connection's backup subflow. */
export function mptcpEvent(
  kind: string,
  overrides: Partial<MptcpEvent> = {},
  timestampMs = Date.UTC(2025, 0, 1, 12, 0, 0),
): KernelEvent {
  return {
    source: 'mptcp',
    timestampMs,
    event: {
      type: 10,
      kind,
      token: 0xdeadbeef,
      family: 'inet',
      localId: 2,
      remoteId: 0,
      localAddress: '10.0.2.2',
      remoteAddress: '10.0.9.1',
      localPort: 40001,
      remotePort: 5201,
      backup: false,
      error: null,
      flags: null,
      denyJoinId0: false,
      serverSide: false,
      timeout: null,
      ifindex: null,
      resetReason: null,
      resetReasonName: null,
      resetFlags: null,
      unknownAttrs: {},
      rawAttrs: null,
      ...overrides,
    },
  };
}

/** RTM_NEWLINK of eth1 (index 3). */
export function linkEvent(timestampMs: number, operState: 'up' | 'down', name = 'eth1'): KernelEvent {
  return {
    source: 'link',
    timestampMs,
    deleted: false,
    index: 3,
    name,
    operState,
    adminUp: operState === 'up',
    running: operState === 'up',
    usable: operState === 'up',
    mtuBytes: 1500,
  };
}

// ---------------------------------------------------------------------------------------------
// Configuration: plans, reports and advice computed with the shared (engine) functions.

/** The plan the engine would send, impacts computed from `connections` (null: not readable). */
export function planView(
  o: Overview,
  config: MptcpConfig,
  coupledCc?: CcStatus[],
  connections: ConnectionsSnapshot | null = snapshot(),
): PlanView {
  return sharedPlanView(o, config, { ...(coupledCc ? { coupledCc } : {}), connections });
}

export function applyReport(overrides: Partial<ApplyReport> = {}): ApplyReport {
  return {
    ok: true,
    planErrors: [],
    applied: [],
    failed: null,
    rolledBack: [],
    restored: null,
    revertAtMs: null,
    ...overrides,
  };
}

export function advice(overrides: Partial<Advice> & Pick<Advice, 'id'>): Advice {
  return {
    severity: 'warning',
    title: 'Something to look at',
    detail: 'Details.',
    fix: null,
    ...overrides,
  };
}

/** A coupled CC entry as the engine lists it (LIA, loadable, not registered, unless overridden). */
export function ccStatus(overrides: Partial<CcStatus> = {}): CcStatus {
  return {
    id: 'mptcp_lia',
    kernelName: 'mptcp_lia',
    title: 'LIA: Linked Increases Algorithm',
    reference: 'RFC 6356',
    available: true,
    registered: false,
    bpfRegistered: false,
    blocker: null,
    reason: null,
    isNamespaceDefault: false,
    inUseBySubflows: 0,
    unloadBlockedReason: null,
    objectPath: '/usr/lib/mptcp-studio/bpf/mptcp_lia.bpf.o',
    missingKfuncs: [],
    ...overrides,
  };
}

/** LIA and Balia loadable, OLIA blocked by a missing kfunc. */
export function ccList(): CcStatus[] {
  return [
    ccStatus(),
    ccStatus({
      id: 'mptcp_olia',
      kernelName: 'mptcp_olia',
      title: 'OLIA: Opportunistic Linked Increases Algorithm',
      reference: 'draft-khalili-mptcp-congestion-control, IEEE/ACM ToN 2013',
      available: false,
      blocker: 'missing-kfuncs',
      reason: 'this kernel lacks kernel functions the program calls: bpf_rdonly_cast',
      missingKfuncs: ['bpf_rdonly_cast'],
    }),
    ccStatus({
      id: 'mptcp_balia',
      kernelName: 'mptcp_balia',
      title: 'Balia: Balanced Linked Adaptation',
      reference: 'draft-walid-mptcp-congestion-control, IEEE/ACM ToN 2016',
      objectPath: '/usr/lib/mptcp-studio/bpf/mptcp_balia.bpf.o',
    }),
  ];
}
