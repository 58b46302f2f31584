/**
 * One zustand store per domain, built from the API object (the real one, or a FakeApi in tests)
 * and handed to components through context.
 */
import { createContext, useContext, useSyncExternalStore } from 'react';
import { useStore } from 'zustand';
import type { MptcpApi } from '../../../shared/contract';
import { staticSession, type SessionInfo, type SessionSource } from '../api/session';
import { createConfigStore, watchConfigTimeline, type ConfigState, type ConfigStore } from './config-store';
import { createCcStore, type CcState, type CcStore } from './cc-store';
import { createSessionStore, type SessionStore } from './session-store';
import { createConnectionsStore, type ConnectionsState, type ConnectionsStore } from './connections-store';
import { ConnectionsFeedClient } from './connections-feed-client';
import { createCountersStore, type CountersStore } from './counters-store';
import { createOverviewStore, type OverviewState, type OverviewStore } from './overview-store';
import { createPmStore, type PmState, type PmStore } from './pm-store';
import { createPathDoctorStore, type PathDoctorState, type PathDoctorStore } from './path-doctor-store';
import { createProfilesStore, type ProfilesState, type ProfilesStore } from './profiles-store';
import { EventLog } from './monitor/event-log';
import type { FrameScheduler } from './monitor/frame-notifier';
import { createMonitorStore, type MonitorState, type MonitorStore } from './monitor/monitor-store';
import { SamplesStore, type SamplesOptions } from './monitor/samples-store';
import { createUiStore, type UiState, type UiStore } from './ui-store';

export interface Stores {
  /** For views that read on their own schedule (the detail view's fast loop). */
  api: MptcpApi;
  overview: OverviewStore;
  connections: ConnectionsStore;
  /** The connections feed (deltas from the host, rebuilt into snapshots). */
  feed: ConnectionsFeedClient;
  /** MPTcpExt counters, sampled by the host about once a second, with a bounded history. */
  counters: CountersStore;
  session: SessionStore;
  config: ConfigStore;
  /** Coupled congestion control (BPF struct_ops) on the Configure page. */
  cc: CcStore;
  profiles: ProfilesStore;
  /** The engine's path manager (status, start/stop, its actions). */
  pm: PmStore;
  /** The Path doctor's form, runs and history (mptcp:probe:*). */
  pathDoctor: PathDoctorStore;
  ui: UiStore;
  /** Per-subflow chart history (outside React state). */
  samples: SamplesStore;
  /** Kernel event timeline (outside React state). */
  events: EventLog;
  monitor: MonitorStore;
  dispose(): void;
}

export interface StoresOptions {
  samples?: SamplesOptions;
  /** Frame scheduler for chart and timeline updates (tests pass a synchronous one). */
  schedule?: FrameScheduler;
  now?: () => number;
}

const alwaysOpen: SessionSource = staticSession({
  state: 'open',
  transport: 'ipc',
  detail: null,
  retryAtMs: null,
});

/** Build the stores; the overview is read whenever the session with the host (re)opens. */
export function createStores(
  api: MptcpApi,
  source: SessionSource = alwaysOpen,
  options: StoresOptions = {},
): Stores {
  const overview = createOverviewStore(api);
  const now = options.now ?? Date.now;
  const samples = new SamplesStore({ schedule: options.schedule, ...options.samples });
  const events = new EventLog(5000, options.schedule);
  // The monitor decides whether pushes are live; it is created right after, before any push.
  let monitor: MonitorStore | null = null;
  // Over IPC the host waits for acks before sending more (WebSocket has bufferedAmount instead).
  const feed = new ConnectionsFeedClient(api, { ack: source.get().transport === 'ipc' });
  const live = (): boolean => monitor?.getState().mode !== 'replay';
  const connections = createConnectionsStore(api, feed, now, live);
  const counters = createCountersStore(api, undefined, live);
  monitor = createMonitorStore({ api, connections, feed, samples, events, counters, now });
  // Start the feed over: a full snapshot even if the host's first one went out before we listened.
  feed.resync();
  const session = createSessionStore(source);
  const config = createConfigStore(api, overview);
  // Configuration outcomes and crash recoveries join the timeline (Events, kind `config`).
  const offConfigTimeline = watchConfigTimeline(api, (e) => events.push(e), live);
  const cc = createCcStore(api, overview);
  const profiles = createProfilesStore(api);
  const pm = createPmStore(api);
  const pathDoctor = createPathDoctorStore(api);
  const ui = createUiStore();

  if (session.getState().state === 'open') void overview.getState().refresh();
  const offOpen = session.subscribe((info, prev) => {
    if (info.state === 'open' && prev.state !== 'open') void overview.getState().refresh();
  });

  return {
    api,
    overview,
    connections,
    feed,
    counters,
    session,
    config,
    cc,
    profiles,
    pm,
    pathDoctor,
    ui,
    samples,
    events,
    monitor,
    dispose() {
      offOpen();
      monitor.dispose();
      pm.dispose();
      pathDoctor.dispose();
      config.dispose();
      offConfigTimeline();
      connections.dispose();
      feed.dispose();
      counters.dispose();
      session.dispose();
    },
  };
}

export const StoresContext = createContext<Stores | null>(null);

export function useStores(): Stores {
  const stores = useContext(StoresContext);
  if (!stores) throw new Error('StoresContext is missing: render inside <StoresContext value={stores}>');
  return stores;
}

export function useOverview<T>(selector: (s: OverviewState) => T): T {
  return useStore(useStores().overview, selector);
}

export function useConnections<T>(selector: (s: ConnectionsState) => T): T {
  return useStore(useStores().connections, selector);
}

export function useSession<T>(selector: (s: SessionInfo) => T): T {
  return useStore(useStores().session, selector);
}

export function useConfig<T>(selector: (s: ConfigState) => T): T {
  return useStore(useStores().config, selector);
}

export function useCc<T>(selector: (s: CcState) => T): T {
  return useStore(useStores().cc, selector);
}

export function useProfiles<T>(selector: (s: ProfilesState) => T): T {
  return useStore(useStores().profiles, selector);
}

export function usePathDoctor<T>(selector: (s: PathDoctorState) => T): T {
  return useStore(useStores().pathDoctor, selector);
}

export function usePm<T>(selector: (s: PmState) => T): T {
  return useStore(useStores().pm, selector);
}

export function useMonitor<T>(selector: (s: MonitorState) => T): T {
  return useStore(useStores().monitor, selector);
}

/** Re-render when the samples change, at most once per animation frame; returns the version. */
export function useSamplesVersion(): number {
  const { samples } = useStores();
  return useSyncExternalStore(samples.subscribe, samples.getVersion);
}

/** Re-render when the event log changes, at most once per animation frame. */
export function useEventsVersion(): number {
  const { events } = useStores();
  return useSyncExternalStore(events.subscribe, events.getVersion);
}

export function useUi<T>(selector: (s: UiState) => T): T {
  return useStore(useStores().ui, selector);
}
