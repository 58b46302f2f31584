// What the benches' page scripts (page.addInitScript / page.evaluate, run in Chromium) keep on
// `window` between calls: bench/events.mjs and bench/renderer.mjs.
interface Window {
  /** bench/events.mjs: [event timestamp, when the app's message handler returned], ms. */
  __benchStore: [number, number][];
  /** bench/renderer.mjs: intervals between animation frames, ms. */
  __benchFrames: number[];
  /** bench/renderer.mjs: message handler times (ms), full snapshots seen, long tasks (ms). */
  __bench: { feed: number[]; full: number; long: number[] };
}
