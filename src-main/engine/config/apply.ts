/**
 * Applying a plan, all or nothing. Steps run in order; if one fails, the steps already applied are
 * undone in reverse order, and the state is read back and compared with the state before the
 * apply. The report says which step failed, what the kernel said, and whether the rollback
 * restored the prior state exactly.
 */
import { describeStep, invertStep, type InPlaceFlags, type Step } from '../../../shared/plan';
import { toApiError, type ApiError } from '../../../shared/result';
import type { RouteSpec, RuleSpec } from '../../../shared/plan-routing';
import type { CcId } from '../../../shared/cc';

/** The kernel operations a plan needs: one narrow table (cf. mptcpd's kcmd_ops). */
export interface KernelWriter {
  writeSysctl(name: string, value: string): Promise<void>;
  setLimits(subflows: number, addAddrAccepted: number): Promise<void>;
  /** Returns the id the endpoint got (the kernel allocates one when spec id is 0). */
  addEndpoint(spec: Extract<Step, { kind: 'endpoint-add' }>['endpoint']): Promise<number>;
  delEndpoint(id: number): Promise<void>;
  /**
   * MPTCP_PM_CMD_SET_FLAGS on the endpoint with this id: backup and fullmesh as given (the only
   * flags the kernel changes in place; it keeps live subflows, docs/configuration.md).
   */
  setEndpointFlags(id: number, flags: InPlaceFlags): Promise<void>;
  setMtu(ifindex: number, mtuBytes: number): Promise<void>;
  /** Register / unregister a coupled CC by its enum id (the engine's catalogue names the object). */
  registerCc(name: CcId): Promise<void>;
  unregisterCc(name: CcId): Promise<void>;
  /**
   * Source routing (shared/plan-routing.ts): RTM_NEWRULE / RTM_DELRULE / RTM_NEWROUTE /
   * RTM_DELROUTE with MPTCP Studio's marker, each read back. A delete names the marker, so the
   * kernel deletes only a rule or route MPTCP Studio created.
   */
  addRule(spec: RuleSpec): Promise<void>;
  delRule(spec: RuleSpec): Promise<void>;
  addRoute(spec: RouteSpec): Promise<void>;
  delRoute(spec: RouteSpec): Promise<void>;
}

export interface StepResult {
  step: Step;
  description: string;
  ok: boolean;
  error?: ApiError;
}

export interface ApplyReport {
  ok: boolean;
  applied: StepResult[];
  failed: StepResult | null;
  rolledBack: StepResult[];
  /**
   * After a failure: true when the state read back equals the state before the apply. After a
   * revert (config-manager.ts): true when it equals the state before the reverted apply.
   */
  restored: boolean | null;
}

export interface ApplyOptions {
  /** Test hook: make step k (0-based) fail as if the kernel had refused it. */
  injectFailureAt?: number;
  /**
   * Test hook: wait this long before each step, so that a test can kill the engine between steps
   * (config/crash-recovery.int.test.ts). Rollback steps are not delayed.
   */
  stepDelayMs?: number;
}

async function runStep(w: KernelWriter, s: Step): Promise<Step> {
  switch (s.kind) {
    case 'sysctl':
      await w.writeSysctl(s.name, s.to);
      return s;
    case 'limits':
      await w.setLimits(s.to.subflows, s.to.addAddrAccepted);
      return s;
    case 'endpoint-add': {
      const id = await w.addEndpoint(s.endpoint);
      // Remember the allocated id so the inverse deletes exactly this endpoint.
      return { ...s, endpoint: { ...s.endpoint, id } };
    }
    case 'endpoint-del':
      await w.delEndpoint(s.endpoint.id);
      return s;
    case 'endpoint-flags':
      await w.setEndpointFlags(s.endpoint.id, s.to);
      return s;
    case 'mtu':
      await w.setMtu(s.ifindex, s.to);
      return s;
    case 'cc-register':
      await w.registerCc(s.name);
      return s;
    case 'cc-unregister':
      await w.unregisterCc(s.name);
      return s;
    case 'rule-add':
      await w.addRule(s.rule);
      return s;
    case 'rule-del':
      await w.delRule(s.rule);
      return s;
    case 'route-add':
      await w.addRoute(s.route);
      return s;
    case 'route-del':
      await w.delRoute(s.route);
      return s;
  }
}

/**
 * `snapshot` reads the state that must be restored (the caller decides what "exact" covers: the
 * engine compares its full export plus raw sysctl text).
 */
export async function applySteps(
  w: KernelWriter,
  steps: Step[],
  snapshot: () => Promise<string>,
  opts: ApplyOptions = {},
): Promise<ApplyReport> {
  const before = await snapshot();
  const done: Step[] = [];
  const applied: StepResult[] = [];
  for (const [i, s] of steps.entries()) {
    try {
      if (opts.stepDelayMs) await new Promise((r) => setTimeout(r, opts.stepDelayMs));
      if (opts.injectFailureAt === i) throw Object.assign(new Error('injected failure'), { code: 'EINVAL' });
      const ran = await runStep(w, s);
      done.push(ran);
      // The step as run (with the endpoint id the kernel allocated), so it can be inverted later.
      applied.push({ step: ran, description: describeStep(ran), ok: true });
    } catch (err) {
      const failed: StepResult = { step: s, description: describeStep(s), ok: false, error: toApiError(err) };
      const rolledBack: StepResult[] = [];
      for (const d of [...done].reverse()) {
        const inv = invertStep(d);
        // A coupled CC's registration is kept on purpose (shared/plan.ts invertStep).
        if (inv === null) continue;
        try {
          await runStep(w, inv);
          rolledBack.push({ step: inv, description: describeStep(inv), ok: true });
        } catch (e) {
          rolledBack.push({ step: inv, description: describeStep(inv), ok: false, error: toApiError(e) });
        }
      }
      const after = await snapshot();
      return { ok: false, applied, failed, rolledBack, restored: after === before };
    }
  }
  return { ok: true, applied, failed: null, rolledBack: [], restored: null };
}
