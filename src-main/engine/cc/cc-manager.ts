/**
 * Coupled congestion control as BPF struct_ops: what can be loaded here and why not, and the
 * register/unregister operations themselves. Registration is global to the kernel (the name
 * appears in every namespace's tcp_available_congestion_control); the safety checks that look
 * at a namespace (its default, its live subflows) look at the engine's own.
 */
import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import {
  ccUnregisterShell,
  type CcActionResult,
  type CcBlocker,
  type CcId,
  type CcRepairs,
  type CcStatus,
} from '../../../shared/cc';
import { ApiFailure, type ErrorCode } from '../../../shared/result';
import { bpftoolFailure, execBpftool, type Exec } from './bpftool';
import {
  elfSection,
  kernelFacts,
  missingKfuncs,
  objectFacts,
  parseBtf,
  type KernelBtfFacts,
  type ObjectBtfFacts,
} from './btf';
import type { CcCatalog, CcEntry } from './catalog';
import { readTrustedObject, untrustedReason, withPrivateCopy } from './object-trust';
import { readCcRepairCount } from './repairs';

/** Capability numbers (uapi linux/capability.h). */
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

export interface Caps {
  /** bpf_capable() && perfmon_capable(): may load struct_ops programs and maps. */
  load: boolean;
  /** CAP_SYS_ADMIN: may walk map ids (BPF_MAP_GET_NEXT_ID), which finding a map by name needs. */
  sysAdmin: boolean;
}

export function capsFromStatus(statusText: string): Caps {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  const eff = m?.[1] ? BigInt(`0x${m[1]}`) : 0n;
  const has = (bit: bigint): boolean => ((eff >> bit) & 1n) === 1n;
  const sysAdmin = has(CAP_SYS_ADMIN);
  return { load: (has(CAP_BPF) || sysAdmin) && (has(CAP_PERFMON) || sysAdmin), sysAdmin };
}

export interface CcManagerDeps {
  catalog: CcCatalog;
  exec?: Exec;
  /** /proc (tests point it elsewhere). */
  procRoot?: string;
  /** The kernel's BTF. */
  btfPath?: string;
  /** Congestion control names of the live MPTCP subflows in this namespace (INET_DIAG_CONG). */
  subflowCongestion?: () => Promise<(string | null)[]>;
  /** Effective uid (default: the process's); root is privileged whatever CapEff says. */
  euid?: number;
  /** Unit tests only: where the object path checks stop (object-trust.ts). */
  trustedRoot?: string;
}

interface KernelSnapshot {
  btf: KernelBtfFacts | null;
  btfError: string | null;
  available: string[];
  namespaceDefault: string | null;
  caps: Caps;
  /** Names from `bpftool struct_ops show`; null when it cannot be read (no CAP_SYS_ADMIN). */
  structOps: string[] | null;
  subflowCc: (string | null)[] | null;
}

/** Tries of the subflow read before "cannot tell" (each failed try waits 50 ms). */
const SUBFLOW_READ_ATTEMPTS = 4;

const kernelBtfCache = new Map<string, Promise<KernelBtfFacts>>();

/** The kernel's BTF does not change while it runs: parse it once per process. */
function kernelBtf(path: string): Promise<KernelBtfFacts> {
  let p = kernelBtfCache.get(path);
  if (!p) {
    p = readFile(path).then((b) => kernelFacts(parseBtf(b)));
    kernelBtfCache.set(path, p);
    p.catch(() => kernelBtfCache.delete(path));
  }
  return p;
}

const objectCache = new Map<string, { key: string; facts: ObjectBtfFacts }>();

async function objectBtf(path: string): Promise<ObjectBtfFacts> {
  const st = await stat(path);
  const key = `${st.mtimeMs}:${st.size}`;
  const hit = objectCache.get(path);
  if (hit?.key === key) return hit.facts;
  const section = elfSection(await readFile(path), '.BTF');
  if (!section) throw new Error('it has no .BTF section (build it with clang -g)');
  const facts = objectFacts(parseBtf(section));
  objectCache.set(path, { key, facts });
  return facts;
}

const words = (s: string | null): string[] => (s ?? '').trim().split(/\s+/).filter(Boolean);

/**
 * Why an object must not be registered as `kernelName`; null when it defines exactly one
 * struct_ops map, the tcp_congestion_ops of that name (bpftool registers every map in the file).
 */
function objectProblem(facts: ObjectBtfFacts, kernelName: string): string | null {
  const names = facts.structOps.map((s) => s.name).join(', ') || 'none';
  const ops = facts.structOps.find((s) => s.name === kernelName);
  if (!ops || ops.structName !== 'tcp_congestion_ops')
    return `does not define the tcp_congestion_ops ${kernelName} (it defines: ${names})`;
  if (facts.structOps.length !== 1)
    return `defines ${facts.structOps.length} struct_ops maps (${names}); it must define exactly one, ${kernelName}`;
  return null;
}

