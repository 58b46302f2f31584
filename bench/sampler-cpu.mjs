// Sampler CPU benchmark: what a 10 Hz connections sampler costs, against `ss -tinM` at 10 Hz, in a
// lab client namespace holding N idle MPTCP connections with two subflows each.
//
//   npm run bench:sampler -- [--connections 1000] [--seconds 30] [--hz 10] [--rounds 1]
//
// Three measures, each in its own process under `ip netns exec` (a netlink socket sees the netns
// of the process that opens it), each after a 2 s warm-up:
//   engine sampler        EngineService + LocalEngine polling snapshots every 1000/HZ ms, as the
//                         web host or Electron main runs it for its own namespace: CPU time of
//                         the whole process (main thread and both sock_diag dump workers) over wall
//                         time (process.cpuUsage; /proc/self/stat as a cross-check)
//   engine + JSON         the same, each snapshot also JSON.stringify'd, as the namespace agent
//                         does before writing it to its stdio channel
//   ss -tinM              spawned HZ times a second with stdout to /dev/null (a tick is skipped
//                         while one still runs); CPU of the ss children (cutime + cstime). The
//                         cost of parsing its text, which a real consumer would pay, is not counted
// CPU is in percent of one core; the machine has 2.
//
// Measured on the 2-core dev box (other jobs running, load average 1-4), 1,000 connections / 2,000
// subflows, 10 Hz, 30 s x 2 rounds: engine sampler 12.9% (poll median 8.2 ms), engine + JSON
// 18.4%, ss -tinM 26.2% (29 ms per run, spawn included): ss costs 2.0x the engine's CPU, 1.4x with
// the agent's JSON. Most of the engine's share is kernel time in the sock_diag dumps, which walk
// the whole 262,144-bucket TCP established hash for each family whatever the namespace holds.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { arg, bundleEntry, cache, cleanupOnSignals, importLab, median, parseJson } from './lib.mjs';

const N = Number(arg('connections', '1000'));
const SECONDS = Number(arg('seconds', '30'));
const HZ = Number(arg('hz', '10'));
const ROUNDS = Number(arg('rounds', '1'));

const { Lab, nsRun, labUnavailableReason } = await importLab();
await bundleEntry('src-main/lab/probes/diag-probe.ts', 'diag-probe.mjs');

const reason = labUnavailableReason();
if (reason) {
  console.error(`bench:sampler needs the lab: ${reason}`);
  process.exit(2);
}

/** @type {import('../src-main/lab/lab').Lab | null} */
let lab = null;
/** @type {Promise<void> | null} */
let cleaning = null;
const cleanup = () => (cleaning ??= lab ? lab.destroy() : Promise.resolve());
cleanupOnSignals(cleanup);

/**
 * What the probe's `sample` and `ss-sample` modes print (src-main/lab/probes/diag-probe.ts).
 * @typedef {{ cpuPercent: number, procCpuPercent: number, ticks: number, connections: number,
 *   subflows: number, pollMsMedian: number, ssMsMedian: number }} SampleOut
 */

try {
  const l = await Lab.create({ paths: 2 });
  lab = l;
  await l.startServer(5201);
  await l.openConnections(N, { rateBytesPerSec: 0 });
  const countSubflows = async () => {
    const { stdout } = await nsRun(l.client, 'ss', ['-tniH', 'state', 'established', 'dport', '5201'], {
      timeoutMs: 120_000,
    });
    return (stdout.match(/tcp-ulp-mptcp/g) ?? []).length;
  };
  await l.waitFor(`${2 * N} subflows`, countSubflows, (n) => n >= 2 * N, 180_000);
  console.log(`lab ready: ${N} connections, ${2 * N} subflows; ${SECONDS} s at ${HZ} Hz per measure`);

  const probe = join(cache, 'diag-probe.mjs');
  // Keep in step with AGENT_V8_FLAGS in src-main/engine/agent/client.ts.
  const AGENT_V8_FLAGS = ['--max-semi-space-size=32'];
  /**
   * @param {string[]} args
   * @returns {SampleOut}
   */
  const runProbe = (args) => {
    const r = spawnSync(
      'ip',
      ['netns', 'exec', l.client, process.execPath, ...AGENT_V8_FLAGS, probe, ...args],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    if (r.status !== 0) throw new Error(`probe ${args.join(' ')} failed (${r.status})`);
    return /** @type {SampleOut} */ (parseJson(r.stdout));
  };

  /** @type {Record<'engine sampler' | 'engine + JSON (agent)' | 'ss -tinM', number[]>} */
  const measures = {
    'engine sampler': [],
    'engine + JSON (agent)': [],
    'ss -tinM': [],
  };
  /** @type {{ polls: number[], ssMs: number[], ticks: Record<string, number> }} */
  const extra = { polls: [], ssMs: [], ticks: {} };
  // Interleaved rounds, so that every measure sees the same share of the machine's other load.
  for (let r = 0; r < ROUNDS; r++) {
    const e = runProbe(['sample', String(SECONDS), String(HZ)]);
    if (e.connections !== N || e.subflows !== 2 * N)
      throw new Error(`engine saw ${e.connections} connections / ${e.subflows} subflows`);
    measures['engine sampler'].push(e.cpuPercent);
    extra.polls.push(e.pollMsMedian);
    extra.ticks['engine sampler'] = e.ticks;
    const j = runProbe(['sample', String(SECONDS), String(HZ), 'json']);
    measures['engine + JSON (agent)'].push(j.cpuPercent);
    extra.ticks['engine + JSON (agent)'] = j.ticks;
    const s = runProbe(['ss-sample', String(SECONDS), String(HZ)]);
    measures['ss -tinM'].push(s.cpuPercent);
    extra.ssMs.push(s.ssMsMedian);
    extra.ticks['ss -tinM'] = s.ticks;
    console.log(
      `round ${r + 1}: engine ${e.cpuPercent.toFixed(1)}% (proc ${e.procCpuPercent.toFixed(1)}%), ` +
        `+JSON ${j.cpuPercent.toFixed(1)}%, ss ${s.cpuPercent.toFixed(1)}%`,
    );
  }

  console.log(
    `\nsampler CPU at ${HZ} Hz, ${N} MPTCP connections / ${2 * N} subflows, ${SECONDS} s x ${ROUNDS} round(s)` +
      ` (% of one core; median over rounds)`,
  );
  console.log(`${'measure'.padEnd(26)}${'CPU %'.padStart(8)}${'ticks'.padStart(8)}`);
  for (const [name, xs] of Object.entries(measures))
    console.log(
      `${name.padEnd(26)}${median(xs).toFixed(1).padStart(8)}${String(extra.ticks[name]).padStart(8)}`,
    );
  const eng = median(measures['engine sampler']);
  console.log(`\nengine poll (readConnections) median ${median(extra.polls).toFixed(1)} ms`);
  console.log(`ss -tinM run median ${median(extra.ssMs).toFixed(1)} ms (wall, spawn included)`);
  console.log(`ss / engine CPU          : ${(median(measures['ss -tinM']) / eng).toFixed(2)}x`);
  console.log(
    `ss / (engine + JSON) CPU : ${(median(measures['ss -tinM']) / median(measures['engine + JSON (agent)'])).toFixed(2)}x`,
  );
} finally {
  await cleanup();
}
