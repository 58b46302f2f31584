/**
 * Live connections: the latest snapshot of the connections feed (rebuilt from the host's deltas,
 * see connections-feed-client.ts; only the latest, chart history lives in the samples store) and the
 * poller's `mptcp:engine:error`s, which the UI shows instead of silently keeping stale data.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import { EVENTS_DROPPED_CODE, type EventPayload, type MptcpApi } from '../../../shared/contract';
import type { ApiError } from '../../../shared/result';
import type { ConnectionsSnapshot } from '../../../shared/types';
import type { ConnectionsFeedClient } from './connections-feed-client';
import { RateTracker, type Rates } from './connections-index';

export type EngineError = EventPayload<'mptcp:engine:error'> & { atMs: number };

export interface ConnectionsState {
  snapshot: ConnectionsSnapshot | null;
  /** When the snapshot arrived here, ms since the epoch. */
  receivedAtMs: number | null;
  /** The poller's last error; cleared by the next snapshot when it came from the connections poll. */
  engineError: EngineError | null;
  /** The initial `mptcp:connections:list` failed and no snapshot has arrived since. */
  loadError: ApiError | null;
}

export type ConnectionsStore = StoreApi<ConnectionsState> & {
  dispose(): void;
  /** Replay: show this snapshot regardless of order (null empties the table). */
  replace(snapshot: ConnectionsSnapshot | null): void;
  /** Read the live list again (back from a replay). */
  reload(): void;
  /**
   * Each connection's throughput over the interval that ended with `snapshot` (one this store
   * held; a paused table keeps asking for its frozen one). Connections absent moved no bytes.
   */
  ratesOf(snapshot: ConnectionsSnapshot | null): ReadonlyMap<number, Rates>;
};

const NO_MOVES: ReadonlyMap<number, Rates> = new Map();

/**
 * `isLive` gates the host's pushes: while it returns false (replaying a recording) they are
 * ignored and only `replace` changes the snapshot.
 */
export function createConnectionsStore(
  api: MptcpApi,
  feed: ConnectionsFeedClient,
  now: () => number = Date.now,
  isLive: () => boolean = () => true,
): ConnectionsStore {
  const store = createStore<ConnectionsState>()(() => ({
    snapshot: null,
    receivedAtMs: null,
    engineError: null,
    loadError: null,
  }));

  // Rates are worked out once per snapshot from what changed (connections-index.ts), not per
  // render; kept by snapshot so that a paused table shows the rates it was paused with.
  const rates = new RateTracker();
  const ratesBySnapshot = new WeakMap<ConnectionsSnapshot, ReadonlyMap<number, Rates>>();
  const track = (snapshot: ConnectionsSnapshot): void => {
    if (!ratesBySnapshot.has(snapshot)) ratesBySnapshot.set(snapshot, rates.next(snapshot));
  };

  const accept = (snapshot: ConnectionsSnapshot): void => {
    if (!isLive()) return;
    const current = store.getState();
    if (current.snapshot && snapshot.takenAtMs < current.snapshot.takenAtMs) return; // out of order
    track(snapshot);
    const engineError = current.engineError?.source === 'connections' ? null : current.engineError;
    store.setState({ snapshot, receivedAtMs: now(), engineError, loadError: null });
  };

  const offSnapshot = feed.subscribe(accept);
  const offError = api.on('mptcp:engine:error', (e) => {
    if (e.code === EVENTS_DROPPED_CODE) return; // about the Events timeline, shown there
    store.setState({ engineError: { ...e, atMs: now() } });
  });

  // Fill the table before the first push arrives (the poller runs about once a second).
  const reload = (): void => {
    api.invoke('mptcp:connections:list', {}).then(
      (result) => {
        if (result.ok) accept(result.value);
        else if (!store.getState().snapshot && isLive()) store.setState({ loadError: result.error });
      },
      (err: unknown) => {
        if (!store.getState().snapshot && isLive())
          store.setState({ loadError: { code: 'INTERNAL', message: String(err) } });
      },
    );
  };
  reload();

  return Object.assign(store, {
    dispose() {
      offSnapshot();
      offError();
    },
    replace(snapshot: ConnectionsSnapshot | null) {
      if (snapshot) track(snapshot);
      else rates.reset();
      store.setState({ snapshot, receivedAtMs: snapshot ? now() : null, engineError: null, loadError: null });
    },
    reload,
    ratesOf(snapshot: ConnectionsSnapshot | null) {
      return (snapshot && ratesBySnapshot.get(snapshot)) ?? NO_MOVES;
    },
  });
}
