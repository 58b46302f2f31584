// @vitest-environment jsdom
/**
 * One meaning per word across pages: column labels, units, plurals, change chips, coupled-CC
 * reasons said once.
 */
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { CcStatus } from '../../shared/cc';
import { MptcpConfigSchema } from '../../shared/config';
import { ccStatus } from '../../shared/testing/status-fixtures';
import { App } from './App';
import { changeChips } from './components/config/change-chips';
import { ccReasons } from './components/config/CoupledCcPanel';
import { COLUMN } from './labels';
import { createStores, type Stores } from './state/stores';
import { FakeApi } from './testing/fake-api';
import { connection, endpoint, overview, snapshot, subflow } from './testing/fixtures';
import { configApi, renderApp, settle } from './testing/render';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
});

const sync = (cb: () => void) => cb();
const headers = (table: HTMLElement): string[] =>
  [...table.querySelectorAll(':scope > thead th')].map(
    (th) => th.textContent?.replace(/[▾▴]/g, '').trim() ?? '',
  );

/** A connection with one subflow that retransmitted 0.5 % of what it sent and one that sent nothing. */
function lossy() {
  return connection({
    bytesRetrans: 3 * 1024,
    subflows: [
      subflow({ bytesSent: 1_000_000, bytesRetrans: 5_000, totalRetransPkts: 4 }),
      subflow({ localAddress: '10.0.2.2', localPort: 40001, bytesSent: 0, bytesRetrans: 0, backup: true }),
    ],
  });
}

async function app(o = overview()): Promise<Stores> {
  const api = new FakeApi()
    .handle('mptcp:overview:get', { ok: true, value: o })
    .handle('mptcp:connections:list', {
      ok: true,
      value: snapshot({ takenAtMs: Date.now(), connections: [lossy()] }),
    })
    .handle('mptcp:connection:get', { ok: true, value: lossy() });
  stores = createStores(api, undefined, { schedule: sync });
  render(<App stores={stores} />);
  await settle();
  return stores;
}

describe('column labels', () => {
  it('call a total a total, a rate a rate, and MPTCP and TCP retransmissions by their names', async () => {
    await app();
    const overviewTable = screen.getByTestId('connections-table');
    expect(headers(overviewTable)).toEqual([
      'Token',
      'Local → remote',
      'State',
      'Subflows',
      'Sent total',
      'Received total',
      'MPTCP retrans',
    ]);
    const sub = overviewTable.querySelector<HTMLElement>('table.subflows')!;
    expect(headers(sub)).toContain('Retrans %');
    const pct = within(overviewTable).getAllByTestId('subflow-retrans-pct');
    // 5,000 of 1,000,000 bytes: 0.5 %; a subflow that sent nothing has no share.
    expect(pct.map((td) => td.textContent)).toEqual(['0.50 %', '—']);
    expect(pct[0]!.title).toContain('5000 of 1000000 bytes sent were retransmissions');

    act(() => screen.getByTestId('nav-connections').click());
    await settle();
    expect(headers(screen.getByTestId('conn-table'))).toEqual([
      'Token',
      'Local → remote',
      'State',
      'Subflows',
      'Send rate',
      'Receive rate',
    ]);

    act(() => screen.getByTestId('conn-row-deadbeef').click());
    await settle();
    const detail = screen.getByTestId('subflow-detail-table');
    const detailHeaders = headers(detail);
    expect(detailHeaders).toContain('TCP retrans pkts');
    expect(detailHeaders).toContain('Retrans %');
    expect(within(detail).getAllByTestId('subflow-retrans-pct')[0]!.textContent).toBe('0.50 %');
    expect(screen.getByTestId('chart-throughput').textContent).toContain('Send rate');

    // No bare word that means a total on one page and a rate on another.
    const all = [...document.querySelectorAll('th')].map((th) => th.textContent?.trim());
    for (const ambiguous of ['Sent', 'Send', 'Received', 'Receive', 'Retrans', 'Retrans (pkts)'])
      expect(all).not.toContain(ambiguous);
  });

  it('are distinct and each says which kernel field it shows', () => {
    const labels = Object.values(COLUMN).map((c) => c.label);
    expect(new Set(labels).size).toBe(labels.length);
    for (const c of Object.values(COLUMN)) expect(c.title).toMatch(/(mptcpi|tcpi)_\w+/);
  });
});

describe('MPTcpExt counters', () => {
  it('each show what they count, as a second line and a tooltip', async () => {
    const api = new FakeApi()
      .handle('mptcp:overview:get', { ok: true, value: overview() })
      .handle('mptcp:counters:get', {
        ok: true,
        value: { takenAtMs: 1, counters: { MPJoinSynTx: 5, AddAddrDrop: 2, SomeFutureCounter: 1 } },
      });
    stores = createStores(api, undefined, { schedule: sync });
    render(<App stores={stores} />);
    await settle();
    const rows = screen.getAllByTestId('counter-row');
    const byName = new Map(rows.map((r) => [r.dataset.counter, r]));
    expect(byName.get('MPJoinSynTx')?.textContent).toContain(
      'SYNs sent with MP_JOIN: extra subflows this host opened',
    );
    expect(byName.get('AddAddrDrop')?.title).toContain('ip mptcp limits add_addr_accepted');
    expect(byName.get('SomeFutureCounter')?.textContent).toContain('not described here');
  });
});

