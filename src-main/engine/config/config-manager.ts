/**
 * Configuration on the kernel side: export, plan, apply all-or-nothing, and confirm-or-revert.
 * One apply at a time; a change awaiting confirmation blocks others until it is confirmed or
 * reverted, and is reverted if the engine that applied it shuts down first (the safeguard is the
 * point when the user configures a remote server and loses the connection).
 *
 * Crash safety (journal.ts): before its first step an apply writes the plan and the state before
 * it to the namespace's journal, durably; a change awaiting confirmation is that journal with a
 * deadline. An engine killed at any moment therefore leaves a record, and the next engine in the
 * namespace (`reconcile`, run before it answers anything and again before every config call):
 * - undoes an apply or a revert that was interrupted (recovery.ts), at once;
 * - reverts a pending change whose deadline passed while no engine held it;
 * - adopts a pending change whose engine is gone but whose deadline has not passed: it can then be
 *   confirmed or reverted here, and this engine's timer reverts it at the deadline.
 * Each of these is reported (onRecovery → the mptcp:config:recovered event, and the messages of
 * later confirm/revert calls).
 *
 * Live traffic (docs/configuration.md): every planned step says what it does to the live
 * connections (shared/plan.ts stepImpact), read when the plan is made and again when it is
 * applied; an apply whose steps close live subflows is refused before anything changes unless it
 * allows that (`allowDisruption`). Every outcome (applied, failed and rolled back, confirmed,
 * reverted and why, a revert that failed) is told as it happens (onOutcome → the
 * mptcp:config:outcome event).
 */
import type { MptcpConfig } from '../../../shared/config';
import type { ApplyReport, ConfigOutcome, PlanView } from '../../../shared/config-api';
import {
  describeStep,
  disruptions,
  exportConfig,
  planView,
  type PlanContext,
  type Step,
} from '../../../shared/plan';
import { ApiFailure, toApiError, type ApiError } from '../../../shared/result';
import type { ConfigRecovery, ConnectionsSnapshot, Overview } from '../../../shared/types';
import { countOf } from '../../../shared/units';
import type { CcId, CcStatus } from '../../../shared/cc';
import { inSourceRange } from '../../../shared/plan-routing';
import { applySteps, type KernelWriter, type StepResult } from './apply';
import type { ConfigJournal, JournalEntry, JournalFile } from './journal';
import { recoveryPlan } from './recovery';

export interface ConfigManagerDeps {
  overview: () => Promise<Overview>;
  writer: KernelWriter;
  onPending?: (revertAtMs: number | null) => void;
  /** The coupled CCs this engine can register (plans add a register step before using one). */
  ccStatus?: () => Promise<CcStatus[]>;
  /**
   * The namespace's journal (crash safety, see the file comment). Absent: applies are not
   * journalled (unit tests with a fake kernel).
   */
  journal?: ConfigJournal;
  /** What reconcile found and did, as it happens. */
  onRecovery?: (r: ConfigRecovery) => void;
  /** The live connections, for each step's impact (absent: unknown, see shared/plan.ts). */
  connections?: () => Promise<ConnectionsSnapshot>;
  /** What became of each change, as it happens (the mptcp:config:outcome event). */
  onOutcome?: (o: ConfigOutcome) => void;
  /** Test hook (integration tests only, set through the agent's environment). */
  injectFailureAt?: number;
  /** Test hook: hold each apply step this long, so a test can kill the engine between steps. */
  stepDelayMs?: number;
}

/**
 * What "the exact prior state" covers: every value a plan can change, as the kernel reports it.
 * Not which coupled CCs are registered: a plan may register one, and rollback and revert keep it
 * registered on purpose (shared/plan.ts invertStep), so it is not part of what they restore.
 */
