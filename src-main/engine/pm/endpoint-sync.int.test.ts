/**
 * In-kernel fullmesh end to end: the built CLI (`mptcp-studio pm --manager kernel --netns`) keeps
 * the client namespace's endpoints in step with its interfaces, and real MPTCP traffic shows the
 * in-kernel PM using them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConnectionsSnapshotSchema, type ConnectionsSnapshot } from '../../../shared/types';
import { Lab, ip, labUnavailableReason, nsRun, run } from '../../lab/lab';

const CLI = 'bin/mptcp-studio.mjs';

interface PmProc {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stop(): Promise<number | null>;
}

const all: PmProc[] = [];

async function startPm(ns: string, args: string[]): Promise<PmProc> {
  const child = spawn(
    process.execPath,
    [CLI, 'pm', '--mode', 'fullmesh', '--manager', 'kernel', '--json', '--netns', ns, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = (): Promise<number | null> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', (code) => {
        clearTimeout(t);
        resolve(code);
      });
      child.kill('SIGTERM');
    });
  const proc = { child, lines, stop };
  all.push(proc);
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      const e = JSON.parse(l) as Record<string, unknown>;
      lines.push(e);
      if (e.what === 'started') resolve();
      if (e.what === 'start' && e.result === 'error') reject(new Error(String(e.message)));
    });
    child.once('exit', (code) => reject(new Error(`pm exited (${code}) before starting: ${stderr}`)));
  });
  return proc;
}

/** `ip -j mptcp endpoint show` (iproute2 6.1): each flag is a boolean key, e.g. "subflow": true. */
interface IpEndpoint {
  address: string;
  id: number;
  dev?: string;
  signal?: boolean;
  subflow?: boolean;
  backup?: boolean;
  fullmesh?: boolean;
}

async function endpoints(ns: string): Promise<IpEndpoint[]> {
  const { stdout } = await ip(['-n', ns, '-j', 'mptcp', 'endpoint', 'show']);
  return stdout.trim() ? (JSON.parse(stdout) as IpEndpoint[]) : [];
}
const addrs = (eps: IpEndpoint[]): string[] => eps.map((e) => e.address).sort();

/** Established TCP sockets to the server port in `ns`: the subflows, as `ss` sees them. */
async function ssSubflows(ns: string, port: number): Promise<{ local: string; remote: string }[]> {
  const { stdout } = await nsRun(ns, 'ss', ['-tinH']);
  const out: { local: string; remote: string }[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^ESTAB\s+\d+\s+\d+\s+(\S+)\s+(\S+)/.exec(line);
    if (m?.[1] && m[2] && m[2].endsWith(`:${port}`)) out.push({ local: m[1], remote: m[2] });
  }
  return out;
}
/** `ss` prints a device-bound socket as addr%dev:port (the endpoint's dev binds the subflow). */
const localIp = (s: { local: string }): string => s.local.replace(/(%[^:]+)?:\d+$/, '');

async function engineConnections(ns: string): Promise<ConnectionsSnapshot> {
  const { stdout } = await run(process.execPath, [CLI, 'connections', '--json', '--netns', ns]);
  return ConnectionsSnapshotSchema.parse(JSON.parse(stdout));
}
const establishedLocals = (c: ConnectionsSnapshot['connections'][number]): string[] =>
  c.subflows
    .filter((f) => f.state === 'ESTABLISHED')
    .map((f) => f.localAddress)
    .sort();

const syncs = (pm: PmProc): Record<string, unknown>[] => pm.lines.filter((e) => e.what === 'endpoint-sync');
const detailOf = (e: Record<string, unknown> | undefined): Record<string, unknown> =>
  (e?.detail ?? {}) as Record<string, unknown>;

async function limits(ns: string): Promise<void> {
  await ip(['-n', ns, 'mptcp', 'limits', 'set', 'subflows', '8', 'add_addr_accepted', '8']);
}

