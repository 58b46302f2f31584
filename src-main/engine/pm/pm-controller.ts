/**
 * The engine's path manager for its own network namespace: 'mptcp:pm:start' / 'stop' / 'status'
 * behind the contract. It runs the userspace PM loop (userspace-pm-runner.ts) or the in-kernel
 * endpoint sync (endpoint-sync.ts) inside the engine process of that namespace, and turns their
 * log entries into 'mptcp:pm:action' events.
 *
 * State lives in the kernel, not here (docs/path-manager.md, "Restarts and crashes"): on start
 * the userspace loop adopts the connections sock_diag and GET_ADDR(TOKEN) report, the sync adopts
 * the endpoints on matched addresses. The one thing the kernel cannot tell is the path_manager
 * value to put back, so it is kept in a small state file under /run (tmpfs: gone at reboot, like
 * the sysctl itself). A run killed with SIGKILL leaves it behind; the next start in the same
 * namespace finds it, sees its pid is gone and takes the value to restore from it instead of the
 * `userspace` the dead run set.
 *
 * path_manager (or pm_type) is written through the kernel's writer (config/writer.ts: the
 * allow-list and a read-back), like any setting a plan changes.
 */
import { rmSync } from 'node:fs';
import { z } from 'zod';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import {
  defaultPmSubflows,
  PmManagerSchema,
  PmModeSchema,
  PmRoleSchema,
  pmConflicts,
  type PmAction,
  type PmMode,
  type PmRole,
  type PmManager,
  type PmStartArgs,
  type PmStatus,
} from '../../../shared/pm';
import { ApiFailure } from '../../../shared/result';
import { writeSysctlSync } from '../config/writer';
import type { Kernel } from '../kernel';
import { detectManagers } from '../managers';
import type { PmEvent } from '../mptcp-pm/events';
import { NetlinkKernel } from '../netlink-kernel';
import { readPrivileges } from '../sysctl/status';
import { runEndpointSync, type SyncEngine } from './endpoint-sync';
import { runUserspacePm } from './userspace-pm-runner';
import type { PmLogEntry } from './userspace-pm';
import {
  netnsStatePath,
  readNetnsIdentity,
  removeForeignStateFiles,
  type NetnsIdentity,
} from '../netns-identity';

/** Actions kept for 'mptcp:pm:status' (a page opened later still sees what happened). */
const RECENT_ACTIONS = 200;
const PM_SYSCTL = 'net.mptcp.path_manager';
/** Before 6.15 only the numeric pm_type exists (0 kernel, 1 userspace). */
const PM_TYPE_SYSCTL = 'net.mptcp.pm_type';

export interface PmControllerOptions {
  engine: SyncEngine;
  /**
   * The kernel whose path_manager is switched and whose address notifications the in-kernel sync
   * follows. Default: the engine's (LocalEngine.kernel), else one of the controller's own over
   * netlink and procRoot, opened on first start.
   */
  kernel?: Kernel;
  emit: (a: PmAction) => void;
  /** Every entry as the loop or the sync logged it, before it becomes an action (the CLI prints them). */
  log?: (e: PmLogEntry) => void;
  procRoot?: string;
  netnsDir?: string;
  /** Where the state file for crash recovery goes (default /run/mptcp-studio). */
  stateDir?: string;
  /**
   * The namespace's identity, which names the state file (../netns-identity.ts); default: read it
   * here (the engine passes its own, read once).
   */
  identity?: () => Promise<NetnsIdentity>;
}

/** Knobs the CLI offers beyond the contract's start arguments (mptcp-studio pm --help). */
export interface PmRunExtras {
  /** In-kernel sync: interface globs to manage (default all but loopback) and backup ones. */
  match?: string[];
  backup?: string[];
  /** In-kernel sync: on stop, remove the endpoints this run added. */
  cleanup?: boolean;
  /** Userspace: recreate subflows that close, up to maxRetries per address pair. */
  recreate?: boolean;
  maxRetries?: number;
  /** Userspace: every decoded MPTCP event the loop reads. */
  onKernelEvent?: (ev: PmEvent) => void;
  /** Userspace: SO_RCVBUF of the events socket. */
  eventsRecvBufferBytes?: number;
  /** Userspace, tests only: RunPmOptions.eventsStallMsForTests (forces lost events). */
  eventsStallMsForTests?: number;
}

