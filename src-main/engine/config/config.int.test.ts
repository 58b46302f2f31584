/**
 * Configuration against the real kernel, in a lab namespace, through the per-namespace agent.
 * "Exact prior state" is checked with the kernel's own tools (ip, sysctl), byte for byte.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MptcpConfig } from '../../../shared/config';
import type { ApplyReport, PlanView } from '../../../shared/config-api';
import type { Result } from '../../../shared/result';
import { ip, Lab, labUnavailableReason, nsRun } from '../../lab/lab';
import { openEngine, type EngineService } from '../index';

async function kernelState(ns: string): Promise<string> {
  const parts = await Promise.all([
    ip(['-n', ns, 'mptcp', 'endpoint', 'show']),
    ip(['-n', ns, 'mptcp', 'limits', 'show']),
    nsRun(ns, 'sysctl', [
      'net.mptcp',
      'net.ipv4.tcp_congestion_control',
      'net.ipv4.tcp_rmem',
      'net.ipv4.tcp_wmem',
    ]),
    ip(['-n', ns, '-o', 'link', 'show']),
  ]);
  // Link lines carry counters-free flags and MTU; drop the volatile qdisc backlog-free rest.
  return parts.map((p) => p.stdout).join('\n--\n');
}

function value<T>(r: Result<unknown>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value as T;
}

/** A prior state worth restoring: endpoints the plan will delete, non-default limits. */
async function seed(ns: string): Promise<void> {
  await ip(['-n', ns, 'mptcp', 'endpoint', 'flush']);
  await ip(['-n', ns, 'mptcp', 'endpoint', 'add', '10.99.1.1', 'id', '3', 'signal', 'port', '10003']);
  await ip([
    '-n',
    ns,
    'mptcp',
    'endpoint',
    'add',
    '10.99.2.1',
    'id',
    '9',
    'dev',
    'c1',
    'subflow',
    'fullmesh',
  ]);
  await ip(['-n', ns, 'mptcp', 'limits', 'set', 'subflows', '2', 'add_addr_accepted', '1']);
  await nsRun(ns, 'sysctl', [
    '-q',
    '-w',
    'net.mptcp.add_addr_timeout=120',
    'net.ipv4.tcp_congestion_control=bbr',
  ]);
  await ip(['-n', ns, 'link', 'set', 'c1', 'mtu', '1500']);
}

/** Touches every kind of step: deletions, sysctls, limits, additions, CC, buffers, MTU. */
const desired: MptcpConfig = {
  limits: { subflows: 4, addAddrAccepted: 3 },
  endpoints: [
    {
      address: '10.99.2.1',
      ifname: 'c1',
      flags: { signal: false, subflow: true, backup: true, fullmesh: false, laminar: false },
    },
    {
      address: '10.99.1.1',
      id: 5,
      port: 10005,
      flags: { signal: true, subflow: false, backup: false, fullmesh: false, laminar: false },
    },
  ],
  sysctls: { addAddrTimeoutS: 60, closeTimeoutS: 30 },
  congestionControl: 'reno',
  buffers: { tcpRmem: { minBytes: 4096, defaultBytes: 262144, maxBytes: 8388608 } },
  mtu: { c1: 1400 },
};

