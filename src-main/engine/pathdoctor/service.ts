/**
 * The Path doctor through the contract (`mptcp:probe:*`, docs/path-doctor.md "In the UI"): runs a
 * trace, a scan or a subflow check in the engine's namespace, where the engine runs (in the
 * privileged agent for an unprivileged UI). A start answers once the run is prepared (targets
 * expanded and checked, sources resolved, the helper started), so that refusals come back as the
 * call's error; the run then reports on `mptcp:probe:progress` and ends in a bounded history.
 */
import { readFile } from 'node:fs/promises';
import type { KernelHandlers } from '../../../shared/contract';
import {
  PROBE_HISTORY_MAX,
  PROBE_MAX_RUNNING,
  PROBE_MAX_SCAN_PAIRS,
  type ProbeKind,
  type ProbeProgress,
  type ProbeResult,
  type ProbeRun,
  type ProbeScanArgs,
  type ProbeSubflowsArgs,
  type ProbeTraceArgs,
  type ScanRecord,
  type ScanResult,
  type TraceResult,
} from '../../../shared/path-doctor';
import { parseIp } from '../../../shared/packet/addr';
import { compactPorts } from '../../../shared/path-doctor-format';
import { ApiFailure, type ErrorCode } from '../../../shared/result';
import type { Kernel } from '../kernel';
import type { NetnsIdentity } from '../netns-identity';
import { CheckHelper } from './check-helper';
import { connectScan } from './connect-scan';
import { ProbeHelperError, RawProbeHelper } from './helper';
import { rawScan } from './scanner';
import { defaultSources, resolveSources, SourceError, type LocalAddress, type ProbeSource } from './sources';
import {
  pmSwitchConsentText,
  PmSwitchConsentError,
  runSubflowCheck,
  SubflowCheckError,
} from './subflow-check';
import { PmSwitch, PmSwitchRefused } from './pm-switch';
import { expandTargets, TargetError, type Resolver, type Target } from './targets';
import { runTrace } from './trace';

export interface ProbeServiceOptions {
  emit: (p: ProbeProgress) => void;
  kernel: Pick<Kernel, 'reads' | 'pm' | 'watchMptcpEvents'>;
  /** This namespace's identity: names the path-manager switch's state file. */
  identity?: () => Promise<NetnsIdentity>;
  stateDir?: string;
  procRoot?: string;
  helperPath?: string;
  resolve?: Resolver;
  /** Progress events at most this often per run (the last one always goes). */
  progressIntervalMs?: number;
}

/** Scan records kept in the whole history; past it the oldest runs lose their results first. */
const HISTORY_MAX_RECORDS = 50_000;
/** CAP_NET_ADMIN (uapi linux/capability.h): the subflow check adds subflows. */
const CAP_NET_ADMIN = 12;

interface Running {
  run: ProbeRun;
  ac: AbortController;
}

export type ProbeMethodName =
  | 'mptcp:probe:trace'
  | 'mptcp:probe:scan'
  | 'mptcp:probe:subflows'
  | 'mptcp:probe:cancel'
  | 'mptcp:probe:history'
  | 'mptcp:probe:get';
export type ProbeHandlers = Pick<KernelHandlers, ProbeMethodName>;

function failure(e: unknown): ApiFailure {
  if (e instanceof ApiFailure) return e;
  const message = e instanceof Error ? e.message : String(e);
  let code: ErrorCode = 'INTERNAL';
  if (e instanceof TargetError || e instanceof SourceError || e instanceof SubflowCheckError) code = 'EINVAL';
  else if (e instanceof PmSwitchConsentError || e instanceof PmSwitchRefused) code = 'EPERM';
  else if (e instanceof ProbeHelperError && /CAP_NET_RAW|Operation not permitted/.test(message))
    code = 'EPERM';
  return new ApiFailure(code, message);
}

