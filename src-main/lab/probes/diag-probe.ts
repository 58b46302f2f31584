/**
 * A tiny command-line probe around the connection reader, for tests and the bench only. It is
 * bundled with esbuild and run under `ip netns exec NS node …` because a netlink socket sees the
 * netns of the process that opens it. Prints one JSON document on stdout.
 *
 *   snapshot                      a ConnectionPoller's read()
 *   connection TOKEN              { connection: readOne(TOKEN), fullDumps }
 *   record                        the raw messages of the poll's dumps, hex, with their nlmsghdr
 *   overlap ROUNDS K              ROUNDS times, K reads at once on one poller (as the poller,
 *                                 connections:list and advice:get overlap in the engine); per call
 *                                 its tokens, subflow count and orphans, or its error
 *   bench ITERS [MSGBUF] [MODE]   time ITERS reads. MODE: `thread` polls on this thread (no dump
 *                                 worker), `seq` the four dumps one after the other on one dump
 *                                 worker, `fresh` builds every object anew (no reuse of the last
 *                                 poll's), `two-sockets` MPTCP and TCP dumps on two sockets of this
 *                                 thread, concurrently; `binding` the dump workers on the binding's
 *                                 receive path (ReceivePath)
 *   skipped                       a poll on the dump workers and one on this thread: for each, the
 *                                 connection count and how many dumps were left out
 *   threads ITERS [MODE]          ITERS polls: wall ms each, and per thread its CPU and page faults
 *                                 per poll (bench/poll-threads.mjs)
 *   worker-floor ITERS [PATH]     the AF_INET TCP dump alone on a dump worker, nothing decoded;
 *                                 PATH the worker's ReceivePath (`direct`, the default, or `binding`)
 *   receive-paths                 on a worker of each receive path (and a `direct` one that cannot
 *                                 find its fd, so falls back): a request the kernel refuses, then
 *                                 the poll's dumps; per worker its path, the errno, and per dump
 *                                 the sockets (cookie and ports)
 *   reuse ROUNDS GAP_MS           ROUNDS polls GAP_MS apart, each followed by one of a poller that
 *                                 builds every object anew (reuse: false): both snapshots, and which
 *                                 objects are the previous round's (SnapshotBuilder `prev`)
 *   sample SECONDS HZ [json]      the engine's sampler (EngineService + LocalEngine, snapshots every
 *                                 1000/HZ ms) for SECONDS after a 2 s warm-up; `json` also
 *                                 serializes each snapshot as the agent does for its stdio channel.
 *                                 Prints this process's CPU time (all threads) over the window
 *   ss-sample SECONDS HZ          `ss -tinM` (to /dev/null) HZ times a second, the incumbent; prints
 *                                 the CPU time of the ss children over the window
 */
import { spawn } from 'node:child_process';
import type { ConnectionsSnapshot } from '../../../shared/types';
import { readdirSync, readFileSync } from 'node:fs';
import { NlSocket } from '../../engine/netlink/core';
import { NETLINK_ROUTE, NETLINK_SOCK_DIAG } from '../../engine/uapi/netlink';
import { readLinksAndAddresses } from '../../engine/rtnl/interfaces';
import { getRoute } from '../../engine/rtnl/route';
import { SubflowPathResolver } from '../../engine/rtnl/subflow-paths';
import { LocalEngine } from '../../engine/local-engine';
import { EngineService } from '../../engine/service';
import { SnapshotBuilder } from '../../engine/diag/decode';
import { DiagDumpWorker, type ReceivePath } from '../../engine/diag/dump-worker';
import { SOCK_DIAG_BY_FAMILY } from '../../engine/uapi/sock-diag';
import {
  ConnectionPoller,
  pollRequests,
  type PollerOptions,
  type ReadConnectionsOptions,
} from '../../engine/diag/connections';

/**
 * On `w`: a request the kernel refuses (sdiag_family 255: EINVAL from sock_diag_rcv_msg), then the
 * poll's MPTCP and TCP dumps. Returns the worker's path, the errno of the refusal, and per dump the
 * sockets it found (inet_diag_msg: family, ports and idiag_cookie) and the terminating errno.
 */
