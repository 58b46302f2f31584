/**
 * A typed stand-in for the engine backend, for host-layer tests (web host, IPC, agent framing).
 * It stands in for the engine, not for the kernel: kernel-facing code is tested against the real
 * kernel in *.int.test.ts files.
 */
import type { KernelHandlers } from '../../shared/contract';
import type { PmStatus } from '../../shared/pm';
import type { ConnectionsSnapshot, KernelStatus } from '../../shared/types';
import type { EngineBackend } from '../engine/service';
import type { CcStatus } from '../../shared/cc';

export const sampleStatus: KernelStatus = {
  netns: 'lab',
  kernelRelease: '6.18.0-test',
  inInitNetns: false,
  mptcpSupported: true,
  enabled: true,
  pathManager: 'kernel',
  availablePathManagers: ['kernel', 'userspace'],
  scheduler: 'default',
  availableSchedulers: ['default'],
  congestionControl: { default: 'cubic', available: ['reno', 'cubic'], allowed: ['reno', 'cubic'] },
  buffers: {
    tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 33554432 },
    tcpWmem: { minBytes: 4096, defaultBytes: 16384, maxBytes: 4194304 },
    rmemMaxBytes: 4194304,
    wmemMaxBytes: 4194304,
  },
  readOnlySysctls: [],
  mptcpSysctls: [{ name: 'net.mptcp.enabled', value: '1', writable: true }],
  privileges: { netAdmin: true, note: null },
};

export const sampleCcStatus: CcStatus = {
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
  objectPath: '/opt/mptcp-studio/bpf/mptcp_lia.bpf.o',
  missingKfuncs: [],
};

export const emptySnapshot: ConnectionsSnapshot = {
  takenAtMs: 1,
  pollDurationUs: 10,
  connections: [],
  orphanSubflows: 0,
};

export const stoppedPmStatus: PmStatus = {
  running: false,
  mode: null,
  role: null,
  manager: null,
  subflows: null,
  startedAtMs: null,
  pathManager: 'kernel',
  previousPathManager: null,
  recovered: false,
  connections: 0,
  leftOut: [],
  warnings: [],
  detected: { mptcpd: false, networkManager: false },
  orphan: null,
  recentActions: [],
};

export function fakeBackend(
  overrides: Partial<KernelHandlers> = {},
): EngineBackend & { closed: boolean; calls: string[] } {
  const calls: string[] = [];
  const base: KernelHandlers = {
    'mptcp:status:get': () => Promise.resolve(sampleStatus),
    'mptcp:endpoints:list': () => Promise.resolve([]),
    'mptcp:limits:get': () => Promise.resolve({ subflows: 2, addAddrAccepted: 0 }),
    'mptcp:interfaces:list': () => Promise.resolve([]),
    'mptcp:connections:list': () => Promise.resolve(emptySnapshot),
    'mptcp:overview:get': () =>
      Promise.resolve({ status: sampleStatus, limits: null, endpoints: [], interfaces: [], errors: [] }),
    'mptcp:connection:get': () => Promise.resolve(null),
    'mptcp:events:watch': ({ on }) => Promise.resolve({ mptcp: on, interfaces: on, note: null }),
    'mptcp:counters:get': () => Promise.resolve({ takenAtMs: 1, counters: { MPJoinRejected: 0 } }),
    'mptcp:config:export': () => Promise.resolve({ enabled: true }),
    'mptcp:config:plan': () => Promise.resolve({ steps: [], errors: [], warnings: [], live: null }),
    'mptcp:config:apply': () =>
      Promise.resolve({
        ok: true,
        planErrors: [],
        applied: [],
        failed: null,
        rolledBack: [],
        restored: null,
        revertAtMs: null,
      }),
    'mptcp:config:confirm': () => Promise.resolve({ revertAtMs: null }),
    'mptcp:config:revert': () => Promise.reject(new Error('nothing to revert')),
    'mptcp:cc:list': () => Promise.resolve([sampleCcStatus]),
    'mptcp:cc:load': () =>
      Promise.resolve({
        changed: true,
        message: 'registered mptcp_lia',
        status: { ...sampleCcStatus, registered: true, bpfRegistered: true },
      }),
    'mptcp:cc:unload': () =>
      Promise.resolve({ changed: false, message: 'mptcp_lia is not registered', status: sampleCcStatus }),
    'mptcp:pm:status': () => Promise.resolve(stoppedPmStatus),
    'mptcp:pm:start': (a) =>
      Promise.resolve({
        ...stoppedPmStatus,
        running: true,
        mode: a.mode,
        role: a.role,
        manager: a.manager,
        subflows: a.subflows ?? 16,
        startedAtMs: 1,
        pathManager: a.manager,
        previousPathManager: 'kernel',
      }),
    'mptcp:pm:stop': () => Promise.resolve(stoppedPmStatus),
    'mptcp:probe:trace': ({ runId }) => Promise.resolve({ runId, startedAtMs: 1 }),
    'mptcp:probe:scan': ({ runId }) => Promise.resolve({ runId, startedAtMs: 1 }),
    'mptcp:probe:subflows': ({ runId }) => Promise.resolve({ runId, startedAtMs: 1 }),
    'mptcp:probe:cancel': () => Promise.resolve({ cancelled: false }),
    'mptcp:probe:history': () => Promise.resolve([]),
    'mptcp:probe:get': () => Promise.resolve(null),
  };
  const handlers: KernelHandlers = { ...base, ...overrides };
  const counted = Object.fromEntries(
    Object.entries(handlers).map(([k, fn]) => [
      k,
      (args: never) => {
        calls.push(k);
        return (fn as (a: never) => Promise<unknown>)(args);
      },
    ]),
  ) as unknown as KernelHandlers;
  const backend = {
    handlers: counted,
    closed: false,
    calls,
    close() {
      backend.closed = true;
    },
  };
  return backend;
}
