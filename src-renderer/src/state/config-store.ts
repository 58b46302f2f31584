/**
 * The Configure page's state: the kernel's export (the base), the form draft, the plan under
 * review, the apply report, a change awaiting confirmation, how the last change ended (the engine's
 * mptcp:config:outcome events), what a crash recovery did (mptcp:config:recovered), and the
 * advisor's items.
 *
 * Nothing is applied without a reviewed plan: `startReview()` plans exactly the changed fields, and
 * `apply()` sends the config that was reviewed. After an apply or a revert the export, the overview
 * and the advice are read again, so the form shows the kernel's state, not what we hoped for.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { MptcpConfig } from '../../../shared/config';
import type {
  Advice,
  ApplyReport,
  ConfigOutcome,
  ConfigTimelineEntry,
  PlanView,
} from '../../../shared/config-api';
import type { MptcpApi } from '../../../shared/contract';
import type { ApiError } from '../../../shared/result';
import type { ConfigRecovery } from '../../../shared/types';
import { buildDesired, draftFromConfig, overlayConfig, type ConfigDraft } from './config-draft';
import type { OverviewStore } from './overview-store';
import { invokeSettled } from '../api/settle';

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
  /** How the latest change ended, or where it stands (applied, confirmed, reverted and why). */
  outcome: ConfigOutcome | null;
  /** What engines found that a killed engine left, newest last (until dismissed). */
  recoveries: ConfigRecovery[];
  advice: Advice[] | null;
  adviceError: ApiError | null;
  adviceLoading: boolean;

  load: (opts?: { keepDraft?: boolean }) => Promise<void>;
  edit: (fn: (draft: ConfigDraft) => ConfigDraft) => void;
  /** Discard the form's changes. */
  reset: () => void;
  startReview: () => Promise<void>;
  closeReview: () => void;
  /** Apply the reviewed plan; `allowDisruption`: the user agreed that steps close live subflows. */
  apply: (confirmWithinS: number | null, allowDisruption?: boolean) => Promise<void>;
  dismissRecoveries: () => void;
  confirm: () => Promise<void>;
  revert: () => Promise<void>;
  /** Put `config` into the form as desired changes (a profile, an advisor fix) and plan it. */
  loadDesired: (config: MptcpConfig, source: string) => Promise<void>;
  loadAdvice: () => Promise<void>;
  /**
   * The recoveries the host's timeline kept (mptcp:history:events) from before this page
   * connected: a recovery runs as the engine starts, often before any page is there. Once per
   * store; a host without history (UNSUPPORTED) just has nothing to add.
   */
  loadPast: () => Promise<void>;
}

export type ConfigStore = StoreApi<ConfigState> & { dispose(): void };

const sameRecovery = (a: ConfigRecovery, b: ConfigRecovery): boolean =>
  a.atMs === b.atMs && a.kind === b.kind && a.message === b.message;

export function createConfigStore(api: MptcpApi, overview: OverviewStore): ConfigStore {
  let loadSeq = 0;
  let reviewSeq = 0;
  let pastLoaded = false;
  /** Add a recovery unless it is there already (the host replays some to each page, history too). */
  const addRecovery = (r: ConfigRecovery): void => {
    const list = store.getState().recoveries;
    if (list.some((x) => sameRecovery(x, r))) return;
    // Bounded: a host replays the last 20 to each page that connects.
    store.setState({ recoveries: [...list, r].sort((a, b) => a.atMs - b.atMs).slice(-20) });
  };

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
      outcome: null,
      recoveries: [],
      advice: null,
      adviceError: null,
      adviceLoading: false,

      load: async (opts = {}) => {
        const mine = ++loadSeq;
        set({ loading: true });
        const r = await invokeSettled(api, 'mptcp:config:export', {});
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
        const r = await invokeSettled(api, 'mptcp:config:plan', { config: desired.config });
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

      apply: async (confirmWithinS, allowDisruption = false) => {
        const review = get().review;
        if (!review?.plan || get().applying) return;
        set({ applying: true, applyError: null, report: null });
        const r = await invokeSettled(api, 'mptcp:config:apply', {
          config: review.config,
          confirmWithinS,
          allowDisruption,
        });
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
        const r = await invokeSettled(api, 'mptcp:config:confirm', {});
        if (r.ok) set({ pendingBusy: false, pendingRevertAtMs: r.value.revertAtMs });
        else set({ pendingBusy: false, pendingError: r.error });
      },

      revert: async () => {
        set({ pendingBusy: true, pendingError: null });
        const r = await invokeSettled(api, 'mptcp:config:revert', {});
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

      dismissRecoveries: () => set({ recoveries: [] }),

      loadDesired: async (config, source) => {
        if (!get().base) await get().load();
        const draft = get().draft;
        if (!draft) return;
        reviewSeq++;
        set({ draft: overlayConfig(draft, config), draftSource: source, review: null, report: null });
        await get().startReview();
      },

      loadPast: async () => {
        if (pastLoaded) return;
        pastLoaded = true;
        const r = await invokeSettled(api, 'mptcp:history:events', {});
        if (!r.ok) return;
        for (const e of r.value.entries) if (e.name === 'mptcp:config:recovered') addRecovery(e.payload);
      },

      loadAdvice: async () => {
        set({ adviceLoading: true });
        const r = await invokeSettled(api, 'mptcp:advice:get', {});
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

  const offOutcome = api.on('mptcp:config:outcome', (outcome) => store.setState({ outcome }));
  const offRecovered = api.on('mptcp:config:recovered', addRecovery);

  return Object.assign(store, {
    dispose: () => {
      offPending();
      offOutcome();
      offRecovered();
    },
  });
}

/**
 * Configuration outcomes and crash recoveries as timeline entries (the Events page, kind
 * `config`), for as long as `live()` says the timeline is live (not a recording's replay).
 */
export function watchConfigTimeline(
  api: MptcpApi,
  push: (e: ConfigTimelineEntry) => void,
  live: () => boolean,
): () => void {
  const offOutcome = api.on('mptcp:config:outcome', (outcome) => {
    if (live()) push({ source: 'config', timestampMs: outcome.atMs, outcome });
  });
  const offRecovered = api.on('mptcp:config:recovered', (recovery) => {
    if (live()) push({ source: 'config', timestampMs: recovery.atMs, recovery });
  });
  return () => {
    offOutcome();
    offRecovered();
  };
}
