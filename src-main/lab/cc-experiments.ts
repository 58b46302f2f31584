/**
 * Congestion-control experiments in the lab (tbf shaping, no netem), shared by
 * coupled-cc.int.test.ts and bench/cc.mjs:
 *
 * - sharedBottleneckRun: one MPTCP connection with two subflows and one single-path TCP flow
 *   through the same 20 Mbit/s tbf (Lab topology 'shared-bottleneck'). RFC 6356 §2 goal 2
 *   ("do no harm"): a coupled MPTCP connection should take about one TCP share, i.e. about half
 *   here, where two uncoupled Reno subflows take about two thirds.
 * - disjointRun: one MPTCP connection over two separately shaped paths (20 + 5 Mbit/s). RFC 6356
 *   goal 1: the connection should use (nearly) the sum of both.
 * - Every run samples the cwnd of every client socket (`ss -tinH`) to catch the absurd-cwnd
 *   anomaly seen in the prototype (10^5..10^9 packets).
 *
 * Goodput is what the receiving application read (the lab tool's "rx <bytes>" reports), over a
 * measurement window that starts after a warm-up.
 */
import { Lab, nsRun, type LabProcess } from './lab';

/**
 * A cwnd above this (packets) in these labs is the anomaly, not congestion control: the largest
 * legitimate window is the 20 Mbit/s tbf's 50 ms queue (~86 full-size packets) plus slow-start
 * overshoot, a few hundred packets at most.
 */
export const SANE_MAX_CWND = 5000;

export interface CwndSample {
  atMs: number;
  local: string;
  peer: string;
  cc: string;
  cwnd: number;
  line: string;
}

export interface CwndWatchResult {
  samples: number;
  maxCwnd: number;
  /** Samples with cwnd > SANE_MAX_CWND (kept with their ss line for diagnosis). */
  anomalies: CwndSample[];
  /** Most MPTCP subflows seen at once towards `port`. */
  maxSubflows: number;
  /** CC names seen on the sockets towards `port`. */
  ccNames: string[];
}

/** Parse `ss -tinH` output: a socket line, then an indented info line. */
export function parseSsTcpInfo(out: string, atMs = 0): (CwndSample & { mptcp: boolean })[] {
  const res: (CwndSample & { mptcp: boolean })[] = [];
  const lines = out.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const head = lines[i] ?? '';
    if (!head || /^\s/.test(head)) continue;
    const info = lines[i + 1] ?? '';
    if (!/^\s/.test(info)) continue;
    const cols = head.trim().split(/\s+/);
    const cwnd = /\bcwnd:(\d+)/.exec(info);
    // The CC name is the token right before "wscale:" (after optional ts/sack/ecn flags).
    const cc = /(\S+)\s+wscale:/.exec(info);
    res.push({
      atMs,
      local: cols[cols.length - 2] ?? '',
      peer: cols[cols.length - 1] ?? '',
      cc: cc?.[1] ?? '',
      cwnd: cwnd ? Number(cwnd[1]) : 0,
      mptcp: info.includes('tcp-ulp-mptcp'),
      line: `${head.trim()} | ${info.trim()}`,
    });
  }
  return res;
}

