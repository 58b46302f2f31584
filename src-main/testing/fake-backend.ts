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
import { ccStatus, kernelStatus, pmStatus } from '../../shared/testing/status-fixtures';

/** The fake engine looks at a lab namespace (not the host's). */
export const sampleStatus: KernelStatus = kernelStatus({ netns: 'lab', inInitNetns: false });

export const sampleCcStatus: CcStatus = ccStatus();

export const emptySnapshot: ConnectionsSnapshot = {
  takenAtMs: 1,
  pollDurationUs: 10,
  connections: [],
  orphanSubflows: 0,
};

export const stoppedPmStatus: PmStatus = pmStatus();

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
    'mptcp:cc:repairs': () => Promise.resolve({ error: null, counts: [] }),
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