/** A scan's ports for its title: ranges compacted, at most about 40 characters. */
function shortPorts(ports: readonly number[]): string {
  const text = compactPorts(ports);
  return text.length <= 40 ? text : `${text.slice(0, text.lastIndexOf(',', 40))},…`;
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

export function scanSummary(s: ScanResult): string {
  const counts = Object.entries(s.summary.counts)
    .sort(([, a], [, b]) => b - a)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  return `${plural(s.records.length, 'result')}${counts ? ` (${counts})` : ''} from ${plural(s.summary.probesSent, 'probe')}`;
}

export class ProbeService {
  private readonly running = new Map<string, Running>();
  /** Newest first. */
  private history: ProbeRun[] = [];
  readonly pmSwitch: PmSwitch;
  readonly handlers: ProbeHandlers;
  private recovered: Promise<unknown> | null = null;

  constructor(private readonly o: ProbeServiceOptions) {
    this.pmSwitch = new PmSwitch({
      ...(o.procRoot !== undefined ? { procRoot: o.procRoot } : {}),
      ...(o.stateDir !== undefined ? { stateDir: o.stateDir } : {}),
      ...(o.identity ? { identity: o.identity } : {}),
    });
    this.handlers = {
      'mptcp:probe:trace': (a) =>
        this.start(
          'trace',
          a.runId,
          `${a.target} port ${a.port}${a.from.length ? ` from ${a.from.join(', ')}` : ''}`,
          () => this.prepareTrace(a),
        ),
      'mptcp:probe:scan': (a) =>
        this.start(
          'scan',
          a.runId,
          `${a.targets.slice(0, 3).join(', ')}${a.targets.length > 3 ? ` and ${a.targets.length - 3} more` : ''} ports ${shortPorts(a.ports)} (${a.mode})`,
          () => this.prepareScan(a),
        ),
      'mptcp:probe:subflows': (a) =>
        this.start(
          'subflows',
          a.runId,
          `${a.target} port ${a.port}${a.from.length ? ` from ${a.from.join(', ')}` : ' from every interface'}`,
          () => this.prepareSubflows(a),
        ),
      'mptcp:probe:cancel': ({ runId }) => {
        const r = this.running.get(runId);
        if (!r) return Promise.resolve({ cancelled: false });
        r.ac.abort();
        return Promise.resolve({ cancelled: true });
      },
      'mptcp:probe:history': () => Promise.resolve(this.history.map((r) => ({ ...r, result: null }))),
      'mptcp:probe:get': ({ runId }) => Promise.resolve(this.history.find((r) => r.runId === runId) ?? null),
    };
  }

  /** Register, prepare (errors go back to the caller), then run in the background. */
  private async start(
    kind: ProbeKind,
    runId: string,
    title: string,
    prepare: () => Promise<
      (ac: AbortController, progress: Progress) => Promise<{ result: ProbeResult; summary: string }>
    >,
  ): Promise<{ runId: string; startedAtMs: number }> {
    if (this.running.has(runId) || this.history.some((r) => r.runId === runId))
      throw new ApiFailure('BAD_REQUEST', `run id ${runId} is already taken`);
    if (this.running.size >= PROBE_MAX_RUNNING)
      throw new ApiFailure(
        'EBUSY',
        `${PROBE_MAX_RUNNING} probe runs are already running here; wait or cancel one`,
      );
    const run: ProbeRun = {
      runId,
      kind,
      state: 'running',
      title,
      startedAtMs: Date.now(),
      finishedAtMs: null,
      summary: 'starting',
      result: null,
    };
    const ac = new AbortController();
    // Taken before preparing: two starts cannot both pass the limit.
    this.running.set(runId, { run, ac });
    let body: Awaited<ReturnType<typeof prepare>>;
    try {
      body = await prepare();
    } catch (e) {
      this.running.delete(runId);
      throw failure(e);
    }
    const progress = new Progress(run, this.o.emit, this.o.progressIntervalMs ?? 200);
    this.remember(run);
    progress.send('starting', true);
    void body(ac, progress)
      .then(
        ({ result, summary }) => {
          run.state = ac.signal.aborted ? 'cancelled' : 'done';
          run.result = result;
          run.summary = summary;
        },
        (e: unknown) => {
          run.state = ac.signal.aborted ? 'cancelled' : 'failed';
          run.summary = failure(e).message;
          progress.error = run.summary;
        },
      )
      .finally(() => {
        run.finishedAtMs = Date.now();
        this.running.delete(runId);
        this.trim();
        progress.send(run.summary, true);
      });
    return { runId, startedAtMs: run.startedAtMs };
  }

  private remember(run: ProbeRun): void {
    this.history.unshift(run);
    this.trim();
  }

  /** At most PROBE_HISTORY_MAX finished runs, and HISTORY_MAX_RECORDS scan records in all. */
  private trim(): void {
    const keep: ProbeRun[] = [];
    let finished = 0;
    let records = 0;
    for (const r of this.history) {
      if (r.state !== 'running' && ++finished > PROBE_HISTORY_MAX) continue;
      if (r.result?.kind === 'scan') {
        records += r.result.scan.records.length;
        if (records > HISTORY_MAX_RECORDS) {
          r.result = null;
          r.summary = `${r.summary} (result dropped from the history: too many records)`;
        }
      }
      keep.push(r);
    }
    this.history = keep;
  }

  private async targetsOf(specs: readonly string[], max: number): Promise<Target[]> {
    const targets = await expandTargets(specs, {
      max,
      ...(this.o.resolve ? { resolve: this.o.resolve } : {}),
    });
    if (targets.length === 0) throw new TargetError('no target left to probe');
    return targets;
  }

  private async prepareTrace(a: ProbeTraceArgs) {
    const [target] = await this.targetsOf([a.target], 64);
    if (!target) throw new TargetError(`no address for ${a.target}`);
    const helper = await RawProbeHelper.open({
      ratePps: a.ratePps,
      burst: 8,
      ...(this.o.helperPath ? { helperPath: this.o.helperPath } : {}),
    });
    let sources: { source: Uint8Array; ifindex: number; from: string | null }[];
    try {
      if (a.from.length === 0)
        sources = [{ source: await helper.sourceFor(target.address), ifindex: 0, from: null }];
      else
        sources = resolveSources(a.from, target.address.length as 4 | 16, await helper.addresses()).map(
          (s) => ({
            source: parseIp(s.address) as Uint8Array,
            // An address names its source, not an interface: routed by that source (policy routing).
            ifindex: s.spec !== null && parseIp(s.spec) ? 0 : s.ifindex,
            from: s.spec,
          }),
        );
    } catch (e) {
      await helper.close();
      throw e;
    }
    return async (ac: AbortController, progress: Progress) => {
      const answered = new Map<number, number>();
      let sent = 0;
      try {
        const traces: TraceResult[] = await Promise.all(
          sources.map((s, i) =>
            runTrace({
              helper,
              target,
              port: a.port,
              source: s.source,
              ifindex: s.ifindex,
              from: s.from,
              maxTtl: a.maxTtl,
              retries: a.retries,
              timeoutMs: a.timeoutMs,
              signal: ac.signal,
              onProgress: (hops, probes) => {
                answered.set(i, hops);
                sent = Math.max(sent, probes);
                const n = [...answered.values()].reduce((x, y) => x + y, 0);
                progress.update(
                  n,
                  0,
                  sent,
                  `${n} hop answer${n === 1 ? '' : 's'} from ${sources.length} source${sources.length === 1 ? '' : 's'}`,
                );
              },
            }),
          ),
        );
        return {
          result: { kind: 'trace' as const, traces, cancelled: ac.signal.aborted },
          summary: traces
            .map((t) => (traces.length > 1 ? `${t.from ?? t.source}: ${t.verdict}` : t.verdict))
            .join(' | '),
        };
      } finally {
        await helper.close();
      }
    };
  }

  private async prepareScan(a: ProbeScanArgs) {
    const targets = await this.targetsOf(a.targets, PROBE_MAX_SCAN_PAIRS);
    const pairs = targets.length * a.ports.length;
    if (pairs > PROBE_MAX_SCAN_PAIRS)
      throw new TargetError(
        `${targets.length} targets × ${a.ports.length} ports = ${pairs} probes; at most ${PROBE_MAX_SCAN_PAIRS} per scan here (the CLI scans more)`,
      );
    const helper =
      a.mode === 'raw'
        ? await RawProbeHelper.open({
            ratePps: a.ratePps,
            ...(this.o.helperPath ? { helperPath: this.o.helperPath } : {}),
          })
        : null;
    return async (ac: AbortController, progress: Progress) => {
      const common = {
        targets,
        ports: a.ports,
        ratePps: a.ratePps,
        signal: ac.signal,
        onRecord: (r: ScanRecord) => progress.record(r),
        onProgress: (done: number, total: number, sent: number) =>
          progress.update(done, total, sent, `${done} of ${total} probed`),
      };
      try {
        const scan = helper
          ? await rawScan({
              ...common,
              helper,
              perTargetPps: a.perTargetPps,
              retries: a.retries,
              join: a.join,
              ...(a.timeoutMs !== undefined ? { timeoutMs: a.timeoutMs } : {}),
            })
          : await connectScan({
              ...common,
              ...(a.timeoutMs !== undefined ? { timeoutMs: a.timeoutMs } : {}),
              ...(this.o.helperPath ? { helperPath: this.o.helperPath } : {}),
            });
        return { result: { kind: 'scan' as const, scan }, summary: scanSummary(scan) };
      } finally {
        await helper?.close();
      }
    };
  }

  private async prepareSubflows(a: ProbeSubflowsArgs) {
    await this.requireNetAdmin();
    this.recovered ??= this.pmSwitch.recover().catch(() => null);
    await this.recovered;
    const [target] = await this.targetsOf([a.target], 64);
    if (!target) throw new TargetError(`no address for ${a.target}`);
    const remotes = a.remotes.length > 0 ? await this.targetsOf(a.remotes, 64) : [];
    const ifs = await this.o.kernel.reads.interfaces();
    const locals: LocalAddress[] = ifs.flatMap((i) =>
      i.addresses.map((x) => ({ ifindex: i.index, name: i.name, address: x.address })),
    );
    const family = target.address.length as 4 | 16;
    const loopback = new Set(ifs.filter((i) => i.loopback || !i.usable).map((i) => i.name));
    const sources: ProbeSource[] =
      a.from.length > 0
        ? resolveSources(a.from, family, locals)
        : defaultSources(family, locals, (n) => loopback.has(n));
    if (sources.length === 0)
      throw new SourceError(
        `no usable interface with an ${family === 4 ? 'IPv4' : 'IPv6'} address to test from`,
      );
    // A far address of the other family makes the connection dual-stack: local addresses of that
    // family too (of the same interfaces when --from names interfaces; an address names itself).
    const other = family === 4 ? 16 : 4;
    const otherSources: ProbeSource[] = remotes.some((r) => r.address.length !== family)
      ? a.from.length > 0
        ? a.from.flatMap((f) => {
            try {
              return resolveSources([f], other, locals);
            } catch {
              return [];
            }
          })
        : defaultSources(other, locals, (n) => loopback.has(n))
      : [];
    // Asked before anything changes (the arguments checked first): the check's one change to the
    // namespace.
    const pm = await this.pmSwitch.read();
    if (pm !== 'userspace' && !a.allowPmSwitch)
      throw new ApiFailure('EPERM', `${pmSwitchConsentText(pm)}; allow that switch to run the check`);
    return async (ac: AbortController, progress: Progress) => {
      const check = await runSubflowCheck(
        {
          kernel: this.o.kernel,
          pmSwitch: this.pmSwitch,
          openHelper: () => CheckHelper.open(this.o.helperPath ? { helperPath: this.o.helperPath } : {}),
        },
        {
          target,
          port: a.port,
          remotes,
          allowPmSwitch: a.allowPmSwitch,
          sources,
          otherSources,
          subflowsPerPath: a.subflowsPerPath,
          payloadBytes: a.payloadBytes,
          joinTimeoutMs: a.joinTimeoutMs,
          signal: ac.signal,
          onProgress: (pct, msg) => progress.update(pct, 100, 0, msg),
        },
      );
      return { result: { kind: 'subflows' as const, check }, summary: check.verdict };
    };
  }

  /** SUBFLOW_CREATE and the mptcp_pm events need CAP_NET_ADMIN: say so before anything starts. */
  private async requireNetAdmin(): Promise<void> {
    const status = await readFile(`${this.o.procRoot ?? '/proc'}/self/status`, 'utf8').catch(() => '');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    if (m && (BigInt(`0x${m[1]}`) & (1n << BigInt(CAP_NET_ADMIN))) === 0n)
      throw new ApiFailure(
        'EPERM',
        'the subflow check adds subflows to its connection (MPTCP_PM_CMD_SUBFLOW_CREATE), which needs CAP_NET_ADMIN: run it through the privileged agent (--agent-socket) or as root',
      );
  }

  /** Stop every run (the engine is closing). */
  close(): void {
    for (const r of this.running.values()) r.ac.abort();
  }
}

/** A run's progress events: throttled, with the scan records finished since the last one. */
class Progress {
  private lastMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly records: ScanRecord[] = [];
  private done = 0;
  private total = 0;
  private sent = 0;
  private message = '';
  error: string | null = null;

  constructor(
    private readonly run: ProbeRun,
    private readonly emit: (p: ProbeProgress) => void,
    private readonly intervalMs: number,
  ) {}

  update(done: number, total: number, sent: number, message: string): void {
    this.done = done;
    this.total = total;
    this.sent = sent;
    this.message = message;
    this.run.summary = message;
    this.schedule();
  }

  record(r: ScanRecord): void {
    this.records.push(r);
    if (this.records.length >= 1000) this.send(this.message, true);
    else this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastMs + this.intervalMs - Date.now());
    this.timer = setTimeout(() => this.send(this.message, false), wait);
  }

  send(message: string, force: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!force && this.run.state !== 'running') return;
    this.lastMs = Date.now();
    const records = this.records.splice(0, 1000);
    try {
      this.emit({
        runId: this.run.runId,
        kind: this.run.kind,
        state: this.run.state,
        done: Math.max(0, Math.floor(this.done)),
        total: Math.max(0, Math.floor(this.total)),
        probesSent: this.sent,
        message,
        ...(records.length > 0 ? { records } : {}),
        error: this.error,
      });
    } catch {
      // a failing listener must not fail the run
    }
    if (this.records.length > 0) this.schedule();
  }
}
