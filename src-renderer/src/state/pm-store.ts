/**
 * The engine's path manager as the Path manager page sees it: `mptcp:pm:status` (read on demand
 * and after every start/stop), the `mptcp:pm:action` stream (newest first, bounded) and the
 * outcome of the last start or stop, kept as an error to show rather than dropped.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { MptcpApi } from '../../../shared/contract';
import type { PmAction, PmStartArgs, PmStatus } from '../../../shared/pm';
import type { ApiError, Result } from '../../../shared/result';
import { settle } from '../api/settle';

/** Actions kept for the page (the Events timeline keeps its own, longer history). */
export const PM_ACTIONS_SHOWN = 200;

export interface PmState {
  status: PmStatus | null;
  /** Newest first. */
  actions: PmAction[];
  /** The status read failed. */
  error: ApiError | null;
  /** The last start or stop was refused; cleared by the next success. */
  commandError: ApiError | null;
  busy: boolean;
  refresh: () => Promise<void>;
  start: (args: PmStartArgs) => Promise<boolean>;
  stop: () => Promise<boolean>;
}

export type PmStore = StoreApi<PmState> & { dispose(): void };

const keyOf = (a: PmAction): string =>
  `${a.timestampMs}|${a.action}|${a.token ?? ''}|${a.local ?? ''}|${a.localPort ?? ''}|${a.remote ?? ''}|${a.remotePort ?? ''}|${a.result}`;

/** Merge the status's recent actions (oldest first) with what the stream delivered. */
function merge(current: PmAction[], fromStatus: PmAction[]): PmAction[] {
  const seen = new Set(current.map(keyOf));
  const all = [...current, ...fromStatus.filter((a) => !seen.has(keyOf(a)))];
  return all.sort((x, y) => y.timestampMs - x.timestampMs).slice(0, PM_ACTIONS_SHOWN);
}

export function createPmStore(api: MptcpApi): PmStore {
  let seq = 0;
  const store = createStore<PmState>()((set, get) => {
    const accept = (mine: number, r: Result<PmStatus>): void => {
      if (mine !== seq) return;
      if (r.ok) set({ status: r.value, actions: merge(get().actions, r.value.recentActions), error: null });
      else set({ error: r.error });
    };
    const command = async (run: () => Promise<Result<PmStatus>>): Promise<boolean> => {
      set({ busy: true });
      const r = await settle(run);
      const mine = ++seq;
      if (r.ok) set({ commandError: null });
      else set({ commandError: r.error });
      set({ busy: false });
      if (r.ok) accept(mine, r);
      else await get().refresh();
      return r.ok;
    };
    return {
      status: null,
      actions: [],
      error: null,
      commandError: null,
      busy: false,
      refresh: async () => {
        const mine = ++seq;
        accept(mine, await settle(() => api.invoke('mptcp:pm:status', {})));
      },
      start: (args) => command(() => api.invoke('mptcp:pm:start', args)),
      stop: () => command(() => api.invoke('mptcp:pm:stop', {})),
    };
  });

  const off = api.on('mptcp:pm:action', (a) => {
    const { actions } = store.getState();
    const k = keyOf(a);
    if (!actions.some((x) => keyOf(x) === k))
      store.setState({ actions: [a, ...actions].slice(0, PM_ACTIONS_SHOWN) });
    // Started, stopped, a sync that changed the left-out list: the status moved too.
    if (a.action === 'started' || a.action === 'stopped' || a.action === 'endpoint-sync')
      void store.getState().refresh();
  });

  return Object.assign(store, { dispose: off });
}
