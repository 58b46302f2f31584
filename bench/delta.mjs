// Wire-size benchmark: bytes per second a renderer receives for the connections feed, whole
// snapshots (the old protocol: every poll as `mptcp:connections:snapshot`) against deltas
// (`mptcp:connections:delta`, shared/delta.ts), with 1,000 connections under steady traffic.
//
//   npm run bench:delta -- [--connections 1000] [--seconds 30] [--lab]
//
// Synthetic (always): seeded snapshots from shared/testing/synthetic.ts, 2 subflows per connection; each
// 1 s poll every subflow's byte counters, RTT, cwnd, delivery/pacing rate move, and 0.2% of the
// connections are replaced. Sizes are the exact WebSocket frames the web host would send.
//
// --lab: the real path. A lab namespace with N MPTCP connections (2 subflows each, each sending
// 20 kB/s), `mptcp-studio serve --netns <client> --poll-ms 1000`, and a WebSocket client here that
// counts the delta frames it receives, rebuilds the snapshots from them, and sizes the full
// snapshot frame the old protocol would have sent for the same poll.
//
// Measured on the 2-core dev box (`npm run bench:delta -- --lab --seconds 30`):
//   synthetic, 1,000 x 2 subflows: full 1,973 KiB/s, deltas 266 KiB/s (13.5%, 7.4x less); idle 152 B/poll
//   lab, 1,000 real connections:   full 1,851 KiB/s, deltas 193 KiB/s (10.4%, 9.6x less)
import { spawnSync } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import {
  arg,
  bundleSource,
  importBundle,
  median,
  parseJson,
  root,
  startWebHost,
  stopChild,
  wsText,
} from './lib.mjs';
import WebSocket from 'ws';

const N = Number(arg('connections', '1000'));
const SECONDS = Number(arg('seconds', '30'));
const LAB = process.argv.includes('--lab');

/**
 * What the bundle exports: the modules it was built from.
 * @typedef {typeof import('../shared/delta')
 *   & typeof import('../shared/testing/synthetic')
 *   & typeof import('../src-main/lab/lab')} Bundled
 */
const lib = /** @type {Bundled} */ (
  await importBundle(
    await bundleSource(
      "export * from './shared/delta.ts'; export * from './shared/testing/synthetic.ts'; export * from './src-main/lab/lab.ts';",
      'bench-delta.mjs',
    ),
  )
);

/**
 * The size of the WebSocket frame that carries this event.
 * @param {string} name
 * @param {unknown} payload
 */
const frame = (name, payload) => Buffer.byteLength(JSON.stringify({ t: 'event', name, payload }));
/** @param {number} b */
const kb = (b) => `${(b / 1024).toFixed(1)} KiB`;

/**
 * @param {string} title
 * @param {number[]} fullBytes
 * @param {number[]} deltaBytes
 * @param {number} seconds
 */
function report(title, fullBytes, deltaBytes, seconds, extra = '') {
  const f = fullBytes.reduce((a, b) => a + b, 0) / seconds;
  const d = deltaBytes.reduce((a, b) => a + b, 0) / seconds;
  console.log(`\n${title}`);
  console.log(`  polls: ${deltaBytes.length} over ${seconds.toFixed(1)} s${extra}`);
  console.log(`  full snapshots : ${kb(f)}/s   (median frame ${kb(median(fullBytes))})`);
  console.log(`  deltas         : ${kb(d)}/s   (median frame ${kb(median(deltaBytes))})`);
  console.log(
    `  ratio          : deltas are ${((100 * d) / f).toFixed(1)}% of full (${(f / d).toFixed(2)}x less)`,
  );
}

