// Fleet page first render with N hosts' worth of series, in Chromium, against a real Prometheus.
//
//   npm run bench:fleet -- [--hosts 200] [--hours 6] [--step-s 30] [--week-step-s 240] [--runs 7]
//                          [--no-build]
//
// 1. Writes OpenMetrics text for N exporters (the series the Fleet page reads: up, mptcp_info,
//    mptcp_enabled, mptcp_connections, mptcp_subflows on two interfaces, the 12 MPTcpExt fallback
//    and join-failure counters) every --step-s over the last --hours, and every --week-step-s over
//    the rest of the week before (the week range's history; coarser, or the backfill of 200 hosts
//    would take hundreds of millions of samples; under the 5-minute lookback, so that every point
//    of the week's range query finds a sample), and backfills it with
//    `promtool tsdb create-blocks-from openmetrics` into a temporary data directory (blocks of
//    2 h: Debian's promtool 2.42 has no --max-block-duration, so the week range reads 84 blocks
//    where a Prometheus that ran for the week would have compacted them into a few).
// 2. Starts Debian's prometheus on that directory (127.0.0.1, a free port, no scrape targets), and
//    the web host (`serve --netns <lab> --prometheus URL`).
// 3. In Chromium (the built renderer): from a click on the Fleet tab until N rows are in the
//    table, --runs times (Overview and back between runs), for the hour, day and week ranges.
//    That time holds the host's queries to Prometheus, the JSON to the page and React's render.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { arg, bundleEntry, importBundle, launchChromium, median, root } from './lib.mjs';

const HOSTS = Number(arg('hosts', '200'));
const HOURS = Number(arg('hours', '6'));
const STEP_S = Number(arg('step-s', '30'));
const WEEK_STEP_S = Number(arg('week-step-s', '240'));
const RUNS = Number(arg('runs', '7'));
const FALLBACK = [
  'MPCapableFallbackACK',
  'MPCapableFallbackSYNACK',
  'MPFallbackTokenInit',
  'DSSCorruptionFallback',
  'InfiniteMapTx',
];
const JOIN = [
  'MPJoinNoTokenFound',
  'MPJoinSynAckHMacFailure',
  'MPJoinAckHMacFailure',
  'MPJoinRejected',
  'MPJoinSynTxCreatSkErr',
  'MPJoinSynTxBindErr',
  'MPJoinSynTxConnectErr',
];

