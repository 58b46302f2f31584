// @vitest-environment jsdom
import { act, cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { CcStatus } from '../../../../shared/cc';
import type { Stores } from '../../state/stores';
import { ccList, ccStatus } from '../../../../shared/testing/status-fixtures';
import { overview } from '../../testing/fixtures';
import { configApi, renderApp, settle } from '../../testing/render';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
});

const byTestId = (id: string) => screen.getByTestId(id);

async function click(el: HTMLElement): Promise<void> {
  act(() => el.click());
  await settle();
}

describe('Coupled congestion control on the Configure page', () => {
  it('lists LIA, OLIA and Balia with their state, what coupling means, and why one cannot be loaded', async () => {
    stores = await renderApp(configApi(), 'configure');
    const panel = byTestId('cc-coupled');
    expect(panel.textContent).toContain('coupled: fair to single-path TCP on shared bottlenecks, RFC 6356');
    expect(byTestId('cc-row-mptcp_lia').dataset.state).toBe('loadable');
    expect((byTestId('cc-load-mptcp_lia') as HTMLButtonElement).disabled).toBe(false);
    expect(byTestId('cc-row-mptcp_olia').dataset.state).toBe('unavailable');
    expect((byTestId('cc-load-mptcp_olia') as HTMLButtonElement).disabled).toBe(true);
    expect(byTestId('cc-reason-mptcp_olia').textContent).toBe(
      'Cannot load: this kernel lacks kernel functions the program calls: bpf_rdonly_cast',
    );
    expect(panel.textContent).toContain('LIA / OLIA / Balia');
    const balia = byTestId('cc-row-mptcp_balia');
    expect(balia.dataset.state).toBe('loadable');
    expect(balia.textContent).toContain(
      'Balia: Balanced Linked Adaptation (draft-walid-mptcp-congestion-control, IEEE/ACM ToN 2016)',
    );
    expect((byTestId('cc-load-mptcp_balia') as HTMLButtonElement).disabled).toBe(false);
  });

  it('loads Balia by its id through the API', async () => {
    let list: CcStatus[] = ccList();
    const api = configApi(overview(), list)
      .handle('mptcp:cc:list', () => ({ ok: true, value: list }))
      .handle('mptcp:cc:load', ({ name }) => {
        list = list.map((c) => (c.id === name ? { ...c, registered: true, bpfRegistered: true } : c));
        return { ok: true, value: { changed: true, message: 'registered mptcp_balia', status: list[2]! } };
      });
    stores = await renderApp(api, 'configure');
    await click(byTestId('cc-load-mptcp_balia'));
    expect(api.calls.filter((c) => c.method === 'mptcp:cc:load').map((c) => c.args)).toEqual([
      { name: 'mptcp_balia' },
    ]);
    expect(byTestId('cc-row-mptcp_balia').dataset.state).toBe('loaded');
    expect(byTestId('cc-row-mptcp_lia').dataset.state).toBe('loadable');
    expect(byTestId('cc-message').textContent).toBe('registered mptcp_balia');
  });

  it('loads through the API, then shows what the kernel says: loaded, in the select, unloadable', async () => {
    const o = overview();
    let list: CcStatus[] = ccList();
    const api = configApi(o, list)
      .handle('mptcp:cc:list', () => ({ ok: true, value: list }))
      .handle('mptcp:cc:load', ({ name }) => {
        list = list.map((c) => (c.id === name ? { ...c, registered: true, bpfRegistered: true } : c));
        o.status.congestionControl.available = [...o.status.congestionControl.available, 'mptcp_lia'];
        return { ok: true, value: { changed: true, message: 'registered mptcp_lia', status: list[0]! } };
      })
      .handle('mptcp:cc:unload', ({ name }) => {
        list = list.map((c) => (c.id === name ? { ...c, registered: false } : c));
        o.status.congestionControl.available = o.status.congestionControl.available.filter(
          (n) => n !== 'mptcp_lia',
        );
        return { ok: true, value: { changed: true, message: 'unregistered mptcp_lia', status: list[0]! } };
      });
    stores = await renderApp(api, 'configure');
    const overviewReads = api.calls.filter((c) => c.method === 'mptcp:overview:get').length;
    await click(byTestId('cc-load-mptcp_lia'));
    expect(api.calls.filter((c) => c.method === 'mptcp:cc:load').map((c) => c.args)).toEqual([
      { name: 'mptcp_lia' },
    ]);
    expect(byTestId('cc-row-mptcp_lia').dataset.state).toBe('loaded');
    expect(byTestId('cc-message').textContent).toBe('registered mptcp_lia');
    expect(api.calls.filter((c) => c.method === 'mptcp:overview:get').length).toBeGreaterThan(overviewReads);
    expect(within(byTestId('cfg-cc')).getByText<HTMLOptionElement>('mptcp_lia').disabled).toBe(false);
    await click(byTestId('cc-unload-mptcp_lia'));
    expect(api.calls.filter((c) => c.method === 'mptcp:cc:unload').map((c) => c.args)).toEqual([
      { name: 'mptcp_lia' },
    ]);
    expect(byTestId('cc-row-mptcp_lia').dataset.state).toBe('loadable');
  });

  it('does not offer Unload while the CC is in use, and says why', async () => {
    const o = overview();
    o.status.congestionControl.available.push('mptcp_lia');
    const busy = ccStatus({
      registered: true,
      isNamespaceDefault: true,
      unloadBlockedReason: 'mptcp_lia is the default congestion control of this network namespace',
    });
    stores = await renderApp(configApi(o, [busy]), 'configure');
    expect((byTestId('cc-unload-mptcp_lia') as HTMLButtonElement).disabled).toBe(true);
    expect(byTestId('cc-unload-reason-mptcp_lia').textContent).toContain('default congestion control');
  });

  it("shows the engine's refusal on the row (no privileges) and keeps the row's state", async () => {
    const api = configApi().handle('mptcp:cc:load', {
      ok: false,
      error: {
        code: 'EPERM',
        message: 'cannot load mptcp_lia: loading needs CAP_BPF and CAP_PERFMON (or root)',
      },
    });
    stores = await renderApp(api, 'configure');
    await click(byTestId('cc-load-mptcp_lia'));
    expect(byTestId('cc-error-mptcp_lia').textContent).toContain('EPERM');
    expect(byTestId('cc-error-mptcp_lia').textContent).toContain('needs CAP_BPF and CAP_PERFMON');
    expect(byTestId('cc-row-mptcp_lia').dataset.state).toBe('loadable');
  });

  it('choosing a loadable coupled CC plans its registration before the default is set', async () => {
    const api = configApi();
    stores = await renderApp(api, 'configure');
    fireEvent.change(byTestId('cfg-cc'), { target: { value: 'mptcp_lia' } });
    await click(byTestId('cfg-review'));
    const steps = within(byTestId('plan-steps')).getAllByRole('listitem');
    expect(steps.map((s) => s.dataset.kind)).toEqual(['cc-register', 'sysctl']);
    expect(byTestId('plan-shell').textContent).toContain(
      'bpftool struct_ops register /usr/lib/mptcp-studio/bpf/mptcp_lia.bpf.o',
    );
  });
});
