/**
 * The GUI does not run as root: writes go through the privileged agent on a Unix socket. Here the
 * agent runs as root inside a lab namespace and the CLI runs as `nobody` with no capabilities.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip, Lab, labUnavailableReason } from '../lab/lab';

const NOBODY = '65534';

/** Run the CLI as uid/gid 65534 with every capability dropped. */
function asNobody(args: string[], gid = NOBODY): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'setpriv',
      [
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

  beforeAll(async () => {
    chmodSync(dir, 0o755);
    lab = await Lab.create({ paths: 2, mptcp: 'none' });
    agent = spawn(
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
    agent?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
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
    await new Promise((r) => setTimeout(r, 100));
    expect(log).toMatch(/"method":"mptcp:config:apply"/);
    expect(log).toMatch(/"subflows":5/);
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
