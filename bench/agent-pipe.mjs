// Host <-> namespace-agent pipe benchmark: what a `mptcp:connections:list` costs the host when the
// engine looks at another network namespace (src-main/engine/agent/client.ts), with the agent's
// connections feed (one full snapshot, then deltas: shared/wire.ts AgentFeedArgsSchema) against
// whole snapshots (what an agent without the feed sends), at N connections in a lab namespace.
//
//   npm run build && node bench/agent-pipe.mjs [--connections 10000] [--active 100] [--iterations 20]
//
// N idle MPTCP connections (2 subflows each) plus --active of them sending 20 kB/s, so that every
// poll has changes. Two agents run side by side in the client namespace; polls alternate between
// them, one at a time. Per list call: host wall time (the agent's poll, its JSON, the pipe, the
// host's parse and schema check, and, for the feed, applying the delta), the agent's own poll time
// (pollDurationUs), and the result size (the snapshot's JSON, or the delta's JSON the agent
// computed from the same two polls).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { arg, bundleSource, cleanupOnSignals, importBundle, median, root } from './lib.mjs';

const N = Number(arg('connections', '10000'));
const ACTIVE = Math.min(N, Number(arg('active', '100')));
const ITERS = Number(arg('iterations', '20'));
const entry = join(root, 'out', 'node', 'mptcp-studio.mjs');
if (!existsSync(entry)) {
  console.error(`${entry} is missing: run npm run build first`);
  process.exit(2);
}

/**
 * What the bundle exports: the modules it was built from.
 * @typedef {typeof import('../src-main/lab/lab')
 *   & Pick<typeof import('../src-main/engine/agent/client'), 'AgentBackend'>
 *   & Pick<typeof import('../shared/delta'), 'diffSnapshots'>} Bundled
 */
const m = /** @type {Bundled} */ (
  await importBundle(
    await bundleSource(
      "export * from './src-main/lab/lab.ts'; export { AgentBackend } from './src-main/engine/agent/client.ts'; export { diffSnapshots } from './shared/delta.ts';",
      'bench-agent-pipe.mjs',
    ),
  )
);
const reason = m.labUnavailableReason();
if (reason) {
  console.error(`bench needs the lab: ${reason}`);
  process.exit(2);
}

/** @type {import('../src-main/lab/lab').Lab | null} */
let lab = null;
/** @type {import('../src-main/engine/agent/client').AgentBackend[]} */
const agents = [];
/** @type {Promise<void> | null} */
let cleaning = null;
const cleanup = () =>
  (cleaning ??= Promise.allSettled(agents.map((a) => a.close())).then(() => lab?.destroy()));
cleanupOnSignals(cleanup);

try {
  lab = await m.Lab.create({ paths: 2 });
  await lab.startServer(5201);
  await lab.openConnections(N - ACTIVE, { rateBytesPerSec: 0 });
  if (ACTIVE > 0) await lab.openConnections(ACTIVE, { rateBytesPerSec: 20_000 });
  const feedAgent = new m.AgentBackend(lab.client, { entry });
  // What an agent without the feed gets: the host's fallback path, whole snapshots.
  const plainAgent = new m.AgentBackend(lab.client, { entry, connectionsFeed: false });
  agents.push(feedAgent, plainAgent);
  await lab.waitFor(
    `${2 * N} subflows`,
    async () => {
      const s = await plainAgent.handlers['mptcp:connections:list']({});
      return s.connections.reduce((a, c) => a + c.subflows.length, 0);
    },
    (n) => n >= 2 * N,
    300_000,
  );
  /** @typedef {{ ms: number[], agentMs: number[], bytes: number[] }} Run */
  /** @type {{ feed: Run, plain: Run }} */
  const runs = { feed: { ms: [], agentMs: [], bytes: [] }, plain: { ms: [], agentMs: [], bytes: [] } };
  /** @type {import('../shared/types').ConnectionsSnapshot | null} */
  let prev = null;
  let seq = 0;
  for (let i = 0; i < ITERS + 2; i++) {
    for (const [name, agent] of /** @type {const} */ ([
      ['feed', feedAgent],
      ['plain', plainAgent],
    ])) {
      const t0 = performance.now();
      const snap = await agent.handlers['mptcp:connections:list']({});
      const ms = performance.now() - t0;
      if (i < 2) {
        if (name === 'feed') prev = snap;
        continue; // warm-up (the feed's first answer is a full snapshot)
      }
      const r = runs[name];
      r.ms.push(ms);
      r.agentMs.push(snap.pollDurationUs / 1000);
      if (name === 'plain') r.bytes.push(Buffer.byteLength(JSON.stringify(snap)));
      else if (prev) {
        r.bytes.push(Buffer.byteLength(JSON.stringify(m.diffSnapshots(prev, snap, seq + 1, seq))));
        seq++;
        prev = snap;
      }
    }
  }
  // The feed must rebuild what a whole snapshot says (same connections and subflows).
  const a = await feedAgent.handlers['mptcp:connections:list']({});
  const b = await plainAgent.handlers['mptcp:connections:list']({});
  /** @param {import('../shared/types').ConnectionsSnapshot} s */
  const shape = (s) =>
    s.connections.map((c) => [c.token, c.subflows.map((f) => `${f.localPort}>${f.remotePort}`)]).sort();
  if (!isDeepStrictEqual(shape(a), shape(b))) throw new Error('the feed and the whole snapshot differ');
  if (feedAgent.feedStats.deltas < ITERS)
    throw new Error(`feed sent only ${feedAgent.feedStats.deltas} deltas`);

  /** @param {number} x */
  const kib = (x) => `${(x / 1024).toFixed(1)} KiB`;
  console.log(
    `\nconnections:list through a namespace agent, ${N} connections (${ACTIVE} active) / ${2 * N} subflows, ${ITERS} polls each, median`,
  );
  console.log(
    `${'pipe'.padEnd(22)}${'host ms'.padStart(10)}${'agent poll ms'.padStart(15)}${'result size'.padStart(14)}`,
  );
  for (const [name, label] of /** @type {const} */ ([
    ['plain', 'whole snapshots'],
    ['feed', 'feed (deltas)'],
  ])) {
    const r = runs[name];
    console.log(
      `${label.padEnd(22)}${median(r.ms).toFixed(1).padStart(10)}${median(r.agentMs).toFixed(1).padStart(15)}${kib(median(r.bytes)).padStart(14)}`,
    );
  }
  const f = runs.feed;
  const p = runs.plain;
  console.log(
    `feed vs whole: ${(median(p.ms) / median(f.ms)).toFixed(2)}x faster on the host, ${(median(p.bytes) / median(f.bytes)).toFixed(1)}x fewer bytes; load ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ')}`,
  );
} finally {
  await cleanup();
}
