/**
 * In-kernel fullmesh: keep the in-kernel path manager's endpoints in step with the addresses of
 * the host (endpoints are not tied to interfaces, they outlive their addresses, so someone has to
 * follow RTM_NEWADDR/DELADDR: docs/kernel-interfaces.md; mptcpd and NetworkManager do this job
 * elsewhere).
 *
 * Client: every usable global address on a matching interface becomes a `subflow fullmesh`
 * endpoint (`backup` too on --backup interfaces). Server: a `signal` endpoint (servers never
 * create subflows; they announce and let the client join).
 *
 * Each sync goes through the engine's own 'mptcp:config:apply', so it is planned against the live
 * state and applied all or nothing, rolled back if the kernel refuses a step.
 *
 * Ownership: that apply replaces the whole endpoint set, and other endpoints (added by hand, by a
 * profile, for addresses outside the matched interfaces) are not ours to remove. So the desired
 * `endpoints` list is built here as "the foreign endpoints exactly as they are" + "the policy's
 * endpoints", rather than sending `endpointPolicy`. This keeps shared/plan.ts unchanged (no
 * "partial endpoint set" mode that every other caller would have to reason about), and the plan
 * still sees the complete set, so its 8-endpoint check stays exact.
 *
 * An endpoint is managed (ours to replace or remove) when it is not implicit and
 *  - its address is on an interface a glob matches (whatever that interface's state), or
 *  - it is bound to a device whose name a glob matches, or
 *  - this process added it or managed it before (so it is still removed after its address, or
 *    its whole interface, is gone and nothing else ties it to a matched interface).
 */
import {
  globProblem,
  MptcpConfigSchema,
  type DesiredEndpoint,
  type EndpointPolicy,
} from '../../../shared/config';
import { endpointSpecOf, expandPolicy, globMatch } from '../../../shared/plan';
import type { KernelHandlers } from '../../../shared/contract';
import type { Endpoint, Overview } from '../../../shared/types';
import type { Kernel } from '../kernel';
import { MPTCP_PM_ADDR_MAX } from '../mptcp-pm/endpoints';
import type { PmLogEntry, PmRole } from './userspace-pm';

/** In-kernel PM capacity: endpoints per namespace. */
const MAX_ENDPOINTS = MPTCP_PM_ADDR_MAX;
/** An interface going down or a DHCP renewal sends a burst of notifications: one apply for it. */
export const SYNC_DEBOUNCE_MS = 100;
/** The rule EndpointPolicySchema's `match` applies (shared/glob.ts), with the glob named. */
export function checkGlob(glob: string): string | null {
  const why = globProblem(glob);
  return why === null ? null : `"${glob}" ${why}`;
}

/**
 * The rules: backup globs first (expandPolicy keeps the first rule per address, so a backup
 * interface that --match also covers still gets the backup flag). A --backup glob also makes its
 * interfaces managed: `--match eth0 --backup wwan0` means "eth0, and wwan0 as backup".
 */
export function endpointPolicyFor(role: PmRole, match: string[], backup: string[]): EndpointPolicy[] {
  const flags = (isBackup: boolean): EndpointPolicy['flags'] => ({
    signal: role === 'server',
    subflow: role === 'client',
    backup: isBackup,
    fullmesh: role === 'client',
    laminar: false,
  });
  const rule = (g: string, isBackup: boolean): EndpointPolicy => ({
    match: g,
    flags: flags(isBackup),
    families: ['inet', 'inet6'],
  });
  return [...backup.map((g) => rule(g, true)), ...(match.length ? match : ['*']).map((g) => rule(g, false))];
}

const key = (e: { address: string; port?: number | null }): string => `${e.address}:${e.port ?? 0}`;

export interface SyncPlan {
  /** What goes to 'mptcp:config:apply' as `endpoints`: foreign ones first, as they are. */
  endpoints: DesiredEndpoint[];
  foreign: Endpoint[];
  managed: Endpoint[];
  /** Policy addresses the 8-endpoint cap left out. */
  leftOut: string[];
  warnings: string[];
}

function asDesired(e: Endpoint): DesiredEndpoint {
  const d: DesiredEndpoint = { address: e.address, id: e.id, flags: endpointSpecOf(e).flags };
  if (e.port !== null) d.port = e.port;
  // Only a binding the plan can resolve: a device that is gone would make the plan refuse.
  if (e.ifname) d.ifname = e.ifname;
  return d;
}

