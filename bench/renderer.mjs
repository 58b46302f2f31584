// Renderer benchmark: the connection detail view with 16 subflows x 3 charts, fed at 10 Hz, in
// Chromium (/usr/bin/chromium, headless) driven by Playwright.
//
//   npm run bench:renderer -- [--warmup-s 60] [--measure-s 30] [--updates 36000] [--detail-ms 4]
//                             [--markers-per-min 0]
//
// With --connections N[,N…] it measures every page against a real lab instead (see
// connectionsBench at the end of this file).
//
// The page is the real renderer, built with `vite build --mode bench` (identical to the production
// bundle except src-renderer/src/bench.ts, which reads ?detailMs= there and nothing in production).
// This script is its host: it serves the files and speaks the web host's wire protocol over
// WebSocket (shared/wire.ts), answering every call the app makes. `mptcp:connection:get` returns
// one synthetic connection with 16 subflows whose RTT, cwnd and byte counters move on every read
// (shared/testing/synthetic.ts); the connections feed (full + deltas) and counter samples are pushed at
// 1 Hz, like the real host; with --markers-per-min N, a kernel event (sub_priority) for the
// connection N times a minute, each a marker on all three charts. So the page runs its production path: WebSocket client, zod parsing,
// the detail loop, ring buffers, decimation, the recharts charts and their canvas series.
//
// Phase 1, frame times: the detail loop at its real 10 Hz. After --warmup-s (60 s fills the
// default 60 s chart window: 600 points per line, 48 lines), rAF intervals are recorded for
// --measure-s seconds: p50/p95/p99 and long frames.
//
// Phase 2, heap: "36,000 updates" read strictly as 36,000 detail ticks, each updating all 48
// series (16 subflows x 3 charts), i.e. one hour at 10 Hz or 1,728,000 per-series points. The
// page is reloaded with ?detailMs=N so the loop runs as fast as it can (WebSocket round trips,
// ~75 ticks/s on the 2-core dev box) and the heap is read after a forced GC (CDP
// HeapProfiler.collectGarbage + Runtime.getHeapUsage) every 3,000 ticks. Flat means: no growth
// after the rings have filled.
//
// Measured on the 2-core dev box (shared with other jobs), Chromium 156, default options:
//   recharts <Line>s, SVG (first UI)  rAF p95 367 ms, 3.3 ticks/s kept; heap 21 -> 122 MiB by 3,000 ticks
//   SVG path per line                 rAF p95 33 ms (load avg ~8)
//   canvas, 1.6 px lines              rAF p95 16.8 ms, p99 33 ms (load avg ~6)
//   canvas, 1 px, own SVG axes        rAF p50/p95/p99 16.7/16.7/16.8 ms; 5.4 ms script per tick
//   recharts <Line>s drawing on the canvas through their `shape` (no SVG path): 139 ms script per
//                                     tick, 6.3 ticks/s kept, rAF p95 167 ms (recharts' per-point
//                                     work, not raster; 30 s warm-up)
//   recharts chart (grid, axes, reference lines) + the lines as a canvas series reading recharts'
//   scales, absolute time axis:       26 ms script per tick, rAF p95 33 ms (axes re-render each tick)
//   same, relative time axis, axes memoised (this code): rAF p50/p95/p99 16.7/16.7/16.8 ms, 0 long
//                                     frames of 1,800; 9.9 ticks/s; 6.2 ms script per tick; heap
//                                     12.6-14.6 MiB from 3,000 to 36,005 ticks (8.5 MiB at start)
//   --markers-per-min 10 (10 markers on each chart): recharts <ReferenceLine>s 25 ms script per
//                                     tick, rAF p99 33 ms, 75 long frames of 1,715; markers as our
//                                     own SVG at recharts' scales (this code): 7.3 ms, p95/p99
//                                     16.8/16.8 ms, 1 long frame of 1,800
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { extname, join, normalize, sep } from 'node:path';
import { loadavg } from 'node:os';
import { WebSocketServer } from 'ws';
import {
  arg as argText,
  buildWebAndHost,
  bundleSource,
  cache,
  cleanupOnSignals,
  importBundle,
  importLab,
  launchChromium,
  parseJson,
  root,
  startWebHost,
  stopChild,
  wsText,
} from './lib.mjs';

/**
 * A numeric option.
 * @param {string} name
 * @param {number} dflt
 */