/** Error code to report when loading is blocked. */
function blockerCode(b: CcBlocker): ErrorCode {
  switch (b) {
    case 'no-privileges':
      return 'EPERM';
    case 'no-bpftool':
    case 'no-object':
      return 'ENOENT';
    case 'bad-object':
      return 'EINVAL';
    case 'no-btf':
    case 'no-struct-ops':
    case 'missing-kfuncs':
      return 'UNSUPPORTED';
  }
}

export class CcManager {
  private readonly exec: Exec;
  private readonly procRoot: string;
  private readonly btfPath: string;
  private queue: Promise<unknown> = Promise.resolve();

  private readonly trust: { euid: number; trustedRoot: string | null };

  constructor(private readonly deps: CcManagerDeps) {
    this.trust = { euid: deps.euid ?? process.geteuid?.() ?? -1, trustedRoot: deps.trustedRoot ?? null };
    this.exec = deps.exec ?? execBpftool;
    this.procRoot = deps.procRoot ?? '/proc';
    this.btfPath = deps.btfPath ?? '/sys/kernel/btf/vmlinux';
  }

  /** Root or able to load BPF: then the object must pass the ownership checks (object-trust.ts). */
  private privileged(k: KernelSnapshot): boolean {
    return k.caps.load || this.trust.euid === 0;
  }

  get catalog(): CcCatalog {
    return this.deps.catalog;
  }

