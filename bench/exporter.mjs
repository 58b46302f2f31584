// Exporter benchmark: `mptcp-studio exporter` against node_exporter's netstat collector (Debian
// prometheus-node-exporter, --collector.netstat.fields='.*MPTcpExt.*', every other collector
// off), both in the same lab client namespace holding N MPTCP connections of two subflows each.
//
//   npm run bench:exporter -- [--connections 1000,10000] [--scrapes 20] [--wait-ms 1000] [--active 0]
//                             [--poll-ms 1000] [--node-options unit|none|'FLAGS']
//
// --node-options: the Node flags our exporter runs with; `unit` (the default) takes them from
// packaging/mptcp-studio-exporter.service's NODE_OPTIONS, so that the figures are the shipped
// setting's; `none` runs plain `node`.
//
// Per N: each exporter scraped --scrapes times, in turn, --wait-ms apart, from inside the
// namespace; printed: scrape wall time (median, p90), the exposition's size and series, RSS after
// the scrapes, and CPU over the whole run as % of one core. Our exporter polls the connections
// in the background every second (src-main/engine/metrics/collector.ts) and serves a scrape from
// the newest poll plus fresh reads of status, limits, endpoints and MPTcpExt; its CPU figure
// includes that background poll, which node_exporter has no equivalent of (it carries no
// connection or per-interface subflow metrics). Ratios are ours / node_exporter, same run.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { arg, cleanupOnSignals, importLab, median, p90, parseJson, root } from './lib.mjs';

const COUNTS = arg('connections', '1000,10000').split(',').map(Number);
const SCRAPES = Number(arg('scrapes', '20'));
const WAIT_MS = Number(arg('wait-ms', '1000'));
const ACTIVE = Number(arg('active', '0'));
const POLL_MS = arg('poll-ms', '1000');
const NODE_OPTIONS_ARG = arg('node-options', 'unit');
const NODE_FLAGS = (
  NODE_OPTIONS_ARG === 'unit'
    ? (/^Environment=NODE_OPTIONS=(.*)$/m.exec(
        readFileSync(join(root, 'packaging/mptcp-studio-exporter.service'), 'utf8'),
      )?.[1] ?? '')
    : NODE_OPTIONS_ARG === 'none'
      ? ''
      : NODE_OPTIONS_ARG
)
  .split(/\s+/)
  .filter(Boolean);
console.log(`our exporter runs as: node ${NODE_FLAGS.join(' ')} bin/mptcp-studio.mjs exporter`);

const { Lab, labUnavailableReason } = await importLab();
const reason = labUnavailableReason();
if (reason) {
  console.error(`bench:exporter needs the lab: ${reason}`);
  process.exit(2);
}
execFileSync(process.execPath, ['scripts/build-node.mjs'], { cwd: root, stdio: 'inherit' });

/** @param {number | undefined} pid */
const rssMiB = (pid) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
/**
 * utime + stime of a process, seconds (/proc/PID/stat fields 14 and 15, clock ticks of 100 Hz).
 * @param {number | undefined} pid
 */
