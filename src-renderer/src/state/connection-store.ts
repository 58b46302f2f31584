/** The API transport's state (WebSocket connecting/open/closed/unauthorized, or Electron IPC). */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { ConnectionInfo, ConnectionSource } from '../api/connection';

export type ConnectionStore = StoreApi<ConnectionInfo> & { dispose(): void };

export function createConnectionStore(source: ConnectionSource): ConnectionStore {
  const store = createStore<ConnectionInfo>()(() => source.get());
  const off = source.subscribe((info) => store.setState(info, true));
  return Object.assign(store, { dispose: off });
}
