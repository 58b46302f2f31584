/**
 * Kernel status from /proc: the net.mptcp.* sysctls (read at runtime, every entry), the path
 * manager and scheduler, congestion control, TCP buffer sizes and our privileges. Everything here
 * is per network namespace except the kernel release and core r/wmem_max, which a child netns
 * shows read-only (docs/kernel-interfaces.md, "Sysctls").
 *
 * A missing or unreadable file is null / empty, never an exception: the status is what the UI
 * shows first, and a kernel without some knob is a fact to show, not an error.
 */
import { constants as fsConstants } from 'node:fs';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import type { BufferTriplet, KernelStatus, Privileges, SysctlEntry } from '../../../shared/types';
import { CAP_NET_ADMIN } from '../uapi/capability';

export const NET_ADMIN_NOTE =
  'Endpoint and limit changes and live kernel events need CAP_NET_ADMIN, which the privileged agent holds (docs/security.md)';

export interface ReadKernelStatusOptions {
  /** Label reported as KernelStatus.netns; the caller already runs inside that netns. */
  netns: string | null;
  /** Root of the proc tree (default /proc); unit tests point it at a fixture directory. */
  procRoot?: string;
  /** Where `ip netns` keeps named namespaces (default /run/netns); tests point it elsewhere. */
  runNetnsDir?: string;
}

/** Text of a /proc file without the trailing newline; null when it is missing or unreadable. */
async function readText(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).replace(/\n$/, '');
  } catch {
    return null;
  }
}

const words = (text: string | null): string[] =>
  text === null ? [] : text.split(/\s+/).filter((w) => w !== '');

function parseCount(text: string | null): number | null {
  if (text === null || !/^\s*\d+\s*$/.test(text)) return null;
  return Number(text.trim());
}

/** "4096\t131072\t33554432" → triplet; null unless exactly three non-negative integers. */
export function parseTriplet(text: string | null): BufferTriplet | null {
  const w = words(text);
  if (w.length !== 3 || !w.every((x) => /^\d+$/.test(x))) return null;
  const [minBytes, defaultBytes, maxBytes] = w.map(Number) as [number, number, number];
  return { minBytes, defaultBytes, maxBytes };
}

/**
 * Writable = some write bit in the mode (procfs honours the mode even for root: a 0444 sysctl of a
 * child netns refuses root too) and access(W_OK) agrees (no CAP_NET_ADMIN, read-only mount...).
 */
