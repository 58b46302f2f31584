/**
 * The pkexec launcher (packaging/polkit/mptcp-studio-agent-launch; docs/security.md, "Finding the
 * privileged agent") run as pkexec runs it — root, a clean environment, PKEXEC_UID — inside a
 * private mount namespace with a tmpfs over /run, so the host's /run, /etc/group and
 * /usr/bin/systemd-run are never touched. A stand-in program tree (bin/mptcp-studio.mjs prints its
 * argv and privileges) lies in that tmpfs, as root's, next to a copy of the launcher.
 *
 * There is no systemd as PID 1 on the machine these tests were written on: the systemd-run route
 * is checked by its argv, with /run/systemd/system made in the namespace and a stand-in
 * systemd-run bind-mounted over the real one.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const LAUNCHER = resolve('packaging/polkit/mptcp-studio-agent-launch');

/** Prints what it was started with: argv, uid, no_new_privs and the bounding set (proc(5)). */
const PROGRAM = `import { readFileSync } from 'node:fs';
const st = readFileSync('/proc/self/status', 'utf8');
process.stdout.write(JSON.stringify({
  argv: process.argv.slice(1),
  uid: process.getuid(),
  noNewPrivs: /^NoNewPrivs:\\s+1$/m.test(st),
  capBnd: /^CapBnd:\\s+(\\S+)$/m.exec(st)[1],
}) + '\\n');
`;

/**
 * Runs inside the namespace: builds /run/t, applies the scenario ($1), runs the launcher as pkexec
 * would, and prints its exit code, its stderr, /run/mptcp-studio's owner and mode, the agent's log
 * and the stand-in systemd-run's argv.
 */
const SCENARIO = `set -eu
src=$(dirname "$0")
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/t/bin /run/t/out /run/t/packaging/polkit
cp "$src/launcher" /run/t/packaging/polkit/mptcp-studio-agent-launch
cp "$src/program.mjs" /run/t/bin/mptcp-studio.mjs
echo 'export {};' >/run/t/out/bundle.mjs
chmod 0755 /run/t/packaging/polkit/mptcp-studio-agent-launch /run/t/bin/mptcp-studio.mjs
chmod 0644 /run/t/out/bundle.mjs
case "$1" in
  group-writable) chmod 0664 /run/t/out/bundle.mjs ;;
  foreign-owner) chown 65534 /run/t/bin/mptcp-studio.mjs ;;
  writable-parent) chmod 0777 /run/t ;;
  sticky-parent) chmod 1777 /run ;;
  leftover) install -d -m 0750 -o root -g 64998 /run/mptcp-studio ;;
  member)
    cp /etc/group "$src/group"
    echo 'mptcp-studio:x:64997:nobody' >>"$src/group"
    mount --bind "$src/group" /etc/group
    ;;
  systemd)
    mkdir -p /run/systemd/system
    mount --bind "$src/systemd-run" /usr/bin/systemd-run
    ;;
esac
rc=0
env -i PKEXEC_UID=65534 /run/t/packaging/polkit/mptcp-studio-agent-launch 2>/run/err || rc=$?
echo "rc=$rc"
echo "err=$(cat /run/err)"
stat -c 'dir=%U:%G:%a' /run/mptcp-studio 2>/dev/null || echo 'dir=none'
cat /run/mptcp-studio/agent.log 2>/dev/null || true
cat /run/systemd-run.argv 2>/dev/null || true
`;

function unavailable(): string | null {
  if (process.geteuid?.() !== 0) return 'needs root (a private mount namespace, files owned by root)';
  for (const cmd of ['/usr/bin/unshare', '/usr/bin/setpriv', '/usr/bin/node'])
    if (!existsSync(cmd)) return `${cmd} is not installed`;
  return null;
}

interface Outcome {
  rc: number;
  err: string;
  dir: string;
  /** What the stand-in program printed (it ran), or null. */
  ran: { argv: string[]; uid: number; noNewPrivs: boolean; capBnd: string } | null;
  /** The stand-in systemd-run's argv, or null. */
  systemdRun: string[] | null;
}

