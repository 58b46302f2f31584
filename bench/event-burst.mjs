// Event bursts: N MPTCP connections opened at once in a lab namespace, then reset at once. The
// engine's event watcher (src-main/lab/probes/events-probe.ts: KernelEventWatcher, one reader
// thread per events socket) and the incumbent, iproute2's `ip mptcp monitor`, listen in the same
// namespace at the same time; printed: the events each received per kind, out of N, and what the
// engine reported lost (the kernel's drop count).
//
//   node bench/event-burst.mjs [--connections 10000] [--rounds 2] [--rcvbuf BYTES] [--isolation process|thread]
//
// --isolation: where the engine's reader runs (EventReaderOptions.isolation, default a process of
// its own, which the engine restarts if the netlink binding aborts it). --rcvbuf sets the engine's SO_RCVBUF (default: its own, 4 MiB within net.core.rmem_max; Debian's
// default rmem_max, 212992, is what most hosts give it). Not asserted anywhere: the figures go in
// the README.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { arg, bundleEntry, cleanupOnSignals, importLab } from './lib.mjs';

const N = Number(arg('connections', '10000'));
const ROUNDS = Number(arg('rounds', '2'));
const RCVBUF = arg('rcvbuf', '0');
const ISOLATION = arg('isolation', 'process');

const { Lab, labUnavailableReason } = await importLab();
const probe = await bundleEntry('src-main/lab/probes/events-probe.ts', 'events-probe.mjs');
const reason = labUnavailableReason();
if (reason) {
  console.error(`bench needs the lab: ${reason}`);
  process.exit(2);
}

const KINDS = ['created', 'established', 'announced', 'sub_established', 'closed'];
/** `ip mptcp monitor`'s names of the kinds. @type {Record<string, string>} */
const MONITOR = {
  CREATED: 'created',
  ESTABLISHED: 'established',
  ANNOUNCED: 'announced',
  SF_ESTABLISHED: 'sub_established',
  CLOSED: 'closed',
};
/** @param {number} ms @returns {Promise<void>} */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @type {import('../src-main/lab/lab').Lab | null} */
let lab = null;
/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();
const cleanup = async () => {
  for (const c of children) c.kill('SIGKILL');
  const l = lab;
  lab = null;
  await l?.destroy();
};
cleanupOnSignals(cleanup);

/**
 * Starts `cmd` in the lab's client namespace and collects its stdout lines.
 * @param {import('../src-main/lab/lab').Lab} lab
 * @param {string} cmd
 * @param {string[]} args
 */
function start(lab, cmd, args) {
  const child = spawn('ip', ['netns', 'exec', lab.client, cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  /** @type {Promise<NodeJS.Signals | number | null>} */
  const exited = new Promise((res) => child.once('exit', (code, signal) => res(signal ?? code)));
  void exited.then(() => children.delete(child));
  /** @type {string[]} */
  const lines = [];
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  return { child, lines, exited, stderr: () => stderr };
}

try {
  const l = await Lab.create({ paths: 2 });
  lab = l;
  await l.startServer(5201);
  console.log(`${N} MPTCP connections opened at once, then reset; events received per kind (of ${N}):`);
  console.log(
    `${'round / listener'.padEnd(28)}${KINDS.map((k) => k.padStart(16)).join('')}   lost (reported)`,
  );
  for (let r = 0; r < ROUNDS; r++) {
    const engine = start(l, process.execPath, [probe, RCVBUF, '0', '', ISOLATION]);
    const monitor = start(l, 'ip', ['mptcp', 'monitor']);
    while (!engine.lines.some((l) => l.startsWith('ready '))) {
      if (engine.child.exitCode !== null) throw new Error(`events probe: ${engine.stderr()}`);
      await sleep(20);
    }
    await sleep(300); // ip mptcp monitor has no ready signal
    const conns = await l.openConnections(N, { rateBytesPerSec: 0, abortOnStop: true });
    await sleep(3000);
    await conns.stop();
    await sleep(3000);
    engine.child.kill('SIGTERM');
    monitor.child.kill('SIGTERM');
    await Promise.all([engine.exited, monitor.exited]);
    const last = engine.lines.find((l) => l.startsWith('{'));
    // The netlink binding aborts the process when its poll sees the socket's error flag
    // (EPOLLERR), i.e. an overflow while the reader thread waited in its event loop.
    /** @typedef {{ counts: Record<string, number>, lost: string[], readers?: Record<string, { restarts?: number }> }} ProbeReport */
    /** @type {ProbeReport} */
    const out = last
      ? /** @type {ProbeReport} */ (JSON.parse(last))
      : {
          counts: {},
          lost: [`engine process died: ${engine.stderr().trim().split('\n').slice(-2).join(' ')}`],
        };
    /** @type {Record<string, number>} */
    const mon = Object.fromEntries(KINDS.map((k) => [k, 0]));
    for (const l of monitor.lines) {
      const k = MONITOR[/^\[\s*([A-Z_]+)\]/.exec(l)?.[1] ?? ''];
      if (k) mon[k] = (mon[k] ?? 0) + 1;
    }
    const dropped = last
      ? out.lost.reduce((n, m) => n + Number(/dropped ([\d,]+)/.exec(m)?.[1]?.replace(/,/g, '') ?? 0), 0)
      : out.lost[0];
    /**
     * @param {string} name
     * @param {Record<string, number>} counts
     * @param {string | number | undefined} lost
     */
    const row = (name, counts, lost) =>
      console.log(
        `${name.padEnd(28)}${KINDS.map((k) => String(counts[k] ?? 0).padStart(16)).join('')}   ${lost}`,
      );
    const restarts = out.readers?.mptcp?.restarts ?? 0;
    row(
      `${r + 1} engine (${ISOLATION}${restarts ? `, ${restarts} restart${restarts > 1 ? 's' : ''}` : ''})`,
      out.counts,
      dropped,
    );
    row(`${r + 1} ip mptcp monitor`, mon, 'not reported');
    // The lab's reset connections leave nothing behind; let the namespace settle between rounds.
    await sleep(2000);
  }
} finally {
  await cleanup();
}
