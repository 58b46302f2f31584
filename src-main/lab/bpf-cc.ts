/**
 * Register uniquely named copies of the coupled MPTCP congestion controls (bpf/mptcp_lia.bpf.c,
 * bpf/mptcp_olia.bpf.c, bpf/mptcp_balia.bpf.c) for tests and benchmarks, and always unregister
 * them.
 *
 * Registering a tcp_congestion_ops is host-global (there is no per-namespace CC list), so the
 * rules mirror the lab's namespaces:
 * - names are `mpst_<l|o|b>_<pid base 36>_<2 hex>` (<= 15 characters, TCP_CA_NAME_MAX - 1),
 *   never the real `mptcp_lia` / `mptcp_olia` / `mptcp_balia` an administrator may have
 *   registered, and unique per process and call, so parallel test processes never collide;
 * - `cleanStaleCcs()` unregisters the copies whose process is gone (a crashed run);
 * - every copy is unregistered by `unregister()`, and synchronously at process exit as a last
 *   resort.
 * Registration is `bpftool struct_ops register <obj>` (libbpf loads the programs, creates the
 * struct_ops map and updates it, which registers the CC; with bpftool 7.1 / libbpf 1.1 it stays
 * registered after bpftool exits), removal `bpftool struct_ops unregister name <name>`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './lab';

export type CoupledAlgo = 'lia' | 'olia' | 'balia';

/** The letter that tells the copies apart in `mpst_<letter>_...`. */
const ALGO_LETTER: Record<CoupledAlgo, string> = { lia: 'l', olia: 'o', balia: 'b' };

const AVAILABLE_CC = '/proc/sys/net/ipv4/tcp_available_congestion_control';
const STALE_RE = /^mpst_[lob]_([0-9a-z]+)_[0-9a-f]{2}$/;

const here = dirname(fileURLToPath(import.meta.url));
function repoRoot(): string {
  let dir = here;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return resolve(here, '..', '..');
}

function which(cmd: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin'])) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

/** Null if this machine can build and register BPF congestion controls, else why not. */
export function bpfCcUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'BPF congestion controls need Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'registering a BPF congestion control needs root (CAP_BPF + CAP_NET_ADMIN)';
  }
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux)';
  if (!which('clang') && !which('clang-14')) return 'clang is not installed';
  if (!which('bpftool')) return 'bpftool is not installed';
  if (!existsSync('/usr/include/bpf/bpf_helpers.h')) return 'libbpf-dev is not installed';
  return null;
}

export function availableCongestionControls(): string[] {
  return readFileSync(AVAILABLE_CC, 'utf8').trim().split(/\s+/);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Names of the registered struct_ops maps (`bpftool struct_ops show`: "<id>: <name> <type>"). */
async function registeredStructOps(): Promise<string[]> {
  const { stdout } = await run('bpftool', ['struct_ops', 'show']);
  const names: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+tcp_congestion_ops/.exec(line.trim());
    if (m?.[1]) names.push(m[1]);
  }
  return names;
}

/** Unregister test copies left by processes that no longer exist. */
export async function cleanStaleCcs(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await registeredStructOps()) {
    const m = STALE_RE.exec(name);
    if (!m?.[1]) continue;
    const pid = parseInt(m[1], 36);
    if (pid !== process.pid && pidAlive(pid)) continue;
    if (pid === process.pid && live.has(name)) continue;
    await run('bpftool', ['struct_ops', 'unregister', 'name', name]).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

export interface RegisteredCc {
  algo: CoupledAlgo;
  /** tcp_congestion_ops.name, what setsockopt(TCP_CONGESTION) takes. */
  name: string;
  /**
   * Unregister, then wait up to waitMs for the kernel to free it. The CC leaves
   * tcp_available_congestion_control at once, but its struct_ops map stays (state "to be freed")
   * while any socket still uses it, e.g. an orphaned subflow draining after a graceful close.
   * Resolves true when it is gone from `bpftool struct_ops show`.
   */
  unregister(waitMs?: number): Promise<boolean>;
  /**
   * cc_repairs of this copy (bpf/mptcp_coupled.h cc_sanitize()): how often it found an
   * ssthresh or cwnd above its bound and repaired it. The ss-based anomaly watch cannot see a
   * repaired value, this counter can. Experiment (--no-clamp) builds never repair: always 0.
   */
  repairs(): Promise<number>;
}

const live = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const name of live) spawnSync('bpftool', ['struct_ops', 'unregister', 'name', name]);
  });
}

