/**
 * The Configure page's state: the kernel's export (the base), the form draft, the plan under
 * review, the apply report, a change awaiting confirmation, and the advisor's items.
 *
 * Nothing is applied without a reviewed plan: `startReview()` plans exactly the changed fields, and
 * `apply()` sends the config that was reviewed. After an apply or a revert the export, the overview
 * and the advice are read again, so the form shows the kernel's state, not what we hoped for.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { MptcpConfig } from '../../../shared/config';
import type { Advice, ApplyReport, PlanView } from '../../../shared/config-api';
import type { MethodArgs, MethodName, MethodResult, MptcpApi } from '../../../shared/contract';
import type { ApiError, Result } from '../../../shared/result';
import { buildDesired, draftFromConfig, overlayConfig, type ConfigDraft } from './config-draft';
import type { OverviewStore } from './overview-store';

export interface Review {
  /** The changed fields that were planned (and that Apply sends). */
  config: MptcpConfig;
  plan: PlanView | null;
  error: ApiError | null;
  loading: boolean;
}

export interface ConfigState {
  base: MptcpConfig | null;
  loadError: ApiError | null;
  loading: boolean;
  draft: ConfigDraft | null;
  /** Where the draft's desired changes came from, when not typed by hand. */
  draftSource: string | null;
  review: Review | null;
  applying: boolean;
  /** The last apply or revert report, and which it was. */
  report: { kind: 'apply' | 'revert'; value: ApplyReport } | null;
  applyError: ApiError | null;
  /** A change awaits confirmation until then (ms since the epoch). */
  pendingRevertAtMs: number | null;
  pendingBusy: boolean;
  pendingError: ApiError | null;
  advice: Advice[] | null;
  adviceError: ApiError | null;
  adviceLoading: boolean;

  load: (opts?: { keepDraft?: boolean }) => Promise<void>;
  edit: (fn: (draft: ConfigDraft) => ConfigDraft) => void;
  /** Discard the form's changes. */
  reset: () => void;
  startReview: () => Promise<void>;
  closeReview: () => void;
  apply: (confirmWithinS: number | null) => Promise<void>;
  confirm: () => Promise<void>;
  revert: () => Promise<void>;
  /** Put `config` into the form as desired changes (a profile, an advisor fix) and plan it. */
  loadDesired: (config: MptcpConfig, source: string) => Promise<void>;
  loadAdvice: () => Promise<void>;
}

export type ConfigStore = StoreApi<ConfigState> & { dispose(): void };

async function call<M extends MethodName>(
  api: MptcpApi,
  method: M,
  args: MethodArgs<M>,
): Promise<Result<MethodResult<M>>> {
  try {
    return await api.invoke(method, args);
  } catch (err) {
    return { ok: false, error: { code: 'INTERNAL', message: String(err) } };
  }
}

