/**
 * MPTcpExt counters, live: a base read with `mptcp:counters:get`, then the host's
 * `mptcp:counters:sample` events (about 1 Hz, only the counters that changed, absolute values).
 * A sample applies when the base here is at least as new as the engine's previous sample
 * (prevTakenAtMs); otherwise one was missed and the base is read again. Each applied sample adds a
 * point to a bounded history of the diagnostic groups' rates (events per second) for the chart.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { MptcpApi } from '../../../shared/contract';
import type { ApiError } from '../../../shared/result';
import type { CountersSample, MptcpCounters } from '../../../shared/types';

/**
 * The counters that point at a problem when they move, grouped for the chart (names as the kernel
 * spells them in /proc/net/netstat; meanings from net/mptcp/mib.c).
 */
export const DIAGNOSTIC_GROUPS = {
  joinFailures: [
    'MPJoinRejected',
    'MPJoinNoTokenFound',
    'MPJoinSynAckHMacFailure',
    'MPJoinAckHMacFailure',
    'MPJoinSynTxCreatSkErr',
    'MPJoinSynTxBindErr',
    'MPJoinSynTxConnectErr',
  ],
  fallbacks: [
    'MPCapableFallbackACK',
    'MPCapableFallbackSYNACK',
    'MPCapableSYNTXDisabled',
    'MPFallbackTokenInit',
    'MPCapableDataFallback',
    'DSSCorruptionFallback',
    'DssFallback',
    'MD5SigFallback',
    'SimultConnectFallback',
    'FallbackFailed',
  ],
  drops: [
    'MPCapableSYNTXDrop',
    'AddAddrDrop',
    'AddAddrTxDrop',
    'EchoAddTxDrop',
    'RmAddrDrop',
    'RmAddrTxDrop',
    'RcvPruned',
  ],
  checksumErrors: ['DataCsumErr', 'MPFailTx', 'MPFailRx', 'DSSCorruptionReset'],
} as const;
export type DiagnosticGroup = keyof typeof DIAGNOSTIC_GROUPS;
export const DIAGNOSTIC_GROUP_NAMES = Object.keys(DIAGNOSTIC_GROUPS) as DiagnosticGroup[];

export interface CountersPoint {
  tMs: number;
  /** Events per second over the interval that ends at tMs, per diagnostic group. */
  perSec: Record<DiagnosticGroup, number>;
  /**
   * Subflows the kernel marked stale and stale ones that recovered, per second (MPTcpExt
   * SubflowStale, SubflowRecover; docs/live-data.md, "Failover events").
   */
  stalePerSec: number;
  recoverPerSec: number;
}

export interface CountersState {
  counters: MptcpCounters | null;
  error: ApiError | null;
  /** Oldest first, at most `maxPoints`. */
  history: CountersPoint[];
  /** Samples applied; base reads because one was missed. */
  applied: number;
  rebased: number;
  refresh: () => void;
}

export type CountersStore = StoreApi<CountersState> & {
  dispose(): void;
  /** Replay: forget the counters and their history (entering or leaving a replay). */
  clear(): void;
  /** Replay: a recorded reading, applied like a live one (rates against the one before). */
  adoptRecorded(counters: MptcpCounters): void;
};

function groupTotal(counters: Record<string, number>, group: DiagnosticGroup): number {
  let sum = 0;
  for (const name of DIAGNOSTIC_GROUPS[group]) sum += counters[name] ?? 0;
  return sum;
}

export function ratesBetween(prev: MptcpCounters, next: MptcpCounters): CountersPoint | null {
  const dtS = (next.takenAtMs - prev.takenAtMs) / 1000;
  if (!(dtS > 0)) return null;
  const perSec = {} as Record<DiagnosticGroup, number>;
  for (const g of DIAGNOSTIC_GROUP_NAMES) {
    // A counter that went down (namespace recreated) reads as 0, not as a negative rate.
    perSec[g] = Math.max(0, groupTotal(next.counters, g) - groupTotal(prev.counters, g)) / dtS;
  }
  const rate = (name: string): number =>
    Math.max(0, (next.counters[name] ?? 0) - (prev.counters[name] ?? 0)) / dtS;
  return {
    tMs: next.takenAtMs,
    perSec,
    stalePerSec: rate('SubflowStale'),
    recoverPerSec: rate('SubflowRecover'),
  };
}

/**
 * `isLive` false (a recording replays) makes the store ignore the host's samples and reads; the
 * replay then drives it with adoptRecorded.
 */
export function createCountersStore(
  api: MptcpApi,
  maxPoints = 600,
  isLive: () => boolean = () => true,
): CountersStore {
  let reading = false;

  const adopt = (next: MptcpCounters): void => {
    const s = store.getState();
    const prev = s.counters;
    if (prev && next.takenAtMs <= prev.takenAtMs) return;
    const point = prev ? ratesBetween(prev, next) : null;
    const history = point ? [...s.history.slice(-(maxPoints - 1)), point] : s.history;
    store.setState({ counters: next, history, error: null });
  };

  const refresh = (): void => {
    if (reading) return;
    reading = true;
    api.invoke('mptcp:counters:get', {}).then(
      (r) => {
        reading = false;
        if (!isLive()) return;
        if (r.ok) adopt(r.value);
        else store.setState({ error: r.error });
      },
      (err: unknown) => {
        reading = false;
        if (!isLive()) return;
        store.setState({ error: { code: 'INTERNAL', message: String(err) } });
      },
    );
  };

  const onSample = (sample: CountersSample): void => {
    if (!isLive()) return;
    const base = store.getState().counters;
    if (sample.prevTakenAtMs === null) {
      // The engine's first sample carries every counter: a base by itself.
      adopt({ takenAtMs: sample.takenAtMs, counters: sample.changed });
      store.setState((s) => ({ applied: s.applied + 1 }));
      return;
    }
    if (base && sample.takenAtMs <= base.takenAtMs) return; // older than what we hold
    if (!base || base.takenAtMs < sample.prevTakenAtMs) {
      // A sample in between was missed (or no base yet): its changes are not in this one.
      store.setState((s) => ({ rebased: s.rebased + 1 }));
      refresh();
      return;
    }
    adopt({ takenAtMs: sample.takenAtMs, counters: { ...base.counters, ...sample.changed } });
    store.setState((s) => ({ applied: s.applied + 1 }));
  };

  const store = createStore<CountersState>()(() => ({
    counters: null,
    error: null,
    history: [],
    applied: 0,
    rebased: 0,
    refresh,
  }));
  const off = api.on('mptcp:counters:sample', onSample);
  refresh();
  return Object.assign(store, {
    dispose: off,
    clear: () => store.setState({ counters: null, history: [], error: null }),
    adoptRecorded: adopt,
  });
}
