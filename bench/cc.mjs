// Coupled congestion control benchmark: LIA, OLIA and Balia (bpf/) against uncoupled Reno
// subflows, in lab namespaces shaped with tbf. Registers uniquely named copies of the CCs and
// unregisters them at the end (also on failure / Ctrl-C).
//
//   npm run bench:cc -- [--runs 5] [--anomaly-runs 20] [--seconds 8] [--warmup 2]
//                       [--only reno,lia,olia,balia] [--no-clamp] [--anomaly-reno] [--cc NAME]
//
// 1. shared bottleneck: MPTCP (2 subflows) + 1 single-path TCP Reno through one 20 Mbit/s tbf;
//    MPTCP share per CC over --runs runs (RFC 6356 goal 2: coupled ~ one TCP share, 0.5 here).
// 2. disjoint paths 20 + 5 Mbit/s: MPTCP aggregate goodput per CC (RFC 6356 goal 1).
// 3. anomaly check: max subflow cwnd over all the runs above plus short extra shared-bottleneck
//    runs, --anomaly-runs runs per CC in total.
// Prints a markdown table.
import { arg, bundleEntry, importBundle } from './lib.mjs';

const RUNS = Number(arg('runs', '5'));
const ANOMALY_RUNS = Number(arg('anomaly-runs', '20'));
const SECONDS = Number(arg('seconds', '8'));
const WARMUP = Number(arg('warmup', '2'));
/** @type {import('../src-main/lab/bpf-cc').CoupledAlgo[]} */
const COUPLED = ['lia', 'olia', 'balia'];
// --only none: nothing of ours, only the CC named by --cc.
const ONLY = arg('only', ['reno', ...COUPLED].join(','))
  .split(',')
  .filter((a) => a !== 'none');
const unknown = ONLY.filter((a) => a !== 'reno' && !COUPLED.some((c) => c === a));
if (unknown.length) {
  console.error(`bench:cc: --only takes reno, ${COUPLED.join(', ')} (not ${unknown.join(', ')})`);
  process.exit(2);
}
const QUEUE_MS = arg('queue-ms', undefined);
// --no-clamp: register the experiment builds without the defensive cwnd clamps, to see whether
// the absurd-cwnd anomaly exists without them.
const NO_CLAMP = process.argv.includes('--no-clamp');

const m = /** @type {typeof import('../src-main/lab/cc-bench-entry')} */ (
  await importBundle(await bundleEntry('src-main/lab/cc-bench-entry.ts', 'bench-cc.mjs', { external: [] }))
);

const reason = m.labUnavailableReason() ?? m.bpfCcUnavailableReason();
if (reason) {
  console.error(`bench:cc cannot run: ${reason}`);
  process.exit(1);
}

/** @type {Awaited<ReturnType<typeof m.registerUniqueCc>>[]} */
const ccs = [];
const cleanup = async (waitMs = 90_000) => {
  for (const c of ccs) {
    if (!(await c.unregister(waitMs)) && waitMs > 0)
      console.error(`warning: ${c.name} is unregistered but not freed yet`);
  }
};
// On a signal: unregister without waiting for the kernel to free the copies (their lab's sockets
// still use them), then exit, which removes the labs synchronously (lab.ts exit hook); the copies
// are freed once those sockets are gone. SIGTERM/SIGHUP too, or a killed bench leaves its labs.
/** @type {Promise<void> | null} */
let stopping = null;
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP']))
  process.on(sig, () => {
    stopping ??= cleanup(0).finally(() => process.exit(130));
  });
try {
  for (const algo of COUPLED) {
    if (ONLY.includes(algo)) ccs.push(await m.registerUniqueCc(algo, { noClamp: NO_CLAMP }));
  }
  // --cc NAME: also measure a CC registered by other means (e.g. an older build, for comparison).
  const external = arg('cc', undefined);
  const variants = [
    ...(ONLY.includes('reno') ? [{ label: 'reno (uncoupled)', cc: 'reno' }] : []),
    ...(external ? [{ label: external, cc: external }] : []),
    ...ccs.map((c) => ({ label: NO_CLAMP ? `${c.algo} (no clamp)` : c.algo, cc: c.name })),
  ];

  const rows = [];
  for (const v of variants) {
    const res = await m.runCcSuite({
      cc: v.cc,
      sharedRuns: RUNS,
      disjointRuns: Math.max(1, Math.ceil(RUNS / 2)),
      // Kernel Reno is watched too with --anomaly-reno (is the anomaly the kernel's own?).
      anomalyRuns: v.cc === 'reno' && !process.argv.includes('--anomaly-reno') ? 0 : ANOMALY_RUNS,
      measureMs: (SECONDS - WARMUP) * 1000,
      warmupMs: WARMUP * 1000,
      bottleneckLatencyMs: QUEUE_MS === undefined ? undefined : Number(QUEUE_MS),
      log: (s) => process.stderr.write(`[${v.label}] ${s}\n`),
    });
    rows.push({ label: v.label, ...res });
  }
  console.log(m.formatCcTable(rows));
  // cc_repairs (bpf/mptcp_coupled.h cc_sanitize): corrupt ssthresh/cwnd values the clamped build
  // repaired before the kernel used them. The ss watch above cannot see those; this can.
  for (const c of ccs) {
    console.log(`${c.name} (${c.algo}${NO_CLAMP ? ', no clamp' : ''}): cc_repairs ${await c.repairs()}`);
  }
} finally {
  await cleanup();
}
