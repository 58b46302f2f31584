/**
 * Confirm-or-revert with a coupled CC, on a fake writer that behaves like the shipped agent: it
 * registers (CAP_BPF + CAP_PERFMON) but cannot unregister (no CAP_SYS_ADMIN: EPERM). The real
 * kernel path is covered by cc.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { CcId, CcStatus } from '../../../shared/cc';
import { ApiFailure } from '../../../shared/result';
import { kernelStatus, oliaStatus, unreadBuffers } from '../../../shared/testing/status-fixtures';
import type { Overview } from '../../../shared/types';
import type { KernelWriter } from './apply';
import { ConfigManager } from './config-manager';

interface FakeKernel {
  defaultCc: string;
  registered: Set<string>;
  rmemMax: number;
  calls: string[];
  /** Names of writer methods that fail once, next time they are called. */
  failOnce: Set<string>;
}

function overviewOf(k: FakeKernel): Overview {
  return {
    status: kernelStatus({
      netns: 'lab',
      inInitNetns: false,
      congestionControl: {
        default: k.defaultCc,
        available: ['reno', 'cubic', ...k.registered],
        allowed: ['reno', 'cubic', ...k.registered],
      },
      buffers: { ...unreadBuffers, rmemMaxBytes: k.rmemMax },
    }),
    limits: null,
    endpoints: [],
    interfaces: [],
    errors: [],
  };
}

/** OLIA as the shipped agent reports it: it may register but not unregister. */
function oliaOf(k: FakeKernel): CcStatus {
  return oliaStatus({
    registered: k.registered.has('mptcp_olia'),
    bpfRegistered: null,
    isNamespaceDefault: k.defaultCc === 'mptcp_olia',
    unloadBlockedReason: 'unloading needs CAP_SYS_ADMIN',
  });
}

function setup(): { k: FakeKernel; manager: (inject?: number) => ConfigManager } {
  const k: FakeKernel = {
    defaultCc: 'cubic',
    registered: new Set(),
    rmemMax: 212992,
    calls: [],
    failOnce: new Set(),
  };
  const maybeFail = (what: string): void => {
    k.calls.push(what);
    if (k.failOnce.delete(what)) throw new ApiFailure('EINVAL', `${what}: injected`);
  };
  const writer: KernelWriter = {
    writeSysctl: (name, value) => {
      maybeFail('writeSysctl');
      if (name === 'net.ipv4.tcp_congestion_control') {
        if (!['reno', 'cubic', ...k.registered].includes(value)) throw new ApiFailure('ENOENT', value);
        k.defaultCc = value;
      } else if (name === 'net.core.rmem_max') k.rmemMax = Number(value);
      return Promise.resolve();
    },
    setLimits: () => Promise.reject(new Error('unused')),
    addEndpoint: () => Promise.reject(new Error('unused')),
    delEndpoint: () => Promise.reject(new Error('unused')),
    setEndpointFlags: () => Promise.reject(new Error('unused')),
    setMtu: () => Promise.reject(new Error('unused')),
    addRule: () => Promise.reject(new Error('unused')),
    delRule: () => Promise.reject(new Error('unused')),
    addRoute: () => Promise.reject(new Error('unused')),
    delRoute: () => Promise.reject(new Error('unused')),
    registerCc: (name: CcId) => {
      maybeFail('registerCc');
      k.registered.add(name);
      return Promise.resolve();
    },
    // The shipped agent: bpftool cannot walk map ids without CAP_SYS_ADMIN.
    unregisterCc: (name: CcId) => {
      k.calls.push('unregisterCc');
      return Promise.reject(new ApiFailure('EPERM', `not permitted to unregister ${name}`));
    },
  };
  return {
    k,
    manager: (inject) =>
      new ConfigManager({
        overview: () => Promise.resolve(overviewOf(k)),
        ccStatus: () => Promise.resolve([oliaOf(k)]),
        writer,
        ...(inject === undefined ? {} : { injectFailureAt: inject }),
      }),
  };
}

describe('ConfigManager with a coupled CC', () => {
  it('the plan says the CC stays registered, and how to unload it', async () => {
    const { manager } = setup();
    const plan = await manager().plan({ congestionControl: 'mptcp_olia' });
    expect(plan.errors).toEqual([]);
    expect(plan.warnings).toEqual([
      'mptcp_olia stays registered (global, harmless) even if this change is reverted or rolled back; unload it from the Configure page or `mptcp-studio cc unload mptcp_olia`',
    ]);
  });

  it('a revert restores the prior default and keeps the CC registered (no unregister attempted)', async () => {
    const { k, manager } = setup();
    const m = manager();
    const applied = await m.apply({ congestionControl: 'mptcp_olia' }, 60);
    expect(applied.ok).toBe(true);
    expect(applied.revertAtMs).not.toBeNull();
    expect(k.defaultCc).toBe('mptcp_olia');
    const r = await m.revert();
    expect([r.ok, r.restored, r.revertAtMs]).toEqual([true, true, null]);
    expect(r.applied.map((s) => s.description)).toEqual([
      'Set net.ipv4.tcp_congestion_control from mptcp_olia to cubic',
    ]);
    expect(k.defaultCc).toBe('cubic');
    expect(k.registered.has('mptcp_olia')).toBe(true);
    expect(k.calls).not.toContain('unregisterCc');
    // Nothing is pending any more.
    await expect(m.confirm()).rejects.toThrow(/no change is waiting/);
  });

  it('a failed revert keeps the change pending, says restored: false, and can be retried', async () => {
    const { k, manager } = setup();
    const m = manager();
    await m.apply({ congestionControl: 'mptcp_olia', buffers: { rmemMaxBytes: 4194304 } }, 60);
    expect([k.defaultCc, k.rmemMax]).toEqual(['mptcp_olia', 4194304]);
    // Undo order: rmem_max back (ok), then the default back (fails), so rmem_max is re-applied.
    k.failOnce.add('writeSysctl');
    k.calls.length = 0;
    const failed = await m.revert();
    expect(failed.ok).toBe(false);
    expect(failed.restored).toBe(false);
    expect(failed.revertAtMs).not.toBeNull();
    expect([k.defaultCc, k.rmemMax]).toEqual(['mptcp_olia', 4194304]);
    const retry = await m.revert();
    expect([retry.ok, retry.restored]).toEqual([true, true]);
    expect([k.defaultCc, k.rmemMax]).toEqual(['cubic', 212992]);
    expect(k.calls).not.toContain('unregisterCc');
  });

  it('restored compares with the state before the apply, not the one before the revert', async () => {
    const { k, manager } = setup();
    const m = manager();
    await m.apply({ congestionControl: 'mptcp_olia' }, 60);
    // Someone else changes a value in between: the revert works, but the prior state is not back.
    k.rmemMax = 1000000;
    const r = await m.revert();
    expect([r.ok, r.restored]).toEqual([true, false]);
  });

  it('a failed apply rolls back the default but keeps the registration, and says restored: true', async () => {
    const { k, manager } = setup();
    const report = await manager(1).apply({ congestionControl: 'mptcp_olia' }, null);
    expect(report.ok).toBe(false);
    expect(report.applied.map((s) => s.step.kind)).toEqual(['cc-register']);
    expect(report.rolledBack).toEqual([]);
    expect(report.restored).toBe(true);
    expect(k.defaultCc).toBe('cubic');
    expect(k.registered.has('mptcp_olia')).toBe(true);
    expect(k.calls).not.toContain('unregisterCc');
  });
});
