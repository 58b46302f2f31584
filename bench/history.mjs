// Memory of the host's history (src-main/engine/history.ts): N connections x 2 subflows polled
// once a second for the whole retention (15 min = 900 polls by default), plus a timeline full of
// events, against the same process before it (heap and array buffers, after a forced GC).
// The incumbent has no history at all: `ss` and `ip mptcp monitor` keep nothing, so the figure
// is an absolute cost, printed per connection.
//
//   npm run bench:history -- [--connections 1000] [--minutes 15] [--events 50000]
import { arg, bundleSource } from './lib.mjs';

const N = Number(arg('connections', '1000'));
const MINUTES = Number(arg('minutes', '15'));
const EVENTS = Number(arg('events', '50000'));

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc (npm run bench:history does)');
  process.exit(2);
}
const lib = await import(
  await bundleSource(
    "export * from './src-main/engine/history.ts'; export * from './shared/synthetic.ts';",
    'bench-history.mjs',
  )
);

const used = () => {
  globalThis.gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const MiB = (b) => (b / 1048576).toFixed(1);

const r = lib.prng(7);
let snap = lib.syntheticSnapshot(r, N, Date.now() - MINUTES * 60_000, 2);
// Each poll's snapshot is dropped after it is recorded, as the engine's are; 0.2% of the
// connections are replaced per poll, so subflows that closed stay in the history too.
const polls = MINUTES * 60;
const before = used();
const h = new lib.HostHistory({ retentionMs: MINUTES * 60_000, pollIntervalMs: 1000 });
const start = performance.now();
for (let i = 0; i < polls; i++) {
  h.recordSnapshot(snap);
  snap = lib.steadyTick(r, snap, 1000, 0.002);
}
const recordMs = (performance.now() - start) / polls;
for (let i = 0; i < EVENTS; i++) {
  h.recordEvent('mptcp:kernel:event', {
    source: 'mptcp',
    timestampMs: Date.now(),
    event: { kind: 'sub_established', token: i, raw: {} },
  });
}
snap = null;
const after = used();
const st = h.stats();
console.log(`history of ${N} connections x 2 subflows, ${MINUTES} min at 1 Hz, ${EVENTS} events`);
console.log(`  subflows kept ${st.subflows}, ring bytes ${MiB(st.ringBytes)} MiB, events ${st.events}`);
console.log(
  `  heap + array buffers: +${MiB(after - before)} MiB (${((after - before) / N / 1024).toFixed(1)} KiB per connection)`,
);
console.log(`  record one poll: ${recordMs.toFixed(2)} ms`);