if (!process.argv.includes('--no-build')) {
  const web = spawnSync(
    process.execPath,
    ['node_modules/vite/bin/vite.js', 'build', '--config', 'vite.renderer.config.ts', '--logLevel', 'warn'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  if (web.status !== 0) process.exit(web.status ?? 1);
  const node = spawnSync(process.execPath, ['scripts/build-node.mjs'], { cwd: root, stdio: 'pipe' });
  if (node.status !== 0) {
    if (!existsSync(join(root, 'out/node/mptcp-studio.mjs'))) {
      process.stderr.write(node.stderr);
      process.exit(node.status ?? 1);
    }
    console.log('build:node failed; using the host bundle already in out/node');
  }
}
const { Lab, labUnavailableReason } = /** @type {typeof import('../src-main/lab/lab')} */ (
  await importBundle(await bundleEntry('src-main/lab/lab.ts', 'bench-lab.mjs'))
);
const { startPrometheus } = /** @type {typeof import('../src-main/lab/prometheus')} */ (
  await importBundle(await bundleEntry('src-main/lab/prometheus.ts', 'bench-prometheus.mjs'))
);
const reason = labUnavailableReason();
if (reason) {
  console.error(`bench:fleet needs the lab: ${reason}`);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'mpst-fleet-bench-'));
/** @type {import('../src-main/lab/prometheus').PrometheusProcess | null} */
let prom = null;
/** @type {import('../src-main/lab/lab').Lab | null} */
let lab = null;
/** @type {import('node:child_process').ChildProcess | null} */
let serve = null;
/** @type {import('playwright-core').Browser | null} */
let browser = null;
const cleanup = async () => {
  await browser?.close().catch(() => undefined);
  const child = serve;
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await prom?.stop();
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => void cleanup().finally(() => process.exit(130)));

try {
  // 1. OpenMetrics for the backfill: one family at a time, every sample of every host (the
  // format wants a family's samples together, in time order within a series).
  const t0 = performance.now();
  const file = join(dir, 'fleet.om');
  const out = createWriteStream(file);
  // Lines gathered into ~1 MB writes: millions of them for a week.
  let chunk = '';
  const flush = () => {
    const s = chunk;
    chunk = '';
    return out.write(s) ? Promise.resolve() : new Promise((r) => out.once('drain', () => r(undefined)));
  };
  /** @param {string} s */
  const write = (s) => {
    chunk += s;
    return chunk.length >= 1 << 20 ? flush() : Promise.resolve();
  };
  const endS = Math.floor(Date.now() / 1000) - 60;
  const startS = endS - HOURS * 3600;
  const weekStartS = endS - 7 * 24 * 3600;
  // Every sample time of a series: the week before --hours coarse, then every --step-s.
  const times = [];
  for (let t = weekStartS; t < startS; t += WEEK_STEP_S) times.push(t);
  for (let t = startS; t <= endS; t += STEP_S) times.push(t);
  /** @param {number} h */
  const inst = (h) => `instance="node-${String(h).padStart(3, '0')}:9850",job="mptcp"`;
  /** @type {[string, string, (h: number) => [string, (t: number) => number][]][]} */
  const families = [
    ['up', 'gauge', (h) => [[`up{${inst(h)}}`, () => (h % 50 === 7 ? 0 : 1)]]],
    [
      'mptcp_info',
      'gauge',
      (h) => [
        [
          `mptcp_info{${inst(h)},kernel_release="6.18.0",path_manager="${h % 3 ? 'kernel' : 'userspace'}",scheduler="default",congestion_control="cubic"}`,
          () => 1,
        ],
      ],
    ],
    ['mptcp_enabled', 'gauge', (h) => [[`mptcp_enabled{${inst(h)}}`, () => 1]]],
    [
      'mptcp_connections',
      'gauge',
      (h) => [[`mptcp_connections{${inst(h)},state="ESTABLISHED"}`, (t) => 50 + ((h * 7 + t / STEP_S) % 40)]],
    ],
    [
      'mptcp_subflows',
      'gauge',
      (h) =>
        ['eth0', 'eth1'].map((itf) => [
          `mptcp_subflows{${inst(h)},interface="${itf}",backup="false"}`,
          (t) => 50 + ((h + t / STEP_S) % 40),
        ]),
    ],
    [
      'mptcp_mib',
      'counter',
      (h) =>
        [...FALLBACK, ...JOIN].map((c, i) => [
          `mptcp_mib_total{${inst(h)},counter="${c}"}`,
          (t) => Math.floor(((t - weekStartS) / STEP_S) * ((h + i) % 3)),
        ]),
    ],
  ];
  for (const [name, type, seriesOf] of families) {
    await write(`# TYPE ${name} ${type}\n`);
    for (let h = 0; h < HOSTS; h++) {
      for (const [series, value] of seriesOf(h)) {
        for (const t of times) await write(`${series} ${value(t)} ${t}\n`);
      }
    }
  }
  await write('# EOF\n');
  await flush();
  await new Promise((r) => out.end(r));
  const data = join(dir, 'data');
  const backfill = spawnSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', '-q', file, data], {
    stdio: ['ignore', 'ignore', 'pipe'],
    maxBuffer: 64 << 20,
  });
  if (backfill.status !== 0) {
    throw new Error(
      `promtool: ${backfill.error?.message ?? ''} status ${backfill.status} signal ${backfill.signal}: ${backfill.stderr.toString()}`,
    );
  }
  rmSync(file);
  console.log(
    `backfilled ${HOSTS} hosts, ${HOURS} h every ${STEP_S} s and the week before every ${WEEK_STEP_S} s (${times.length} samples per series) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );

  // 2. Prometheus on the backfilled data, the web host pointed at it.
  prom = await startPrometheus([], { dataDir: data });
  lab = await Lab.create({ paths: 1 });
  const web = spawn(
    process.execPath,
    ['bin/mptcp-studio.mjs', 'serve', '--netns', lab.client, '--port', '0', '--prometheus', prom.url],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  serve = web;
  /** @type {string} */
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: web.stdout }).on('line', (l) => {
      const m = /(http:\/\/\S+\?token=\S+)/.exec(l);
      if (m?.[1]) resolve(m[1]);
    });
    web.once('exit', (code) => reject(new Error(`web host exited (${code})`)));
  });

  // 3. Chromium: click Fleet, wait for every row.
  browser = await launchChromium();
  const page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(url);
  await page.getByTestId('nav-overview').waitFor();
  /** @type {Record<string, number[]>} */
  const results = {};
  /** @type {Record<string, number[]>} */
  const queries = {};
  for (const range of ['hour', 'day', 'week']) {
    /** @type {number[]} */
    const ms = [];
    /** @type {number[]} */
    const qms = [];
    for (let i = 0; i < RUNS; i++) {
      await page.getByTestId('nav-overview').click();
      if (range !== 'hour') {
        // The page asks for the hour first; measure the switch to the range instead.
        await page.getByTestId('nav-fleet').click();
        await page.waitForFunction(
          (n) => document.querySelectorAll('[data-testid="fleet-row"]').length === n,
          HOSTS,
        );
        const t = await page.evaluate(
          ([n, r]) =>
            /** @type {Promise<number>} */ (
              new Promise((resolve, reject) => {
                const pageEl = /** @type {HTMLElement} */ (
                  document.querySelector('[data-testid="fleet-page"]')
                );
                const sel = /** @type {HTMLSelectElement} */ (
                  document.querySelector('[data-testid="fleet-range"]')
                );
                const before = pageEl.getAttribute('data-fetched-at');
                const start = performance.now();
                sel.value = r;
                sel.dispatchEvent(new Event('change', { bubbles: true }));
                const check = () => {
                  if (performance.now() - start > 60_000) return reject(new Error('no new overview in 60 s'));
                  const fetched = pageEl.getAttribute('data-fetched-at');
                  if (
                    fetched !== before &&
                    document.querySelectorAll('[data-testid="fleet-row"]').length === n
                  ) {
                    requestAnimationFrame(() => resolve(performance.now() - start));
                  } else requestAnimationFrame(check);
                };
                check();
              })
            ),
          /** @type {[number, string]} */ ([HOSTS, range]),
        );
        ms.push(t);
        qms.push(Number(await page.getByTestId('fleet-page').getAttribute('data-query-ms')));
        continue;
      }
      const t = await page.evaluate(
        (n) =>
          /** @type {Promise<number>} */ (
            new Promise((resolve, reject) => {
              const start = performance.now();
              /** @type {HTMLElement} */ (document.querySelector('[data-testid="nav-fleet"]')).click();
              const check = () => {
                if (performance.now() - start > 60_000) return reject(new Error('no fleet rows in 60 s'));
                if (document.querySelectorAll('[data-testid="fleet-row"]').length === n) {
                  requestAnimationFrame(() => resolve(performance.now() - start));
                } else requestAnimationFrame(check);
              };
              check();
            })
          ),
        HOSTS,
      );
      ms.push(t);
      qms.push(Number(await page.getByTestId('fleet-page').getAttribute('data-query-ms')));
    }
    results[range] = ms;
    queries[range] = qms;
  }
  console.log(
    `\nFleet page, ${HOSTS} hosts from Prometheus (backfilled ${HOURS} h every ${STEP_S} s, a week every ${WEEK_STEP_S} s), ${RUNS} runs`,
  );
  for (const [range, ms] of Object.entries(results)) {
    console.log(
      `${range.padEnd(5)}: click to ${HOSTS} rows painted, median ${median(ms).toFixed(0)} ms (min ${Math.min(...ms).toFixed(0)}, max ${Math.max(...ms).toFixed(0)}); of which the host's Prometheus queries ${median(queries[range] ?? []).toFixed(0)} ms`,
    );
  }
} finally {
  await cleanup();
}
