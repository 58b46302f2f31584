// Where a poll's CPU goes, per thread, and the floor of its critical path, at N idle connections:
//
//   npm run build:node && node bench/poll-threads.mjs [--connections 10000] [--iterations 60] [--rounds 6] [--floor-only]
//
// 1. The engine's poll with reuse of the last poll's unchanged objects (the default) and with every
//    object built anew (`fresh`), alternating, ROUNDS processes each of ITERS polls: wall per poll,
//    process CPU per poll (all threads, from /proc/self/task: user + system) and minor page faults.
//    Thread ticks are 10 ms, hence many polls per process.
// 2. The floor: the AF_INET TCP dump alone on a dump worker that decodes nothing (probe
//    `worker-floor`), on each receive path (direct read(2) into the batch, and the netlink
//    binding's recvmsg callback), against the raw C program reading the same dump
//    (`raw-diag-dump ITERS 32768 tcp4`), alternating: what each path adds to the kernel's work.
//    `--floor-only` skips part 1.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  arg,
  bundleEntry,
  cache,
  cleanupOnSignals,
  importLab,
  mean,
  median,
  parseJson,
  root,
} from './lib.mjs';

const N = Number(arg('connections', '10000'));
const ITERS = Number(arg('iterations', '60'));
const ROUNDS = Number(arg('rounds', '6'));
const FLOOR_ONLY = process.argv.includes('--floor-only');

const { Lab, labUnavailableReason } = await importLab();
const probe = await bundleEntry('src-main/lab/probes/diag-probe.ts', 'diag-probe.mjs');
const raw = join(cache, 'raw-diag-dump');
execFileSync('cc', ['-O2', '-Wall', '-o', raw, join(root, 'bench', 'raw-diag-dump.c')], { stdio: 'inherit' });
const reason = labUnavailableReason();
if (reason) {
  console.error(`bench needs the lab: ${reason}`);
  process.exit(2);
}

/**
 * What the probe's `threads` and `worker-floor` modes print (src-main/lab/probes/diag-probe.ts),
 * and the raw C program (bench/raw-diag-dump.c): ms per poll, per thread CPU.
 * @typedef {{ tid: number, name: string, userMs: number, sysMs: number, minorFaults: number }} ThreadCpu
 * @typedef {{ ms: number[], threads: ThreadCpu[], path?: string }} ProbeOut
 */

/**
 * Runs `cmd` in the namespace and parses the JSON it prints.
 * @param {string} ns
 * @param {string} cmd
 * @param {string[]} args
 * @returns {ProbeOut}
 */
const inNs = (ns, cmd, args) => {
  const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return /** @type {ProbeOut} */ (parseJson(r.stdout));
};

/** @type {import('../src-main/lab/lab').Lab | null} */
let lab = null;
const cleanup = async () => {
  const l = lab;
  lab = null;
  await l?.destroy();
};
cleanupOnSignals(cleanup);

try {
  const l = await Lab.create({ paths: 2 });
  lab = l;
  await l.startServer(5201);
  await l.openConnections(N, { rateBytesPerSec: 0 });
  // Let the connections settle (subflows joined, first RTT samples in).
  await new Promise((r) => setTimeout(r, 5000));
  const ns = l.client;

  /** @type {[string, string][]} name, probe mode */
  const modes = FLOOR_ONLY
    ? []
    : [
        ['reuse', 'default'],
        ['every object new', 'fresh'],
      ];
  /** @typedef {{ wall: number[], cpu: number[], faults: number[], top: ThreadCpu[] }} Row */
  /** @type {Map<string, Row>} */
  const rows = new Map(modes.map(([k]) => [k, { wall: [], cpu: [], faults: [], top: [] }]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, mode] of modes) {
      const out = inNs(ns, process.execPath, [
        '--max-semi-space-size=32',
        probe,
        'threads',
        String(ITERS),
        mode,
      ]);
      const row = rows.get(name);
      if (!row) continue;
      row.wall.push(median(out.ms));
      row.cpu.push(out.threads.reduce((a, t) => a + t.userMs + t.sysMs, 0));
      row.faults.push(out.threads.reduce((a, t) => a + t.minorFaults, 0));
      row.top = out.threads.filter((t) => t.userMs + t.sysMs >= 0.5);
    }
  }
  if (!FLOOR_ONLY)
    console.log(`\n${N} idle connections, ${ROUNDS} alternating processes x ${ITERS} polls, per poll:`);
  if (!FLOOR_ONLY)
    console.log('mode                  wall ms (mean of medians)  CPU ms (mean)  minor faults (mean)');
  for (const [name, row] of rows) {
    console.log(
      `${name.padEnd(22)}${mean(row.wall).toFixed(1).padStart(10)}${mean(row.cpu).toFixed(1).padStart(22)}${mean(row.faults).toFixed(0).padStart(18)}`,
    );
  }
  for (const [name, row] of rows) {
    console.log(`  ${name}, last process, threads with >= 0.5 ms CPU per poll (user/sys ms, faults):`);
    for (const t of row.top)
      console.log(
        `    ${t.tid} ${t.name}: ${t.userMs.toFixed(1)} / ${t.sysMs.toFixed(1)}, ${t.minorFaults.toFixed(0)}`,
      );
  }

  /** @type {{ direct: number[], binding: number[], raw: number[] }} */
  const floor = { direct: [], binding: [], raw: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const path of /** @type {const} */ (['direct', 'binding'])) {
      const out = inNs(ns, process.execPath, [probe, 'worker-floor', '40', path]);
      if (out.path !== path) throw new Error(`worker-floor ${path}: the worker used ${out.path}`);
      floor[path].push(median(out.ms));
    }
    floor.raw.push(median(inNs(ns, raw, ['40', '32768', 'tcp4']).ms));
  }
  console.log(`\nAF_INET TCP dump alone, ${ROUNDS} alternating runs of 40, median ms per run:`);
  console.log(`  dump worker, direct read(2):      ${floor.direct.map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`  dump worker, the binding's recv:  ${floor.binding.map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`  raw C:                            ${floor.raw.map((x) => x.toFixed(1)).join(' ')}`);
  console.log(
    `  ratio of means to raw C: direct ${(mean(floor.direct) / mean(floor.raw)).toFixed(2)}x, binding ${(mean(floor.binding) / mean(floor.raw)).toFixed(2)}x`,
  );
} finally {
  await cleanup();
}