export function stateFingerprint(o: Overview): string {
  return JSON.stringify({
    sysctls: o.status.mptcpSysctls.map((s) => [s.name, s.value]),
    cc: o.status.congestionControl.default,
    buffers: o.status.buffers,
    limits: o.limits,
    endpoints: o.endpoints,
    mtu: o.interfaces.map((i) => [i.name, i.mtuBytes]),
    // Every rule, the routes of MPTCP Studio's tables, rp_filter: sorted, since a rule put back
    // lands after others of its priority (a revert restores the set, not the dump order).
    routing: o.routing
      ? {
          rules: o.routing.rules.map((r) => JSON.stringify(r)).sort(),
          routes: o.routing.routes
            .filter((r) => inSourceRange(r.table))
            .map((r) => JSON.stringify(r))
            .sort(),
          rpFilter: Object.entries(o.routing.rpFilter.byIfname).sort(([a], [b]) => (a < b ? -1 : 1)),
        }
      : null,
  });
}

interface Pending {
  applied: Step[];
  /** The state before the apply: what a revert claims to restore. */
  before: string;
  timer: NodeJS.Timeout | null;
  revertAtMs: number | null;
  startedAtMs: number;
  /** The confirmation window it was applied with, in seconds. */
  confirmWithinS: number | null;
  /** The engine process that applied it, when this engine adopted it from a dead one. */
  adoptedFrom: number | null;
}

/** Why a pending change is reverted (ConfigOutcome reason). */
export type RevertReason = 'user' | 'deadline' | 'shutdown';

const time = (ms: number): string => new Date(ms).toISOString();

const errorText = (e: ApiError | undefined): string | null => (e ? `${e.code}: ${e.message}` : null);
const stepOutcomes = (list: StepResult[]): ConfigOutcome['steps'] =>
  list.map((r) => ({ description: r.description, ok: r.ok, error: errorText(r.error) }));

export class ConfigManager {
  private queue: Promise<unknown> = Promise.resolve();
  private pending: Pending | null = null;
  /** What reconcile did last (told again when a confirm or revert finds nothing). */
  private lastRecovery: ConfigRecovery | null = null;
  /** The first reconcile: engines run it before anything else (LocalEngine awaits it). */
  private startup: Promise<ConfigRecovery[]> | null = null;
  /** A timer for another live engine's pending change: looked at again after its deadline. */
  private watchTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private toldNoJournal = false;

  constructor(private readonly deps: ConfigManagerDeps) {}

  /** Serialise: plans are computed against the state the previous apply left. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async exportConfig(): Promise<MptcpConfig> {
    return exportConfig(await this.deps.overview());
  }

  /** The coupled CCs, and the live connections (null when they cannot be read: unknown impact). */
  private async context(): Promise<PlanContext> {
    const connections = this.deps.connections ? await this.deps.connections().catch(() => null) : undefined;
    return {
      ...(this.deps.ccStatus ? { coupledCc: await this.deps.ccStatus() } : {}),
      ...(connections !== undefined ? { connections } : {}),
    };
  }

  async plan(config: MptcpConfig): Promise<PlanView> {
    return planView(await this.deps.overview(), config, await this.context());
  }

  private tell(o: Omit<ConfigOutcome, 'atMs'>): void {
    try {
      this.deps.onOutcome?.({ ...o, atMs: Date.now() });
    } catch {
      // a listener's failure is not the change's
    }
  }

  /**
   * Look at what killed engines left in this namespace, once, as the engine starts. Never rejects:
   * a recovery that fails is reported (kind not-recovered, or restored: false).
   */
  recover(): Promise<ConfigRecovery[]> {
    this.startup ??= this.exclusive(() => this.reconcile()).catch((e: unknown) => [
      this.report({
        kind: 'not-recovered',
        message: `could not check the config journal: ${toApiError(e).message}`,
        pid: null,
        appliedAtMs: null,
        revertAtMs: null,
        restored: null,
        steps: [],
      }),
    ]);
    return this.startup;
  }

  private report(r: Omit<ConfigRecovery, 'atMs'>): ConfigRecovery {
    const full: ConfigRecovery = { ...r, atMs: Date.now() };
    this.lastRecovery = full;
    try {
      this.deps.onRecovery?.(full);
    } catch {
      // a listener's failure is not the recovery's
    }
    return full;
  }

