/**
 * Live monitoring state: the selected connection, pause, recording, and replay. It routes the
 * host's pushes (snapshots, kernel events, path-manager actions) into the samples store, the event
 * log and the connections store while live, and records them with the counters store's readings;
 * while replaying a recording the live feed is ignored and the recording's entries drive the same
 * stores instead.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import { EVENTS_DROPPED_CODE, type MptcpApi } from '../../../../shared/contract';
import type { ConnectionsSnapshot } from '../../../../shared/types';
import type { ConnectionsStore } from '../connections-store';
import type { CountersStore } from '../counters-store';
import type { ConnectionsFeedClient } from '../connections-feed-client';
import type { EventLog, LogEvent } from './event-log';
import { parseRecording, Recorder, SnapshotReplayer, type LineError, type RecordedEntry } from './recording';
import type { SamplesStore } from './samples-store';

export const WINDOWS_MS = [30_000, 60_000, 300_000] as const;
export type ReplaySpeed = 1 | 4;
/** A long quiet stretch in a recording replays in at most this long. */
const MAX_REPLAY_GAP_MS = 2000;

export interface ReplayInfo {
  fileName: string;
  playing: boolean;
  speed: ReplaySpeed;
  /** Entries applied so far. */
  position: number;
  total: number;
}

export interface MonitorState {
  mode: 'live' | 'replay';
  paused: boolean;
  /** The chart clock when paused: the window ends here until resumed. */
  pausedAtMs: number | null;
  /** The connections table as it was when paused. */
  frozenSnapshot: ConnectionsSnapshot | null;
  selectedToken: number | null;
  windowMs: number;
  recording: boolean;
  recordedLines: number;
  recordingFull: boolean;
  /** A recording is in memory and can be saved. */
  canSave: boolean;
  replay: ReplayInfo | null;
  /** Lines of the last opened file that failed validation. */
  openErrors: LineError[];
  openedFile: string | null;
  /** The host's last notice that it dropped kernel events while this page was behind. */
  eventsDroppedNotice: string | null;

  select: (token: number | null) => void;
  setWindow: (ms: number) => void;
  togglePause: () => void;
  toggleRecording: () => void;
  /** The recording as a file, or null when there is none. */
  saveRecording: () => { filename: string; text: string } | null;
  /** Validate and, if anything is replayable, start replaying it. */
  openRecording: (fileName: string, text: string) => { entries: number; errors: LineError[] };
  play: () => void;
  pauseReplay: () => void;
  setSpeed: (speed: ReplaySpeed) => void;
  exitReplay: () => void;
}

export type MonitorStore = StoreApi<MonitorState> & { dispose(): void };

export interface MonitorDeps {
  api: MptcpApi;
  connections: ConnectionsStore;
  /** The live snapshots (rebuilt from the host's deltas). */
  feed: ConnectionsFeedClient;
  samples: SamplesStore;
  events: EventLog;
  /** MPTcpExt counters: recorded at each sample, driven by the recording while it replays. */
  counters?: CountersStore;
  now?: () => number;
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[:.]/g, '-');
}

