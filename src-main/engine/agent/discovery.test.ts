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
  agentSocketPath,
  DEFAULT_AGENT_SOCKET,
  probeAgent,
  processHasNetAdmin,
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
      // The agent reads each client's credentials from /proc before it answers: on a loaded
      // machine that alone has taken more than 500 ms.
      probeTimeoutMs: 2000,
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
      const b = new DiscoveringBackend(fakeBackend(), {
        watchIntervalMs: 0,
        quiet: true,
        env: { PATH: dir, MPTCP_STUDIO_AGENT_LAUNCHER: '/nonexistent/launcher' },
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
});
