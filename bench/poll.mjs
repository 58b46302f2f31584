// Poll benchmark: the engine's decoded sock_diag poll against `ss -tinM` and a raw C dump, in a
// lab client namespace holding N idle MPTCP connections with two subflows each.
//
//   npm run bench:poll -- --connections 10000 [--active 0] [--iterations 15] [--rounds 3] [--variants] [--paths]
//
// --paths also times the engine without resolving each new subflow's interface (Subflow.ifname,
// src-main/engine/rtnl/subflow-paths.ts), with and without reuse: what the resolution costs.
//
// --active K: K of the N connections send 20 kB/s each, so that their objects change every poll.
// The engine reuses the last poll's objects for sockets whose decoded words did not change
// (decode.ts SnapshotBuilder `prev`, poll-memory.ts); "engine, every object new" is the same poll
// with that off (ConnectionPoller's `reuse: false`), which is what a poll of N all-busy connections
// costs.
//
// The engine runs with the agent's V8 flags (AGENT_V8_FLAGS in src-main/engine/agent/client.ts) and
// polls through its two sock_diag dump workers (src-main/engine/diag/dump-worker.ts, their program
// out/node/dump-worker.mjs, which `npm run bench:poll` builds first; connections.ts).
// "Decoded" means the full snapshot the API returns: every Connection and Subflow object built.
// Each round runs every measure once (ITERS polls after 2 warm-ups); the samples of all rounds are
// pooled, so that each measure sees the same share of the shared machine's other load.
//
// --variants also times the engine with the four dumps one after the other on one worker, without
// the flags, polling on its own thread (no worker) with other per-read buffer sizes, and with the
// MPTCP and TCP dumps split over two sockets of one thread: the choices made in connections.ts.
// (The variants' MODE once reached the probe one argument late: --variants figures taken before
// the fix measured the default engine under every name.)
//
// Removed: --split, which timed the engine sending all four dumps and with the AF_INET TCP dump
// cut in two by a port range (INET_DIAG_REQ_BYTECODE), one part per worker. It was measured (the
// figures below), never paid on 2 cores, and was taken out of the engine with its bench option;
// docs/performance.md says why.
//
// The script waits first for orphaned TCP sockets to close (a previous run's lab leaves 20,000
// for up to net.mptcp.close_timeout, 60 s): every TCP dump walks the kernel's one established hash,
// all namespaces' sockets in it, and with them around every measure, raw C too, was 1.2-1.5x slower.
//
// Measured on the 2-core dev box, 10,000 connections / 20,000 subflows, median ms:
//   before the dump worker and the flag   engine 181.4  raw C 66.1  ss 283.7   (2.74x raw C)
//   one dump worker                       engine  72.7  raw C 44.7  ss 219.3   (1.63x raw C, ss 3.02x)
//   word-view decoder + two dump workers (previous = the one-worker code above, same lab, probes
//   interleaved round by round, pooled medians; the ratio moves with the machine's other load):
//     load 1.4-2.4, 5-8 x 15 polls        previous 70.2-75.8, now 53.0-57.3, raw C 45.7 (1.16-1.25x)
//     load 5-9, 6 x 11 polls              previous 128.6, now 96.8, raw C 59.0 (2.18x -> 1.64x)
//     this script, load ~1.5, --rounds 5  engine 63.2  raw C 42.4  ss 198.4 (1.49x raw C, ss 3.14x)
//   CPU per poll by thread (60 polls): TCP AF_INET worker 39 ms (34.5 in the kernel), MPTCP +
//   AF_INET6 worker 20 ms (17.5 kernel), main thread 19 ms (decode and GC), V8 helpers 2 ms: the
//   AF_INET TCP dump's kernel time is the critical path once the machine has both cores free.
//   The decode alone, of a recorded 10k poll on one thread: 45 ms before, 15 ms now (median).
// 1,000 connections, interleaved, load ~1.8: previous 8.1, decoder only 7.5, now 8.2, raw C 4.1
//   (fixed costs dominate: thread hand-offs, a socket per worker per poll, the kernel walking its
//   262,144-bucket established hash for each TCP dump whatever the namespace holds).
// AF_INET TCP dump split by port range, and the AF_INET6 TCP dump left out (no AF_INET6 MPTCP
// socket), this script with its former --split --rounds 5, 10,000 connections, median (p90) ms:
//     load       engine       raw C   all 4 dumps  split bal.   split 0.5    split 0.85
//     0.8-2.2    63.4 (84)    47.9    64.6 (100)   63.7 (86)    54.5 (94)    58.0 (85)
//     0.5-2.2    66.5 (100)   49.5    67.5 (95)    63.5 (105)   57.6 (85)    70.4 (108)
//     1.0-2.3    71.4 (90)    66.7    75.8 (93)    68.5 (98)    67.1 (94)    75.5 (108)
//     2.7-3.2    67.7 (101)   52.7    74.8 (105)   73.3 (106)   74.5 (99)    76.9 (111)
//   engine / raw C 1.32x, 1.34x, 1.07x, 1.28x (raw C moves with the kernel's other sockets). A/B probes,
//   the default engine against the 0.5 split only, 12 x 15 polls interleaved: load 0.8-2.0
//   56.5 vs 57.7 ms (raw C 48.5, 1.16x), CPU per poll (all threads) 87.6 vs 93.8 ms; split first,
//   load 1.3-3.0: 63.8 vs 63.6 ms (raw C 48.9, 1.30x), CPU 98.9 vs 101.8 ms.
//   The split's gain is not reliable on 2 cores and its CPU cost is: a filtered dump walks the
//   whole established hash again (0.5 split: two AF_INET dumps of 26-30 ms of kernel CPU each
//   against 35-45 ms for the one dump, raw C probes), while the two workers and the decode already
//   keep both cores busy. So it stayed off, and was later removed. Leaving out the AF_INET6
//   TCP dump saves one such walk: ~1 ms at the quiet times above, 15 ms of CPU per poll (128 -> 113)
//   with 11,000 orphaned sockets of other namespaces in the hash.
// 1,000 connections, former --split, load 0.5-1.1: engine 11.8, all four dumps 11.6, split balanced 12.3,
//   split 0.5 10.0, split 0.85 11.4, raw C 4.5 (p90 22-26 for all: noise above any difference).
// Reuse of the last poll's unchanged objects (decode.ts SnapshotBuilder `prev`), --iterations 40
// --rounds 4, 10,000 connections, median ms (engine / every object new / raw C / ss):
//   idle, run 1      42.3 / 50.2 / 42.4 / 196.3   (1.00x raw C, new 1.18x)
//   idle, run 2      51.6 / 49.7 / 40.2 / 206.1   (1.28x, new 1.24x)   ten minutes later
//   1,000 sending    76.5 / 80.3 / 66.1 / 252.7   (1.16x, new 1.21x)   --active 1000
// The floor under all of this: a dump worker reading only the AF_INET TCP dump, decoding nothing,
// 35.7-42.9 ms against 27.8-36.5 ms for the raw C program reading the same dump (1.28x by means,
// six alternating runs: bench/poll-threads.mjs): the netlink binding's per-datagram cost sits on
// the critical path.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  arg,
  bundleEntry,
  cache,
  cleanupOnSignals,
  importLab,
  median,
  p90,
  parseJson,
  root,
} from './lib.mjs';

