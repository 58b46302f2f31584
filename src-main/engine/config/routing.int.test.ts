/**
 * Source routing as configuration, against the real kernel in a lab (docs/configuration.md,
 * "Source routing"). The client has two uplinks through a router to one server address; its main
 * table knows only the first (the lab's own source rule for the second is removed, and the router
 * drops packets from the second address that arrive on the first uplink: rp_filter 1 on r0), so a
 * subflow from the second address works only with a source rule. Compared with `ip rule show`,
 * `ip route show table T`, `sysctl` and `ss -tinM`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MptcpConfig } from '../../../shared/config';
import type { ApplyReport, PlanView } from '../../../shared/config-api';
import { formatExport } from '../../../shared/export-formats';
import type { Result } from '../../../shared/result';
import { ip, Lab, labUnavailableReason, nsRun, waitFor, type LabProcess } from '../../lab/lab';
import { defaultAgentEntry, openEngine, type EngineService } from '../index';

const STATE_DIR = '/run/mptcp-studio';

function value<T>(r: Result<unknown>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value as T;
}

/** The routing state a plan may change, as the kernel's own tools print it. */
async function routingState(ns: string): Promise<string> {
  const parts = await Promise.all([
    ip(['-n', ns, 'rule', 'show']),
    ip(['-n', ns, '-6', 'rule', 'show']),
    // Every table (`show table 10000` fails while the table does not exist yet).
    ip(['-n', ns, '-4', 'route', 'show', 'table', 'all']),
    ip(['-n', ns, '-6', 'route', 'show', 'table', 'all']),
    nsRun(ns, 'sysctl', ['net.ipv4.conf.c0.rp_filter', 'net.ipv4.conf.c1.rp_filter']),
  ]);
  // The local table is the kernel's own (IPv6 link-local addresses join it as DAD completes).
  const own = (text: string): string =>
    text
      .split('\n')
      .filter((l) => !l.includes(' table local '))
      .join('\n');
  return parts.map((p) => own(p.stdout)).join('--\n');
}

