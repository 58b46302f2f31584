// Investigation tool for the corrupt-ssthresh anomaly (bpf/mptcp_coupled.h). Not part of the
// product. The shared-bottleneck experiment of bench/cc.mjs with the roles swapped: the MPTCP
// connection runs kernel Reno and the single-path TCP flow runs a BPF congestion control
// registered beforehand (e.g. bpf/diag/reno_probe.bpf.c, which counts corrupt ssthresh values in
// its .bss): does the anomaly need MPTCP subflows?
//   node bpf/diag/plain-tcp-runs.mjs CC_NAME RUNS
import { execFileSync } from 'node:child_process';
import { bundleSource, importBundle } from '../../bench/lib.mjs';

const [cc, runsArg] = process.argv.slice(2);
if (!cc || !runsArg) {
  console.error('usage: node bpf/diag/plain-tcp-runs.mjs CC_NAME RUNS');
  process.exit(2);
}
const out = await bundleSource(
  "export { Lab } from './src-main/lab/lab.ts'; export { sharedBottleneckRun, BOTTLENECK_MBIT, BOTTLENECK_LATENCY_MS } from './src-main/lab/cc-experiments.ts';",
  'plain-tcp-runs.mjs',
);
/**
 * What the bundle exports: the modules it was built from.
 * @typedef {Pick<typeof import('../../src-main/lab/lab'), 'Lab'>
 *   & Pick<typeof import('../../src-main/lab/cc-experiments'), 'sharedBottleneckRun' | 'BOTTLENECK_MBIT' | 'BOTTLENECK_LATENCY_MS'>} Bundled
 */
const m = /** @type {Bundled} */ (await importBundle(out));
const lab = await m.Lab.create({
  topology: 'shared-bottleneck',
  bottleneckMbit: m.BOTTLENECK_MBIT,
  bottleneckLatencyMs: m.BOTTLENECK_LATENCY_MS,
});
let stop = false;
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) process.on(sig, () => (stop = true));
try {
  for (let i = 0; i < Number(runsArg) && !stop; i++) {
    await m.sharedBottleneckRun(lab, { mptcpCc: 'reno', tcpCc: cc, warmupMs: 500, measureMs: 1500 });
    if ((i + 1) % 25 === 0) console.log(`${i + 1} runs`);
  }
} finally {
  await lab.destroy();
}
console.log(
  execFileSync('bpftool', ['map', 'list'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('.bss'))
    .join('\n'),
);