  /** The undo of a journal's steps from the live state, step by step, each one tried. */
  private async undo(
    steps: Step[],
    before: string,
  ): Promise<{ restored: boolean; steps: ConfigRecovery['steps'] }> {
    const live = await this.deps.overview();
    let registeredCc: Set<CcId> | undefined;
    if (this.deps.ccStatus) {
      registeredCc = await this.deps
        .ccStatus()
        .then((l) => new Set(l.filter((c) => c.registered).map((c) => c.id)))
        .catch(() => undefined);
    }
    const undo = recoveryPlan(live, steps, registeredCc ? { registeredCc } : {});
    const done: ConfigRecovery['steps'] = [];
    // Not all or nothing: the state is already mixed, so every step that can be undone is.
    for (const s of undo) {
      const r = await applySteps(this.deps.writer, [s], () => Promise.resolve(''));
      done.push({
        description: describeStep(s),
        ok: r.ok,
        error: r.failed?.error ? `${r.failed.error.code}: ${r.failed.error.message}` : null,
      });
    }
    return { restored: (await this.fingerprint()) === before, steps: done };
  }

  /**
   * Settle what this namespace's journal says (see the file comment). Runs inside `exclusive`.
   */
  private async reconcile(): Promise<ConfigRecovery[]> {
    const journal = this.deps.journal;
    if (!journal || this.closed) return [];
    const out: ConfigRecovery[] = [];
    const why = await journal.unavailable();
    if (why !== null) {
      // Told once: applies here go unjournalled, as before the journal existed.
      if (this.toldNoJournal) return [];
      this.toldNoJournal = true;
      return [
        this.report({
          kind: 'not-recovered',
          message: `crash recovery is off in this network namespace: it cannot be told apart from one that reused its inode (${why}); an apply killed half-way is not undone here`,
          pid: null,
          appliedAtMs: null,
          revertAtMs: null,
          restored: null,
          steps: [],
        }),
      ];
    }
    const scan = await journal.scan();
    for (const name of scan.foreign) {
      out.push(
        this.report({
          kind: 'discarded',
          message: `discarded ${name}: it was left by a network namespace that no longer exists (same inode, another identity), so nothing in it applies here`,
          pid: null,
          appliedAtMs: null,
          revertAtMs: null,
          restored: null,
          steps: [],
        }),
      );
    }
    const me = await journal.me();
    for (const file of scan.files) {
      const mine =
        file.holder?.pid === me.pid && file.holder.startTicks === me.startTicks && this.pending !== null;
      if (mine) continue;
      if (file.alive) {
        // Another engine in this namespace holds it. If that is a pending change, look again after
        // its deadline: should that engine be gone by then, this one reverts it.
        const e = file.entry;
        if (e?.phase === 'pending' && e.revertAtMs !== null) this.watchDeadline(e.revertAtMs);
        continue;
      }
      const r = await this.settle(file);
      if (r) out.push(r);
    }
    return out;
  }

  private watchDeadline(revertAtMs: number): void {
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.watchTimer = setTimeout(
      () => {
        this.watchTimer = null;
        void this.exclusive(() => this.reconcile()).catch(() => undefined);
      },
      Math.max(0, revertAtMs - Date.now()) + 1000,
    );
    this.watchTimer.unref();
  }

