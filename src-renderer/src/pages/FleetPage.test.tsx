// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { FleetHost, FleetOverview, FleetRange } from '../../../shared/fleet';
import { FakeApi } from '../testing/fake-api';
import { App } from '../App';
import { createStores, type Stores } from '../state/stores';
import { overview } from '../testing/fixtures';
import { settle } from '../testing/render';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
});

function host(i: number, overrides: Partial<FleetHost> = {}): FleetHost {
  const series = Array.from(
    { length: 60 },
    (_, k) => [1_700_000_000 + k * 60, (i + k) % 7] as [number, number],
  );
  return {
    instance: `node-${String(i).padStart(3, '0')}:9850`,
    job: 'mptcp',
    up: i % 10 !== 3,
    mptcpEnabled: true,
    pathManager: i % 2 ? 'kernel' : 'userspace',
    scheduler: 'default',
    kernelRelease: '6.18.0',
    connections: i,
    subflowsByInterface: { eth0: i, eth1: i * 2 },
    fallbacksPerSec: i / 100,
    joinFailuresPerSec: 0,
    webUrl: i === 1 ? 'https://node-001:7878/' : null,
    history: { up: series, connections: series, fallbacksPerSec: series, joinFailuresPerSec: series },
    ...overrides,
  };
}

async function openFleet(hosts: FleetHost[], ranges: FleetRange[] = []) {
  const api = new FakeApi()
    .handle('mptcp:overview:get', { ok: true, value: overview() })
    .handle('mptcp:fleet:overview', ({ range }) => {
      ranges.push(range);
      const value: FleetOverview = {
        prometheusUrl: 'http://prom:9090',
        range,
        fetchedAtMs: 1,
        queryMs: 3,
        hosts,
        errors: [],
      };
      return { ok: true, value };
    });
  stores = createStores(api, undefined, { schedule: (cb) => cb() });
  render(<App stores={stores} />);
  await settle();
  act(() => screen.getByTestId('nav-fleet').click());
  await settle();
}

describe('Fleet page', () => {
  it('registers a remote web host and lists it with its state', async () => {
    const added: unknown[] = [];
    const remote = {
      name: 'node-7',
      url: 'https://node-7:7878/',
      up: true,
      error: null,
      netns: null,
      kernelRelease: '6.18.0',
      mptcpEnabled: true,
      pathManager: 'kernel',
      checkedAtMs: 1,
      selected: false,
    };
    const registered: (typeof remote)[] = [];
    const api = new FakeApi()
      .handle('mptcp:overview:get', { ok: true, value: overview() })
      .handle('mptcp:fleet:overview', ({ range }) => ({
        ok: true,
        value: { prometheusUrl: null, range, fetchedAtMs: 1, queryMs: 0, hosts: [], errors: [] },
      }))
      .handle('mptcp:fleet:hosts:list', () => ({ ok: true, value: [...registered] }))
      .handle('mptcp:fleet:hosts:add', (a) => {
        added.push(a);
        registered.push(remote);
        return { ok: true, value: remote };
      });
    stores = createStores(api, undefined, { schedule: (cb) => cb() });
    render(<App stores={stores} />);
    await settle();
    act(() => screen.getByTestId('nav-fleet').click());
    await settle();
    fireEvent.change(screen.getByTestId('remote-host-name'), { target: { value: 'node-7' } });
    fireEvent.change(screen.getByTestId('remote-host-url'), { target: { value: 'https://node-7:7878/' } });
    fireEvent.change(screen.getByTestId('remote-host-token'), { target: { value: 'secret-token-123' } });
    act(() => screen.getByTestId('remote-host-add').click());
    await settle();
    expect(added).toEqual([
      { name: 'node-7', url: 'https://node-7:7878/', token: 'secret-token-123', caCertPem: null },
    ]);
    expect(screen.getAllByTestId('remote-host-row').map((r) => r.textContent)).toEqual([
      'node-7https://node-7:7878/upkernelRemove',
    ]);
  });

  it('shows every host with its state, history and a link to a registered web host', async () => {
    const hosts = Array.from({ length: 200 }, (_, i) => host(i));
    await openFleet(hosts);
    const rows = screen.getAllByTestId('fleet-row');
    expect(rows).toHaveLength(200);
    expect(screen.getByTestId('fleet-summary').textContent).toBe('200 hosts, 20 down');
    const row1 = rows.find((r) => r.dataset.instance === 'node-001:9850')!;
    expect(row1.querySelector('a')?.getAttribute('href')).toBe('https://node-001:7878/');
    expect(row1.textContent).toContain('eth0 1, eth1 2');
    expect(row1.querySelectorAll('svg.sparkline')).toHaveLength(4);
    const row3 = rows.find((r) => r.dataset.instance === 'node-003:9850')!;
    expect(row3.querySelector('[data-testid="fleet-up"]')?.textContent).toBe('down');
    // A row opens the host's chart over the range.
    expect(screen.queryByTestId('fleet-host-chart')).toBeNull();
    act(() => row3.querySelector<HTMLButtonElement>('[data-testid="fleet-row-toggle"]')!.click());
    expect(screen.getAllByTestId('fleet-host-chart')).toHaveLength(1);
  });

  it('filters, sorts and asks for the chosen range', async () => {
    const ranges: FleetRange[] = [];
    await openFleet([host(1), host(2), host(3), host(12)], ranges);
    fireEvent.change(screen.getByTestId('fleet-filter'), { target: { value: 'node-01' } });
    expect(screen.getAllByTestId('fleet-row').map((r) => r.dataset.instance)).toEqual(['node-012:9850']);
    fireEvent.change(screen.getByTestId('fleet-filter'), { target: { value: '' } });
    fireEvent.change(screen.getByTestId('fleet-sort'), { target: { value: 'connections' } });
    expect(screen.getAllByTestId('fleet-row')[0]?.dataset.instance).toBe('node-012:9850');
    fireEvent.change(screen.getByTestId('fleet-sort'), { target: { value: 'up' } });
    expect(screen.getAllByTestId('fleet-row')[0]?.dataset.instance).toBe('node-003:9850');
    fireEvent.change(screen.getByTestId('fleet-range'), { target: { value: 'week' } });
    await settle();
    expect(ranges).toEqual(['hour', 'week']);
  });
});
