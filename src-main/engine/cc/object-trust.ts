/**
 * A privileged engine (root, or the agent with CAP_BPF + CAP_PERFMON) hands the BPF object to
 * bpftool, which loads every program and registers every struct_ops map in it. So the file must
 * be one nobody else can swap: the object and every directory above it owned by root or by us,
 * and writable by neither group nor others (a member of the agent's socket group must not be able
 * to put a file of their choosing in out/bpf). No exception for sticky world-writable directories
 * such as /tmp: the rule stays simple and checkable.
 *
 * Checking a path and then handing the path to bpftool would leave a window (TOCTOU), so the
 * bytes are read once through a checked descriptor, checked, written to a private copy (a fresh
 * 0700 directory, file 0600) and the copy is what bpftool registers.
 */
import { constants } from 'node:fs';
import { lstat, mkdtemp, open, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

export interface TrustOptions {
  /** Our effective uid: files we own are as trusted as root's. */
  euid: number;
  /**
   * Unit tests only: a directory treated as trusted, where the walk stops (a test's temp dir lives
   * under /tmp, which rightly fails the check). Production walks to "/".
   */
  trustedRoot?: string | null;
}

const mode = (m: number): string => `0${(m & 0o7777).toString(8)}`;

function problem(path: string, st: { uid: number; mode: number }, euid: number): string | null {
  if (st.uid !== 0 && st.uid !== euid) {
    return `${path} is owned by uid ${st.uid} (only root${euid === 0 ? '' : ` or uid ${euid}`} may own it)`;
  }
  // S_IWGRP | S_IWOTH
  if ((st.mode & 0o022) !== 0) return `${path} is writable by group or others (mode ${mode(st.mode)})`;
  return null;
}

/**
 * Why someone other than root (or us) could change what `path` holds; null when nobody can.
 * Symlinks are resolved first and the real path is what is checked (and later opened).
 */
export async function untrustedReason(path: string, opts: TrustOptions): Promise<string | null> {
  const real = await realpath(path);
  const stop = opts.trustedRoot ? await realpath(opts.trustedRoot) : null;
  const st = await lstat(real);
  if (!st.isFile()) return `${real} is not a regular file`;
  let p = real;
  for (;;) {
    const s = p === real ? st : await lstat(p);
    const why = problem(p, s, opts.euid);
    if (why) return why;
    if (p === stop) return null;
    const up = dirname(p);
    if (up === p) return null;
    p = up;
  }
}

/** The object's bytes, read through a descriptor whose file passed the checks. */
export async function readTrustedObject(path: string, opts: TrustOptions): Promise<Buffer> {
  const why = await untrustedReason(path, opts);
  if (why) throw new Error(why);
  const real = await realpath(path);
  const checked = await lstat(real);
  // O_NOFOLLOW: the last component was checked as a regular file, not a link to one.
  const fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (st.dev !== checked.dev || st.ino !== checked.ino)
      throw new Error(`${real} changed while it was checked`);
    const again = problem(real, st, opts.euid);
    if (again) throw new Error(again);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/**
 * Write `bytes` to `<fresh 0700 dir>/<name>` (mode 0600), run `fn` on that path, then remove
 * the directory whatever happens. The name is kept (bpftool and tests read it).
 */
export async function withPrivateCopy<T>(
  bytes: Buffer,
  name: string,
  fn: (path: string) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'mptcp-studio-cc-')); // mkdtemp: mode 0700
  try {
    const file = join(dir, basename(name));
    await writeFile(file, bytes, { mode: 0o600, flag: 'wx' });
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
