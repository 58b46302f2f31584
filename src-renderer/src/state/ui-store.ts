/**
 * Which page is shown and with which filters. Overview is the default; other pages can send the
 * user elsewhere. The URL follows this store and the store follows the URL (router.ts), so every
 * view has an address: `#/events?kind=sub_closed`.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';

export type PageName =
  'overview' | 'connections' | 'events' | 'pm' | 'path-doctor' | 'configure' | 'profiles' | 'fleet';

export const PAGE_NAMES: readonly PageName[] = [
  'overview',
  'connections',
  'events',
  'pm',
  'path-doctor',
  'configure',
  'profiles',
  'fleet',
];

/** A page's filters, as they appear in its URL's query; an empty value is never kept. */
export type PageParams = Readonly<Record<string, string>>;

const NO_PARAMS: PageParams = Object.freeze({});

export interface UiState {
  page: PageName;
  params: PageParams;
  /** Another page, with its filters (none unless given). */
  go: (page: PageName, params?: PageParams) => void;
  /** Filters of the current page, the others kept; '' removes one. */
  setParams: (patch: Readonly<Record<string, string>>) => void;
}

export type UiStore = StoreApi<UiState>;

export function cleanParams(params: Record<string, string>): PageParams {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) if (v !== '') out[k] = v;
  return Object.keys(out).length === 0 ? NO_PARAMS : out;
}

export function createUiStore(): UiStore {
  return createStore<UiState>()((set) => ({
    page: 'overview',
    params: NO_PARAMS,
    go: (page, params = NO_PARAMS) => set({ page, params: cleanParams(params) }),
    setParams: (patch) =>
      set((s) => {
        if (Object.entries(patch).every(([k, v]) => (s.params[k] ?? '') === v)) return s;
        return { params: cleanParams({ ...s.params, ...patch }) };
      }),
  }));
}
