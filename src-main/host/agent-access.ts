/**
 * `mptcp:agent:status` and `mptcp:agent:start` (shared/agent-access.ts): how this host reaches the
 * write path. Answered by the host, about the host: the agent discovery of an unprivileged host
 * (src-main/engine/agent/discovery.ts), or "direct" for one that looks for no agent.
 */
import type { HostHandlers } from '../../shared/contract';
import { ApiFailure } from '../../shared/result';
import { directAgentAccess, type AgentAccessControl } from '../engine/index';

export function agentAccessHandlers(
  access: AgentAccessControl | null,
): Pick<HostHandlers, 'mptcp:agent:status' | 'mptcp:agent:start'> {
  return {
    'mptcp:agent:status': async ({ recheck }) =>
      access ? access.access({ recheck: recheck ?? false }) : directAgentAccess(),
    'mptcp:agent:start': async () => {
      if (!access) {
        throw new ApiFailure('UNSUPPORTED', 'this host does not use a discovered agent: nothing to start');
      }
      return access.startAgent();
    },
  };
}
