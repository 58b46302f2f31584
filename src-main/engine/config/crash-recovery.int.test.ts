/**
 * An apply killed with SIGKILL at random moments inside its window, in a lab namespace, many
 * times: by the in-process CLI (`ip netns exec NS mptcp-studio apply`) and by the privileged agent
 * on its socket. The next engine in the namespace (a CLI command, or the agent restarted) must put
 * back the exact state before the apply, compared byte for byte with the kernel's own tools.
 *
 * The kill is timed from the moment the apply's journal appears in /run/mptcp-studio (inotify via
 * fs.watch), i.e. just before its first step. Most runs hold each step 15 ms
 * (MPTCP_STUDIO_TEST_STEP_DELAY_MS, config/apply.ts) so that a kill lands between any two steps;
 * the others kill 0-3 ms after the journal appears with no hold, at the apply's real speed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MptcpConfig } from '../../../shared/config';
import { ip, Lab, labUnavailableReason, nsRun } from '../../lab/lab';
import { defaultAgentEntry, openEngine, type EngineService } from '../index';

const STATE_DIR = '/run/mptcp-studio';
const CLI = defaultAgentEntry();
const STEP_DELAY_MS = 15;

/** What the kernel shows, as text: `ip mptcp`, the sysctls a plan may write, link MTUs. */
async function kernelState(ns: string): Promise<string> {
  const parts = await Promise.all([
    ip(['-n', ns, 'mptcp', 'endpoint', 'show']),
    ip(['-n', ns, 'mptcp', 'limits', 'show']),
    nsRun(ns, 'sysctl', [
      'net.mptcp',
      'net.ipv4.tcp_congestion_control',
      'net.ipv4.tcp_rmem',
      'net.ipv4.tcp_wmem',
    ]),
    ip(['-n', ns, '-o', 'link', 'show']),
  ]);
  return parts.map((p) => p.stdout).join('\n--\n');
}

/** The prior state: endpoints the plan deletes, non-default limits and sysctls, MTU 1500. */
async function seed(ns: string, initial: { rmem: string; cc: string }): Promise<void> {
  await ip(['-n', ns, 'mptcp', 'endpoint', 'flush']);
  await ip(['-n', ns, 'mptcp', 'endpoint', 'add', '10.99.1.1', 'id', '3', 'signal', 'port', '10003']);
  await ip([
    '-n',
    ns,
    'mptcp',
    'endpoint',
    'add',
    '10.99.2.1',
    'id',
    '9',
    'dev',
    'c1',
    'subflow',
    'fullmesh',
  ]);
  await ip(['-n', ns, 'mptcp', 'limits', 'set', 'subflows', '2', 'add_addr_accepted', '1']);
  await nsRun(ns, 'sysctl', [
    '-q',
    '-w',
    'net.mptcp.add_addr_timeout=120',
    'net.mptcp.close_timeout=60',
    `net.ipv4.tcp_congestion_control=${initial.cc}`,
    `net.ipv4.tcp_rmem=${initial.rmem}`,
  ]);
  await ip(['-n', ns, 'link', 'set', 'c1', 'mtu', '1500']);
}

