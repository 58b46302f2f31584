/** Realistic contract values for tests (a two-path client on 6.18). Every builder takes overrides. */
import type { MptcpConfig } from '../../../shared/config';
import type { Advice, ApplyReport, PlanView } from '../../../shared/config-api';
import { planView as sharedPlanView } from '../../../shared/plan';
import type { CcStatus } from '../../../shared/cc';
import { kernelStatus } from '../../../shared/testing/status-fixtures';
import type {
  Connection,
  ConnectionsSnapshot,
  Endpoint,
  KernelEvent,
  NetInterface,
  MptcpEvent,
  Overview,
  Subflow,
} from '../../../shared/types';

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
    ifname: null,
    backoffCount: 0,
    probesCount: 0,
    deliveryRateAppLimited: false,
    lastDataSentAtMs: null,
    lastDataRecvAtMs: null,
    lastAckRecvAtMs: null,
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
