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
    expect(steps.map((s) => s.textContent)).toEqual([
      'Set path manager limits: subflows 2 → 3, add_addr_accepted 2 → 2',
      'Set net.ipv4.tcp_congestion_control from cubic to reno',
      'Set the MTU of eth0 from 1500 to 9000 bytes',
    ]);
    expect(byTestId('plan-shell').textContent).toBe(
      [
        'ip mptcp limits set subflows 3 add_addr_accepted 2',
        'sysctl -w net.ipv4.tcp_congestion_control=reno',
        'ip link set dev eth0 mtu 9000',
      ].join('\n'),
    );
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
    expect(olia.textContent).toContain('lacks kernel functions the program calls: bpf_rdonly_cast');
    const balia = within(byTestId('cfg-cc')).getByText<HTMLOptionElement>(/^mptcp_balia/);
    expect(balia.disabled).toBe(false);
    const bbr = within(byTestId('cfg-cc')).getByText<HTMLOptionElement>(/^bbr/);
    expect(bbr.disabled).toBe(true);
    expect((byTestId('cfg-rmemMaxBytes') as HTMLInputElement).disabled).toBe(true);
    expect(byTestId('cfg-buffers').textContent).toContain('read-only in a child network namespace');
    expect(byTestId('cfg-sysctls').textContent).toContain('Current value, not understood: weird');
  });
});