export function watchCwnd(ns: string, port: number, intervalMs = 100): { stop(): Promise<CwndWatchResult> } {
  const result: CwndWatchResult = { samples: 0, maxCwnd: 0, anomalies: [], maxSubflows: 0, ccNames: [] };
  const t0 = Date.now();
  let running = true;
  const loop = (async () => {
    while (running) {
      const { stdout } = await nsRun(ns, 'ss', ['-tinH', 'state', 'established']).catch(() => ({
        stdout: '',
      }));
      const all = parseSsTcpInfo(stdout, Date.now() - t0);
      let subflows = 0;
      for (const s of all) {
        result.samples++;
        if (s.cwnd > result.maxCwnd) result.maxCwnd = s.cwnd;
        if (s.cwnd > SANE_MAX_CWND && result.anomalies.length < 50) result.anomalies.push(s);
        if (s.peer.endsWith(`:${port}`)) {
          if (s.mptcp) subflows++;
          if (s.cc && !result.ccNames.includes(s.cc)) result.ccNames.push(s.cc);
        }
      }
      result.maxSubflows = Math.max(result.maxSubflows, subflows);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return result;
    },
  };
}

/** Clients first (their resets reach a live server), then the servers. procs: servers first. */
async function stopClientsFirst(procs: LabProcess[]): Promise<void> {
  for (const p of [...procs].reverse()) await p.stop();
}

/** Track the latest "rx <bytes>" report of a lab server. */
function rxCounter(proc: LabProcess): () => number {
  let last = 0;
  proc.onLine((line) => {
    const m = /^rx (\d+)/.exec(line);
    if (m) last = Number(m[1]);
  });
  return () => last;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface SharedRunResult {
  mptcpCc: string;
  mptcpMbit: number;
  tcpMbit: number;
  /** MPTCP goodput / (MPTCP + TCP goodput). */
  mptcpShare: number;
  cwnd: CwndWatchResult;
}

let nextPort = 6000;

/** One shared-bottleneck run in a lab built with topology 'shared-bottleneck'. */
export async function sharedBottleneckRun(
  lab: Lab,
  opts: { mptcpCc: string; tcpCc?: string; warmupMs?: number; measureMs?: number },
): Promise<SharedRunResult> {
  const portM = nextPort++;
  const portT = nextPort++;
  const procs: LabProcess[] = [];
  let watch: ReturnType<typeof watchCwnd> | null = null;
  try {
    const srvM = await lab.startServer(portM, { reportMs: 50 });
    procs.push(srvM);
    const srvT = await lab.startServer(portT, { reportMs: 50 });
    procs.push(srvT);
    const rxM = rxCounter(srvM);
    const rxT = rxCounter(srvT);
    watch = watchCwnd(lab.client, portM);
    const [cliM, cliT] = await Promise.all([
      lab.openConnections(1, {
        port: portM,
        rateBytesPerSec: -1,
        congestionControl: opts.mptcpCc,
        abortOnStop: true,
      }),
      lab.openConnections(1, {
        port: portT,
        rateBytesPerSec: -1,
        congestionControl: opts.tcpCc ?? 'reno',
        protocol: 'tcp',
        abortOnStop: true,
      }),
    ]);
    procs.push(cliM, cliT);
    await sleep(opts.warmupMs ?? 2000);
    const m0 = rxM();
    const t0 = rxT();
    const start = Date.now();
    await sleep(opts.measureMs ?? 6000);
    const m1 = rxM();
    const t1 = rxT();
    const secs = (Date.now() - start) / 1000;
    const cwnd = await watch.stop();
    watch = null;
    const mptcpMbit = ((m1 - m0) * 8) / secs / 1e6;
    const tcpMbit = ((t1 - t0) * 8) / secs / 1e6;
    return {
      mptcpCc: opts.mptcpCc,
      mptcpMbit,
      tcpMbit,
      mptcpShare: mptcpMbit / Math.max(mptcpMbit + tcpMbit, 1e-9),
      cwnd,
    };
  } finally {
    await watch?.stop();
    await stopClientsFirst(procs);
  }
}

export interface DisjointRunResult {
  mptcpCc: string;
  mptcpMbit: number;
  cwnd: CwndWatchResult;
}

/** One MPTCP connection over a lab with separately shaped paths (e.g. 20 + 5 Mbit/s). */
export async function disjointRun(
  lab: Lab,
  opts: { mptcpCc: string; warmupMs?: number; measureMs?: number },
): Promise<DisjointRunResult> {
  const port = nextPort++;
  const procs: LabProcess[] = [];
  let watch: ReturnType<typeof watchCwnd> | null = null;
  try {
    const srv = await lab.startServer(port, { reportMs: 50 });
    procs.push(srv);
    const rx = rxCounter(srv);
    watch = watchCwnd(lab.client, port);
    procs.push(
      await lab.openConnections(1, {
        port,
        rateBytesPerSec: -1,
        congestionControl: opts.mptcpCc,
        abortOnStop: true,
      }),
    );
    await sleep(opts.warmupMs ?? 2000);
    const b0 = rx();
    const start = Date.now();
    await sleep(opts.measureMs ?? 6000);
    const b1 = rx();
    const secs = (Date.now() - start) / 1000;
    const cwnd = await watch.stop();
    watch = null;
    return { mptcpCc: opts.mptcpCc, mptcpMbit: ((b1 - b0) * 8) / secs / 1e6, cwnd };
  } finally {
    await watch?.stop();
    await stopClientsFirst(procs);
  }
}

export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

export function stddev(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/** Nominal rates of the experiments, Mbit/s. */
export const BOTTLENECK_MBIT = 20;
/** The shared tbf's queue in ms at BOTTLENECK_MBIT. */
export const BOTTLENECK_LATENCY_MS = 50;
export const DISJOINT_MBIT = [20, 5] as const;

export interface CcSuiteResult {
  cc: string;
  shared: SharedRunResult[];
  disjoint: DisjointRunResult[];
  /** Every run of this CC (shared, disjoint and the short extra ones) watched for the anomaly. */
  watchedRuns: number;
  maxCwnd: number;
  anomalies: CwndSample[];
  /** Fewest subflows seen in any shared/disjoint run (2 expected). */
  minSubflows: number;
  /** CC names seen on the MPTCP subflows. */
  ccSeen: string[];
}

/**
 * The three experiments for one congestion control: `sharedRuns` shared-bottleneck runs,
 * `disjointRuns` disjoint-path runs, then short shared-bottleneck runs until `anomalyRuns` runs in
 * total have been watched for the anomaly.
 */
export async function runCcSuite(opts: {
  cc: string;
  sharedRuns: number;
  disjointRuns: number;
  anomalyRuns: number;
  /** Shared-bottleneck runs: warm-up and measurement window (default 2 s + 6 s). */
  warmupMs?: number;
  measureMs?: number;
  /** Disjoint-path runs (default: the same as the shared ones). */
  disjointWarmupMs?: number;
  disjointMeasureMs?: number;
  /** tbf queue of the shared bottleneck in ms (default BOTTLENECK_LATENCY_MS). */
  bottleneckLatencyMs?: number;
  /**
   * Sequential design: after the shared runs, how many more to add given the shares so far
   * (e.g. when a test's verdict is within the noise). Called once.
   */
  extraSharedRuns?: (shares: number[]) => number;
  log?: (line: string) => void;
}): Promise<CcSuiteResult> {
  const log = opts.log ?? (() => undefined);
  const res: CcSuiteResult = {
    cc: opts.cc,
    shared: [],
    disjoint: [],
    watchedRuns: 0,
    maxCwnd: 0,
    anomalies: [],
    minSubflows: Infinity,
    ccSeen: [],
  };
  const fold = (c: CwndWatchResult, countSubflows: boolean): void => {
    for (const a of c.anomalies.slice(0, 3)) log(`ANOMALY at +${a.atMs} ms: ${a.line}`);
    res.watchedRuns++;
    res.maxCwnd = Math.max(res.maxCwnd, c.maxCwnd);
    res.anomalies.push(...c.anomalies);
    if (countSubflows) res.minSubflows = Math.min(res.minSubflows, c.maxSubflows);
    for (const n of c.ccNames) if (!res.ccSeen.includes(n)) res.ccSeen.push(n);
  };
  const shared = await Lab.create({
    topology: 'shared-bottleneck',
    bottleneckMbit: BOTTLENECK_MBIT,
    bottleneckLatencyMs: opts.bottleneckLatencyMs ?? BOTTLENECK_LATENCY_MS,
  });
  try {
    let runs = opts.sharedRuns;
    for (let i = 0; i < runs; i++) {
      const r = await sharedBottleneckRun(shared, {
        mptcpCc: opts.cc,
        warmupMs: opts.warmupMs,
        measureMs: opts.measureMs,
      });
      res.shared.push(r);
      fold(r.cwnd, true);
      log(
        `shared #${i + 1}: mptcp ${r.mptcpMbit.toFixed(2)} tcp ${r.tcpMbit.toFixed(2)} Mbit/s ` +
          `share ${r.mptcpShare.toFixed(3)} subflows ${r.cwnd.maxSubflows} max cwnd ${r.cwnd.maxCwnd}`,
      );
      if (i === opts.sharedRuns - 1 && opts.extraSharedRuns) {
        const extra = opts.extraSharedRuns(res.shared.map((x) => x.mptcpShare));
        if (extra > 0) log(`${extra} more shared runs (verdict within the noise)`);
        runs += Math.max(0, extra);
      }
    }
  } finally {
    await shared.destroy();
  }
  const disjoint = await Lab.create({
    paths: 2,
    pathOptions: DISJOINT_MBIT.map((rateMbit) => ({ rateMbit })),
  });
  try {
    for (let i = 0; i < opts.disjointRuns; i++) {
      const r = await disjointRun(disjoint, {
        mptcpCc: opts.cc,
        warmupMs: opts.disjointWarmupMs ?? opts.warmupMs,
        measureMs: opts.disjointMeasureMs ?? opts.measureMs,
      });
      res.disjoint.push(r);
      fold(r.cwnd, true);
      log(
        `disjoint #${i + 1}: ${r.mptcpMbit.toFixed(2)} Mbit/s subflows ${r.cwnd.maxSubflows} max cwnd ${r.cwnd.maxCwnd}`,
      );
    }
  } finally {
    await disjoint.destroy();
  }
  if (res.watchedRuns < opts.anomalyRuns) {
    const extra = await Lab.create({
      topology: 'shared-bottleneck',
      bottleneckMbit: BOTTLENECK_MBIT,
      bottleneckLatencyMs: opts.bottleneckLatencyMs ?? BOTTLENECK_LATENCY_MS,
    });
    try {
      while (res.watchedRuns < opts.anomalyRuns) {
        // Short runs: slow start, the first losses and recoveries (where the anomaly struck).
        const r = await sharedBottleneckRun(extra, { mptcpCc: opts.cc, warmupMs: 500, measureMs: 1500 });
        fold(r.cwnd, false);
        log(`anomaly run #${res.watchedRuns}: max cwnd ${r.cwnd.maxCwnd}`);
      }
    } finally {
      await extra.destroy();
    }
  }
  return res;
}

function fmt(xs: number[], digits: number): string {
  return `${mean(xs).toFixed(digits)} ± ${stddev(xs).toFixed(digits)}`;
}

/** The markdown table of bench:cc (and of the README). */
export function formatCcTable(rows: (CcSuiteResult & { label: string })[]): string {
  const out = [
    `| CC on the MPTCP subflows | shared ${BOTTLENECK_MBIT} Mbit/s: MPTCP share (mean ± sd, runs) | MPTCP / TCP Mbit/s | disjoint ${DISJOINT_MBIT.join(' + ')} Mbit/s: MPTCP Mbit/s (% of sum) | runs watched | max subflow cwnd | cwnd > ${SANE_MAX_CWND} |`,
    '|---|---|---|---|---|---|---|',
  ];
  const sum = DISJOINT_MBIT.reduce((a, b) => a + b, 0);
  for (const r of rows) {
    const shares = r.shared.map((x) => x.mptcpShare);
    const dj = r.disjoint.map((x) => x.mptcpMbit);
    out.push(
      `| ${r.label} | ${fmt(shares, 3)} (${shares.length}) | ${mean(r.shared.map((x) => x.mptcpMbit)).toFixed(2)} / ${mean(r.shared.map((x) => x.tcpMbit)).toFixed(2)} | ${fmt(dj, 2)} (${((mean(dj) / sum) * 100).toFixed(1)}%) | ${r.watchedRuns} | ${r.maxCwnd} | ${r.anomalies.length} |`,
    );
  }
  return out.join('\n');
}
