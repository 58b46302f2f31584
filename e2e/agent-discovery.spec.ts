/**
 * From an unprivileged desktop to a change (docs/security.md, "Finding the privileged agent"):
 * the real web host runs as `nobody` without CAP_NET_ADMIN and without agent flags, as the
 * desktop app does, and finds the privileged agent by itself.
 *
 * 1. No agent: the Configure page's banner gives the exact commands for the shipped unit and its
 *    group. An agent in another network namespace at the socket is refused, with the reason. An
 *    agent started later at the socket (MPTCP_STUDIO_AGENT_SOCKET: a temporary directory) makes
 *    the page writable without flags or a reload.
 * 2. The polkit route, with a real dbus-daemon and polkitd started here inside a private mount
 *    namespace (tmpfs over /run, the polkit rules and actions directories bind-mounted), so the
 *    host's own /run/dbus and /etc/polkit-1 are never touched: the banner's button runs pkexec
 *    with the shipped action and launcher, and the page becomes writable.
 *
 * Both agents run in the host's network namespace, as the shipped unit does, and the test writes
 * nothing through them: it only checks that writes are offered.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { expect, test, type Page } from '@playwright/test';

const NOBODY = 65534;
const NOGROUP = 65534;
const BUNDLE = resolve('out/node/mptcp-studio.mjs');
const CLI = resolve('bin/mptcp-studio.mjs');
const LAUNCHER = resolve('packaging/polkit/mptcp-studio-agent-launch');
const POLICY = resolve('packaging/polkit/org.mptcpstudio.agent.policy');

function which(cmd: string): string | null {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/lib/polkit-1']) {
    if (existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (to run the web host as nobody and the agent as root)';
  if (!existsSync(BUNDLE)) return 'run npm run build first';
  for (const cmd of ['setpriv', 'unshare']) if (!which(cmd)) return `${cmd} is not installed (util-linux)`;
  return null;
}

interface Proc {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output: () => string;
}

/** Spawns argv (no shell) and collects its output; resolves when `ready` matches a line of it. */
async function start(
  argv: string[],
  ready: RegExp,
  env: Record<string, string> = {},
): Promise<Proc & { match: string }> {
  const [cmd, ...args] = argv;
  const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...baseEnv(), ...env } });
  let out = '';
  const match = await new Promise<string>((resolveMatch, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${argv.join(' ')} did not start: ${out}`));
    }, 30_000);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        out += `${line}\n`;
        const m = ready.exec(line);
        if (m) {
          clearTimeout(timer);
          resolveMatch(m[1] ?? m[0]);
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} exited (${code}): ${out}`));
    });
  });
  return { child, match, output: () => out };
}

