/** Render the whole app against a FakeApi, for page tests. */
import { act, render, screen } from '@testing-library/react';
import { MptcpConfigSchema } from '../../../shared/config';
import { exportConfig } from '../../../shared/plan';
import type { Overview } from '../../../shared/types';
import { FakeApi } from './fake-api';
import { App } from '../App';
import { createStores, type Stores } from '../state/stores';
import { ccList } from '../../../shared/testing/status-fixtures';
import { overview, planView } from './fixtures';
import type { CcStatus } from '../../../shared/cc';

/** An API answering the reads the Configure page makes, planning with the shared planner. */
export function configApi(o: Overview = overview(), cc: CcStatus[] = ccList()): FakeApi {
  return new FakeApi()
    .handle('mptcp:cc:list', { ok: true, value: cc })
    .handle('mptcp:overview:get', { ok: true, value: o })
    .handle('mptcp:config:export', { ok: true, value: exportConfig(o) })
    .handle('mptcp:config:plan', ({ config }) => ({
      ok: true,
      value: planView(o, MptcpConfigSchema.parse(config), cc),
    }))
    .handle('mptcp:advice:get', { ok: true, value: [] })
    .handle('mptcp:profiles:list', { ok: true, value: [] });
}

/** Let promises started by the last action settle inside act. */
export async function settle(): Promise<void> {
  await act(async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  });
}

export async function renderApp(api: FakeApi, page?: 'configure' | 'profiles'): Promise<Stores> {
  const stores = createStores(api);
  render(<App stores={stores} />);
  await settle();
  if (page) {
    act(() => screen.getByTestId(`nav-${page}`).click());
    await settle();
  }
  return stores;
}
