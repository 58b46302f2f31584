// Trace of a 5-hop lab path (client → r1 → r2 → r3 → r4 → server, PathDoctorLab): wall time of
// `mptcp-studio trace` (the command, as a process) against `traceroute -T -n` to the same
// destination port, alternating, in the same run (docs/path-doctor.md "Numbers").
//
//   node bench/trace.mjs [--runs 10]
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { arg, bundleSource, root } from './lib.mjs';

const runs = Number(arg('runs', '10'));
execFileSync(process.execPath, [join(root, 'scripts/build-probe.mjs')], { stdio: 'inherit' });
const m = await import(
  await bundleSource(
    `export { PathDoctorLab, TARGET_PORTS } from './src-main/lab/path-doctor-lab';
     export { probeHelperPath } from './src-main/engine/pathdoctor/helper';`,
    'bench-trace-lab.mjs',
    { external: [] },
  )
);
// What `mptcp-studio trace HOST --port P --netns NS` runs, as its own process: start the helper in
// the namespace, find the source, trace, print the text. (Bundled from the engine's probe modules
// directly, so the bench does not depend on the rest of the CLI bundle.)
const cli = await bundleSource(
  `import { expandTargets } from './src-main/engine/pathdoctor/targets';
   import { RawProbeHelper } from './src-main/engine/pathdoctor/helper';
   import { runTrace } from './src-main/engine/pathdoctor/trace';
   import { formatTraceText } from './shared/path-doctor-format';
   const [dst, port, netns] = process.argv.slice(2);
   const [target] = await expandTargets([dst]);
   const t0 = performance.now();
   const helper = await RawProbeHelper.open({ ratePps: 100, burst: 8, netns });
   const source = await helper.sourceFor(target.address);
   const t = await runTrace({ helper, target, port: Number(port), source });
   await helper.close();
   process.stderr.write('trace-ms ' + (performance.now() - t0) + '\\n');
   process.stdout.write(formatTraceText(t));`,
  'bench-trace-cli.mjs',
  { external: [] },
);

const lab = await m.PathDoctorLab.create({ paths: 1, routers: 4, stripPaths: [0] });
const rows = [];
try {
  await lab.startTargets(m.probeHelperPath());
  const dst = lab.paths[0].serverAddress;
  const port = String(m.TARGET_PORTS.mptcp);
  const timed = (cmd, args) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    const inner = /trace-ms ([\d.]+)/.exec(r.stderr);
    return { ms, out: r.stdout, innerMs: inner ? Number(inner[1]) : null };
  };
  const tools = {
    'mptcp-studio trace': () => timed(process.execPath, [cli, dst, port, lab.client]),
    'traceroute -T -n': () =>
      timed('ip', ['netns', 'exec', lab.client, 'traceroute', '-T', '-n', '-p', port, dst]),
    'traceroute -T -n -q 1': () =>
      timed('ip', ['netns', 'exec', lab.client, 'traceroute', '-T', '-n', '-q', '1', '-p', port, dst]),
  };
  const times = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
  const inner = [];
  let sample = {};
  for (let i = 0; i < runs; i++) {
    for (const [name, fn] of Object.entries(tools)) {
      const r = fn();
      times[name].push(r.ms);
      if (r.innerMs !== null) inner.push(r.innerMs);
      sample[name] = r.out;
    }
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ours = med(times['mptcp-studio trace']);
  for (const [name, xs] of Object.entries(times))
    rows.push({ name, median: med(xs), min: Math.min(...xs), ratio: ours / med(xs) });
  rows.push({
    name: 'mptcp-studio trace without Node start-up (helper start → verdict) ÷ traceroute -T -n',
    median: med(inner),
    min: Math.min(...inner),
    ratio: med(inner) / med(times['traceroute -T -n']),
  });
  console.log(sample['mptcp-studio trace']);
  console.log(sample['traceroute -T -n']);
} finally {
  await lab.destroy();
}
console.log(`Trace of a 5-hop lab path, ${runs} runs each (median wall time of the whole command):\n`);
console.log('| command | median (ms) | min (ms) | our time ÷ theirs |');
console.log('|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.name} | ${r.median.toFixed(0)} | ${r.min.toFixed(0)} | ${r.ratio.toFixed(2)} |`);