const arg = (name, dflt) => Number(argText(name, dflt));
if (argText('connections', null) !== null) {
  await connectionsBench();
  process.exit(0);
}
const WARMUP_S = arg('warmup-s', 60);
const MEASURE_S = arg('measure-s', 30);
const UPDATES = arg('updates', 36_000);
const DETAIL_MS = arg('detail-ms', 4);
const MARKERS_PER_MIN = arg('markers-per-min', 0);
const SUBFLOWS = 16;
const PROFILE = process.argv.includes('--profile');

// --- build ---------------------------------------------------------------------------------------
const staticDir = join(cache, 'bench-renderer');
const vite = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules/vite/bin/vite.js'),
    'build',
    '--config',
    join(root, 'vite.renderer.config.ts'),
    '--mode',
    'bench',
    '--outDir',
    staticDir,
    '--emptyOutDir',
    '--logLevel',
    'warn',
    // --profile: readable function names in the profile.
    ...(PROFILE ? ['--minify', 'false'] : []),
  ],
  { cwd: root, stdio: 'inherit' },
);
if (vite.status !== 0) process.exit(vite.status ?? 1);
/**
 * What the bundle exports: the modules it was built from.
 * @typedef {typeof import('../shared/delta')
 *   & typeof import('../shared/testing/synthetic')
 *   & Pick<typeof import('../shared/testing/status-fixtures'), 'kernelStatus'>
 *   & Pick<typeof import('../src-renderer/src/testing/fixtures'), 'overview' | 'mptcpEvent'>} Bundled
 */
const lib = /** @type {Bundled} */ (
  await importBundle(
    await bundleSource(
      "export * from './shared/delta.ts'; export * from './shared/testing/synthetic.ts'; export { kernelStatus } from './shared/testing/status-fixtures.ts'; export { overview, mptcpEvent } from './src-renderer/src/testing/fixtures.ts';",
      'bench-renderer-lib.mjs',
      { external: [] },
    ),
  )
);

// --- the synthetic host --------------------------------------------------------------------------
const r = lib.prng(16);
const TOKEN = 0x5eed1234;
const watched = {
  ...lib.syntheticConnection(r, TOKEN, SUBFLOWS),
  state: /** @type {const} */ ('ESTABLISHED'),
};
/** @type {import('../shared/types').ConnectionsSnapshot} */
let world = { ...lib.syntheticSnapshot(r, 0, Date.now()), connections: [watched] };
let ticks = 0;
const advance = () => {
  const now = Date.now();
  world = lib.steadyTick(r, world, Math.max(1, now - world.takenAtMs), 0);
  world.takenAtMs = now;
};

/** @type {Record<string, string>} */
const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
/**
 * Serves the built renderer's files.
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 */
async function serveFile(req, res) {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const file = normalize(join(staticDir, path === '/' ? 'index.html' : path.slice(1)));
  if (!file.startsWith(staticDir + sep)) return void res.writeHead(403).end();
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
}
const server = createServer((req, res) => void serveFile(req, res));
const wss = new WebSocketServer({ server, path: '/api' });
/** @type {Set<import('ws').WebSocket>} */
const sockets = new Set();
wss.on('connection', (ws) => {
  sockets.add(ws);
  let seq = 0;
  /** @type {import('../shared/types').ConnectionsSnapshot | null} */
  let sent = null;
  /**
   * @template {import('../shared/contract').EventName} E
   * @param {E} name
   * @param {import('../shared/contract').EventPayload<E>} payload
   */
  const event = (name, payload) => ws.send(JSON.stringify({ t: 'event', name, payload }));
  /** @param {boolean} full */
  const feed = (full) => {
    advance();
    if (full || !sent) event('mptcp:connections:delta', { kind: 'full', seq: ++seq, snapshot: world });
    else event('mptcp:connections:delta', lib.diffSnapshots(sent, world, seq + 1, seq++));
    sent = world;
  };
  /** @type {import('../shared/types').MptcpCounters | null} */
  let prevCounters = null;
  const counters = () => {
    const now = {
      takenAtMs: Date.now(),
      counters: { MPCapableSYNTX: 10, MPJoinRejected: Math.floor(ticks / 5000) },
    };
    event('mptcp:counters:sample', {
      takenAtMs: now.takenAtMs,
      prevTakenAtMs: prevCounters?.takenAtMs ?? null,
      changed: now.counters,
    });
    prevCounters = now;
  };
  const timer = setInterval(() => {
    feed(false);
    counters();
  }, 1000);
  const markers =
    MARKERS_PER_MIN > 0
      ? setInterval(
          () => event('mptcp:kernel:event', lib.mptcpEvent('sub_priority', { token: TOKEN }, Date.now())),
          60_000 / MARKERS_PER_MIN,
        )
      : null;
  ws.on('close', () => {
    clearInterval(timer);
    if (markers) clearInterval(markers);
    sockets.delete(ws);
  });
  ws.on('message', (data) => {
    const call = /** @type {import('../shared/wire').WireCall} */ (parseJson(wsText(data)));
    /** @param {unknown} value */
    const reply = (value) =>
      ws.send(JSON.stringify({ t: 'result', id: call.id, result: { ok: true, value } }));
    switch (call.method) {
      case 'mptcp:connection:get':
        ticks++;
        advance();
        return reply(world.connections.find((c) => c.token === TOKEN));
      case 'mptcp:connections:list':
        advance();
        return reply(world);
      case 'mptcp:connections:resync':
        reply({});
        return feed(true);
      case 'mptcp:connections:ack':
        return reply({});
      case 'mptcp:overview:get':
        return reply(lib.overview());
      case 'mptcp:status:get':
        return reply(lib.kernelStatus());
      case 'mptcp:counters:get':
        return reply({ takenAtMs: Date.now(), counters: { MPCapableSYNTX: 10, MPJoinRejected: 0 } });
      case 'mptcp:advice:get':
        return reply([]);
      default:
        return ws.send(
          JSON.stringify({
            t: 'result',
            id: call.id,
            result: {
              ok: false,
              error: { code: 'UNSUPPORTED', message: `${call.method}: not in the bench` },
            },
          }),
        );
    }
  });
});
/** @type {Promise<void>} */
const listening = new Promise((res) => server.listen(0, '127.0.0.1', res));
await listening;
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('the bench host has no TCP port');
const base = `http://127.0.0.1:${address.port}/?token=bench`;