const cpuS = (pid) => {
  const f = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

/**
 * Starts `cmd` inside `ns` (ip netns exec execs it: the pid is the program's); waits for `port`.
 * @param {string} ns
 * @param {string} cmd
 * @param {string[]} args
 * @param {number} port
 */
async function startIn(ns, cmd, args, port) {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  for (let i = 0; i < 300; i++) {
    const r = spawnIn(ns, process.execPath, [
      '-e',
      `fetch('http://127.0.0.1:${port}/metrics').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
    ]);
    if ((await r) === 0) return child;
    if (child.exitCode !== null) throw new Error(`${cmd} exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${cmd} did not answer on ${port}: ${stderr}`);
}
/**
 * Runs `cmd` inside `ns`; resolves with its exit code.
 * @param {string} ns
 * @param {string} cmd
 * @param {string[]} args
 * @returns {Promise<number | null>}
 */
const spawnIn = (ns, cmd, args) =>
  new Promise((resolve) => {
    const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'ignore' });
    c.once('exit', (code) => resolve(code));
  });
/**
 * SIGTERM; resolves once the process has exited.
 * @param {import('node:child_process').ChildProcess} child
 * @returns {Promise<void>}
 */
const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

/** @type {import('../src-main/lab/lab').Lab | null} */
let lab = null;
/** @type {import('node:child_process').ChildProcess[]} */
const procs = [];
/** @type {Promise<void> | null} */
let cleaning = null;
const cleanup = () => (cleaning ??= Promise.all(procs.map(stop)).then(() => lab?.destroy()));
cleanupOnSignals(cleanup);

/**
 * One exporter at one count: scrape time, series, size, RSS, CPU.
 * @typedef {{ median: number, p90: number, series: number, bytes: number, rss: number, cpu: number }} Measured
 */
/** @type {{ n: number, ours: Measured, theirs: Measured }[]} */
const rows = [];
try {
  for (const n of COUNTS) {
    const l = await Lab.create({ paths: 2 });
    lab = l;
    await l.startServer(5201);
    await l.openConnections(n - Math.min(n, ACTIVE), { rateBytesPerSec: 0 });
    if (ACTIVE > 0) await l.openConnections(Math.min(n, ACTIVE), { rateBytesPerSec: 20_000 });
    await l.waitFor(
      `${n} connections with two subflows`,
      () => execFileSync('ip', ['netns', 'exec', l.client, 'ss', '-tH']).toString().split('\n').length - 1,
      (k) => k >= 2 * n,
      120_000,
    );
    const ours = await startIn(
      l.client,
      process.execPath,
      [
        ...NODE_FLAGS,
        join(root, 'bin', 'mptcp-studio.mjs'),
        'exporter',
        '--listen',
        '127.0.0.1:9850',
        '--poll-ms',
        POLL_MS,
      ],
      9850,
    );
    procs.push(ours);
    const theirs = await startIn(
      l.client,
      'prometheus-node-exporter',
      [
        '--web.listen-address=127.0.0.1:9100',
        '--collector.disable-defaults',
        '--collector.netstat',
        '--collector.netstat.fields=.*MPTcpExt.*',
      ],
      9100,
    );
    procs.push(theirs);
    // Let our background poll run a few times before measuring.
    await new Promise((r) => setTimeout(r, 3000));
    const cpu0 = [cpuS(ours.pid), cpuS(theirs.pid)];
    const t0 = performance.now();
    const scraper = spawn(
      'ip',
      [
        'netns',
        'exec',
        l.client,
        process.execPath,
        join(root, 'bench', 'exporter-scrape.mjs'),
        String(SCRAPES),
        String(WAIT_MS),
        'http://127.0.0.1:9850/metrics',
        'http://127.0.0.1:9100/metrics',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let text = '';
    scraper.stdout.on('data', (d) => (text += d));
    await new Promise((r) => scraper.once('exit', r));
    const wallS = (performance.now() - t0) / 1000;
    // What bench/exporter-scrape.mjs prints, by URL.
    const res = /** @type {Record<string, { ms: number[], bytes: number, series: number }>} */ (
      parseJson(text)
    );
    const cpu1 = [cpuS(ours.pid), cpuS(theirs.pid)];
    const [a, b] = [res['http://127.0.0.1:9850/metrics'], res['http://127.0.0.1:9100/metrics']];
    if (!a || !b) throw new Error(`the scraper reported on ${Object.keys(res).join(', ')}`);
    rows.push({
      n,
      ours: {
        median: median(a.ms),
        p90: p90(a.ms),
        series: a.series,
        bytes: a.bytes,
        rss: rssMiB(ours.pid),
        cpu: (100 * ((cpu1[0] ?? NaN) - (cpu0[0] ?? NaN))) / wallS,
      },
      theirs: {
        median: median(b.ms),
        p90: p90(b.ms),
        series: b.series,
        bytes: b.bytes,
        rss: rssMiB(theirs.pid),
        cpu: (100 * ((cpu1[1] ?? NaN) - (cpu0[1] ?? NaN))) / wallS,
      },
    });
    await Promise.all(procs.splice(0).map(stop));
    await l.destroy();
    lab = null;
  }
} finally {
  await cleanup();
}

/** @param {number} x */
const f = (x, d = 1) => x.toFixed(d);
console.log(
  `\n${SCRAPES} scrapes each, ${WAIT_MS} ms apart, interleaved; ${ACTIVE} connections sending 20 kB/s; our background poll every ${POLL_MS} ms`,
);
console.log('connections | exporter          | scrape median (p90) ms | series | RSS MiB | CPU % of a core');
for (const r of rows) {
  for (const [name, x] of /** @type {const} */ ([
    ['mptcp-studio', r.ours],
    ['node_exporter', r.theirs],
  ])) {
    console.log(
      `${String(r.n).padStart(11)} | ${name.padEnd(17)} | ${f(x.median, 2).padStart(8)} (${f(x.p90, 2)})${' '.repeat(6)} | ${String(x.series).padStart(6)} | ${f(x.rss).padStart(7)} | ${f(x.cpu, 2)}`,
    );
  }
  console.log(
    `${String(r.n).padStart(11)} | ratio ours/theirs | scrape ${f(r.ours.median / r.theirs.median, 2)}x, RSS ${f(r.ours.rss / r.theirs.rss, 2)}x, CPU ${f(r.ours.cpu / Math.max(r.theirs.cpu, 0.01), 1)}x`,
  );
}
