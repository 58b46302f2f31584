// Trace of a 5-hop lab path (client → r1 → r2 → r3 → r4 → server, PathDoctorLab) against
// `traceroute -T -n` to the same destination port, alternating, in the same run
// (docs/path-doctor.md "Numbers"):
// - cold: `mptcp-studio trace HOST --port P --netns NS`, the command as a user runs it (a Node
//   process: bin/mptcp-studio.mjs, which loads the trace's own bundle, out/node/trace.mjs), and
//   the same command through the whole CLI bundle (out/node/mptcp-studio.mjs), which every
//   command loaded before the trace had a bundle of its own;
// - warm: the engine's `mptcp:probe:trace` through a namespace agent that is already running, as
//   the Path doctor page runs it (from the call until the run's `done` progress event);
// - traceroute, which runs under `ip netns exec` as the cold command's helper does.
//
//   node bench/trace.mjs [--runs 10] [--no-build]
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { arg, bundleSource, importBundle, median, root } from './lib.mjs';

const runs = Number(arg('runs', '10'));
execFileSync(process.execPath, [join(root, 'scripts/build-probe.mjs')], { stdio: 'inherit' });
if (!process.argv.includes('--no-build')) {
  execFileSync(process.execPath, [join(root, 'scripts/build-node.mjs')], { cwd: root, stdio: 'inherit' });
}
/**
 * What the bundle exports: the modules it was built from.
 * @typedef {Pick<typeof import('../src-main/lab/path-doctor-lab'), 'PathDoctorLab' | 'TARGET_PORTS'>
 *   & Pick<typeof import('../src-main/engine/pathdoctor/helper'), 'probeHelperPath'>
 *   & Pick<typeof import('../src-main/engine/index'), 'openEngine'>} Bundled
 */
const m = /** @type {Bundled} */ (
  await importBundle(
    await bundleSource(
      `export { PathDoctorLab, TARGET_PORTS } from './src-main/lab/path-doctor-lab';
     export { probeHelperPath } from './src-main/engine/pathdoctor/helper';
     export { openEngine } from './src-main/engine/index';`,
      'bench-trace-lab.mjs',
    ),
  )
);

const lab = await m.PathDoctorLab.create({ paths: 1, routers: 4, stripPaths: [0] });
/** @type {ReturnType<typeof m.openEngine> | null} */
let engine = null;
/** @type {{ name: string, median: number, min: number, ratio: number }[]} */
const rows = [];
try {
  await lab.startTargets(m.probeHelperPath());
  const path = lab.paths[0];
  if (!path) throw new Error('the lab has no path');
  const dst = path.serverAddress;
  const port = String(m.TARGET_PORTS.mptcp);
  /**
   * @param {string} cmd
   * @param {string[]} args
   */
  const timed = (cmd, args) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: root });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    return { ms, out: r.stdout };
  };

  // The warm path: one namespace agent for the whole run (the web host's, for the page).
  engine = m.openEngine({ netns: lab.client, agentEntry: join(root, 'out/node/mptcp-studio.mjs') });
  const eng = engine;
  let seq = 0;
  const warm = async () => {
    const runId = `bench-trace-${process.pid}-${++seq}`;
    const t0 = performance.now();
    /** @type {Promise<number>} */
    const done = new Promise((resolve, reject) => {
      const off = eng.on('mptcp:probe:progress', (p) => {
        if (p.runId !== runId || p.state === 'running') return;
        off();
        if (p.state === 'done') resolve(performance.now() - t0);
        else reject(new Error(`trace ${p.state}: ${p.error ?? p.message}`));
      });
    });
    const r = await eng.invoke('mptcp:probe:trace', { runId, target: dst, port: Number(port) });
    if (!r.ok) throw new Error(`mptcp:probe:trace: ${r.error.message}`);
    const ms = await done;
    const got =
      /** @type {{ ok: boolean, value?: { result: { kind: string, traces?: { hops: unknown[] }[] } | null } | null }} */ (
        await eng.invoke('mptcp:probe:get', { runId })
      );
    const result = got.ok ? got.value?.result : null;
    const hops = result?.kind === 'trace' ? result.traces?.[0]?.hops.length : null;
    return { ms, out: `(warm) ${hops ?? '?'} hops\n` };
  };
  await warm(); // the agent's first call loads its probe service

  const cliArgs = ['trace', dst, '--port', port, '--netns', lab.client];
  /** @type {Record<string, () => Promise<{ ms: number, out: string }> | { ms: number, out: string }>} */
  const tools = {
    'mptcp-studio trace (cold: Node + the trace bundle)': () =>
      timed(process.execPath, ['bin/mptcp-studio.mjs', ...cliArgs]),
    'mptcp-studio trace through the whole CLI bundle (before)': () =>
      timed(process.execPath, ['out/node/mptcp-studio.mjs', ...cliArgs]),
    'mptcp:probe:trace via a running namespace agent (warm, as the page)': warm,
    'traceroute -T -n': () =>
      timed('ip', ['netns', 'exec', lab.client, 'traceroute', '-T', '-n', '-p', port, dst]),
    'traceroute -T -n -q 1': () =>
      timed('ip', ['netns', 'exec', lab.client, 'traceroute', '-T', '-n', '-q', '1', '-p', port, dst]),
  };
  /** @type {Map<string, number[]>} */
  const times = new Map(Object.keys(tools).map((k) => [k, []]));
  /** @type {Map<string, string>} */
  const sample = new Map();
  for (let i = 0; i < runs; i++) {
    for (const [name, fn] of Object.entries(tools)) {
      const r = await fn();
      times.get(name)?.push(r.ms);
      sample.set(name, r.out);
    }
  }
  const traceroute = median(times.get('traceroute -T -n') ?? []);
  for (const [name, xs] of times)
    rows.push({ name, median: median(xs), min: Math.min(...xs), ratio: median(xs) / traceroute });
  for (const name of Object.keys(tools)) console.log(`${name}:\n${sample.get(name)}`);
} finally {
  await engine?.close();
  await lab.destroy();
}
console.log(`Trace of a 5-hop lab path, ${runs} runs each (median wall time):\n`);
console.log('| command | median (ms) | min (ms) | ÷ traceroute -T -n |');
console.log('|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.name} | ${r.median.toFixed(0)} | ${r.min.toFixed(0)} | ${r.ratio.toFixed(2)} |`);
