// Event latency benchmark: how long a kernel event takes to reach the renderer's store.
//
//   npm run bench:events -- [--count 200]
//
// A lab namespace gets a veth interface that is toggled up and down `count` times; each toggle
// makes the kernel send RTM_NEWLINK. The web host (the built CLI, `serve --netns`) runs the engine
// in the namespace through its agent and pushes `mptcp:kernel:event` to its clients: the real
// renderer in Chromium (the production bundle, Events page open) and a WebSocket client here.
// An event's timestamp is when the engine's events reader read it off the netlink socket (same
// clock as both clients). Printed: (a) reader read → renderer store: in the page, a wrapper
// around the app's WebSocket message handler takes the time right after it returns, i.e. after
// the zod parse and the events store's push (synchronous); (b) reader read → a plain WebSocket
// client; (c) the `ip link set` command's start → (b)'s receipt, an upper bound that includes
// spawning `ip` (~3 ms). Not asserted anywhere: the figures go in the README.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { launchChromium, parseJson, startWebHost, wsText } from './lib.mjs';

const count = Number(process.argv[process.argv.indexOf('--count') + 1] || 200) || 200;
const ns = `mpst-${process.pid}-${randomBytes(3).toString('hex')}-ev`;
/** @param {string[]} args */
const sh = (args) => execFileSync('ip', args, { stdio: 'ignore' });

spawnSync(process.execPath, ['scripts/build-node.mjs'], { stdio: 'inherit' });
sh(['netns', 'add', ns]);
/** @type {import('./lib.mjs').WebHostChild | undefined} */
let serve;
/** @type {import('@playwright/test').Browser | undefined} */
let browser;
const cleanup = () => {
  serve?.kill('SIGTERM');
  spawnSync('ip', ['netns', 'del', ns]);
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
try {
  sh(['-n', ns, 'link', 'add', 'bench0', 'type', 'veth', 'peer', 'name', 'bench1']); // no dummy module here
  const host = startWebHost(ns);
  serve = host.child;
  const url = await host.ready;
  browser = await launchChromium();
  const page = await browser.newPage();
  await page.addInitScript(() => {
    // Each of the app's message handlers is wrapped: the time is taken when it has returned.
    // The page's WebSocket (globalThis: this module's `WebSocket` is the ws package's).
    const PageWebSocket = globalThis.WebSocket;
    window.__benchStore = [];
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with .call(this), on the socket
    const add = PageWebSocket.prototype.addEventListener;
    /**
     * JSON.parse, typed as what it is (this function runs in the page: no imports).
     * @param {string} text
     * @returns {unknown}
     */
    const parse = (text) => JSON.parse(text);
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
       * @param {MessageEvent<string>} ev
       */
      const wrapped = function (ev) {
        f.call(this, ev);
        const now = Date.now();
        try {
          const m =
            /** @type {{ t?: string, name?: string, payload?: { name?: string, timestampMs: number } }} */ (
              parse(ev.data)
            );
          if (m.t === 'event' && m.name === 'mptcp:kernel:event' && m.payload?.name === 'bench0')
            window.__benchStore.push([m.payload.timestampMs, now]);
        } catch {
          // not JSON: not ours
        }
      };
      return add.call(this, type, /** @type {EventListener} */ (wrapped), opts);
    };
    PageWebSocket.prototype.addEventListener = /** @type {WebSocket['addEventListener']} */ (
      addEventListener
    );
  });
  await page.goto(`${url.base}/?token=${url.token}`);
  await page.getByTestId('nav-events').click();
  const ws = new WebSocket(`${url.base.replace('http', 'ws')}/api?token=${url.token}`, { origin: url.base });
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  /** @type {((got: { now: number, engineMs: number }) => void) | null} */
  let waiting = null;
  ws.on('message', (data) => {
    const now = Date.now();
    const m =
      /** @type {{ t?: string, name?: string, payload?: { source?: string, name?: string, timestampMs: number } }} */ (
        parseJson(wsText(data))
      );
    if (
      m.t === 'event' &&
      m.name === 'mptcp:kernel:event' &&
      m.payload?.source === 'link' &&
      m.payload.name === 'bench0'
    ) {
      waiting?.({ now, engineMs: m.payload.timestampMs });
    }
  });
  // The host starts the kernel watch when the client subscribes; give it a moment, then warm up.
  await new Promise((r) => setTimeout(r, 1000));
  /** @type {number[]} */
  const engineToClient = [];
  /** @type {number[]} */
  const commandToClient = [];
  /** @type {Set<number>} */
  const sampled = new Set();
  for (let i = 0; i < count + 10; i++) {
    /** @type {Promise<{ now: number, engineMs: number }>} */
    const got = new Promise((r) => (waiting = r));
    const t0 = Date.now();
    sh(['-n', ns, 'link', 'set', 'bench0', i % 2 ? 'down' : 'up']);
    const { now, engineMs } = await Promise.race([
      got,
      /** @type {Promise<never>} */ (
        new Promise((_, j) => setTimeout(() => j(new Error('no event in 2 s')), 2000))
      ),
    ]);
    // Several RTM_NEWLINK may arrive per toggle; the first one closes this sample.
    waiting = null;
    if (i >= 10) {
      sampled.add(engineMs);
      engineToClient.push(now - engineMs);
      commandToClient.push(now - t0);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  ws.close();
  // The page's first arrival of each sampled toggle's first event (matched by its timestamp).
  /** @type {number[]} */
  const toStore = [];
  for (const [ts, at] of await page.evaluate(() => window.__benchStore)) {
    if (!sampled.has(ts)) continue;
    sampled.delete(ts);
    toStore.push(at - ts);
  }
  if (toStore.length === 0) throw new Error('the page got none of the sampled events');
  /**
   * The p-quantile of xs (the sample at rank floor(p * n)).
   * @param {number[]} xs
   * @param {number} p
   */
  const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
  console.log(`kernel event latency over ${count} link events (ms; Date.now() resolution is 1 ms)`);
  console.log('measure                                   n    p50    p99    max');
  for (const [name, xs] of /** @type {const} */ ([
    ['reader read -> renderer store (Chromium)', toStore],
    ['reader read -> WebSocket client', engineToClient],
    ['ip link set start -> client (bound)', commandToClient],
  ])) {
    console.log(
      `${name.padEnd(40)} ${String(xs.length).padStart(3)} ${String(q(xs, 0.5)).padStart(5)} ${String(q(xs, 0.99)).padStart(6)} ${String(Math.max(...xs)).padStart(6)}`,
    );
  }
} finally {
  await browser?.close().catch(() => {});
  cleanup();
}
// The host's child processes and the browser's pipes can keep the loop alive past this point.
process.exit(0);