describe.skipIf(unavailable() !== null)('the pkexec launcher', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mptcp-launcher-'));
    writeFileSync(join(dir, 'launcher'), readFileSync(LAUNCHER));
    writeFileSync(join(dir, 'program.mjs'), PROGRAM);
    writeFileSync(join(dir, 'scenario.sh'), SCENARIO);
    writeFileSync(
      join(dir, 'systemd-run'),
      '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >/run/systemd-run.argv\necho ARGV-END >>/run/systemd-run.argv\n',
    );
    chmodSync(join(dir, 'systemd-run'), 0o755);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const launch = (scenario: string): Outcome => {
    const r = spawnSync(
      'unshare',
      ['--mount', '--propagation', 'private', '--', 'sh', join(dir, 'scenario.sh'), scenario],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (r.status !== 0) throw new Error(`scenario ${scenario}: ${r.stderr}`);
    const lines = r.stdout.split('\n');
    const field = (k: string): string => lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1) ?? '';
    const ranLine = lines.find((l) => l.startsWith('{"argv"'));
    const argvEnd = lines.indexOf('ARGV-END');
    const dirLine = lines.findIndex((l) => l.startsWith('dir='));
    return {
      rc: Number(field('rc')),
      err: field('err'),
      dir: field('dir'),
      ran: ranLine ? (JSON.parse(ranLine) as Outcome['ran']) : null,
      systemdRun: argvEnd >= 0 ? lines.slice(dirLine + 1, argvEnd) : null,
    };
  };

  it('runs a root-owned tree under setpriv, the socket for that user alone (not a shared group)', () => {
    const o = launch('trusted');
    expect(o.err).toBe('');
    expect(o.rc).toBe(0);
    expect(o.ran).not.toBeNull();
    expect(o.ran!.argv).toEqual([
      '/run/t/bin/mptcp-studio.mjs',
      'agent',
      '--socket',
      '/run/mptcp-studio/agent.sock',
      '--socket-group',
      '0',
      '--socket-owner',
      '65534',
    ]);
    expect(o.ran!.uid).toBe(0);
    expect(o.ran!.noNewPrivs).toBe(true);
    // NET_ADMIN, CHOWN, BPF, PERFMON (uapi: linux/capability.h bits 12, 0, 39, 38).
    expect(o.ran!.capBnd).toBe('000000c000001001');
    expect(o.dir).toBe('root:root:755');
  });

  it('runs a root-owned tree under a root-owned sticky directory (a clone in /tmp)', () => {
    const o = launch('sticky-parent');
    expect(o.err).toBe('');
    expect(o.rc).toBe(0);
    expect(o.ran!.argv[0]).toBe('/run/t/bin/mptcp-studio.mjs');
  });

  it('gives the socket to mptcp-studio when the user is a member', () => {
    const o = launch('member');
    expect(o.rc).toBe(0);
    expect(o.ran!.argv.slice(-2)).toEqual(['--socket-group', 'mptcp-studio']);
  });

  it.each([
    ['group-writable', /refusing to run the program in \/run\/t as root: \/run\/t\/out\/bundle\.mjs/],
    ['foreign-owner', /refusing to run \/run\/t\/bin\/mptcp-studio\.mjs as root: .*not owned by root/],
    [
      'writable-parent',
      /refusing to run .* as root: \/run\/t is not owned by root, or others than root may write it/,
    ],
  ])('refuses a program tree others could change (%s), before touching /run', (scenario, message) => {
    const o = launch(scenario);
    expect(o.rc).toBe(1);
    expect(o.err).toMatch(message);
    expect(o.ran).toBeNull();
    expect(o.dir).toBe('none');
  });

  it('takes /run/mptcp-studio back from an earlier launch for another user', () => {
    const o = launch('leftover');
    expect(o.rc).toBe(0);
    expect(o.dir).toBe('root:root:755');
  });

  it('with systemd as PID 1, starts the agent with systemd-run and the unit confinement', () => {
    const o = launch('systemd');
    expect(o.rc).toBe(0);
    expect(o.ran).toBeNull(); // systemd would run it
    const argv = o.systemdRun!;
    const props = argv.flatMap((a, i) => (argv[i - 1] === '-p' ? [a] : []));
    expect(props).toEqual(
      expect.arrayContaining([
        'CapabilityBoundingSet=CAP_NET_ADMIN CAP_CHOWN CAP_BPF CAP_PERFMON',
        'NoNewPrivileges=yes',
        'ProtectSystem=strict',
        'ProtectHome=yes',
        'PrivateTmp=yes',
        'ProtectKernelModules=yes',
        'ReadWritePaths=/run/mptcp-studio',
        'RestrictAddressFamilies=AF_UNIX AF_NETLINK',
        'SystemCallArchitectures=native',
      ]),
    );
    const cmd = argv.slice(argv.indexOf('--') + 1);
    expect(cmd).toEqual([
      '/usr/bin/node',
      '/run/t/bin/mptcp-studio.mjs',
      'agent',
      '--socket',
      '/run/mptcp-studio/agent.sock',
      '--socket-group',
      '0',
      '--socket-owner',
      '65534',
    ]);
    expect(o.dir).toBe('root:root:755');
  });
});
