/**
 * The engine as it runs in the network namespace of its own process: the only code that opens
 * netlink sockets or reads /proc/sys. Every handler reads the kernel afresh; nothing is cached,
 * so what the UI shows is what the kernel says now.
 */
import {
  EVENTS_DROPPED_CODE,
  type EventName,
  type EventPayload,
  type KernelHandlers,
} from '../../shared/contract';
import type { Overview } from '../../shared/types';
import { toApiError } from '../../shared/result';
import { resolveMptcpPm } from './mptcp-pm/family';
import { ConfigManager } from './config/config-manager';
import { KernelEventWatcher } from './events/kernel-events';
import { NetlinkKernel } from './netlink-kernel';
import { CcManager } from './cc/cc-manager';
import { ccOptionsFromEnv, createCatalog, type CcCatalogOptions } from './cc/catalog';
import { PmController } from './pm/pm-controller';
import { ConfigJournal } from './config/journal';
import { ProbeService } from './pathdoctor/service';
import type { NetnsIdentity } from './netns-identity';
import type { ConfigRecovery } from '../../shared/types';

export interface LocalEngineOptions {
  /** Name to report as KernelStatus.netns (the agent passes the namespace it was started in). */
  netnsLabel?: string | null;
  /** Integration tests only: make apply step k fail, to prove the rollback. */
  injectFailureAt?: number;
  /**
   * Integration tests only: hold each apply step this long, so that a test can kill the engine
   * inside the apply window. Default: MPTCP_STUDIO_TEST_STEP_DELAY_MS (0..2000), which reaches an
   * in-process CLI under `ip netns exec` and namespace agents alike.
   */
  stepDelayMs?: number;
  /**
   * Where the crash-recovery files go: the config journal (config/journal.ts) and the path
   * manager's state file. Default /run/mptcp-studio.
   */
  stateDir?: string;
  /**
   * Where the coupled-CC objects are and under which names they register. Defaults to the
   * environment (MPTCP_STUDIO_BPF_DIR, MPTCP_STUDIO_CC_SUFFIX), which reaches namespace agents too.
   */
  cc?: CcCatalogOptions;
}

type EventListener = <E extends EventName>(event: E, payload: EventPayload<E>) => void;

function stepDelayFromEnv(): number | undefined {
  const v = process.env.MPTCP_STUDIO_TEST_STEP_DELAY_MS;
  return v && /^\d{1,4}$/.test(v) && Number(v) <= 2000 ? Number(v) : undefined;
}

export class LocalEngine {
  /** Every read and write goes through it (kernel.ts); the path manager's dedicated sockets aside. */
  readonly kernel: NetlinkKernel;
  private readonly listeners = new Set<EventListener>();
  private readonly config: ConfigManager;
  private readonly watcher: KernelEventWatcher;
  private readonly cc: CcManager;
  private readonly pm: PmController;
  /** The Path doctor's runs (mptcp:probe:*), through the probe helper. */
  private readonly probe: ProbeService;
  private identityLookup: Promise<NetnsIdentity> | null = null;

  constructor(opts: LocalEngineOptions = {}) {
    const stepDelayMs = opts.stepDelayMs ?? stepDelayFromEnv();
    this.kernel = new NetlinkKernel({
      netnsLabel: opts.netnsLabel ?? null,
      // Plans register coupled CCs through the CC manager, created just below.
      cc: { load: (id) => this.cc.load(id), unload: (id) => this.cc.unload(id) },
    });
    this.cc = new CcManager({
      catalog: createCatalog(opts.cc ?? ccOptionsFromEnv()),
      subflowCongestion: async () =>
        (await this.kernel.reads.connections()).connections.flatMap((c) =>
          c.subflows.map((sf) => sf.congestionControl),
        ),
    });
    this.config = new ConfigManager({
      overview: () => this.overview(),
      writer: this.kernel.writer,
      ccStatus: () => this.cc.list(),
      onPending: (revertAtMs) => this.emit('mptcp:config:pending', { revertAtMs }),
      journal: new ConfigJournal({
        identity: () => this.identity(),
        ...(opts.stateDir ? { dir: opts.stateDir } : {}),
      }),
      onRecovery: (r) => this.emit('mptcp:config:recovered', r),
      // Each step's impact on live traffic is computed from these (shared/plan.ts stepImpact).
      connections: () => this.kernel.reads.connections(),
      onOutcome: (o) => this.emit('mptcp:config:outcome', o),
      ...(opts.injectFailureAt === undefined ? {} : { injectFailureAt: opts.injectFailureAt }),
      ...(stepDelayMs ? { stepDelayMs } : {}),
    });
    this.watcher = new KernelEventWatcher(
      resolveMptcpPm,
      (e) => this.emit('mptcp:kernel:event', e),
      (message) => this.emit('mptcp:engine:error', { source: 'events', code: EVENTS_DROPPED_CODE, message }),
    );
    this.pm = new PmController({
      engine: this,
      kernel: this.kernel,
      emit: (a) => this.emit('mptcp:pm:action', a),
      identity: () => this.identity(),
      ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
    });
    this.probe = new ProbeService({
      kernel: this.kernel,
      emit: (p) => this.emit('mptcp:probe:progress', p),
      identity: () => this.identity(),
      ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
    });
    // Every handler waits for the first reconcile: nothing is read or changed before what a killed
    // engine left in this namespace has been dealt with (config/config-manager.ts).
    const gated: Record<string, (args: never) => Promise<unknown>> = {};
    for (const [name, handler] of Object.entries(this.ungated) as [
      string,
      (args: never) => Promise<unknown>,
    ][])
      gated[name] = async (args) => {
        await this.recover();
        return handler(args);
      };
    this.handlers = gated as unknown as KernelHandlers;
  }

