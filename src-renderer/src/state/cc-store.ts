/**
 * Coupled congestion control (BPF struct_ops): the engine's list, and load/unload through the
 * typed API. Registration changes what the kernel offers, so after each action the overview is
 * read again (the congestion-control select lists tcp_available_congestion_control from it).
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { CcId, CcStatus } from '../../../shared/cc';
import type { MptcpApi } from '../../../shared/contract';
import type { ApiError } from '../../../shared/result';
import type { OverviewStore } from './overview-store';

export interface CcState {
  list: CcStatus[] | null;
  error: ApiError | null;
  loading: boolean;
  /** The algorithm a load or unload is running for. */
  busy: CcId | null;
  /** The last action's refusal, shown next to its row. */
  actionError: { id: CcId; error: ApiError } | null;
  /** The last action's outcome, in the engine's words. */
  message: string | null;
  refresh: () => Promise<void>;
  load: (id: CcId) => Promise<void>;
  unload: (id: CcId) => Promise<void>;
}

export type CcStore = StoreApi<CcState>;

const thrown = (err: unknown): ApiError => ({ code: 'INTERNAL', message: String(err) });

export function createCcStore(api: MptcpApi, overview: OverviewStore): CcStore {
  return createStore<CcState>()((set, get) => {
    const act = async (id: CcId, method: 'mptcp:cc:load' | 'mptcp:cc:unload'): Promise<void> => {
      if (get().busy) return;
      set({ busy: id, actionError: null, message: null });
      const r = await api.invoke(method, { name: id }).catch((e: unknown) => ({
        ok: false as const,
        error: thrown(e),
      }));
      if (r.ok) set({ message: r.value.message });
      else set({ actionError: { id, error: r.error } });
      // Read back what the kernel now says, success or not, before the buttons come back.
      await get().refresh();
      await overview.getState().refresh();
      set({ busy: null });
    };
    return {
      list: null,
      error: null,
      loading: false,
      busy: null,
      actionError: null,
      message: null,
      refresh: async () => {
        set({ loading: true });
        const r = await api
          .invoke('mptcp:cc:list', {})
          .catch((e: unknown) => ({ ok: false as const, error: thrown(e) }));
        if (r.ok) set({ list: r.value, error: null, loading: false });
        else set({ error: r.error, loading: false });
      },
      load: (id) => act(id, 'mptcp:cc:load'),
      unload: (id) => act(id, 'mptcp:cc:unload'),
    };
  });
}