  /** One journal whose holder is gone: take it over, then undo, revert or adopt it. */
  private async settle(file: JournalFile): Promise<ConfigRecovery | null> {
    const journal = this.deps.journal!;
    const e = file.entry;
    const pid = file.holder?.pid ?? null;
    const base = {
      pid,
      appliedAtMs: e?.startedAtMs ?? null,
      revertAtMs: e?.revertAtMs ?? null,
      restored: null,
      steps: [],
    };
    if (!e) {
      await journal.remove(file.path).catch(() => undefined);
      return this.report({
        ...base,
        kind: 'discarded',
        message: `discarded ${file.path}: not a journal of this network namespace (unreadable, or of another boot)`,
      });
    }
    const what =
      e.phase === 'applying'
        ? `an apply started at ${time(e.startedAtMs)} by MPTCP Studio pid ${pid} that did not finish`
        : e.phase === 'reverting'
          ? `the revert of a change (applied at ${time(e.startedAtMs)}) by MPTCP Studio pid ${pid} that did not finish`
          : `a change applied at ${time(e.startedAtMs)} by MPTCP Studio pid ${pid}, awaiting confirmation until ${time(e.revertAtMs ?? 0)}, whose engine is gone`;
    const live = await this.deps.overview();
    if (!live.status.privileges.netAdmin) {
      return this.report({
        ...base,
        kind: 'not-recovered',
        message: `found ${what}, but this engine cannot undo it without CAP_NET_ADMIN: the state shown may be half-applied; run an MPTCP Studio command as root in this namespace, or restart the privileged agent`,
      });
    }
    let claimed: string | null;
    try {
      claimed = await journal.claim(file);
    } catch (err) {
      return this.report({
        ...base,
        kind: 'not-recovered',
        message: `found ${what}, but could not take over its journal ${file.path}: ${toApiError(err).message}`,
      });
    }
    if (claimed === null) return null; // another engine took it first and deals with it
    const adoptable =
      e.phase === 'pending' && e.revertAtMs !== null && e.revertAtMs > Date.now() + 500 && !this.pending;
    if (adoptable) {
      const revertAtMs = e.revertAtMs!;
      const draft = {
        phase: 'pending' as const,
        startedAtMs: e.startedAtMs,
        revertAtMs,
        before: e.before,
        steps: e.steps,
      };
      if (await journal.adopt(claimed, draft).catch(() => false)) {
        this.holdPending(e, revertAtMs, pid);
        return this.report({
          ...base,
          kind: 'pending-adopted',
          message: `${what}: this engine holds it now, until it exits; confirm it, or it is reverted at ${time(revertAtMs)} (by the next MPTCP Studio engine here, if none runs then)`,
        });
      }
    }
    const { restored, steps } = await this.undo(e.steps, e.before);
    await journal.remove(claimed).catch(() => undefined);
    const exact = restored
      ? 'the state before it is back exactly'
      : `the state read back differs from the one before it${
          steps.some((s) => !s.ok)
            ? ` (failed: ${steps
                .filter((s) => !s.ok)
                .map((s) => `${s.description}: ${s.error}`)
                .join('; ')})`
            : ''
        }`;
    const kind: ConfigRecovery['kind'] =
      e.phase === 'applying'
        ? 'apply-undone'
        : e.phase === 'reverting'
          ? 'revert-finished'
          : 'pending-reverted';
    const did =
      kind === 'apply-undone'
        ? `undid ${countOf(steps.length, 'step')} of ${what}`
        : kind === 'revert-finished'
          ? `finished ${what}`
          : `reverted ${what}, because its deadline passed with no engine holding it`;
    return this.report({ ...base, kind, restored, steps, message: `${did}: ${exact}` });
  }

  private holdPending(
    e: Pick<JournalEntry, 'steps' | 'before' | 'startedAtMs'>,
    revertAtMs: number,
    adoptedFrom: number | null,
    confirmWithinS: number | null = null,
  ): void {
    const timer = setTimeout(
      () => void this.revert('deadline').catch(() => undefined),
      Math.max(0, revertAtMs - Date.now()),
    );
    timer.unref();
    this.pending = {
      applied: e.steps,
      before: e.before,
      timer,
      revertAtMs,
      startedAtMs: e.startedAtMs,
      // An adopted change's window is not in its journal: the deadline minus the apply's start.
      confirmWithinS: confirmWithinS ?? Math.round((revertAtMs - e.startedAtMs) / 1000),
      adoptedFrom,
    };
    this.deps.onPending?.(revertAtMs);
  }

  /** No pending change here: say why, truthfully (another engine holds one, or what happened). */
  private async nothingPending(): Promise<never> {
    const journal = this.deps.journal;
    if (journal) {
      const held = (await journal.scan().catch(() => null))?.files.find(
        (f) => f.alive && f.kind === 'journal' && f.entry,
      );
      if (held?.entry) {
        const e = held.entry;
        throw new ApiFailure(
          'EBUSY',
          e.phase === 'pending'
            ? `the change awaiting confirmation in this network namespace is held by another MPTCP Studio engine (pid ${e.holder.pid}); it reverts at ${time(e.revertAtMs ?? 0)} unless confirmed there`
            : `another MPTCP Studio engine (pid ${e.holder.pid}) is changing the configuration of this network namespace`,
        );
      }
    }
    const last = this.lastRecovery;
    const why =
      last && last.kind !== 'discarded' && last.kind !== 'pending-adopted' ? `: ${last.message}` : '';
    throw new ApiFailure('BAD_REQUEST', `no change is waiting for confirmation${why}`);
  }