// --- the browser ---------------------------------------------------------------------------------
const browser = await launchChromium();

/**
 * @param {import('@playwright/test').Page} page
 * @param {string} url
 */
async function openDetail(page, url) {
  await page.goto(url);
  await page.getByTestId('nav-connections').click();
  await page.locator('[data-testid^="conn-row-"]').first().click();
  await page.getByTestId('conn-detail').waitFor();
  await page.locator(`[data-testid="chart-rtt"][data-lines="${SUBFLOWS}"]`).waitFor({ timeout: 20_000 });
}

try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  // Phase 1: real time, 10 Hz.
  await openDetail(page, base);
  const ticksAtStart = ticks;
  await page.waitForTimeout(WARMUP_S * 1000);
  const lines = await page.getByTestId('chart-rtt-lines').getAttribute('data-drawn-lines');
  // Main-thread time (CDP Performance metrics, seconds): what the updates cost the page, which a
  // loaded machine inflates less than it inflates frame intervals.
  const perf = await context.newCDPSession(page);
  await perf.send('Performance.enable');
  const metrics = async () =>
    Object.fromEntries((await perf.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  if (PROFILE) {
    await perf.send('Profiler.enable');
    await perf.send('Profiler.setSamplingInterval', { interval: 200 });
    await perf.send('Profiler.start');
  }
  const m0 = await metrics();
  const load0 = loadavg()[0];
  const ticksBefore = ticks;
  const frames = await recordFrames(page, MEASURE_S * 1000);
  const rate = (ticks - ticksBefore) / MEASURE_S;
  const m1 = await metrics();
  if (PROFILE) {
    // --profile: where the page's script time goes, by function self time.
    const { profile } = await perf.send('Profiler.stop');
    printSelfTime(profile, 25, '  profile (self %):');
  }
  /** @param {string} k */
  const perTick = (k) => (((m1[k] ?? 0) - (m0[k] ?? 0)) * 1000) / Math.max(1, ticks - ticksBefore);
  const points = await page.evaluate(
    () => document.querySelector('[data-testid="chart-rtt"]')?.getAttribute('data-points') ?? '?',
  );
  const markersShown = await page.locator('[data-testid="chart-rtt"] .event-marker').count();
  console.log(
    `\nphase 1: ${SUBFLOWS} subflows x 3 charts at 10 Hz (real time), Chromium ${browser.version()}`,
  );
  console.log(
    `  warm-up ${WARMUP_S} s (${ticksBefore - ticksAtStart} ticks), measured ${MEASURE_S} s: ${rate.toFixed(1)} ticks/s, ${lines} lines in the RTT chart, ~${points} points per line, ${markersShown} event markers`,
  );
  console.log(
    `  rAF frame interval ms: p50 ${f1(q(frames, 0.5))}  p95 ${f1(q(frames, 0.95))}  p99 ${f1(q(frames, 0.99))}  max ${f1(Math.max(...frames))}  (${frames.length} frames)`,
  );
  console.log(
    `  long frames: > 16.7 ms ${frames.filter((x) => x > 16.7 * 1.5).length} (beyond 1.5 frame), > 50 ms ${frames.filter((x) => x > 50).length}`,
  );
  console.log(
    `  main thread per 10 Hz update: tasks ${f1(perTick('TaskDuration'))} ms (script ${f1(perTick('ScriptDuration'))}, layout ${f1(perTick('LayoutDuration'))}, style ${f1(perTick('RecalcStyleDuration'))})`,
  );
  console.log(
    `  machine load average (1 min) during the window: ${f1(load0 ?? NaN)} -> ${f1(loadavg()[0] ?? NaN)} on 2 cores`,
  );

  // Phase 2: 36,000 ticks, accelerated.
  await openDetail(page, `${base}&detailMs=${DETAIL_MS}`);
  const cdp = await context.newCDPSession(page);
  const heapNow = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    await cdp.send('HeapProfiler.collectGarbage');
    return (await cdp.send('Runtime.getHeapUsage')).usedSize;
  };
  const startTicks = ticks;
  const t0 = Date.now();
  /** @type {[number, number][]} ticks, heap bytes */
  const heap = [[0, await heapNow()]];
  /** @type {number[]} */
  const fastFrames = [];
  await page.evaluate(() => {
    window.__benchFrames = [];
    let last = performance.now();
    /** @param {number} t */
    const step = (t) => {
      window.__benchFrames.push(t - last);
      last = t;
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
  let nextMark = 3000;
  while (ticks - startTicks < UPDATES) {
    await page.waitForTimeout(250);
    if (ticks - startTicks >= nextMark) {
      heap.push([ticks - startTicks, await heapNow()]);
      nextMark += 3000;
    }
    if (Date.now() - t0 > 30 * 60_000) throw new Error('phase 2 took more than 30 minutes');
  }
  const secs = (Date.now() - t0) / 1000;
  heap.push([ticks - startTicks, await heapNow()]);
  fastFrames.push(...(await page.evaluate(() => window.__benchFrames.splice(0))));
  console.log(
    `\nphase 2: ${ticks - startTicks} ticks (x ${SUBFLOWS * 3} series = ${(ticks - startTicks) * SUBFLOWS * 3} series updates) in ${secs.toFixed(0)} s (${((ticks - startTicks) / secs).toFixed(0)} ticks/s)`,
  );
  console.log(`  heap used after GC: ${heap.map(([t, b]) => `${t}: ${mib(b)} MiB`).join(', ')}`);
  const afterFill = heap.filter(([t]) => t >= 6000).map(([, b]) => b);
  const [first, last] = [afterFill[0], afterFill.at(-1)];
  if (first !== undefined && last !== undefined)
    console.log(
      `  from 6,000 ticks (rings full) to the end: ${mib(first)} -> ${mib(last)} MiB (${((last - first) / 1024).toFixed(0)} KiB), min ${mib(Math.min(...afterFill))}, max ${mib(Math.max(...afterFill))} MiB`,
    );
  console.log(
    `  rAF during phase 2 (far above 10 Hz): p50 ${f1(q(fastFrames, 0.5))}  p95 ${f1(q(fastFrames, 0.95))}  p99 ${f1(q(fastFrames, 0.99))} ms`,
  );
  if (errors.length) console.log(`  page errors: ${errors.join(' | ')}`);
} finally {
  for (const s of sockets) s.terminate();
  await browser.close();
  server.close();
}

// --- shared by both modes (function declarations: connectionsBench runs before the consts above) ---

/**
 * The p-quantile of xs (the sample at rank floor(p * n)); NaN when empty.
 * @param {readonly number[]} xs
 * @param {number} p
 */
function q(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}

/** @param {number} x */
function f1(x) {
  return x.toFixed(1);
}

/** @param {number} b bytes */
function mib(b) {
  return (b / 1048576).toFixed(1);
}

/**
 * The page's rAF intervals over `ms`, the first one dropped (it starts mid-frame).
 * @param {import('@playwright/test').Page} page
 * @param {number} ms
 */
function recordFrames(page, ms) {
  return page.evaluate(async (ms) => {
    /** @type {number[]} */
    const intervals = [];
    let last = performance.now();
    const end = last + ms;
    /** @type {Promise<void>} */
    const done = new Promise((resolve) => {
      /** @param {number} t */
      const step = (t) => {
        intervals.push(t - last);
        last = t;
        if (t < end) requestAnimationFrame(step);
        else resolve();
      };
      requestAnimationFrame(step);
    });
    await done;
    return intervals.slice(1);
  }, ms);
}

/**
 * Prints the `top` functions of a CDP profile by self time (share of the samples).
 * @param {{ nodes: { id: number, callFrame: { functionName: string, url: string, lineNumber: number } }[], samples?: number[] }} profile
 * @param {number} top
 * @param {string} title
 */
function printSelfTime(profile, top, title) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  /** @type {Map<string, number>} */
  const self = new Map();
  const samples = profile.samples ?? [];
  for (const id of samples) {
    const n = byId.get(id);
    if (!n) continue;
    const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber}`;
    self.set(k, (self.get(k) ?? 0) + 1);
  }
  console.log(title);
  for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`    ${((100 * c) / samples.length).toFixed(1).padStart(5)}  ${k}`);
}

// --- --connections N: every page against a real lab ----------------------------------------------
//
//   npm run bench:renderer -- --connections 1000,5000,10000 [--sending 1000] [--measure-s 10]
//                             [--settle-s 4] [--pages overview,connections,scroll,detail,events]
//                             [--no-build] [--profile] [--root DIR[,DIR…]]
//
// A lab (src-main/lab/lab.ts) with N MPTCP connections of two subflows each, --sending of them
// (--active is the same option's older name) sending 20 kB/s (opened first; the rest idle), and the real web host looking at its client
// namespace (`node bin/mptcp-studio.mjs serve --netns <client> --port 0`: the production bundle in
// out/renderer, the namespace agent, the delta feed, polling at its default 1 Hz). With several
// sizes, the lab grows from one to the next and the page is loaded afresh for each. Debian's
// Chromium with the e2e flags opens the page; for each page, after --settle-s and a forced GC,
// rAF intervals are recorded for --measure-s while the JS heap is read once a second (CDP
// Runtime.getHeapUsage, no forced GC: what the page holds at its peaks, garbage included), then
// once after a forced GC. "scroll" is the Connections page while the wheel scrolls the list down
// 400 px every 100 ms; "detail" is one connection's detail view (its 10 Hz loop on top of the
// 1 Hz feed). Last, the Connections list is scrolled to its end: its last row must be the last
// connection (rows carry aria-rowindex).
//
// --root DIR,DIR…: the same lab, each size measured with a web host started from each tree in
// turn (its bin/, out/node and out/renderer; one host at a time): a before/after pair in one
// run, on the same connections, under the same machine load.
//
// Also timed in the page: the app's WebSocket handler per connections event (wire parse, delta
// applied, every store fed) and the long tasks.
//
// Measured on the 2-core dev box shared with other jobs, 10,000 idle connections, before the rows
// were virtualised (load 3.9-6.0): every page spent 430-590 ms of script per second, the feed's
// handler 400-535 ms per poll, two thirds of it in the samples store (20,000 subflows against its
// 2,048 series: each newcomer evicted the oldest by scanning them all, so the store was replaced
// on every poll); rAF p99 433-600 ms, heap peaks up to 112 MiB. After: handler 6-9 ms, p99
// 16.8-33.4 ms, heap peaks up to 49 MiB. With 1,000 of them sending (--sending 1000), the handler
// went from 25-40 to 10-16 ms per poll once deltas were checked by predicates compiled from the
// zod schemas and applied by position (shared/zod-fast-check.ts, shared/delta.ts). Every figure:
// docs/performance.md.
async function connectionsBench() {
  const SIZES = argText('connections', '10000')
    .split(',')
    .map(Number)
    .sort((a, b) => a - b);
  const ACTIVE = Number(argText('sending', argText('active', '0')));
  const MEASURE_S = Number(argText('measure-s', '10'));
  const SETTLE_S = Number(argText('settle-s', '4'));
  const PAGES = argText('pages', 'overview,connections,scroll,detail,events').split(',');
  const PROFILE = process.argv.includes('--profile');
  // --root DIR: serve from another tree's bin/, out/node and out/renderer (a copy that nobody
  // rebuilds during the run, e.g. one with the renderer as it was, for a before/after pair).
  const HOST_ROOTS = argText('root', root).split(',');
  // The web host serves out/renderer: the same files `npm run build` puts there.
  if (HOST_ROOTS.includes(root) && !process.argv.includes('--no-build'))
    buildWebAndHost({ minify: !PROFILE });
  /** @param {string} dir */
  const labelOf = (dir) => (HOST_ROOTS.length > 1 ? (dir.split('/').filter(Boolean).at(-1) ?? dir) : '');
  const { Lab, nsRun, labUnavailableReason } = await importLab();
  const reason = labUnavailableReason();
  if (reason) {
    console.error(`bench:renderer --connections needs the lab: ${reason}`);
    process.exit(2);
  }
  /** @type {import('../src-main/lab/lab').Lab | null} */
  let lab = null;
  /** @type {import('./lib.mjs').WebHostChild | null} */
  let serve = null;
  /** @type {import('@playwright/test').Browser | null} */
  let browser = null;
  let url = '';
  /** @type {Promise<void> | null} */
  let cleaning = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await browser?.close().catch(() => undefined);
      await stopChild(serve);
      await lab?.destroy();
    })());
  cleanupOnSignals(cleanup);
  const orphans = () =>
    Number(/TCP: .*orphan (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? 0);
  /** @type {PageRow[]} */
  const rows = [];
  try {
    // A previous lab's closed subflows stay orphaned for up to net.mptcp.close_timeout (60 s) and
    // slow every poll of the host (bench/poll.mjs): wait for them to go.
    for (let waited = 0; orphans() > 100 && waited < 120; waited++) {
      if (waited === 0) console.log(`waiting for ${orphans()} orphaned TCP sockets to close`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const l = await Lab.create({ paths: 2 });
    lab = l;
    await l.startServer(5201);
    const b = await launchChromium();
    browser = b;
    console.log(`Chromium ${b.version()}, web host polling at 1 Hz`);
    const countSubflows = async () => {
      const { stdout } = await nsRun(l.client, 'ss', ['-tniH', 'state', 'established', 'dport', '5201'], {
        timeoutMs: 120_000,
      });
      return (stdout.match(/tcp-ulp-mptcp/g) ?? []).length;
    };
    let openedActive = 0;
    let openedIdle = 0;
    for (const N of SIZES) {
      const t0 = Date.now();
      const active = Math.min(ACTIVE, N);
      if (active > openedActive) {
        await l.openConnections(active - openedActive, { rateBytesPerSec: 20_000 });
        openedActive = active;
      }
      if (N - active > openedIdle) {
        await l.openConnections(N - active - openedIdle, { rateBytesPerSec: 0 });
        openedIdle = N - active;
      }
      await l.waitFor(`${2 * N} subflows`, countSubflows, (n) => n >= 2 * N, 300_000);
      console.log(
        `\nlab ready: ${N} connections (${active} sending 20 kB/s), ${2 * N} subflows in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      for (const dir of HOST_ROOTS) {
        const host = startWebHost(l.client, { cwd: dir });
        serve = host.child;
        url = (await host.ready).url;
        if (HOST_ROOTS.length > 1) console.log(`web host from ${dir}`);
        rows.push(...(await measurePages(b, N, active, labelOf(dir))));
        await stopChild(serve);
        serve = null;
      }
    }
    console.log(
      `\n| connections | page | rAF p50 / p95 / p99 / max ms | frames (> 25 ms, > 50 ms) | heap max / after GC MiB | main thread ms/s | feed handler p50 / max ms | long tasks (longest ms) |`,
    );
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of rows)
      console.log(
        `| ${r.n.toLocaleString('en')}${r.active ? `, ${r.active.toLocaleString('en')} sending` : ', idle'} | ${r.label ? `${r.label}: ` : ''}${r.page} | ${f1(r.p50)} / ${f1(r.p95)} / ${f1(r.p99)} / ${f1(r.max)} | ${r.frames} (${r.long}, ${r.over50}) | ${mib(r.heapMax)} / ${mib(r.afterGc)} | ${f1(r.task)} | ${f1(r.feedP50)} / ${f1(r.feedMax)} | ${r.longN} (${f1(r.longMax)}) |`,
      );
  } finally {
    await cleanup();
  }

  /**
   * One page measured: rAF intervals, heap, main thread, the feed handler's cost, long tasks.
   * @typedef {{ n: number, active: number, label: string, page: string, p50: number, p95: number, p99: number,
   *   max: number, frames: number, long: number, over50: number, heapMax: number, afterGc: number,
   *   task: number, script: number, domRows: number, load: string, feedP50: number, feedMax: number,
   *   feedN: number, fullN: number, longN: number, longMax: number }} PageRow
   */

  /**
   * Loads the page afresh and measures every page of PAGES with N connections in the lab.
   * @param {import('@playwright/test').Browser} browser
   * @param {number} N
   * @param {number} active
   * @param {string} label which tree's host served the page (with several --root)
   * @returns {Promise<PageRow[]>}
   */
  async function measurePages(browser, N, active, label) {
    /** @type {PageRow[]} */
    const out = [];
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(120_000);
      await page.addInitScript(() => {
        // What the feed costs the page: the app's WebSocket message handler (JSON and zod parse,
        // the delta applied, every store fed) timed per connections event, and the long tasks.
        window.__bench = { feed: [], full: 0, long: [] };
        // The page's WebSocket (globalThis: this module's names are Node's).
        const PageWebSocket = globalThis.WebSocket;
        // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with .call(this), on the socket
        const add = PageWebSocket.prototype.addEventListener;
        /**
         * @this {WebSocket}
         * @param {string} type
         * @param {EventListenerOrEventListenerObject} f
         * @param {boolean | AddEventListenerOptions} [opts]
         */
        const addEventListener = function (type, f, opts) {
          if (type !== 'message' || typeof f !== 'function') return add.call(this, type, f, opts);
          /**
           * @this {WebSocket}
           * @param {MessageEvent} ev
           */
          const timed = function (ev) {
            const t0 = performance.now();
            f.call(this, ev);
            const ms = performance.now() - t0;
            const data = typeof ev.data === 'string' ? ev.data : '';
            if (data.startsWith('{"t":"event","name":"mptcp:connections:delta"')) {
              window.__bench.feed.push(ms);
              if (data.includes('"kind":"full"')) window.__bench.full++;
            }
          };
          return add.call(this, type, /** @type {EventListener} */ (timed), opts);
        };
        PageWebSocket.prototype.addEventListener = /** @type {WebSocket['addEventListener']} */ (
          addEventListener
        );
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) window.__bench.long.push(e.duration);
        }).observe({ type: 'longtask' });
      });
      /** @type {string[]} */
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const cdp = await context.newCDPSession(page);
      await cdp.send('Performance.enable');
      const metrics = async () =>
        Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
      const heapUsed = async () => (await cdp.send('Runtime.getHeapUsage')).usedSize;
      const gc = async () => {
        await cdp.send('HeapProfiler.collectGarbage');
        await cdp.send('HeapProfiler.collectGarbage');
      };

      const tLoad = Date.now();
      await page.goto(url);
      // The Overview's connections card says how many connections the page holds.
      await page.waitForFunction(
        (n) =>
          Number(
            /(\d+) connections?/.exec(
              document.querySelector('[data-testid="snapshot-info"]')?.textContent ?? '',
            )?.[1],
          ) >= n,
        N,
        { timeout: 120_000, polling: 250 },
      );
      console.log(`page holds ${N} connections ${((Date.now() - tLoad) / 1000).toFixed(1)} s after load`);

      // Clicks go through the DOM rather than Playwright's actionability checks, which time out
      // on a page that is busy for seconds (as it was at 10,000 connections before virtualisation).
      const LONG = { timeout: 120_000 };
      /** @param {string} selector */
      const click = (selector) =>
        page.waitForFunction(
          (sel) => {
            const el = document.querySelector(/** @type {string} */ (sel));
            if (!(el instanceof HTMLElement)) return false;
            el.click();
            return true;
          },
          selector,
          { ...LONG, polling: 250 },
        );
      /** @param {string} name */
      const go = async (name) => {
        switch (name) {
          case 'overview':
            await click('[data-testid="nav-overview"]');
            await page.getByTestId('snapshot-info').waitFor(LONG);
            return;
          case 'connections':
          case 'scroll':
            await click('[data-testid="nav-connections"]');
            if (await page.getByTestId('detail-back').isVisible()) await click('[data-testid="detail-back"]');
            await page.locator('[data-testid^="conn-row-"]').first().waitFor(LONG);
            if (name === 'scroll') await page.locator('[data-testid^="conn-row-"]').first().hover(LONG);
            return;
          case 'detail':
            await click('[data-testid="nav-connections"]');
            await click('[data-testid^="conn-row-"]');
            await page.getByTestId('conn-detail').waitFor(LONG);
            return;
          case 'events':
            await click('[data-testid="nav-events"]');
            return;
          default:
            throw new Error(`unknown page ${name}`);
        }
      };

      for (const name of PAGES) {
        await go(name);
        await page.waitForTimeout(SETTLE_S * 1000);
        await gc();
        const load0 = loadavg()[0];
        if (PROFILE) {
          await cdp.send('Profiler.enable');
          await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
          await cdp.send('Profiler.start');
        }
        await page.evaluate(() => {
          window.__bench.feed = [];
          window.__bench.full = 0;
          window.__bench.long = [];
        });
        const m0 = await metrics();
        /** @type {number[]} */
        const heap = [];
        let measuring = true;
        const sampler = (async () => {
          while (measuring) {
            heap.push(await heapUsed());
            await new Promise((r) => setTimeout(r, 1000));
          }
        })();
        const scroller =
          name === 'scroll'
            ? (async () => {
                while (measuring) {
                  await page.mouse.wheel(0, 400);
                  await new Promise((r) => setTimeout(r, 100));
                }
              })()
            : null;
        const frames = await recordFrames(page, MEASURE_S * 1000);
        measuring = false;
        await sampler;
        await scroller;
        const m1 = await metrics();
        const feedCost = await page.evaluate(() => window.__bench);
        if (PROFILE) {
          // --profile: where the page's script time goes, by function self time.
          const { profile } = await cdp.send('Profiler.stop');
          printSelfTime(profile, 20, `  ${name}: profile (self % of samples)`);
        }
        await gc();
        const afterGc = await heapUsed();
        /** @param {string} k */
        const perSec = (k) => (((m1[k] ?? 0) - (m0[k] ?? 0)) * 1000) / MEASURE_S;
        const domRows = await page.evaluate(
          () =>
            document.querySelectorAll('[data-testid^="conn-row-"], [data-testid^="connection-row-"]').length,
        );
        const row = {
          n: N,
          active,
          label,
          page: name,
          p50: q(frames, 0.5),
          p95: q(frames, 0.95),
          p99: q(frames, 0.99),
          max: Math.max(...frames),
          frames: frames.length,
          long: frames.filter((x) => x > 25).length,
          over50: frames.filter((x) => x > 50).length,
          heapMax: Math.max(...heap, afterGc),
          afterGc,
          task: perSec('TaskDuration'),
          script: perSec('ScriptDuration'),
          domRows,
          load: `${f1(load0 ?? NaN)} -> ${f1(loadavg()[0] ?? NaN)}`,
          feedP50: q(feedCost.feed, 0.5),
          feedMax: Math.max(0, ...feedCost.feed),
          feedN: feedCost.feed.length,
          fullN: feedCost.full,
          longN: feedCost.long.length,
          longMax: Math.max(0, ...feedCost.long),
        };
        out.push(row);
        console.log(
          `  ${label ? `${label}: ` : ''}${name.padEnd(12)} rAF ms p50 ${f1(row.p50)}  p95 ${f1(row.p95)}  p99 ${f1(row.p99)}  max ${f1(row.max)}  ` +
            `(${row.frames} frames; > 25 ms: ${row.long}, > 50 ms: ${row.over50})  heap max ${mib(row.heapMax)} MiB, ` +
            `after GC ${mib(row.afterGc)} MiB  main thread ${f1(row.task)} ms/s (script ${f1(row.script)})  ` +
            `${domRows} table rows in the DOM  load ${row.load}\n` +
            `               feed events ${row.feedN} (${row.fullN} full): handler p50 ${f1(row.feedP50)} max ${f1(row.feedMax)} ms; ` +
            `long tasks ${row.longN}, longest ${f1(row.longMax)} ms`,
        );
      }

      // The whole list is reachable: scroll the Connections list to its end and find its last row.
      if (PAGES.includes('connections') || PAGES.includes('scroll')) {
        await go('connections');
        const reach = await page.evaluate(async () => {
          const list = document.querySelector('[data-testid="conn-list"]');
          const scroller = list ?? document.scrollingElement;
          if (scroller) scroller.scrollTop = scroller.scrollHeight;
          await new Promise((r) => setTimeout(r, 500));
          const inDom = [...document.querySelectorAll('[data-testid^="conn-row-"]')];
          return {
            shown: document.querySelector('[data-testid="conn-count"]')?.textContent ?? null,
            lastIndex: Number(inDom.at(-1)?.getAttribute('aria-rowindex') ?? NaN),
            inDom: inDom.length,
          };
        });
        console.log(
          `  reach: scrolled to the end, the last row in the DOM is row ${reach.lastIndex} of the table (header = row 1; ${reach.inDom} rows in the DOM; ${reach.shown ?? '?'} connections listed)`,
        );
      }
      if (errors.length) console.log(`  page errors: ${errors.join(' | ')}`);
    } finally {
      await context.close();
    }
    return out;
  }
}