/** The state file, parsed like any input: it sits in a directory others could write to. */
const StateFileSchema = z.object({
  pid: z.number().int().min(1),
  previousPathManager: z.string().regex(/^[a-z0-9]{1,16}$/),
  mode: PmModeSchema,
  role: PmRoleSchema,
  manager: PmManagerSchema,
  startedAtMs: z.number(),
});
type StateFile = z.infer<typeof StateFileSchema>;

interface Running {
  mode: PmMode;
  role: PmRole;
  manager: PmManager;
  subflows: number;
  startedAtMs: number;
  /** The sysctl switched: net.mptcp.path_manager, or pm_type before 6.15. */
  sysctl: string;
  statePath: string | null;
  previous: string;
  recovered: boolean;
  cleanup: boolean;
  stop: () => Promise<void>;
  connections: () => number;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null);

/** A log entry of the loop or the sync as a contract action (addresses lifted out of detail). */
export function toAction(e: PmLogEntry): PmAction {
  const d = e.detail ?? {};
  const detail: Record<string, string> = {};
  const lifted = new Set(['local', 'localPort', 'localId', 'remote', 'remotePort', 'address']);
  for (const [k, v] of Object.entries(d)) {
    if (lifted.has(k) || v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    detail[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  const errno = e.result === 'error' ? (/answered (E[A-Z0-9]+)/.exec(e.message ?? '')?.[1] ?? null) : null;
  return {
    timestampMs: e.timeMs,
    token: e.token,
    action: e.what.slice(0, 64),
    result: e.result,
    message: e.message ?? null,
    local: str(d.local) ?? str(d.address),
    localPort: int(d.localPort),
    localId: int(d.localId),
    remote: str(d.remote),
    remotePort: int(d.remotePort),
    errno,
    detail,
  };
}

export class PmController {
  private running: Running | null = null;
  private readonly recent: PmAction[] = [];
  private leftOut: string[] = [];
  private warnings: string[] = [];
  /** start/stop one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly procRoot: string;
  private readonly netnsDir: string;
  private readonly stateDir: string;
  /** A kernel the controller opened itself (no engine's to use), closed with it. */
  private ownKernel: NetlinkKernel | null = null;

  constructor(private readonly opts: PmControllerOptions) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.netnsDir = opts.netnsDir ?? '/run/netns';
    this.stateDir = opts.stateDir ?? '/run/mptcp-studio';
  }

  private kernel(): Kernel {
    return (
      this.opts.kernel ??
      this.opts.engine.kernel ??
      (this.ownKernel ??= new NetlinkKernel({ procRoot: this.procRoot }))
    );
  }

  /** Writes path_manager (or pm_type) through the writer: allow-listed, read back. */
  private writePathManager(sysctl: string, value: string): Promise<void> {
    return this.kernel().writer.writeSysctl(sysctl, value);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private record(e: PmLogEntry): void {
    this.opts.log?.(e);
    const a = toAction(e);
    if (e.what === 'endpoint-sync' && e.detail) {
      const lo = e.detail.leftOut;
      const w = e.detail.warnings;
      if (Array.isArray(lo)) this.leftOut = lo.filter((x): x is string => typeof x === 'string');
      if (Array.isArray(w)) this.warnings = w.filter((x): x is string => typeof x === 'string');
    }
    this.recent.push(a);
    if (this.recent.length > RECENT_ACTIONS) this.recent.splice(0, this.recent.length - RECENT_ACTIONS);
    this.opts.emit(a);
  }

  private async readPathManager(): Promise<{ sysctl: string; value: string } | null> {
    for (const sysctl of [PM_SYSCTL, PM_TYPE_SYSCTL]) {
      const path = `${this.procRoot}/sys/${sysctl.replace(/\./g, '/')}`;
      try {
        return { sysctl, value: (await readFile(path, 'utf8')).trim() };
      } catch {
        // not on this kernel: try the older name
      }
    }
    return null;
  }

  private async currentPathManager(): Promise<string | null> {
    const pm = await this.readPathManager();
    if (!pm) return null;
    if (pm.sysctl === PM_TYPE_SYSCTL)
      return pm.value === '0' ? 'kernel' : pm.value === '1' ? 'userspace' : null;
    return pm.value;
  }

  /**
   * Per namespace: its identity names the state file, `pm-netns-<inode>-<cookie>.json`. Not the
   * inode alone: a new namespace gets the inode of a dead one, and with it the dead one's file
   * (it then showed "a path manager run was killed"). Files for our inode with another cookie are
   * such leftovers and are removed unread. Null when the namespace cannot be identified: no state
   * file then (a killed run's path_manager is not restored, rather than restored in the wrong
   * namespace).
   */
  private async statePath(): Promise<string | null> {
    const read = this.opts.identity ?? (() => readNetnsIdentity({ procRoot: this.procRoot }));
    const id = await read().catch(() => null);
    if (!id) return null;
    if (this.foreignChecked !== id.key) {
      this.foreignChecked = id.key;
      await removeForeignStateFiles(this.stateDir, 'pm', id);
    }
    return netnsStatePath(this.stateDir, 'pm', id);
  }
  private foreignChecked: string | null = null;

  private async readState(): Promise<StateFile | null> {
    const path = await this.statePath();
    if (!path) return null;
    try {
      const v = JSON.parse(await readFile(path, 'utf8')) as Partial<StateFile>;
      const parsed = StateFileSchema.safeParse(v);
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  private pidAlive(pid: number): boolean {
    if (pid === process.pid) return true;
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  }

  /** A state file whose pid is gone (a killed run), when nothing runs here. */
  private async orphan(): Promise<StateFile | null> {
    if (this.running) return null;
    const st = await this.readState();
    return st && st.pid !== process.pid && !this.pidAlive(st.pid) ? st : null;
  }

  async status(): Promise<PmStatus> {
    const r = this.running;
    const detected = await detectManagers(this.procRoot, this.netnsDir, null);
    const orphan = await this.orphan();
    return {
      running: r !== null,
      mode: r?.mode ?? null,
      role: r?.role ?? null,
      manager: r?.manager ?? null,
      subflows: r?.subflows ?? null,
      startedAtMs: r?.startedAtMs ?? null,
      pathManager: await this.currentPathManager(),
      previousPathManager: r?.previous ?? null,
      recovered: r?.recovered ?? false,
      connections: r?.connections() ?? 0,
      leftOut: r ? [...this.leftOut] : [],
      warnings: r ? [...this.warnings] : [],
      detected,
      orphan,
      recentActions: [...this.recent],
    };
  }

  start(args: PmStartArgs, extras: PmRunExtras = {}): Promise<PmStatus> {
    return this.serial(async () => {
      await this.startNow(args, extras);
      return this.status();
    });
  }

  private async startNow(args: PmStartArgs, extras: PmRunExtras): Promise<void> {
    if (this.running) {
      const r = this.running;
      throw new ApiFailure(
        'EEXIST',
        `the path manager already runs here (${r.manager} ${r.mode}, ${r.role}); stop it first`,
      );
    }
    if (args.manager === 'kernel' && args.mode !== 'fullmesh')
      throw new ApiFailure('EINVAL', 'the in-kernel manager supports fullmesh only');
    if (!(await readPrivileges(this.procRoot)).netAdmin)
      throw new ApiFailure(
        'EPERM',
        'the path manager needs CAP_NET_ADMIN (run as root or grant the capability)',
      );
    const detected = await detectManagers(this.procRoot, this.netnsDir, null);
    const others = pmConflicts(detected, args.manager).join(' and ');
    if (others && !args.force)
      throw new ApiFailure(
        'EEXIST',
        `${others} runs in this network namespace and manages MPTCP ` +
          `${args.manager === 'kernel' ? 'endpoints' : 'subflows'}; stop it, or override ` +
          '(--force; in the app, the override box): both will then act on the same connections',
      );
    const pm = await this.readPathManager();
    if (!pm)
      throw new ApiFailure(
        'UNSUPPORTED',
        'this kernel has no net.mptcp.path_manager or pm_type: no path manager to run',
      );
    const numeric = pm.sysctl === PM_TYPE_SYSCTL;
    const wanted = args.manager === 'kernel' ? (numeric ? '0' : 'kernel') : numeric ? '1' : 'userspace';

    // A run that was killed leaves its state file: restore what it found, not what it set.
    const prior = await this.readState();
    let previous = pm.value;
    let recovered = false;
    if (prior && prior.pid !== process.pid) {
      if (this.pidAlive(prior.pid) && !args.force)
        throw new ApiFailure(
          'EEXIST',
          `another MPTCP Studio path manager (pid ${prior.pid}) runs in this namespace; stop it, or override (--force)`,
        );
      if (!this.pidAlive(prior.pid) && pm.value === wanted) {
        previous = prior.previousPathManager;
        recovered = true;
      }
    }
    const subflows = args.subflows ?? defaultPmSubflows(args.mode);
    const startedAtMs = Date.now();
    const log = (e: PmLogEntry): void => this.record(e);
    this.leftOut = [];
    this.warnings = [];

    await this.writePathManager(pm.sysctl, wanted);
    const statePath = await this.statePath();
    const state: StateFile = {
      pid: process.pid,
      previousPathManager: previous,
      mode: args.mode,
      role: args.role,
      manager: args.manager,
      startedAtMs,
    };
    if (statePath) {
      await mkdir(this.stateDir, { recursive: true, mode: 0o755 }).catch(() => undefined);
      // Best effort: without it a killed run's path_manager is not restored by the next one.
      await writeFile(statePath, JSON.stringify(state), { mode: 0o644 }).catch(() => undefined);
    }
    const restore = async (): Promise<void> => {
      await this.writePathManager(pm.sysctl, previous).catch(() => undefined);
      if (statePath) await rm(statePath, { force: true }).catch(() => undefined);
    };

    let stopRun: () => Promise<void>;
    let connections: () => number = () => 0;
    let policy: unknown = undefined;
    try {
      if (args.manager === 'kernel') {
        const sync = await runEndpointSync({
          engine: this.opts.engine,
          kernel: this.kernel(),
          role: args.role,
          match: extras.match ?? [],
          backup: extras.backup ?? [],
          ...(extras.cleanup !== undefined ? { cleanup: extras.cleanup } : {}),
          log,
        });
        policy = sync.policy;
        stopRun = () => sync.stop();
      } else {
        const loop = await runUserspacePm({
          mode: args.mode,
          role: args.role,
          subflows,
          log,
          ...(extras.recreate !== undefined ? { recreate: extras.recreate } : {}),
          ...(extras.maxRetries !== undefined ? { maxRetries: extras.maxRetries } : {}),
          ...(extras.eventsRecvBufferBytes !== undefined
            ? { eventsRecvBufferBytes: extras.eventsRecvBufferBytes }
            : {}),
          ...(extras.eventsStallMsForTests !== undefined
            ? { eventsStallMsForTests: extras.eventsStallMsForTests }
            : {}),
          onEvent: (ev) => {
            extras.onKernelEvent?.(ev);
            // Only what the PM reacts to: the raw stream is already 'mptcp:kernel:event'.
            if (ev.kind !== 'announced' && ev.kind !== 'removed') return;
            log({
              timeMs: Date.now(),
              token: ev.token,
              what: `peer-${ev.kind}`,
              result: 'info',
              detail: {
                remote: ev.remoteAddress ?? undefined,
                remotePort: ev.remotePort ?? undefined,
                remoteId: ev.remoteId ?? undefined,
              },
            });
          },
        });
        stopRun = () => Promise.resolve(loop.stop());
        connections = () => loop.pm.connections().length;
      }
    } catch (e) {
      await restore();
      throw e;
    }
    this.running = {
      mode: args.mode,
      role: args.role,
      manager: args.manager,
      subflows,
      startedAtMs,
      sysctl: pm.sysctl,
      statePath,
      previous,
      recovered,
      cleanup: extras.cleanup ?? false,
      connections,
      stop: async () => {
        await stopRun();
        await restore();
      },
    };
    this.record({
      timeMs: Date.now(),
      token: null,
      what: 'started',
      result: 'ok',
      ...(recovered
        ? { message: `path_manager ${previous} (left by a run that was killed) will be restored on stop` }
        : {}),
      detail: {
        mode: args.mode,
        role: args.role,
        manager: args.manager,
        subflows,
        previousPathManager: previous,
        ...(policy !== undefined ? { policy } : {}),
        ...(others ? { overriding: others } : {}),
      },
    });
  }

  stop(): Promise<PmStatus> {
    return this.serial(async () => {
      await this.stopNow();
      return this.status();
    });
  }

  private async stopNow(): Promise<void> {
    const r = this.running;
    if (!r) {
      await this.restoreOrphan();
      return;
    }
    this.running = null;
    await r.stop();
    this.record({
      timeMs: Date.now(),
      token: null,
      what: 'stopped',
      result: 'ok',
      detail: {
        restoredPathManager: r.previous,
        // Endpoints left in place belong to the in-kernel PM, which keeps using them under any
        // path_manager value set for later connections; restoring the sysctl does not touch them.
        ...(r.manager === 'kernel'
          ? { endpoints: r.cleanup ? 'removed the ones it added' : 'left in place' }
          : {}),
      },
    });
  }

  /**
   * Last resort from a process 'exit' handler (synchronous): put path_manager back and drop the
   * state file if a run is still marked as running. Subflows and endpoints stay as they are. The
   * writer's checks, synchronously (config/writer.ts writeSysctlSync), under procRoot.
   */
  restoreSync(): void {
    const r = this.running;
    if (!r) return;
    this.running = null;
    try {
      writeSysctlSync(r.sysctl, r.previous, this.procRoot);
      if (r.statePath) rmSync(r.statePath, { force: true });
    } catch {
      // nothing more to do while exiting
    }
  }

  /**
   * Stop with nothing running, after a run was killed: put back the path_manager it found, as its
   * own stop would have. Only while path_manager still holds what that run set: a value changed
   * since (by hand, by a profile) is someone else's choice and stays.
   */
  private async restoreOrphan(): Promise<void> {
    const o = await this.orphan();
    const pm = await this.readPathManager();
    if (!o || !pm) return;
    const numeric = pm.sysctl === PM_TYPE_SYSCTL;
    const set = o.manager === 'kernel' ? (numeric ? '0' : 'kernel') : numeric ? '1' : 'userspace';
    const path = await this.statePath();
    if (pm.value === set) await this.writePathManager(pm.sysctl, o.previousPathManager);
    if (path) await rm(path, { force: true });
    this.record({
      timeMs: Date.now(),
      token: null,
      what: 'restored',
      result: pm.value === set ? 'ok' : 'skipped',
      message:
        pm.value === set
          ? `path_manager ${o.previousPathManager} restored after a run that was killed (pid ${o.pid})`
          : `path_manager is ${pm.value}, not what the killed run (pid ${o.pid}) set: left as it is`,
      detail: { restoredPathManager: o.previousPathManager },
    });
  }

  /** Engine shutdown: stop, restoring path_manager; connections keep their subflows. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (this.running) await this.stopNow();
      this.ownKernel?.close();
      this.ownKernel = null;
    });
  }
}
