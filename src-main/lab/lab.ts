/**
 * The namespace lab: a client and a server network namespace joined by N veth paths, with real
 * MPTCP endpoints, limits and traffic. Used by integration tests, e2e and the benchmarks.
 *
 * Rules it keeps (and tests rely on):
 * - Every namespace is named `mpst-<pid>-<rand>-<role>`; `cleanStaleLabs()` removes those whose pid
 *   is gone, so a crashed run never leaves debris behind for the next.
 * - The veth pairs are created directly inside the lab namespaces (`ip link add … netns …`), so the
 *   host's own network configuration is never touched, not even transiently.
 * - Only sysctls inside the lab namespaces are written.
 * - Processes started in the lab get a pipe on stdin; they exit when it closes, i.e. when the lab
 *   (or the test process) goes away.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const LAB_PREFIX = 'mpst-';
/** PmController's default state directory (src-main/engine/pm/pm-controller.ts). */
const PM_STATE_DIR = '/run/mptcp-studio';

const here = dirname(fileURLToPath(import.meta.url));
/** Repository root, found from this file whether it runs from source or from a bundle in out/. */
function repoRoot(): string {
  let dir = here;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return resolve(here, '..', '..');
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        } else {
          resolvePromise({ stdout, stderr });
        }
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export async function ip(args: string[]): Promise<ExecResult> {
  return run('ip', args);
}

/** Run a command inside a namespace. Arguments are passed as a vector, never through a shell. */
export function nsRun(
  ns: string,
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number } = {},
): Promise<ExecResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/**
 * Wait until `predicate` holds for what `probe` returns, polling every `intervalMs`; throws after
 * `timeoutMs` with the last value. Tests wait for something to become ready with this, never with
 * a fixed sleep: a sleep long enough on a loaded CI machine is needlessly long everywhere else, and
 * one that is not fails a run by chance.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  predicate: (v: T) => boolean,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await probe();
    if (predicate(last)) return last;
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
}

/** A row of a namespace's /proc/net/netlink. */
export interface NetlinkSocketRow {
  /** NETLINK_ROUTE 0, NETLINK_GENERIC 16, … */
  protocol: number;
  /** 0 for the kernel's own sockets. */
  portId: number;
  /** The first 32 multicast groups, as the kernel prints them (hex). */
  groups: string;
  /** Bytes queued, not yet read. */
  rmemBytes: number;
  /** Notifications the kernel dropped on this socket (its buffer was full). */
  drops: number;
}

/**
 * The netlink sockets of namespace `ns` (net/netlink/af_netlink.c netlink_seq_show: sk Eth Pid
 * Groups Rmem Wmem Dump Locks Drops Inode; /proc/net follows the netns of the reading process).
 */
export async function netlinkSockets(ns: string): Promise<NetlinkSocketRow[]> {
  const { stdout } = await nsRun(ns, 'cat', ['/proc/net/netlink']);
  const rows: NetlinkSocketRow[] = [];
  for (const line of stdout.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    rows.push({
      protocol: Number(f[1]),
      portId: Number(f[2]),
      groups: f[3] ?? '',
      rmemBytes: Number(f[4]),
      drops: Number(f[8]),
    });
  }
  return rows;
}

/**
 * Wait until every user-space netlink socket in `ns` (port id not 0) has read its queue empty and
 * nothing changed (queues still empty, no new drops, no socket come or gone) for `quietMs`: the
 * readiness signal for "a listener in the namespace has taken every notification the kernel sent",
 * once the test knows the kernel sent them all (e.g. `ss` shows the connections whose events they
 * are). Use it where the listener says nothing until it is stopped; a listener that reports what
 * it got should be polled for that instead.
 */
