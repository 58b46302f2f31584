// Build the coupled MPTCP congestion controls (bpf/mptcp_lia.bpf.c, bpf/mptcp_olia.bpf.c,
// bpf/mptcp_balia.bpf.c) into BPF objects that `bpftool struct_ops register <obj>` loads.
//
//   node scripts/build-bpf.mjs            -> out/bpf/mptcp_lia.bpf.o, mptcp_olia.bpf.o, mptcp_balia.bpf.o
//   node scripts/build-bpf.mjs --algo lia --name mptcp_lia_ab12 --out /tmp/x.o [--no-clamp]
//   import { buildBpfCc } from './build-bpf.mjs'
//   await buildBpfCc({ algo: 'lia', ccName: 'mptcp_lia_ab12', outFile: '/tmp/x.o' })
//
// CO-RE: the sources include a vmlinux.h generated here from the running kernel's BTF
// (/sys/kernel/btf/vmlinux) into .cache/bpf/ (never committed); libbpf relocates field offsets at
// load time, so an object built here loads on other kernels that have the same fields.
// Tools are run with execFile (argument vectors, no shell).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';
/** TCP_CA_NAME_MAX (16) and BPF_OBJ_NAME_LEN (16) both include the NUL. */
const CC_NAME_RE = /^[a-z][a-z0-9_]{0,14}$/;

export const DEFAULT_CC_NAMES = { lia: 'mptcp_lia', olia: 'mptcp_olia', balia: 'mptcp_balia' };

/** @typedef {keyof typeof DEFAULT_CC_NAMES} Algo */

/**
 * @param {string} algo
 * @returns {algo is Algo}
 */
const isAlgo = (algo) => Object.hasOwn(DEFAULT_CC_NAMES, algo);

/**
 * @param {string} cmd
 * @returns {string | null}
 */
function which(cmd) {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Resolve clang and bpftool or throw one clear sentence. */
export function bpfToolchain() {
  const clang = which('clang') ?? which('clang-14');
  const bpftool = which('bpftool');
  if (!clang || !bpftool) {
    const missing = [!clang && 'clang', !bpftool && 'bpftool'].filter(Boolean).join(' and ');
    throw new Error(
      `Cannot build the BPF congestion controls: ${missing} not found (install the Debian packages clang, bpftool and libbpf-dev, e.g. scripts/setup-debian.sh).`,
    );
  }
  if (!existsSync('/usr/include/bpf/bpf_helpers.h')) {
    throw new Error(
      'Cannot build the BPF congestion controls: /usr/include/bpf/bpf_helpers.h not found (install the Debian package libbpf-dev).',
    );
  }
  if (!existsSync(VMLINUX_BTF)) {
    throw new Error(
      `Cannot build the BPF congestion controls: ${VMLINUX_BTF} is missing (the kernel needs CONFIG_DEBUG_INFO_BTF).`,
    );
  }
  return { clang, bpftool };
}

/** @type {Promise<string> | null} */
let vmlinuxPromise = null;

/**
 * Generate .cache/bpf/vmlinux.h from the running kernel's BTF (once per process, if stale).
 * @param {string} bpftool
 * @returns {Promise<string>} the folder that holds it
 */
function vmlinuxHeader(bpftool) {
  vmlinuxPromise ??= (async () => {
    const dir = join(root, '.cache', 'bpf');
    const out = join(dir, 'vmlinux.h');
    mkdirSync(dir, { recursive: true });
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(VMLINUX_BTF).mtimeMs) {
      const { stdout } = await run(bpftool, ['btf', 'dump', 'file', VMLINUX_BTF, 'format', 'c'], {
        maxBuffer: 256 * 1024 * 1024,
      });
      const tmp = `${out}.${process.pid}.tmp`;
      writeFileSync(tmp, stdout);
      renameSync(tmp, out);
    }
    return dir;
  })();
  return vmlinuxPromise;
}

/**
 * Compile one coupled CC. ccName becomes both the struct_ops map name (what
 * `bpftool struct_ops unregister name` takes) and tcp_congestion_ops.name (what
 * TCP_CONGESTION / net.ipv4.tcp_congestion_control take).
 * @param {{ algo: string, ccName?: string | undefined, outFile?: string | undefined, noClamp?: boolean }} options
 *   algo: lia, olia or balia; ccName: the default name of the algo when absent; outFile:
 *   out/bpf/<default name>.bpf.o when absent
 * @returns {Promise<string>} the object file written
 */
export async function buildBpfCc({ algo, ccName, outFile, noClamp = false }) {
  if (!isAlgo(algo)) {
    throw new Error(`unknown algorithm "${algo}" (${Object.keys(DEFAULT_CC_NAMES).join(', ')})`);
  }
  const name = ccName ?? DEFAULT_CC_NAMES[algo];
  if (!CC_NAME_RE.test(name)) {
    throw new Error(`invalid CC name "${name}": 1-15 characters of a-z, 0-9, _ starting with a letter`);
  }
  const out = outFile ?? join(root, 'out', 'bpf', `${DEFAULT_CC_NAMES[algo]}.bpf.o`);
  const { clang, bpftool } = bpfToolchain();
  const inc = await vmlinuxHeader(bpftool);
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  // __TARGET_ARCH_*: bpf_tracing.h wants it defined; the CCs use no pt_regs, so only the name matters.
  /** @type {Partial<Record<NodeJS.Architecture, string>>} */
  const archs = { x64: 'x86', arm64: 'arm64', arm: 'arm', s390x: 's390', ppc64: 'powerpc', riscv64: 'riscv' };
  const arch = archs[process.arch];
  // -mcpu=v3: 32-bit atomics (slot claim by compare-and-swap) need the v3 ISA (Linux >= 5.12).
  await run(clang, [
    '-O2',
    '-g',
    '-target',
    'bpf',
    '-mcpu=v3',
    `-D__TARGET_ARCH_${arch ?? 'x86'}`,
    `-DCC_NAME=${name}`,
    // Experiment only: without the defensive cwnd clamps (bench:cc --no-clamp).
    ...(noClamp ? ['-DCC_NO_CLAMP'] : []),
    ...(process.env['MPTCP_CC_DEBUG'] ? ['-DCC_DEBUG'] : []),
    '-I',
    inc,
    '-I',
    join(root, 'bpf'),
    '-Wall',
    '-Werror',
    '-c',
    join(root, 'bpf', `mptcp_${algo}.bpf.c`),
    '-o',
    tmp,
  ]);
  renameSync(tmp, out);
  return out;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  // Optional: --algo lia|olia|balia --name CC_NAME --out FILE builds one (uniquely named) copy.
  /** @param {string} name */
  const arg = (name) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  try {
    const algo = arg('algo');
    if (algo) {
      const noClamp = process.argv.includes('--no-clamp');
      console.log(await buildBpfCc({ algo, ccName: arg('name'), outFile: arg('out'), noClamp }));
    } else {
      for (const a of Object.keys(DEFAULT_CC_NAMES)) console.log(`built ${await buildBpfCc({ algo: a })}`);
    }
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
