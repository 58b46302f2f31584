/**
 * The Overview's data: kernel status, PM limits and endpoints, interfaces, read in one
 * `mptcp:overview:get` at start and then kept current by the host's `mptcp:overview:changed`
 * pushes (on interface/address events at once, and within a second for endpoint, limit and
 * sysctl changes the kernel does not announce). Partial failures the engine reports are kept in
 * `errors`; a failed call is kept in `error` (the last good data stays, and the UI says so).
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { MptcpApi } from '../../../shared/contract';
import type { ApiError } from '../../../shared/result';
import type { Endpoint, KernelStatus, Limits, NetInterface, Overview } from '../../../shared/types';

export interface OverviewState {
  status: KernelStatus | null;
  limits: Limits | null;
  endpoints: Endpoint[];
  interfaces: NetInterface[];
  /** Reads that failed inside an otherwise successful overview (e.g. mptcp_pm family missing). */
  errors: Overview['errors'];
  /** The overview call itself failed. */
  error: ApiError | null;
  loading: boolean;
  /** When the data shown was read, ms since the epoch; null until the first success. */
  updatedAtMs: number | null;
  refresh: () => Promise<void>;
}

export type OverviewStore = StoreApi<OverviewState>;

export function createOverviewStore(api: MptcpApi, now: () => number = Date.now): OverviewStore {
  let seq = 0;
  const store = createStore<OverviewState>()((set) => ({
    status: null,
    limits: null,
    endpoints: [],
    interfaces: [],
    errors: [],
    error: null,
    loading: false,
    updatedAtMs: null,
    refresh: async () => {
      const mine = ++seq;
      set({ loading: true });
      let result;
      try {
        result = await api.invoke('mptcp:overview:get', {});
      } catch (err) {
        // The contract says results, not throws; a host that throws anyway is shown, not fatal.
        result = { ok: false as const, error: { code: 'INTERNAL' as const, message: String(err) } };
      }
      if (mine !== seq) return; // a newer refresh owns the state
      if (result.ok) {
        const o = result.value;
        set({
          status: o.status,
          limits: o.limits,
          endpoints: o.endpoints,
          interfaces: o.interfaces,
          errors: o.errors,
          error: null,
          loading: false,
          updatedAtMs: now(),
        });
      } else {
        set({ error: result.error, loading: false });
      }
    },
  }));
  api.on('mptcp:overview:changed', (o) => {
    seq++; // a refresh still in flight read an older state: this push wins
    store.setState({
      status: o.status,
      limits: o.limits,
      endpoints: o.endpoints,
      interfaces: o.interfaces,
      errors: o.errors,
      error: null,
      loading: false,
      updatedAtMs: now(),
    });
  });
  return store;
}