async function receivePathsRun(w: DiagDumpWorker): Promise<{
  path: ReceivePath | null;
  refusedErrno: number;
  dumps: { sockets: string[]; errno: number }[];
}> {
  const scan = (into: { sockets: string[]; errno: number }) => (_dump: number, buf: Buffer, used: number) => {
    for (let off = 0; off + 16 <= used;) {
      const len = buf.readUInt32LE(off);
      if (len < 16 || off + len > used) throw new Error('malformed batch');
      const type = buf.readUInt16LE(off + 4);
      const p = off + 16;
      if (type === 2 || type === 3) into.errno = len >= 20 ? -buf.readInt32LE(p) : 0;
      else if (type === SOCK_DIAG_BY_FAMILY && len >= 16 + 52) {
        // struct inet_diag_msg: family at 0, sport/dport at 4/6 (network order), cookie at 44.
        into.sockets.push(
          `${buf[p]} ${buf.readUInt16BE(p + 4)} ${buf.readUInt16BE(p + 6)} ${buf.toString('hex', p + 44, p + 52)}`,
        );
      }
      off += (len + 3) & ~3;
    }
  };
  const refused = { sockets: [] as string[], errno: 0 };
  const bad = Buffer.from(pollRequests.tcp[0]!);
  bad[0] = 255; // sdiag_family
  await w.run(SOCK_DIAG_BY_FAMILY, [bad], scan(refused));
  const dumps: { sockets: string[]; errno: number }[] = [];
  for (const req of [...pollRequests.mptcp, ...pollRequests.tcp]) {
    const d = { sockets: [] as string[], errno: -1 };
    await w.run(SOCK_DIAG_BY_FAMILY, [req], scan(d));
    d.sockets.sort();
    dumps.push(d);
  }
  return { path: w.receivePath, refusedErrno: refused.errno, dumps };
}

/** The poller and read options of a bench MODE (see the header). */
function benchOptions(mode: string | undefined): {
  poller: PollerOptions;
  read: ReadConnectionsOptions;
  paths?: false;
} {
  // Without resolving each new subflow's interface (what the poll cost before Subflow.ifname).
  if (mode === 'no-paths') return { poller: {}, read: {}, paths: false };
  if (mode === 'fresh-no-paths') return { poller: { reuse: false }, read: {}, paths: false };
  if (mode === 'thread') return { poller: {}, read: { inThread: true } };
  if (mode === 'seq') return { poller: { sequentialDumps: true }, read: {} };
  if (mode === 'fresh') return { poller: { reuse: false }, read: {} };
  if (mode === 'binding') return { poller: { receive: 'binding' }, read: {} };
  if (mode && mode !== 'two-sockets' && mode !== 'default') throw new Error(`unknown bench mode ${mode}`);
  return { poller: {}, read: {} };
}

async function record(diag: NlSocket): Promise<{ mptcp: string[]; tcp: string[] }> {
  const out = { mptcp: [] as string[], tcp: [] as string[] };
  for (const kind of ['mptcp', 'tcp'] as const) {
    for (const req of pollRequests[kind]) {
      await diag.dump(SOCK_DIAG_BY_FAMILY, req, `record ${kind}`, (buf, _type, off, len) => {
        out[kind].push(buf.toString('hex', off - 16, off + len));
      });
    }
  }
  return out;
}

/** The same poll with the MPTCP and TCP dumps on two sockets at once; subflows joined after. */
async function splitPoll(a: NlSocket, b: NlSocket): Promise<number> {
  const mp = new SnapshotBuilder();
  const tcpMsgs: Buffer[] = [];
  await Promise.all([
    (async () => {
      for (const req of pollRequests.mptcp)
        await a.dump(SOCK_DIAG_BY_FAMILY, req, 'mptcp', (buf, _t, off, len) => mp.onMptcp(buf, off, len));
    })(),
    (async () => {
      // The datagrams are kept (not copied) and decoded once the connections are known.
      for (const req of pollRequests.tcp)
        await b.dump(SOCK_DIAG_BY_FAMILY, req, 'tcp', (buf) => {
          if (tcpMsgs[tcpMsgs.length - 1] !== buf) tcpMsgs.push(buf);
        });
    })(),
  ]);
  let n = 0;
  for (const buf of tcpMsgs) {
    let off = 0;
    while (off + 16 <= buf.length) {
      const len = buf.readUInt32LE(off);
      if (len < 16 || off + len > buf.length) break;
      if (buf.readUInt16LE(off + 4) === SOCK_DIAG_BY_FAMILY) mp.onTcp(buf, off + 16, len - 16);
      off += (len + 3) & ~3;
    }
  }
  for (const c of mp.connections) n += c.subflows.length;
  return n;
}

/**
 * One poll, reduced to its counts. The previous poll's snapshot stays alive through this one in
 * every mode, as in the engine (EngineService keeps its newest poll, a connections feed its base):
 * reuse needs it, and without reuse it is what the young generation copies. Reuse is counted by
 * identity at the same index (no Set of 10,000 objects per poll).
 */
