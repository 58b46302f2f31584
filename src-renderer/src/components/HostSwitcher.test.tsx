// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { FleetRemoteHost } from '../../../shared/fleet';
import { FakeApi } from '../testing/fake-api';
import { createStores, StoresContext, type Stores } from '../state/stores';
import { settle } from '../testing/render';
import { HostSwitcher } from './HostSwitcher';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
});

const remote = (name: string, up: boolean, selected = false): FleetRemoteHost => ({
  name,
  url: `https://${name}:7878/`,
  up,
  error: up ? null : 'ECONNREFUSED',
  netns: null,
  kernelRelease: '6.18.0',
  mptcpEnabled: true,
  pathManager: 'kernel',
  checkedAtMs: 1,
  selected,
});

async function mount(hosts: FleetRemoteHost[], selects: (string | null)[], reloads: string[]) {
  const api = new FakeApi()
    .handle('mptcp:fleet:hosts:list', { ok: true, value: hosts })
    .handle('mptcp:fleet:hosts:select', ({ name }) => {
      selects.push(name);
      return { ok: true, value: { selected: name } };
    });
  stores = createStores(api, undefined, { schedule: (cb) => cb() });
  render(
    <StoresContext.Provider value={stores}>
      <HostSwitcher reload={() => reloads.push('reload')} />
    </StoresContext.Provider>,
  );
  await settle();
}

describe('HostSwitcher', () => {
  it('is hidden while no remote host is registered', async () => {
    await mount([], [], []);
    expect(screen.queryByTestId('host-switcher')).toBeNull();
  });

  it('lists this host and the registered ones, down ones disabled, and switches', async () => {
    const selects: (string | null)[] = [];
    const reloads: string[] = [];
    await mount([remote('node-1', true), remote('node-2', false)], selects, reloads);
    const select = screen.getByTestId<HTMLSelectElement>('host-switcher');
    expect([...select.options].map((o) => [o.value, o.textContent, o.disabled])).toEqual([
      ['', 'this host', false],
      ['node-1', 'node-1', false],
      ['node-2', 'node-2 (down: ECONNREFUSED)', true],
    ]);
    fireEvent.change(select, { target: { value: 'node-1' } });
    await settle();
    expect(selects).toEqual(['node-1']);
    expect(reloads).toEqual(['reload']);
  });
});
