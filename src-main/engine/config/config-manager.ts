/**
 * Configuration on the kernel side: export, plan, apply all-or-nothing, and confirm-or-revert.
 * One apply at a time; a change awaiting confirmation blocks others until it is confirmed or
 * reverted, and is reverted if the engine shuts down first (the safeguard is the point when the
 * user configures a remote server and loses the connection).
 */
import type { MptcpConfig } from '../../../shared/config';
import type { ApplyReport, PlanView } from '../../../shared/config-api';
import {
  describeStep,
  exportConfig,
  invertStep,
  planConfig,
  shellForStep,
  type PlanContext,
  type Step,
} from '../../../shared/plan';
import { ApiFailure } from '../../../shared/result';
import type { Overview } from '../../../shared/types';
import type { CcStatus } from '../../../shared/cc';
import { applySteps, type KernelWriter } from './apply';

export interface ConfigManagerDeps {
  overview: () => Promise<Overview>;
  writer: KernelWriter;
  onPending?: (revertAtMs: number | null) => void;
  /** The coupled CCs this engine can register (plans add a register step before using one). */
  ccStatus?: () => Promise<CcStatus[]>;
  /** Test hook (integration tests only, set through the agent's environment). */
  injectFailureAt?: number;
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
  });
}

interface Pending {
  applied: Step[];
  /** The state before the apply: what a revert claims to restore. */
  before: string;
  timer: NodeJS.Timeout | null;
  revertAtMs: number | null;
}

export class ConfigManager {
  private queue: Promise<unknown> = Promise.resolve();
  private pending: Pending | null = null;

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

  private async context(): Promise<PlanContext> {
    return this.deps.ccStatus ? { coupledCc: await this.deps.ccStatus() } : {};
  }

  async plan(config: MptcpConfig): Promise<PlanView> {
    const p = planConfig(await this.deps.overview(), config, await this.context());
    return {
      steps: p.steps.map((step) => ({ step, description: describeStep(step), shell: shellForStep(step) })),
      errors: p.errors,
      warnings: p.warnings,
    };
  }

  apply(config: MptcpConfig, confirmWithinS: number | null): Promise<ApplyReport> {
    return this.exclusive(async () => {
      if (this.pending) {
        throw new ApiFailure(
          'BAD_REQUEST',
          'a change is waiting for confirmation: confirm or revert it first',
        );
      }
      const p = planConfig(await this.deps.overview(), config, await this.context());
      if (p.errors.length > 0) {
        return {
          ok: false,
          planErrors: p.errors,
          applied: [],
          failed: null,
          rolledBack: [],
          restored: null,
          revertAtMs: null,
        };
      }
      const opts =
        this.deps.injectFailureAt === undefined ? {} : { injectFailureAt: this.deps.injectFailureAt };
      const before = await this.fingerprint();
      const report = await applySteps(this.deps.writer, p.steps, this.fingerprint, opts);
      let revertAtMs: number | null = null;
      if (report.ok && confirmWithinS !== null && report.applied.length > 0) {
        revertAtMs = Date.now() + confirmWithinS * 1000;
        const timer = setTimeout(() => void this.revert().catch(() => undefined), confirmWithinS * 1000);
        timer.unref();
        this.pending = { applied: report.applied.map((r) => r.step), before, timer, revertAtMs };
        this.deps.onPending?.(revertAtMs);
      }
      return { ...report, planErrors: [], revertAtMs };
    });
  }

  private readonly fingerprint = async (): Promise<string> => stateFingerprint(await this.deps.overview());

  confirm(): Promise<{ revertAtMs: number | null }> {
    return this.exclusive(() => {
      if (!this.pending) throw new ApiFailure('BAD_REQUEST', 'no change is waiting for confirmation');
      if (this.pending.timer) clearTimeout(this.pending.timer);
      this.pending = null;
      this.deps.onPending?.(null);
      return Promise.resolve({ revertAtMs: null });
    });
  }

  /**
   * Undo the pending change: its steps inverted, in reverse order, all or nothing again. A revert
   * that fails leaves the change pending (its own rollback put the applied state back), so the
   * user can retry or confirm; `restored` says whether the state before the apply is back.
   */
  revert(): Promise<ApplyReport> {
    return this.exclusive(async () => {
      const pending = this.pending;
      if (!pending) throw new ApiFailure('BAD_REQUEST', 'no change is waiting for confirmation');
      if (pending.timer) clearTimeout(pending.timer);
      pending.timer = null;
      const undo = [...pending.applied]
        .reverse()
        .map(invertStep)
        .filter((s): s is Step => s !== null);
      const report = await applySteps(this.deps.writer, undo, this.fingerprint);
      const restored = (await this.fingerprint()) === pending.before;
      if (report.ok) {
        this.pending = null;
        this.deps.onPending?.(null);
      }
      return { ...report, planErrors: [], restored, revertAtMs: report.ok ? null : pending.revertAtMs };
    });
  }

  /** On shutdown an unconfirmed change is reverted, never left behind. */
  async close(): Promise<void> {
    if (this.pending) await this.revert().catch(() => undefined);
  }
}