/** Pure: from the live overview, the rules and what this process owns, to the endpoint set. */
export function planSync(o: Overview, policy: EndpointPolicy[], owned: ReadonlySet<string>): SyncPlan {
  const globs = policy.map((r) => r.match);
  const matches = (name: string): boolean => globs.some((g) => globMatch(g, name));
  const onMatched = new Set(
    o.interfaces
      .filter((i) => !i.loopback && matches(i.name))
      .flatMap((i) => i.addresses.map((a) => a.address)),
  );
  const explicit = o.endpoints.filter((e) => !e.flags.implicit);
  const isManaged = (e: Endpoint): boolean =>
    owned.has(key(e)) || onMatched.has(e.address) || (e.ifname !== null && matches(e.ifname));
  const managed = explicit.filter(isManaged);
  const foreign = explicit.filter((e) => !isManaged(e));
  const foreignKeys = new Set(foreign.map(key));
  // A foreign endpoint on the same address (possible only through a device binding elsewhere)
  // wins: adding a duplicate would fail with EEXIST.
  const wanted = expandPolicy(policy, o.interfaces).filter((w) => !foreignKeys.has(key(w)));
  const implicitCount = o.endpoints.length - explicit.length;
  const room = Math.max(0, MAX_ENDPOINTS - foreign.length - implicitCount);
  const warnings: string[] = [];
  const leftOut = wanted.slice(room).map((w) => w.address);
  if (leftOut.length > 0) {
    // Same sentence as planConfig's for an endpointPolicy, with the foreign ones counted in.
    warnings.push(
      `the policy matches ${wanted.length} addresses; the in-kernel path manager holds ${MAX_ENDPOINTS}` +
        (foreign.length + implicitCount > 0
          ? ` (${foreign.length} foreign and ${implicitCount} implicit endpoints kept)`
          : '') +
        `, so these are left out: ${leftOut.join(', ')}`,
    );
  }
  return {
    endpoints: [...foreign.map(asDesired), ...wanted.slice(0, room)],
    foreign,
    managed,
    leftOut,
    warnings,
  };
}

/** The engine the sync reads and applies through (the caller's; the sync never closes it). */
export interface SyncEngine {
  handlers: Pick<KernelHandlers, 'mptcp:overview:get' | 'mptcp:config:apply'>;
  /** Its kernel, when it has one (LocalEngine): the path manager uses it too. */
  kernel?: Kernel;
}

export interface EndpointSyncOptions {
  engine: SyncEngine;
  /** Where the link and address notifications come from. */
  kernel: Pick<Kernel, 'watchAddresses'>;
  role: PmRole;
  /** Interface globs; empty = every non-loopback interface. */
  match: string[];
  backup: string[];
  /** On stop, remove the endpoints this process added (default: leave them). */
  cleanup?: boolean;
  debounceMs?: number;
  log: (e: PmLogEntry) => void;
}

export interface RunningSync {
  policy: EndpointPolicy[];
  stop(): Promise<void>;
}

interface ApplyOutcome {
  ok: boolean;
  added: string[];
  removed: string[];
  problems: string[];
  restored: boolean | null;
}

const describeEp = (e: {
  address: string;
  port: number | null;
  ifname: string | null;
  flags: Endpoint['flags'] | DesiredEndpoint['flags'];
}): string => {
  const f = (['signal', 'subflow', 'backup', 'fullmesh', 'laminar'] as const).filter((k) => e.flags[k]);
  return `${e.address}${e.port ? `:${e.port}` : ''} (${f.join(' ') || 'no flags'})${e.ifname ? ` on ${e.ifname}` : ''}`;
};

