/**
 * The Path doctor page's state: the form (kept here so that "Trace this path" elsewhere can fill
 * it), the run in progress (its `mptcp:probe:progress` events, scan records as they come), the
 * result shown, and the host's history of runs (`mptcp:probe:history`). The run id is ours, so
 * that progress events that arrive before the start call's answer are already known as ours.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { MethodArgs, MptcpApi } from '../../../shared/contract';
import {
  parsePortList,
  ProbeScanArgsSchema,
  ProbeSubflowsArgsSchema,
  ProbeTraceArgsSchema,
  type ProbeKind,
  type ProbeProgress,
  type ProbeRun,
  type ScanRecord,
} from '../../../shared/path-doctor';
import type { ApiError } from '../../../shared/result';
import { settle } from '../api/settle';

export interface PathDoctorForm {
  tool: ProbeKind;
  /** Trace and subflow check: one host or address. */
  target: string;
  port: string;
  /** Interfaces (or addresses) to probe from; none: by route (trace) or every interface (check). */
  from: string[];
  /** Scan: addresses, ranges and names, separated by spaces or commas. */
  scanTargets: string;
  scanPorts: string;
  scanMode: 'raw' | 'connect';
  scanJoin: boolean;
  ratePps: string;
  maxTtl: string;
  subflowsPerPath: string;
  payloadKiB: string;
  /** Subflow check: more addresses of the far host to join to, separated by spaces or commas. */
  remotes: string;
  /** Subflow check: the user accepts the brief path manager switch (docs/path-doctor.md). */
  allowPmSwitch: boolean;
}

export interface RunningProbe {
  runId: string;
  kind: ProbeKind;
  title: string;
  startedAtMs: number;
}

export interface PathDoctorState {
  form: PathDoctorForm;
  setForm: (patch: Partial<PathDoctorForm>) => void;
  toggleFrom: (name: string) => void;
  running: RunningProbe | null;
  progress: ProbeProgress | null;
  /** The running scan's records so far. */
  liveRecords: ScanRecord[];
  /** The run whose result the page shows (the last one, or one opened from the history). */
  shown: ProbeRun | null;
  history: ProbeRun[];
  /** A start that was refused, or a read that failed. */
  error: ApiError | null;
  cancelling: boolean;
  start: () => Promise<boolean>;
  cancel: () => Promise<void>;
  refreshHistory: () => Promise<void>;
  open: (runId: string) => Promise<void>;
  /** From a fallen-back connection or the advisor: fill the form and trace at once. */
  traceThisPath: (p: { target: string; port: number; from?: string | null }) => Promise<boolean>;
}

export type PathDoctorStore = StoreApi<PathDoctorState> & { dispose(): void };

export const DEFAULT_FORM: PathDoctorForm = {
  tool: 'trace',
  target: '',
  port: '443',
  from: [],
  scanTargets: '',
  scanPorts: '80,443',
  scanMode: 'raw',
  scanJoin: false,
  ratePps: '100',
  maxTtl: '30',
  subflowsPerPath: '1',
  payloadKiB: '1024',
  remotes: '',
  allowPmSwitch: false,
};