  /**
   * Apply `config` all or nothing. Refused before anything changes when the plan has errors, or
   * when steps close live subflows and `allowDisruption` is false (report.needsConsent).
   */
  apply(config: MptcpConfig, confirmWithinS: number | null, allowDisruption = false): Promise<ApplyReport> {
    return this.exclusive(async () => {
      await this.reconcile();
      if (this.pending) {
        throw new ApiFailure(
          'BAD_REQUEST',
          this.pending.adoptedFrom !== null
            ? `a change applied by MPTCP Studio pid ${this.pending.adoptedFrom} (now held here) is waiting for confirmation: confirm or revert it first`
            : 'a change is waiting for confirmation: confirm or revert it first',
        );
      }
      // Planned again, with the connections as they are now: the review may be minutes old.
      const view = planView(await this.deps.overview(), config, await this.context());
      const refused = (planErrors: string[], needsConsent?: boolean): ApplyReport => ({
        ok: false,
        planErrors,
        applied: [],
        failed: null,
        rolledBack: [],
        restored: null,
        revertAtMs: null,
        ...(needsConsent ? { needsConsent } : {}),
      });
      if (view.errors.length > 0) return refused(view.errors);
      const closing = disruptions(view);
      if (closing.length > 0 && !allowDisruption) {
        return refused(
          [
            ...closing,
            `nothing was changed: ${closing.length === 1 ? 'this step closes' : 'these steps close'} live subflows; apply with the disruption allowed to go ahead (Configure: "Close these live subflows"; CLI: --allow-disruption)`,
          ],
          true,
        );
      }
      const p = { steps: view.steps.map((s) => s.step) };
      const opts = {
        ...(this.deps.injectFailureAt === undefined ? {} : { injectFailureAt: this.deps.injectFailureAt }),
        ...(this.deps.stepDelayMs ? { stepDelayMs: this.deps.stepDelayMs } : {}),
      };
      const before = await this.fingerprint();
      const startedAtMs = Date.now();
      const journal = p.steps.length > 0 ? await this.usableJournal() : undefined;
      if (journal) {
        try {
          await journal.begin({ phase: 'applying', startedAtMs, revertAtMs: null, before, steps: p.steps });
        } catch (e) {
          if (e instanceof ApiFailure && e.code === 'EBUSY') throw e;
          const err = toApiError(e);
          throw new ApiFailure(
            err.code === 'EACCES' || err.code === 'EPERM' ? 'EPERM' : err.code,
            `cannot write the crash journal in ${journal.dir} (${err.errno ?? err.code}: ${err.message}); nothing was changed`,
          );
        }
      }
      const report = await applySteps(this.deps.writer, p.steps, this.fingerprint, opts);
      const outcome = {
        reason: null,
        appliedAtMs: startedAtMs,
        confirmWithinS: null as number | null,
        revertAtMs: null as number | null,
        steps: stepOutcomes(report.applied),
        failed: report.failed
          ? { description: report.failed.description, ok: false, error: errorText(report.failed.error) }
          : null,
        rolledBack: stepOutcomes(report.rolledBack),
      };
      if (!report.ok) this.tell({ ...outcome, kind: 'apply-failed', restored: report.restored });
      let revertAtMs: number | null = null;
      if (report.ok && confirmWithinS !== null && report.applied.length > 0) {
        revertAtMs = Date.now() + confirmWithinS * 1000;
        const applied = report.applied.map((r) => r.step);
        if (journal) {
          try {
            await journal.rewrite({ phase: 'pending', startedAtMs, revertAtMs, before, steps: applied });
          } catch (e) {
            // Without its journal the deadline would not outlive this process: not applied, then.
            const undone = await this.undo(applied, before);
            await journal.remove().catch(() => undefined);
            throw new ApiFailure(
              'INTERNAL',
              `applied, but could not record the confirmation deadline (${toApiError(e).message}); undone (${undone.restored ? 'the state before is back' : 'the state read back differs from the one before'})`,
            );
          }
        }
        this.holdPending({ steps: applied, before, startedAtMs }, revertAtMs, null, confirmWithinS);
      } else if (journal) {
        await journal.remove().catch(() => undefined);
      }
      if (report.ok && report.applied.length > 0) {
        this.tell({
          ...outcome,
          kind: 'applied',
          confirmWithinS: revertAtMs === null ? null : confirmWithinS,
          revertAtMs,
          restored: null,
        });
      }
      return { ...report, planErrors: [], revertAtMs };
    });
  }

