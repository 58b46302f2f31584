/**
 * Plans that keep live traffic: flags changed in place, each step's impact computed from the live
 * connections, no no-op steps, MTUs before endpoints (docs/configuration.md).
 */
import { describe, expect, it } from 'vitest';
import type { EndpointFlagsInput } from './config';
import {
  describeStep,
  disruptions,
  invertStep,
  isNoopStep,
  planConfig,
  planView,
  shellForStep,
  type Step,
} from './plan';
import { kernelStatus } from './testing/status-fixtures';
import type { Connection, ConnectionsSnapshot, Endpoint, NetInterface, Overview, Subflow } from './types';

function ifc(index: number, name: string, addresses: string[], mtuBytes = 1500): NetInterface {
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
    addresses: addresses.map((address) => ({
      family: address.includes(':') ? ('inet6' as const) : ('inet' as const),
      address,
      prefixLen: 24,
      scope: 0,
    })),
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

function endpoint(
  id: number,
  address: string,
  on: Partial<Endpoint['flags']>,
  ifname: string | null = null,
): Endpoint {
  return {
    id,
    family: 'inet',
    address,
    port: null,
    ifindex: ifname === 'eth1' ? 3 : ifname === 'eth0' ? 2 : null,
    ifname,
    flags: { ...noFlags, ...on },
    rawFlags: 0,
  };
}

/** The host of the report: 10.91.2.1 on eth1 is a subflow endpoint (id 2). */
const overview = (over: Partial<Overview> = {}): Overview => ({
  status: kernelStatus({
    mptcpSysctls: [
      { name: 'net.mptcp.enabled', value: '1', writable: true },
      { name: 'net.mptcp.add_addr_timeout', value: '120', writable: true },
      { name: 'net.mptcp.path_manager', value: 'kernel', writable: true },
    ],
  }),
  limits: { subflows: 6, addAddrAccepted: 2 },
  endpoints: [endpoint(2, '10.91.2.1', { subflow: true }, 'eth1')],
  interfaces: [ifc(2, 'eth0', ['10.91.1.1']), ifc(3, 'eth1', ['10.91.2.1'])],
  errors: [],
  ...over,
});

function subflow(localAddress: string, localPort: number, token: number): Subflow {
  return {
    family: 'inet',
    state: 'ESTABLISHED',
    localAddress,
    localPort,
    remoteAddress: '10.91.9.9',
    remotePort: 5201,
    ifindex: 0,
    tokenLocal: token,
    tokenRemote: 0,
    localId: 0,
    remoteId: 0,
    flags: {
      mcapRem: false,
      mcapLoc: false,
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
    rttUs: 1000,
    rttVarUs: 100,
    minRttUs: 900,
    cwndPkts: 10,
    ssthreshPkts: null,
    mssBytes: 1448,
    pmtuBytes: 1500,
    rtoUs: 200000,
    unackedPkts: 0,
    lostPkts: 0,
    totalRetransPkts: 0,
    bytesAcked: 0,
    bytesReceived: 0,
    bytesSent: 0,
    bytesRetrans: 0,
    deliveryRateBytesPerSec: 0,
    pacingRateBytesPerSec: null,
    ifname: null,
    backoffCount: 0,
    probesCount: 0,
    deliveryRateAppLimited: false,
    lastDataSentAtMs: null,
    lastDataRecvAtMs: null,
    lastAckRecvAtMs: null,
  };
}

/** Three connections, each with its initial subflow on eth0 and two subflows from 10.91.2.1. */
function live(): ConnectionsSnapshot {
  const conn = (token: number): Connection => ({
    token,
    family: 'inet',
    state: 'ESTABLISHED',
    localAddress: '10.91.1.1',
    localPort: 40000 + token,
    remoteAddress: '10.91.9.9',
    remotePort: 5201,
    inode: token,
    subflowsTotal: 3,
    fallback: false,
    remoteKeyReceived: true,
    addAddrSignal: 0,
    addAddrAccepted: 1,
    subflowsMax: 6,
    checksumEnabled: false,
    retransmits: 0,
    bytesSent: 0,
    bytesReceived: 0,
    bytesAcked: 0,
    bytesRetrans: 0,
    subflows: [
      subflow('10.91.1.1', 40000 + token, token),
      subflow('10.91.2.1', 41000 + token, token),
      subflow('10.91.2.1', 42000 + token, token),
    ],
  });
  return {
    takenAtMs: 1_700_000_000_000,
    pollDurationUs: 100,
    connections: [1, 2, 3].map(conn),
    orphanSubflows: 0,
  };
}

const flags = (on: string[]): EndpointFlagsInput => ({
  signal: on.includes('signal'),
  subflow: on.includes('subflow'),
  backup: on.includes('backup'),
  fullmesh: on.includes('fullmesh'),
  laminar: on.includes('laminar'),
});

const kinds = (steps: Step[]): string[] => steps.map((s) => s.kind);

describe('endpoint flags change in place', () => {
  it('toggling backup is one SET_FLAGS step that keeps every live subflow, not a delete and an add', () => {
    const view = planView(
      overview(),
      { endpoints: [{ address: '10.91.2.1', ifname: 'eth1', flags: flags(['subflow', 'backup']) }] },
      { connections: live() },
    );
    expect(view.errors).toEqual([]);
    expect(view.steps.map((s) => s.step.kind)).toEqual(['endpoint-flags']);
    const [step] = view.steps;
    expect(step!.description).toBe('Change endpoint id 2 10.91.2.1 in place: backup on');
    // Both flags named: iproute2's `change` clears the flag it is not given.
    expect(step!.shell).toBe('ip mptcp endpoint change id 2 backup nofullmesh');
    expect(step!.impact).toEqual({
      level: 'live',
      text: '6 live subflows of 3 connections from 10.91.2.1 become backup (MP_PRIO, RFC 8684 §3.3.8); all stay open',
      closes: null,
    });
    expect(disruptions(view)).toEqual([]);
    expect(view.live).toEqual({ connections: 3, subflows: 9, takenAtMs: 1_700_000_000_000 });
  });

  it('the inverse of a flags step puts the flags back, in place too', () => {
    const [step] = planConfig(overview(), {
      endpoints: [{ address: '10.91.2.1', flags: flags(['subflow', 'backup', 'fullmesh']) }],
    }).steps;
    expect(step).toMatchObject({ kind: 'endpoint-flags', to: { backup: true, fullmesh: true } });
    const inv = invertStep(step!)!;
    expect(inv).toMatchObject({
      kind: 'endpoint-flags',
      endpoint: { id: 2, flags: { backup: true, fullmesh: true } },
      to: { backup: false, fullmesh: false },
    });
    expect(shellForStep(inv)).toBe('ip mptcp endpoint change id 2 nobackup nofullmesh');
    expect(invertStep(inv)).toEqual(step);
  });

  it('a fullmesh change on a subflow endpoint is in place but closes its subflows: consent needed', () => {
    const view = planView(
      overview(),
      { endpoints: [{ address: '10.91.2.1', flags: flags(['subflow', 'fullmesh']) }] },
      { connections: live() },
    );
    expect(view.steps.map((s) => s.step.kind)).toEqual(['endpoint-flags']);
    expect(view.steps[0]!.impact).toMatchObject({
      level: 'closes',
      closes: { subflows: 6, connections: 3, address: '10.91.2.1' },
    });
    expect(view.steps[0]!.impact.text).toMatch(/^closes 6 live subflows of 3 connections \(10\.91\.2\.1\)/);
    expect(disruptions(view)).toHaveLength(1);
  });

  it('signal instead of subflow, another interface or port: a delete and an add, which close subflows', () => {
    const announced = '; the address is announced again, and peers join it only as their limits allow';
    const opened = '; the endpoint added again opens new subflows only as the limits allow';
    for (const [e, rest] of [
      [{ address: '10.91.2.1', flags: flags(['signal']) }, announced],
      [{ address: '10.91.2.1', ifname: 'eth0', flags: flags(['subflow']) }, opened],
      [{ address: '10.91.2.1', port: 10000, flags: flags(['signal']) }, announced],
    ] as const) {
      const view = planView(overview(), { endpoints: [e] }, { connections: live() });
      expect(view.steps.map((s) => s.step.kind)).toEqual(['endpoint-del', 'endpoint-add']);
      expect(view.steps[0]!.impact.text).toBe(`closes 6 live subflows of 3 connections (10.91.2.1)${rest}`);
      expect(disruptions(view)).toEqual([`Remove endpoint id 2 10.91.2.1: ${view.steps[0]!.impact.text}`]);
    }
  });

  it('an address in another spelling is the same endpoint', () => {
    const o = overview({
      endpoints: [{ ...endpoint(4, '2001:db8::4', { subflow: true }), family: 'inet6' }],
    });
    const p = planConfig(o, {
      endpoints: [{ address: '2001:DB8:0::4', flags: flags(['subflow', 'backup']) }],
    });
    expect(kinds(p.steps)).toEqual(['endpoint-flags']);
  });
});

describe('impact on live traffic', () => {
  it('removing an endpoint says how many live subflows of how many connections it closes', () => {
    const view = planView(overview(), { endpoints: [] }, { connections: live() });
    expect(view.steps[0]!.impact).toEqual({
      level: 'closes',
      text: 'closes 6 live subflows of 3 connections (10.91.2.1)',
      closes: { subflows: 6, connections: 3, address: '10.91.2.1' },
    });
  });

  it('without the live connections, a removal counts as closing them (consent still needed)', () => {
    const view = planView(overview(), { endpoints: [] }, { connections: null });
    expect(view.live).toBeNull();
    expect(view.steps[0]!.impact).toMatchObject({ level: 'closes', closes: null });
    expect(view.steps[0]!.impact.text).toContain('could not be read');
    expect(disruptions(view)).toHaveLength(1);
  });

  it('with no subflow from the address, a removal is harmless', () => {
    const quiet = { ...live(), connections: [] };
    const view = planView(overview(), { endpoints: [] }, { connections: quiet });
    expect(view.steps[0]!.impact).toEqual({
      level: 'none',
      text: 'no live subflow uses 10.91.2.1',
      closes: null,
    });
    expect(disruptions(view)).toEqual([]);
  });

  it('congestion control, scheduler and path manager apply to new connections only', () => {
    const view = planView(
      overview(),
      { congestionControl: 'reno', pathManager: 'userspace' },
      { connections: live() },
    );
    const byName = Object.fromEntries(
      view.steps.map((s) => [s.step.kind === 'sysctl' ? s.step.name : s.step.kind, s.impact]),
    );
    expect(byName['net.ipv4.tcp_congestion_control']).toEqual({
      level: 'new',
      text: 'applies to new connections only: 9 live subflows of 3 connections stay on cubic (and so do the subflows those connections open later)',
      closes: null,
    });
    expect(byName['net.mptcp.path_manager']).toMatchObject({
      level: 'new',
      text: 'applies to new connections only: 3 live connections keep the path manager they started with',
    });
    expect(disruptions(view)).toEqual([]);
  });

  it('an MTU raised leaves live subflows their MSS; lowered, they shrink their segments', () => {
    const up = planView(overview(), { mtu: { eth1: 9000 } }, { connections: live() });
    expect(up.steps[0]!.impact).toEqual({
      level: 'new',
      text: 'existing subflows on eth1 keep their MSS (agreed at their handshake); new ones can use the larger MTU',
      closes: null,
    });
    const down = planView(overview(), { mtu: { eth1: 1400 } }, { connections: live() });
    expect(down.steps[0]!.impact).toEqual({
      level: 'live',
      text: '6 live subflows of 3 connections on eth1 lower their MSS to fit; none closes',
      closes: null,
    });
  });

  it('adding an endpoint and changing limits close nothing', () => {
    const view = planView(
      overview(),
      {
        limits: { subflows: 8, addAddrAccepted: 2 },
        endpoints: [
          { address: '10.91.2.1', ifname: 'eth1', flags: flags(['subflow']) },
          { address: '10.91.1.1', flags: flags(['signal']) },
        ],
      },
      { connections: live() },
    );
    expect(view.steps.map((s) => [s.step.kind, s.impact.level])).toEqual([
      ['limits', 'live'],
      ['endpoint-add', 'live'],
    ]);
    expect(view.steps[0]!.impact.text).toBe('live connections may open more subflows (up to 8)');
    expect(disruptions(view)).toEqual([]);
  });
});

describe('no-op steps and order', () => {
  it('a limits step names only what changes ("subflows 6 → 6" is not said)', () => {
    const [step] = planConfig(overview(), { limits: { subflows: 6, addAddrAccepted: 4 } }).steps;
    expect(describeStep(step!)).toBe('Set path manager limits: add_addr_accepted 2 → 4');
  });

  it('steps that change nothing are neither planned nor shown', () => {
    const p = planConfig(overview(), {
      limits: { subflows: 6, addAddrAccepted: 2 },
      enabled: true,
      sysctls: { addAddrTimeoutS: 120 },
      buffers: { tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 6291456 } },
      mtu: { eth1: 1500 },
      endpoints: [{ address: '10.91.2.1', ifname: 'eth1', flags: flags(['subflow']) }],
    });
    expect(p.steps).toEqual([]);
    expect(
      isNoopStep({
        kind: 'sysctl',
        name: 'net.ipv4.tcp_rmem',
        from: '4096\t131072\t6291456',
        to: '4096 131072 6291456',
      }),
    ).toBe(true);
    expect(
      isNoopStep({
        kind: 'limits',
        from: { subflows: 6, addAddrAccepted: 2 },
        to: { subflows: 6, addAddrAccepted: 2 },
      }),
    ).toBe(true);
  });

  it('MTU changes come before the endpoint steps', () => {
    const p = planConfig(overview(), {
      endpoints: [{ address: '10.91.1.1', ifname: 'eth0', flags: flags(['subflow']) }],
      limits: { subflows: 8, addAddrAccepted: 2 },
      mtu: { eth0: 1400 },
      congestionControl: 'reno',
    });
    expect(kinds(p.steps)).toEqual(['mtu', 'endpoint-del', 'limits', 'endpoint-add', 'sysctl']);
  });
});