export function createConfigStore(api: MptcpApi, overview: OverviewStore): ConfigStore {
  let loadSeq = 0;
  let reviewSeq = 0;

  const store = createStore<ConfigState>()((set, get) => {
    /**
     * After the kernel state changed: read it all again, form reset to the new state. One read at a
     * time: the engine answers overlapping netlink dumps with EBUSY (seen in the lab e2e).
     */
    const reloadAll = async (opts: { keepDraft?: boolean } = {}): Promise<void> => {
      await get().load(opts);
      await overview.getState().refresh();
      await get().loadAdvice();
    };

    return {
      base: null,
      loadError: null,
      loading: false,
      draft: null,
      draftSource: null,
      review: null,
      applying: false,
      report: null,
      applyError: null,
      pendingRevertAtMs: null,
      pendingBusy: false,
      pendingError: null,
      advice: null,
      adviceError: null,
      adviceLoading: false,

      load: async (opts = {}) => {
        const mine = ++loadSeq;
        set({ loading: true });
        const r = await call(api, 'mptcp:config:export', {});
        if (mine !== loadSeq) return;
        if (!r.ok) {
          set({ loading: false, loadError: r.error });
          return;
        }
        const current = get().draft;
        set({
          base: r.value,
          loading: false,
          loadError: null,
          ...(opts.keepDraft && current ? {} : { draft: draftFromConfig(r.value), draftSource: null }),
        });
      },

      edit: (fn) => {
        const draft = get().draft;
        if (!draft) return;
        reviewSeq++; // an answer for the old draft must not reopen the review
        set({ draft: fn(draft), review: null });
      },

      reset: () => {
        const base = get().base;
        reviewSeq++;
        set({ draft: base ? draftFromConfig(base) : null, draftSource: null, review: null });
      },

      startReview: async () => {
        const { base, draft } = get();
        if (!base || !draft) return;
        const desired = buildDesired(base, draft);
        if (desired.errorCount > 0 || !desired.changed) return;
        const mine = ++reviewSeq;
        set({ review: { config: desired.config, plan: null, error: null, loading: true }, report: null });
        const r = await call(api, 'mptcp:config:plan', { config: desired.config });
        if (mine !== reviewSeq) return;
        set({
          review: {
            config: desired.config,
            plan: r.ok ? r.value : null,
            error: r.ok ? null : r.error,
            loading: false,
          },
        });
      },

      closeReview: () => {
        reviewSeq++;
        set({ review: null });
      },

      apply: async (confirmWithinS) => {
        const review = get().review;
        if (!review?.plan || get().applying) return;
        set({ applying: true, applyError: null, report: null });
        const r = await call(api, 'mptcp:config:apply', { config: review.config, confirmWithinS });
        if (!r.ok) {
          set({ applying: false, applyError: r.error });
          return;
        }
        const report = r.value;
        set({
          applying: false,
          report: { kind: 'apply', value: report },
          review: report.ok ? null : get().review,
          ...(report.revertAtMs !== null ? { pendingRevertAtMs: report.revertAtMs } : {}),
        });
        // A refused or rolled-back apply left the kernel as it was: keep the form for another try.
        if (report.ok) await reloadAll();
        else await reloadAll({ keepDraft: true });
      },

      confirm: async () => {
        set({ pendingBusy: true, pendingError: null });
        const r = await call(api, 'mptcp:config:confirm', {});
        if (r.ok) set({ pendingBusy: false, pendingRevertAtMs: r.value.revertAtMs });
        else set({ pendingBusy: false, pendingError: r.error });
      },

      revert: async () => {
        set({ pendingBusy: true, pendingError: null });
        const r = await call(api, 'mptcp:config:revert', {});
        if (!r.ok) {
          set({ pendingBusy: false, pendingError: r.error });
          return;
        }
        // A revert that failed leaves the change pending (revertAtMs still set): the user can retry.
        set({
          pendingBusy: false,
          pendingRevertAtMs: r.value.revertAtMs,
          report: { kind: 'revert', value: r.value },
        });
        await reloadAll();
      },

      loadDesired: async (config, source) => {
        if (!get().base) await get().load();
        const draft = get().draft;
        if (!draft) return;
        reviewSeq++;
        set({ draft: overlayConfig(draft, config), draftSource: source, review: null, report: null });
        await get().startReview();
      },

      loadAdvice: async () => {
        set({ adviceLoading: true });
        const r = await call(api, 'mptcp:advice:get', {});
        if (r.ok) set({ advice: r.value, adviceError: null, adviceLoading: false });
        else set({ adviceError: r.error, adviceLoading: false });
      },
    };
  });

  const offPending = api.on('mptcp:config:pending', ({ revertAtMs }) => {
    const was = store.getState().pendingRevertAtMs;
    store.setState({ pendingRevertAtMs: revertAtMs });
    // Reverted on its own (the deadline passed): the kernel state changed under the form.
    if (was !== null && revertAtMs === null && !store.getState().pendingBusy) {
      void (async () => {
        await store.getState().load();
        await overview.getState().refresh();
        await store.getState().loadAdvice();
      })();
    }
  });

  return Object.assign(store, { dispose: offPending });
}
