/**
 * Which network namespace this process runs in, as a name that is never given to another one.
 * Files the engine leaves under /run for crash recovery (the config journal, config/journal.ts;
 * the path manager's state file, pm/pm-controller.ts) are named by it.
 *
 * Why not the inode alone: /proc/self/ns/net names the namespace by its nsfs inode number, which
 * is unique only among live namespaces. It comes from an IDA (fs/proc/generic.c proc_alloc_inum)
 * and is handed out again as soon as the namespace is freed, so a brand-new namespace inherited the
 * state file of a dead one (and showed "a path manager run was killed").
 *
 * The kernel's own answer is the netns cookie: SO_NETNS_COOKIE (uapi: asm-generic/socket.h, 71;
 * Linux 5.14+), a u64 from getsockopt(2) that is never reused. Node cannot read it: it has no
 * generic getsockopt, and the `netlink` binding in node_modules offers only SO_RCVBUF/SO_SNDBUF
 * and the membership options (node_modules/netlink/src/binding.cc), so it would take native code.
 * Newer kernels expose the same id as NS_GET_ID (linux/nsfs.h), an ioctl, which Node cannot do
 * either.
 *
 * What Node can read is equally unambiguous: the socket cookie of the namespace's own rtnetlink
 * kernel socket. Every namespace creates that socket when it is set up (net/core/rtnetlink.c
 * rtnetlink_net_init) and releases it only when it is torn down, and socket cookies are 64-bit
 * values from a global counter that never hands one out twice in a boot (net/core/sock_diag.c
 * sock_gen_cookie). sock_diag reports it for netlink sockets without any privilege: a
 * SOCK_DIAG_BY_FAMILY dump for AF_NETLINK answers one struct netlink_diag_msg per socket of the
 * asking process's namespace, the kernel's own with portid 0, with `ndiag_cookie` (uapi:
 * linux/netlink_diag.h; net/netlink/diag.c sk_diag_fill). `ss -f netlink` shows the same sockets
 * ("rtnl:kernel"). Cookies start again at boot, so the boot id (proc(5):
 * /proc/sys/kernel/random/boot_id) goes with it for files kept somewhere that survives a reboot.
 *
 * File names carry `<inode>-<cookie>`: a file with our inode and another cookie was left by a
 * namespace that no longer exists (two live namespaces never share an inode), so it is discarded,
 * never applied here.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { ApiFailure } from '../../shared/result';
import { NlSocket } from './netlink/core';
import { NETLINK_ROUTE, NETLINK_SOCK_DIAG } from './uapi/netlink';
import { NETLINK_DIAG_MSG_LEN, NETLINK_DIAG_REQ_LEN, SOCK_DIAG_BY_FAMILY } from './uapi/sock-diag';
import { AF_NETLINK } from './uapi/socket';

export interface NetnsIdentity {
  /** The nsfs inode of the namespace (stat /proc/self/ns/net): unique only among live namespaces. */
  ino: number;
  /** Socket cookie of the namespace's rtnetlink kernel socket, decimal: never reused in a boot. */
  cookie: string;
  /** /proc/sys/kernel/random/boot_id: cookies start again at boot. */
  bootId: string;
  /** `<ino>-<cookie>`, what file names carry. */
  key: string;
}

/** The request for every NETLINK_ROUTE socket of our namespace (the kernel's has portid 0). */
export function buildNetlinkDiagRequest(protocol: number): Buffer {
  const req = Buffer.alloc(NETLINK_DIAG_REQ_LEN);
  req.writeUInt8(AF_NETLINK, 0);
  req.writeUInt8(protocol, 1);
  return req;
}

/**
 * The cookie of the kernel's socket (portid 0) in one netlink_diag reply payload, or null. struct
 * netlink_diag_msg { u8 family, type, protocol, state; u32 portid, dst_portid, dst_group, ino;
 * u32 cookie[2]; } (uapi: linux/netlink_diag.h); cookie[0] holds the low 32 bits
 * (net/core/sock_diag.c sock_diag_save_cookie).
 */