/** Established MPTCP subflows in `ns` from `local`, with their bytes_acked (`ss -tinM`). */
async function subflowsFrom(ns: string, local: string): Promise<{ tuple: string; bytesAcked: number }[]> {
  const out = (await nsRun(ns, 'ss', ['-tinMH', 'state', 'established'])).stdout.split('\n');
  const list: { tuple: string; bytesAcked: number }[] = [];
  for (let i = 0; i < out.length; i++) {
    const head = out[i]!.trim().split(/\s+/);
    if (head[0] !== 'tcp') continue;
    // A subflow bound to its device prints as 10.99.2.1%c1:port.
    const [l, peer] = head.filter((w) => /:\d+$/.test(w)).map((w) => w.replace(/%[^:]+:/, ':'));
    const info = out[i + 1] ?? '';
    if (!l || !peer || !info.includes('tcp-ulp-mptcp') || !l.startsWith(`${local}:`)) continue;
    list.push({ tuple: `${l} ${peer}`, bytesAcked: Number(/bytes_acked:(\d+)/.exec(info)?.[1] ?? 0) });
  }
  return list;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const sourceRouted: MptcpConfig = {
  routing: {
    sourceRules: [{ address: '10.99.2.1', ifname: 'c1', gateway: '10.99.2.2' }],
    rpFilter: { c1: 2 },
  },
};

describe.skipIf(labUnavailableReason() !== null)('source routing in a lab', () => {
  let lab: Lab;
  let ns: string;
  const engines: EngineService[] = [];
  const procs: LabProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'mpst-routing-'));
  let oldState: string;
  let pendingOn: EngineService | null = null;

  const engine = (): EngineService => {
    const e = openEngine({ netns: ns });
    engines.push(e);
    return e;
  };

  beforeAll(async () => {
    mkdirSync(STATE_DIR, { recursive: true, mode: 0o755 });
    lab = await Lab.create({ topology: 'shared-bottleneck', paths: 2 });
    ns = lab.client;
    // The second uplink only through source routing: the lab's own rule for it goes, and the
    // router drops what comes from 10.99.2.1 on the first uplink (strict reverse-path filter).
    await ip(['-n', ns, 'rule', 'del', 'from', '10.99.2.1', 'table', '101']);
    await ip(['-n', ns, 'route', 'flush', 'table', '101']);
    await nsRun(lab.router, 'sysctl', ['-q', '-w', 'net.ipv4.conf.r0.rp_filter=1']);
    await nsRun(ns, 'sysctl', ['-q', '-w', 'net.ipv4.conf.c1.rp_filter=1']);
    // Rules MPTCP Studio did not create, one of them inside its table range: they must survive.
    await ip(['-n', ns, 'rule', 'add', 'from', '10.99.9.9', 'lookup', '10500', 'priority', '10500']);
    await ip(['-n', ns, 'route', 'add', '10.99.100.0/24', 'via', '10.99.1.2', 'dev', 'c0', 'table', '10500']);
    procs.push(await lab.startServer(5201));
    oldState = await routingState(ns);
  });
  afterEach(async () => {
    if (pendingOn) await pendingOn.invoke('mptcp:config:revert', {});
    pendingOn = null;
  });
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.close()));
    for (const p of procs) await p.stop().catch(() => undefined);
    if (ns) {
      const ino = statSync(`/run/netns/${ns}`, { throwIfNoEntry: false })?.ino;
      if (ino !== undefined)
        for (const f of readdirSync(STATE_DIR))
          if (f.includes(`-netns-${ino}-`)) rmSync(join(STATE_DIR, f), { force: true });
    }
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('without the rule the second path carries nothing; applied, a subflow from it carries data; reverted, the rules are exactly the old ones', async () => {
    const before = await lab.openConnections(1, { rateBytesPerSec: 100_000, abortOnStop: true });
    procs.push(before);
    await waitFor(
      'the first subflow',
      () => subflowsFrom(ns, '10.99.1.1'),
      (l) => l.length === 1,
    );
    // The join from 10.99.2.1 goes nowhere: SYN retransmissions for a while, never established.
    await sleep(1500);
    expect(await subflowsFrom(ns, '10.99.2.1')).toEqual([]);
    await before.stop();

    const e = engine();
    const plan = value<PlanView>(await e.invoke('mptcp:config:plan', { config: sourceRouted }));
    expect(plan.errors).toEqual([]);
    expect(plan.steps.map((s) => s.shell)).toEqual([
      'ip route add 10.99.2.0/24 dev c1 src 10.99.2.1 scope link table 10000 proto 77',
      'ip route add default via 10.99.2.2 dev c1 table 10000 proto 77',
      'ip rule add from 10.99.2.1 lookup 10000 priority 10000 protocol 77',
      'sysctl -w net.ipv4.conf.c1.rp_filter=2',
    ]);
    const report = value<ApplyReport>(
      await e.invoke('mptcp:config:apply', { config: sourceRouted, confirmWithinS: 60 }),
    );
    // Should an assertion below fail, the pending change must not block the next tests.
    pendingOn = e;
    expect(report.ok, JSON.stringify(report)).toBe(true);
    expect((await ip(['-n', ns, 'rule', 'show', 'priority', '10000'])).stdout).toBe(
      '10000:\tfrom 10.99.2.1 lookup 10000 proto 77\n',
    );
    expect((await ip(['-n', ns, 'route', 'show', 'table', '10000'])).stdout).toBe(
      'default via 10.99.2.2 dev c1 proto 77 \n10.99.2.0/24 dev c1 proto 77 scope link src 10.99.2.1 \n',
    );
    expect((await nsRun(ns, 'sysctl', ['-n', 'net.ipv4.conf.c1.rp_filter'])).stdout.trim()).toBe('2');
    // Planned again: nothing left to do.
    expect(value<PlanView>(await e.invoke('mptcp:config:plan', { config: sourceRouted })).steps).toEqual([]);

    // A new connection gets its subflow from 10.99.2.1, and it carries data.
    // Saturating: the scheduler then needs the second subflow too (20 Mbit/s shared bottleneck).
    const after = await lab.openConnections(1, { rateBytesPerSec: -1, abortOnStop: true });
    procs.push(after);
    const joined = await waitFor(
      'a subflow from 10.99.2.1 that carries data',
      () => subflowsFrom(ns, '10.99.2.1'),
      (l) => l.some((s) => s.bytesAcked > 20_000),
      15_000,
    );
    expect(joined[0]!.tuple).toMatch(/^10\.99\.2\.1:\d+ 10\.99\.100\.2:5201$/);

    // Taking the rule away is previewed for what it does to that live subflow.
    const removal = value<PlanView>(
      await e.invoke('mptcp:config:plan', { config: { routing: { sourceRules: [] } } }),
    );
    expect(removal.steps.map((s) => s.step.kind)).toEqual(['rule-del', 'route-del', 'route-del']);
    expect(removal.steps[0]!.impact.level).toBe('live');
    expect(removal.steps[0]!.impact.text).toMatch(
      /^1 live subflow of 1 connection from 10\.99\.2\.1 follow the main table from now on; .* may stall/,
    );
    // Nothing of someone else's is planned away.
    expect(removal.steps.every((s) => !s.shell.includes('10500'))).toBe(true);

    const reverted = value<ApplyReport>(await e.invoke('mptcp:config:revert', {}));
    pendingOn = null;
    expect(reverted.ok && reverted.restored, JSON.stringify(reverted)).toBe(true);
    expect(await routingState(ns)).toBe(oldState);
    await after.stop();
  }, 60_000);

  it('an apply with no source rules removes only MPTCP Studio’s', async () => {
    const e = engine();
    const applied = value<ApplyReport>(await e.invoke('mptcp:config:apply', { config: sourceRouted }));
    expect(applied.ok).toBe(true);
    const none = value<ApplyReport>(
      await e.invoke('mptcp:config:apply', { config: { routing: { sourceRules: [], rpFilter: { c1: 1 } } } }),
    );
    expect(none.ok, JSON.stringify(none)).toBe(true);
    expect(none.applied.map((s) => s.step.kind)).toEqual(['rule-del', 'route-del', 'route-del', 'sysctl']);
    expect(await routingState(ns)).toBe(oldState);
    expect((await ip(['-n', ns, 'rule', 'show'])).stdout).toMatch(/10500:\tfrom 10\.99\.9\.9 lookup 10500/);
    expect((await ip(['-n', ns, 'rule', 'show'])).stdout).toMatch(/from 10\.99\.1\.1 lookup 100/);
  }, 30_000);

  it('the exported sh script makes the same rules and routes as the engine, and a second run changes nothing', async () => {
    const e = engine();
    expect(value<ApplyReport>(await e.invoke('mptcp:config:apply', { config: sourceRouted })).ok).toBe(true);
    const byEngine = await routingState(ns);
    const undo: MptcpConfig = { routing: { sourceRules: [], rpFilter: { c1: 1 } } };
    expect(value<ApplyReport>(await e.invoke('mptcp:config:apply', { config: undo })).ok).toBe(true);
    expect(await routingState(ns)).toBe(oldState);
    const script = (c: MptcpConfig, name: string): string => {
      const path = join(dir, `${name}.sh`);
      writeFileSync(path, formatExport(c, 'sh', { name, generatedAt: 'test' }).text);
      return path;
    };
    // Without a table in the config, the script picks the first free one, as the plan does.
    const routedSh = script(sourceRouted, 'routed');
    await nsRun(ns, 'sh', [routedSh]);
    expect(await routingState(ns)).toBe(byEngine);
    await nsRun(ns, 'sh', [routedSh]);
    expect(await routingState(ns)).toBe(byEngine);
    // The engine sees nothing left to do.
    expect(value<PlanView>(await e.invoke('mptcp:config:plan', { config: sourceRouted })).steps).toEqual([]);
    // And the export of no source rules removes only MPTCP Studio's.
    await nsRun(ns, 'sh', [script(undo, 'none')]);
    expect(await routingState(ns)).toBe(oldState);
  }, 30_000);

  it('the exported sh script refuses a table that holds a route or is looked up by a rule it did not create', async () => {
    expect(await routingState(ns)).toBe(oldState);
    const script = (c: MptcpConfig, name: string): string => {
      const path = join(dir, `${name}.sh`);
      writeFileSync(path, formatExport(c, 'sh', { name, generatedAt: 'test' }).text);
      return path;
    };
    // Table 10500 is someone else's (beforeAll): its rule and route must not change, and no route
    // of MPTCP Studio's may join them (10.99.9.9's traffic would take it).
    const into10500 = script(
      {
        routing: {
          sourceRules: [{ address: '10.99.2.1', ifname: 'c1', table: 10500, gateway: '10.99.2.2' }],
        },
      },
      'into-10500',
    );
    await expect(nsRun(ns, 'sh', [into10500])).rejects.toThrow(
      /table 10500 holds a route or is looked up by a rule/,
    );
    expect(await routingState(ns)).toBe(oldState);
    // A table with no route yet, but looked up by a rule of someone else's.
    await ip(['-n', ns, 'rule', 'add', 'fwmark', '7', 'lookup', '10600', 'priority', '200']);
    try {
      const withRule = await routingState(ns);
      const into10600 = script(
        {
          routing: {
            sourceRules: [{ address: '10.99.2.1', ifname: 'c1', table: 10600, gateway: '10.99.2.2' }],
          },
        },
        'into-10600',
      );
      await expect(nsRun(ns, 'sh', [into10600])).rejects.toThrow(
        /table 10600 holds a route or is looked up by a rule/,
      );
      expect(await routingState(ns)).toBe(withRule);
    } finally {
      await ip(['-n', ns, 'rule', 'del', 'fwmark', '7', 'lookup', '10600', 'priority', '200']);
    }
    expect(await routingState(ns)).toBe(oldState);
  }, 30_000);

  it('a killed apply leaves exactly the old or the new rules, routes and rp_filter', async () => {
    const cli = defaultAgentEntry();
    const profile = join(dir, 'routed.json');
    writeFileSync(profile, JSON.stringify({ schemaVersion: 1, name: 'routed', config: sourceRouted }));
    const ino = statSync(`/run/netns/${ns}`).ino;
    const journal = new RegExp(`^config-netns-${ino}-\\d+\\.json$`);
    const run = (
      args: string[],
      env: Record<string, string> = {},
    ): { child: ChildProcess; done: Promise<string> } => {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, cli, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, ...env },
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      return { child, done: new Promise((r) => child.once('exit', () => r(stderr))) };
    };
    // The new state once, from an apply left to finish; then back to the old.
    await run(['apply', profile]).done;
    const newState = await routingState(ns);
    expect(newState).not.toBe(oldState);
    const back = value<ApplyReport>(
      await engine().invoke('mptcp:config:apply', {
        config: { routing: { sourceRules: [], rpFilter: { c1: 1 } } },
      }),
    );
    expect(back.ok).toBe(true);
    expect(await routingState(ns)).toBe(oldState);
    let interrupted = 0;
    for (let i = 0; i < 8; i++) {
      const seen = new Promise<void>((resolve) => {
        const w = watch(STATE_DIR, (_ev, f) => {
          if (f && journal.test(f)) {
            w.close();
            resolve();
          }
        });
        setTimeout(() => {
          w.close();
          resolve();
        }, 10_000).unref();
      });
      const applying = run(['apply', profile], { MPTCP_STUDIO_TEST_STEP_DELAY_MS: '40' });
      await seen;
      await sleep(Math.random() * 4 * 40 + 10);
      applying.child.kill('SIGKILL');
      await applying.done;
      const killedAt = await routingState(ns);
      if (killedAt !== oldState && killedAt !== newState) interrupted++;
      // The next engine in the namespace undoes whatever part ran.
      const said = await run(['status']).done;
      const now = await routingState(ns);
      if (now === newState) {
        // The apply had finished: put the old state back for the next round.
        const r = value<ApplyReport>(
          await engine().invoke('mptcp:config:apply', {
            config: { routing: { sourceRules: [], rpFilter: { c1: 1 } } },
          }),
        );
        expect(r.ok).toBe(true);
      } else expect(now, said).toBe(oldState);
      expect(await routingState(ns)).toBe(oldState);
    }
    // Most kills land between steps: the mixed state the journal exists for.
    expect(interrupted).toBeGreaterThan(0);
  }, 120_000);
});