/** SIGTERM, SIGKILL after 5 s; resolves once it exited. */
async function stop(p: Proc | null): Promise<void> {
  const child = p?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** What the web host's environment is: no agent variables from the runner's. */
function baseEnv(): Record<string, string> {
  return { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
}

/** The web host as nobody, no capabilities, optionally inside the mount namespace of `nsPid`. */
function serveArgv(opts: { groups: number[]; nsPid?: number }): string[] {
  return [
    ...(opts.nsPid !== undefined ? ['nsenter', '-t', String(opts.nsPid), '-m', '--'] : []),
    'setpriv',
    `--reuid=${NOBODY}`,
    `--regid=${NOGROUP}`,
    opts.groups.length > 0 ? `--groups=${opts.groups.join(',')}` : '--clear-groups',
    '--inh-caps=-all',
    process.execPath,
    CLI,
    'serve',
    '--port',
    '0',
    '--poll-ms',
    '500',
  ];
}

/** The web host really is unprivileged: uid nobody, no effective capabilities. */
function expectUnprivileged(pid: number): void {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  expect(status).toMatch(new RegExp(`^Uid:\\s+${NOBODY}\\s+${NOBODY}`, 'm'));
  expect(status).toMatch(/^CapEff:\s+0+$/m);
}

/** A gid no group on this machine has: the agent's socket group for this test only. */
function freeGid(): number {
  const used = new Set(
    readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((l) => Number(l.split(':')[2])),
  );
  for (let gid = 64_990; gid > 60_000; gid--) if (!used.has(gid)) return gid;
  throw new Error('no free gid');
}

/** The commands the banner must give this user, from what is on this machine. */
function expectedCommands(user: string): string[] {
  const groupText = readFileSync('/etc/group', 'utf8');
  const group = /^mptcp-studio:[^:]*:\d+:(.*)$/m.exec(groupText);
  const inGroup = group !== null && (group[1] ?? '').split(',').includes(user);
  const unitInstalled = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'].some((d) =>
    existsSync(join(d, 'mptcp-studio-agent.service')),
  );
  return [
    ...(group ? [] : ['sudo groupadd --system mptcp-studio']),
    ...(inGroup ? [] : [`sudo usermod -aG mptcp-studio ${user}`]),
    ...(unitInstalled
      ? []
      : [
          `sudo cp ${resolve('packaging/mptcp-studio-agent.service')} /etc/systemd/system/`,
          'sudo systemctl daemon-reload',
        ]),
    'sudo systemctl enable --now mptcp-studio-agent',
  ];
}

async function openConfigure(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.getByTestId('nav-configure').click();
  await expect(page.getByTestId('configure-page')).toBeVisible();
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mptcp-e2e-agent-'));
  chmodSync(dir, 0o755); // nobody and polkitd read below it
  const home = join(dir, 'home');
  mkdirSync(home);
  chownSync(home, NOBODY, NOGROUP);
  return dir;
}

test('an unprivileged web host finds the agent at its socket by itself', async ({ page }) => {
  const reason = unavailable();
  test.skip(reason !== null, reason ?? '');
  const dir = tempDir();
  const socket = join(dir, 'run', 'agent.sock');
  const gid = freeGid();
  const env = { HOME: join(dir, 'home'), MPTCP_STUDIO_AGENT_SOCKET: socket };
  let serve: Proc | null = null;
  let agent: Proc | null = null;
  try {
    const web = await start(serveArgv({ groups: [gid] }), /(http:\/\/\S+\?token=\S+)/, env);
    serve = web;
    expectUnprivileged(web.child.pid!);

    // (a) No agent: read-only, and the banner names the way that works, command by command.
    await openConfigure(page, web.match);
    const banner = page.getByTestId('cfg-read-only');
    await expect(banner).toBeVisible();
    await expect(page.getByTestId('agent-reason')).toContainText(`no agent at ${socket}`);
    expect(await page.getByTestId('agent-setup-commands').textContent()).toBe(
      expectedCommands('nobody').join('\n'),
    );
    await expect(banner).not.toContainText('run as root');
    // No polkit daemon is reachable from this web host (the host's system bus is not ours to use).
    await expect(page.getByTestId('agent-polkit-unavailable')).toBeVisible();
    expect(web.output()).toContain(`read-only: no agent at ${socket}`);

    // An agent in another network namespace at that socket: its changes would land there. Refused.
    const foreign = await start(
      ['unshare', '--net', process.execPath, CLI, 'agent', '--socket', socket, '--socket-group', String(gid)],
      /"event":"listening"/,
    );
    agent = foreign;
    await page.getByTestId('agent-recheck').click();
    await expect(page.getByTestId('agent-reason')).toContainText('runs in another network namespace');
    await expect(banner).toBeVisible();
    await stop(foreign);
    agent = null;

    // (b) The agent starts later at the socket: the page becomes writable by itself, no reload.
    agent = await start(
      [process.execPath, CLI, 'agent', '--socket', socket, '--socket-group', String(gid)],
      /"event":"listening"/,
    );
    await expect(banner).toBeHidden({ timeout: 20_000 });
    await expect.poll(() => web.output()).toContain(`writing through the privileged agent at ${socket}`);
    await page.getByTestId('nav-overview').click();
    await expect(page.getByTestId('privileges-banner')).toBeHidden();
    // Still the same unprivileged process: the agent holds the privilege, not the web host.
    expectUnprivileged(web.child.pid!);
  } finally {
    await stop(agent);
    await stop(serve);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Every process in the mount namespace `ns` (`mnt:[INODE]`; ours: we made it), by pid. */
function processesInMountNs(ns: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/ns/mnt`) === ns) pids.push(Number(d));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** This process's mounts on the points the sandbox covers (proc(5): mountinfo field 5). */
function sandboxedMounts(): string[] {
  const points = new Set(['/run', '/etc/polkit-1/rules.d', '/usr/share/polkit-1/actions']);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => points.has(l.split(' ')[4] ?? ''));
}

function polkitUnavailable(): string | null {
  const base = unavailable();
  if (base) return base;
  for (const cmd of ['nsenter', 'dbus-daemon', 'dbus-send', 'polkitd', 'pkexec']) {
    if (!which(cmd))
      return `${cmd} is not installed (scripts/setup-debian.sh --test: polkitd, pkexec, dbus-daemon)`;
  }
  const pk = statSync(which('pkexec')!);
  if (pk.uid !== 0 || (pk.mode & 0o4000) === 0) return 'pkexec is not setuid root';
  return null;
}

test('the polkit route: pkexec starts the agent with the shipped action, and the page becomes writable', async ({
  page,
}) => {
  const reason = polkitUnavailable();
  test.skip(reason !== null, reason ?? '');
  const dir = tempDir();
  const rules = join(dir, 'rules.d');
  const actions = join(dir, 'actions');
  mkdirSync(rules, { mode: 0o755 });
  mkdirSync(actions, { mode: 0o755 });
  // The host's actions plus ours, its exec.path pointing at the launcher in this tree.
  for (const f of readdirSync('/usr/share/polkit-1/actions'))
    copyFileSync(join('/usr/share/polkit-1/actions', f), join(actions, f));
  writeFileSync(
    join(actions, 'org.mptcpstudio.agent.policy'),
    readFileSync(POLICY, 'utf8').replaceAll('/usr/libexec/mptcp-studio/mptcp-studio-agent-launch', LAUNCHER),
  );
  // No authentication agent runs here: a rule answers for `nobody`, and only for our action.
  writeFileSync(
    join(rules, '50-mptcp-studio-test.rules'),
    'polkit.addRule(function (action, subject) {\n' +
      '  if (action.id == "org.mptcpstudio.agent.start" && subject.user == "nobody") return polkit.Result.YES;\n' +
      '});\n',
  );
  for (const f of [
    ...readdirSync(actions).map((f) => join(actions, f)),
    ...readdirSync(rules).map((f) => join(rules, f)),
  ])
    chmodSync(f, 0o644);

  // The private mount namespace, held open by a sleeping process.
  const hostSocketBefore = existsSync('/run/mptcp-studio/agent.sock');
  const hostMountsBefore = sandboxedMounts();
  const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '600'], {
    stdio: 'ignore',
  });
  const holderPid = holder.pid!;
  const ownNs = readlinkSync('/proc/self/ns/mnt');
  let ns = '';
  /**
   * Every nsenter below first checks that the holder still is the private namespace: a mount
   * made through a pid that is not (a wrapper, a reused pid) would land in the host's own.
   */
  const guard = (): void => {
    const now = readlinkSync(`/proc/${holderPid}/ns/mnt`);
    if (ns === '' || now !== ns || now === ownNs)
      throw new Error(`pid ${holderPid} is not our mount namespace`);
  };
  const inNs = (argv: string[]): string => {
    guard();
    const r = spawnSync('nsenter', ['-t', String(holderPid), '-m', '--', ...argv], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  let serve: Proc | null = null;
  try {
    await expect.poll(() => readlinkSync(`/proc/${holderPid}/ns/mnt`) !== ownNs).toBe(true);
    ns = readlinkSync(`/proc/${holderPid}/ns/mnt`);
    inNs(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', '/run']);
    inNs(['mkdir', '-p', '/run/dbus']);
    inNs(['mount', '--bind', rules, '/etc/polkit-1/rules.d']);
    inNs(['mount', '--bind', actions, '/usr/share/polkit-1/actions']);
    const nsenter = ['-t', String(holderPid), '-m', '--'];
    const daemon = (argv: string[]): void => {
      guard();
      spawn('nsenter', [...nsenter, ...argv], { stdio: 'ignore' });
    };
    // The system bus and polkitd (it drops to its own user), both only in that namespace.
    daemon(['dbus-daemon', '--system', '--nofork', '--nopidfile']);
    await expect
      .poll(() => spawnSync('nsenter', [...nsenter, 'test', '-S', '/run/dbus/system_bus_socket']).status)
      .toBe(0);
    daemon([which('polkitd')!, '--no-debug']);

    // The web host as nobody, no agent variables: it looks at /run/mptcp-studio/agent.sock.
    guard();
    const web = await start(serveArgv({ groups: [], nsPid: holderPid }), /(http:\/\/\S+\?token=\S+)/, {
      HOME: join(dir, 'home'),
      MPTCP_STUDIO_AGENT_LAUNCHER: LAUNCHER,
    });
    serve = web;
    expectUnprivileged(web.child.pid!);
    await openConfigure(page, web.match);
    const banner = page.getByTestId('cfg-read-only');
    await expect(page.getByTestId('agent-reason')).toContainText('no agent at /run/mptcp-studio/agent.sock');
    // polkitd may still be starting when the banner first asked: ask again until it answers.
    await expect(async () => {
      await page.getByTestId('agent-recheck').click();
      await expect(page.getByTestId('agent-start')).toBeVisible({ timeout: 2000 });
    }).toPass({ timeout: 20_000 });

    await page.getByTestId('agent-start').click();
    await expect(banner).toBeHidden({ timeout: 30_000 });
    expect(web.output()).toContain(`starting the privileged agent: ${which('pkexec')} ${LAUNCHER}`);
    await expect
      .poll(() => web.output())
      .toContain('writing through the privileged agent at /run/mptcp-studio/agent.sock');
    // nobody is not in mptcp-studio: the launcher gave the socket to nobody alone, not to a group
    // others may share; the directory is root's.
    expect(inNs(['stat', '-c', '%U:%G:%a', '/run/mptcp-studio/agent.sock']).trim()).toBe('nobody:root:600');
    expect(inNs(['stat', '-c', '%U:%G:%a', '/run/mptcp-studio']).trim()).toBe('root:root:755');
    const log = { stdout: inNs(['cat', '/run/mptcp-studio/agent.log']) };
    expect(log.stdout).toContain('"event":"listening"');
    expect(log.stdout).toContain('"uid":65534');
    // The agent is root with only the unit's capabilities: NET_ADMIN, CHOWN, BPF, PERFMON (uapi:
    // linux/capability.h bits 12, 0, 39, 38), and no_new_privs.
    const agentPid = processesInMountNs(ns).find((pid) =>
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('agent\0--socket\0/run/mptcp-studio/agent.sock'),
    );
    expect(agentPid).toBeDefined();
    const agentStatus = readFileSync(`/proc/${agentPid}/status`, 'utf8');
    expect(agentStatus).toMatch(/^Uid:\s+0\s+0/m);
    expect(agentStatus).toMatch(/^CapBnd:\s+000000c000001001$/m);
    expect(agentStatus).toMatch(/^NoNewPrivs:\s+1$/m);
    // The agent's socket exists only in that namespace: the host's /run was never touched.
    expect(existsSync('/run/mptcp-studio/agent.sock')).toBe(hostSocketBefore);
  } finally {
    await stop(serve);
    // The agent (pkexec execs the launcher, which execs it), dbus-daemon, polkitd and the holder.
    if (ns === '' || ns === ownNs) holder.kill('SIGKILL');
    for (const pid of ns === '' || ns === ownNs ? [] : processesInMountNs(ns)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await expect
      .poll(() => (ns === '' || ns === ownNs ? 0 : processesInMountNs(ns).length), { timeout: 10_000 })
      .toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }
  // Nothing was mounted in the test runner's own namespace.
  expect(sandboxedMounts()).toEqual(hostMountsBefore);
});
