/**
 * The file descriptor and the drop counter of a netlink socket the `netlink` binding owns, found
 * through procfs by the socket's port id. The binding does not expose its fd; with it, the engine
 * can read(2) datagrams itself (no allocation, copy or JS callback per datagram) and count what
 * the kernel dropped.
 *
 * The events reader (event-reader-worker.ts) and the sock_diag dump workers
 * (diag/dump-worker-thread.ts) import them in their worker threads.
 */
import type * as Fs from 'node:fs';

/**
 * The socket's row in `${procDir}/net/netlink` (net/netlink/af_netlink.c netlink_seq_show: sk Eth
 * Pid Groups Rmem Wmem Dump Locks Drops Inode), as { drops, inode }, or null. `procDir` is
 * /proc/thread-self (the netns of the calling thread) outside tests.
 */
export function netlinkSocketRow(
  fs: Pick<typeof Fs, 'readFileSync'>,
  procDir: string,
  protocol: number,
  portId: number,
): { drops: number; inode: string } | null {
  try {
    const proto = String(protocol);
    const port = String(portId);
    for (const line of fs.readFileSync(`${procDir}/net/netlink`, 'latin1').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1] === proto && f[2] === port && f.length >= 10 && /^[0-9]+$/.test(f[9]!)) {
        return { drops: Number(f[8]), inode: f[9]! };
      }
    }
  } catch {
    // No procfs: the caller does without.
  }
  return null;
}

/** The fd of this process whose link is `socket:[inode]` (an inode from netlinkSocketRow), or -1. */
export function findSocketFd(
  fs: Pick<typeof Fs, 'readdirSync' | 'readlinkSync'>,
  procDir: string,
  inode: string,
): number {
  const want = `socket:[${inode}]`;
  try {
    for (const name of fs.readdirSync(`${procDir}/fd`)) {
      try {
        if (fs.readlinkSync(`${procDir}/fd/${name}`) === want) return Number(name);
      } catch {
        // An fd closed since readdir.
      }
    }
  } catch {
    // No procfs.
  }
  return -1;
}
