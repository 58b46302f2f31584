// @vitest-environment jsdom
import { act, cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Stores } from '../state/stores';
import { advice, applyReport, overview } from '../testing/fixtures';
import { configApi, renderApp, settle } from '../testing/render';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
  vi.useRealTimers();
});

const byTestId = (id: string) => screen.getByTestId(id);
const change = (el: HTMLElement, value: string) => fireEvent.change(el, { target: { value } });

async function click(el: HTMLElement): Promise<void> {
  act(() => el.click());
  await settle();
}

function lastArgs(api: ReturnType<typeof configApi>, method: string): unknown {
  return api.calls.filter((c) => c.method === method).at(-1)?.args;
}

describe('Configure page', () => {
  it('is reached from the tabs; Overview stays the default', async () => {
    const api = configApi();
    stores = await renderApp(api);
    expect(byTestId('overview-kernel')).toBeTruthy();
    expect(screen.queryByTestId('configure-page')).toBeNull();
    await click(byTestId('nav-configure'));
    expect(byTestId('configure-page')).toBeTruthy();
    expect(api.calls.some((c) => c.method === 'mptcp:config:export')).toBe(true);
    expect((byTestId('cfg-limit-subflows') as HTMLInputElement).value).toBe('2');
    expect((byTestId('cfg-cc') as HTMLSelectElement).value).toBe('cubic');
  });

  it('sends only the changed fields to the planner', async () => {
    const api = configApi();
    stores = await renderApp(api, 'configure');
    expect((byTestId('cfg-review') as HTMLButtonElement).disabled).toBe(true);
    change(byTestId('cfg-limit-subflows'), '3');
    change(byTestId('cfg-sysctl-add_addr_timeout'), '60');
    expect(byTestId('cfg-change-count').dataset.count).toBe('2');
    await click(byTestId('cfg-review'));
    expect(lastArgs(api, 'mptcp:config:plan')).toEqual({
      config: { limits: { subflows: 3, addAddrAccepted: 2 }, sysctls: { addAddrTimeoutS: 60 } },
    });
  });

  it('shows iproute2 rule errors inline and blocks the review', async () => {
    const api = configApi();
    stores = await renderApp(api, 'configure');
    await click(byTestId('cfg-endpoint-add'));
    const rows = screen.getAllByTestId('cfg-endpoint-row');
    expect(rows).toHaveLength(4);
    const row = rows[3]!;
    change(within(row).getByTestId('endpoint-address'), '10.0.2.2');
    // New rows start as subflow endpoints; a port needs signal and not subflow.
    change(within(row).getByTestId('endpoint-port'), '8000');
    expect(screen.getByTestId('endpoint-errors').textContent).toContain(
      'a port needs the signal flag and not subflow',
    );
    fireEvent.click(within(row).getByTestId('endpoint-flag-subflow'));
    fireEvent.click(within(row).getByTestId('endpoint-flag-signal'));
    expect(screen.queryByTestId('endpoint-errors')).toBeNull();
    fireEvent.click(within(row).getByTestId('endpoint-flag-fullmesh'));
    expect(screen.getByTestId('endpoint-errors').textContent).toContain(
      'signal and fullmesh cannot be combined',
    );
    expect(byTestId('cfg-error-count').textContent).toContain('1 problem');
    expect((byTestId('cfg-review') as HTMLButtonElement).disabled).toBe(true);
    expect(api.calls.some((c) => c.method === 'mptcp:config:plan')).toBe(false);

    change(byTestId('cfg-limit-addaddr'), '12');
    expect(byTestId('cfg-limits').textContent).toContain('must be at most 8');
  });

  it('shows the plan as steps and shell commands, with plan errors', async () => {
    const api = configApi();
    stores = await renderApp(api, 'configure');
    change(byTestId('cfg-limit-subflows'), '3');
    change(byTestId('cfg-cc'), 'reno');
    change(byTestId('cfg-mtu-eth0'), '9000');
    await click(byTestId('cfg-review'));
    const steps = within(byTestId('plan-steps')).getAllByRole('listitem');
    // MTUs first; only what changes is named ("add_addr_accepted 2 → 2" is not).
    expect(steps.map((s) => s.querySelector('.step-text')?.textContent)).toEqual([
      'Set the MTU of eth0 from 1500 to 9000 bytes',
      'Set path manager limits: subflows 2 → 3',
      'Set net.ipv4.tcp_congestion_control from cubic to reno',
    ]);
    expect(byTestId('plan-shell').textContent).toBe(
      [
        'ip link set dev eth0 mtu 9000',
        'ip mptcp limits set subflows 3 add_addr_accepted 2',
        'sysctl -w net.ipv4.tcp_congestion_control=reno',
      ].join('\n'),
    );
    // Each step says what it does to live traffic; none of these closes a subflow.
    expect(screen.getAllByTestId('step-impact').map((e) => e.dataset.level)).toEqual(['new', 'live', 'new']);
    expect(steps[2]!.textContent).toContain('applies to new connections only');
    expect(screen.queryByTestId('cfg-allow-disruption')).toBeNull();
    expect(screen.queryByTestId('plan-errors')).toBeNull();
    // Below 1280 the planner refuses: eth0 has IPv6 addresses the kernel would drop.
    change(byTestId('cfg-mtu-eth0'), '1000');
    await click(byTestId('cfg-review'));
    expect(byTestId('plan-errors').textContent).toContain('below 1280');
    expect((byTestId('cfg-apply') as HTMLButtonElement).disabled).toBe(true);
  });

  it('shows a failed apply with its error, the rollback and whether the state was restored', async () => {
    const api = configApi().handle('mptcp:config:apply', {
      ok: true,
      value: applyReport({
        ok: false,
        applied: [
          {
            step: {
              kind: 'limits',
              from: { subflows: 2, addAddrAccepted: 2 },
              to: { subflows: 3, addAddrAccepted: 2 },
            },
            description: 'Set path manager limits: subflows 2 → 3, add_addr_accepted 2 → 2',
            ok: true,
          },
        ],
        failed: {
          step: { kind: 'sysctl', name: 'net.ipv4.tcp_congestion_control', from: 'cubic', to: 'reno' },
          description: 'Set net.ipv4.tcp_congestion_control from cubic to reno',
          ok: false,
          error: { code: 'EPERM', message: 'Operation not permitted', errno: 'EPERM' },
        },
        rolledBack: [
          {
            step: {
              kind: 'limits',
              from: { subflows: 3, addAddrAccepted: 2 },
              to: { subflows: 2, addAddrAccepted: 2 },
            },
            description: 'Set path manager limits: subflows 3 → 2, add_addr_accepted 2 → 2',
            ok: true,
          },
        ],
        restored: true,
      }),
    });
    stores = await renderApp(api, 'configure');
    change(byTestId('cfg-limit-subflows'), '3');
    change(byTestId('cfg-cc'), 'reno');
    await click(byTestId('cfg-review'));
    await click(byTestId('cfg-apply'));
    expect(lastArgs(api, 'mptcp:config:apply')).toEqual({
      config: { limits: { subflows: 3, addAddrAccepted: 2 }, congestionControl: 'reno' },
      confirmWithinS: null,
      allowDisruption: false,
    });
    const report = byTestId('apply-report');
    expect(report.dataset.ok).toBe('false');
    expect(report.textContent).toContain('Apply failed and was rolled back');
    expect(byTestId('report-failed').textContent).toContain('EPERM');
    expect(byTestId('report-failed').textContent).toContain('Operation not permitted');
    expect(byTestId('report-failed').textContent).toContain('tcp_congestion_control from cubic to reno');
    expect(byTestId('report-rolled-back').textContent).toContain('subflows 3 → 2');
    expect(byTestId('report-restored').dataset.restored).toBe('true');
    expect(byTestId('report-restored').textContent).toContain('restored exactly');
    // The form keeps the change for another try.
    expect((byTestId('cfg-limit-subflows') as HTMLInputElement).value).toBe('3');
  });

  it('counts down a change awaiting confirmation and confirms it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(1_000_000);
    const api = configApi()
      .handle('mptcp:config:apply', ({ confirmWithinS }) => ({
        ok: true,
        value: applyReport({ revertAtMs: Date.now() + (confirmWithinS ?? 0) * 1000 }),
      }))
      .handle('mptcp:config:confirm', { ok: true, value: { revertAtMs: null } });
    stores = await renderApp(api, 'configure');
    change(byTestId('cfg-limit-subflows'), '3');
    await click(byTestId('cfg-review'));
    fireEvent.click(byTestId('cfg-confirm-toggle'));
    expect((byTestId('cfg-confirm-seconds') as HTMLInputElement).value).toBe('30');
    await click(byTestId('cfg-apply'));
    expect(lastArgs(api, 'mptcp:config:apply')).toMatchObject({ confirmWithinS: 30 });
    expect(byTestId('pending-countdown').dataset.remainingS).toBe('30');
    act(() => {
      vi.advanceTimersByTime(10_000);
    });
    expect(byTestId('pending-countdown').dataset.remainingS).toBe('20');
    expect(byTestId('pending-banner').textContent).toContain('20 s');
    await click(byTestId('pending-confirm'));
    expect(api.calls.some((c) => c.method === 'mptcp:config:confirm')).toBe(true);
    expect(screen.queryByTestId('pending-banner')).toBeNull();
  });

  it('follows the pending event, also on other pages, and reloads after an automatic revert', async () => {
    const api = configApi();
    stores = await renderApp(api);
    act(() => api.emit('mptcp:config:pending', { revertAtMs: Date.now() + 60_000 }));
    expect(byTestId('pending-banner')).toBeTruthy();
    const exports = api.calls.filter((c) => c.method === 'mptcp:config:export').length;
    act(() => api.emit('mptcp:config:pending', { revertAtMs: null }));
    await settle();
    expect(screen.queryByTestId('pending-banner')).toBeNull();
    expect(api.calls.filter((c) => c.method === 'mptcp:config:export').length).toBe(exports + 1);
  });

  it('a backup toggle is changed in place: live subflows stay, no consent asked', async () => {
    const api = configApi().handle('mptcp:config:apply', { ok: true, value: applyReport() });
    stores = await renderApp(api, 'configure');
    const row = screen.getAllByTestId('cfg-endpoint-row')[1]!; // 10.0.2.2, subflow backup
    fireEvent.click(within(row).getByTestId('endpoint-flag-backup'));
    await click(byTestId('cfg-review'));
    const steps = within(byTestId('plan-steps')).getAllByRole('listitem');
    expect(steps.map((s) => s.dataset.kind)).toEqual(['endpoint-flags']);
    expect(steps[0]!.textContent).toContain('Change endpoint id 2 10.0.2.2 in place: backup off');
    expect(byTestId('step-impact').dataset.level).toBe('live');
    expect(byTestId('step-impact').textContent).toContain(
      '1 live subflow of 1 connection from 10.0.2.2 stop being backup',
    );
    expect(byTestId('plan-shell').textContent).toBe('ip mptcp endpoint change id 2 nobackup nofullmesh');
    expect(screen.queryByTestId('cfg-disruption')).toBeNull();
    expect((byTestId('cfg-apply') as HTMLButtonElement).disabled).toBe(false);
  });

  it('a step that closes live subflows says how many, and Apply waits for the consent checkbox', async () => {
    const api = configApi().handle('mptcp:config:apply', { ok: true, value: applyReport() });
    stores = await renderApp(api, 'configure');
    // 10.0.2.2 from subflow to signal: the kernel cannot change that in place.
    const row = screen.getAllByTestId('cfg-endpoint-row')[1]!;
    fireEvent.click(within(row).getByTestId('endpoint-flag-subflow'));
    fireEvent.click(within(row).getByTestId('endpoint-flag-signal'));
    await click(byTestId('cfg-review'));
    const steps = within(byTestId('plan-steps')).getAllByRole('listitem');
    expect(steps.map((s) => [s.dataset.kind, s.dataset.impact])).toEqual([
      ['endpoint-del', 'closes'],
      ['endpoint-add', 'live'],
    ]);
    expect(byTestId('cfg-disruption').textContent).toContain(
      'Remove endpoint id 2 10.0.2.2: closes 1 live subflow of 1 connection (10.0.2.2)',
    );
    expect(byTestId('plan-live').textContent).toContain('1 live MPTCP connection (2 subflows)');
    const apply = byTestId('cfg-apply') as HTMLButtonElement;
    expect(apply.disabled).toBe(true);
    fireEvent.click(byTestId('cfg-allow-disruption'));
    expect(apply.disabled).toBe(false);
    await click(apply);
    expect(lastArgs(api, 'mptcp:config:apply')).toMatchObject({ allowDisruption: true });
  });

  it('an apply refused for lack of consent says so and keeps the review', async () => {
    const api = configApi().handle('mptcp:config:apply', {
      ok: true,
      value: applyReport({
        ok: false,
        needsConsent: true,
        planErrors: ['Remove endpoint id 2 10.0.2.2: closes 4 live subflows of 2 connections (10.0.2.2)'],
      }),
    });
    stores = await renderApp(api, 'configure');
    change(byTestId('cfg-limit-subflows'), '3');
    await click(byTestId('cfg-review'));
    await click(byTestId('cfg-apply'));
    expect(byTestId('apply-report').textContent).toContain(
      'Refused: it would close live subflows; nothing was changed',
    );
    expect(byTestId('report-plan-errors').textContent).toContain('closes 4 live subflows of 2 connections');
    expect(byTestId('plan-review')).toBeTruthy();
  });

  it('an automatic revert is shown as what it was, not as the apply that preceded it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(new Date(2025, 0, 1, 3, 39, 44));
    const api = configApi().handle('mptcp:config:apply', ({ confirmWithinS }) => ({
      ok: true,
      value: applyReport({
        applied: [
          {
            step: { kind: 'sysctl', name: 'net.ipv4.tcp_congestion_control', from: 'cubic', to: 'reno' },
            description: 'Set net.ipv4.tcp_congestion_control from cubic to reno',
            ok: true,
          },
        ],
        revertAtMs: Date.now() + (confirmWithinS ?? 0) * 1000,
      }),
    }));
    stores = await renderApp(api, 'configure');
    change(byTestId('cfg-cc'), 'reno');
    await click(byTestId('cfg-review'));
    fireEvent.click(byTestId('cfg-confirm-toggle'));
    change(byTestId('cfg-confirm-seconds'), '15');
    await click(byTestId('cfg-apply'));
    expect(byTestId('report-pending').textContent).toContain(
      'Reverts by itself at 03:39:59 unless confirmed',
    );
    // The deadline passes: the engine reverts and says so.
    act(() => {
      vi.advanceTimersByTime(15_000);
      api.emit('mptcp:config:outcome', {
        kind: 'reverted',
        reason: 'deadline',
        atMs: Date.now(),
        appliedAtMs: Date.now() - 15_000,
        confirmWithinS: 15,
        revertAtMs: null,
        restored: true,
        steps: [
          { description: 'Set net.ipv4.tcp_congestion_control from reno to cubic', ok: true, error: null },
        ],
        failed: null,
        rolledBack: [],
      });
      api.emit('mptcp:config:pending', { revertAtMs: null });
    });
    await settle();
    const notice = byTestId('cfg-outcome');
    expect(notice.textContent).toContain(
      'Reverted at 03:39:59: not confirmed within 15 s: the state before the apply is back exactly.',
    );
    expect(notice.textContent).toContain('Set net.ipv4.tcp_congestion_control from reno to cubic');
    expect(byTestId('cfg-outcome-kind').dataset.reason).toBe('deadline');
    expect(byTestId('cfg-outcome-kind').textContent).toBe('automatic revert');
    // The report of the apply says how it ended, not only that it was applied.
    expect(byTestId('apply-report').querySelector('h2')?.textContent).toBe(
      'Applied: 1 step (reverted at 03:39:59)',
    );
    expect(screen.queryByTestId('report-pending')).toBeNull();
    expect(byTestId('configure-page').textContent).not.toContain('reverts by itself');
    expect(byTestId('configure-page').textContent).not.toContain('Reverts by itself');
  });

  it('shows what a crash recovery did, until dismissed', async () => {
    const api = configApi();
    stores = await renderApp(api, 'configure');
    act(() =>
      api.emit('mptcp:config:recovered', {
        kind: 'apply-undone',
        message:
          'undid 2 step(s) of an apply started at 2025-01-01T03:39:44.000Z by MPTCP Studio pid 4242 that did not finish: the state before it is back exactly',
        atMs: Date.now(),
        pid: 4242,
        appliedAtMs: Date.now() - 1000,
        revertAtMs: null,
        restored: true,
        steps: [{ description: 'Set net.mptcp.add_addr_timeout from 60 to 120', ok: true, error: null }],
      }),
    );
    expect(byTestId('cfg-recovered').textContent).toContain('undid 2 step(s) of an apply');
    expect(byTestId('cfg-recovered').textContent).toContain('pid 4242');
    act(() => within(byTestId('cfg-recovered')).getByRole('button', { name: 'Dismiss' }).click());
    expect(screen.queryByTestId('cfg-recovered')).toBeNull();
  });

  it('shows a recovery that happened before the page connected, from the host timeline, once', async () => {
    const recovery = {
      kind: 'pending-adopted' as const,
      message:
        'a change applied at … by MPTCP Studio pid 2579, awaiting confirmation until …, whose engine is gone: this engine holds it now',
      atMs: Date.UTC(2025, 0, 1, 3, 39, 0),
      pid: 2579,
      appliedAtMs: Date.UTC(2025, 0, 1, 3, 38, 50),
      revertAtMs: Date.UTC(2025, 0, 1, 3, 39, 50),
      restored: null,
      steps: [],
    };
    const api = configApi().handle('mptcp:history:events', {
      ok: true,
      value: {
        retentionMs: 900_000,
        truncated: false,
        entries: [{ name: 'mptcp:config:recovered', atMs: recovery.atMs, payload: recovery }],
      },
    });
    stores = await renderApp(api, 'configure');
    await settle();
    expect(byTestId('cfg-recovered').textContent).toContain('this engine holds it now');
    // The host also replays it to the page that connects: shown once.
    act(() => api.emit('mptcp:config:recovered', recovery));
    expect(within(byTestId('cfg-recovered')).getAllByRole('listitem')).toHaveLength(1);
    // Adopted then, and nothing is pending now: said, so it is not taken for a change still waiting.
    expect(byTestId('cfg-recovered-settled').textContent).toContain(
      'No change is waiting for confirmation now',
    );
  });

  it('loads an advisor fix into the form and opens the review without applying', async () => {
    const api = configApi().handle('mptcp:advice:get', {
      ok: true,
      value: [
        advice({
          id: 'limits-subflows-too-low',
          title: 'Subflow limit below the endpoints',
          fix: { limits: { subflows: 4, addAddrAccepted: 2 } },
        }),
        advice({ id: 'other-endpoint-managers', severity: 'info', title: 'mptcpd runs' }),
      ],
    });
    stores = await renderApp(api, 'configure');
    const item = byTestId('advice-item-limits-subflows-too-low');
    expect(item.dataset.severity).toBe('warning');
    expect(within(byTestId('advice-item-other-endpoint-managers')).queryByRole('button')).toBeNull();
    await click(within(item).getByTestId('advice-fix-limits-subflows-too-low'));
    expect((byTestId('cfg-limit-subflows') as HTMLInputElement).value).toBe('4');
    expect(byTestId('cfg-draft-source').textContent).toContain('Subflow limit below the endpoints');
    expect(lastArgs(api, 'mptcp:config:plan')).toEqual({
      config: { limits: { subflows: 4, addAddrAccepted: 2 } },
    });
    expect(byTestId('plan-steps').textContent).toContain('subflows 2 → 4');
    expect(api.calls.some((c) => c.method === 'mptcp:config:apply')).toBe(false);
  });

  it('shows unavailable choices disabled with the reason, and unknown values raw', async () => {
    const o = overview();
    o.status.availableSchedulers = ['default'];
    o.status.inInitNetns = false;
    o.status.readOnlySysctls = ['net.core.rmem_max', 'net.core.wmem_max'];
    o.status.mptcpSysctls.push({ name: 'net.mptcp.close_timeout', value: 'weird', writable: true });
    stores = await renderApp(configApi(o), 'configure');
    expect(byTestId('cfg-general').textContent).toContain('Only default exists on this kernel');
    // Coupled CCs come from mptcp:cc:list: a loadable one is a choice, a blocked one says why.
    const lia = within(byTestId('cfg-cc')).getByText<HTMLOptionElement>(/^mptcp_lia/);
    expect(lia.disabled).toBe(false);
    const olia = within(byTestId('cfg-cc')).getByText<HTMLOptionElement>(/^mptcp_olia/);
    expect(olia.disabled).toBe(true);
    // The reason is said once, in the coupled CC list, not again in the select.
    expect(olia.textContent).toBe('mptcp_olia (cannot be loaded here: see below)');
    expect(byTestId('cc-reason-mptcp_olia').textContent).toContain(
      'lacks kernel functions the program calls: bpf_rdonly_cast',
    );
    const balia = within(byTestId('cfg-cc')).getByText<HTMLOptionElement>(/^mptcp_balia/);
    expect(balia.disabled).toBe(false);
    const bbr = within(byTestId('cfg-cc')).getByText<HTMLOptionElement>(/^bbr/);
    expect(bbr.disabled).toBe(true);
    expect((byTestId('cfg-rmemMaxBytes') as HTMLInputElement).disabled).toBe(true);
    expect(byTestId('cfg-buffers').textContent).toContain('read-only in a child network namespace');
    expect(byTestId('cfg-sysctls').textContent).toContain('Current value, not understood: weird');
  });
});
