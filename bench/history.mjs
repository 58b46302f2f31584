// Memory of the host's history (src-main/engine/history.ts): N connections x 2 subflows polled
// once a second for the whole retention (15 min = 900 polls by default), plus a timeline full of
// events, against the same process before it (heap and array buffers, after a forced GC).
// The incumbent has no history at all: `ss` and `ip mptcp monitor` keep nothing, so the figure
// is an absolute cost, printed per connection.
//
//   npm run bench:history -- [--connections 1000] [--minutes 15] [--events 50000]
import { arg, bundleSource, importBundle } from './lib.mjs';

const N = Number(arg('connections', '1000'));
const MINUTES = Number(arg('minutes', '15'));
const EVENTS = Number(arg('events', '50000'));

const gc = globalThis.gc;
if (typeof gc !== 'function') {
  console.error('run with node --expose-gc (npm run bench:history does)');
  process.exit(2);
}
/**
 * What the bundle exports: the modules it was built from.
 * @typedef {typeof import('../src-main/engine/history')
 *   & typeof import('../shared/testing/synthetic')
 *   & Pick<typeof import('../src-renderer/src/testing/fixtures'), 'mptcpEvent'>} Bundled
 */
const lib = /** @type {Bundled} */ (
  await importBundle(
    await bundleSource(
      "export * from './src-main/engine/history.ts'; export * from './shared/testing/synthetic.ts'; export { mptcpEvent } from './src-renderer/src/testing/fixtures.ts';",
      'bench-history.mjs',
    ),
  )
);

const used = () => {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
/** @param {number} b */
const MiB = (b) => (b / 1048576).toFixed(1);

const r = lib.prng(7);
const polls = MINUTES * 60;
/**
 * Fills a history with `polls` polls. Each poll's snapshot is dropped after it is recorded, as
 * the engine's are (none is reachable once this returns); 0.2% of the connections are replaced
 * per poll, so subflows that closed stay in the history too. `before`: the heap with the first
 * snapshot and no history.
 */
function fill() {
  let snap = lib.syntheticSnapshot(r, N, Date.now() - MINUTES * 60_000, 2);
  const before = used();
  const h = new lib.HostHistory({ retentionMs: MINUTES * 60_000, pollIntervalMs: 1000 });
  const start = performance.now();
  for (let i = 0; i < polls; i++) {
    h.recordSnapshot(snap);
    snap = lib.steadyTick(r, snap, 1000, 0.002);
  }
  return { h, before, recordMs: (performance.now() - start) / polls };
}
const { h, before, recordMs } = fill();
for (let i = 0; i < EVENTS; i++) {
  // A whole event as the engine records it (every field of MptcpEvent), not a stub.
  h.recordEvent('mptcp:kernel:event', lib.mptcpEvent('sub_established', { token: i }, Date.now()));
}
const after = used();
const st = h.stats();
console.log(`history of ${N} connections x 2 subflows, ${MINUTES} min at 1 Hz, ${EVENTS} events`);
console.log(`  subflows kept ${st.subflows}, ring bytes ${MiB(st.ringBytes)} MiB, events ${st.events}`);
console.log(
  `  heap + array buffers: +${MiB(after - before)} MiB (${((after - before) / N / 1024).toFixed(1)} KiB per connection)`,
);
console.log(`  record one poll: ${recordMs.toFixed(2)} ms`);