// --- synthetic ----------------------------------------------------------------------------------
{
  const r = lib.prng(1);
  let prev = lib.syntheticSnapshot(r, N, 1_700_000_000_000, 2);
  /** @type {number[]} */
  const fullBytes = [];
  /** @type {number[]} */
  const deltaBytes = [];
  /** @type {number[]} */
  const diffMs = [];
  let held = prev;
  for (let s = 0; s < SECONDS; s++) {
    const next = lib.steadyTick(r, prev, 1000, 0.002);
    const t0 = performance.now();
    const d = lib.diffSnapshots(prev, next, s + 2, s + 1);
    diffMs.push(performance.now() - t0);
    held = lib.applyDelta(held, d);
    fullBytes.push(frame('mptcp:connections:snapshot', next));
    deltaBytes.push(frame('mptcp:connections:delta', d));
    prev = next;
  }
  if (!isDeepStrictEqual(held, prev)) throw new Error('rebuilt snapshot differs');
  report(
    `synthetic: ${N} connections x 2 subflows, steady traffic, 1 poll/s`,
    fullBytes,
    deltaBytes,
    SECONDS,
    `, diff median ${median(diffMs).toFixed(1)} ms`,
  );
  // Idle connections (only the poll's own time moves): what an idle server costs.
  const idle = lib.syntheticSnapshot(lib.prng(2), N, 0, 2);
  const idleDelta = lib.diffSnapshots(idle, { ...idle, takenAtMs: 1000 }, 2, 1);
  console.log(
    `  idle (nothing changed): full ${kb(frame('mptcp:connections:snapshot', idle))} vs delta ${frame('mptcp:connections:delta', idleDelta)} B per poll`,
  );
}

// --- lab ----------------------------------------------------------------------------------------
if (LAB) {
  const reason = lib.labUnavailableReason();
  if (reason) {
    console.error(`--lab needs the lab: ${reason}`);
    process.exit(2);
  }
  spawnSync(process.execPath, ['scripts/build-node.mjs'], { cwd: root, stdio: 'inherit' });
  /** @type {import('../src-main/lab/lab').Lab | null} */
  let lab = null;
  /** @type {import('./lib.mjs').WebHostChild | null} */
  let serve = null;
  const cleanup = async () => {
    await stopChild(serve, 3000);
    await lab?.destroy();
  };
  process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  try {
    const l = await lib.Lab.create({ paths: 2 });
    lab = l;
    await l.startServer(5201);
    await l.openConnections(N, { rateBytesPerSec: 20_000 });
    const subflows = async () => {
      const { stdout } = await lib.nsRun(l.client, 'ss', ['-tniH', 'state', 'established', 'dport', '5201'], {
        timeoutMs: 120_000,
      });
      return (stdout.match(/tcp-ulp-mptcp/g) ?? []).length;
    };
    await l.waitFor(`${2 * N} subflows`, subflows, (n) => n >= 2 * N, 180_000);
    const host = startWebHost(l.client, { args: ['--poll-ms', '1000'] });
    serve = host.child;
    const url = await host.ready;
    const ws = new WebSocket(`${url.base.replace('http', 'ws')}/api?token=${url.token}`, {
      origin: url.base,
    });
    /** @type {number[]} */
    const fullBytes = [];
    /** @type {number[]} */
    const deltaBytes = [];
    /** @type {{ seq: number, snap: import('../shared/types').ConnectionsSnapshot } | null} */
    let held = null;
    let counting = false;
    let connections = 0;
    ws.on('message', (data) => {
      const text = wsText(data);
      const m =
        /** @type {{ t?: string, name?: string, payload: import('../shared/delta').ConnectionsFeedEvent }} */ (
          parseJson(text)
        );
      if (m.t !== 'event' || m.name !== 'mptcp:connections:delta') return;
      const e = m.payload;
      if (e.kind === 'full') held = { seq: e.seq, snap: e.snapshot };
      else if (held && held.seq === e.baseSeq) held = { seq: e.seq, snap: lib.applyDelta(held.snap, e) };
      else throw new Error(`gap: held ${held?.seq}, delta on ${e.baseSeq}`);
      connections = held.snap.connections.length;
      if (!counting) return;
      deltaBytes.push(Buffer.byteLength(text));
      fullBytes.push(frame('mptcp:connections:snapshot', held.snap));
    });
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
    await new Promise((r) => setTimeout(r, 3000)); // the full snapshot and a few deltas first
    counting = true;
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    counting = false;
    const seconds = (Date.now() - t0) / 1000;
    ws.close();
    report(
      `lab: ${connections} real connections (2 subflows, 20 kB/s each), web host --poll-ms 1000, measured at the WebSocket client`,
      fullBytes,
      deltaBytes,
      seconds,
    );
  } finally {
    await cleanup();
  }
}
// The web host's pipes and the lab's helpers must not keep the process alive once measured.
process.exit(0);
