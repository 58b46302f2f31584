/**
 * 'mptcp:advice:get', served by the host: reads the kernel through the backend's handlers (so it
 * works the same for the local engine and a namespace agent), looks for other endpoint managers in
 * /proc, and hands everything to the pure advisor in shared/advisor.ts.
 */
import { advise } from '../../shared/advisor';
import type { HostHandlers } from '../../shared/contract';
import type { ConnectionsSnapshot } from '../../shared/types';
import { detectManagers } from '../engine/index';
import type { HostDeps } from './deps';

export interface AdviceOptions {
  /** Where /proc is; tests point it at a temporary tree. */
  procRoot?: string;
  /** Where `ip netns` keeps named namespaces (ip-netns(8): /run/netns). */
  netnsDir?: string;
}

export function adviceHandlers(
  deps: Pick<HostDeps, 'kernel'>,
  options: AdviceOptions = {},
): Pick<HostHandlers, 'mptcp:advice:get'> {
  const procRoot = options.procRoot ?? '/proc';
  const netnsDir = options.netnsDir ?? '/run/netns';
  return {
    'mptcp:advice:get': async () => {
      const overview = await deps.kernel['mptcp:overview:get']({});
      // Advice without live subflows is still worth giving: the rules that need them skip.
      let connections: ConnectionsSnapshot | null;
      try {
        connections = await deps.kernel['mptcp:connections:list']({});
      } catch {
        connections = null;
      }
      const managers = await detectManagers(procRoot, netnsDir, overview.status.netns);
      // Our own userspace PM drives path_manager=userspace: no "without a daemon" warning then.
      const pm = await deps.kernel['mptcp:pm:status']({}).catch(() => null);
      const studioPm = pm?.running === true && pm.manager === 'userspace';
      return advise({ overview, connections, managers: { ...managers, studioPm } });
    },
  };
}
