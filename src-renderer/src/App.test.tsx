// @vitest-environment jsdom
import { act, cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeApi } from './testing/fake-api';
import type { SessionInfo, SessionSource } from './api/session';
import { App } from './App';
import { createStores, type Stores } from './state/stores';
import { kernelStatus } from '../../shared/testing/status-fixtures';
import { connection, overview, snapshot, subflow } from './testing/fixtures';

let stores: Stores | null = null;

afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
});

/** Render the app against a FakeApi and let the first overview read settle. */
async function renderApp(api: FakeApi, source?: SessionSource) {
  stores = createStores(api, source);
  render(<App stores={stores} />);
  await act(async () => {});
  return stores;
}

/** Run `fn` in act and let the promises it started settle. */
async function actAsync(fn: () => void): Promise<void> {
  await act(async () => {
    fn();
    await Promise.resolve();
  });
}

function byTestId(id: string): HTMLElement {
  return screen.getByTestId(id);
}

describe('Overview page', () => {
  it('renders the kernel status', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', { ok: true, value: overview() });
    await renderApp(api);

    const kernel = byTestId('overview-kernel');
    expect(byTestId('mptcp-enabled').textContent).toBe('MPTCP enabled');
    expect(byTestId('mptcp-enabled').dataset.enabled).toBe('true');
    expect(kernel.textContent).toContain('6.18.2-mptcp');
    expect(kernel.textContent).toContain('kernel'); // path manager
    expect(kernel.textContent).toContain('userspace');
    expect(kernel.textContent).toContain('bpf_burst');
    expect(kernel.textContent).toContain('cubic');
    expect(kernel.textContent).toContain('Privileged only (not in tcp_allowed_congestion_control): bbr');
    expect(kernel.textContent).toContain('4 KiB / 128 KiB / 6 MiB');
    expect(kernel.textContent).toContain('4 KiB / 16 KiB / 4 MiB');
    expect(kernel.textContent).toContain('208 KiB');
    const sysctls = within(kernel).getByTestId('mptcp-sysctls');
    expect(sysctls.textContent).toContain('net.mptcp.available_schedulers');
    expect(sysctls.textContent).toContain('default bpf_burst');

    expect(byTestId('overview-limits').textContent).toContain('extra subflows per connection');
    expect(within(byTestId('limit-subflows')).getByText('2')).toBeTruthy();
    expect(screen.queryByTestId('privileges-banner')).toBeNull();
    expect(screen.queryByTestId('overview-error')).toBeNull();
    expect(api.calls.filter((c) => c.method === 'mptcp:overview:get')).toHaveLength(1);
  });

  it('shows a disabled MPTCP and the netns in the header', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', {
      ok: true,
      value: overview({ status: kernelStatus({ enabled: false, netns: 'lab-client' }) }),
    });
    await renderApp(api);
    expect(byTestId('mptcp-enabled').textContent).toBe('MPTCP disabled');
    expect(byTestId('netns').textContent).toBe('netns lab-client');
  });

  it('lists interfaces with the endpoint flags of their addresses', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', { ok: true, value: overview() });
    await renderApp(api);

    const table = byTestId('interfaces-table');
    const eth0 = within(table).getByTestId('interface-row-eth0');
    expect(eth0.textContent).toContain('10.0.1.2/24');
    expect(eth0.textContent).toContain('up');
    expect(eth0.textContent).toContain('1500');
    const ep1 = within(eth0).getByTestId('endpoint-1');
    expect(ep1.textContent).toContain('endpoint 1');
    expect(ep1.textContent).toContain('signal');
    expect(ep1.textContent).toContain('subflow');
    expect(ep1.textContent).not.toContain('backup');
    expect(eth0.textContent).toContain('fe80::1/64');
    expect(eth0.textContent).toContain('link');

    const eth1 = within(table).getByTestId('interface-row-eth1');
    expect(eth1.textContent).toContain('down');
    const ep2 = within(eth1).getByTestId('endpoint-2');
    expect(ep2.textContent).toContain('backup');
    expect(ep2.textContent).toContain('subflow');

    const lo = within(table).getByTestId('interface-row-lo');
    expect(lo.textContent).toContain('no endpoint');
    expect(lo.textContent).toContain('loopback');

    const homeless = byTestId('endpoints-not-on-interface');
    expect(homeless.textContent).toContain('192.0.2.99');
    expect(homeless.textContent).toContain('not on any interface');
    expect(homeless.textContent).toContain('port 8080');
    expect(within(homeless).getByTestId('endpoint-3').textContent).toContain('signal');
  });

  it('shows connections and subflow RTT in ms from a snapshot event', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', { ok: true, value: overview() });
    await renderApp(api);
    expect(screen.getByText('Waiting for the first snapshot…')).toBeTruthy();

    act(() =>
      api.emit(
        'mptcp:connections:snapshot',
        snapshot({
          connections: [
            connection(),
            connection({
              token: 0x1a2b,
              inode: 999,
              fallback: true,
              subflowsTotal: 1,
              bytesSent: 1536,
              subflows: [
                subflow({
                  tokenLocal: 0x1a2b,
                  rttUs: 250,
                  cwndPkts: 7,
                  remoteAddress: '2001:db8::1',
                  family: 'inet6',
                  localAddress: '2001:db8::2',
                }),
              ],
            }),
          ],
        }),
      ),
    );

    const table = byTestId('connections-table');
    const row = within(table).getByTestId('connection-row-deadbeef');
    expect(row.textContent).toContain('10.0.1.2:40000');
    expect(row.textContent).toContain('10.0.9.1:5201');
    expect(within(row).getByTestId('subflow-count').textContent).toBe('2');
    expect(row.textContent).toContain('50 MiB');
    expect(row.textContent).toContain('4 KiB');
    expect(row.textContent).not.toContain('fallback');

    const other = within(table).getByTestId('connection-row-1a2b');
    expect(other.textContent).toContain('fallback');
    expect(other.textContent).toContain('1.5 KiB');

    const subflows = within(table).getAllByTestId('subflow-row');
    expect(subflows).toHaveLength(3);
    const [first, second, third] = subflows;
    expect(first?.dataset).toMatchObject({
      rttUs: '12345',
      cwnd: '42',
      local: '10.0.1.2:40000',
      remote: '10.0.9.1:5201',
    });
    expect(first?.textContent).toContain('12.3 ms');
    expect(first?.textContent).toContain('100 Mbit/s');
    expect(first?.textContent).toContain('1448');
    expect(first?.textContent).not.toContain('backup');
    expect(second?.textContent).toContain('48.2 ms');
    expect(second?.textContent).toContain('backup');
    expect(second?.textContent).toContain('2 → 0');
    expect(third?.textContent).toContain('0.25 ms');
    expect(third?.dataset.remote).toBe('[2001:db8::1]:5201');

    expect(byTestId('snapshot-info').textContent).toContain('2 connections');
    expect(byTestId('snapshot-info').textContent).toContain('850 µs');

    // Collapse one connection's subflows.
    act(() => within(row).getByRole('button', { name: 'Hide subflows' }).click());
    expect(within(table).getAllByTestId('subflow-row')).toHaveLength(1);
  });

  it('keeps only the latest snapshot and says when there are no connections', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', { ok: true, value: overview() });
    await renderApp(api);
    act(() => api.emit('mptcp:connections:snapshot', snapshot()));
    expect(screen.getByTestId('connection-row-deadbeef')).toBeTruthy();
    act(() =>
      api.emit(
        'mptcp:connections:snapshot',
        snapshot({ takenAtMs: snapshot().takenAtMs + 1000, connections: [] }),
      ),
    );
    expect(screen.queryByTestId('connections-table')).toBeNull();
    expect(byTestId('connections-empty').textContent).toBe('No MPTCP connections');
  });

  it('renders the connections in view of thousands and reaches the last by scrolling', async () => {
    // jsdom lays nothing out: give every element a height, as a browser would.
    const offsetHeight = Object.getOwnPropertyDescriptor(HTMLElement.prototype, 'offsetHeight');
    Object.defineProperty(HTMLElement.prototype, 'offsetHeight', { configurable: true, get: () => 100 });
    try {
      const api = new FakeApi().handle('mptcp:overview:get', { ok: true, value: overview() });
      await renderApp(api);
      const connections = Array.from({ length: 3000 }, (_, i) =>
        connection({ token: i + 1, inode: i + 1, subflows: [subflow({ tokenLocal: i + 1 })] }),
      );
      act(() => api.emit('mptcp:connections:snapshot', snapshot({ connections })));
      const rows = () => [...document.querySelectorAll('[data-testid^="connection-row-"]')];
      expect(rows().length).toBeGreaterThan(3);
      expect(rows().length).toBeLessThan(40);
      expect(rows()[0]?.getAttribute('data-testid')).toBe('connection-row-1');
      expect(byTestId('snapshot-info').textContent).toContain('3000 connections');
      const list = byTestId('connections-list');
      await act(async () => {
        list.scrollTop = 10_000_000; // past the end, which a browser clamps to it
        list.dispatchEvent(new Event('scroll'));
        await new Promise((r) => setTimeout(r, 50));
      });
      expect(rows().at(-1)?.getAttribute('data-testid')).toBe(`connection-row-${(3000).toString(16)}`);
      expect(rows().length).toBeLessThan(40);
    } finally {
      if (offsetHeight) Object.defineProperty(HTMLElement.prototype, 'offsetHeight', offsetHeight);
    }
  });

  it('shows an engine error from the poller', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', { ok: true, value: overview() });
    await renderApp(api);
    act(() =>
      api.emit('mptcp:engine:error', { source: 'connections', code: 'EPERM', message: 'sock_diag refused' }),
    );
    expect(byTestId('engine-error').textContent).toContain('sock_diag refused');
    act(() => api.emit('mptcp:connections:snapshot', snapshot()));
    expect(screen.queryByTestId('engine-error')).toBeNull();
  });

  it('shows an {ok:false} from mptcp:overview:get as an error', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', {
      ok: false,
      error: { code: 'EPERM', message: 'Operation not permitted' },
    });
    await renderApp(api);
    const error = byTestId('overview-error');
    expect(error.textContent).toContain('Could not read the overview');
    expect(error.textContent).toContain('EPERM');
    expect(error.textContent).toContain('Operation not permitted');
    expect(screen.queryByTestId('overview-kernel')).toBeNull();
  });

  it('keeps the last good data when a refresh fails', async () => {
    const api = new FakeApi();
    const s = createStores(api);
    stores = s;
    render(<App stores={s} />);
    await actAsync(() => api.resolveNext('mptcp:overview:get', { ok: true, value: overview() }));
    expect(byTestId('overview-kernel')).toBeTruthy();
    const refreshing = act(() => s.overview.getState().refresh());
    api.resolveNext('mptcp:overview:get', {
      ok: false,
      error: { code: 'TIMEOUT', message: 'agent did not answer' },
    });
    await refreshing;
    expect(byTestId('overview-error').textContent).toContain('showing the last good read');
    expect(byTestId('overview-kernel')).toBeTruthy();
  });

  it('lists partial read failures', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', {
      ok: true,
      value: overview({
        limits: null,
        endpoints: [],
        errors: [
          { source: 'endpoints', code: 'ENOENT', message: 'generic netlink family mptcp_pm not found' },
        ],
      }),
    });
    await renderApp(api);
    expect(byTestId('overview-errors').textContent).toContain('mptcp_pm not found');
    expect(byTestId('overview-limits').textContent).toContain('Not available');
  });

  it('shows the privileges banner without CAP_NET_ADMIN', async () => {
    const note = 'No CAP_NET_ADMIN: endpoints and limits are read-only; path-manager events are unavailable.';
    const api = new FakeApi().handle('mptcp:overview:get', {
      ok: true,
      value: overview({ status: kernelStatus({ privileges: { netAdmin: false, note } }) }),
    });
    await renderApp(api);
    const banner = byTestId('privileges-banner');
    expect(banner.textContent).toContain('no CAP_NET_ADMIN');
    expect(banner.textContent).toContain(note);
  });
});