describe('plurals', () => {
  it('say "1 endpoint", "1 extra subflow" and "1 connection"', async () => {
    await app(
      overview({
        endpoints: [endpoint({ id: 1, address: '10.0.1.2', ifname: 'eth0' })],
        limits: { subflows: 1, addAddrAccepted: 1 },
      }),
    );
    expect(screen.getByTestId('limit-endpoints').textContent).toBe('1endpoint configured');
    expect(screen.getByTestId('limit-subflows').textContent).toBe('1extra subflow per connection');
    expect(screen.getByTestId('snapshot-info').textContent).toMatch(/^1 connection · /);
    expect(document.body.textContent).not.toMatch(/\b1 (endpoints|subflows|connections|interfaces)\b/);
  });
});

describe('change chips', () => {
  it('name the sysctl or ip command each change makes, not the JSON key', () => {
    const base = MptcpConfigSchema.parse({ limits: { subflows: 2, addAddrAccepted: 2 } });
    const config = MptcpConfigSchema.parse({
      enabled: true,
      scheduler: 'bpf_burst',
      pathManager: 'kernel',
      congestionControl: 'bbr',
      limits: { subflows: 4, addAddrAccepted: 2 },
      endpoints: [],
      sysctls: { addAddrTimeoutS: 60, staleLossCnt: 2 },
      buffers: {
        tcpRmem: { minBytes: 4096, defaultBytes: 131072, maxBytes: 6291456 },
        rmemMaxBytes: 6291456,
      },
      mtu: { eth1: 1400 },
    });
    expect(changeChips(config, base).map((c) => c.label)).toEqual([
      'net.mptcp.enabled',
      'net.mptcp.path_manager',
      'net.mptcp.scheduler',
      'ip mptcp limits subflows',
      'ip mptcp endpoint',
      'net.mptcp.add_addr_timeout',
      'net.mptcp.stale_loss_cnt',
      'net.ipv4.tcp_congestion_control',
      'net.ipv4.tcp_rmem',
      'net.core.rmem_max',
      'ip link set dev eth1 mtu',
    ]);
    // Without the kernel's values both limits are named; the key path stays as the title.
    expect(changeChips({ limits: { subflows: 1, addAddrAccepted: 3 } })).toEqual([
      { label: 'ip mptcp limits subflows', key: 'limits.subflows' },
      { label: 'ip mptcp limits add_addr_accepted', key: 'limits.addAddrAccepted' },
    ]);
  });

  it('show on the Configure page as the engineer would type them', async () => {
    stores = await renderApp(configApi(), 'configure');
    fireEvent.change(screen.getByTestId('cfg-limit-subflows'), { target: { value: '3' } });
    await settle();
    const chips = screen.getByTestId('cfg-change-chips');
    expect([...chips.querySelectorAll('code')].map((c) => c.textContent)).toEqual([
      'ip mptcp limits subflows',
    ]);
    expect(chips.querySelector('code')?.getAttribute('title')).toBe('limits.subflows in a profile');
    expect(screen.getByTestId('cfg-change-count').textContent).toBe('1 setting');
  });
});

describe('coupled CC reasons', () => {
  const missing = (id: 'mptcp_lia' | 'mptcp_olia' | 'mptcp_balia'): CcStatus =>
    ccStatus({
      id,
      kernelName: id,
      available: false,
      blocker: 'no-object',
      reason: `the compiled program ${id}.bpf.o is missing (looked in /opt/mptcp-studio/bpf): install the app's packaged objects (its resources/bpf), build them in a checkout with npm run build:bpf (into out/bpf), or set MPTCP_STUDIO_BPF_DIR to the directory that holds them; loading needs CAP_BPF and CAP_PERFMON (or root): use the privileged agent or run as root`,
    });

  it('say what the unloadable ones share once, and what is their own per row', () => {
    const olia = missing('mptcp_olia');
    olia.reason += '; this kernel lacks kernel functions the program calls: bpf_rdonly_cast';
    const r = ccReasons([missing('mptcp_lia'), olia, missing('mptcp_balia')]);
    expect(r.names).toEqual(['mptcp_lia', 'mptcp_olia', 'mptcp_balia']);
    expect(r.common).toHaveLength(2);
    expect(r.common[0]).toContain(
      'the compiled program {mptcp_lia,mptcp_olia,mptcp_balia}.bpf.o is missing (looked in /opt/mptcp-studio/bpf)',
    );
    expect(r.common[0]).toContain('MPTCP_STUDIO_BPF_DIR');
    expect(r.own.get('mptcp_lia')).toEqual([]);
    expect(r.own.get('mptcp_olia')).toEqual([
      'this kernel lacks kernel functions the program calls: bpf_rdonly_cast',
    ]);
    // One blocked algorithm: its reason stays on its row.
    const one = ccReasons([ccStatus(), missing('mptcp_olia')]);
    expect(one.common).toEqual([]);
    expect(one.own.get('mptcp_olia')).toHaveLength(2);
  });

  it('show the shared reason once on the Configure page, naming the fix', async () => {
    const list = [missing('mptcp_lia'), missing('mptcp_olia'), missing('mptcp_balia')];
    stores = await renderApp(configApi(overview(), list), 'configure');
    const page = screen.getByTestId('configure-page').textContent ?? '';
    expect(page.split('is missing').length - 1).toBe(1);
    expect(screen.getByTestId('cc-common-reason').textContent).toContain('None of them can be loaded here');
    expect(screen.getByTestId('cc-common-reason').textContent).toContain('MPTCP_STUDIO_BPF_DIR');
    expect(screen.queryByTestId('cc-reason-mptcp_lia')).toBeNull();
  });
});
