/** Opening an engine: in our own namespace, or in a named one through an agent. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostHandlers } from '../../shared/contract';
import {
  AgentBackend,
  DiscoveringBackend,
  processHasNetAdmin,
  SocketBackend,
  type AgentAccessControl,
} from './agent/index';
import { LocalEngine } from './local-engine';
import { EngineService, type EngineBackend, type ServiceOptions } from './service';

export { EngineService } from './service';
export type { EngineBackend } from './service';
export * as probe from './pathdoctor/index';
// By name as well: the trace command's own bundle (scripts/build-node.mjs, out/node/trace.mjs) then
// takes only what a trace needs, not the whole engine (docs/path-doctor.md, "Numbers").
export {
  expandTargets,
  RawProbeHelper,
  resolveSources,
  runTrace,
  SourceError,
  writePcap,
} from './pathdoctor/index';
export { checkNetnsName, serveAgent, serveAgentSocket } from './agent/index';
export { DiscoveringBackend, DEFAULT_AGENT_SOCKET, AGENT_SOCKET_ENV, agentSocketPath } from './agent/index';
export { directAgentAccess } from './agent/index';
export type { AgentAccessControl } from './agent/index';
export { auditArgs, auditResult, isAuditedMethod, isWriteMethod } from './audit';
export { detectManagers } from './managers';
export { LocalEngine } from './local-engine';
export { formatMptcpEvent } from './mptcp-pm/events';
export { checkGlob } from './pm/endpoint-sync';
export { PmController } from './pm/pm-controller';
export type { PmLogEntry } from './pm/userspace-pm';
export type { ConnectionsFeed, FeedStats } from './connections-feed';
export { DEFAULT_PER_CONNECTION_LIMIT, MetricsCollector, type MetricsReading } from './metrics/collector';

/** Where the bundled CLI is: ourselves when running from the bundle, else out/node/ in the repo. */
export function defaultAgentEntry(): string {
  const env = process.env.MPTCP_STUDIO_AGENT_ENTRY;
  if (env) return env;
  const self = fileURLToPath(import.meta.url);
  if (self.endsWith('.mjs')) return self;
  let dir = dirname(self);
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'out', 'node', 'mptcp-studio.mjs');
    dir = dirname(dir);
  }
  return resolve('out/node/mptcp-studio.mjs');
}

export interface OpenOptions {
  /** Network namespace to look at; null/undefined = our own. */
  netns?: string | null;
  agentEntry?: string;
  /** Extra environment for a namespace agent (tests: the fault-injection hook). */
  agentEnv?: Record<string, string>;
  /** Use the privileged agent listening on this Unix socket instead of the kernel directly. */
  agentSocket?: string | null;
  /**
   * Without agentSocket and netns, and without CAP_NET_ADMIN: look for the privileged agent at
   * its default socket and write through it when it answers (agent/discovery.ts). `watch`: keep
   * looking every few seconds (hosts that stay up); false: once (one-shot CLI commands).
   */
  discoverAgent?: { watch: boolean } | null;
}

export function openBackend(opts: OpenOptions): EngineBackend {
  if (opts.agentSocket) return new SocketBackend(opts.agentSocket);
  if (opts.netns) {
    return new AgentBackend(opts.netns, {
      entry: opts.agentEntry ?? defaultAgentEntry(),
      ...(opts.agentEnv ? { env: opts.agentEnv } : {}),
    });
  }
  if (opts.discoverAgent && !processHasNetAdmin()) {
    return new DiscoveringBackend(
      new LocalEngine(),
      opts.discoverAgent.watch ? {} : { watchIntervalMs: 0, quiet: true },
    );
  }
  return new LocalEngine();
}

export function openEngine(
  opts: OpenOptions &
    ServiceOptions & {
      /** `access`: the agent discovery when this host looks for the agent (discoverAgent), else null. */
      host?: (backend: EngineBackend, access: AgentAccessControl | null) => Partial<HostHandlers>;
      /** Wraps the backend before the service uses it (the Fleet direct mode's host switcher). */
      wrapBackend?: (backend: EngineBackend) => EngineBackend;
    } = {},
): EngineService {
  const opened = openBackend(opts);
  const backend = opts.wrapBackend ? opts.wrapBackend(opened) : opened;
  const { host, wrapBackend: _wrap, ...rest } = opts;
  const access = opened instanceof DiscoveringBackend ? opened : null;
  return new EngineService(backend, { ...rest, ...(host ? { host: host(backend, access) } : {}) });
}
