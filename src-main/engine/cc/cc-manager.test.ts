/**
 * The manager's decisions on a recorded world: a /proc tree in a temp dir, BTF bytes, and
 * bpftool outputs as bpftool v7.1 printed them on Linux 6.18. The real kernel path is covered by
 * cc.int.test.ts.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { ApiFailure } from '../../../shared/result';
import { BtfBuilder, ccObject, elfObject, kernelBtf } from '../../testing/btf-builder';
import type { Exec, ExecOutcome } from './bpftool';
import { bpftoolFailure } from './bpftool';
import { capsFromStatus, CcManager } from './cc-manager';
import { CC_ALGORITHMS } from '../../../shared/cc';
import { createCatalog, MAX_CC_SUFFIX_CHARS, TCP_CA_NAME_MAX_CHARS } from './catalog';

const ROOT_CAPS = 'CapEff:\t000001ffffffffff\n';
const BPF_ONLY_CAPS = 'CapEff:\t000000c000000000\n'; // CAP_PERFMON (38) + CAP_BPF (39)
const NO_CAPS = 'CapEff:\t0000000000000000\n';
const KFUNCS = ['bpf_rdonly_cast', 'tcp_slow_start', 'tcp_cong_avoid_ai'];

interface World {
  dir: string;
  proc: string;
  btf: string;
  bpf: string;
  calls: string[][];
  /** For each register call: the object's mode and bytes as bpftool saw them. */
  registered: { mode: number; bytes: Buffer }[];
  manager: (o?: { inUse?: (string | null)[] | Error }) => CcManager;
  /** What the fake bpftool does on register/unregister (default: what the kernel does). */
  onRun: (args: readonly string[]) => ExecOutcome | null;
}

function setup(): World {
  const dir = mkdtempSync(join(tmpdir(), 'mpst-cc-unit-'));
  const proc = join(dir, 'proc');
  mkdirSync(join(proc, 'sys/net/ipv4'), { recursive: true });
  mkdirSync(join(proc, 'self'), { recursive: true });
  writeFileSync(join(proc, 'sys/net/ipv4/tcp_available_congestion_control'), 'reno cubic\n');
  writeFileSync(join(proc, 'sys/net/ipv4/tcp_congestion_control'), 'cubic\n');
  writeFileSync(join(proc, 'self/status'), ROOT_CAPS);
  const btf = join(dir, 'vmlinux');
  writeFileSync(btf, kernelBtf({ kfuncs: KFUNCS }));
  const bpf = join(dir, 'bpf');
  mkdirSync(bpf);
  for (const id of ['mptcp_lia', 'mptcp_olia', 'mptcp_balia']) {
    writeFileSync(join(bpf, `${id}.bpf.o`), ccObject({ structOpsName: id, externs: KFUNCS }), {
      mode: 0o644,
    });
  }
  // Explicit modes: a umask of 002 must not make the test objects look group-writable.
  chmodSync(bpf, 0o755);
  const tool = join(dir, 'bpftool');
  writeFileSync(tool, '');
  const availPath = join(proc, 'sys/net/ipv4/tcp_available_congestion_control');
  const registered = new Set<string>();
  const world: World = {
    dir,
    proc,
    btf,
    bpf,
    calls: [],
    registered: [],
    onRun: () => null,
    manager: (o = {}) =>
      new CcManager({
        catalog: createCatalog({ bpfDir: bpf, bpftool: tool }),
        procRoot: proc,
        btfPath: btf,
        exec,
        // The walk stops at the test's own temp dir (it lives under /tmp, which fails the check).
        trustedRoot: dir,
        subflowCongestion: () =>
          o.inUse instanceof Error ? Promise.reject(o.inUse) : Promise.resolve(o.inUse ?? []),
      }),
  };
  const exec: Exec = (file, args) => {
    world.calls.push([file, ...args]);
    const custom = world.onRun(args);
    if (custom) return Promise.resolve(custom);
    const avail = () => readFileSync(availPath, 'utf8').trim().split(/\s+/);
    if (args[0] === '-j') {
      const list = [...registered].map((name, i) => ({
        id: i + 1,
        name,
        kernel_struct_ops: 'tcp_congestion_ops',
      }));
      return Promise.resolve({ code: 0, stdout: JSON.stringify(list), stderr: '' });
    }
    if (args[1] === 'register') {
      const path = args[2] ?? '';
      world.registered.push({ mode: statSync(path).mode & 0o7777, bytes: readFileSync(path) });
      const name = /(mptcp_\w+)\.bpf\.o$/.exec(args[2] ?? '')?.[1] ?? '?';
      registered.add(name);
      writeFileSync(availPath, `${[...avail(), name].join(' ')}\n`);
      return Promise.resolve({ code: 0, stdout: `Registered tcp_congestion_ops ${name} id 7\n`, stderr: '' });
    }
    if (args[1] === 'unregister') {
      const name = args[3] ?? '';
      registered.delete(name);
      writeFileSync(
        availPath,
        `${avail()
          .filter((n) => n !== name)
          .join(' ')}\n`,
      );
      return Promise.resolve({
        code: 0,
        stdout: `Unregistered tcp_congestion_ops ${name} id 7\n`,
        stderr: '',
      });
    }
    return Promise.resolve({ code: 255, stdout: '', stderr: 'Error: unexpected\n' });
  };
  return world;
}

