/**
 * Applies that keep live traffic, and outcomes that are told: on a fake kernel with one endpoint
 * carrying live subflows. The real kernel path is covered by impact.int.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConfigOutcome } from '../../../shared/config-api';
import type { EndpointSpec, InPlaceFlags } from '../../../shared/plan';
import { ApiFailure } from '../../../shared/result';
import { kernelStatus, unreadBuffers } from '../../../shared/testing/status-fixtures';
import type { ConnectionsSnapshot, Endpoint, Overview, Subflow } from '../../../shared/types';
import type { KernelWriter } from './apply';
import { ConfigManager } from './config-manager';

interface FakeKernel {
  endpoints: Endpoint[];
  addAddrTimeout: string;
  calls: string[];
  failSysctl: boolean;
}

const noFlags = {
  signal: false,
  subflow: false,
  backup: false,
  fullmesh: false,
  implicit: false,
  laminar: false,
};

function kernel(): FakeKernel {
  return {
    endpoints: [
      {
        id: 2,
        family: 'inet',
        address: '10.91.2.1',
        port: null,
        ifindex: 3,
        ifname: 'eth1',
        flags: { ...noFlags, subflow: true },
        rawFlags: 2,
      },
    ],
    addAddrTimeout: '120',
    calls: [],
    failSysctl: false,
  };
}

function overviewOf(k: FakeKernel): Overview {
  return {
    status: kernelStatus({
      netns: 'lab',
      inInitNetns: false,
      buffers: unreadBuffers,
      mptcpSysctls: [{ name: 'net.mptcp.add_addr_timeout', value: k.addAddrTimeout, writable: true }],
    }),
    limits: { subflows: 2, addAddrAccepted: 2 },
    endpoints: k.endpoints.map((e) => ({ ...e, flags: { ...e.flags } })),
    interfaces: [
      {
        index: 3,
        name: 'eth1',
        operState: 'up',
        operStateRaw: 6,
        adminUp: true,
        running: true,
        usable: true,
        loopback: false,
        mtuBytes: 1500,
        minMtuBytes: 68,
        maxMtuBytes: 9000,
        addresses: [{ family: 'inet', address: '10.91.2.1', prefixLen: 24, scope: 0 }],
      },
    ],
    errors: [],
  };
}

function writerOf(k: FakeKernel): KernelWriter {
  const unused = (): Promise<never> => Promise.reject(new Error('unused'));
  return {
    writeSysctl: (name, value) => {
      k.calls.push(`sysctl ${name}=${value}`);
      if (k.failSysctl) return Promise.reject(new ApiFailure('EPERM', 'not permitted'));
      k.addAddrTimeout = value;
      return Promise.resolve();
    },
    setLimits: unused,
    addRule: unused,
    delRule: unused,
    addRoute: unused,
    delRoute: unused,
    addEndpoint: (spec: EndpointSpec) => {
      k.calls.push(`add ${spec.address}`);
      const id = spec.id || 7;
      k.endpoints.push({
        id,
        family: 'inet',
        address: spec.address,
        port: spec.port,
        ifindex: spec.ifindex,
        ifname: spec.ifname,
        flags: { ...noFlags, ...spec.flags },
        rawFlags: 2,
      });
      return Promise.resolve(id);
    },
    delEndpoint: (id) => {
      k.calls.push(`del ${id}`);
      k.endpoints = k.endpoints.filter((e) => e.id !== id);
      return Promise.resolve();
    },
    setEndpointFlags: (id: number, flags: InPlaceFlags) => {
      k.calls.push(`flags ${id} backup=${flags.backup} fullmesh=${flags.fullmesh}`);
      const e = k.endpoints.find((x) => x.id === id)!;
      e.flags = { ...e.flags, ...flags };
      return Promise.resolve();
    },
    setMtu: unused,
    registerCc: unused,
    unregisterCc: unused,
  };
}

/** Three connections with two subflows each from 10.91.2.1. */
function live(): ConnectionsSnapshot {
  const sf = (port: number, token: number): Subflow =>
    ({
      state: 'ESTABLISHED',
      localAddress: '10.91.2.1',
      localPort: port,
      congestionControl: 'cubic',
      ifindex: 0,
      tokenLocal: token,
    }) as Subflow;
  return {
    takenAtMs: 1,
    pollDurationUs: 1,
    orphanSubflows: 0,
    connections: [1, 2, 3].map(
      (token) =>
        ({
          token,
          fallback: false,
          subflows: [sf(41000 + token, token), sf(42000 + token, token)],
        }) as ConnectionsSnapshot['connections'][number],
    ),
  };
}

function setup(): { k: FakeKernel; m: ConfigManager; outcomes: ConfigOutcome[] } {
  const k = kernel();
  const outcomes: ConfigOutcome[] = [];
  const m = new ConfigManager({
    overview: () => Promise.resolve(overviewOf(k)),
    writer: writerOf(k),
    connections: () => Promise.resolve(live()),
    onOutcome: (o) => outcomes.push(o),
  });
  return { k, m, outcomes };
}