describe.skipIf(labUnavailableReason() !== null)('mptcp-studio pm --manager kernel (endpoint sync)', () => {
  let lab: Lab | null = null;
  afterEach(async () => {
    await Promise.all(all.map((p) => p.stop()));
    await lab?.destroy();
    lab = null;
  });
  afterAll(async () => {
    // Never leave a path manager behind, whatever happened above.
    const left = all.splice(0);
    await Promise.all(left.map((p) => p.stop()));
    for (const p of left)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  });

  it('client with c0+c1: 2 subflows per connection; c1 down removes its endpoint and subflow; up restores both', async () => {
    lab = await Lab.create({ paths: 2, mptcp: 'none' });
    const cli = lab.client;
    await limits(lab.server);
    await limits(cli);
    const pm = await startPm(cli, []);
    const eps = await endpoints(cli);
    expect(addrs(eps)).toEqual(['10.99.1.1', '10.99.2.1']);
    for (const e of eps) expect(e).toMatchObject({ subflow: true, fullmesh: true });
    for (const e of eps) expect(e.signal ?? e.backup).toBeUndefined();
    expect(eps.find((e) => e.address === '10.99.2.1')?.dev).toBe('c1');
    expect(detailOf(syncs(pm)[0]).added).toHaveLength(2);

    // The server listens on 10.99.1.2 only and announces nothing: the second subflow is the
    // client's fullmesh endpoint on c1 joining the initial address.
    await lab.startServer(5201);
    await lab.openConnections(1, { rateBytesPerSec: 20_000 });
    const subs = await lab.waitFor(
      '2 subflows in ss',
      () => ssSubflows(cli, 5201),
      (s) => s.length === 2,
    );
    expect(subs.map(localIp).sort()).toEqual(['10.99.1.1', '10.99.2.1']);
    expect(subs.some((x) => x.local.startsWith('10.99.2.1%c1:'))).toBe(true);
    const first = (await engineConnections(cli)).connections;
    expect(first).toHaveLength(1);
    const oldToken = first[0]!.token;

    // c1 down: the address stays (IPv4 keeps it on a down link) but the link is not usable, so
    // the endpoint goes. The kernel alone keeps the c1 subflow ESTABLISHED over the down link (seen
    // for 3 s and more); deleting the endpoint makes it close the subflows using it (a FIN that
    // cannot leave: FIN-WAIT-1 until the link returns), the connection carries on over c0.
    await ip(['-n', cli, 'link', 'set', 'c1', 'down']);
    await lab.waitFor(
      'endpoint 10.99.2.1 removed',
      () => endpoints(cli),
      (e) => addrs(e).join() === '10.99.1.1',
    );
    await lab.waitFor(
      'the c1 subflow closed, the c0 one kept',
      () => ssSubflows(cli, 5201),
      (s) => s.length === 1 && s.every((x) => localIp(x) === '10.99.1.1'),
    );
    const removal = syncs(pm).find((e) =>
      (detailOf(e).removed as string[]).some((r) => r.startsWith('10.99.2.1')),
    );
    expect(removal).toMatchObject({ result: 'ok' });
    const conn = (await engineConnections(cli)).connections.find((c) => c.token === oldToken);
    expect(conn && establishedLocals(conn)).toEqual(['10.99.1.1']);

    // Back up: the endpoint returns (re-add the address if the kernel dropped it) and a new
    // connection gets its 2 subflows again.
    await ip(['-n', cli, 'link', 'set', 'c1', 'up']);
    const { stdout } = await ip(['-n', cli, '-j', 'addr', 'show', 'dev', 'c1']);
    if (!stdout.includes('10.99.2.1')) await ip(['-n', cli, 'addr', 'add', '10.99.2.1/24', 'dev', 'c1']);
    await lab.waitFor(
      'endpoint 10.99.2.1 back',
      () => endpoints(cli),
      (e) => addrs(e).join() === '10.99.1.1,10.99.2.1',
    );
    // Re-adding a subflow endpoint also makes the kernel open a subflow from it on the connections
    // that already exist: the old one gets its c1 subflow back.
    await lab.waitFor(
      'the old connection back to 2 established subflows',
      () => engineConnections(cli),
      (s) => s.connections.some((c) => c.token === oldToken && establishedLocals(c).length === 2),
    );
    await lab.openConnections(1, { rateBytesPerSec: 20_000 });
    const after = await lab.waitFor(
      'the new connection has 2 established subflows',
      () => engineConnections(cli),
      (s) => s.connections.some((c) => c.token !== oldToken && establishedLocals(c).length === 2),
    );
    const fresh = after.connections.find((c) => c.token !== oldToken)!;
    expect(establishedLocals(fresh)).toEqual(['10.99.1.1', '10.99.2.1']);

    // Stop without --cleanup: the endpoints stay as they are.
    expect(await pm.stop()).toBe(0);
    expect(pm.lines.at(-1)).toMatchObject({ what: 'stopped', detail: { endpoints: 'left in place' } });
    expect(addrs(await endpoints(cli))).toEqual(['10.99.1.1', '10.99.2.1']);
  });

  it('leaves foreign endpoints alone across syncs; follows address add/delete; --cleanup removes only what it added', async () => {
    lab = await Lab.create({ paths: 2, mptcp: 'none' });
    const cli = lab.client;
    await limits(cli);
    // Foreign: one on c1 (not matched by --match c0), one for an address no interface has.
    await ip(['-n', cli, 'mptcp', 'endpoint', 'add', '10.99.2.1', 'dev', 'c1', 'id', '7', 'signal']);
    await ip(['-n', cli, 'mptcp', 'endpoint', 'add', '192.0.2.7', 'id', '9', 'subflow']);
    const foreign = (await endpoints(cli)).sort((a, b) => a.id - b.id);
    const foreignStill = async (): Promise<void> => {
      const now = (await endpoints(cli)).filter((e) => e.id === 7 || e.id === 9).sort((a, b) => a.id - b.id);
      expect(now).toEqual(foreign);
    };

    const pm = await startPm(cli, ['--match', 'c0', '--cleanup']);
    expect(addrs(await endpoints(cli))).toEqual(['10.99.1.1', '10.99.2.1', '192.0.2.7']);
    expect(detailOf(syncs(pm)[0]).foreignKept).toHaveLength(2);
    await foreignStill();

    // Three addresses on c0 in one burst → one sync (debounced) adds the three endpoints.
    const batch = (verb: string, list: string[]): Promise<unknown> =>
      run('ip', ['-n', cli, '-batch', '-'], {
        input: list.map((a) => `addr ${verb} ${a}/24 dev c0\n`).join(''),
      });
    const extra = ['10.99.1.11', '10.99.1.12', '10.99.1.13'];
    const n0 = syncs(pm).length;
    await batch('add', extra);
    await lab.waitFor(
      'endpoints for the 3 new addresses',
      () => endpoints(cli),
      (e) => extra.every((a) => e.some((x) => x.address === a)),
    );
    const adding = syncs(pm)
      .slice(n0)
      .filter((e) => (detailOf(e).added as string[]).length > 0);
    expect(adding).toHaveLength(1);
    expect((detailOf(adding[0]).added as string[]).map((a) => a.split(' ')[0]).sort()).toEqual(extra);
    await foreignStill();
    // Addresses deleted → their endpoints go.
    await batch('del', extra.slice(1));
    await lab.waitFor(
      'endpoints for 10.99.1.12 and .13 removed',
      () => endpoints(cli),
      (e) => addrs(e).join() === '10.99.1.1,10.99.1.11,10.99.2.1,192.0.2.7',
    );
    await foreignStill();

    // Events on the foreign interface cause syncs too; they must not touch its endpoint.
    const before = syncs(pm).length;
    await ip(['-n', cli, 'link', 'set', 'c1', 'down']);
    await lab.waitFor(
      'a sync after c1 down',
      () => Promise.resolve(syncs(pm).length),
      (n) => n > before,
    );
    await new Promise((r) => setTimeout(r, 300));
    await foreignStill();
    expect(syncs(pm).every((e) => e.result === 'ok')).toBe(true);

    // --cleanup: the endpoint it added goes on stop, the foreign ones stay.
    expect(await pm.stop()).toBe(0);
    expect(pm.lines.find((e) => e.what === 'endpoint-cleanup')).toMatchObject({ result: 'ok' });
    expect(addrs(await endpoints(cli))).toEqual(['10.99.2.1', '192.0.2.7']);
    await foreignStill();
  });

  it('rejects --manager kernel with ndiffports, and --match without --manager kernel', async () => {
    const r1 = await run(process.execPath, [CLI, 'pm', '--mode', 'ndiffports', '--manager', 'kernel']).catch(
      (e: Error) => e,
    );
    expect((r1 as Error).message).toMatch(/--manager kernel supports --mode fullmesh only/);
    const r2 = await run(process.execPath, [CLI, 'pm', '--mode', 'fullmesh', '--match', 'eth*']).catch(
      (e: Error) => e,
    );
    expect((r2 as Error).message).toMatch(/need --manager kernel/);
  });
});
