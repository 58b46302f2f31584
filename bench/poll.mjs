// Poll benchmark: the engine's decoded sock_diag poll against `ss -tinM` and a raw C dump, in a
// lab client namespace holding N idle MPTCP connections with two subflows each.
//
//   npm run bench:poll -- --connections 10000 [--iterations 15] [--rounds 3] [--variants] [--split]
//
// The engine runs with the agent's V8 flags (AGENT_V8_FLAGS in src-main/engine/agent.ts) and polls
// through its two sock_diag dump workers (src-main/engine/diag/dump-worker.ts, connections.ts).
// "Decoded" means the full snapshot the API returns: every Connection and Subflow object built.
// Each round runs every measure once (ITERS polls after 2 warm-ups); the samples of all rounds are
// pooled, so that each measure sees the same share of the shared machine's other load.
//
// --variants also times the engine with the four dumps one after the other on one worker, without
// the flags, polling on its own thread (no worker) with other per-read buffer sizes, and with the
// MPTCP and TCP dumps split over two sockets of one thread: the choices made in connections.ts.
// --split times the engine without the AF_INET TCP dump's port range split, with other shares for
// its first part, and splitting whatever the socket count (connections.ts chooseSplit).
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
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, '.cache');
mkdirSync(cache, { recursive: true });

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
}
const N = Number(arg('connections', '1000'));
const ITERS = Number(arg('iterations', '15'));
const ROUNDS = Number(arg('rounds', '3'));
const VARIANTS = process.argv.includes('--variants');
const SPLIT = process.argv.includes('--split');

// Bundle what we need (the lab and the engine probe); netlink stays a native runtime dependency.
const esbuild = join(root, 'node_modules', '.bin', 'esbuild');
const bundle = (entry, out) =>
  execFileSync(
    esbuild,
    [
      join(root, entry),
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      '--external:netlink',
      `--outfile=${join(cache, out)}`,
      '--log-level=warning',
    ],
    { stdio: 'inherit' },
  );
bundle('src-main/lab/lab.ts', 'bench-lab.mjs');
bundle('src-main/engine/diag/probe-entry.ts', 'diag-probe.mjs');
execFileSync(
  'cc',
  ['-O2', '-Wall', '-o', join(cache, 'raw-diag-dump'), join(root, 'bench', 'raw-diag-dump.c')],
  { stdio: 'inherit' },
);
const { Lab, nsRun, labUnavailableReason } = await import(join(cache, 'bench-lab.mjs'));

const reason = labUnavailableReason();
if (reason) {
  console.error(`bench:poll needs the lab: ${reason}`);
  process.exit(2);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const p90 = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)];
};