/** Ten steps: two removals, three sysctls, limits, two additions, a buffer sysctl, an MTU. */
const desired: MptcpConfig = {
  limits: { subflows: 4, addAddrAccepted: 3 },
  endpoints: [
    {
      address: '10.99.2.1',
      ifname: 'c1',
      flags: { signal: false, subflow: true, backup: true, fullmesh: false, laminar: false },
    },
    {
      address: '10.99.1.1',
      id: 5,
      port: 10005,
      flags: { signal: true, subflow: false, backup: false, fullmesh: false, laminar: false },
    },
  ],
  sysctls: { addAddrTimeoutS: 60, closeTimeoutS: 30 },
  congestionControl: 'reno',
  buffers: { tcpRmem: { minBytes: 4096, defaultBytes: 262144, maxBytes: 8388608 } },
  mtu: { c1: 1400 },
};

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start a process in the namespace; `done` resolves when it exits. */
function start(
  ns: string,
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, CLI, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Run>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

/** Journal files of namespace `ino` (config-netns-<ino>-<cookie>.json and its claims). */
const journalFiles = (ino: number): string[] =>
  readdirSync(STATE_DIR).filter((n) => n.startsWith(`config-netns-${ino}-`));

/**
 * Resolves the moment the apply's journal appears (fs.watch: inotify IN_CREATE of the link(2)
 * that puts it in place), with the time it did.
 */
function journalAppears(ino: number): { seen: Promise<number>; stop: () => void } {
  const name = new RegExp(`^config-netns-${ino}-\\d+\\.json$`);
  let stop = (): void => undefined;
  const seen = new Promise<number>((resolve) => {
    const w = watch(STATE_DIR, (_ev, file) => {
      if (file && name.test(file)) {
        w.close();
        resolve(performance.now());
      }
    });
    stop = () => w.close();
  });
  return { seen, stop };
}

interface Tally {
  kills: number;
  /** The kill caught the apply with its journal in place (before, between or after steps). */
  interrupted: number;
  /** ...and the state right after the kill was neither the old nor the new one. */
  mixed: number;
  /** The apply had finished (journal removed) before the kill: the new state stays. */
  finished: number;
  /** The kill came before the journal was in place: nothing had changed. */
  notStarted: number;
  /** After recovery, the state was byte for byte the old one (every interrupted run). */
  restoredExactly: number;
}

const rand = (lo: number, hi: number): number => lo + Math.random() * (hi - lo);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(labUnavailableReason() !== null)(
  'an apply killed at random moments is undone by the next engine',
  () => {
    let lab: Lab;
    let ns: string;
    let ino: number;
    /** The namespace's own values (a child namespace may only take CCs from the allowed list). */
    let initial: { rmem: string; cc: string };
    let oldState: string;
    let newState: string;
    const dir = mkdtempSync(join(tmpdir(), 'mpst-crash-'));
    const profile = join(dir, 'desired.json');
    const engines: EngineService[] = [];
    const tallies: Record<string, Tally> = {};

    beforeAll(async () => {
      mkdirSync(STATE_DIR, { recursive: true, mode: 0o755 });
      lab = await Lab.create({ paths: 2, mptcp: 'none' });
      ns = lab.client;
      ino = statSync(`/run/netns/${ns}`).ino;
      const read = async (n: string): Promise<string> => (await nsRun(ns, 'sysctl', ['-n', n])).stdout.trim();
      initial = { rmem: await read('net.ipv4.tcp_rmem'), cc: await read('net.ipv4.tcp_congestion_control') };
      writeFileSync(profile, JSON.stringify({ schemaVersion: 1, name: 'desired', config: desired }));
      await seed(ns, initial);
      oldState = await kernelState(ns);
      // The new state, once, from an apply that is left to finish.
      const done = await start(ns, ['apply', profile]).done;
      expect(done.code, done.stderr).toBe(0);
      newState = await kernelState(ns);
      expect(newState).not.toBe(oldState);
      await seed(ns, initial);
      expect(await kernelState(ns)).toBe(oldState);
    });
    afterAll(async () => {
      await Promise.all(engines.map((e) => e.close()));
      for (const f of readdirSync(STATE_DIR))
        if (f.includes(`-netns-${ino}-`)) rmSync(join(STATE_DIR, f), { force: true });
      await lab?.destroy();
      rmSync(dir, { recursive: true, force: true });
      for (const [who, t] of Object.entries(tallies))
        console.log(`crash recovery (${who}): ${JSON.stringify(t)}`);
    });

    /**
     * One kill and its check: `kill` runs the apply and kills it `delayMs` after the journal
     * appears; `recover` starts the next engine and returns what it said.
     */
    async function round(
      t: Tally,
      kill: (whenJournal: Promise<number>) => Promise<void>,
      recover: () => Promise<string>,
    ): Promise<void> {
      expect(await kernelState(ns)).toBe(oldState);
      const j = journalAppears(ino);
      await kill(j.seen);
      j.stop();
      t.kills++;
      // A temp file alone (killed while writing it) is not a journal: nothing had changed yet.
      const hadJournal = journalFiles(ino).some((n) => !n.includes('.tmp-'));
      const afterKill = await kernelState(ns);
      const said = await recover();
      const after = await kernelState(ns);
      expect(journalFiles(ino), 'no journal is left behind').toEqual([]);
      if (hadJournal) {
        t.interrupted++;
        if (afterKill !== oldState && afterKill !== newState) t.mixed++;
        expect(after, `recovered state (the engine said: ${said})`).toBe(oldState);
        expect(said).toMatch(
          /undid \d+ steps? of an apply .* that did not finish: the state before it is back exactly/,
        );
        t.restoredExactly++;
      } else {
        expect([oldState, newState]).toContain(after);
        expect(after).toBe(afterKill);
        if (after === newState) {
          t.finished++;
          await seed(ns, initial);
        } else t.notStarted++;
      }
    }

    it('in-process CLI: 32 kills, each undone exactly by the next CLI command', async () => {
      const t: Tally = (tallies.cli = {
        kills: 0,
        interrupted: 0,
        mixed: 0,
        finished: 0,
        notStarted: 0,
        restoredExactly: 0,
      });
      const steps = 10;
      for (let i = 0; i < 32; i++) {
        const held = i % 4 !== 3; // three of four with the step hold, one at full speed
        const delayMs = held ? rand(0, steps * STEP_DELAY_MS + 20) : rand(0, 3);
        await round(
          t,
          async (seen) => {
            const run = start(
              ns,
              ['apply', profile],
              held ? { MPTCP_STUDIO_TEST_STEP_DELAY_MS: String(STEP_DELAY_MS) } : {},
            );
            const at = await Promise.race([seen, run.done.then(() => null)]);
            if (at !== null) {
              await sleep(Math.max(0, delayMs - (performance.now() - at)));
              run.child.kill('SIGKILL');
            }
            const r = await run.done;
            if (at === null) throw new Error(`the apply ended before its journal was seen: ${r.stderr}`);
          },
          async () => {
            const r = await start(ns, ['status']).done;
            expect(r.code, r.stderr).toBe(0);
            return r.stderr;
          },
        );
      }
      expect(t.kills).toBe(32);
      // The point of the exercise: most kills land inside the window.
      expect(t.interrupted).toBeGreaterThanOrEqual(20);
    }, 120_000);

    it('privileged agent: 8 kills, each undone exactly by the agent started next', async () => {
      const t: Tally = (tallies.agent = {
        kills: 0,
        interrupted: 0,
        mixed: 0,
        finished: 0,
        notStarted: 0,
        restoredExactly: 0,
      });
      const sock = join(dir, 'agent.sock');
      /** Start the agent; resolves with its log once it listens (it recovers before it listens). */
      const startAgent = async (): Promise<{ child: ChildProcess; log: () => string }> => {
        const a = start(ns, ['agent', '--socket', sock], {
          MPTCP_STUDIO_TEST_STEP_DELAY_MS: String(STEP_DELAY_MS),
        });
        let log = '';
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`agent did not start: ${log}`)), 20_000);
          createInterface({ input: a.child.stderr! }).on('line', (l) => {
            log += `${l}\n`;
            if (l.includes('"listening"')) {
              clearTimeout(timer);
              resolve();
            }
          });
          void a.done.then((r) => reject(new Error(`agent exited: ${r.stderr}`)));
        });
        return { child: a.child, log: () => log };
      };
      let agent = await startAgent();
      for (let i = 0; i < 8; i++) {
        const delayMs = rand(0, 10 * STEP_DELAY_MS + 20);
        await round(
          t,
          async (seen) => {
            const client = openEngine({ agentSocket: sock });
            engines.push(client);
            const applying = client.invoke('mptcp:config:apply', { config: desired });
            const at = await seen;
            await sleep(Math.max(0, delayMs - (performance.now() - at)));
            const exited = new Promise((r) => agent.child.once('exit', r));
            agent.child.kill('SIGKILL');
            await exited;
            await applying; // fails: the agent closed the connection (or it had finished)
            await client.close();
          },
          async () => {
            agent = await startAgent();
            return agent
              .log()
              .split('\n')
              .filter((l) => l.includes('"recovered"'))
              .join('\n');
          },
        );
      }
      const exited = new Promise((r) => agent.child.once('exit', r));
      agent.child.kill('SIGTERM');
      await exited;
      expect(t.kills).toBe(8);
    }, 60_000);
  },
);
