/**
 * Confirm-or-revert outlives the engine that holds the change: the pending change is a journal
 * entry with a deadline (config/journal.ts). The holder (the in-process CLI, a namespace agent, the
 * privileged agent) is killed with SIGKILL; an engine started after the deadline reverts the change
 * (the state compared byte for byte with the one before), one started before it adopts it, and
 * confirm then works there. Every message must say what happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MptcpConfig } from '../../../shared/config';
import type { ConfigRecovery } from '../../../shared/types';
import { ip, Lab, labUnavailableReason, nsRun } from '../../lab/lab';
import { defaultAgentEntry, openEngine, type EngineService } from '../index';

const STATE_DIR = '/run/mptcp-studio';
const CLI = defaultAgentEntry();
const CONFIRM_S = 5; // the contract's minimum

async function kernelState(ns: string): Promise<string> {
  const parts = await Promise.all([
    ip(['-n', ns, 'mptcp', 'endpoint', 'show']),
    ip(['-n', ns, 'mptcp', 'limits', 'show']),
    nsRun(ns, 'sysctl', ['net.mptcp', 'net.ipv4.tcp_congestion_control', 'net.ipv4.tcp_rmem']),
    ip(['-n', ns, '-o', 'link', 'show']),
  ]);
  return parts.map((p) => p.stdout).join('\n--\n');
}

async function seed(ns: string, cc: string): Promise<void> {
  await ip(['-n', ns, 'mptcp', 'endpoint', 'flush']);
  await ip(['-n', ns, 'mptcp', 'endpoint', 'add', '10.99.1.1', 'id', '3', 'signal', 'port', '10003']);
  await ip(['-n', ns, 'mptcp', 'limits', 'set', 'subflows', '2', 'add_addr_accepted', '1']);
  await nsRun(ns, 'sysctl', [
    '-q',
    '-w',
    'net.mptcp.add_addr_timeout=120',
    `net.ipv4.tcp_congestion_control=${cc}`,
  ]);
  await ip(['-n', ns, 'link', 'set', 'c1', 'mtu', '1500']);
}

const desired: MptcpConfig = {
  limits: { subflows: 4, addAddrAccepted: 3 },
  endpoints: [
    {
      address: '10.99.2.1',
      ifname: 'c1',
      flags: { signal: false, subflow: true, backup: true, fullmesh: false, laminar: false },
    },
  ],
  sysctls: { addAddrTimeoutS: 60 },
  congestionControl: 'reno',
  mtu: { c1: 1400 },
};

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** The CLI, in the namespace (`ns`) or in ours with its own arguments (ns null). */
function cli(ns: string | null, args: string[]): Proc {
  const argv = [process.execPath, CLI, ...args];
  const child = ns ? spawn('ip', ['netns', 'exec', ns, ...argv]) : spawn(argv[0]!, argv.slice(1));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, stderr: () => stderr, done };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(labUnavailableReason() !== null)('a change awaiting confirmation outlives its engine', () => {
  let lab: Lab;
  let ns: string;
  let ino: number;
  let cc: string;
  let oldState: string;
  let newState: string;
  const dir = mkdtempSync(join(tmpdir(), 'mpst-confirm-'));
  const profile = join(dir, 'desired.json');
  const engines: EngineService[] = [];

  const journals = (): string[] => readdirSync(STATE_DIR).filter((n) => n.startsWith(`config-netns-${ino}-`));
  const journal = (): { phase: string; revertAtMs: number; holder: { pid: number } } => {
    const [name] = journals().filter((n) => n.endsWith('.json'));
    return JSON.parse(readFileSync(join(STATE_DIR, name!), 'utf8')) as {
      phase: string;
      revertAtMs: number;
      holder: { pid: number };
    };
  };
  /** The engine holding the change (the journal's holder) is SIGKILLed, and gone. */
  const killHolder = async (): Promise<void> => {
    const { pid } = journal().holder;
    process.kill(pid, 'SIGKILL');
    const state = (): Promise<string> => {
      try {
        return Promise.resolve(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] ?? 'gone');
      } catch {
        return Promise.resolve('gone');
      }
    };
    await lab.waitFor(`pid ${pid} to die`, state, (s) => s === 'Z' || s === 'gone', 5000);
  };
  /** Apply with --confirm-within in the namespace (in-process CLI) and wait for the question. */
  const applyPending = async (netnsFlag: boolean): Promise<Proc> => {
    const p = netnsFlag
      ? cli(null, ['apply', profile, '--netns', ns, '--confirm-within', String(CONFIRM_S)])
      : cli(ns, ['apply', profile, '--confirm-within', String(CONFIRM_S)]);
    await lab.waitFor(
      'the confirmation question',
      () => Promise.resolve(p.stderr()),
      (s) => s.includes('Keep these changes?'),
      20_000,
    );
    expect(await kernelState(ns)).toBe(newState);
    expect(journal().phase).toBe('pending');
    return p;
  };

  beforeAll(async () => {
    mkdirSync(STATE_DIR, { recursive: true, mode: 0o755 });
    lab = await Lab.create({ paths: 2, mptcp: 'none' });
    ns = lab.client;
    ino = statSync(`/run/netns/${ns}`).ino;
    cc = (await nsRun(ns, 'sysctl', ['-n', 'net.ipv4.tcp_congestion_control'])).stdout.trim();
    writeFileSync(profile, JSON.stringify({ schemaVersion: 1, name: 'desired', config: desired }));
    await seed(ns, cc);
    oldState = await kernelState(ns);
    const r = await cli(ns, ['apply', profile]).done;
    expect(r.code, r.stderr).toBe(0);
    newState = await kernelState(ns);
    expect(newState).not.toBe(oldState);
  });
  beforeEach(async () => {
    await seed(ns, cc);
    expect(await kernelState(ns)).toBe(oldState);
  });
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.close()));
    for (const f of readdirSync(STATE_DIR))
      if (f.includes(`-netns-${ino}-`)) rmSync(join(STATE_DIR, f), { force: true });
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('in-process CLI killed; a CLI command after the deadline reverts the change exactly', async () => {
    await applyPending(false);
    const { revertAtMs } = journal();
    await killHolder();
    expect(await kernelState(ns)).toBe(newState); // nobody left to revert it
    await sleep(revertAtMs - Date.now() + 200);
    const r = await cli(ns, ['status']).done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /reverted a change applied at .* by MPTCP Studio pid \d+, awaiting confirmation until .*, whose engine is gone, because its deadline passed with no engine holding it: the state before it is back exactly/,
    );
    expect(await kernelState(ns)).toBe(oldState);
    expect(journals()).toEqual([]);
  }, 30_000);

  it('in-process CLI killed; an engine started before the deadline adopts the change and confirm works', async () => {
    await applyPending(false);
    const { revertAtMs } = journal();
    await killHolder();
    const e = openEngine({ netns: ns });
    engines.push(e);
    const recovered: ConfigRecovery[] = [];
    const pending: (number | null)[] = [];
    e.on('mptcp:config:recovered', (r) => recovered.push(r));
    e.on('mptcp:config:pending', (p) => pending.push(p.revertAtMs));
    const confirmed = await e.invoke('mptcp:config:confirm', {});
    expect(confirmed).toEqual({ ok: true, value: { revertAtMs: null } });
    expect(recovered).toMatchObject([{ kind: 'pending-adopted', revertAtMs }]);
    expect(recovered[0]!.message).toMatch(
      /this engine holds it now, until it exits; confirm it, or it is reverted at/,
    );
    expect(pending).toEqual([revertAtMs, null]);
    expect(journals()).toEqual([]);
    // Past the deadline: kept.
    await sleep(revertAtMs - Date.now() + 500);
    expect(await kernelState(ns)).toBe(newState);
    await e.close();
  }, 30_000);

  it('CLI --netns whose agent is killed: "y" confirms through a new agent, which adopted the change', async () => {
    const p = await applyPending(true);
    const { revertAtMs } = journal();
    await killHolder(); // the namespace agent, not the CLI
    p.child.stdin!.write('y\n');
    const r = await p.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /mptcp-studio: a change applied at .* by MPTCP Studio pid \d+, awaiting confirmation until .*, whose engine is gone: this engine holds it now/,
    );
    expect(r.stderr).toMatch(/kept\.\n$/);
    expect(r.stderr).not.toMatch(/no change is waiting/);
    expect(journals()).toEqual([]);
    await sleep(revertAtMs - Date.now() + 500);
    expect(await kernelState(ns)).toBe(newState);
  }, 30_000);

  it('CLI --netns whose agent is killed, deadline passed: the revert says what happened, and the state is the old one', async () => {
    const p = await applyPending(true);
    await killHolder();
    // Nothing typed: at the deadline the CLI asks a new agent to revert; that agent found the
    // orphaned change past its deadline and reverted it as it started.
    const r = await p.done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /mptcp-studio: reverted a change applied at .* because its deadline passed with no engine holding it: the state before it is back exactly/,
    );
    expect(r.stderr).toMatch(/revert: no change is waiting for confirmation: reverted a change applied at/);
    expect(await kernelState(ns)).toBe(oldState);
    expect(journals()).toEqual([]);
  }, 30_000);

  it('privileged agent killed while holding the change: restarted after the deadline it reverts, before it adopts', async () => {
    const sock = join(dir, 'agent.sock');
    const startAgent = async (): Promise<Proc> => {
      const a = cli(ns, ['agent', '--socket', sock]);
      await lab.waitFor(
        'the agent to listen',
        () => Promise.resolve(a.stderr()),
        (s) => s.includes('"listening"'),
        20_000,
      );
      return a;
    };
    for (const when of ['after', 'before'] as const) {
      await seed(ns, cc);
      let agent = await startAgent();
      const client = openEngine({ agentSocket: sock });
      engines.push(client);
      const applied = await client.invoke('mptcp:config:apply', {
        config: desired,
        confirmWithinS: CONFIRM_S,
      });
      expect(applied.ok && (applied.value as { ok: boolean }).ok).toBe(true);
      const { revertAtMs } = journal();
      agent.child.kill('SIGKILL');
      await agent.done;
      await client.close();
      if (when === 'after') await sleep(revertAtMs - Date.now() + 200);
      agent = await startAgent();
      const log = agent.stderr();
      const client2 = openEngine({ agentSocket: sock });
      engines.push(client2);
      if (when === 'after') {
        const line = log.split('\n').find((l) => l.includes('"event":"recovered"')) ?? '';
        expect(line).toContain('"kind":"pending-reverted"');
        expect(line).toContain('"restored":true');
        expect(await kernelState(ns)).toBe(oldState);
        const c = await client2.invoke('mptcp:config:confirm', {});
        expect(c.ok).toBe(false);
        expect(!c.ok && c.error.message).toMatch(/^no change is waiting for confirmation: reverted a change/);
      } else {
        expect(log.split('\n').find((l) => l.includes('"event":"recovered"'))).toContain(
          '"kind":"pending-adopted"',
        );
        expect(await client2.invoke('mptcp:config:confirm', {})).toEqual({
          ok: true,
          value: { revertAtMs: null },
        });
        await sleep(revertAtMs - Date.now() + 500);
        expect(await kernelState(ns)).toBe(newState);
      }
      expect(journals()).toEqual([]);
      await client2.close();
      agent.child.kill('SIGTERM');
      await agent.done;
    }
  }, 60_000);
});