export async function runEndpointSync(opts: EndpointSyncOptions): Promise<RunningSync> {
  for (const g of [...opts.match, ...opts.backup]) {
    const bad = checkGlob(g);
    if (bad) throw new Error(bad);
  }
  const policy = endpointPolicyFor(opts.role, opts.match, opts.backup);
  const engine = opts.engine;
  let unwatch: (() => void) | null = null;
  /** Endpoint keys this process added or managed: still ours once nothing else says so. */
  const owned = new Set<string>();
  const added = new Set<string>();
  const log = (what: string, result: PmLogEntry['result'], rest: Partial<PmLogEntry> = {}): void =>
    opts.log({ timeMs: Date.now(), token: null, what, result, ...rest });

  const apply = async (endpoints: DesiredEndpoint[]): Promise<ApplyOutcome> => {
    const parsed = MptcpConfigSchema.safeParse({ endpoints });
    if (!parsed.success) {
      // An endpoint the kernel holds that a profile may not name (an unspecified or broadcast
      // address someone added by hand): leaving it out would delete it, keeping it fails the
      // schema. Say so and change nothing.
      const issue = parsed.error.issues[0];
      throw new Error(
        `endpoints cannot be synced: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
      );
    }
    const config = parsed.data;
    // The path manager follows the host's addresses by design: an endpoint whose address went away
    // is removed even if subflows from it are still listed (allowDisruption, shared/config-api.ts).
    const report = await engine.handlers['mptcp:config:apply']({
      config,
      confirmWithinS: null,
      allowDisruption: true,
    });
    const steps = report.ok ? report.applied.map((r) => r.step) : [];
    const addedNow = steps.flatMap((s) => (s.kind === 'endpoint-add' ? [s.endpoint] : []));
    const removedNow = steps.flatMap((s) => (s.kind === 'endpoint-del' ? [s.endpoint] : []));
    for (const e of removedNow) {
      owned.delete(key(e));
      added.delete(key(e));
    }
    for (const e of addedNow) {
      owned.add(key(e));
      added.add(key(e));
    }
    const problems = [
      ...report.planErrors,
      ...(report.failed
        ? [`${report.failed.description}: ${report.failed.error?.message ?? 'refused'}`]
        : []),
    ];
    return {
      ok: report.ok,
      added: addedNow.map(describeEp),
      removed: removedNow.map(describeEp),
      problems,
      restored: report.restored,
    };
  };

  const syncOnce = async (reason: string): Promise<void> => {
    try {
      const o = await engine.handlers['mptcp:overview:get']({});
      const p = planSync(o, policy, owned);
      for (const e of p.managed) owned.add(key(e));
      const r = await apply(p.endpoints);
      const message = [...r.problems, ...p.warnings].join('; ');
      log('endpoint-sync', r.ok ? 'ok' : 'error', {
        ...(message ? { message } : {}),
        detail: {
          reason,
          added: r.added,
          removed: r.removed,
          foreignKept: p.foreign.map(describeEp),
          leftOut: p.leftOut,
          warnings: p.warnings,
          // A refused step rolled everything back: the kernel's set is the one before this sync.
          ...(r.ok ? {} : { rolledBack: true, restored: r.restored }),
        },
      });
    } catch (e) {
      log('endpoint-sync', 'error', {
        message: e instanceof Error ? e.message : String(e),
        detail: { reason },
      });
    }
  };

  // One sync at a time; notifications during a sync ask for one more afterwards (the state may
  // have changed after the sync read it).
  let running: Promise<void> | null = null;
  let again = false;
  let pendingReasons: string[] = [];
  let stopped = false;
  const kick = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    const reason = [...new Set(pendingReasons)].join(',') || 'start';
    pendingReasons = [];
    running = syncOnce(reason).finally(() => {
      running = null;
      if (again && !stopped) {
        again = false;
        void kick();
      }
    });
    return running;
  };

  let debounce: NodeJS.Timeout | null = null;
  try {
    // Subscribe before the first sync: a change between the first read and the subscription
    // would otherwise go unnoticed until the next one.
    unwatch = opts.kernel.watchAddresses((change) => {
      if (stopped) return;
      pendingReasons.push(change);
      if (debounce) clearTimeout(debounce);
      debounce = setTimeout(() => {
        debounce = null;
        void kick();
      }, opts.debounceMs ?? SYNC_DEBOUNCE_MS);
    });
    const o = await engine.handlers['mptcp:overview:get']({});
    if (o.errors.length > 0) throw new Error(o.errors.map((e) => `${e.source}: ${e.message}`).join('; '));
    if (!o.limits) throw new Error('cannot read the in-kernel path manager limits');
    if (opts.role === 'client' && o.limits.subflows === 0)
      log('limits', 'info', {
        message:
          'limits subflows is 0: the in-kernel PM will create no extra subflows (ip mptcp limits set subflows N)',
      });
    await kick();
  } catch (e) {
    stopped = true;
    unwatch?.();
    throw e;
  }

  return {
    policy,
    stop: async () => {
      stopped = true;
      if (debounce) clearTimeout(debounce);
      debounce = null;
      unwatch?.();
      await running;
      if (opts.cleanup) {
        try {
          // Ours = what this process added and is still there; everything else stays as it is.
          const o = await engine.handlers['mptcp:overview:get']({});
          const keep = o.endpoints.filter((e) => !e.flags.implicit && !added.has(key(e)));
          const r = await apply(keep.map(asDesired));
          log('endpoint-cleanup', r.ok ? 'ok' : 'error', {
            ...(r.problems.length ? { message: r.problems.join('; ') } : {}),
            detail: { removed: r.removed },
          });
        } catch (e) {
          log('endpoint-cleanup', 'error', { message: e instanceof Error ? e.message : String(e) });
        }
      }
    },
  };
}
