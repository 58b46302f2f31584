/**
 * Other programs that manage MPTCP endpoints (mptcpd, NetworkManager): the advisor warns about
 * them, and the engine's path manager refuses to start beside them.
 */
import { readdir, readFile, stat } from 'node:fs/promises';

/** Process names (/proc/PID/comm, at most 15 characters) of programs that manage endpoints. */
const MANAGER_COMMS = { mptcpd: 'mptcpd', networkManager: 'NetworkManager' } as const;

/**
 * Which endpoint managers run in the namespace being looked at. Endpoints are per netns
 * (network_namespaces(7)), so a NetworkManager in the host's namespace does not touch a lab namespace's
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
