/** The API transport's state (WebSocket connecting/open/closed/unauthorized, or Electron IPC). */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { SessionInfo, SessionSource } from '../api/session';

export type SessionStore = StoreApi<SessionInfo> & { dispose(): void };

export function createSessionStore(source: SessionSource): SessionStore {
  const store = createStore<SessionInfo>()(() => source.get());
  const off = source.subscribe((info) => store.setState(info, true));
  return Object.assign(store, { dispose: off });
}
