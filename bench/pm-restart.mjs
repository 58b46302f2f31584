// The engine as path manager, killed and restarted: how long the rebuild from the kernel takes.
//
//   npm run build:node && node bench/pm-restart.mjs [connections]     (root; default 200)
//
// A lab client runs userspace fullmesh in its engine agent (the process the app talks to), the
// server the CLI `pm --role server`; N connections get a 2x2 mesh. The agent is killed with
// SIGKILL, `ss` counts the subflows that stayed, and a new agent's 'mptcp:pm:start' adopts the
// connections from sock_diag + GET_ADDR(TOKEN). Printed: mesh time, subflows kept, adoption time,
// and the SUBFLOW_CREATEs the restarted PM sent (0 = nothing duplicated).
//
// 1000 connections at once used to abort the engine inside the netlink binding ("Napi::Error /
// Error in native callback", 2 runs of 2): about 3000 SUBFLOW_CREATEs in flight on one socket.
// NlSocket now keeps at most 256 requests in flight per socket; `node bench/pm-restart.mjs 1000`
// then ran clean 4 of 4 (mesh 1.2-1.6 s, adoption of 1000 connections 412-497 ms, 0 duplicates).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { importLab, parseJson } from './lib.mjs';

const N = Number(process.argv[2] ?? 200);
const { Lab, nsRun } = await importLab();

/**
 * An engine agent in the namespace, spoken to over its stdio line protocol (shared/wire.ts).
 * @param {string} ns
 * @param {string} name for its stderr lines
 */
function agent(ns, name) {
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, 'out/node/mptcp-studio.mjs', 'agent', '--label', ns],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  child.stderr.on('data', (d) => process.stderr.write(`[${name} stderr] ${d}`));
  child.stdin.on('error', () => undefined);
  /** @type {Map<number, (r: import('../shared/result').Result<unknown>) => void>} */
  const pending = new Map();
  /** @type {import('../shared/contract').EventPayload<'mptcp:pm:action'>[]} */
  const actions = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    /** @type {import('../shared/wire').ServerMessage} */
    let m;
    try {
      m = /** @type {import('../shared/wire').ServerMessage} */ (parseJson(l));
    } catch {
      return; // a line cut short by kill -9
    }
    if (m.t === 'event' && m.name === 'mptcp:pm:action')
      actions.push(/** @type {import('../shared/contract').EventPayload<'mptcp:pm:action'>} */ (m.payload));
    if (m.t === 'result')
      pending.get(m.id)?.(/** @type {import('../shared/result').Result<unknown>} */ (m.result));
  });
  let id = 1;
  /**
   * @template {import('../shared/contract').MethodName} M
   * @param {M} method
   * @param {import('../shared/contract').MethodArgs<M>} args
   * @returns {Promise<import('../shared/contract').MethodResult<M>>}
   */
  const call = (method, args) =>
    new Promise((resolve, reject) => {
      const i = id++;
      pending.set(i, (r) =>
        r.ok
          ? resolve(/** @type {import('../shared/contract').MethodResult<M>} */ (r.value))
          : reject(new Error(r.error.message)),
      );
      child.stdin.write(`${JSON.stringify({ t: 'call', id: i, method, args })}\n`);
    });
  return { child, call, actions };
}

/** @param {ReturnType<typeof agent>} a */
const meshed = async (a) =>
  (await a.call('mptcp:connections:list', {})).connections.filter(
    (c) => c.subflows.filter((s) => s.state === 'ESTABLISHED').length === 4,
  ).length;

const lab = await Lab.create({ paths: 2, mptcp: 'none' });
const server = spawn(
  process.execPath,
  ['bin/mptcp-studio.mjs', 'pm', '--json', '--netns', lab.server, '--mode', 'fullmesh', '--role', 'server'],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
server.stderr.on('data', (d) => process.stderr.write(`[server pm stderr] ${d}`));
try {
  /** @type {Promise<void>} */
  const started = new Promise((resolve) =>
    createInterface({ input: server.stdout }).on('line', (l) => {
      const line = /** @type {{ what?: string }} */ (parseJson(l));
      if (line.what === 'started') resolve();
    }),
  );
  await started;
  const first = agent(lab.client, 'first agent');
  await first.call('mptcp:pm:start', { mode: 'fullmesh', role: 'client', manager: 'userspace' });
  await lab.startServer(5201);
  const t0 = performance.now();
  await lab.openConnections(N, { rateBytesPerSec: 1000 });
  await lab.waitFor(
    'full mesh',
    () => meshed(first),
    (n) => n === N,
    60_000,
  );
  console.log(`${N} connections opened and meshed 2x2 in ${(performance.now() - t0).toFixed(0)} ms`);

  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  await new Promise((r) => setTimeout(r, 500));
  const { stdout } = await nsRun(lab.client, 'ss', ['-tnH', 'state', 'established', 'dport', '5201']);
  console.log(`after kill -9: ${stdout.split('\n').filter(Boolean).length} established subflows (ss)`);

  const second = agent(lab.client, 'second agent');
  await second.call('mptcp:pm:status', {}); // the agent is up: time the start alone
  const t1 = performance.now();
  const s = await second.call('mptcp:pm:start', { mode: 'fullmesh', role: 'client', manager: 'userspace' });
  const adoptMs = performance.now() - t1;
  console.log(
    `restart: mptcp:pm:start adopted ${s.connections} connections in ${adoptMs.toFixed(1)} ms (path_manager to restore recovered: ${s.recovered})`,
  );
  await new Promise((r) => setTimeout(r, 2000));
  const creates = second.actions.filter((a) => a.action === 'subflow-create').length;
  console.log(`2 s later: ${creates} SUBFLOW_CREATE sent, ${await meshed(second)} of ${N} still 2x2`);
  const stopped = await second.call('mptcp:pm:stop', {});
  second.child.stdin.end();
  /** @type {Promise<NodeJS.Signals | number | null>} */
  const exited = new Promise((r) => second.child.once('exit', (c, sig) => r(sig ?? c)));
  const code = await exited;
  const { stdout: pmNow } = await nsRun(lab.client, 'sysctl', ['-n', 'net.mptcp.path_manager']);
  console.log(
    `stop: path_manager ${pmNow.trim()} (status said ${stopped.pathManager}); engine exited with ${code}`,
  );
} finally {
  server.kill('SIGTERM');
  await lab.destroy();
}
