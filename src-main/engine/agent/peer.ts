/**
 * Who is on the other end of a Unix socket the agent accepted: the peer's uid, gid and pid, as
 * SO_PEERCRED would give them (socket(7), unix(7)). Node has no getsockopt, so they are read
 * from the kernel's own tables instead:
 * - our socket's inode (fstat on its fd) → its peer's inode, from a sock_diag request for
 *   AF_UNIX with UDIAG_SHOW_PEER (include/uapi/linux/unix_diag.h). The socket accept() gives us
 *   is created in the connecting process's network namespace (unix_stream_connect in
 *   net/unix/af_unix.c), and sock_diag looks only in our own: a client in another namespace
 *   (an agent run under `ip netns exec`, its clients outside) is not found, and its fields are
 *   null;
 * - the pid holding the peer socket, from /proc/PID/fd links `socket:[INODE]` (socket inodes are
 *   global), and its effective uid and gid from /proc/PID/status, as SO_PEERCRED reports them.
 *   A socket passed to another process, or held by several, names the first found. The scan runs
 *   newest pid first, several processes at once; the agent serves reads meanwhile (server.ts);
 * - without a pid (the peer exited already), the uid that created the peer socket
 *   (UDIAG_SHOW_UID, Linux ≥ 5.3), when the peer is in our namespace.
 * Fields that cannot be found are null and the audit line shows them so; the socket file's mode
 * and group still decided that the peer could connect at all.
 */
import { fstatSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { attrMap, NlSocket } from '../netlink/core';
import { NETLINK_SOCK_DIAG } from '../uapi/netlink';
import {
  SOCK_DIAG_BY_FAMILY,
  UDIAG_SHOW_PEER,
  UDIAG_SHOW_UID,
  UNIX_DIAG_MSG_LEN,
  UNIX_DIAG_PEER,
  UNIX_DIAG_REQ_LEN,
  UNIX_DIAG_UID,
} from '../uapi/sock-diag';
import { AF_UNIX } from '../uapi/socket';

export interface PeerCredentials {
  uid: number | null;
  gid: number | null;
  pid: number | null;
}

/** The fd under a net.Socket (a libuv pipe handle); Node does not type it. */
function socketFd(sock: Socket): number | null {
  const handle = (sock as unknown as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : null;
}

/** struct unix_diag_req for one socket by inode; cookie ~0 = "any" (INET_DIAG_NOCOOKIE). */
function unixDiagRequest(ino: number, show: number): Buffer {
  const req = Buffer.alloc(UNIX_DIAG_REQ_LEN);
  req.writeUInt8(AF_UNIX, 0);
  req.writeUInt32LE(0xffffffff, 4); // every state
  req.writeUInt32LE(ino, 8);
  req.writeUInt32LE(show, 12);
  req.writeUInt32LE(0xffffffff, 16);
  req.writeUInt32LE(0xffffffff, 20);
  return req;
}

async function unixDiagAttr(diag: NlSocket, ino: number, show: number, attr: number): Promise<number | null> {
  const replies = await diag.get(SOCK_DIAG_BY_FAMILY, unixDiagRequest(ino, show), `unix_diag ino ${ino}`);
  const msg = replies[0];
  if (!msg || msg.length < UNIX_DIAG_MSG_LEN) return null;
  const value = attrMap(msg, UNIX_DIAG_MSG_LEN, msg.length).get(attr);
  return value && value.length >= 4 ? value.readUInt32LE(0) : null;
}

/** Processes whose fds are read at once: the scan is many small reads, mostly waiting on the kernel. */
const SCAN_CONCURRENCY = 16;

async function pidHoldingSocket(ino: number): Promise<number | null> {
  const target = `socket:[${ino}]`;
  const self = String(process.pid);
  // Newest first: a client has usually just started (a CLI command) or connected (a host).
  const pids = (await readdir('/proc').catch(() => [] as string[]))
    .filter((d) => /^\d+$/.test(d) && d !== self)
    .sort((a, b) => Number(b) - Number(a));
  let next = 0;
  let found: number | null = null;
  const worker = async (): Promise<void> => {
    while (found === null && next < pids.length) {
      const pid = pids[next++]!;
      const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
      for (const fd of fds) {
        if (found !== null) return;
        const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
        if (link === target) {
          found = Number(pid);
          return;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: SCAN_CONCURRENCY }, worker));
  return found;
}

/** Effective uid and gid (the second field of proc(5)'s Uid: and Gid: lines). */
async function credsOf(pid: number): Promise<{ uid: number | null; gid: number | null }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(status);
  const gid = /^Gid:\s+\d+\s+(\d+)/m.exec(status);
  return { uid: uid ? Number(uid[1]) : null, gid: gid ? Number(gid[1]) : null };
}

/** The peer's credentials; every field null when they cannot be found (never throws). */
export async function peerCredentials(sock: Socket): Promise<PeerCredentials> {
  const none: PeerCredentials = { uid: null, gid: null, pid: null };
  const fd = socketFd(sock);
  if (fd === null) return none;
  let ownIno: number;
  try {
    ownIno = fstatSync(fd).ino;
  } catch {
    return none;
  }
  let diag: NlSocket | null = null;
  try {
    diag = new NlSocket(NETLINK_SOCK_DIAG, { timeoutMs: 2000 });
    const peerIno = await unixDiagAttr(diag, ownIno, UDIAG_SHOW_PEER, UNIX_DIAG_PEER);
    if (peerIno === null) return none;
    const pid = await pidHoldingSocket(peerIno);
    if (pid !== null) {
      const creds = await credsOf(pid);
      if (creds.uid !== null) return { ...creds, pid };
    }
    const uid = await unixDiagAttr(diag, peerIno, UDIAG_SHOW_UID, UNIX_DIAG_UID).catch(() => null);
    return { uid, gid: null, pid };
  } catch {
    return none;
  } finally {
    diag?.close();
  }
}
