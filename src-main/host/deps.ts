import type { KernelHandlers } from '../../shared/contract';
import type { FleetDeps } from './fleet/handlers';
import type { AgentAccessControl } from '../engine/index';

/** What the host's own handlers (profiles, advice) need. */
export interface HostDeps {
  kernel: KernelHandlers;
  /** Where profiles are stored: $XDG_CONFIG_HOME/mptcp-studio/profiles by default. */
  profilesDir: string;
  /** The Fleet page's Prometheus and remote hosts; absent: no Prometheus, the default registry. */
  fleet?: FleetDeps;
  /** The agent discovery of an unprivileged host (mptcp:agent:*); absent: the host looks for none. */
  agentAccess?: AgentAccessControl | null;
}