  /**
   * This engine's network namespace, as something never reused (netns-identity.ts); read once, a
   * process does not change namespace. A failed lookup is retried on the next call.
   */
  identity(): Promise<NetnsIdentity> {
    if (this.identityLookup) return this.identityLookup;
    const lookup = this.kernel.reads.identity();
    this.identityLookup = lookup;
    lookup.catch(() => {
      if (this.identityLookup === lookup) this.identityLookup = null;
    });
    return lookup;
  }

  /**
   * Deal with what a killed engine left in this namespace (an interrupted apply or revert, a change
   * awaiting confirmation): the first call does it, later calls return the same outcome. Every
   * handler awaits it; hosts that should recover without waiting for a call (the privileged
   * agent) call it at startup. The outcome is also sent as mptcp:config:recovered.
   */
  recover(): Promise<ConfigRecovery[]> {
    return this.config.recover();
  }

  private emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const l of this.listeners) l(event, payload);
  }

  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Watches are counted: several hosts may share one privileged agent. */
  private watchers = 0;
  private async watch(on: boolean): Promise<{ mptcp: boolean; interfaces: boolean; note: string | null }> {
    this.watchers = Math.max(0, this.watchers + (on ? 1 : -1));
    if (this.watchers > 0) return this.watcher.start();
    return this.watcher.stop();
  }

  private async ifnames(): Promise<Map<number, string>> {
    const ifs = await this.kernel.reads.interfaces();
    return new Map(ifs.map((i) => [i.index, i.name]));
  }

  readonly handlers: KernelHandlers;

  private readonly ungated: KernelHandlers = {
    'mptcp:status:get': () => this.kernel.reads.status(),
    'mptcp:endpoints:list': async () => this.kernel.reads.endpoints(await this.ifnames()),
    'mptcp:limits:get': () => this.kernel.reads.limits(),
    'mptcp:interfaces:list': () => this.kernel.reads.interfaces(),
    'mptcp:connections:list': () => this.kernel.reads.connections(),
    'mptcp:overview:get': () => this.overview(),
    'mptcp:counters:get': () => this.kernel.reads.counters(),
    'mptcp:events:watch': ({ on }) => this.watch(on),
    'mptcp:connection:get': ({ token }) => this.kernel.reads.connection(token),
    'mptcp:config:export': () => this.config.exportConfig(),
    'mptcp:config:plan': ({ config }) => this.config.plan(config),
    'mptcp:config:apply': ({ config, confirmWithinS, allowDisruption }) =>
      this.config.apply(config, confirmWithinS, allowDisruption),
    'mptcp:config:confirm': () => this.config.confirm(),
    'mptcp:config:revert': () => this.config.revert('user'),
    'mptcp:cc:list': () => this.cc.list(),
    'mptcp:cc:repairs': () => this.cc.repairs(),
    'mptcp:cc:load': ({ name }) => this.cc.load(name),
    'mptcp:cc:unload': ({ name }) => this.cc.unload(name),
    'mptcp:pm:status': () => this.pm.status(),
    'mptcp:pm:start': (args) => this.pm.start(args),
    'mptcp:pm:stop': () => this.pm.stop(),
    // Field initialisers run before the constructor: reach the probe service when called.
    'mptcp:probe:trace': (a) => this.probe.handlers['mptcp:probe:trace'](a),
    'mptcp:probe:scan': (a) => this.probe.handlers['mptcp:probe:scan'](a),
    'mptcp:probe:subflows': (a) => this.probe.handlers['mptcp:probe:subflows'](a),
    'mptcp:probe:cancel': (a) => this.probe.handlers['mptcp:probe:cancel'](a),
    'mptcp:probe:history': (a) => this.probe.handlers['mptcp:probe:history'](a),
    'mptcp:probe:get': (a) => this.probe.handlers['mptcp:probe:get'](a),
  };

  private async overview(): Promise<Overview> {
    const errors: Overview['errors'] = [];
    const note = (source: string) => (err: unknown) => {
      const e = toApiError(err);
      errors.push({ source, code: e.code, message: e.message });
      return null;
    };
    const reads = this.kernel.reads;
    const [status, interfaces] = await Promise.all([
      reads.status(),
      reads.interfaces().catch(note('interfaces')),
    ]);
    const names = new Map((interfaces ?? []).map((i) => [i.index, i.name]));
    const fam = await this.kernel.family().catch(note('mptcp_pm'));
    const [endpoints, limits] = fam
      ? await Promise.all([
          reads.endpoints(names).catch(note('endpoints')),
          reads.limits().catch(note('limits')),
        ])
      : [null, null];
    // Source routing and rp_filter (rtnl/rules.ts): plans, exports and the advisor read them here.
    const routing = await reads.routing(names).catch(note('routing'));
    return {
      status,
      limits,
      endpoints: endpoints ?? [],
      interfaces: interfaces ?? [],
      ...(routing ? { routing } : {}),
      errors,
    };
  }

  async close(): Promise<void> {
    this.probe.close();
    // First: the in-kernel sync applies through this engine's config manager.
    await this.pm.close();
    await this.config.close();
    this.watcher.stop();
    this.kernel.close();
  }
}