export function createMonitorStore(deps: MonitorDeps): MonitorStore {
  const { api, connections, feed, samples, events, counters } = deps;
  const now = deps.now ?? Date.now;
  let recorder: Recorder | null = null;
  let entries: RecordedEntry[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;

  const cancelTimer = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };

  const replayer = new SnapshotReplayer();
  const apply = (e: RecordedEntry): void => {
    if (e.type === 'snapshot' || e.type === 'delta') {
      const snapshot = replayer.apply(e);
      if (snapshot) {
        connections.replace(snapshot);
        samples.ingestSnapshot(snapshot);
      }
    } else if (e.type === 'event') {
      events.push(e.event);
    } else if (e.type === 'pm') {
      events.push({ source: 'pm', timestampMs: e.action.timestampMs, action: e.action });
    } else if (e.type === 'failover') {
      events.push({ source: 'failover', timestampMs: e.failover.timestampMs, failover: e.failover });
    } else {
      counters?.adoptRecorded(e.counters);
    }
  };

  /** Empties what a replay (re)fills. */
  const clearViews = (): void => {
    replayer.reset();
    samples.clear();
    events.clear();
    connections.replace(null);
    counters?.clear();
  };

  const step = (): void => {
    timer = null;
    const replay = store.getState().replay;
    if (!replay?.playing) return;
    const entry = entries[replay.position];
    if (!entry) {
      store.setState({ replay: { ...replay, playing: false } });
      return;
    }
    apply(entry);
    const position = replay.position + 1;
    const next = entries[position];
    store.setState({ replay: { ...replay, position, playing: next !== undefined } });
    if (next) scheduleNext(position, replay.speed);
  };

  /** Wait for the recorded gap before entry `position` (capped), at `speed`. */
  const scheduleNext = (position: number, speed: ReplaySpeed): void => {
    cancelTimer();
    const prev = entries[position - 1];
    const next = entries[position];
    if (!next) return;
    const gapMs = prev ? Math.min(MAX_REPLAY_GAP_MS, Math.max(0, next.tMs - prev.tMs)) : 0;
    timer = setTimeout(step, gapMs / speed);
  };

  const record = (entry: RecordedEntry): void => {
    if (!recorder || !store.getState().recording) return;
    if (recorder.add(entry)) {
      // Counting every line in React state would re-render per event; a coarse count is enough.
      if (recorder.lines % 10 === 1) store.setState({ recordedLines: recorder.lines });
    } else if (!store.getState().recordingFull) {
      store.setState({ recording: false, recordingFull: true, recordedLines: recorder.lines });
    }
  };

  const store = createStore<MonitorState>()((set, get) => ({
    mode: 'live',
    paused: false,
    pausedAtMs: null,
    frozenSnapshot: null,
    selectedToken: null,
    windowMs: 60_000,
    recording: false,
    recordedLines: 0,
    recordingFull: false,
    canSave: false,
    replay: null,
    openErrors: [],
    openedFile: null,
    eventsDroppedNotice: null,

    select: (token) => {
      set({ selectedToken: token });
      if (token !== null && get().mode === 'live') void loadConnectionHistory(token);
    },
    setWindow: (ms) => set({ windowMs: ms }),
    togglePause: () =>
      set((s) =>
        s.paused
          ? { paused: false, pausedAtMs: null, frozenSnapshot: null }
          : { paused: true, pausedAtMs: samples.clockMs, frozenSnapshot: connections.getState().snapshot },
      ),

    toggleRecording: () => {
      if (get().recording) {
        set({ recording: false, recordedLines: recorder?.lines ?? 0 });
        return;
      }
      recorder = new Recorder(now());
      set({ recording: true, recordedLines: 0, recordingFull: false, canSave: true });
    },

    saveRecording: () => {
      if (!recorder) return null;
      set({ recordedLines: recorder.lines });
      return { filename: `mptcp-studio-${stamp(recorder.startedAtMs)}.ndjson`, text: recorder.text() };
    },

    openRecording: (fileName, text) => {
      const parsed = parseRecording(text);
      set({ openErrors: parsed.errors, openedFile: fileName });
      if (parsed.entries.length === 0) return { entries: 0, errors: parsed.errors };
      cancelTimer();
      entries = parsed.entries;
      clearViews();
      set({
        mode: 'replay',
        paused: false,
        pausedAtMs: null,
        frozenSnapshot: null,
        replay: { fileName, playing: true, speed: 1, position: 0, total: entries.length },
      });
      step();
      return { entries: entries.length, errors: parsed.errors };
    },

    play: () => {
      const replay = get().replay;
      if (!replay || replay.playing) return;
      // Played to the end: start over.
      const position = replay.position >= replay.total ? 0 : replay.position;
      if (position === 0) clearViews();
      set({ replay: { ...replay, playing: true, position } });
      cancelTimer();
      step();
    },

    pauseReplay: () => {
      const replay = get().replay;
      if (!replay) return;
      cancelTimer();
      set({ replay: { ...replay, playing: false } });
    },

    setSpeed: (speed) => {
      const replay = get().replay;
      if (!replay) return;
      set({ replay: { ...replay, speed } });
      // The pending wait was timed for the old speed.
      if (replay.playing && timer !== null) scheduleNext(replay.position, speed);
    },

    exitReplay: () => {
      cancelTimer();
      entries = [];
      clearViews();
      set({ mode: 'live', replay: null, openErrors: [], openedFile: null });
      connections.reload();
      counters?.getState().refresh();
    },
  }));

  const live = (): boolean => store.getState().mode === 'live';

  /** The host's last minutes of one connection (a host without history says UNSUPPORTED). */
  const loadConnectionHistory = async (token: number): Promise<void> => {
    const r = await api.invoke('mptcp:history:connection', { token }).catch(() => null);
    if (r?.ok && live()) samples.ingestHistory(r.value);
  };
  /** The host's timeline from before this page started. */
  const loadTimeline = async (): Promise<void> => {
    const r = await api.invoke('mptcp:history:events', {}).catch(() => null);
    if (!r?.ok || !live()) return;
    const older: LogEvent[] = [];
    for (const e of r.value.entries) {
      if (e.name === 'mptcp:kernel:event') older.push(e.payload);
      else if (e.name === 'mptcp:pm:action')
        older.push({ source: 'pm', timestampMs: e.payload.timestampMs, action: e.payload });
      else if (e.name === 'mptcp:config:outcome')
        older.push({ source: 'config', timestampMs: e.payload.atMs, outcome: e.payload });
      else if (e.name === 'mptcp:failover:event')
        older.push({ source: 'failover', timestampMs: e.payload.timestampMs, failover: e.payload });
      else older.push({ source: 'config', timestampMs: e.payload.atMs, recovery: e.payload });
    }
    events.prependOlder(older);
  };
  void loadTimeline();
  const offSnapshot = feed.subscribe((snapshot) => {
    if (!live()) return;
    samples.ingestSnapshot(snapshot);
    record({ tMs: now(), type: 'snapshot', snapshot });
  });
  const offEvent = api.on('mptcp:kernel:event', (event) => {
    if (!live()) return;
    events.push(event);
    record({ tMs: now(), type: 'event', event });
  });
  // The timeline has a gap: say so on the Events page rather than show it as complete.
  const offDropped = api.on('mptcp:engine:error', (e) => {
    if (e.code === EVENTS_DROPPED_CODE) store.setState({ eventsDroppedNotice: e.message });
  });

  // Path-manager actions join the timeline, and the recording.
  const offPm = api.on('mptcp:pm:action', (action) => {
    if (!live()) return;
    events.push({ source: 'pm', timestampMs: action.timestampMs, action });
    record({ tMs: now(), type: 'pm', action });
  });
  // Failover (a subflow stalled or recovered, traffic moved) joins the timeline, and the recording.
  const offFailover = api.on('mptcp:failover:event', (failover) => {
    if (!live()) return;
    events.push({ source: 'failover', timestampMs: failover.timestampMs, failover });
    record({ tMs: now(), type: 'failover', failover });
  });
  // Each new MPTcpExt reading (about 1 Hz), whole: a replay needs no base read.
  const offCounters = counters?.subscribe((s, before) => {
    if (!live() || s.counters === null || s.counters === before.counters) return;
    record({ tMs: now(), type: 'counters', counters: s.counters });
  });

  return Object.assign(store, {
    dispose() {
      cancelTimer();
      offSnapshot();
      offEvent();
      offDropped();
      offPm();
      offFailover();
      offCounters?.();
    },
  });
}