/** Run ids the host accepts (ProbeRunIdSchema); random enough that two pages never collide. */
export function newRunId(): string {
  const b = new Uint8Array(12);
  globalThis.crypto.getRandomValues(b);
  return `ui-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
}

type StartArgs =
  | { method: 'mptcp:probe:trace'; args: MethodArgs<'mptcp:probe:trace'> }
  | { method: 'mptcp:probe:scan'; args: MethodArgs<'mptcp:probe:scan'> }
  | { method: 'mptcp:probe:subflows'; args: MethodArgs<'mptcp:probe:subflows'> };

const num = (s: string): number => (s.trim() === '' ? Number.NaN : Number(s));

/** The start call the form describes, or what is wrong with it (checked with the contract's schemas). */
export function formToCall(form: PathDoctorForm, runId: string): StartArgs | { problem: string } {
  const issue = (e: { issues: readonly { path: PropertyKey[]; message: string }[] }): string =>
    e.issues.map((i) => `${i.path.map(String).join('.') || 'arguments'}: ${i.message}`).join('; ');
  if (form.tool === 'scan') {
    const ports = parsePortList(form.scanPorts);
    if (typeof ports === 'string') return { problem: `ports: ${ports}` };
    const targets = form.scanTargets.split(/[\s,]+/).filter((t) => t.length > 0);
    if (targets.length === 0) return { problem: 'targets: give at least one address, range or host name' };
    const p = ProbeScanArgsSchema.safeParse({
      runId,
      targets,
      ports,
      mode: form.scanMode,
      join: form.scanJoin && form.scanMode === 'raw',
      ratePps: num(form.ratePps),
    });
    return p.success ? { method: 'mptcp:probe:scan', args: p.data } : { problem: issue(p.error) };
  }
  if (form.target.trim() === '') return { problem: 'target: give a host name or an address' };
  if (form.tool === 'trace') {
    const p = ProbeTraceArgsSchema.safeParse({
      runId,
      target: form.target.trim(),
      port: num(form.port),
      from: form.from,
      maxTtl: num(form.maxTtl),
      ratePps: Math.min(num(form.ratePps), 10_000),
    });
    return p.success ? { method: 'mptcp:probe:trace', args: p.data } : { problem: issue(p.error) };
  }
  const p = ProbeSubflowsArgsSchema.safeParse({
    runId,
    target: form.target.trim(),
    port: num(form.port),
    from: form.from,
    subflowsPerPath: num(form.subflowsPerPath),
    payloadBytes: Math.round(num(form.payloadKiB) * 1024),
    remotes: form.remotes.split(/[\s,]+/).filter((x) => x !== ''),
    allowPmSwitch: form.allowPmSwitch,
  });
  return p.success ? { method: 'mptcp:probe:subflows', args: p.data } : { problem: issue(p.error) };
}

/** Scan records kept while a scan runs (the host keeps them all; the final result has them). */
const LIVE_RECORDS_MAX = 20_000;

export function createPathDoctorStore(api: MptcpApi): PathDoctorStore {
  // The end of a run: its result from the history, then the history itself.
  const finish = async (runId: string, error: string | null): Promise<void> => {
    const r = await settle(() => api.invoke('mptcp:probe:get', { runId }));
    if (store.getState().running?.runId !== runId) return;
    store.setState({ running: null, cancelling: false, liveRecords: [] });
    if (r.ok && r.value) store.setState({ shown: r.value });
    else if (!r.ok) store.setState({ error: r.error });
    else if (error) store.setState({ error: { code: 'INTERNAL', message: error } });
    await store.getState().refreshHistory();
  };
  const store = createStore<PathDoctorState>()((set, get) => {
    return {
      form: DEFAULT_FORM,
      setForm: (patch) => set({ form: { ...get().form, ...patch } }),
      toggleFrom: (name) => {
        const from = get().form.from;
        set({
          form: {
            ...get().form,
            from: from.includes(name) ? from.filter((f) => f !== name) : [...from, name],
          },
        });
      },
      running: null,
      progress: null,
      liveRecords: [],
      shown: null,
      history: [],
      error: null,
      cancelling: false,
      start: async () => {
        if (get().running) return false;
        const runId = newRunId();
        const c = formToCall(get().form, runId);
        if ('problem' in c) {
          set({ error: { code: 'BAD_REQUEST', message: c.problem } });
          return false;
        }
        const kind: ProbeKind =
          c.method === 'mptcp:probe:trace' ? 'trace' : c.method === 'mptcp:probe:scan' ? 'scan' : 'subflows';
        // Known as ours before the call: its first progress events may come before the answer.
        set({
          running: { runId, kind, title: '', startedAtMs: Date.now() },
          progress: null,
          liveRecords: [],
          error: null,
          cancelling: false,
        });
        const r = await settle(() =>
          c.method === 'mptcp:probe:trace'
            ? api.invoke(c.method, c.args)
            : c.method === 'mptcp:probe:scan'
              ? api.invoke(c.method, c.args)
              : api.invoke(c.method, c.args),
        );
        if (!r.ok) {
          if (get().running?.runId === runId) set({ running: null, error: r.error });
          return false;
        }
        const p = get().progress;
        if (p && p.runId === runId && p.state !== 'running') void finish(runId, p.error);
        void get().refreshHistory();
        return true;
      },
      cancel: async () => {
        const running = get().running;
        if (!running) return;
        set({ cancelling: true });
        const r = await settle(() => api.invoke('mptcp:probe:cancel', { runId: running.runId }));
        if (!r.ok) set({ error: r.error, cancelling: false });
      },
      refreshHistory: async () => {
        const r = await settle(() => api.invoke('mptcp:probe:history', {}));
        if (!r.ok) {
          set({ error: r.error });
          return;
        }
        set({ history: r.value });
        // A run started before this page was opened (or reloaded): follow it.
        const live = r.value.find((h) => h.state === 'running');
        if (!get().running && live)
          set({
            running: { runId: live.runId, kind: live.kind, title: live.title, startedAtMs: live.startedAtMs },
          });
        const running = get().running;
        const mine = running ? r.value.find((h) => h.runId === running.runId) : undefined;
        if (running && mine) {
          set({ running: { ...running, title: mine.title } });
          if (mine.state !== 'running') void finish(running.runId, null);
        }
      },
      open: async (runId) => {
        const r = await settle(() => api.invoke('mptcp:probe:get', { runId }));
        if (!r.ok) set({ error: r.error });
        else if (r.value) set({ shown: r.value, error: null });
        else set({ error: { code: 'ENOENT', message: 'that run has left the history' } });
      },
      traceThisPath: async ({ target, port, from }) => {
        if (get().running) return false;
        set({ form: { ...get().form, tool: 'trace', target, port: String(port), from: from ? [from] : [] } });
        return get().start();
      },
    };
  });

  const off = api.on('mptcp:probe:progress', (p) => {
    const { running, liveRecords } = store.getState();
    if (!running || p.runId !== running.runId) return;
    const more = p.records ?? [];
    store.setState({
      progress: p,
      ...(more.length > 0 ? { liveRecords: [...liveRecords, ...more].slice(-LIVE_RECORDS_MAX) } : {}),
    });
    if (p.state !== 'running') void finish(p.runId, p.error);
  });

  return Object.assign(store, { dispose: off });
}