const N = Number(arg('connections', '1000'));
const ACTIVE = Math.min(N, Number(arg('active', '0')));
const ITERS = Number(arg('iterations', '15'));
const ROUNDS = Number(arg('rounds', '3'));
const VARIANTS = process.argv.includes('--variants');
const PATHS = process.argv.includes('--paths');
if (process.argv.includes('--split')) {
  console.error('bench:poll: --split is gone with the port-range split it measured (docs/performance.md)');
  process.exit(2);
}

// Bundle what we need (the lab and the engine probe).
const { Lab, nsRun, labUnavailableReason } = await importLab();
await bundleEntry('src-main/lab/probes/diag-probe.ts', 'diag-probe.mjs');
execFileSync(
  'cc',
  ['-O2', '-Wall', '-o', join(cache, 'raw-diag-dump'), join(root, 'bench', 'raw-diag-dump.c')],
  { stdio: 'inherit' },
);

const reason = labUnavailableReason();
if (reason) {
  console.error(`bench:poll needs the lab: ${reason}`);
  process.exit(2);
}

/**
 * What the probe's `bench` mode prints (src-main/lab/probes/diag-probe.ts), and the raw C
 * program (bench/raw-diag-dump.c): per iteration, wall and process CPU time, ms.
 * @typedef {{ ms: number[], cpuMs: number[], reusedConnections?: number[] }} Timed
 * @typedef {Timed & { subflows: number, connections: number, receivePaths: string[] }} EngineRun
 * @typedef {Timed & { messages: number, bytes: number }} RawRun
 */

/**
 * Wall time of `ip netns exec NS cmd…` with stdout to /dev/null, ms.
 * @param {string} ns
 * @param {string} cmd
 * @param {string[]} args
 */
