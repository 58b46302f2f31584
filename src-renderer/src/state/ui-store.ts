/** Which page is shown. Overview is the default; other pages can send the user elsewhere. */
import { createStore, type StoreApi } from 'zustand/vanilla';

export type PageName =
  'overview' | 'connections' | 'events' | 'pm' | 'path-doctor' | 'configure' | 'profiles' | 'fleet';

export interface UiState {
  page: PageName;
  go: (page: PageName) => void;
}

export type UiStore = StoreApi<UiState>;

export function createUiStore(): UiStore {
  return createStore<UiState>()((set) => ({
    page: 'overview',
    go: (page) => set({ page }),
  }));
}