describe.skipIf(labUnavailableReason() !== null)('configuration apply in a lab namespace', () => {
  let lab: Lab;
  const engines: EngineService[] = [];
  const engine = (env?: Record<string, string>): EngineService => {
    const e = openEngine({ netns: lab.client, ...(env ? { agentEnv: env } : {}) });
    engines.push(e);
    return e;
  };

  beforeAll(async () => {
    lab = await Lab.create({ paths: 2 });
  });
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.close()));
    await lab?.destroy();
  });
  beforeEach(async () => {
    await seed(lab.client);
  });

  it('plans every change with its shell equivalent and changes nothing', async () => {
    const before = await kernelState(lab.client);
    const plan = value<PlanView>(await engine().invoke('mptcp:config:plan', { config: desired }));
    expect(plan.errors).toEqual([]);
    const shell = plan.steps.map((s) => s.shell);
    expect(shell).toContain('ip mptcp endpoint delete id 3');
    // Same address, device and subflow flag: changed in place (MPTCP_PM_CMD_SET_FLAGS), id 9 kept.
    expect(shell).toContain('ip mptcp endpoint change id 9 backup nofullmesh');
    expect(shell).not.toContain('ip mptcp endpoint delete id 9');
    expect(shell).toContain('ip mptcp limits set subflows 4 add_addr_accepted 3');
    expect(shell).toContain('ip mptcp endpoint add 10.99.1.1 port 10005 id 5 signal');
    expect(shell).toContain('sysctl -w net.mptcp.add_addr_timeout=60');
    expect(shell).toContain('sysctl -w net.ipv4.tcp_congestion_control=reno');
    expect(shell).toContain('ip link set dev c1 mtu 1400');
    expect(await kernelState(lab.client)).toBe(before);
  });

  it('applies a multi-step change and the kernel shows it', async () => {
    const report = value<ApplyReport>(await engine().invoke('mptcp:config:apply', { config: desired }));
    expect(report.failed).toBeNull();
    expect(report.ok).toBe(true);
    const eps = JSON.parse(
      (await ip(['-n', lab.client, '-j', 'mptcp', 'endpoint', 'show'])).stdout,
    ) as Record<string, unknown>[];
    expect(eps).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ address: '10.99.2.1', dev: 'c1', subflow: true, backup: true }),
        expect.objectContaining({ address: '10.99.1.1', id: 5, port: 10005, signal: true }),
      ]),
    );
    expect(eps).toHaveLength(2);
    expect((await ip(['-n', lab.client, 'mptcp', 'limits', 'show'])).stdout).toMatch(
      /add_addr_accepted 3 subflows 4/,
    );
    const sysctl = async (n: string) => (await nsRun(lab.client, 'sysctl', ['-n', n])).stdout.trim();
    expect(await sysctl('net.mptcp.add_addr_timeout')).toBe('60');
    expect(await sysctl('net.mptcp.close_timeout')).toBe('30');
    expect(await sysctl('net.ipv4.tcp_congestion_control')).toBe('reno');
    expect((await sysctl('net.ipv4.tcp_rmem')).split(/\s+/)).toEqual(['4096', '262144', '8388608']);
    expect((await ip(['-n', lab.client, '-o', 'link', 'show', 'c1'])).stdout).toContain('mtu 1400');
  });

  it('rolls back to the exact prior state when any step fails', async () => {
    const plan = value<PlanView>(await engine().invoke('mptcp:config:plan', { config: desired }));
    expect(plan.steps.length).toBeGreaterThanOrEqual(7);
    for (let k = 0; k < plan.steps.length; k++) {
      await seed(lab.client);
      const before = await kernelState(lab.client);
      const e = engine({ MPTCP_STUDIO_TEST_FAIL_STEP: String(k) });
      const report = value<ApplyReport>(await e.invoke('mptcp:config:apply', { config: desired }));
      expect(report.ok, `step ${k}`).toBe(false);
      expect(report.failed?.description, `step ${k}`).toBe(plan.steps[k]?.description);
      expect(report.rolledBack, `step ${k}`).toHaveLength(k);
      expect(
        report.rolledBack.every((r) => r.ok),
        `step ${k}`,
      ).toBe(true);
      expect(report.restored, `step ${k}`).toBe(true);
      expect(await kernelState(lab.client), `state after a failure at step ${k}`).toBe(before);
      await e.close();
    }
  });

  it('rolls back a real kernel refusal half-way through', async () => {
    const before = await kernelState(lab.client);
    // A signal endpoint with a port opens a listener; on an address this host lacks the kernel refuses.
    const bad: MptcpConfig = {
      limits: { subflows: 5, addAddrAccepted: 5 },
      endpoints: [
        {
          address: '10.99.2.1',
          flags: { signal: false, subflow: true, backup: false, fullmesh: false, laminar: false },
        },
        {
          address: '10.123.0.1',
          port: 10009,
          flags: { signal: true, subflow: false, backup: false, fullmesh: false, laminar: false },
        },
      ],
    };
    const report = value<ApplyReport>(await engine().invoke('mptcp:config:apply', { config: bad }));
    expect(report.ok).toBe(false);
    expect(report.failed?.description).toMatch(/10\.123\.0\.1/);
    expect(report.failed?.error?.errno).toMatch(/^E[A-Z]+$/);
    expect(report.applied.length).toBeGreaterThan(0);
    expect(report.restored).toBe(true);
    expect(await kernelState(lab.client)).toBe(before);
  });

  it('refuses what the kernel does not offer before changing anything', async () => {
    const before = await kernelState(lab.client);
    const report = value<ApplyReport>(
      await engine().invoke('mptcp:config:apply', {
        config: {
          scheduler: 'minrtt',
          congestionControl: 'olia',
          limits: { subflows: 1, addAddrAccepted: 1 },
          mtu: { nope0: 1400 },
        },
      }),
    );
    expect(report.ok).toBe(false);
    expect(report.planErrors.join('\n')).toMatch(/scheduler "minrtt" is not available/);
    expect(report.planErrors.join('\n')).toMatch(/congestion control "olia" is not available/);
    expect(report.planErrors.join('\n')).toMatch(/interface nope0 does not exist/);
    // Outside the host's namespace a restricted CC cannot become the default (EPERM otherwise).
    const cubic = value<PlanView>(
      await engine().invoke('mptcp:config:plan', { config: { congestionControl: 'cubic' } }),
    );
    expect(cubic.errors.join('\n')).toMatch(/cannot be this namespace's default/);
    expect(report.applied).toEqual([]);
    expect(await kernelState(lab.client)).toBe(before);
    // Read-only in a child namespace (docs/kernel-interfaces.md, Sysctls): refused at plan time, not half-way.
    const core = value<PlanView>(
      await engine().invoke('mptcp:config:plan', { config: { buffers: { rmemMaxBytes: 8388608 } } }),
    );
    expect(core.errors.join('\n')).toMatch(/net\.core\.rmem_max is read-only here/);
    // Malformed input never reaches the engine.
    const malformed = await engine().invoke('mptcp:config:apply', {
      config: { limits: { subflows: 99, addAddrAccepted: 0 } },
    });
    expect(malformed.ok).toBe(false);
  });

  it('reverts an unconfirmed change by itself, and keeps a confirmed one', async () => {
    const before = await kernelState(lab.client);
    const e = engine();
    const pending: unknown[] = [];
    e.on('mptcp:config:pending', (p) => pending.push(p));
    const report = value<ApplyReport>(
      await e.invoke('mptcp:config:apply', {
        config: { limits: { subflows: 6, addAddrAccepted: 6 } },
        confirmWithinS: 5,
      }),
    );
    expect(report.ok).toBe(true);
    expect(report.revertAtMs).toBeGreaterThan(Date.now());
    expect((await ip(['-n', lab.client, 'mptcp', 'limits', 'show'])).stdout).toMatch(/subflows 6/);
    // A second apply must wait for the decision.
    const second = await e.invoke('mptcp:config:apply', {
      config: { limits: { subflows: 1, addAddrAccepted: 1 } },
    });
    expect(second.ok).toBe(false);
    await lab.waitFor(
      'the automatic revert',
      () => kernelState(lab.client),
      (s) => s === before,
      10_000,
    );
    // The kernel is back before the revert has read its state back and announced the end of the
    // wait, so wait for that announcement too.
    await lab.waitFor(
      'the end of the confirmation wait',
      () => Promise.resolve(pending),
      (p) => p.some((x) => (x as { revertAtMs: unknown }).revertAtMs === null),
      5_000,
    );
    expect(pending).toContainEqual({ revertAtMs: null });

    value<ApplyReport>(
      await e.invoke('mptcp:config:apply', {
        config: { limits: { subflows: 7, addAddrAccepted: 7 } },
        confirmWithinS: 5,
      }),
    );
    value(await e.invoke('mptcp:config:confirm', {}));
    await new Promise((r) => setTimeout(r, 6000));
    expect((await ip(['-n', lab.client, 'mptcp', 'limits', 'show'])).stdout).toMatch(/subflows 7/);
  }, 30_000);
});