async function isWritable(path: string, mode: number): Promise<boolean> {
  if ((mode & 0o222) === 0) return false;
  try {
    await access(path, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Every regular file under <proc>/sys/net/mptcp, sorted by name. */
async function readMptcpSysctls(dir: string): Promise<SysctlEntry[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const entries = await Promise.all(
    names.sort().map(async (name): Promise<SysctlEntry | null> => {
      const path = join(dir, name);
      try {
        const st = await stat(path);
        if (!st.isFile()) return null;
        // An entry we cannot read is still listed (value ''), never dropped.
        const value = (await readText(path)) ?? '';
        return { name: `net.mptcp.${name}`, value, writable: await isWritable(path, st.mode) };
      } catch {
        return null;
      }
    }),
  );
  return entries.filter((e): e is SysctlEntry => e !== null);
}

/** CapEff from a /proc/<pid>/status text: a hex mask, bit CAP_NET_ADMIN. */
export function hasCapability(statusText: string | null, cap: number): boolean {
  const m = statusText === null ? null : /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText);
  if (!m?.[1]) return false;
  return ((BigInt(`0x${m[1]}`) >> BigInt(cap)) & 1n) === 1n;
}

export async function readPrivileges(procRoot = '/proc'): Promise<Privileges> {
  const netAdmin = hasCapability(await readText(join(procRoot, 'self', 'status')), CAP_NET_ADMIN);
  return { netAdmin, note: netAdmin ? null : NET_ADMIN_NOTE };
}

/** net.mptcp.pm_type (deprecated, 0 kernel / 1 userspace) → path manager name. */
function pathManagerFromPmType(pmType: string | null): string | null {
  if (pmType === '0') return 'kernel';
  if (pmType === '1') return 'userspace';
  return null;
}

/**
 * Are we in the initial network namespace? Our netns inode equal to pid 1's says yes (pid 1's is
 * not always readable, even by root, in containers); equal to a named namespace's bind mount
 * under /run/netns says no (a named namespace is never the initial one). Otherwise: unknown.
 */
async function detectInitNetns(proc: string, runNetnsDir: string): Promise<boolean | null> {
  const self = await stat(join(proc, 'self', 'ns', 'net')).catch(() => null);
  if (!self) return null;
  const init = await stat(join(proc, '1', 'ns', 'net')).catch(() => null);
  if (init) return init.ino === self.ino && init.dev === self.dev;
  const named = await readdir(runNetnsDir).catch(() => [] as string[]);
  for (const name of named) {
    const st = await stat(join(runNetnsDir, name)).catch(() => null);
    if (st && st.ino === self.ino && st.dev === self.dev) return false;
  }
  return null;
}

export async function readKernelStatus(opts: ReadKernelStatusOptions): Promise<KernelStatus> {
  const proc = opts.procRoot ?? '/proc';
  const sys = join(proc, 'sys', 'net');
  const mptcpDir = join(sys, 'mptcp');
  const [
    mptcpSupported,
    mptcpSysctls,
    ccDefault,
    ccAvailable,
    ccAllowed,
    rmem,
    wmem,
    rmemMax,
    wmemMax,
    privileges,
  ] = await Promise.all([
    stat(mptcpDir).then(
      (s) => s.isDirectory(),
      () => false,
    ),
    readMptcpSysctls(mptcpDir),
    readText(join(sys, 'ipv4', 'tcp_congestion_control')),
    readText(join(sys, 'ipv4', 'tcp_available_congestion_control')),
    readText(join(sys, 'ipv4', 'tcp_allowed_congestion_control')),
    readText(join(sys, 'ipv4', 'tcp_rmem')),
    readText(join(sys, 'ipv4', 'tcp_wmem')),
    readText(join(sys, 'core', 'rmem_max')),
    readText(join(sys, 'core', 'wmem_max')),
    readPrivileges(proc),
  ]);
  const outside: [string, string][] = [
    ['net.ipv4.tcp_congestion_control', join(sys, 'ipv4', 'tcp_congestion_control')],
    ['net.ipv4.tcp_rmem', join(sys, 'ipv4', 'tcp_rmem')],
    ['net.ipv4.tcp_wmem', join(sys, 'ipv4', 'tcp_wmem')],
    ['net.core.rmem_max', join(sys, 'core', 'rmem_max')],
    ['net.core.wmem_max', join(sys, 'core', 'wmem_max')],
  ];
  const inInitNetns = await detectInitNetns(proc, opts.runNetnsDir ?? '/run/netns');
  const readOnlySysctls: string[] = [];
  for (const [name, path] of outside) {
    const st = await stat(path).catch(() => null);
    if (st && !(await isWritable(path, st.mode))) readOnlySysctls.push(name);
  }
  const value = (name: string): string | null =>
    mptcpSysctls.find((e) => e.name === `net.mptcp.${name}`)?.value ?? null;
  const pmType = value('pm_type');
  // net.mptcp.path_manager and available_path_managers arrived in 6.15; before that only pm_type.
  const availablePms = value('available_path_managers');
  return {
    netns: opts.netns,
    kernelRelease: release(),
    inInitNetns,
    mptcpSupported,
    enabled: value('enabled') === '1',
    pathManager: value('path_manager') ?? pathManagerFromPmType(pmType),
    availablePathManagers:
      availablePms !== null ? words(availablePms) : pmType !== null ? ['kernel', 'userspace'] : [],
    scheduler: value('scheduler'),
    availableSchedulers: words(value('available_schedulers')),
    congestionControl: {
      default: ccDefault === null || ccDefault.trim() === '' ? null : ccDefault.trim(),
      available: words(ccAvailable),
      allowed: words(ccAllowed),
    },
    buffers: {
      tcpRmem: parseTriplet(rmem),
      tcpWmem: parseTriplet(wmem),
      rmemMaxBytes: parseCount(rmemMax),
      wmemMaxBytes: parseCount(wmemMax),
    },
    readOnlySysctls,
    mptcpSysctls,
    privileges,
  };
}