async function failure(p: Promise<unknown>): Promise<ApiFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiFailure) return e;
    throw e;
  }
  throw new Error('expected a failure');
}

describe('CcManager', () => {
  let w: World;
  beforeEach(() => {
    w = setup();
  });

  it('lists every algorithm as loadable and not registered on a capable host', async () => {
    const list = await w.manager().list();
    expect(list.map((c) => [c.id, c.kernelName, c.available, c.registered, c.reason])).toEqual([
      ['mptcp_lia', 'mptcp_lia', true, false, null],
      ['mptcp_olia', 'mptcp_olia', true, false, null],
      ['mptcp_balia', 'mptcp_balia', true, false, null],
    ]);
    expect(list[0]?.objectPath).toBe(join(w.bpf, 'mptcp_lia.bpf.o'));
  });

  it('repair counts: for the registered copies only, with the reason when bpftool cannot list', async () => {
    await w.manager().load('mptcp_olia');
    // The .bss walk of repairs.ts (repairs.test.ts has it step by step), collapsed for mptcp_olia.
    const ok = (v: unknown): ExecOutcome => ({ code: 0, stdout: JSON.stringify(v), stderr: '' });
    w.onRun = (args) => {
      const a = args.slice(1).join(' ');
      if (a === 'struct_ops dump name mptcp_olia')
        return ok([
          { bpf_struct_ops_tcp_congestion_ops: { init: 'void (struct sock *) olia_init/prog_id:9' } },
        ]);
      if (a === 'prog show id 9') return ok({ map_ids: [5] });
      if (a === 'map show id 5') return ok({ name: 'mptcp_ol.bss' });
      if (a === 'map dump id 5') return ok([{ formatted: { value: { '.bss': [{ cc_repairs: 3 }] } } }]);
      return null;
    };
    expect(await w.manager().repairs()).toEqual({
      error: null,
      counts: [{ id: 'mptcp_olia', kernelName: 'mptcp_olia', repairs: 3 }],
    });
    w.onRun = (args) =>
      args[1] === 'struct_ops' ? ok([{ error: "can't get next map: Operation not permitted" }]) : null;
    expect(await w.manager().repairs()).toEqual({
      error: 'bpftool cannot list the struct_ops maps here (it needs CAP_SYS_ADMIN to walk map ids)',
      counts: [],
    });
  });

  it('registers with a fixed argv and confirms from tcp_available_congestion_control', async () => {
    const r = await w.manager().load('mptcp_olia');
    expect(r.changed).toBe(true);
    expect(r.status.registered).toBe(true);
    expect(r.status.bpfRegistered).toBe(true);
    // bpftool gets a private copy of the checked bytes (0600 in a fresh dir), removed afterwards.
    const register = w.calls.find((c) => c[2] === 'register');
    expect(register?.slice(1, 3)).toEqual(['struct_ops', 'register']);
    const copy = register?.[3] ?? '';
    expect(copy).toMatch(/\/mptcp-studio-cc-[^/]+\/mptcp_olia\.bpf\.o$/);
    expect(copy.startsWith(w.bpf)).toBe(false);
    expect(w.registered[0]?.mode).toBe(0o600);
    expect(w.registered[0]?.bytes.equals(readFileSync(join(w.bpf, 'mptcp_olia.bpf.o')))).toBe(true);
    expect(existsSync(copy)).toBe(false);
    // A second load changes nothing and runs nothing.
    const before = w.calls.length;
    const again = await w.manager().load('mptcp_olia');
    expect(again.changed).toBe(false);
    expect(w.calls.slice(before).some((c) => c[2] === 'register')).toBe(false);
  });

  it('unregisters by name, and refuses while it is the namespace default or carries subflows', async () => {
    const m = w.manager();
    await m.load('mptcp_lia');
    writeFileSync(join(w.proc, 'sys/net/ipv4/tcp_congestion_control'), 'mptcp_lia\n');
    const busy = await failure(m.unload('mptcp_lia'));
    expect(busy.code).toBe('EBUSY');
    expect(busy.message).toMatch(/default congestion control of this network namespace/);
    writeFileSync(join(w.proc, 'sys/net/ipv4/tcp_congestion_control'), 'cubic\n');
    const inUse = await failure(
      w.manager({ inUse: ['mptcp_lia', 'cubic', 'mptcp_lia'] }).unload('mptcp_lia'),
    );
    expect(inUse.code).toBe('EBUSY');
    expect(inUse.message).toMatch(/2 MPTCP subflows .* use mptcp_lia/);
    expect(w.calls.some((c) => c[2] === 'unregister')).toBe(false);
    const r = await m.unload('mptcp_lia');
    expect(r.changed).toBe(true);
    expect(w.calls.find((c) => c[2] === 'unregister')?.slice(1)).toEqual([
      'struct_ops',
      'unregister',
      'name',
      'mptcp_lia',
    ]);
    expect(r.status.registered).toBe(false);
  });

  it('refuses to unload when the subflows cannot be read (unknown is not "none")', async () => {
    await w.manager().load('mptcp_lia');
    const m = w.manager({ inUse: new Error('sock_diag: EPERM') });
    const [lia] = await m.list();
    expect(lia?.inUseBySubflows).toBeNull();
    expect(lia?.unloadBlockedReason).toMatch(/^cannot tell whether subflows use mptcp_lia/);
    const refused = await failure(m.unload('mptcp_lia'));
    expect(refused.code).toBe('KERNEL');
    // A read that fails once and then works is not "unknown".
    let tries = 0;
    const flaky = new CcManager({
      catalog: createCatalog({ bpfDir: w.bpf, bpftool: join(w.dir, 'bpftool') }),
      procRoot: w.proc,
      btfPath: w.btf,
      trustedRoot: w.dir,
      exec: () => Promise.resolve({ code: 0, stdout: '[]', stderr: '' }),
      subflowCongestion: () => (++tries === 1 ? Promise.reject(new Error('EINTR')) : Promise.resolve([])),
    });
    expect((await flaky.status('mptcp_lia')).inUseBySubflows).toBe(0);
    expect(refused.message).toMatch(/^cannot unload mptcp_lia: cannot tell whether subflows use mptcp_lia/);
    expect(w.calls.some((c) => c[2] === 'unregister')).toBe(false);
  });

  it('says why not: no BTF, missing kfuncs, missing object, no privileges', async () => {
    // The kernel BTF is cached per path for the process; another path is another kernel.
    const other = join(w.dir, 'vmlinux-old');
    writeFileSync(other, kernelBtf({ kfuncs: ['bpf_rdonly_cast', 'tcp_slow_start'] }));
    const m = new CcManager({
      catalog: createCatalog({ bpfDir: w.bpf, bpftool: join(w.dir, 'bpftool') }),
      procRoot: w.proc,
      btfPath: other,
      trustedRoot: w.dir,
      exec: () => Promise.resolve({ code: 0, stdout: '[]', stderr: '' }),
    });
    let [lia] = await m.list();
    expect(lia?.available).toBe(false);
    expect(lia?.blocker).toBe('missing-kfuncs');
    expect(lia?.missingKfuncs).toEqual(['tcp_cong_avoid_ai']);
    expect(lia?.reason).toMatch(/lacks kernel functions the program calls: tcp_cong_avoid_ai/);
    const refused = await failure(m.load('mptcp_lia'));
    expect(refused.code).toBe('UNSUPPORTED');

    const noBtf = new CcManager({
      catalog: createCatalog({ bpfDir: join(w.dir, 'nowhere'), bpftool: join(w.dir, 'bpftool') }),
      procRoot: w.proc,
      btfPath: join(w.dir, 'missing-btf'),
      exec: () => Promise.resolve({ code: 0, stdout: '[]', stderr: '' }),
    });
    [lia] = await noBtf.list();
    expect(lia?.blocker).toBe('no-btf');
    expect(lia?.reason).toMatch(/no BTF .*CONFIG_DEBUG_INFO_BTF/);
    expect(lia?.reason).toMatch(/mptcp_lia\.bpf\.o is missing/);

    writeFileSync(join(w.proc, 'self/status'), NO_CAPS);
    [lia] = await w.manager().list();
    expect(lia?.blocker).toBe('no-privileges');
    const eperm = await failure(w.manager().load('mptcp_lia'));
    expect(eperm.code).toBe('EPERM');
    expect(w.calls.some((c) => c[2] === 'register')).toBe(false);
  });

  it('privileged: refuses an object others could swap (group/other-writable dir or file)', async () => {
    chmodSync(w.bpf, 0o777);
    let [lia] = await w.manager().list();
    expect(lia?.blocker).toBe('bad-object');
    expect(lia?.reason).toContain(`${w.bpf} is writable by group or others (mode 0777)`);
    const refused = await failure(w.manager().load('mptcp_lia'));
    expect(refused.code).toBe('EINVAL');
    chmodSync(w.bpf, 0o755);
    chmodSync(join(w.bpf, 'mptcp_lia.bpf.o'), 0o664);
    [lia] = await w.manager().list();
    expect(lia?.reason).toContain('mptcp_lia.bpf.o is writable by group or others (mode 0664)');
    expect(w.calls.some((c) => c[2] === 'register')).toBe(false);
  });

  it('refuses an object with more than one struct_ops map (bpftool would register them all)', async () => {
    const b = new BtfBuilder();
    const int = b.int('int');
    const ops = b.struct('tcp_congestion_ops', [['flags', int]]);
    b.datasec('.struct_ops', [b.variable('mptcp_lia', ops), b.variable('sneaky', ops)]);
    writeFileSync(join(w.bpf, 'mptcp_lia.bpf.o'), elfObject({ '.text': Buffer.alloc(8), '.BTF': b.build() }));
    const [lia] = await w.manager().list();
    expect(lia?.blocker).toBe('bad-object');
    expect(lia?.reason).toMatch(
      /defines 2 struct_ops maps \(mptcp_lia, sneaky\); it must define exactly one/,
    );
    expect((await failure(w.manager().load('mptcp_lia'))).code).toBe('EINVAL');
    expect(w.calls.some((c) => c[2] === 'register')).toBe(false);
  });

  it('refuses an object that registers under another name', async () => {
    writeFileSync(join(w.bpf, 'mptcp_lia.bpf.o'), ccObject({ structOpsName: 'evil', externs: KFUNCS }));
    const [lia] = await w.manager().list();
    expect(lia?.blocker).toBe('bad-object');
    expect(lia?.reason).toMatch(/does not define the tcp_congestion_ops mptcp_lia \(it defines: evil\)/);
  });

  it('maps bpftool failures: EPERM, verifier refusal, success without registration', async () => {
    w.onRun = (args) =>
      args[1] === 'register'
        ? {
            code: 255,
            stdout: '',
            stderr:
              "libbpf: prog 'lia_cong_avoid': BPF program load failed: Permission denied\nlibbpf: prog 'lia_cong_avoid': -- BEGIN PROG LOAD LOG --\n0: R1=ctx() R10=fp0\n; u32 x = y / z;\nR2 div by zero\nprocessed 12 insns (limit 1000000)\n-- END PROG LOAD LOG --\nError: failed to load object file\n",
          }
        : null;
    // "Permission denied" from the verifier is EACCES, not a privilege problem.
    const refused = await failure(w.manager().load('mptcp_lia'));
    expect(refused.code).toBe('KERNEL');
    expect(refused.message).toBe(
      "kernel refused the program: prog 'lia_cong_avoid': BPF program load failed: Permission denied: R2 div by zero",
    );
    const f = bpftoolFailure(
      {
        code: 255,
        stdout: '',
        stderr:
          "libbpf: prog 'x': BPF program load failed: Invalid argument\nlibbpf: prog 'x': -- BEGIN PROG LOAD LOG --\nR2 div by zero\nprocessed 12 insns (limit 1000000)\n-- END PROG LOAD LOG --\n",
      },
      'register',
      'mptcp_lia',
    );
    expect(f.code).toBe('KERNEL');
    expect(f.message).toBe(
      "kernel refused the program: prog 'x': BPF program load failed: Invalid argument: R2 div by zero",
    );
    const perm = bpftoolFailure(
      {
        code: 255,
        stdout: '',
        stderr:
          "libbpf: Failed to bump RLIMIT_MEMLOCK (err = -1), you might need to do it explicitly!\nlibbpf: Error in bpf_object__probe_loading():Operation not permitted(1). Couldn't load trivial BPF program.\n",
      },
      'register',
      'mptcp_lia',
    );
    expect(perm.code).toBe('EPERM');
    expect(perm.message).toMatch(/needs CAP_BPF and CAP_PERFMON/);
    const exists = bpftoolFailure(
      { code: 255, stdout: '', stderr: "Error: can't register struct_ops mptcp_lia: Success\n" },
      'register',
      'mptcp_lia',
    );
    expect(exists.code).toBe('EEXIST');

    w.onRun = (args) => (args[1] === 'register' ? { code: 0, stdout: 'Registered\n', stderr: '' } : null);
    const ghost = await failure(w.manager().load('mptcp_lia'));
    expect(ghost.code).toBe('KERNEL');
    expect(ghost.message).toMatch(/not in net.ipv4.tcp_available_congestion_control/);
  });

  it('reads capabilities from CapEff: CAP_BPF+CAP_PERFMON loads, only CAP_SYS_ADMIN unloads', () => {
    expect(capsFromStatus(BPF_ONLY_CAPS)).toEqual({ load: true, sysAdmin: false });
    expect(capsFromStatus(ROOT_CAPS)).toEqual({ load: true, sysAdmin: true });
    expect(capsFromStatus('CapEff:\t0000000000200000\n')).toEqual({ load: true, sysAdmin: true });
    expect(capsFromStatus(NO_CAPS)).toEqual({ load: false, sysAdmin: false });
    expect(capsFromStatus('')).toEqual({ load: false, sysAdmin: false });
  });

  it('names from a suffix: uniquely named test copies, validated', () => {
    const c = createCatalog({ bpfDir: '/x', nameSuffix: '_e2e' });
    expect(c.entries.map((e) => e.kernelName)).toEqual([
      'mptcp_lia_e2e',
      'mptcp_olia_e2e',
      'mptcp_balia_e2e',
    ]);
    expect(c.byId('mptcp_olia').objectPath).toBe('/x/mptcp_olia_e2e.bpf.o');
    expect(c.byId('mptcp_balia').objectPath).toBe('/x/mptcp_balia_e2e.bpf.o');
    expect(() => createCatalog({ nameSuffix: '_toolong' })).toThrow(/must match/);
    // mptcp_balia + a 5-character suffix would be 16 characters: refused, not truncated.
    expect(() => createCatalog({ nameSuffix: '_e2e1' })).toThrow(/must match/);
    expect(() => createCatalog({ nameSuffix: '_' })).toThrow(/must match/);
    expect(() => createCatalog({ nameSuffix: '../x' })).toThrow(/must match/);
    expect(() => createCatalog({ bpfDir: 'relative/dir' })).toThrow(/absolute/);
  });

  it('every shipped id with the longest allowed suffix is a valid kernel name (TCP_CA_NAME_MAX)', () => {
    expect(MAX_CC_SUFFIX_CHARS).toBe(4);
    const longest = `_${'z'.repeat(MAX_CC_SUFFIX_CHARS - 1)}`;
    const names = createCatalog({ bpfDir: '/x', nameSuffix: longest }).entries.map((e) => e.kernelName);
    expect(names).toHaveLength(CC_ALGORITHMS.length);
    for (const n of names) {
      expect(n.length).toBeLessThanOrEqual(TCP_CA_NAME_MAX_CHARS);
      // scripts/build-bpf.mjs CC_NAME_RE: what the object build accepts as a name.
      expect(n).toMatch(/^[a-z][a-z0-9_]{0,14}$/);
    }
    expect(Math.max(...names.map((n) => n.length))).toBe(TCP_CA_NAME_MAX_CHARS);
  });
});
