/**
 * Coupled CC against the real kernel: uniquely named copies of LIA, OLIA and Balia (never the
 * real mptcp_lia / mptcp_olia / mptcp_balia, which a user may have registered) built with
 * scripts/build-bpf.mjs,
 * registered and unregistered through the engine in a lab namespace's agent, checked with the
 * kernel's own views (/proc, bpftool, ss). Every name is unregistered in teardown, by an exit hook
 * if teardown never runs, and by the next run's global setup if the process was killed
 * (src-main/lab/cc-test-copies.ts). The objects live in a root-owned 0755 directory, so they pass
 * the privileged engine's ownership checks (object-trust.ts) for real.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { chmodSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes, randomInt } from 'node:crypto';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CcActionResult, CcRepairs, CcStatus } from '../../../shared/cc';
import type { ApplyReport, PlanView } from '../../../shared/config-api';
import type { Result } from '../../../shared/result';
import type { ConnectionsSnapshot } from '../../../shared/types';
import { readCcRepairs } from '../../lab/bpf-cc';
import {
  ccTestObjectDir,
  cleanStaleCcCopies,
  recordCcCopies,
  releaseCcCopies,
} from '../../lab/cc-test-copies';
import { Lab, labUnavailableReason, nsRun, run, waitFor, type LabProcess } from '../../lab/lab';
import { openEngine, type EngineService } from '../index';

const AVAILABLE = '/proc/sys/net/ipv4/tcp_available_congestion_control';
const available = (): string[] => readFileSync(AVAILABLE, 'utf8').trim().split(/\s+/);

function skipReason(): string | null {
  const lab = labUnavailableReason();
  if (lab) return lab;
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'this kernel has no BTF (CONFIG_DEBUG_INFO_BTF)';
  if (!existsSync('/usr/include/bpf/bpf_helpers.h'))
    return 'libbpf-dev is not installed (scripts/setup-debian.sh)';
  return null;
}

type BuildBpfCc = (o: { algo: 'lia' | 'olia' | 'balia'; ccName: string; outFile: string }) => Promise<string>;

function value<T>(r: Result<unknown>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value as T;
}

async function structOpsNames(): Promise<string[]> {
  const { stdout } = await run('bpftool', ['-j', 'struct_ops', 'show']);
  return (JSON.parse(stdout) as { name: string }[]).map((m) => m.name);
}

/** The CLI as uid/gid 65534 with every capability dropped (as privileged-agent.int.test.ts). */
function asNobody(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      'setpriv',
      [
        '--reuid',
        '65534',
        '--regid',
        '65534',
        '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all',
        process.execPath,
        'bin/mptcp-studio.mjs',
        ...args,
      ],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', ...env } },
      (err, stdout, stderr) =>
        done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe.skipIf(skipReason() !== null)('coupled congestion control (BPF struct_ops) in a lab', () => {
  // `_i` + 2 base-36 characters: mptcp_balia_i1z is 15 characters, TCP_CA_NAME_MAX minus the NUL
  // (catalog.ts); 1,296 names, as the CC namespace is host-wide and runs may overlap.
  const suffix = `_i${randomInt(1296).toString(36).padStart(2, '0')}`;
  const lia = `mptcp_lia${suffix}`;
  const olia = `mptcp_olia${suffix}`;
  const balia = `mptcp_balia${suffix}`;
  let dir = '';
  let record = '';
  let env: Record<string, string> = {};
  let lab: Lab;
  let engine: EngineService;
  let traffic: LabProcess | null = null;
  const cc = async (): Promise<CcStatus[]> => value<CcStatus[]>(await engine.invoke('mptcp:cc:list', {}));
  const sysctl = async (n: string): Promise<string> =>
    (await nsRun(lab.client, 'sysctl', ['-n', n])).stdout.trim();

  beforeAll(async () => {
    dir = ccTestObjectDir();
    // Recorded before anything can be registered: an exit hook and the next run's setup unregister.
    record = recordCcCopies([lia, olia, balia], [dir]);
    env = { MPTCP_STUDIO_BPF_DIR: dir, MPTCP_STUDIO_CC_SUFFIX: suffix };
    const mod = (await import(pathToFileURL(resolve('scripts/build-bpf.mjs')).href)) as {
      buildBpfCc: BuildBpfCc;
    };
    for (const [algo, name] of [
      ['lia', lia],
      ['olia', olia],
      ['balia', balia],
    ] as const) {
      await mod.buildBpfCc({ algo, ccName: name, outFile: join(dir, `${name}.bpf.o`) });
    }
    chmodSync(dir, 0o755);
    for (const name of [lia, olia, balia]) chmodSync(join(dir, `${name}.bpf.o`), 0o644);
    lab = await Lab.create({ paths: 2 });
    await lab.startServer(5201);
    engine = openEngine({ netns: lab.client, agentEnv: env });
  });

  afterAll(async () => {
    await engine?.close();
    await lab?.destroy();
    // Whatever happened above: nothing of ours stays registered.
    for (const name of [lia, olia, balia]) {
      if (available().includes(name)) {
        await run('bpftool', ['struct_ops', 'unregister', 'name', name]).catch(() => undefined);
      }
    }
    if (record) releaseCcCopies(record);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lists every copy as loadable and not registered', async () => {
    const list = await cc();
    expect(list.map((c) => [c.kernelName, c.available, c.registered, c.reason])).toEqual([
      [lia, true, false, null],
      [olia, true, false, null],
      [balia, true, false, null],
    ]);
    expect(list[0]?.objectPath).toBe(join(dir, `${lia}.bpf.o`));
  });

  it('an unprivileged user is refused with the reason, and nothing changes', async () => {
    const before = available();
    const listed = await asNobody(['cc', 'list', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const asSeen = JSON.parse(listed.stdout) as CcStatus[];
    expect(asSeen[0]).toMatchObject({ kernelName: lia, available: false, blocker: 'no-privileges' });
    const r = await asNobody(['cc', 'load', 'mptcp_lia'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/EPERM: cannot load mptcp_lia_\w+: loading needs CAP_BPF and CAP_PERFMON/);
    expect(available()).toEqual(before);
    expect(await structOpsNames()).not.toContain(lia);
  });

  it('an unprivileged user loads and unloads through the privileged agent, which logs both', async () => {
    const sock = join(dir, 'agent.sock');
    const agent = spawn(
      'ip',
      [
        'netns',
        'exec',
        lab.client,
        process.execPath,
        'out/node/mptcp-studio.mjs',
        'agent',
        '--socket',
        sock,
        '--socket-group',
        '65534',
        '--label',
        lab.client,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } },
    );
    let log = '';
    try {
      await new Promise<void>((ready, fail) => {
        const t = setTimeout(() => fail(new Error(`agent did not start: ${log}`)), 20_000);
        createInterface({ input: agent.stderr }).on('line', (l) => {
          log += `${l}\n`;
          if (l.includes('"listening"')) {
            clearTimeout(t);
            ready();
          }
        });
      });
      const loaded = await asNobody(['cc', 'load', 'mptcp_lia', '--agent-socket', sock], {});
      expect(loaded.code, loaded.stderr).toBe(0);
      expect(loaded.stdout).toBe(`registered ${lia}\n`);
      expect(available()).toContain(lia);
      const unloaded = await asNobody(['cc', 'unload', 'mptcp_lia', '--agent-socket', sock], {});
      expect(unloaded.code, unloaded.stderr).toBe(0);
      expect(available()).not.toContain(lia);
      // The agent logs a call on its stderr after answering it: wait for the lines, not a while.
      await waitFor(
        'the agent to log both calls',
        () => log,
        (l) => l.includes('"method":"mptcp:cc:load"') && l.includes('"method":"mptcp:cc:unload"'),
      ).catch(() => undefined);
      expect(log).toMatch(/"method":"mptcp:cc:load"/);
      expect(log).toMatch(/"method":"mptcp:cc:unload"/);
    } finally {
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
    }
  });

  it('loads: the kernel lists it (available, allowed for namespaces, bpftool struct_ops show)', async () => {
    const r = value<CcActionResult>(await engine.invoke('mptcp:cc:load', { name: 'mptcp_lia' }));
    expect(r.changed).toBe(true);
    expect(available()).toContain(lia);
    // TCP_CONG_NON_RESTRICTED: any namespace may make it its default.
    expect((await sysctl('net.ipv4.tcp_allowed_congestion_control')).split(' ')).toContain(lia);
    expect(await structOpsNames()).toContain(lia);
    const [entry] = await cc();
    expect(entry).toMatchObject({ registered: true, bpfRegistered: true, unloadBlockedReason: null });
  });

  it('a real MPTCP connection in the lab runs it on every subflow, as ss shows', async () => {
    const report = value<ApplyReport>(
      await engine.invoke('mptcp:config:apply', { config: { congestionControl: lia } }),
    );
    expect(report.ok, JSON.stringify(report)).toBe(true);
    expect(await sysctl('net.ipv4.tcp_congestion_control')).toBe(lia);
    traffic = await lab.openConnections(1, { rateBytesPerSec: 200_000 });
    const snap = await lab.waitFor(
      'two subflows',
      async () => value<ConnectionsSnapshot>(await engine.invoke('mptcp:connections:list', {})),
      (s) => s.connections.some((c) => c.subflows.length >= 2),
    );
    const subflows = snap.connections.flatMap((c) => c.subflows);
    expect(subflows.map((s) => s.congestionControl)).toEqual(subflows.map(() => lia));
    // The kernel's own view: ss prints the CC of every TCP subflow to the lab server.
    const ss = (await nsRun(lab.client, 'ss', ['-tniH', 'dport', '=', ':5201'])).stdout;
    const ccOfSubflows = [...ss.matchAll(/^\s+(\S+) wscale/gm)].map((m) => m[1]);
    expect(ccOfSubflows.length).toBe(subflows.length);
    expect(new Set(ccOfSubflows)).toEqual(new Set([lia]));
    const [entry] = await cc();
    expect(entry?.inUseBySubflows).toBe(subflows.length);
  });

  it("reads the registered copy's repair count as the lab's own bpftool reader does", async () => {
    const r = value<CcRepairs>(await engine.invoke('mptcp:cc:repairs', {}));
    expect(r.error).toBeNull();
    // Only LIA is registered now; its count as src-main/lab/bpf-cc.ts reads the .bss.
    expect(r.counts).toEqual([{ id: 'mptcp_lia', kernelName: lia, repairs: await readCcRepairs(lia) }]);
  });

  it('refuses to unload it while it is the namespace default or carries subflows', async () => {
    const r = await engine.invoke('mptcp:cc:unload', { name: 'mptcp_lia' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('EBUSY');
      expect(r.error.message).toMatch(/default congestion control of this network namespace/);
    }
    // Default back to reno (outside init_net only non-restricted CCs can be set; reno always is):
    // the live subflows still hold it.
    const back = value<ApplyReport>(
      await engine.invoke('mptcp:config:apply', { config: { congestionControl: 'reno' } }),
    );
    expect(back.ok, JSON.stringify(back)).toBe(true);
    const busy = await engine.invoke('mptcp:cc:unload', { name: 'mptcp_lia' });
    expect(busy.ok).toBe(false);
    if (!busy.ok) expect(busy.error.message).toMatch(/MPTCP subflows? in this network namespace use/);
    expect(available()).toContain(lia);
  });

  it('unloads once nothing uses it: gone from the kernel lists', async () => {
    await traffic?.stop();
    await lab.waitFor(
      'the subflows to close',
      async () => value<ConnectionsSnapshot>(await engine.invoke('mptcp:connections:list', {})),
      (s) => s.connections.length === 0,
    );
    const r = value<CcActionResult>(await engine.invoke('mptcp:cc:unload', { name: 'mptcp_lia' }));
    expect(r.changed).toBe(true);
    expect(available()).not.toContain(lia);
    // The map goes once the last socket reference drops (closing sockets may hold it briefly).
    await lab.waitFor('bpftool to drop it', structOpsNames, (names) => !names.includes(lia));
  });

  it('a plan registers OLIA before making it the default; a failed apply rolls the default back and keeps it registered', async () => {
    const defaultBefore = await sysctl('net.ipv4.tcp_congestion_control');
    const plan = value<PlanView>(
      await engine.invoke('mptcp:config:plan', { config: { congestionControl: olia } }),
    );
    expect(plan.errors).toEqual([]);
    expect(plan.warnings).toEqual([
      `${olia} stays registered (global, harmless) even if this change is reverted or rolled back; unload it from the Configure page or \`mptcp-studio cc unload mptcp_olia\``,
    ]);
    expect(plan.steps.map((s) => s.shell)).toEqual([
      `bpftool struct_ops register ${join(dir, `${olia}.bpf.o`)}`,
      `sysctl -w net.ipv4.tcp_congestion_control=${olia}`,
    ]);
    const failing = openEngine({ netns: lab.client, agentEnv: { ...env, MPTCP_STUDIO_TEST_FAIL_STEP: '1' } });
    try {
      const report = value<ApplyReport>(
        await failing.invoke('mptcp:config:apply', { config: { congestionControl: olia } }),
      );
      expect(report.ok).toBe(false);
      expect(report.applied.map((s) => s.description)).toEqual([`Register BPF congestion control ${olia}`]);
      expect(report.rolledBack).toEqual([]);
      expect(report.restored).toBe(true);
    } finally {
      await failing.close();
    }
    expect(available()).toContain(olia);
    expect(await sysctl('net.ipv4.tcp_congestion_control')).toBe(defaultBefore);

    const ok = value<ApplyReport>(
      await engine.invoke('mptcp:config:apply', { config: { congestionControl: olia } }),
    );
    expect(ok.ok).toBe(true);
    expect(available()).toContain(olia);
    expect(await sysctl('net.ipv4.tcp_congestion_control')).toBe(olia);
    value<ApplyReport>(
      await engine.invoke('mptcp:config:apply', { config: { congestionControl: defaultBefore } }),
    );
    value<CcActionResult>(await engine.invoke('mptcp:cc:unload', { name: 'mptcp_olia' }));
    expect(available()).not.toContain(olia);
  });

  it('loads and unloads Balia by its id: the kernel lists it under the suffixed name, then frees it', async () => {
    const r = value<CcActionResult>(await engine.invoke('mptcp:cc:load', { name: 'mptcp_balia' }));
    expect(r.changed).toBe(true);
    expect(r.status).toMatchObject({ id: 'mptcp_balia', kernelName: balia, registered: true });
    expect(available()).toContain(balia);
    expect((await sysctl('net.ipv4.tcp_allowed_congestion_control')).split(' ')).toContain(balia);
    expect(await structOpsNames()).toContain(balia);
    const u = value<CcActionResult>(await engine.invoke('mptcp:cc:unload', { name: 'mptcp_balia' }));
    expect(u.changed).toBe(true);
    expect(available()).not.toContain(balia);
    await lab.waitFor('bpftool to drop it', structOpsNames, (names) => !names.includes(balia));
  });

  it('a revert through an agent without CAP_SYS_ADMIN (as shipped) restores the prior default', async () => {
    const defaultBefore = await sysctl('net.ipv4.tcp_congestion_control');
    const sock = join(dir, 'agent-nosysadmin.sock');
    // The shipped unit's capabilities (packaging/mptcp-studio-agent.service), nothing more.
    const agent = spawn(
      'ip',
      [
        'netns',
        'exec',
        lab.client,
        'setpriv',
        '--bounding-set=-all,+net_admin,+chown,+bpf,+perfmon',
        process.execPath,
        'out/node/mptcp-studio.mjs',
        'agent',
        '--socket',
        sock,
        '--label',
        lab.client,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } },
    );
    let log = '';
    const client = await (async () => {
      await new Promise<void>((ready, fail) => {
        const t = setTimeout(() => fail(new Error(`agent did not start: ${log}`)), 20_000);
        createInterface({ input: agent.stderr }).on('line', (l) => {
          log += `${l}\n`;
          if (l.includes('"listening"')) {
            clearTimeout(t);
            ready();
          }
        });
      });
      return openEngine({ agentSocket: sock });
    })();
    try {
      const [seen] = value<CcStatus[]>(await client.invoke('mptcp:cc:list', {}));
      // Really without CAP_SYS_ADMIN: it could not unregister anything.
      expect(seen?.available, seen?.reason ?? '').toBe(true);
      const applied = value<ApplyReport>(
        await client.invoke('mptcp:config:apply', { config: { congestionControl: lia }, confirmWithinS: 60 }),
      );
      expect(applied.ok, JSON.stringify(applied)).toBe(true);
      expect(applied.revertAtMs).not.toBeNull();
      expect(available()).toContain(lia);
      expect(await sysctl('net.ipv4.tcp_congestion_control')).toBe(lia);
      const [loaded] = value<CcStatus[]>(await client.invoke('mptcp:cc:list', {}));
      expect(loaded?.unloadBlockedReason).toMatch(/default congestion control|CAP_SYS_ADMIN/);

      const reverted = value<ApplyReport>(await client.invoke('mptcp:config:revert', {}));
      expect(reverted.ok, JSON.stringify(reverted)).toBe(true);
      expect(reverted.restored).toBe(true);
      expect(reverted.applied.map((s) => s.description)).toEqual([
        `Set net.ipv4.tcp_congestion_control from ${lia} to ${defaultBefore}`,
      ]);
      expect(await sysctl('net.ipv4.tcp_congestion_control')).toBe(defaultBefore);
      // Registration is kept (the plan said so); nothing is pending any more.
      expect(available()).toContain(lia);
      const [after] = value<CcStatus[]>(await client.invoke('mptcp:cc:list', {}));
      expect(after?.unloadBlockedReason).toMatch(/unloading needs CAP_SYS_ADMIN/);
      expect((await client.invoke('mptcp:config:confirm', {})).ok).toBe(false);
    } finally {
      await client.close();
      agent.kill('SIGTERM');
      await new Promise((r) => agent.once('exit', r));
    }
    // The test engine (root, all capabilities) unloads it.
    value<CcActionResult>(await engine.invoke('mptcp:cc:unload', { name: 'mptcp_lia' }));
    expect(available()).not.toContain(lia);
  });

  it('a process that exits without its teardown unregisters its copies in an exit hook', async () => {
    const name = `mptcp_lia_x${randomBytes(2).toString('hex').slice(0, 3)}`;
    const objDir = ccTestObjectDir();
    try {
      const mod = (await import(pathToFileURL(resolve('scripts/build-bpf.mjs')).href)) as {
        buildBpfCc: BuildBpfCc;
      };
      const obj = join(objDir, `${name}.bpf.o`);
      await mod.buildBpfCc({ algo: 'lia', ccName: name, outFile: obj });
      // A child that records and registers a copy, then exits as a test worker may (no teardown).
      const entry = join(objDir, 'child.mjs');
      await build({
        stdin: {
          contents: [
            `import { execFileSync } from 'node:child_process';`,
            `import { availableCcs, recordCcCopies } from ${JSON.stringify(resolve('src-main/lab/cc-test-copies.ts'))};`,
            `recordCcCopies([${JSON.stringify(name)}]);`,
            `execFileSync('bpftool', ['struct_ops', 'register', process.argv[2]], { stdio: 'ignore' });`,
            `process.exit(availableCcs().includes(${JSON.stringify(name)}) ? 0 : 3);`,
          ].join('\n'),
          resolveDir: process.cwd(),
          loader: 'ts',
        },
        bundle: true,
        platform: 'node',
        format: 'esm',
        outfile: entry,
        logLevel: 'silent',
      });
      await run(process.execPath, [entry, obj]); // exit 0: it was registered (the child checked) ...
      expect(available()).not.toContain(name); // ... and unregistered by its exit hook
      expect(cleanStaleCcCopies()).toEqual([]); // and its record went with it
    } finally {
      if (available().includes(name)) await run('bpftool', ['struct_ops', 'unregister', 'name', name]);
      rmSync(objDir, { recursive: true, force: true });
    }
  });

  it('a copy registered by a process that was SIGKILLed is unregistered by the stale cleanup', async () => {
    const name = `mptcp_lia_k${randomBytes(2).toString('hex').slice(0, 3)}`;
    const objDir = ccTestObjectDir();
    const mod = (await import(pathToFileURL(resolve('scripts/build-bpf.mjs')).href)) as {
      buildBpfCc: BuildBpfCc;
    };
    const obj = join(objDir, `${name}.bpf.o`);
    await mod.buildBpfCc({ algo: 'lia', ccName: name, outFile: obj });
    // The child registers it and then sleeps, as a test worker would before it is killed.
    const child: ChildProcess = spawn(
      'sh',
      ['-c', 'bpftool struct_ops register "$1" >/dev/null && exec sleep 600', 'sh', obj],
      { stdio: 'ignore' },
    );
    const pid = child.pid ?? 0;
    recordCcCopies([name], [objDir], pid);
    try {
      await lab.waitFor(
        'the child to register it',
        () => Promise.resolve(available()),
        (a) => a.includes(name),
      );
      // The owner is alive: the cleanup leaves it alone.
      expect(cleanStaleCcCopies()).toEqual([]);
      expect(available()).toContain(name);
      child.kill('SIGKILL');
      await new Promise((r) =>
        child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r),
      );
      expect(available()).toContain(name); // killed: nothing unregistered it
      expect(cleanStaleCcCopies()).toEqual([name]);
      expect(available()).not.toContain(name);
      expect(existsSync(objDir)).toBe(false);
    } finally {
      child.kill('SIGKILL');
      if (available().includes(name)) await run('bpftool', ['struct_ops', 'unregister', 'name', name]);
      rmSync(objDir, { recursive: true, force: true });
    }
  });
});