export async function waitNetlinkDrained(
  ns: string,
  opts: { quietMs?: number; timeoutMs?: number } = {},
): Promise<void> {
  const quietMs = opts.quietMs ?? 300;
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let since: number | null = null;
  let state = '';
  for (;;) {
    const user = (await netlinkSockets(ns)).filter((r) => r.portId !== 0);
    const now = Date.now();
    const key = JSON.stringify(user.map((r) => [r.protocol, r.portId, r.drops]));
    if (user.some((r) => r.rmemBytes > 0)) since = null;
    else if (since === null || key !== state) since = now;
    state = key;
    if (since !== null && now - since >= quietMs) return;
    if (now >= deadline) {
      throw new Error(
        `timed out waiting for the netlink listeners in ${ns} to drain: ${JSON.stringify(user)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Bundles a TypeScript entry (relative to the repository root) into .cache/`outName` with esbuild,
 * `netlink` left external, for probes the tests run under `ip netns exec` (a netlink socket sees
 * its own process's netns). Returns the bundle's path.
 */
export async function bundleProbe(entry: string, outName: string): Promise<string> {
  const root = repoRoot();
  const outfile = join(root, '.cache', outName);
  await run(join(root, 'node_modules', '.bin', 'esbuild'), [
    join(root, entry),
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--external:netlink',
    `--outfile=${outfile}`,
    '--log-level=warning',
  ]);
  return outfile;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove lab namespaces left by processes that no longer exist. */
export async function cleanStaleLabs(): Promise<string[]> {
  const { stdout } = await ip(['netns', 'list']);
  const removed: string[] = [];
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^mpst-(\d+)-/.exec(name);
    if (!m) continue;
    if (pidAlive(Number(m[1])) && Number(m[1]) !== 0) continue;
    await ip(['netns', 'del', name]).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** Is this a machine where the lab can run? Returns null if yes, else the reason to skip. */
export function labUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'the lab needs Linux network namespaces';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'the lab needs root (it creates network namespaces)';
  }
  if (!existsSync('/proc/sys/net/mptcp/enabled'))
    return 'this kernel has no MPTCP (/proc/sys/net/mptcp missing)';
  return null;
}

// --- the traffic tool --------------------------------------------------------------------------

let toolPath: Promise<string> | null = null;

/** Compile mptcp-lab-tool.c once per checkout (into .cache/, not tracked). */
export function labTool(): Promise<string> {
  toolPath ??= (async () => {
    const root = repoRoot();
    const src = join(root, 'src-main', 'lab', 'mptcp-lab-tool.c');
    const outDir = join(root, '.cache');
    const out = join(outDir, 'mptcp-lab-tool');
    mkdirSync(outDir, { recursive: true });
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
      const tmp = `${out}.${process.pid}.tmp`;
      await run('cc', ['-O2', '-Wall', '-o', tmp, src]);
      await run('mv', ['-f', tmp, out]);
    }
    return out;
  })();
  return toolPath;
}

export interface LabProcess {
  child: ChildProcess;
  /** Resolves with the count printed in "ready <n>". */
  ready: Promise<number>;
  /** Every stdout line the process prints (e.g. the server's "rx <bytes>" reports). */
  onLine(listener: (line: string) => void): void;
  stop(): Promise<void>;
}

function startInNs(ns: string, cmd: string, args: string[]): LabProcess {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const rl = createInterface({ input: child.stdout });
  const ready = new Promise<number>((resolvePromise, reject) => {
    rl.on('line', (line) => {
      const m = /^ready (\d+)/.exec(line);
      if (m) resolvePromise(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`${cmd} exited (${code}) before ready: ${stderr.trim()}`)));
    child.on('error', reject);
  });
  ready.catch(() => undefined);
  const stop = (): Promise<void> =>
    new Promise((resolvePromise) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolvePromise();
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.once('exit', () => {
        clearTimeout(t);
        resolvePromise();
      });
      child.stdin?.end();
      child.kill('SIGTERM');
    });
  const onLine = (listener: (line: string) => void): void => {
    rl.on('line', listener);
  };
  return { child, ready, onLine, stop };
}

// --- the lab -----------------------------------------------------------------------------------

/** `ip mptcp monitor` in a lab namespace (Lab.startMptcpMonitor). */
export interface MonitorProcess {
  child: ChildProcess;
  /** Every line printed so far, the readiness probe's listener events included. */
  lines: string[];
  /** Resolves once the monitor has printed an event, i.e. is subscribed. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

export interface LabPathOptions {
  /** tbf rate on both directions of this path, Mbit/s; undefined = unshaped. */
  rateMbit?: number;
  mtuBytes?: number;
}

export interface LabOptions {
  /** Number of veth paths (>= 1). Default 2. */
  paths?: number;
  pathOptions?: LabPathOptions[];
  /**
   * How MPTCP is set up. 'signal' (default): the server announces each extra path address and the
   * client accepts the announcements, giving one subflow per path. 'none': no endpoints, no limits.
   */
  mptcp?: 'signal' | 'none';
  /**
   * 'paths' (default): client and server joined directly by `paths` veth pairs.
   * 'shared-bottleneck': the congestion-control experiment of RFC 6356 §2 goal 2. The client's
   * paths (each a veth pair, 10.99.<i+1>.0/24) end in a router namespace, which forwards
   * everything to the server over ONE veth link (10.99.100.0/24) shaped by tbf to
   * `bottleneckMbit` in the data direction (router -> server). Every subflow and any single-path
   * flow therefore queue in the same tbf. The server has one address (10.99.100.2); the client
   * opens one extra subflow per extra path from a `subflow` endpoint, and policy routing sends
   * each source address out of its own path. `pathOptions` and `mptcp` are ignored.
   */
  topology?: 'paths' | 'shared-bottleneck';
  /** tbf rate of the shared link, Mbit/s (default 20). Only with topology 'shared-bottleneck'. */
  bottleneckMbit?: number;
  /** tbf queue of the shared link, as its delay in ms at the rate (default 50). */
  bottleneckLatencyMs?: number;
  /**
   * Also give every path an IPv6 address pair, fd99:<path+1>::1 (client) and ::2 (server), /64,
   * with `nodad` so they are usable at once (duplicate address detection would leave them
   * tentative for a second or more, and a tentative address cannot be a source). Default false.
   */
  ipv6?: boolean;
}

export interface LabPath {
  index: number;
  clientIf: string;
  serverIf: string;
  clientAddress: string;
  serverAddress: string;
  /** Set with LabOptions.ipv6. */
  clientAddress6: string | null;
  serverAddress6: string | null;
}

const active = new Set<Lab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for a test process that dies without running its teardown: delete synchronously.
  process.once('exit', () => {
    for (const lab of active) lab.destroySync();
  });
}

/** The server's only address in the 'shared-bottleneck' topology. */
export const SHARED_BOTTLENECK_SERVER = '10.99.100.2';

export class Lab {
  readonly client: string;
  readonly server: string;
  /** The router namespace of the 'shared-bottleneck' topology (not created otherwise). */
  readonly router: string;
  private hasRouter = false;
  readonly paths: LabPath[] = [];
  private readonly procs = new Set<{ child: ChildProcess; stop(): Promise<void> }>();
  private destroyed = false;

  private constructor(readonly id: string) {
    this.client = `${id}-cli`;
    this.server = `${id}-srv`;
    this.router = `${id}-rtr`;
  }

  private namespaces(): string[] {
    return this.hasRouter ? [this.client, this.router, this.server] : [this.client, this.server];
  }

  static async create(opts: LabOptions = {}): Promise<Lab> {
    const reason = labUnavailableReason();
    if (reason) throw new Error(reason);
    await cleanStaleLabs();
    const lab = new Lab(`${LAB_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`);
    active.add(lab);
    installExitHook();
    try {
      await lab.build(opts);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  private async build(opts: LabOptions): Promise<void> {
    if (opts.topology === 'shared-bottleneck') return this.buildSharedBottleneck(opts);
    const n = opts.paths ?? 2;
    await ip(['netns', 'add', this.client]);
    await ip(['netns', 'add', this.server]);
    for (const ns of [this.client, this.server]) {
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      // Subflows may leave by one path and return by another; strict reverse-path filtering would drop them.
      await nsRun(ns, 'sysctl', [
        '-q',
        '-w',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
      ]);
    }
    for (let i = 0; i < n; i++) {
      const p: LabPath = {
        index: i,
        clientIf: `c${i}`,
        serverIf: `s${i}`,
        clientAddress: `10.99.${i + 1}.1`,
        serverAddress: `10.99.${i + 1}.2`,
        clientAddress6: opts.ipv6 ? `fd99:${i + 1}::1` : null,
        serverAddress6: opts.ipv6 ? `fd99:${i + 1}::2` : null,
      };
      await ip([
        'link',
        'add',
        p.clientIf,
        'netns',
        this.client,
        'type',
        'veth',
        'peer',
        'name',
        p.serverIf,
        'netns',
        this.server,
      ]);
      const po = opts.pathOptions?.[i];
      for (const [ns, dev, addr, addr6] of [
        [this.client, p.clientIf, p.clientAddress, p.clientAddress6],
        [this.server, p.serverIf, p.serverAddress, p.serverAddress6],
      ] as const) {
        await ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev]);
        if (addr6) await ip(['-n', ns, 'addr', 'add', `${addr6}/64`, 'dev', dev, 'nodad']);
        if (po?.mtuBytes) await ip(['-n', ns, 'link', 'set', dev, 'mtu', String(po.mtuBytes)]);
        await ip(['-n', ns, 'link', 'set', dev, 'up']);
        if (po?.rateMbit) {
          // tbf: burst must hold at least one MTU plus timer slack; 32 KiB works from 1 to 1000 Mbit/s.
          await nsRun(ns, 'tc', [
            'qdisc',
            'add',
            'dev',
            dev,
            'root',
            'tbf',
            'rate',
            `${po.rateMbit}mbit`,
            'burst',
            '32kb',
            'latency',
            '50ms',
          ]);
        }
      }
      this.paths.push(p);
    }
    if ((opts.mptcp ?? 'signal') === 'signal') {
      const extra = Math.min(n - 1, 8);
      await ip([
        '-n',
        this.client,
        'mptcp',
        'limits',
        'set',
        'subflows',
        String(extra),
        'add_addr_accepted',
        String(extra),
      ]);
      await ip([
        '-n',
        this.server,
        'mptcp',
        'limits',
        'set',
        'subflows',
        String(extra),
        'add_addr_accepted',
        String(extra),
      ]);
      for (const p of this.paths.slice(1, 9)) {
        await ip([
          '-n',
          this.server,
          'mptcp',
          'endpoint',
          'add',
          p.serverAddress,
          'dev',
          p.serverIf,
          'signal',
        ]);
      }
    }
  }

  private async buildSharedBottleneck(opts: LabOptions): Promise<void> {
    const n = Math.max(1, Math.min(opts.paths ?? 2, 8));
    await ip(['netns', 'add', this.client]);
    await ip(['netns', 'add', this.server]);
    this.hasRouter = true;
    await ip(['netns', 'add', this.router]);
    for (const ns of this.namespaces()) {
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      await nsRun(ns, 'sysctl', [
        '-q',
        '-w',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
      ]);
    }
    // Only the router forwards (its own namespace's sysctl).
    await nsRun(this.router, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    const veth = async (a: string, nsA: string, b: string, nsB: string): Promise<void> => {
      await ip(['link', 'add', a, 'netns', nsA, 'type', 'veth', 'peer', 'name', b, 'netns', nsB]);
    };
    const up = async (ns: string, dev: string, cidr: string): Promise<void> => {
      await ip(['-n', ns, 'addr', 'add', cidr, 'dev', dev]);
      await ip(['-n', ns, 'link', 'set', dev, 'up']);
    };
    // The shared link, shaped in the data direction only (ACKs return unshaped, as on a
    // typical asymmetric access bottleneck).
    await veth('rs', this.router, 's0', this.server);
    await up(this.router, 'rs', '10.99.100.1/24');
    await up(this.server, 's0', `${SHARED_BOTTLENECK_SERVER}/24`);
    await nsRun(this.router, 'tc', [
      'qdisc',
      'add',
      'dev',
      'rs',
      'root',
      'tbf',
      'rate',
      `${opts.bottleneckMbit ?? 20}mbit`,
      'burst',
      '32kb',
      'latency',
      `${opts.bottleneckLatencyMs ?? 50}ms`,
    ]);
    await ip(['-n', this.server, 'route', 'add', '10.99.0.0/16', 'via', '10.99.100.1']);
    for (let i = 0; i < n; i++) {
      const p: LabPath = {
        index: i,
        clientIf: `c${i}`,
        serverIf: `r${i}`,
        clientAddress: `10.99.${i + 1}.1`,
        serverAddress: SHARED_BOTTLENECK_SERVER,
        clientAddress6: null, // the shared-bottleneck topology is IPv4 only
        serverAddress6: null,
      };
      await veth(p.clientIf, this.client, p.serverIf, this.router);
      await up(this.client, p.clientIf, `${p.clientAddress}/24`);
      await up(this.router, p.serverIf, `10.99.${i + 1}.2/24`);
      // Source-address policy routing: a subflow bound to this path's address leaves by it.
      const table = String(100 + i);
      await ip([
        '-n',
        this.client,
        'route',
        'add',
        '10.99.100.0/24',
        'via',
        `10.99.${i + 1}.2`,
        'dev',
        p.clientIf,
        'table',
        table,
      ]);
      await ip(['-n', this.client, 'rule', 'add', 'from', p.clientAddress, 'table', table]);
      if (i === 0) {
        await ip(['-n', this.client, 'route', 'add', '10.99.100.0/24', 'via', '10.99.1.2', 'dev', 'c0']);
      }
      this.paths.push(p);
    }
    const extra = String(n - 1);
    await ip(['-n', this.client, 'mptcp', 'limits', 'set', 'subflows', extra, 'add_addr_accepted', '0']);
    await ip(['-n', this.server, 'mptcp', 'limits', 'set', 'subflows', extra, 'add_addr_accepted', '0']);
    for (const p of this.paths.slice(1)) {
      await ip([
        '-n',
        this.client,
        'mptcp',
        'endpoint',
        'add',
        p.clientAddress,
        'dev',
        p.clientIf,
        'subflow',
      ]);
    }
  }

  /**
   * Start the MPTCP sink on the server (0.0.0.0:port; with ipv6, [::]:port, IPv6 only). It
   * accepts plain TCP too (MPTCP fallback). With reportMs, it prints "rx <total bytes read>" that
   * often (see LabProcess.onLine).
   */
  async startServer(port = 5201, opts: { reportMs?: number; ipv6?: boolean } = {}): Promise<LabProcess> {
    const tool = await labTool();
    const args = ['server', String(port), String(opts.reportMs ?? 0)];
    if (opts.ipv6) args.push('6');
    const proc = startInNs(this.server, tool, args);
    this.track(proc);
    await proc.ready;
    return proc;
  }

  /**
   * Open `count` MPTCP connections from the client to the server's first-path address and keep
   * them open. rateBytesPerSec per connection: 0 idle, -1 saturate.
   */
  async openConnections(
    count: number,
    opts: {
      port?: number;
      rateBytesPerSec?: number;
      congestionControl?: string;
      path?: number;
      /** 'tcp': plain single-path TCP sockets instead of MPTCP. */
      protocol?: 'mptcp' | 'tcp';
      /**
       * Reset the connections when stopped instead of closing them gracefully: a graceful close
       * with queued data leaves orphaned subflows for up to net.mptcp.close_timeout (60 s),
       * which keep their congestion control (and a BPF CC's registration) alive.
       */
      abortOnStop?: boolean;
      /** Connect to the path's IPv6 server address (the lab needs LabOptions.ipv6). */
      ipv6?: boolean;
    } = {},
  ): Promise<LabProcess> {
    const tool = await labTool();
    const target = this.paths[opts.path ?? 0];
    if (!target) throw new Error(`lab has no path ${opts.path}`);
    const address = opts.ipv6 ? target.serverAddress6 : target.serverAddress;
    if (!address) throw new Error('openConnections({ipv6: true}) needs a lab created with ipv6');
    const args = [
      opts.protocol === 'tcp' ? 'tcp-client' : 'client',
      address,
      String(opts.port ?? 5201),
      String(count),
      String(opts.rateBytesPerSec ?? 0),
    ];
    if (opts.congestionControl || opts.abortOnStop) args.push(opts.congestionControl ?? '');
    if (opts.abortOnStop) args.push('abort');
    const proc = startInNs(this.client, tool, args);
    this.track(proc);
    await proc.ready;
    return proc;
  }

  /**
   * `ip mptcp monitor` in `ns` (default: the client), the independent decoder of mptcp_pm events.
   * It prints nothing when it has subscribed, so `ready` makes it show it: it opens and closes an
   * MPTCP listener in `ns` (LISTENER_CREATED / LISTENER_CLOSED, Linux 6.2+; iproute2 6.1 prints
   * them as `[UNKNOWN 15]` / `[UNKNOWN 16]`) until the monitor prints a line. Those lines stay in
   * `lines`; they carry no token. Stopped with the lab.
   */
  startMptcpMonitor(ns: string = this.client, timeoutMs = 10_000): MonitorProcess {
    const child = spawn('ip', ['-n', ns, 'mptcp', 'monitor'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let stderr = '';
    const ended: { why: string | null } = { why: null };
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
    child.once('exit', (code, signal) => {
      ended.why = String(signal ?? code);
    });
    child.once('error', (e) => {
      ended.why = e.message;
    });
    const ready = (async (): Promise<void> => {
      const tool = await labTool();
      const deadline = Date.now() + timeoutMs;
      while (lines.length === 0) {
        if (ended.why !== null) throw new Error(`ip mptcp monitor exited (${ended.why}): ${stderr.trim()}`);
        if (Date.now() > deadline) {
          throw new Error(
            `ip mptcp monitor printed nothing for listeners opened in ${ns} within ${timeoutMs} ms ` +
              '(listener events need Linux 6.2 or later)',
          );
        }
        const listener = startInNs(ns, tool, ['server', '0']);
        try {
          await listener.ready;
        } finally {
          await listener.stop();
        }
        await waitFor(
          'a monitor line',
          () => lines.length,
          (n) => n > 0,
          250,
        ).catch(() => undefined);
      }
    })();
    ready.catch(() => undefined);
    const stop = (): Promise<void> =>
      new Promise((resolvePromise) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolvePromise();
        child.once('exit', () => resolvePromise());
        child.kill('SIGTERM');
      });
    const proc: MonitorProcess = { child, lines, ready, stop };
    this.track(proc);
    return proc;
  }

  /** Wait until `predicate` holds, polling every 50 ms (the kernel PM creates subflows asynchronously). */
  waitFor<T>(
    what: string,
    probe: () => T | Promise<T>,
    predicate: (v: T) => boolean,
    timeoutMs = 10_000,
  ): Promise<T> {
    return waitFor(what, probe, predicate, timeoutMs);
  }

  private track(p: { child: ChildProcess; stop(): Promise<void> }): void {
    this.procs.add(p);
    p.child.once('exit', () => this.procs.delete(p));
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.procs].map((p) => p.stop()));
    const stateFiles = this.pmStateFiles();
    for (const ns of this.namespaces()) {
      await ip(['netns', 'del', ns]).catch(() => undefined);
    }
    for (const f of stateFiles) rmSync(f, { force: true });
    active.delete(this);
  }

  /**
   * The crash-recovery files of this lab's namespaces: the path manager's and the config journal's
   * (named `pm-netns-INODE-COOKIE.json` / `config-netns-INODE-COOKIE.json` by
   * src-main/engine/netns-identity.ts; /run/netns/NAME carries the inode). A test that kills the
   * engine on purpose leaves one behind; once the namespace is gone nothing could ever use it, so
   * the lab removes it.
   */
  private pmStateFiles(): string[] {
    const inodes: number[] = [];
    for (const ns of this.namespaces()) {
      try {
        inodes.push(statSync(`/run/netns/${ns}`).ino);
      } catch {
        // the namespace was never created
      }
    }
    let names: string[];
    try {
      names = readdirSync(PM_STATE_DIR);
    } catch {
      return [];
    }
    return names
      .filter((n) =>
        inodes.some((ino) => n.startsWith(`pm-netns-${ino}-`) || n.startsWith(`config-netns-${ino}-`)),
      )
      .map((n) => `${PM_STATE_DIR}/${n}`);
  }

  /** Synchronous teardown for process exit. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) p.child.kill('SIGKILL');
    const stateFiles = this.pmStateFiles();
    for (const ns of this.namespaces()) spawnSync('ip', ['netns', 'del', ns]);
    for (const f of stateFiles) rmSync(f, { force: true });
    active.delete(this);
  }
}