  /** The journal, unless this namespace cannot have one (said once, see reconcile). */
  private async usableJournal(): Promise<ConfigJournal | undefined> {
    const j = this.deps.journal;
    return j && (await j.unavailable()) === null ? j : undefined;
  }

  private readonly fingerprint = async (): Promise<string> => stateFingerprint(await this.deps.overview());

  confirm(): Promise<{ revertAtMs: number | null }> {
    return this.exclusive(async () => {
      await this.reconcile();
      const pending = this.pending;
      if (!pending) return this.nothingPending();
      // The journal goes first: a confirmed change must never be reverted by a later engine.
      await (await this.usableJournal())?.remove();
      if (pending.timer) clearTimeout(pending.timer);
      this.pending = null;
      this.deps.onPending?.(null);
      this.tell({
        kind: 'confirmed',
        reason: null,
        appliedAtMs: pending.startedAtMs,
        confirmWithinS: pending.confirmWithinS,
        revertAtMs: null,
        restored: null,
        steps: pending.applied.map((s) => ({ description: describeStep(s), ok: true, error: null })),
        failed: null,
        rolledBack: [],
      });
      return { revertAtMs: null };
    });
  }

  /**
   * Undo the pending change: its steps inverted where the kernel shows them, in reverse order, all
   * or nothing again. A revert that fails leaves the change pending (its own rollback put the
   * applied state back), so the user can retry or confirm; `restored` says whether the state
   * before the apply is back. `reason` is what asked for it (told in the outcome).
   */
  revert(reason: RevertReason = 'user'): Promise<ApplyReport> {
    return this.exclusive(async () => {
      await this.reconcile();
      const pending = this.pending;
      if (!pending) return this.nothingPending();
      if (pending.timer) clearTimeout(pending.timer);
      pending.timer = null;
      const journal = await this.usableJournal();
      const draft = {
        startedAtMs: pending.startedAtMs,
        revertAtMs: pending.revertAtMs,
        before: pending.before,
        steps: pending.applied,
      };
      // Killed during the revert, the next engine finishes it (phase reverting), deadline or not.
      await journal?.rewrite({ ...draft, phase: 'reverting' });
      const live = await this.deps.overview();
      const undo = recoveryPlan(live, pending.applied);
      const report = await applySteps(this.deps.writer, undo, this.fingerprint);
      const restored = (await this.fingerprint()) === pending.before;
      if (report.ok) {
        await journal?.remove().catch(() => undefined);
        this.pending = null;
        this.deps.onPending?.(null);
      } else {
        await journal?.rewrite({ ...draft, phase: 'pending' }).catch(() => undefined);
      }
      this.tell({
        kind: report.ok ? 'reverted' : 'revert-failed',
        reason,
        appliedAtMs: pending.startedAtMs,
        confirmWithinS: pending.confirmWithinS,
        revertAtMs: report.ok ? null : pending.revertAtMs,
        restored,
        steps: stepOutcomes(report.applied),
        failed: report.failed
          ? { description: report.failed.description, ok: false, error: errorText(report.failed.error) }
          : null,
        rolledBack: stepOutcomes(report.rolledBack),
      });
      return { ...report, planErrors: [], restored, revertAtMs: report.ok ? null : pending.revertAtMs };
    });
  }

  /**
   * On shutdown a change this engine applied and that is still unconfirmed is reverted, never left
   * behind. One it adopted from a dead engine is left to its journal: the next engine adopts it
   * before the deadline or reverts it after (this engine is not the session that applied it).
   */
  async close(): Promise<void> {
    this.closed = true; // no more reconciling (adopting) from here on
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.watchTimer = null;
    const p = this.pending;
    if (p && p.adoptedFrom === null) await this.revert('shutdown').catch(() => undefined);
    else if (p?.timer) clearTimeout(p.timer);
  }
}