export function kernelSocketCookie(buf: Buffer, off: number, len: number, protocol: number): string | null {
  if (len < NETLINK_DIAG_MSG_LEN) return null;
  if (buf.readUInt8(off) !== AF_NETLINK || buf.readUInt8(off + 2) !== protocol) return null;
  if (buf.readUInt32LE(off + 4) !== 0) return null;
  const lo = BigInt(buf.readUInt32LE(off + 20));
  const hi = BigInt(buf.readUInt32LE(off + 24));
  const cookie = (hi << 32n) | lo;
  return cookie === 0n ? null : cookie.toString();
}

/** The cookie of this namespace's rtnetlink kernel socket, through a sock_diag socket. */
export async function readNetnsCookie(diag?: NlSocket): Promise<string> {
  const sock = diag ?? new NlSocket(NETLINK_SOCK_DIAG, { recvBufferBytes: 256 * 1024 });
  try {
    let cookie: string | null = null;
    await sock.dump(
      SOCK_DIAG_BY_FAMILY,
      buildNetlinkDiagRequest(NETLINK_ROUTE),
      'netlink_diag dump (netns identity)',
      (buf, type, off, len) => {
        if (type === SOCK_DIAG_BY_FAMILY) cookie ??= kernelSocketCookie(buf, off, len, NETLINK_ROUTE);
      },
    );
    if (cookie === null)
      throw new ApiFailure('UNSUPPORTED', 'netlink_diag lists no rtnetlink kernel socket in this namespace');
    return cookie;
  } finally {
    if (!diag) sock.close();
  }
}

export interface IdentityOptions {
  procRoot?: string;
  /** A NETLINK_SOCK_DIAG socket to use (the engine's own); default a short-lived one. */
  diag?: NlSocket;
}

/** This process's namespace; throws (with the reason) when it cannot be told apart reliably. */
export async function readNetnsIdentity(opts: IdentityOptions = {}): Promise<NetnsIdentity> {
  const procRoot = opts.procRoot ?? '/proc';
  const [st, cookie, bootId] = await Promise.all([
    stat(`${procRoot}/self/ns/net`),
    readNetnsCookie(opts.diag),
    readFile(`${procRoot}/sys/kernel/random/boot_id`, 'utf8').then(
      (s) => s.trim(),
      () => 'unknown',
    ),
  ]);
  return { ino: st.ino, cookie, bootId, key: `${st.ino}-${cookie}` };
}

/** The file of `kind` (e.g. "config", "pm") for this namespace in `dir`. */
export function netnsStatePath(dir: string, kind: string, id: NetnsIdentity, suffix = '.json'): string {
  return `${dir}/${kind}-netns-${id.key}${suffix}`;
}

/**
 * Files of `kind` in `dir` named for our inode but another cookie: left by a namespace that is
 * gone (the inode is ours now), so nothing in them applies here. So is a file named by the inode
 * alone (`<kind>-netns-<ino>.json`, the naming before cookies), which cannot tell either. They are
 * removed; their names are returned so that the caller can say so.
 */
export async function removeForeignStateFiles(
  dir: string,
  kind: string,
  id: NetnsIdentity,
): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const prefix = `${kind}-netns-${id.ino}-`;
  const removed: string[] = [];
  for (const name of names) {
    const legacy = name === `${kind}-netns-${id.ino}.json`;
    if (!legacy && !name.startsWith(prefix)) continue;
    const cookie = /^(\d+)(?:\.|$)/.exec(name.slice(prefix.length))?.[1];
    if (!legacy && (cookie === undefined || cookie === id.cookie)) continue;
    try {
      await rm(`${dir}/${name}`, { force: true });
      removed.push(name);
    } catch {
      // not ours to remove (permissions): it is still never read for this namespace
    }
  }
  return removed;
}
