/**
 * One zustand store per domain, built from the API object (the real one, or a FakeApi in tests)
 * and handed to components through context.
 */
import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import type { MptcpApi } from '../../../shared/contract';
import { staticConnection, type ConnectionInfo, type ConnectionSource } from '../api/connection';
import { createConfigStore, type ConfigState, type ConfigStore } from './config-store';
import { createConnectionStore, type ConnectionStore } from './connection-store';
import { createConnectionsStore, type ConnectionsState, type ConnectionsStore } from './connections-store';
import { createOverviewStore, type OverviewState, type OverviewStore } from './overview-store';
import { createProfilesStore, type ProfilesState, type ProfilesStore } from './profiles-store';
import { createUiStore, type UiState, type UiStore } from './ui-store';

export interface Stores {
  overview: OverviewStore;
  connections: ConnectionsStore;
  connection: ConnectionStore;
  config: ConfigStore;
  profiles: ProfilesStore;
  ui: UiStore;
  dispose(): void;
}

const alwaysOpen: ConnectionSource = staticConnection({
  state: 'open',
  transport: 'ipc',
  detail: null,
  retryAtMs: null,
});

/** Build the stores; the overview is read whenever the connection (re)opens. */
export function createStores(api: MptcpApi, source: ConnectionSource = alwaysOpen): Stores {
  const overview = createOverviewStore(api);
  const connections = createConnectionsStore(api);
  const connection = createConnectionStore(source);
  const config = createConfigStore(api, overview);
  const profiles = createProfilesStore(api);
  const ui = createUiStore();

  if (connection.getState().state === 'open') void overview.getState().refresh();
  const offOpen = connection.subscribe((info, prev) => {
    if (info.state === 'open' && prev.state !== 'open') void overview.getState().refresh();
  });

  return {
    overview,
    connections,
    connection,
    config,
    profiles,
    ui,
    dispose() {
      offOpen();
      config.dispose();
      connections.dispose();
      connection.dispose();
    },
  };
}

export const StoresContext = createContext<Stores | null>(null);

export function useStores(): Stores {
  const stores = useContext(StoresContext);
  if (!stores) throw new Error('StoresContext is missing: render inside <StoresContext value={stores}>');
  return stores;
}

export function useOverview<T>(selector: (s: OverviewState) => T): T {
  return useStore(useStores().overview, selector);
}

export function useConnections<T>(selector: (s: ConnectionsState) => T): T {
  return useStore(useStores().connections, selector);
}

export function useConnection<T>(selector: (s: ConnectionInfo) => T): T {
  return useStore(useStores().connection, selector);
}

export function useConfig<T>(selector: (s: ConfigState) => T): T {
  return useStore(useStores().config, selector);
}

export function useProfiles<T>(selector: (s: ProfilesState) => T): T {
  return useStore(useStores().profiles, selector);
}

export function useUi<T>(selector: (s: UiState) => T): T {
  return useStore(useStores().ui, selector);
}