/** Wall time of `ip netns exec NS cmd…` with stdout to /dev/null, ms. */
function wallMs(ns, cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} failed`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

let lab = null;
let cleaning = null;
const cleanup = () => (cleaning ??= lab ? lab.destroy() : Promise.resolve());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig}: removing the lab`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  const t0 = Date.now();
  lab = await Lab.create({ paths: 2 });
  await lab.startServer(5201);
  await lab.openConnections(N, { rateBytesPerSec: 0 });
  const countSubflows = async () => {
    const { stdout } = await nsRun(lab.client, 'ss', ['-tniH', 'state', 'established', 'dport', '5201'], {
      timeoutMs: 120_000,
    });
    return (stdout.match(/tcp-ulp-mptcp/g) ?? []).length;
  };
  await lab.waitFor(`${2 * N} subflows`, countSubflows, (n) => n >= 2 * N, 180_000);
  console.log(`lab ready: ${N} connections, ${2 * N} subflows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const probe = join(cache, 'diag-probe.mjs');
  // Keep in step with AGENT_V8_FLAGS in src-main/engine/agent.ts.
  const AGENT_V8_FLAGS = ['--max-semi-space-size=32'];
  // probe-entry.ts: bench ITERS MSGBUF MODE (MSGBUF 0: the default buffer size).
  const engineRun = (mode = 'default', msgBuf = 0, v8Flags = AGENT_V8_FLAGS) => {
    const { stdout } = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        lab.client,
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
    const r = JSON.parse(stdout);
    if (r.subflows !== 2 * N) throw new Error(`engine saw ${r.subflows} subflows, expected ${2 * N}`);
    if (mode !== 'two-sockets' && r.connections !== N)
      throw new Error(`engine saw ${r.connections} connections, expected ${N}`);
    if (r.splitPolls > 0) splitSeen.set(mode, r.lastSplit);
    return r;
  };
  /** The AF_INET TCP split each engine mode ended with (null: the unsplit plan). */
  const splitSeen = new Map();
  // Rounds interleave every measure, so that each sees the same share of the machine's other load
  // (the dev box has 2 cores and is shared); the samples of all rounds are pooled.
  let lastRaw = null;
  const measures = [['engine readConnections (decoded)', () => engineRun().ms]];
  measures.push([
    'raw C sock_diag dump (no decode)',
    () =>
      (lastRaw = JSON.parse(
        execFileSync('ip', ['netns', 'exec', lab.client, join(cache, 'raw-diag-dump'), String(ITERS)], {
          encoding: 'utf8',
        }),
      )).ms,
  ]);
  // ss and the exec overhead, interleaved so both see the same machine state.
  const execMs = [];
  measures.push([
    'ss -tinM (minus exec overhead)',
    () => {
      const ss = [];
      wallMs(lab.client, 'ss', ['-tinM']);
      for (let i = 0; i < ITERS; i++) {
        execMs.push(wallMs(lab.client, 'true', []));
        ss.push(wallMs(lab.client, 'ss', ['-tinM']));
      }
      return ss;
    },
  ]);
  if (SPLIT) {
    // The AF_INET TCP dump's port range split (connections.ts chooseSplit): off, and other shares.
    measures.push(['engine, unsplit AF_INET TCP dump', () => engineRun('unsplit').ms]);
    for (const share of ['0.5', '0.65', '0.85'])
      measures.push([`engine, split, first part ${share}`, () => engineRun(`share=${share}`).ms]);
    measures.push(['engine, split from 0 sockets', () => engineRun('min=0').ms]);
  }
  if (VARIANTS) {
    measures.push(['engine, dumps on one worker (seq.)', () => engineRun('seq').ms]);
    measures.push(['engine, no V8 flags', () => engineRun('default', 0, []).ms]);
    measures.push(['engine, on one thread (no worker)', () => engineRun('thread').ms]);
    for (const bufBytes of [16384, 65536, 262144])
      measures.push([`one thread, msgBufferBytes ${bufBytes}`, () => engineRun('thread', bufBytes).ms]);
    measures.push(['one thread, MPTCP+TCP on 2 sockets', () => engineRun('two-sockets').ms]);
  }
  const samples = new Map(measures.map(([name]) => [name, []]));
  for (let r = 0; r < ROUNDS; r++) for (const [name, run] of measures) samples.get(name).push(...run());
  const execMed = median(execMs);
  const ssName = 'ss -tinM (minus exec overhead)';
  samples.set(
    ssName,
    samples.get(ssName).map((x) => Math.max(0, x - execMed)),
  );
  const rows = [...samples];
  rows.splice(3, 0, ['ip netns exec true (overhead)', execMs]);
  const raw = {
    messages: lastRaw.messages,
    bytes: lastRaw.bytes,
    ms: samples.get('raw C sock_diag dump (no decode)'),
  };
  const engine = { ms: samples.get('engine readConnections (decoded)') };
  const ssNet = samples.get(ssName);
  const fmt = (x) => x.toFixed(1).padStart(9);
  console.log(
    `\npoll of ${N} MPTCP connections / ${2 * N} subflows, ${ROUNDS} rounds x ${ITERS} iterations (${raw.messages} messages, ${(raw.bytes / 1e6).toFixed(1)} MB per poll)`,
  );
  console.log(`${'measure'.padEnd(36)}${'median ms'.padStart(10)}${'p90 ms'.padStart(10)}`);
  for (const [name, xs] of rows) console.log(`${name.padEnd(36)} ${fmt(median(xs))} ${fmt(p90(xs))}`);
  const e = median(engine.ms);
  console.log(`\nengine / raw C : ${(e / median(raw.ms)).toFixed(2)}x`);
  console.log(`ss / engine    : ${(median(ssNet) / e).toFixed(2)}x`);
  for (const [mode, split] of splitSeen) console.log(`split (${mode}): ${JSON.stringify(split)}`);
} finally {
  await cleanup();
}
