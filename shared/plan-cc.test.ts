import { describe, expect, it } from 'vitest';
import type { CcStatus } from './cc';
import { formatExport } from './export-formats';
import { describeStep, invertStep, planConfig, shellForStep } from './plan';
import { kernelStatus, oliaStatus, unreadBuffers } from './testing/status-fixtures';
import type { Overview } from './types';

const overview = (inInitNetns: boolean, available = ['reno', 'cubic']): Overview => ({
  status: kernelStatus({
    netns: inInitNetns ? null : 'lab',
    inInitNetns,
    congestionControl: { default: 'cubic', available, allowed: ['reno', 'cubic'] },
    buffers: unreadBuffers,
  }),
  limits: null,
  endpoints: [],
  interfaces: [],
  errors: [],
});

/** Installed under a path with a space, which the shell equivalent must quote. */
const olia = (over: Partial<CcStatus> = {}): CcStatus =>
  oliaStatus({ objectPath: '/opt/MPTCP Studio/resources/bpf/mptcp_olia.bpf.o', ...over });

describe('plans with a coupled congestion control', () => {
  it('registers a loadable one first, then makes it the default (outside the host namespace too)', () => {
    const plan = planConfig(overview(false), { congestionControl: 'mptcp_olia' }, { coupledCc: [olia()] });
    expect(plan.errors).toEqual([]);
    expect(plan.steps.map(describeStep)).toEqual([
      'Register BPF congestion control mptcp_olia',
      'Set net.ipv4.tcp_congestion_control from cubic to mptcp_olia',
    ]);
    expect(plan.steps.map(shellForStep)).toEqual([
      "bpftool struct_ops register '/opt/MPTCP Studio/resources/bpf/mptcp_olia.bpf.o'",
      'sysctl -w net.ipv4.tcp_congestion_control=mptcp_olia',
    ]);
    // Rollback and revert keep it registered (global, idempotent), and the plan says so.
    expect(invertStep(plan.steps[0]!)).toBeNull();
    expect(plan.warnings).toEqual([
      'mptcp_olia stays registered (global, harmless) even if this change is reverted or rolled back; unload it from the Configure page or `mptcp-studio cc unload mptcp_olia`',
    ]);
  });

  it('refuses, with the reason, one that cannot be loaded here', () => {
    const plan = planConfig(
      overview(true),
      { congestionControl: 'mptcp_olia' },
      {
        coupledCc: [
          olia({ available: false, blocker: 'no-btf', reason: 'this kernel has no BTF', objectPath: null }),
        ],
      },
    );
    expect(plan.steps).toEqual([]);
    expect(plan.errors).toEqual([
      'congestion control "mptcp_olia" cannot be loaded here: this kernel has no BTF',
    ]);
  });

  it('only sets the default when it is registered already', () => {
    const plan = planConfig(
      overview(true, ['reno', 'cubic', 'mptcp_olia']),
      { congestionControl: 'mptcp_olia' },
      { coupledCc: [olia({ registered: true })] },
    );
    expect(plan.steps.map((s) => s.kind)).toEqual(['sysctl']);
  });

  it('Balia, in a list of several, registers its own object and becomes the default', () => {
    const balia = olia({
      id: 'mptcp_balia',
      kernelName: 'mptcp_balia_e2e',
      title: 'Balia',
      objectPath: '/usr/lib/mptcp-studio/bpf/mptcp_balia_e2e.bpf.o',
    });
    const plan = planConfig(
      overview(false),
      { congestionControl: 'mptcp_balia_e2e' },
      { coupledCc: [olia({ registered: true }), balia] },
    );
    expect(plan.errors).toEqual([]);
    expect(plan.steps.map(shellForStep)).toEqual([
      'bpftool struct_ops register /usr/lib/mptcp-studio/bpf/mptcp_balia_e2e.bpf.o',
      'sysctl -w net.ipv4.tcp_congestion_control=mptcp_balia_e2e',
    ]);
  });

  it('without coupled-CC knowledge an unknown name stays an error, as before', () => {
    const plan = planConfig(overview(true), { congestionControl: 'mptcp_olia' });
    expect(plan.errors[0]).toMatch(/congestion control "mptcp_olia" is not available/);
  });
});

describe('exports with a coupled congestion control', () => {
  const meta = { name: 'olia', generatedAt: '2026-11-24T20:00:00Z' };
  it('the script registers it before setting the default', () => {
    const text = formatExport({ congestionControl: 'mptcp_olia' }, 'sh', meta).text;
    const load = text.indexOf('mptcp-studio cc load mptcp_olia');
    expect(load).toBeGreaterThan(0);
    expect(text.indexOf('sysctl -w net.ipv4.tcp_congestion_control=mptcp_olia')).toBeGreaterThan(load);
  });
  it('the persistent files point at the unit that registers it at boot', () => {
    const text = formatExport({ congestionControl: 'mptcp_olia' }, 'sysctl.d', meta).text;
    expect(text).toContain('mptcp-studio-cc@mptcp_olia.service');
  });
  it('Balia exports like the others: registered by the script, by its unit at boot', () => {
    const sh = formatExport({ congestionControl: 'mptcp_balia' }, 'sh', meta).text;
    const load = sh.indexOf('mptcp-studio cc load mptcp_balia');
    expect(load).toBeGreaterThan(0);
    expect(sh.indexOf('sysctl -w net.ipv4.tcp_congestion_control=mptcp_balia')).toBeGreaterThan(load);
    const d = formatExport({ congestionControl: 'mptcp_balia' }, 'sysctl.d', meta).text;
    expect(d).toContain('mptcp-studio-cc@mptcp_balia.service');
  });
  it('other names export as before', () => {
    expect(formatExport({ congestionControl: 'bbr' }, 'sh', meta).text).not.toContain('cc load');
  });
});
