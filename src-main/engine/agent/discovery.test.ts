/**
 * Finding the privileged agent (discovery.ts) against what can be at its socket path: nothing, a
 * stale socket file, a regular file, a listener that never answers, one that speaks another
 * protocol, a slow agent, an agent without CAP_NET_ADMIN, and a real agent (serveAgentSocket over
 * a fake engine) that appears and goes away while a host uses the discovering backend.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KernelStatus } from '../../../shared/types';
import { fakeBackend, sampleStatus } from '../../testing/fake-backend';
import {
  DiscoveringBackend,
  agentLauncherPath,
  agentSocketPath,
  checkPolkit,
  DEFAULT_AGENT_SOCKET,
  probeAgent,
  processHasNetAdmin,
  untrustedLauncher,
} from './discovery';
import { serveAgentSocket } from './server';

let dir: string;
let path: string;
const servers: Server[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mptcp-discovery-'));
  path = join(dir, 'agent.sock');
});

/** Close a server and every connection it accepted (close() alone waits for them to end). */
async function stop(server: Server): Promise<void> {
  const i = servers.indexOf(server);
  if (i >= 0) servers.splice(i, 1);
  for (const sock of (server as Server & { sockets?: Set<Socket> }).sockets ?? []) sock.destroy();
  await new Promise<void>((r) => server.close(() => r()));
}