function wallMs(ns, cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} failed`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** @type {import('../src-main/lab/lab').Lab | null} */
let lab = null;
/** @type {Promise<void> | null} */
let cleaning = null;
const cleanup = () => (cleaning ??= lab ? lab.destroy() : Promise.resolve());
cleanupOnSignals(cleanup);

/** Orphaned TCP sockets system-wide (/proc/net/sockstat: the counter is global, not per netns). */
const orphans = () =>
  Number(/TCP: .*orphan (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? 0);

try {
  // A previous run's lab leaves its closed subflows orphaned for up to net.mptcp.close_timeout
  // (60 s); they stay in the kernel's established hash, which every TCP dump walks whatever its
  // namespace, and made every measure here (raw C too) up to 1.5x slower. Wait for them to go.
  for (let waited = 0; orphans() > 100 && waited < 120; waited++) {
    if (waited === 0) console.log(`waiting for ${orphans()} orphaned TCP sockets to close`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`load average at the start: ${load()}`);
  const t0 = Date.now();
  const l = await Lab.create({ paths: 2 });
  lab = l;
  await l.startServer(5201);
  await l.openConnections(N - ACTIVE, { rateBytesPerSec: 0 });
  if (ACTIVE > 0) await l.openConnections(ACTIVE, { rateBytesPerSec: 20_000 });
  const countSubflows = async () => {
    const { stdout } = await nsRun(l.client, 'ss', ['-tniH', 'state', 'established', 'dport', '5201'], {
      timeoutMs: 120_000,
    });
    return (stdout.match(/tcp-ulp-mptcp/g) ?? []).length;
  };
  await l.waitFor(`${2 * N} subflows`, countSubflows, (n) => n >= 2 * N, 180_000);
  console.log(`lab ready: ${N} connections, ${2 * N} subflows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const probe = join(cache, 'diag-probe.mjs');
  // Keep in step with AGENT_V8_FLAGS in src-main/engine/agent/client.ts.
  const AGENT_V8_FLAGS = ['--max-semi-space-size=32'];
  // probe-entry.ts: bench ITERS MSGBUF MODE (MSGBUF 0: the default buffer size).
  /** @returns {EngineRun} */
  const engineRun = (mode = 'default', msgBuf = 0, v8Flags = AGENT_V8_FLAGS) => {
    const { stdout } = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        l.client,
        process.execPath,
        ...v8Flags,
        probe,
        'bench',
        String(ITERS),
        String(msgBuf),
        mode,
      ],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const r = /** @type {EngineRun} */ (parseJson(stdout));
    if (r.subflows !== 2 * N) throw new Error(`engine saw ${r.subflows} subflows, expected ${2 * N}`);
    if (mode !== 'two-sockets' && r.connections !== N)
      throw new Error(`engine saw ${r.connections} connections, expected ${N}`);
    // The dump workers' receive path: a worker that fell back to the binding's would mislabel a row.
    const wantPath = mode === 'binding' ? 'binding' : 'direct';
    if (!['thread', 'two-sockets'].includes(mode) && r.receivePaths.some((p) => p !== wantPath))
      throw new Error(`engine mode ${mode} read its dumps on ${r.receivePaths.join(', ')}, not ${wantPath}`);
    return r;
  };
  // Rounds interleave every measure, so that each sees the same share of the machine's other load
  // (the dev box has 2 cores and is shared); the samples of all rounds are pooled.
  /** @type {RawRun | null} */
  let lastRaw = null;
  /** Process CPU per poll (all threads, user + system: the kernel's dump work included). @type {Map<string, number[]>} */
  const cpu = new Map();
  /** Per engine measure: connections per poll that were the last poll's very objects. @type {Map<string, number[]>} */
  const reused = new Map();
  /**
   * @param {string} name
   * @param {Timed} r
   */
  const withCpu = (name, r) => {
    cpu.set(name, [...(cpu.get(name) ?? []), ...r.cpuMs]);
    if (r.reusedConnections) reused.set(name, [...(reused.get(name) ?? []), ...r.reusedConnections]);
    return r.ms;
  };
  /** @type {[string, () => number[]][]} */
  const measures = [['engine readConnections (decoded)', () => withCpu('engine', engineRun())]];
  measures.push(['engine, every object new', () => withCpu('engine, every object new', engineRun('fresh'))]);
  // The dump workers on the netlink binding's receive path (recvmsg callback per datagram) instead
  // of read(2) straight into their batches (dump-worker.ts ReceivePath).
  measures.push([
    "engine, binding's receive path",
    () => withCpu("engine, binding's receive path", engineRun('binding')),
  ]);
  measures.push([
    'raw C sock_diag dump (no decode)',
    () =>
      withCpu(
        'raw C',
        (lastRaw = /** @type {RawRun} */ (
          parseJson(
            execFileSync('ip', ['netns', 'exec', l.client, join(cache, 'raw-diag-dump'), String(ITERS)], {
              encoding: 'utf8',
            }),
          )
        )),
      ),
  ]);
  // ss and the exec overhead, interleaved so both see the same machine state.
  /** @type {number[]} */
  const execMs = [];
  measures.push([
    'ss -tinM (minus exec overhead)',
    () => {
      /** @type {number[]} */
      const ss = [];
      wallMs(l.client, 'ss', ['-tinM']);
      for (let i = 0; i < ITERS; i++) {
        execMs.push(wallMs(l.client, 'true', []));
        ss.push(wallMs(l.client, 'ss', ['-tinM']));
      }
      return ss;
    },
  ]);
  if (PATHS) {
    // The same polls without resolving each new subflow's interface (rtnl/subflow-paths.ts).
    measures.push([
      'engine, no interface resolution',
      () => withCpu('engine, no paths', engineRun('no-paths')),
    ]);
    measures.push([
      'engine, every object new, no interface resolution',
      () => withCpu('every object new, no paths', engineRun('fresh-no-paths')),
    ]);
  }
  if (VARIANTS) {
    measures.push(['engine, dumps on one worker (seq.)', () => engineRun('seq').ms]);
    measures.push(['engine, no V8 flags', () => engineRun('default', 0, []).ms]);
    measures.push(['engine, on one thread (no worker)', () => engineRun('thread').ms]);
    for (const bufBytes of [16384, 65536, 262144])
      measures.push([`one thread, msgBufferBytes ${bufBytes}`, () => engineRun('thread', bufBytes).ms]);
    measures.push(['one thread, MPTCP+TCP on 2 sockets', () => engineRun('two-sockets').ms]);
  }
  /** @type {Map<string, number[]>} */
  const samples = new Map(measures.map(([name]) => [name, []]));
  /** @param {string} name */
  const samplesOf = (name) => samples.get(name) ?? [];
  /** Per round, each measure's median: the ratio within a round compares runs seconds apart. @type {Map<string, number>[]} */
  const roundMedians = [];
  for (let r = 0; r < ROUNDS; r++) {
    /** @type {Map<string, number>} */
    const row = new Map();
    for (const [name, run] of measures) {
      const xs = run();
      samples.set(name, [...samplesOf(name), ...xs]);
      row.set(name, median(xs));
    }
    roundMedians.push(row);
  }
  const execMed = median(execMs);
  const ssName = 'ss -tinM (minus exec overhead)';
  samples.set(
    ssName,
    samplesOf(ssName).map((x) => Math.max(0, x - execMed)),
  );
  const rows = [...samples];
  rows.splice(5, 0, ['ip netns exec true (overhead)', execMs]);
  // Set by the raw C measure's closure, which the compiler's flow analysis does not follow.
  const rawRun = /** @type {RawRun | null} */ (lastRaw);
  if (!rawRun) throw new Error('the raw C dump did not run');
  const raw = {
    messages: rawRun.messages,
    bytes: rawRun.bytes,
    ms: samplesOf('raw C sock_diag dump (no decode)'),
  };
  const engine = { ms: samplesOf('engine readConnections (decoded)') };
  const ssNet = samplesOf(ssName);
  /** @param {number} x */
  const fmt = (x) => x.toFixed(1).padStart(9);
  console.log(
    `\npoll of ${N} MPTCP connections (${ACTIVE} sending) / ${2 * N} subflows, ${ROUNDS} rounds x ${ITERS} iterations (${raw.messages} messages, ${(raw.bytes / 1e6).toFixed(1)} MB per poll)`,
  );
  console.log(`${'measure'.padEnd(36)}${'median ms'.padStart(10)}${'p90 ms'.padStart(10)}`);
  for (const [name, xs] of rows) console.log(`${name.padEnd(36)} ${fmt(median(xs))} ${fmt(p90(xs))}`);
  const e = median(engine.ms);
  console.log(`\nengine / raw C : ${(e / median(raw.ms)).toFixed(2)}x`);
  const eFresh = median(samplesOf('engine, every object new'));
  console.log(`engine, every object new / raw C : ${(eFresh / median(raw.ms)).toFixed(2)}x`);
  console.log(`ss / engine    : ${(median(ssNet) / e).toFixed(2)}x`);
  /** @param {string} name */
  const perRound = (name) =>
    roundMedians.map((row) => (row.get(name) ?? NaN) / (row.get('raw C sock_diag dump (no decode)') ?? NaN));
  for (const name of [
    'engine readConnections (decoded)',
    'engine, every object new',
    "engine, binding's receive path",
  ]) {
    const rs = perRound(name);
    console.log(
      `${name} / raw C by round: ${rs.map((x) => x.toFixed(2)).join(' ')} (median ${median(rs).toFixed(2)}x)`,
    );
  }
  // CPU is steadier than wall time on a shared machine, and says what a poll costs the host.
  console.log('\nprocess CPU per poll (all threads, user + system), median ms:');
  for (const [name, xs] of cpu) console.log(`  ${name.padEnd(34)} ${fmt(median(xs))}`);
  for (const [name, xs] of reused)
    console.log(`${name}: median ${median(xs)} of ${N} connections reused from the poll before`);
  console.log(`load average at the end: ${load()}`);
} finally {
  await cleanup();
}
