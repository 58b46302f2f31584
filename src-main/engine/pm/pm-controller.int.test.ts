/**
 * The path manager as the app runs it: inside the engine agent of a lab namespace (the same
 * `mptcp-studio agent` process the UI talks to), driven by 'mptcp:pm:start' / 'stop' over the
 * agent's stdio protocol. Covers what only a real kernel can show:
 * - kill -9 of the engine: the kernel keeps the connection and its subflows; a new engine rebuilds
 *   from the kernel (adopts the connection, creates no duplicate subflow, keeps acting on new
 *   announcements and new connections) and restores the path_manager the first run found;
 * - the in-kernel endpoint sync rebuilt from the endpoints a killed run left;
 * - IPv6: userspace fullmesh over two IPv6 paths.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { methods, type MethodArgs, type MethodName, type MethodResult } from '../../../shared/contract';
import { PmActionSchema, type PmAction } from '../../../shared/pm';
import type { ConnectionsSnapshot } from '../../../shared/types';
import { Lab, ip, labUnavailableReason, nsRun } from '../../lab/lab';

const CLI = 'bin/mptcp-studio.mjs';
const BUNDLE = 'out/node/mptcp-studio.mjs';

/** An engine agent in `ns`, spoken to as the host does (one JSON line per call). */
class Agent {
  readonly child: ChildProcess;
  readonly actions: PmAction[] = [];
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { method: MethodName; resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private stderr = '';

  constructor(readonly ns: string) {
    // `ip netns exec` execs the command: child.pid is the engine's own pid (what kill -9 hits).
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, BUNDLE, 'agent', '--label', ns], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as {
        t: string;
        id?: number;
        name?: string;
        payload?: unknown;
        result?: { ok: boolean; value?: unknown; error?: { message: string } };
      };
      if (msg.t === 'event' && msg.name === 'mptcp:pm:action') {
        this.actions.push(PmActionSchema.parse(msg.payload));
        return;
      }
      if (msg.t !== 'result' || msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.result?.ok) p.resolve(methods[p.method].result.parse(msg.result.value));
      else p.reject(new Error(`${p.method}: ${msg.result?.error?.message ?? 'failed'}`));
    });
    this.child.once('exit', (code, signal) => {
      for (const p of this.pending.values())
        p.reject(new Error(`agent exited (${signal ?? code}): ${this.stderr}`));
      this.pending.clear();
    });
  }

  call<M extends MethodName>(method: M, args: MethodArgs<M>): Promise<MethodResult<M>> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ t: 'call', id, method, args })}\n`);
    });
  }

  /** kill -9: no handler runs, nothing is restored. */
  kill9(): Promise<NodeJS.Signals | null> {
    return new Promise((resolve) => {
      this.child.once('exit', (_code, signal) => resolve(signal));
      this.child.kill('SIGKILL');
    });
  }

  /** The host going away: stdin closes and the agent shuts its engine down. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      this.child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      this.child.stdin!.end();
    });
  }
}

/** The seed's server side: the CLI's userspace PM announcing the server's addresses. */
function startServerPm(ns: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [CLI, 'pm', '--json', '--netns', ns, '--mode', 'fullmesh', '--role', 'server'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      if ((JSON.parse(l) as { what?: string }).what === 'started') resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`server pm exited (${code})`)));
  });
}

const pathManager = async (ns: string): Promise<string> =>
  (await nsRun(ns, 'sysctl', ['-n', 'net.mptcp.path_manager'])).stdout.trim();

/** Established TCP subflows to `port` as `ss -tiM` lists them in `ns` (no engine involved). */
async function ssSubflows(ns: string, port: number): Promise<string[]> {
  const { stdout } = await nsRun(ns, 'ss', ['-tinH', 'state', 'established']);
  const out: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*\d+\s+\d+\s+(\S+)\s+(\S+)/.exec(line);
    if (m?.[1] && m[2]?.endsWith(`:${port}`)) out.push(`${m[1]}>${m[2]}`);
  }
  return out.sort();
}

/** MPTCP sockets (`ss -M`): the connection itself outlives the engine too. */
async function ssMptcp(ns: string): Promise<number> {
  const { stdout } = await nsRun(ns, 'ss', ['-MHn', 'state', 'established']);
  return stdout.split('\n').filter((l) => l.trim() !== '').length;
}

const pairs = (s: ConnectionsSnapshot, token: number): string[] =>
  (s.connections.find((c) => c.token === token)?.subflows ?? [])
    .filter((f) => f.state === 'ESTABLISHED')
    .map((f) => `${f.localAddress}>${f.remoteAddress}`)
    .sort();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(labUnavailableReason() !== null)('the engine as path manager (in the engine agent)', () => {
  let lab: Lab | null = null;
  const agents: Agent[] = [];
  const procs: ChildProcess[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.close()));
    for (const p of procs.splice(0)) p.kill('SIGTERM');
    await lab?.destroy();
    lab = null;
  });
  const agent = (ns: string): Agent => {
    const a = new Agent(ns);
    agents.push(a);
    return a;
  };

  it('userspace fullmesh: kill -9 keeps the subflows; a restarted engine adopts the connection from the kernel, duplicates nothing, follows a new announcement and a new connection, and restores the original path_manager', async () => {
    lab = await Lab.create({ paths: 2, mptcp: 'none' });
    const c = lab.client;
    procs.push(await startServerPm(lab.server));
    expect(await pathManager(c)).toBe('kernel');

    const first = agent(c);
    const started = await first.call('mptcp:pm:start', {
      mode: 'fullmesh',
      role: 'client',
      manager: 'userspace',
    });
    expect(started).toMatchObject({
      running: true,
      manager: 'userspace',
      previousPathManager: 'kernel',
      recovered: false,
    });
    expect(await pathManager(c)).toBe('userspace');

    await lab.startServer(5201);
    await lab.openConnections(1, { rateBytesPerSec: 20_000 });
    const full = ['10.99.1.1>10.99.1.2', '10.99.1.1>10.99.2.2', '10.99.2.1>10.99.1.2', '10.99.2.1>10.99.2.2'];
    const snap = await lab.waitFor(
      '2x2 subflows',
      () => first.call('mptcp:connections:list', {}),
      (s) => s.connections.length === 1 && pairs(s, s.connections[0]!.token).length === 4,
    );
    const token = snap.connections[0]!.token;
    expect(pairs(snap, token)).toEqual(full);
    const created = first.actions.filter(
      (a) => a.action === 'subflow-create' && a.result === 'ok' && a.token === token,
    );
    expect(created).toHaveLength(3);
    expect(created.every((a) => a.local !== null && a.remote !== null && a.remotePort === 5201)).toBe(true);

    // kill -9: no shutdown code runs.
    const viaSs = await ssSubflows(c, 5201);
    expect(await first.kill9()).toBe('SIGKILL');
    await sleep(1000);
    expect(await ssSubflows(c, 5201)).toEqual(viaSs);
    expect(viaSs).toHaveLength(4);
    expect(await ssMptcp(c)).toBe(1);
    expect(await pathManager(c)).toBe('userspace'); // nobody restored it

    // Restart: state from the kernel, path_manager to restore from the state file.
    const second = agent(c);
    expect((await second.call('mptcp:pm:status', {})).orphan).toMatchObject({
      mode: 'fullmesh',
      role: 'client',
      manager: 'userspace',
      previousPathManager: 'kernel',
    });
    const again = await second.call('mptcp:pm:start', {
      mode: 'fullmesh',
      role: 'client',
      manager: 'userspace',
    });
    expect(again).toMatchObject({
      running: true,
      previousPathManager: 'kernel',
      recovered: true,
      connections: 1,
    });
    const adopt = second.actions.find((a) => a.action === 'adopt' && a.token === token);
    expect(adopt?.detail.subflows).toBe('4');
    await sleep(1500);
    expect(pairs(await second.call('mptcp:connections:list', {}), token)).toEqual(full);
    expect(second.actions.filter((a) => a.action === 'subflow-create' && a.token === token)).toHaveLength(0);

    // A new announcement on the adopted connection: the server gains 10.99.2.3 and announces it.
    await ip(['-n', lab.server, 'addr', 'add', '10.99.2.3/24', 'dev', 's1']);
    const withNew = [...full, '10.99.1.1>10.99.2.3', '10.99.2.1>10.99.2.3'].sort();
    await lab.waitFor(
      'subflows to the announced 10.99.2.3 on the adopted connection',
      () => second.call('mptcp:connections:list', {}),
      (s) => JSON.stringify(pairs(s, token)) === JSON.stringify(withNew),
    );
    expect(
      second.actions.some(
        (a) => a.action === 'peer-announced' && a.token === token && a.remote === '10.99.2.3',
      ),
    ).toBe(true);

    // A new connection: full mesh from the start.
    await lab.openConnections(1, { rateBytesPerSec: 20_000 });
    const both = await lab.waitFor(
      'the new connection at 2x3',
      () => second.call('mptcp:connections:list', {}),
      (s) => s.connections.length === 2 && s.connections.every((x) => pairs(s, x.token).length === 6),
    );
    const fresh = both.connections.find((x) => x.token !== token)!;
    expect(pairs(both, fresh.token)).toEqual(withNew);

    // Stop: the value the first run found is back, not the `userspace` it left.
    const stopped = await second.call('mptcp:pm:stop', {});
    expect(stopped).toMatchObject({ running: false, pathManager: 'kernel' });
    expect(await pathManager(c)).toBe('kernel');
    expect(await ssSubflows(c, 5201)).toHaveLength(12);
  });

  it('in-kernel sync: endpoints outlive a kill -9; the restarted engine adopts them (same ids, nothing re-added) and keeps following addresses', async () => {
    lab = await Lab.create({ paths: 2, mptcp: 'none' });
    const c = lab.client;
    const endpoints = async (): Promise<string[]> => {
      const { stdout } = await ip(['-n', c, '-j', 'mptcp', 'endpoint', 'show']);
      return (JSON.parse(stdout || '[]') as { address: string; id: number }[])
        .map((e) => `${e.id}:${e.address}`)
        .sort();
    };
    const first = agent(c);
    const s1 = await first.call('mptcp:pm:start', { mode: 'fullmesh', role: 'client', manager: 'kernel' });
    expect(s1).toMatchObject({ running: true, manager: 'kernel', leftOut: [] });
    const before = await lab.waitFor('two endpoints', endpoints, (e) => e.length === 2);
    expect(before.map((e) => e.split(':').slice(1).join(':'))).toEqual(['10.99.1.1', '10.99.2.1']);

    expect(await first.kill9()).toBe('SIGKILL');
    await sleep(300);
    expect(await endpoints()).toEqual(before);

    const second = agent(c);
    await second.call('mptcp:pm:start', { mode: 'fullmesh', role: 'client', manager: 'kernel' });
    const sync = await lab.waitFor(
      'the first sync of the restarted engine',
      () => Promise.resolve(second.actions.find((a) => a.action === 'endpoint-sync')),
      (a) => a !== undefined,
    );
    expect(sync).toMatchObject({ result: 'ok' });
    // Nothing added, nothing removed: the kernel's endpoints are adopted as they are.
    expect(sync!.detail.added).toBeUndefined();
    expect(sync!.detail.removed).toBeUndefined();
    expect(await endpoints()).toEqual(before);

    // Still managed: an address leaving takes its endpoint along, a new one gets one.
    await ip(['-n', c, 'addr', 'del', '10.99.2.1/24', 'dev', 'c1']);
    await lab.waitFor(
      'the endpoint of 10.99.2.1 removed',
      endpoints,
      (e) => !e.some((x) => x.endsWith(':10.99.2.1')),
    );
    await ip(['-n', c, 'addr', 'add', '10.99.3.1/24', 'dev', 'c1']);
    const after = await lab.waitFor('an endpoint for 10.99.3.1', endpoints, (e) =>
      e.some((x) => x.endsWith(':10.99.3.1')),
    );
    expect(after).toContain(before.find((e) => e.endsWith(':10.99.1.1')));
    expect(after).toHaveLength(2);
    await second.call('mptcp:pm:stop', {});
    expect(await pathManager(c)).toBe('kernel');
  });

  it('IPv6: userspace fullmesh over two IPv6 paths gives 2x2 IPv6 subflows', async () => {
    lab = await Lab.create({ paths: 2, mptcp: 'none', ipv6: true });
    procs.push(await startServerPm(lab.server));
    const client = agent(lab.client);
    await client.call('mptcp:pm:start', { mode: 'fullmesh', role: 'client', manager: 'userspace' });
    await lab.startServer(5202, { ipv6: true });
    await lab.openConnections(1, { rateBytesPerSec: 20_000, ipv6: true, port: 5202 });
    const snap = await lab.waitFor(
      '2x2 IPv6 subflows',
      () => client.call('mptcp:connections:list', {}),
      (s) => s.connections.length === 1 && pairs(s, s.connections[0]!.token).length === 4,
    );
    const conn = snap.connections[0]!;
    expect(conn.family).toBe('inet6');
    expect(pairs(snap, conn.token)).toEqual([
      'fd99:1::1>fd99:1::2',
      'fd99:1::1>fd99:2::2',
      'fd99:2::1>fd99:1::2',
      'fd99:2::1>fd99:2::2',
    ]);
    expect(
      client.actions.some(
        (a) => a.action === 'subflow-create' && a.result === 'ok' && a.local === 'fd99:2::1',
      ),
    ).toBe(true);
    await client.call('mptcp:pm:stop', {});
    expect(await pathManager(lab.client)).toBe('kernel');
  });

  it('one path manager per namespace: the app refuses while a CLI `pm` runs there, and starts once it stopped', async () => {
    lab = await Lab.create({ paths: 1, mptcp: 'none' });
    const cli = spawn(
      process.execPath,
      [CLI, 'pm', '--json', '--netns', lab.client, '--mode', 'ndiffports'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    procs.push(cli);
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: cli.stdout }).on('line', (l) => {
        if ((JSON.parse(l) as { what?: string }).what === 'started') resolve();
      });
      cli.once('exit', (code) => reject(new Error(`pm exited (${code})`)));
    });
    const a = agent(lab.client);
    await expect(
      a.call('mptcp:pm:start', { mode: 'fullmesh', role: 'client', manager: 'userspace' }),
    ).rejects.toThrow(/another MPTCP Studio path manager \(pid \d+\) runs in this namespace/);
    expect(await pathManager(lab.client)).toBe('userspace');
    await new Promise<void>((resolve) => {
      cli.once('exit', () => resolve());
      cli.kill('SIGTERM');
    });
    expect(await pathManager(lab.client)).toBe('kernel');
    const s = await a.call('mptcp:pm:start', { mode: 'fullmesh', role: 'client', manager: 'userspace' });
    expect(s).toMatchObject({ running: true, previousPathManager: 'kernel', recovered: false });
    await a.call('mptcp:pm:stop', {});
    expect(await pathManager(lab.client)).toBe('kernel');
  });

  it('after a kill -9, a stop with nothing running puts back the path_manager the killed run found', async () => {
    lab = await Lab.create({ paths: 1, mptcp: 'none' });
    const first = agent(lab.client);
    await first.call('mptcp:pm:start', { mode: 'ndiffports', role: 'client', manager: 'userspace' });
    expect(await first.kill9()).toBe('SIGKILL');
    expect(await pathManager(lab.client)).toBe('userspace');
    const second = agent(lab.client);
    expect((await second.call('mptcp:pm:status', {})).orphan).toMatchObject({ mode: 'ndiffports' });
    const s = await second.call('mptcp:pm:stop', {});
    expect(s).toMatchObject({ running: false, orphan: null, pathManager: 'kernel' });
    expect(await pathManager(lab.client)).toBe('kernel');
    expect(second.actions.at(-1)).toMatchObject({ action: 'restored', result: 'ok' });
  });

  it('engine shutdown (its host goes away: stdin closes) stops the PM and restores path_manager; subflows stay', async () => {
    lab = await Lab.create({ paths: 1, mptcp: 'none' });
    await nsRun(lab.server, 'sysctl', ['-q', '-w', 'net.mptcp.path_manager=userspace']);
    const a = agent(lab.client);
    await a.call('mptcp:pm:start', { mode: 'ndiffports', role: 'client', manager: 'userspace', subflows: 3 });
    await lab.startServer(5201);
    await lab.openConnections(1, { rateBytesPerSec: 20_000 });
    await lab.waitFor(
      '3 subflows in ss',
      () => ssSubflows(lab!.client, 5201),
      (x) => x.length === 3,
    );
    await a.close();
    expect(a.child.exitCode).toBe(0);
    expect(await pathManager(lab.client)).toBe('kernel');
    expect(await ssSubflows(lab.client, 5201)).toHaveLength(3);
  });

  it('refuses bad start arguments with a clear sentence and changes nothing', async () => {
    lab = await Lab.create({ paths: 1, mptcp: 'none' });
    const a = agent(lab.client);
    await expect(
      a.call('mptcp:pm:start', { mode: 'ndiffports', role: 'client', manager: 'kernel' }),
    ).rejects.toThrow(/fullmesh only/);
    await expect(
      a.call('mptcp:pm:start', { mode: 'fullmesh', role: 'client', manager: 'userspace', subflows: 0 }),
    ).rejects.toThrow(/subflows/);
    expect(await pathManager(lab.client)).toBe('kernel');
    expect((await a.call('mptcp:pm:status', {})).running).toBe(false);
  });
});