/**
 * Build a uniquely named copy of `algo`, register it and check the kernel lists it.
 * noClamp: the experiment build without the defensive cwnd clamps (never for real use).
 */
export async function registerUniqueCc(
  algo: CoupledAlgo,
  opts: { noClamp?: boolean } = {},
): Promise<RegisteredCc> {
  const reason = bpfCcUnavailableReason();
  if (reason) throw new Error(reason);
  await cleanStaleCcs();
  const root = repoRoot();
  const name = `mpst_${ALGO_LETTER[algo]}_${process.pid.toString(36)}_${randomBytes(1).toString('hex')}`;
  if (availableCongestionControls().includes(name)) throw new Error(`${name} is already registered`);
  const dir = join(root, '.cache', 'bpf');
  mkdirSync(dir, { recursive: true });
  const obj = join(dir, `${name}.bpf.o`);
  await run(
    process.execPath,
    [
      join(root, 'scripts', 'build-bpf.mjs'),
      '--algo',
      algo,
      '--name',
      name,
      '--out',
      obj,
      ...(opts.noClamp ? ['--no-clamp'] : []),
    ],
    { timeoutMs: 120_000 },
  );
  live.add(name);
  installExitHook();
  const unregister = async (waitMs = 10_000): Promise<boolean> => {
    if (live.has(name)) {
      await run('bpftool', ['struct_ops', 'unregister', 'name', name]).catch(() => undefined);
      live.delete(name);
    }
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (!(await registeredStructOps()).includes(name)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const repairs = (): Promise<number> => readCcRepairs(name);
  try {
    await run('bpftool', ['struct_ops', 'register', obj], { timeoutMs: 60_000 });
    if (!availableCongestionControls().includes(name)) {
      throw new Error(`${name} registered but missing from ${AVAILABLE_CC}`);
    }
  } catch (e) {
    await unregister();
    throw e;
  } finally {
    rmSync(obj, { force: true });
  }
  return { algo, name, unregister, repairs };
}

/**
 * Read cc_repairs from the .bss of the registered CC `name`: struct_ops map -> its member
 * programs -> their maps -> the one named `*.bss` (libbpf truncates the object name in map names, so the .bss cannot be
 * found by name alone when several copies are loaded). Throws if any step fails.
 */
export async function readCcRepairs(name: string): Promise<number> {
  const json = async (args: string[]): Promise<unknown> =>
    JSON.parse((await run('bpftool', ['-j', ...args])).stdout) as unknown;
  const dump = (await json(['struct_ops', 'dump', 'name', name])) as Record<string, unknown>[];
  const ops = dump.find((e) => 'bpf_struct_ops_tcp_congestion_ops' in e)?.[
    'bpf_struct_ops_tcp_congestion_ops'
  ];
  // Members read "<prototype> <prog name>/prog_id:<id>"; not every program uses the .bss.
  const progIds = [...JSON.stringify(ops ?? {}).matchAll(/prog_id:(\d+)/g)].map((x) => x[1] ?? '');
  if (progIds.length === 0) throw new Error(`${name}: no programs in bpftool struct_ops dump`);
  const mapIds = new Set<number>();
  for (const progId of progIds) {
    const prog = (await json(['prog', 'show', 'id', progId])) as { map_ids?: number[] };
    for (const id of prog.map_ids ?? []) mapIds.add(id);
  }
  for (const id of mapIds) {
    const map = (await json(['map', 'show', 'id', String(id)])) as { name?: string };
    if (!map.name?.endsWith('.bss')) continue;
    const entries = (await json(['map', 'dump', 'id', String(id)])) as {
      formatted?: { value?: { '.bss'?: Record<string, unknown>[] } };
    }[];
    const vars = entries[0]?.formatted?.value?.['.bss'] ?? [];
    const v = vars.find((x) => 'cc_repairs' in x)?.['cc_repairs'];
    if (typeof v !== 'number') throw new Error(`${name}: no cc_repairs in map ${id}`);
    return v;
  }
  throw new Error(`${name}: none of its programs uses a .bss map`);
}