let lastCounted: readonly object[] = [];

async function countedPoll(
  poller: ConnectionPoller,
  diag: NlSocket,
  opts: ReadConnectionsOptions,
): Promise<{ connections: number; subflows: number; reused: number }> {
  const snap = await poller.read(diag, opts);
  let subflows = 0;
  let reused = 0;
  snap.connections.forEach((c, i) => {
    subflows += c.subflows.length;
    if (lastCounted[i] === c) reused++;
  });
  lastCounted = snap.connections;
  return { connections: snap.connections.length, subflows, reused };
}

/** Per thread of this process: name, user and system CPU ms, minor faults (proc(5) stat). */
function taskTimes(): Map<string, { name: string; userMs: number; sysMs: number; minorFaults: number }> {
  const out = new Map<string, { name: string; userMs: number; sysMs: number; minorFaults: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // Fields after "(comm)": index 0 is field 3, so field n is f[n - 3]. USER_HZ is 100.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(tid, {
      name,
      minorFaults: Number(f[10 - 3]),
      userMs: Number(f[14 - 3]) * 10,
      sysMs: Number(f[15 - 3]) * 10,
    });
  }
  return out;
}

/** utime, stime, cutime, cstime of this process in ms (proc(5): fields 14-17, clock ticks). */
function procTimesMs(): { self: number; children: number } {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after "(comm)": index 0 is field 3 (state), so field n is f[n - 3]. USER_HZ is 100 on Linux.
  const tick = 10;
  const n = (i: number): number => Number(f[i - 3]) * tick;
  return { self: n(14) + n(15), children: n(16) + n(17) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface SampleResult {
  seconds: number;
  hz: number;
  ticks: number;
  /** CPU time over wall time, in percent of one core. */
  cpuPercent: number;
  /** The same from /proc (10 ms resolution), as a cross-check. */
  procCpuPercent: number;
  connections: number;
  subflows: number;
  pollMsMedian: number;
}

async function sampleEngine(seconds: number, hz: number, json: boolean): Promise<SampleResult> {
  const svc = new EngineService(new LocalEngine(), { pollIntervalMs: Math.round(1000 / hz) });
  let ticks = 0;
  let connections = 0;
  let subflows = 0;
  let bytes = 0;
  const pollUs: number[] = [];
  const off = svc.on('mptcp:connections:snapshot', (snap) => {
    ticks++;
    pollUs.push(snap.pollDurationUs);
    connections = snap.connections.length;
    subflows = 0;
    for (const c of snap.connections) subflows += c.subflows.length;
    if (json) bytes += JSON.stringify(snap).length;
  });
  await sleep(2000);
  ticks = 0;
  pollUs.length = 0;
  const c0 = process.cpuUsage();
  const p0 = procTimesMs();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const wall = performance.now() - t0;
  const c1 = process.cpuUsage(c0);
  const p1 = procTimesMs();
  off();
  await svc.close();
  pollUs.sort((a, b) => a - b);
  if (json && bytes === 0) throw new Error('no snapshot serialized');
  return {
    seconds: wall / 1000,
    hz,
    ticks,
    cpuPercent: ((c1.user + c1.system) / 1000 / wall) * 100,
    procCpuPercent: ((p1.self - p0.self) / wall) * 100,
    connections,
    subflows,
    pollMsMedian: (pollUs[pollUs.length >> 1] ?? 0) / 1000,
  };
}

/** Runs `ss -tinM` every 1000/HZ ms (skipping a tick while one still runs, as the sampler does). */
async function sampleSs(seconds: number, hz: number): Promise<SampleResult & { ssMsMedian: number }> {
  let running = false;
  let ticks = 0;
  let counting = false;
  const ms: number[] = [];
  const once = (): void => {
    if (running) return;
    running = true;
    const t = performance.now();
    const child = spawn('ss', ['-tinM'], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', () => {
      running = false;
      if (counting) {
        ticks++;
        ms.push(performance.now() - t);
      }
    });
  };
  const timer = setInterval(once, Math.round(1000 / hz));
  await sleep(2000);
  while (running) await sleep(1);
  counting = true;
  const p0 = procTimesMs();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  clearInterval(timer);
  while (running) await sleep(1);
  const wall = performance.now() - t0;
  const p1 = procTimesMs();
  ms.sort((a, b) => a - b);
  const pct = ((p1.children - p0.children) / wall) * 100;
  return {
    seconds: wall / 1000,
    hz,
    ticks,
    cpuPercent: pct,
    procCpuPercent: pct,
    connections: 0,
    subflows: 0,
    pollMsMedian: 0,
    ssMsMedian: ms[ms.length >> 1] ?? 0,
  };
}

async function main(): Promise<void> {
  const [mode = 'snapshot', arg1, arg2, arg3] = process.argv.slice(2);
  if (mode === 'sample' || mode === 'ss-sample') {
    const seconds = Number(arg1 ?? 30);
    const hz = Number(arg2 ?? 10);
    const r =
      mode === 'sample' ? await sampleEngine(seconds, hz, arg3 === 'json') : await sampleSs(seconds, hz);
    process.stdout.write(JSON.stringify(r));
    // The dump workers are unref'd; nothing else keeps the process alive.
    return;
  }
  const msgBufferBytes = arg2 && mode !== 'overlap' ? Number(arg2) : undefined;
  const diag = new NlSocket(NETLINK_SOCK_DIAG, msgBufferBytes ? { msgBufferBytes } : {});
  const bench = benchOptions(mode === 'bench' ? arg3 : mode === 'threads' ? arg2 : undefined);
  // Each new subflow's interface, as the engine resolves it (rtnl/subflow-paths.ts), so that the
  // bench times the poll the engine runs. No watch socket (it would keep this process alive):
  // answers expire after the resolver's TTL instead.
  const route = new NlSocket(NETLINK_ROUTE);
  const paths = new SubflowPathResolver({
    route: (q) => getRoute(route, q),
    linkNames: async () => new Map((await readLinksAndAddresses(route)).links.map((l) => [l.index, l.name])),
  });
  const poller = new ConnectionPoller({ ...bench.poller, paths: bench.paths === false ? null : paths });
  try {
    if (mode === 'snapshot') {
      process.stdout.write(JSON.stringify(await poller.read(diag)));
    } else if (mode === 'skipped') {
      // On the dump workers, then on this thread: the snapshot size and the dumps left out.
      const polls = [];
      for (const inThread of [false, true]) {
        const snap = await poller.read(diag, { inThread });
        polls.push({
          inThread,
          connections: snap.connections.length,
          skippedDumps: poller.stats.lastSkippedDumps,
          receivePaths: inThread ? null : poller.stats.lastReceivePaths,
        });
      }
      process.stdout.write(JSON.stringify(polls));
    } else if (mode === 'connection') {
      const connection = await poller.readOne(diag, Number(arg1));
      process.stdout.write(JSON.stringify({ connection, fullDumps: poller.stats.connectionFullDumps }));
    } else if (mode === 'overlap') {
      const rounds: ({ tokens: number[]; subflows: number; orphanSubflows: number } | { error: string })[][] =
        [];
      for (let i = 0; i < Number(arg1 ?? 20); i++) {
        const calls = Array.from({ length: Number(arg2 ?? 3) }, () => poller.read(diag));
        const settled = await Promise.allSettled(calls);
        rounds.push(
          settled.map((r) =>
            r.status === 'rejected'
              ? { error: String(r.reason) }
              : {
                  tokens: r.value.connections.map((c) => c.token).sort((a, b) => a - b),
                  subflows: r.value.connections.reduce((n, c) => n + c.subflows.length, 0),
                  orphanSubflows: r.value.orphanSubflows,
                },
          ),
        );
      }
      process.stdout.write(JSON.stringify(rounds));
    } else if (mode === 'record') {
      process.stdout.write(JSON.stringify(await record(diag)));
    } else if (mode === 'threads') {
      // ITERS polls (after 3 warm-ups) in MODE (bench modes, e.g. `fresh`): wall per poll, and
      // per thread of this process its CPU (user, system) and minor page faults per poll, from
      // /proc/self/task (proc(5) stat fields 10, 14, 15; clock ticks of 10 ms, so use >= 40 polls).
      const iters = Number(arg1 ?? 60);
      for (let i = 0; i < 3; i++) await countedPoll(poller, diag, bench.read);
      const before = taskTimes();
      const ms: number[] = [];
      for (let i = 0; i < iters; i++) {
        const t0 = performance.now();
        await countedPoll(poller, diag, bench.read);
        ms.push(performance.now() - t0);
      }
      const after = taskTimes();
      const threads = [...after].flatMap(([tid, a]) => {
        const b = before.get(tid);
        if (!b) return [];
        const per = (x: number, y: number): number => (x - y) / iters;
        return [
          {
            tid,
            name: a.name,
            userMs: per(a.userMs, b.userMs),
            sysMs: per(a.sysMs, b.sysMs),
            minorFaults: per(a.minorFaults, b.minorFaults),
          },
        ];
      });
      process.stdout.write(JSON.stringify({ ms, threads }));
    } else if (mode === 'worker-floor') {
      // The AF_INET TCP dump alone on a dump worker, decoding nothing (bytes counted only): the
      // floor of the poll's critical path. ITERS runs after 5 warm-ups, wall ms each.
      const receive = arg2 ?? 'direct';
      if (receive !== 'direct' && receive !== 'binding') throw new Error(`unknown receive path ${receive}`);
      const worker = new DiagDumpWorker({ receive });
      const ms: number[] = [];
      try {
        for (let i = 0; i < Number(arg1 ?? 40) + 5; i++) {
          const t0 = performance.now();
          await worker.run(SOCK_DIAG_BY_FAMILY, [pollRequests.tcp[0]!], () => undefined);
          if (i >= 5) ms.push(performance.now() - t0);
        }
      } finally {
        await worker.terminate();
      }
      process.stdout.write(JSON.stringify({ ms, path: worker.receivePath }));
    } else if (mode === 'receive-paths') {
      const workers = {
        direct: new DiagDumpWorker({ receive: 'direct' }),
        binding: new DiagDumpWorker({ receive: 'binding' }),
        fallback: new DiagDumpWorker({ receive: 'direct', procDir: '/nonexistent' }),
      };
      const out: Record<string, unknown> = {};
      try {
        for (const [name, w] of Object.entries(workers)) out[name] = await receivePathsRun(w);
      } finally {
        for (const w of Object.values(workers)) await w.terminate();
      }
      process.stdout.write(JSON.stringify(out));
    } else if (mode === 'bench') {
      const iters = Number(arg1 ?? 15);
      const second =
        arg3 === 'two-sockets'
          ? new NlSocket(NETLINK_SOCK_DIAG, msgBufferBytes ? { msgBufferBytes } : {})
          : null;
      const ms: number[] = [];
      const workerEndMs: number[][] = [];
      /** CPU time of the whole process (every thread, user + system, kernel dump work included). */
      const cpuMs: number[] = [];
      let connections = 0;
      let subflows = 0;
      /** Per measured poll: connections that are the very objects of the poll before. */
      const reusedConnections: number[] = [];
      for (let i = 0; i < iters + 2; i++) {
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        if (second) {
          subflows = await splitPoll(diag, second);
        } else {
          const r = await countedPoll(poller, diag, bench.read);
          ({ connections, subflows } = r);
          if (i >= 2) reusedConnections.push(r.reused);
        }
        const dt = performance.now() - t0;
        const c1 = process.cpuUsage(c0);
        if (i >= 2) {
          ms.push(dt); // two warm-up rounds: JIT and first-touch allocations
          cpuMs.push((c1.user + c1.system) / 1000);
          workerEndMs.push(poller.stats.lastWorkerEndMs);
        }
      }
      second?.close();
      process.stdout.write(
        JSON.stringify({
          ms,
          cpuMs,
          workerEndMs,
          connections,
          subflows,
          reusedConnections,
          receivePaths: poller.stats.lastReceivePaths,
        }),
      );
    } else if (mode === 'reuse') {
      // ROUNDS polls GAP_MS apart, each followed at once by a poll that builds every object anew;
      // per round: both snapshots and the tokens whose Connection object (and how many Subflow
      // objects) are the very ones of the round before.
      const rounds: {
        reused: ConnectionsSnapshot;
        fresh: ConnectionsSnapshot;
        sharedTokens: number[];
        sharedSubflows: number;
      }[] = [];
      let last: ConnectionsSnapshot | null = null;
      const anew = new ConnectionPoller({ reuse: false, paths });
      for (let i = 0; i < Number(arg1 ?? 4); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, Number(arg2 ?? 300)));
        const reused = await poller.read(diag);
        const fresh = await anew.read(diag);
        const before = new Set<object>(
          last ? [...last.connections, ...last.connections.flatMap((c) => c.subflows)] : [],
        );
        rounds.push({
          reused,
          fresh,
          sharedTokens: reused.connections.filter((c) => before.has(c)).map((c) => c.token),
          sharedSubflows: reused.connections.flatMap((c) => c.subflows).filter((s) => before.has(s)).length,
        });
        last = reused;
      }
      await anew.close();
      process.stdout.write(JSON.stringify(rounds));
    } else {
      throw new Error(`unknown mode ${mode}`);
    }
  } finally {
    await poller.close();
    diag.close();
    route.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