describe('App header', () => {
  function controllableSource(initial: SessionInfo) {
    let info = initial;
    const listeners = new Set<(i: SessionInfo) => void>();
    const source: SessionSource = {
      get: () => info,
      subscribe: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
    };
    const set = (patch: Partial<SessionInfo>) => {
      info = { ...info, ...patch };
      for (const l of listeners) l(info);
    };
    return { source, set };
  }

  it('shows the connection status and reads the overview once the socket opens', async () => {
    const api = new FakeApi().handle('mptcp:overview:get', { ok: true, value: overview() });
    const { source, set } = controllableSource({
      state: 'connecting',
      transport: 'websocket',
      detail: null,
      retryAtMs: null,
    });
    await renderApp(api, source);
    expect(byTestId('connection-status').dataset.state).toBe('connecting');
    expect(api.calls.filter((c) => c.method === 'mptcp:overview:get')).toHaveLength(0);

    await actAsync(() => set({ state: 'open' }));
    expect(byTestId('connection-status').textContent).toBe('Connected');
    expect(api.calls.filter((c) => c.method === 'mptcp:overview:get')).toHaveLength(1);

    act(() => set({ state: 'closed', detail: 'connection closed (code 1006)' }));
    expect(byTestId('connection-status').dataset.state).toBe('closed');
    expect(byTestId('connection-lost').textContent).toContain('code 1006');

    await actAsync(() => set({ state: 'open', detail: null }));
    expect(api.calls.filter((c) => c.method === 'mptcp:overview:get')).toHaveLength(2);
  });

  it('tells an unauthorised user which URL to open', async () => {
    const api = new FakeApi();
    const { source } = controllableSource({
      state: 'unauthorized',
      transport: 'websocket',
      detail: null,
      retryAtMs: null,
    });
    await renderApp(api, source);
    expect(byTestId('connection-status').textContent).toBe('Not authorised');
    expect(byTestId('unauthorized').textContent).toContain(
      'Not authorised: open the URL printed by mptcp-studio serve (it carries the token)',
    );
    expect(screen.queryByTestId('overview-error')).toBeNull();
    expect(screen.queryByTestId('connections-table')).toBeNull();
  });
});
