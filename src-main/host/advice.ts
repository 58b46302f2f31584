/**
 * 'mptcp:advice:get', served by the host: reads the kernel through the backend's handlers (so it
 * works the same for the local engine and a namespace agent), looks for other endpoint managers in
 * /proc, and hands everything to the pure advisor in shared/advisor.ts.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { advise } from '../../shared/advisor';
import type { HostHandlers } from '../../shared/contract';
import type { ConnectionsSnapshot } from '../../shared/types';
import type { HostDeps } from './index';

export interface AdviceOptions {
  /** Where /proc is; tests point it at a temporary tree. */
  procRoot?: string;
  /** Where `ip netns` keeps named namespaces (reference G4). */
  netnsDir?: string;
}

/** Process names (/proc/PID/comm, at most 15 characters) of programs that manage endpoints. */
const MANAGER_COMMS = { mptcpd: 'mptcpd', networkManager: 'NetworkManager' } as const;

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

/**
 * Which endpoint managers run in the namespace being looked at. Endpoints are per netns
 * (reference G4), so a NetworkManager in the host's namespace does not touch a lab namespace's
 * endpoints: when both /proc/PID/ns/net and the target's namespace file can be stat'ed, their
 * inodes must match. When they cannot (another user's process: the link is not readable without
 * ptrace rights), a manager counts only when the target is our own namespace, where it usually is.
 */
export async function detectManagers(
  procRoot: string,
  netnsDir: string,
  netns: string | null,
): Promise<{ mptcpd: boolean; networkManager: boolean }> {
  const found = { mptcpd: false, networkManager: false };
  let pids: string[];
  try {
    pids = (await readdir(procRoot)).filter((n) => /^\d+$/.test(n));
  } catch {
    return found;
  }
  const targetPath = netns === null ? `${procRoot}/self/ns/net` : `${netnsDir}/${netns}`;
  const targetInode = await inodeOf(targetPath);
  await Promise.all(
    pids.map(async (pid) => {
      let comm: string;
      try {
        comm = (await readFile(`${procRoot}/${pid}/comm`, 'utf8')).trim();
      } catch {
        return; // the process exited between readdir and read, or hidepid hides it
      }
      const key = (Object.keys(MANAGER_COMMS) as Array<keyof typeof MANAGER_COMMS>).find(
        (k) => MANAGER_COMMS[k] === comm,
      );
      if (!key || found[key]) return;
      const procInode = await inodeOf(`${procRoot}/${pid}/ns/net`);
      const sameNetns =
        procInode !== null && targetInode !== null ? procInode === targetInode : netns === null;
      if (sameNetns) found[key] = true;
    }),
  );
  return found;
}

async function inodeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).ino;
  } catch {
    return null;
  }
}