  /** One register or unregister at a time: each checks the state the previous one left. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async readProc(rel: string): Promise<string | null> {
    try {
      return await readFile(`${this.procRoot}/${rel}`, 'utf8');
    } catch {
      return null;
    }
  }

  private async structOpsNames(): Promise<string[] | null> {
    const tool = this.catalog.bpftool;
    if (!tool) return null;
    const out = await this.exec(tool, ['-j', 'struct_ops', 'show']);
    if (out.code !== 0) return null;
    try {
      const parsed = JSON.parse(out.stdout || '[]') as unknown;
      if (!Array.isArray(parsed)) return null;
      const names: string[] = [];
      for (const item of parsed as Record<string, unknown>[]) {
        if (typeof item.error === 'string') return null; // e.g. "can't get next map: Operation not permitted"
        if (typeof item.name === 'string' && item.kernel_struct_ops === 'tcp_congestion_ops')
          names.push(item.name);
      }
      return names;
    } catch {
      return null;
    }
  }

  /**
   * The subflows' CC names, or null when they cannot be read (which blocks an unload). A dump can
   * fail now and then (an interrupted dump, a read overlapping the connections poller), so a few
   * tries before giving up.
   */
  private async subflowCc(): Promise<(string | null)[] | null> {
    const read = this.deps.subflowCongestion;
    if (!read) return null;
    for (let attempt = 1; ; attempt++) {
      try {
        return await read();
      } catch {
        if (attempt >= SUBFLOW_READ_ATTEMPTS) return null;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private async snapshot(): Promise<KernelSnapshot> {
    const [btf, available, def, status, structOps, subflowCc] = await Promise.all([
      existsSync(this.btfPath)
        ? kernelBtf(this.btfPath).then(
            (f) => ({ facts: f, error: null }),
            (e: unknown) => ({ facts: null, error: e instanceof Error ? e.message : String(e) }),
          )
        : Promise.resolve({ facts: null, error: null }),
      this.readProc('sys/net/ipv4/tcp_available_congestion_control'),
      this.readProc('sys/net/ipv4/tcp_congestion_control'),
      this.readProc('self/status'),
      this.structOpsNames(),
      this.subflowCc(),
    ]);
    return {
      btf: btf.facts,
      btfError: btf.error,
      available: words(available),
      namespaceDefault: def?.trim() || null,
      caps: capsFromStatus(status ?? ''),
      structOps,
      subflowCc,
    };
  }

  private async entryStatus(e: CcEntry, k: KernelSnapshot): Promise<CcStatus> {
    const problems: [CcBlocker, string][] = [];
    let missing: string[] = [];
    if (!k.btf) {
      problems.push([
        'no-btf',
        k.btfError
          ? `the kernel's BTF (${this.btfPath}) cannot be read: ${k.btfError}`
          : `this kernel has no BTF (${this.btfPath} is missing; it needs CONFIG_DEBUG_INFO_BTF=y)`,
      ]);
    } else if (!k.btf.tcpCongStructOps) {
      problems.push([
        'no-struct-ops',
        'this kernel cannot take a congestion control as BPF struct_ops (no bpf_struct_ops_tcp_congestion_ops; Linux 5.6+ with CONFIG_BPF_JIT)',
      ]);
    }
    if (!this.catalog.bpftool)
      problems.push(['no-bpftool', 'bpftool is not installed (Debian: apt install bpftool)']);
    const obj = e.objectPath;
    if (!obj || !existsSync(obj)) {
      problems.push([
        'no-object',
        `the compiled program ${e.kernelName}.bpf.o is missing (looked in ${this.catalog.bpfDirs.join(', ') || 'no directory'}): install the app's packaged objects (its resources/bpf), build them in a checkout with npm run build:bpf (into out/bpf), or set MPTCP_STUDIO_BPF_DIR to the directory that holds them`,
      ]);
    } else {
      try {
        const untrusted = this.privileged(k) ? await untrustedReason(obj, this.trust) : null;
        const facts = await objectBtf(obj);
        const wrong = objectProblem(facts, e.kernelName);
        if (untrusted) {
          problems.push([
            'bad-object',
            `${obj} is not safe to load with privileges: ${untrusted} (the object and every directory above it must be owned by root and writable by nobody else)`,
          ]);
        } else if (wrong) {
          problems.push(['bad-object', `${obj} ${wrong}`]);
        } else if (k.btf) {
          missing = missingKfuncs(k.btf, facts.externFuncs);
          if (missing.length > 0) {
            problems.push([
              'missing-kfuncs',
              `this kernel lacks kernel functions the program calls: ${missing.join(', ')}`,
            ]);
          }
        }
      } catch (err) {
        problems.push([
          'bad-object',
          `${obj} cannot be read as a BPF object: ${err instanceof Error ? err.message : String(err)}`,
        ]);
      }
    }
    if (!k.caps.load) {
      problems.push([
        'no-privileges',
        'loading needs CAP_BPF and CAP_PERFMON (or root): use the privileged agent or run as root',
      ]);
    }
    const registered = k.available.includes(e.kernelName);
    const bpfRegistered = k.structOps === null ? null : k.structOps.includes(e.kernelName);
    const isNamespaceDefault = k.namespaceDefault === e.kernelName;
    const inUse = k.subflowCc === null ? null : k.subflowCc.filter((c) => c === e.kernelName).length;
    let unloadBlockedReason: string | null = null;
    if (registered) {
      if (isNamespaceDefault) {
        unloadBlockedReason = `${e.kernelName} is the default congestion control of this network namespace (net.ipv4.tcp_congestion_control): choose another default first`;
      } else if (inUse === null) {
        // A failed sock_diag read is not "no subflows": refuse rather than guess.
        unloadBlockedReason = `cannot tell whether subflows use ${e.kernelName}: the MPTCP subflows of this network namespace cannot be read (sock_diag)`;
      } else if (inUse > 0) {
        unloadBlockedReason = `${inUse} MPTCP subflow${inUse === 1 ? '' : 's'} in this network namespace use${inUse === 1 ? 's' : ''} ${e.kernelName}: close ${inUse === 1 ? 'it' : 'them'} first`;
      } else if (bpfRegistered === false) {
        unloadBlockedReason = `${e.kernelName} is registered, but not as a BPF struct_ops (a kernel module?): MPTCP Studio only unloads what it can find with bpftool`;
      } else if (!this.catalog.bpftool) {
        unloadBlockedReason = 'bpftool is not installed (Debian: apt install bpftool)';
      } else if (!k.caps.sysAdmin) {
        unloadBlockedReason = `unloading needs CAP_SYS_ADMIN (bpftool finds the map by name): use the privileged agent or run as root`;
      }
    }
    const first = problems[0];
    return {
      id: e.info.id,
      kernelName: e.kernelName,
      title: e.info.title,
      reference: e.info.reference,
      available: problems.length === 0,
      registered,
      bpfRegistered,
      blocker: first ? first[0] : null,
      reason: problems.length ? problems.map((p) => p[1]).join('; ') : null,
      isNamespaceDefault,
      inUseBySubflows: inUse,
      unloadBlockedReason,
      objectPath: obj && existsSync(obj) ? obj : null,
      missingKfuncs: missing,
    };
  }

  async list(): Promise<CcStatus[]> {
    const k = await this.snapshot();
    return Promise.all(this.catalog.entries.map((e) => this.entryStatus(e, k)));
  }

  /**
   * The repair counts of the shipped CCs registered as BPF struct_ops now (repairs.ts). Read
   * only: no registration is touched, and an entry that is not registered is left out.
   */
  async repairs(): Promise<CcRepairs> {
    const tool = this.catalog.bpftool;
    if (!tool) return { error: 'bpftool is not installed (Debian: apt install bpftool)', counts: [] };
    const names = await this.structOpsNames();
    if (names === null) {
      return {
        error: 'bpftool cannot list the struct_ops maps here (it needs CAP_SYS_ADMIN to walk map ids)',
        counts: [],
      };
    }
    const counts: CcRepairs['counts'] = [];
    for (const e of this.catalog.entries) {
      if (!names.includes(e.kernelName)) continue;
      try {
        counts.push({
          id: e.info.id,
          kernelName: e.kernelName,
          repairs: await readCcRepairCount(this.exec, tool, e.kernelName),
        });
      } catch (err) {
        // Unregistered between the two reads, or an object built without the counter.
        return { error: err instanceof Error ? err.message : String(err), counts };
      }
    }
    return { error: null, counts };
  }

  async status(id: CcId): Promise<CcStatus> {
    return this.entryStatus(this.catalog.byId(id), await this.snapshot());
  }

  /** Register (bpftool struct_ops register OBJECT), then read the kernel's list back. */
  load(id: CcId): Promise<CcActionResult> {
    return this.exclusive(async () => {
      const e = this.catalog.byId(id);
      const before = await this.status(id);
      if (before.registered) {
        return { changed: false, message: `${e.kernelName} is already registered`, status: before };
      }
      if (!before.available || !before.objectPath || !this.catalog.bpftool) {
        const b = before.blocker ?? 'no-object';
        throw new ApiFailure(
          blockerCode(b),
          `cannot load ${e.kernelName}: ${before.reason ?? 'not available'}`,
        );
      }
      const tool = this.catalog.bpftool;
      const objectPath = before.objectPath;
      // The bytes checked here are the bytes bpftool loads: read once (through a checked
      // descriptor when privileged), checked, and registered from a private copy.
      const bytes = await readTrustedObject(objectPath, this.trust).catch((err: unknown) => {
        throw new ApiFailure(
          'EINVAL',
          `cannot load ${e.kernelName}: ${objectPath} is not safe to load: ${err instanceof Error ? err.message : String(err)}`,
        );
      });
      let wrong: string | null;
      try {
        const section = elfSection(bytes, '.BTF');
        wrong = section ? objectProblem(objectFacts(parseBtf(section)), e.kernelName) : 'has no .BTF section';
      } catch (err) {
        wrong = `cannot be read as a BPF object: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (wrong) throw new ApiFailure('EINVAL', `cannot load ${e.kernelName}: ${objectPath} ${wrong}`);
      const out = await withPrivateCopy(bytes, `${e.kernelName}.bpf.o`, (copy) =>
        this.exec(tool, ['struct_ops', 'register', copy]),
      );
      if (out.code !== 0) throw bpftoolFailure(out, 'register', e.kernelName);
      const after = await this.status(id);
      if (!after.registered) {
        throw new ApiFailure(
          'KERNEL',
          `bpftool reported success but ${e.kernelName} is not in net.ipv4.tcp_available_congestion_control`,
        );
      }
      return { changed: true, message: `registered ${e.kernelName}`, status: after };
    });
  }

  /**
   * Unregister (bpftool struct_ops unregister name NAME), refused while something uses it. "Uses"
   * is checked in the engine's own network namespace only (its default, its subflows): another
   * namespace's default or sockets are not seen from here (docs: packaging/mptcp-studio-cc@.service).
   */
  unload(id: CcId): Promise<CcActionResult> {
    return this.exclusive(async () => {
      const e = this.catalog.byId(id);
      const before = await this.status(id);
      if (!before.registered) {
        return { changed: false, message: `${e.kernelName} is not registered`, status: before };
      }
      if (before.unloadBlockedReason || !this.catalog.bpftool) {
        const code: ErrorCode =
          before.isNamespaceDefault || (before.inUseBySubflows ?? 0) > 0
            ? 'EBUSY'
            : before.inUseBySubflows === null
              ? 'KERNEL'
              : 'EPERM';
        throw new ApiFailure(
          code,
          `cannot unload ${e.kernelName}: ${before.unloadBlockedReason ?? 'bpftool is missing'}`,
        );
      }
      const out = await this.exec(this.catalog.bpftool, ['struct_ops', 'unregister', 'name', e.kernelName]);
      if (out.code !== 0) throw bpftoolFailure(out, 'unregister', e.kernelName);
      const after = await this.status(id);
      if (after.registered) {
        throw new ApiFailure(
          'KERNEL',
          `${ccUnregisterShell(e.kernelName)} succeeded but ${e.kernelName} is still listed`,
        );
      }
      return { changed: true, message: `unregistered ${e.kernelName}`, status: after };
    });
  }
}
