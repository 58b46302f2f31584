/**
 * Which congestion controls the engine can register, under which kernel names, from which
 * compiled objects. Configured once when the engine is created, never per request: a request
 * names an algorithm from an enum and the object path comes from here, so no caller can make
 * the engine load a file of its choosing.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CC_ALGORITHMS, type CcAlgorithmInfo, type CcId } from '../../../shared/cc';

/** TCP_CA_NAME_MAX is 16 bytes including the NUL (include/net/tcp.h). */
export const TCP_CA_NAME_MAX_CHARS = 15;
/**
 * The longest suffix (with its `_`) that fits every shipped id: the suffix applies to all of
 * them at once, so the longest id decides. `mptcp_balia` (11) + `_e2e` (4) is exactly 15
 * characters; the LIA / OLIA-era 5-character suffixes (`_e2e1`) no longer fit.
 */
export const MAX_CC_SUFFIX_CHARS = TCP_CA_NAME_MAX_CHARS - Math.max(...CC_ALGORITHMS.map((a) => a.id.length));
const SUFFIX_RE = new RegExp(`^_[a-z0-9]{1,${MAX_CC_SUFFIX_CHARS - 1}}$`);

export interface CcCatalogOptions {
  /**
   * Directory holding `<kernelName>.bpf.o` (packaged installs: MPTCP_STUDIO_BPF_DIR). When unset:
   * Electron's resources/bpf, then the checkout's out/bpf (scripts/build-bpf.mjs). A privileged
   * engine loads only objects that it and every directory above are owned by root (or the engine's
   * uid) and writable by nobody else (object-trust.ts): a root engine run from a user's checkout
   * refuses that checkout's out/bpf, on purpose.
   */
  bpfDir?: string | null;
  /**
   * Appended to every kernel name (`mptcp_lia` → `mptcp_lia_e2e`), for tests that must not touch
   * a real registration: the objects in bpfDir are then built under those names. At most
   * MAX_CC_SUFFIX_CHARS characters.
   */
  nameSuffix?: string | null;
  /** bpftool binary; found in the usual sbin directories when unset. */
  bpftool?: string | null;
}

export interface CcEntry {
  info: CcAlgorithmInfo;
  kernelName: string;
  /** Where the object is expected (it may not exist). */
  objectPath: string | null;
}

export interface CcCatalog {
  entries: CcEntry[];
  bpfDirs: string[];
  bpftool: string | null;
  byId(id: CcId): CcEntry;
  byKernelName(name: string): CcEntry | undefined;
}

/** MPTCP_STUDIO_BPF_DIR and MPTCP_STUDIO_CC_SUFFIX (tests, packaged installs, the systemd unit). */
export function ccOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): CcCatalogOptions {
  return {
    bpfDir: env.MPTCP_STUDIO_BPF_DIR || null,
    nameSuffix: env.MPTCP_STUDIO_CC_SUFFIX || null,
    bpftool: env.MPTCP_STUDIO_BPFTOOL || null,
  };
}

function repoOutBpf(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'out', 'bpf');
    dir = dirname(dir);
  }
  return null;
}

const BPFTOOL_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin', '/usr/local/bin', '/bin'];

export function findBpftool(explicit?: string | null): string | null {
  if (explicit) return isAbsolute(explicit) && existsSync(explicit) ? explicit : null;
  // PATH often lacks sbin for users; look in the fixed directories first, then PATH.
  const dirs = [...BPFTOOL_DIRS, ...(process.env.PATH ?? '').split(':').filter((d) => isAbsolute(d))];
  for (const d of dirs) {
    const p = join(d, 'bpftool');
    if (existsSync(p)) return p;
  }
  return null;
}

export function createCatalog(opts: CcCatalogOptions = {}): CcCatalog {
  const suffix = opts.nameSuffix ?? '';
  if (suffix && !SUFFIX_RE.test(suffix)) {
    throw new Error(`congestion control name suffix "${suffix}" must match ${SUFFIX_RE.source}`);
  }
  let bpfDirs: string[];
  if (opts.bpfDir) {
    if (!isAbsolute(opts.bpfDir)) throw new Error(`BPF object directory must be absolute: ${opts.bpfDir}`);
    bpfDirs = [opts.bpfDir];
  } else {
    const resources = (process as { resourcesPath?: string }).resourcesPath;
    bpfDirs = [resources ? join(resources, 'bpf') : null, repoOutBpf()].filter(
      (d): d is string => d !== null,
    );
  }
  const entries = CC_ALGORITHMS.map((info): CcEntry => {
    const kernelName = `${info.id}${suffix}`;
    if (kernelName.length > TCP_CA_NAME_MAX_CHARS) {
      throw new Error(`congestion control name ${kernelName} is longer than ${TCP_CA_NAME_MAX_CHARS}`);
    }
    const file = `${kernelName}.bpf.o`;
    const found = bpfDirs.map((d) => join(d, file)).find((p) => existsSync(p));
    return { info, kernelName, objectPath: found ?? (bpfDirs[0] ? join(bpfDirs[0], file) : null) };
  });
  return {
    entries,
    bpfDirs,
    bpftool: findBpftool(opts.bpftool),
    byId(id) {
      const e = entries.find((x) => x.info.id === id);
      if (!e) throw new Error(`unknown congestion control ${id}`);
      return e;
    },
    byKernelName: (name) => entries.find((x) => x.kernelName === name),
  };
}
