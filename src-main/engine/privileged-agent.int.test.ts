/**
 * The GUI does not run as root: writes go through the privileged agent on a Unix socket. Here the
 * agent runs as root inside a lab namespace and the CLI runs as `nobody` with no capabilities.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip, Lab, labUnavailableReason, waitFor } from '../lab/lab';

const NOBODY = '65534';

/** Connects to argv[1] over and over, as fast as it can; prints `connected` if it ever gets in. */
const RACER = `
const net = require('node:net');
const path = process.argv[1];
let tries = 0;
const attempt = () => {
  tries++;
  const s = net.connect(path);
  s.on('connect', () => {
    process.stdout.write('connected after ' + tries + ' tries\\n');
    s.write(JSON.stringify({ t: 'call', id: 1, method: 'mptcp:status:get', args: {} }) + '\\n');
  });
  s.on('data', (d) => process.stdout.write('answered: ' + d.toString().slice(0, 80) + '\\n'));
  s.on('error', () => setImmediate(attempt));
};
process.stdout.write('racing\\n');
attempt();
`;

/** Run the CLI as uid/gid 65534 with every capability dropped. */
function asNobody(
  args: string[],
  gid = NOBODY,
  netns: string | null = null,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      netns === null ? 'setpriv' : 'ip',
      [
        ...(netns === null ? [] : ['netns', 'exec', netns, 'setpriv']),
        '--reuid',
        NOBODY,
        '--regid',
        gid,
        '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all',
        process.execPath,
        'bin/mptcp-studio.mjs',
        ...args,
      ],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' } },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe.skipIf(labUnavailableReason() !== null)('privileged agent on a Unix socket', () => {
  let lab: Lab;
  let agent: ChildProcess;
  let log = '';
  const dir = mkdtempSync(join(tmpdir(), 'mpst-agent-'));
  const sock = join(dir, 'agent.sock');

  /** A user outside the socket's group trying to connect from before the agent binds. */
  let racer: ChildProcess | null = null;
  let racerOut = '';

  beforeAll(async () => {
    chmodSync(dir, 0o755);
    lab = await Lab.create({ paths: 2, mptcp: 'none' });
    racer = spawn('setpriv', [
      '--reuid',
      NOBODY,
      '--regid',
      '65533',
      '--clear-groups',
      process.execPath,
      '-e',
      RACER,
      sock,
    ]);
    racer.stdout?.on('data', (d: Buffer) => (racerOut += d.toString()));
    await waitFor(
      'the racer to start',
      () => racerOut,
      (o) => o.includes('racing'),
    );
    // umask 000: a socket bound with the process umask and chmod'ed afterwards is open to
    // everyone for a moment, and a connection made then stays open.
    agent = spawn(
      'sh',
      [
        '-c',
        'umask 000 && exec "$@"',
        'sh',
        'ip',
        'netns',
        'exec',
        lab.client,
        process.execPath,
        'out/node/mptcp-studio.mjs',
        'agent',
        '--socket',
        sock,
        '--socket-group',
        NOBODY,
        '--label',
        lab.client,
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`agent did not start: ${log}`)), 20_000);
      createInterface({ input: agent.stderr! }).on('line', (l) => {
        log += `${l}\n`;
        if (l.includes('"listening"')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
  });
  afterAll(async () => {
    racer?.kill('SIGKILL');
    // The agent gone before its namespace: wait for its exit, not a while.
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((r) => agent.once('exit', r));
      agent.kill('SIGTERM');
      const t = setTimeout(() => agent.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await lab?.destroy();
  });

  it('lets an unprivileged user read and change the namespace through the agent, and logs the change', async () => {
    const status = await asNobody(['status', '--json', '--agent-socket', sock]);
    expect(status.code, status.stderr).toBe(0);
    const st = JSON.parse(status.stdout) as { netns: string; privileges: { netAdmin: boolean } };
    expect(st.netns).toBe(lab.client);
    expect(st.privileges.netAdmin).toBe(true); // the agent's privileges, not the caller's

    const profile = join(dir, 'limits.json');
    writeFileSync(
      profile,
      JSON.stringify({
        schemaVersion: 1,
        name: 'limits',
        config: { limits: { subflows: 5, addAddrAccepted: 4 } },
      }),
    );
    chmodSync(profile, 0o644);
    const applied = await asNobody(['apply', profile, '--agent-socket', sock]);
    expect(applied.code, applied.stderr).toBe(0);
    expect((await ip(['-n', lab.client, 'mptcp', 'limits', 'show'])).stdout).toMatch(
      /add_addr_accepted 4 subflows 5/,
    );
    // The agent logs a call on its stderr after answering it: wait for the line, not a while.
    await waitFor(
      'the agent to log the apply',
      () => log,
      (l) => /"method":"mptcp:config:apply"/.test(l) && /"subflows":5/.test(l),
    ).catch(() => undefined);
    expect(log).toMatch(/"method":"mptcp:config:apply"/);
    expect(log).toMatch(/"subflows":5/);
  });

  it('was never open to a user outside its group, even while it was being created under umask 000', async () => {
    expect(statSync(sock).mode & 0o777).toBe(0o660);
    await new Promise((r) => setTimeout(r, 200));
    racer?.kill('SIGKILL');
    expect(racerOut).toContain('racing');
    expect(racerOut).not.toContain('connected');
  });

  it('writes the peer credentials of the caller into the audit line', async () => {
    const profile = join(dir, 'limits3.json');
    writeFileSync(
      profile,
      JSON.stringify({
        schemaVersion: 1,
        name: 'limits3',
        config: { limits: { subflows: 3, addAddrAccepted: 2 } },
      }),
    );
    chmodSync(profile, 0o644);
    // In the agent's namespace: the kernel creates the socket accept() returns in the client's
    // namespace, and sock_diag sees only its own (src-main/engine/agent/peer.ts).
    const applied = await asNobody(['apply', profile, '--agent-socket', sock], NOBODY, lab.client);
    expect(applied.code, applied.stderr).toBe(0);
    const line = await waitFor(
      'the audit line',
      () =>
        log
          .split('\n')
          .find((l) => l.includes('"method":"mptcp:config:apply"') && l.includes('"subflows":3')),
      (l) => l !== undefined,
    );
    const entry = JSON.parse(line ?? '{}') as { peer: { uid: number; gid: number; pid: number } };
    expect(entry.peer, line).toMatchObject({ uid: 65534, gid: 65534, pid: expect.any(Number) });
  });

  it('refuses a user the socket file does not admit', async () => {
    const r = await asNobody(['status', '--agent-socket', sock], '65533');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot reach the privileged agent.*EACCES/);
  });

  it('accepts only the contract: a malformed request changes nothing', async () => {
    const before = (await ip(['-n', lab.client, 'mptcp', 'limits', 'show'])).stdout;
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        schemaVersion: 1,
        name: 'bad',
        config: { limits: { subflows: 42, addAddrAccepted: 0 } },
      }),
    );
    chmodSync(bad, 0o644);
    const r = await asNobody(['apply', bad, '--agent-socket', sock]);
    expect(r.code).not.toBe(0);
    expect((await ip(['-n', lab.client, 'mptcp', 'limits', 'show'])).stdout).toBe(before);
  });
});