function track(server: Server): Server {
  const sockets = new Set<Socket>();
  (server as Server & { sockets?: Set<Socket> }).sockets = sockets;
  server.on('connection', (sock: Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  servers.push(server);
  return server;
}

afterEach(async () => {
  for (const s of [...servers]) await stop(s);
  rmSync(dir, { recursive: true, force: true });
});

/** A listener that hands each connection to `onConnection` (a stand-in for whatever is at the path). */
async function listen(onConnection: (sock: Socket) => void): Promise<Server> {
  const server = createServer((sock) => {
    sock.on('error', () => undefined);
    onConnection(sock);
  });
  track(server);
  await new Promise<void>((r) => server.listen(path, () => r()));
  return server;
}

/** A real agent (the line protocol of server.ts) over a fake engine. */
async function agent(status: KernelStatus = { ...sampleStatus, netns: 'agent' }): Promise<Server> {
  const server = await serveAgentSocket(fakeBackend({ 'mptcp:status:get': () => Promise.resolve(status) }), {
    path,
  });
  return track(server);
}

const timed = async <T>(p: Promise<T>): Promise<{ value: T; ms: number }> => {
  const t0 = Date.now();
  const value = await p;
  return { value, ms: Date.now() - t0 };
};

describe('probeAgent', () => {
  it('says there is no agent when the path does not exist', async () => {
    const r = await probeAgent(path);
    expect(r).toEqual({ ok: false, kind: 'absent', reason: `no agent at ${path}` });
  });

  it('does not take a regular file for an agent', async () => {
    writeFileSync(path, 'not a socket');
    const r = await probeAgent(path);
    expect(r.ok ? null : r.kind).toBe('not-socket');
  });

  it('reports a stale socket file (nobody listens) at once', async () => {
    // A process that bound the socket and was killed leaves the file behind (libuv unlinks it only
    // on a clean close).
    const child = spawnSync(process.execPath, [
      '-e',
      "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))",
      path,
    ]);
    expect(child.signal).toBe('SIGKILL');
    expect(existsSync(path)).toBe(true);
    const { value, ms } = await timed(probeAgent(path, { timeoutMs: 5000 }));
    expect(value.ok ? null : value.kind).toBe('refused');
    expect(value.ok ? '' : value.reason).toContain('stale socket file');
    expect(ms).toBeLessThan(2000);
  });

  it('gives up on a listener that never answers after the timeout', async () => {
    await listen(() => undefined);
    const { value, ms } = await timed(probeAgent(path, { timeoutMs: 300, checkNetns: false }));
    expect(value.ok ? null : value.kind).toBe('timeout');
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(2000);
  });

  it('refuses a listener that speaks another protocol', async () => {
    await listen((sock) => sock.write('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const r = await probeAgent(path, { timeoutMs: 2000, checkNetns: false });
    expect(r.ok ? null : r.kind).toBe('garbage');
    expect(r.ok ? '' : r.reason).toContain('does not speak the agent protocol');
  });

  it('refuses a listener that answers with JSON of another shape, or an endless line', async () => {
    await listen((sock) => sock.write('{"t":"result","id":1,"result":{"ok":true,"value":{"hello":1}}}\n'));
    const shaped = await probeAgent(path, { timeoutMs: 2000, checkNetns: false });
    expect(shaped.ok ? null : shaped.kind).toBe('garbage');
    for (const s of [...servers]) await stop(s);

    await listen((sock) => {
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      for (let i = 0; i < 32; i++) sock.write(chunk); // 2 MiB without a newline
    });
    const { value, ms } = await timed(probeAgent(path, { timeoutMs: 5000, checkNetns: false }));
    expect(value.ok ? null : value.kind).toBe('garbage');
    expect(ms).toBeLessThan(5000);
  });

  it('refuses a listener that closes without answering', async () => {
    await listen((sock) => sock.end());
    const r = await probeAgent(path, { timeoutMs: 2000, checkNetns: false });
    expect(r.ok ? null : r.kind).toBe('garbage');
  });

  it('waits for a slow agent up to the timeout, not beyond', async () => {
    const line = `${JSON.stringify({ t: 'result', id: 1, result: { ok: true, value: sampleStatus } })}\n`;
    await listen((sock) => {
      // An event first (agents may send them before the answer), the answer after 600 ms.
      sock.write(
        `${JSON.stringify({ t: 'event', name: 'mptcp:engine:error', payload: { source: 'x', code: 'y', message: 'z' } })}\n`,
      );
      setTimeout(() => sock.write(line), 600);
    });
    const short = await probeAgent(path, { timeoutMs: 200, checkNetns: false });
    expect(short.ok ? null : short.kind).toBe('timeout');
    const long = await probeAgent(path, { timeoutMs: 3000, checkNetns: false });
    expect(long.ok).toBe(true);
  });

  it('finds a real agent, in this network namespace', async () => {
    await agent();
    const r = await probeAgent(path);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.status.netns).toBe('agent');
  });

  it.skipIf(process.geteuid?.() !== 0)(
    'refuses a listener another user opened, a socket file it owns, or one in a directory others can write',
    async () => {
      // A well-formed answer with CAP_NET_ADMIN: only who is behind the socket tells it apart.
      const line = `${JSON.stringify({ t: 'result', id: 1, result: { ok: true, value: sampleStatus } })}\n`;
      const nobodyDir = mkdtempSync(join(tmpdir(), 'mptcp-discovery-nobody-'));
      chownSync(nobodyDir, 65534, 65534);
      const planted = join(nobodyDir, 'agent.sock');
      const child = spawn(
        process.execPath,
        [
          '-e',
          "require('net').createServer((s) => { s.on('error', () => {}); s.on('data', () => s.write(process.argv[2])); })" +
            ".listen(process.argv[1], () => console.log('ready'))",
          planted,
          line,
        ],
        { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', () => resolve());
          child.once('exit', (code) => reject(new Error(`the listener exited (${code})`)));
        });
        // At its own path: the file is nobody's.
        const own = await probeAgent(planted);
        expect(own.ok ? null : own.kind).toBe('foreign-owner');
        expect(own.ok ? '' : own.reason).toContain('uid 65534');

        // Moved into a root-only directory and given to root: the listener is still nobody's.
        renameSync(planted, path);
        chownSync(path, 0, 0);
        const moved = await probeAgent(path);
        expect(moved.ok ? null : moved.kind).toBe('foreign-owner');
        expect(moved.ok ? '' : moved.reason).toContain('opened by uid 65534');
      } finally {
        child.kill('SIGKILL');
        rmSync(nobodyDir, { recursive: true, force: true });
      }

      // Root's own agent, but in a directory every user can write (not sticky): refused too.
      const open = join(dir, 'open');
      mkdirSync(open);
      chmodSync(open, 0o777);
      path = join(open, 'agent.sock');
      await agent();
      const r = await probeAgent(path);
      expect(r.ok ? null : r.kind).toBe('foreign-owner');
      expect(r.ok ? '' : r.reason).toContain('writable by others');
      // Reached through root's symlink (as /var/run is /run): the real directories decide.
      chmodSync(open, 0o755);
      symlinkSync(open, join(dir, 'link'));
      const linked = await probeAgent(join(dir, 'link', 'agent.sock'));
      expect(linked.ok ? null : linked.reason).toBeNull();
      chmodSync(open, 0o777);
      const linkedOpen = await probeAgent(join(dir, 'link', 'agent.sock'));
      expect(linkedOpen.ok ? '' : linkedOpen.reason).toContain(`${open} is writable by others`);
    },
  );

  it('does not use an agent without CAP_NET_ADMIN', async () => {
    await agent({ ...sampleStatus, privileges: { netAdmin: false, note: 'no' } });
    const r = await probeAgent(path);
    expect(r.ok ? null : r.kind).toBe('unprivileged');
  });
});

describe('agentSocketPath / processHasNetAdmin', () => {
  it('defaults to the shipped path; the env override must be absolute', () => {
    expect(agentSocketPath({})).toBe('/run/mptcp-studio/agent.sock');
    expect(DEFAULT_AGENT_SOCKET).toBe('/run/mptcp-studio/agent.sock');
    expect(agentSocketPath({ MPTCP_STUDIO_AGENT_SOCKET: '/tmp/x/agent.sock' })).toBe('/tmp/x/agent.sock');
    expect(agentSocketPath({ MPTCP_STUDIO_AGENT_SOCKET: 'relative.sock' })).toBe(DEFAULT_AGENT_SOCKET);
  });

  it('reads CAP_NET_ADMIN (bit 12) from CapEff', () => {
    expect(processHasNetAdmin('CapEff:\t0000000000001000\n')).toBe(true);
    expect(processHasNetAdmin('CapEff:\t0000000000000000\n')).toBe(false);
    expect(processHasNetAdmin('CapEff:\t000001ffffffefff\n')).toBe(false);
  });
});

describe('DiscoveringBackend', () => {
  it('reads through the local engine until an agent answers, then writes through it, and falls back when it goes', async () => {
    const local = fakeBackend({
      'mptcp:status:get': () =>
        Promise.resolve({ ...sampleStatus, netns: 'local', privileges: { netAdmin: false, note: 'ro' } }),
    });
    const logs: string[] = [];
    const b = new DiscoveringBackend(local, {
      socketPath: path,
      watchIntervalMs: 50,
      probeTimeoutMs: 500,
      log: (l) => logs.push(l),
    });
    try {
      expect((await b.handlers['mptcp:status:get']({})).netns).toBe('local');
      const before = await b.access();
      expect(before.mode).toBe('read-only');
      expect(before.reason).toBe(`no agent at ${path}`);
      expect(before.setup.commands.at(-1)).toBe('sudo systemctl enable --now mptcp-studio-agent');
      expect(logs).toEqual([`read-only: no agent at ${path}`]);

      // The agent appears later: the watch (one lstat per interval) notices the new file.
      const server = await agent();
      await expect.poll(() => b.usingAgent(), { timeout: 5000 }).toBe(true);
      expect((await b.handlers['mptcp:status:get']({})).netns).toBe('agent');
      await b.handlers['mptcp:config:apply']({ config: {}, confirmWithinS: null, allowDisruption: false });
      expect(local.calls).not.toContain('mptcp:config:apply');
      expect((await b.access()).mode).toBe('agent');
      expect(logs.at(-1)).toBe(`writing through the privileged agent at ${path}`);

      // The agent stops: the dropped connection makes it look again, and it is read-only again.
      await stop(server);
      await expect.poll(() => b.usingAgent(), { timeout: 5000 }).toBe(false);
      expect((await b.handlers['mptcp:status:get']({})).netns).toBe('local');
      expect((await b.access({ recheck: true })).mode).toBe('read-only');
    } finally {
      await b.close();
    }
  });

  it('answers kernel calls after a stale socket or a silent listener without hanging', async () => {
    await listen(() => undefined);
    const local = fakeBackend();
    const b = new DiscoveringBackend(local, { socketPath: path, watchIntervalMs: 0, probeTimeoutMs: 300 });
    try {
      const { ms } = await timed(b.handlers['mptcp:status:get']({}));
      expect(ms).toBeLessThan(2000);
      const a = await b.access();
      expect(a.mode).toBe('read-only');
      expect(a.reason).toContain('did not answer a status call within 300 ms');
    } finally {
      await b.close();
    }
  });

  it.skipIf(process.geteuid?.() !== 0 || existsSync(DEFAULT_AGENT_SOCKET))(
    'does not ask polkit again right after the administrator refused',
    async () => {
      // A stand-in pkexec (setuid root, as checkPolkit wants) that counts its runs and refuses,
      // and a dbus-send that says polkitd answers.
      const runs = join(dir, 'runs');
      const pkexec = join(dir, 'pkexec');
      writeFileSync(pkexec, `#!/bin/sh\necho run >>${runs}\necho 'Not authorized.' >&2\nexit 126\n`);
      chmodSync(pkexec, 0o4755);
      writeFileSync(join(dir, 'dbus-send'), '#!/bin/sh\nexit 0\n');
      chmodSync(join(dir, 'dbus-send'), 0o755);
      // A launcher only root can change (the stand-in pkexec never runs it).
      const launcher = join(dir, 'launcher');
      writeFileSync(launcher, '#!/bin/sh\nexit 1\n');
      chmodSync(launcher, 0o755);
      const b = new DiscoveringBackend(fakeBackend(), {
        watchIntervalMs: 0,
        quiet: true,
        env: { PATH: dir, MPTCP_STUDIO_AGENT_LAUNCHER: launcher },
      });
      try {
        expect(b.socketPath).toBe(DEFAULT_AGENT_SOCKET);
        await expect(b.startAgent()).rejects.toThrow(/Not authorized/);
        // A client calling again at once (a loop, or a second browser tab) gets no new dialog.
        await expect(b.startAgent()).rejects.toThrow(/try again in \d+ s/);
        await expect(b.startAgent()).rejects.toThrow(/try again in \d+ s/);
        expect(readFileSync(runs, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
      } finally {
        await b.close();
      }
    },
  );

  it('refuses to start an agent through pkexec for another socket path than the launcher uses', async () => {
    const b = new DiscoveringBackend(fakeBackend(), {
      socketPath: path,
      watchIntervalMs: 0,
      // No pkexec on this PATH: the check says so before anything runs.
      env: { PATH: dir },
    });
    try {
      const a = await b.access();
      expect(a.polkit.available).toBe(false);
      expect(a.polkit.reason).toContain('pkexec is not installed');
      await expect(b.startAgent()).rejects.toThrow(/pkexec is not installed/);
    } finally {
      await b.close();
    }
  });

  it('does not hand pkexec a launcher that someone other than root could change', async () => {
    // A stand-in pkexec and dbus-send, so that the launcher is the only thing refused.
    const bin = join(dir, 'bin');
    mkdirSync(bin, { mode: 0o755 });
    writeFileSync(join(bin, 'pkexec'), '#!/bin/sh\nexit 126\n');
    chmodSync(join(bin, 'pkexec'), 0o4755);
    writeFileSync(join(bin, 'dbus-send'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(bin, 'dbus-send'), 0o755);
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777); // any local user may replace what is in it
    const launcher = join(shared, 'launcher');
    writeFileSync(launcher, '#!/bin/sh\nexit 0\n');
    chmodSync(launcher, 0o755);
    expect(untrustedLauncher(launcher)).toMatch(/writable by others than root|not root/);
    const env = { PATH: bin, MPTCP_STUDIO_AGENT_LAUNCHER: launcher };
    expect(agentLauncherPath(env)).toBeNull();
    const polkit = await checkPolkit(env);
    expect(polkit.launcher).toBeNull();
    expect(polkit.available).toBe(false);
    if (process.geteuid?.() === 0) {
      // As root the stand-in pkexec counts as setuid root: the launcher is what is refused.
      expect(polkit.reason).toContain(`the agent launcher ${launcher} is not used`);
      // A group-writable launcher in a root-only directory is refused as well.
      const own = join(dir, 'own');
      mkdirSync(own, { mode: 0o755 });
      writeFileSync(join(own, 'launcher'), '#!/bin/sh\nexit 0\n');
      chmodSync(join(own, 'launcher'), 0o775);
      expect(untrustedLauncher(join(own, 'launcher'))).toContain('writable by others than root');
      // Owned by another user: refused.
      chmodSync(join(own, 'launcher'), 0o755);
      chownSync(join(own, 'launcher'), 65534, 65534);
      expect(untrustedLauncher(join(own, 'launcher'))).toContain('belongs to uid 65534');
      // Root's, in root's directories (the sticky /tmp above included): used.
      chownSync(join(own, 'launcher'), 0, 0);
      expect(untrustedLauncher(join(own, 'launcher'))).toBeNull();
      expect(agentLauncherPath({ MPTCP_STUDIO_AGENT_LAUNCHER: join(own, 'launcher') })).toBe(
        join(own, 'launcher'),
      );
    }
  });

  it.skipIf(process.geteuid?.() !== 0)(
    'asks the system bus for polkit once per little while, and never twice at once',
    async () => {
      const runs = join(dir, 'pings');
      writeFileSync(join(dir, 'pkexec'), '#!/bin/sh\nexit 126\n');
      chmodSync(join(dir, 'pkexec'), 0o4755);
      // A dbus-send that counts its runs and answers after 200 ms.
      writeFileSync(join(dir, 'dbus-send'), `#!/bin/sh\necho ping >>${runs}\nsleep 0.2\nexit 0\n`);
      chmodSync(join(dir, 'dbus-send'), 0o755);
      const launcher = join(dir, 'launcher');
      writeFileSync(launcher, '#!/bin/sh\nexit 1\n');
      chmodSync(launcher, 0o755);
      const env = { PATH: dir, MPTCP_STUDIO_AGENT_LAUNCHER: launcher };
      const pings = (): number =>
        existsSync(runs) ? readFileSync(runs, 'utf8').split('\n').filter(Boolean).length : 0;
      // Twenty status calls at once (twenty browser tabs), then more: one dbus-send.
      const answers = await Promise.all(Array.from({ length: 20 }, () => checkPolkit(env)));
      expect(answers.every((a) => a.available)).toBe(true);
      await checkPolkit(env);
      expect(pings()).toBe(1);
      // "Check again" asks anew (once an answer is more than a second old), again only once.
      await new Promise((r) => setTimeout(r, 1100));
      await Promise.all([checkPolkit(env, { fresh: true }), checkPolkit(env, { fresh: true })]);
      expect(pings()).toBe(2);
    },
  );

  it.skipIf(process.geteuid?.() !== 0 || existsSync(DEFAULT_AGENT_SOCKET))(
    'waits for the agent when pkexec returns 0 (systemd-run took it), and says so when none comes',
    async () => {
      writeFileSync(join(dir, 'pkexec'), '#!/bin/sh\nexit 0\n');
      chmodSync(join(dir, 'pkexec'), 0o4755);
      writeFileSync(join(dir, 'dbus-send'), '#!/bin/sh\nexit 0\n');
      chmodSync(join(dir, 'dbus-send'), 0o755);
      const launcher = join(dir, 'launcher');
      writeFileSync(launcher, '#!/bin/sh\nexit 1\n');
      chmodSync(launcher, 0o755);
      const b = new DiscoveringBackend(fakeBackend(), {
        watchIntervalMs: 0,
        quiet: true,
        startedListenWithinMs: 600,
        env: { PATH: dir, MPTCP_STUDIO_AGENT_LAUNCHER: launcher },
      });
      try {
        // Not "refused": the launcher succeeded, the agent just never listened.
        await expect(b.startAgent()).rejects.toThrow(/the launcher started the agent, but nothing answered/);
      } finally {
        await b.close();
      }
    },
  );
});