const subflowEndpoint = (on: string[]) => ({
  endpoints: [
    {
      address: '10.91.2.1',
      ifname: 'eth1',
      flags: {
        signal: on.includes('signal'),
        subflow: on.includes('subflow'),
        backup: on.includes('backup'),
        fullmesh: false,
        laminar: false,
      },
    },
  ],
});

afterEach(() => vi.useRealTimers());

describe('applies that keep live traffic', () => {
  it('a backup toggle is one in-place SET_FLAGS: the endpoint keeps its id, nothing is deleted', async () => {
    const { k, m } = setup();
    const plan = await m.plan(subflowEndpoint(['subflow', 'backup']));
    expect(plan.steps.map((s) => s.impact.level)).toEqual(['live']);
    const r = await m.apply(subflowEndpoint(['subflow', 'backup']), null);
    expect(r.ok).toBe(true);
    expect(k.calls).toEqual(['flags 2 backup=true fullmesh=false']);
    expect(k.endpoints).toMatchObject([{ id: 2, flags: { subflow: true, backup: true } }]);
  });

  it('a step that closes live subflows is refused without consent, and nothing changes', async () => {
    const { k, m, outcomes } = setup();
    const r = await m.apply({ ...subflowEndpoint(['signal']), sysctls: { addAddrTimeoutS: 60 } }, null);
    expect(r.ok).toBe(false);
    expect(r.needsConsent).toBe(true);
    expect(r.applied).toEqual([]);
    expect(r.planErrors[0]).toBe(
      'Remove endpoint id 2 10.91.2.1: closes 6 live subflows of 3 connections (10.91.2.1); the address is announced again, and peers join it only as their limits allow',
    );
    expect(r.planErrors[1]).toContain('--allow-disruption');
    expect(k.calls).toEqual([]);
    expect(outcomes).toEqual([]);
    // With consent it goes ahead.
    const ok = await m.apply(
      { ...subflowEndpoint(['signal']), sysctls: { addAddrTimeoutS: 60 } },
      null,
      true,
    );
    expect(ok.ok).toBe(true);
    expect(k.calls).toEqual(['del 2', 'sysctl net.mptcp.add_addr_timeout=60', 'add 10.91.2.1']);
  });

  it('an unreadable connections list counts as live subflows: consent is needed', async () => {
    const k = kernel();
    const m = new ConfigManager({
      overview: () => Promise.resolve(overviewOf(k)),
      writer: writerOf(k),
      connections: () => Promise.reject(new ApiFailure('EPERM', 'no sock_diag')),
    });
    const plan = await m.plan({ endpoints: [] });
    expect(plan.live).toBeNull();
    const r = await m.apply({ endpoints: [] }, null);
    expect([r.ok, r.needsConsent, k.calls]).toEqual([false, true, []]);
  });
});

describe('outcomes are told', () => {
  it('apply, then the automatic revert at the deadline, with the window and the undo steps', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { k, m, outcomes } = setup();
    const r = await m.apply({ sysctls: { addAddrTimeoutS: 60 } }, 15);
    expect(r.revertAtMs).not.toBeNull();
    expect(outcomes.map((o) => o.kind)).toEqual(['applied']);
    expect(outcomes[0]).toMatchObject({
      confirmWithinS: 15,
      revertAtMs: r.revertAtMs,
      steps: [{ description: 'Set net.mptcp.add_addr_timeout from 120 to 60', ok: true, error: null }],
    });
    await vi.advanceTimersByTimeAsync(15_000);
    expect(outcomes.map((o) => [o.kind, o.reason])).toEqual([
      ['applied', null],
      ['reverted', 'deadline'],
    ]);
    expect(outcomes[1]).toMatchObject({
      confirmWithinS: 15,
      restored: true,
      steps: [{ description: 'Set net.mptcp.add_addr_timeout from 60 to 120', ok: true, error: null }],
    });
    expect(k.addAddrTimeout).toBe('120');
  });

  it('confirm, revert on request and revert on shutdown are told with their reason', async () => {
    const { m, outcomes } = setup();
    await m.apply({ sysctls: { addAddrTimeoutS: 60 } }, 30);
    await m.confirm();
    await m.apply({ sysctls: { addAddrTimeoutS: 90 } }, 30);
    await m.revert('user');
    await m.apply({ sysctls: { addAddrTimeoutS: 45 } }, 30);
    await m.close();
    expect(outcomes.map((o) => [o.kind, o.reason])).toEqual([
      ['applied', null],
      ['confirmed', null],
      ['applied', null],
      ['reverted', 'user'],
      ['applied', null],
      ['reverted', 'shutdown'],
    ]);
  });

  it('a failed apply is told with the failed step, the rollback and whether the state is back', async () => {
    const { k, m, outcomes } = setup();
    k.failSysctl = true;
    const r = await m.apply({ endpoints: [], sysctls: { addAddrTimeoutS: 60 } }, null, true);
    expect(r.ok).toBe(false);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({
      kind: 'apply-failed',
      restored: true,
      steps: [{ description: 'Remove endpoint id 2 10.91.2.1', ok: true }],
      failed: { description: 'Set net.mptcp.add_addr_timeout from 120 to 60', error: 'EPERM: not permitted' },
      rolledBack: [{ description: 'Add endpoint 10.91.2.1 (subflow) on eth1', ok: true }],
    });
  });
});
