/**
 * The Path doctor's lab (docs/path-doctor.md "Lab"): per path a chain
 *   client → r1 → r2 → r3 → r4 → server
 * of network namespaces, with real middleboxes made of iptables rules:
 *   r1 clamps the MSS of SYNs (TCPMSS --set-mss 1200), r2 strips TCP option 30 (TCPOPTSTRIP) on
 *   the paths listed in `stripPaths` only, r3 rewrites DSCP to 10, r4 only forwards (so that a
 *   hop after r3 quotes the rewritten DSCP: a 5-hop path).
 * The server listens on every path's address; its targets are the scanner's classes (TARGET_PORTS).
 * With `scale`, a separate namespace answers a whole /16 (`ip route add local … dev lo`).
 *
 * Addressing: path p, link k (1 = client–r1, …, routers+1 = last router–server) is 10.p.k.0/24
 * (and fd00:p:k::/64 with ipv6), left end .1, right end .2. Hop k of path p answers from 10.p.k.2.
 * Namespaces are `mpst-<pid>-<rand>-<role>` like lab.ts's, so cleanStaleLabs() removes leftovers;
 * they have no route out of the lab, and the host's own namespace is never touched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { cleanStaleLabs, ip, labUnavailableReason, LAB_PREFIX, nsRun } from './lab';

/** Ports of the server namespace, one per class the scanner must tell apart. */
export const TARGET_PORTS = {
  mptcp: 8001,
  tcp: 8002,
  closed: 8003,
  dropped: 8004,
  /** Plain SYNs are answered, SYNs carrying option 30 are dropped (`-m tcp --tcp-option 30`). */
  synBlackhole: 8005,
  /** Answers SYNs that carry a v0 MP_CAPABLE with a v0 MP_CAPABLE of its own (raw responder). */
  v0: 8006,
  /** Echoes the SYN's options in its SYN/ACK, MP_CAPABLE included (raw responder). */
  mirror: 8007,
  /** Rejected with ICMP port unreachable. */
  rejected: 8008,
} as const;

/**
 * What the lab's IDS looks for (`iptables -m string`, on the routers of `idsPaths`): the seed's
 * firewall lesson, shown by src-main/lab/ids-demo.ts.
 */
export const IDS_SIGNATURE = 'X-Attack: mptcp-studio-ids-demo';

/**
 * SYNs carrying MP_JOIN, by u32 on the option's first bytes: kind 30, length 12, subtype 1
 * (RFC 8684 §3.2), at TCP offset 40, where Linux puts it after MSS (4 bytes), SACK-permitted with
 * the timestamp (12) and NOP + window scale (4). MP_CAPABLE SYNs (subtype 0) do not match.
 */
export const MP_JOIN_SYN_U32 = '0>>22&0x3C@40>>8&0xFFFFF0=0x1E0C10';

export const SCALE_PREFIX = '10.200.0.0/16';
export const SCALE_PORT = 80;

export interface PathDoctorLabOptions {
  paths?: number;
  routers?: number;
  /** Paths whose r2 strips option 30 (default [0]). */
  stripPaths?: number[];
  ipv6?: boolean;
  /** Also build the namespace answering SCALE_PREFIX, linked to the client. */
  scale?: boolean;
  /** Drop this fraction of packets towards the scale namespace (iptables statistic), 0..1. */
  scaleLoss?: number;
  /** Paths whose r2 drops SYNs carrying MP_JOIN (MP_JOIN_SYN_U32): joins silently dropped. */
  joinDropPaths?: number[];
  /** Paths whose r2 answers SYNs carrying MP_JOIN with a TCP RST: joins refused. */
  joinRefusePaths?: number[];
  /** Paths whose r2 strips option 30 from packets carrying data (DSS): subflows break with data. */
  dssStripPaths?: number[];
  /** Paths whose r2 drops packets holding IDS_SIGNATURE (`iptables -m string`), like an IDS. */
  idsPaths?: number[];
}

export interface DoctorPath {
  index: number;
  clientIf: string;
  clientAddress: string;
  serverAddress: string;
  clientAddress6: string | null;
  serverAddress6: string | null;
  /** Router namespaces r1..rN of this path. */
  routers: string[];
  /** What hop k (1-based) answers from: routers' client-side addresses, then the server. */
  hopAddresses: string[];
}

interface Proc {
  child: ChildProcess;
  stop(): Promise<void>;
}

const live = new Set<PathDoctorLab>();
let hooked = false;

export class PathDoctorLab {
  readonly client: string;
  readonly server: string;
  readonly scale: string;
  readonly paths: DoctorPath[] = [];
  private readonly all: string[] = [];
  private readonly procs = new Set<Proc>();
  private destroyed = false;

  private constructor(readonly id: string) {
    this.client = `${id}-cli`;
    this.server = `${id}-srv`;
    this.scale = `${id}-big`;
  }

  static async create(opts: PathDoctorLabOptions = {}): Promise<PathDoctorLab> {
    const reason = labUnavailableReason();
    if (reason) throw new Error(reason);
    await cleanStaleLabs();
    const lab = new PathDoctorLab(`${LAB_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`);
    live.add(lab);
    if (!hooked) {
      hooked = true;
      process.once('exit', () => {
        for (const l of live) l.destroySync();
      });
    }
    try {
      await lab.build(opts);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  private async addNs(name: string): Promise<void> {
    await ip(['netns', 'add', name]);
    this.all.push(name);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    // No duplicate address detection: a tentative link-local address cannot source the
    // neighbour solicitations a router needs before it can answer (probes were lost for ~2 s).
    await nsRun(name, 'sysctl', [
      '-q',
      '-w',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.default.rp_filter=0',
      'net.ipv6.conf.all.accept_dad=0',
      'net.ipv6.conf.default.accept_dad=0',
    ]);
  }

  private async link(nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
    await ip(['link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
  }

  private async addr(ns: string, dev: string, v4: string, v6: string | null): Promise<void> {
    await ip(['-n', ns, 'addr', 'add', `${v4}/24`, 'dev', dev]);
    if (v6) await ip(['-n', ns, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
    await ip(['-n', ns, 'link', 'set', 'dev', dev, 'up']);
  }

  private async build(opts: PathDoctorLabOptions): Promise<void> {
    const n = opts.paths ?? 2;
    const r = opts.routers ?? 4;
    const strip = new Set(opts.stripPaths ?? [0]);
    const joinDrop = new Set(opts.joinDropPaths ?? []);
    const joinRefuse = new Set(opts.joinRefusePaths ?? []);
    const dssStrip = new Set(opts.dssStripPaths ?? []);
    const ids = new Set(opts.idsPaths ?? []);
    const v6 = opts.ipv6 ?? false;
    const a4 = (p: number, k: number, end: 1 | 2): string => `10.${p}.${k}.${end}`;
    const a6 = (p: number, k: number, end: 1 | 2): string | null => (v6 ? `fd00:${p}:${k}::${end}` : null);
    await this.addNs(this.client);
    await this.addNs(this.server);
    for (let p = 0; p < n; p++) {
      const routers = Array.from({ length: r }, (_, k) => `${this.id}-p${p}r${k + 1}`);
      for (const ns of routers) {
        await this.addNs(ns);
        // Routers forward and, in the lab, answer every expiring probe: the kernel's ICMP rate
        // limits (icmp_ratelimit, 1 s per destination after a burst of 6) would otherwise decide
        // the results of a trace with retries and several sources; both tools compared in the
        // bench see the same routers.
        await nsRun(ns, 'sysctl', [
          '-q',
          '-w',
          'net.ipv4.ip_forward=1',
          'net.ipv4.icmp_ratelimit=0',
          'net.ipv4.icmp_msgs_per_sec=100000',
          ...(v6 ? ['net.ipv6.conf.all.forwarding=1', 'net.ipv6.icmp.ratelimit=0'] : []),
        ]);
      }
      // Links: client–r1, r1–r2, …, rN–server. Interface names: l (towards the client), r.
      const left = [this.client, ...routers];
      const right = [...routers, this.server];
      for (let k = 1; k <= r + 1; k++) {
        const a = left[k - 1] as string;
        const b = right[k - 1] as string;
        const ifA = k === 1 ? `c${p}` : 'r';
        const ifB = k === r + 1 ? `s${p}` : 'l';
        await this.link(a, ifA, b, ifB);
        await this.addr(a, ifA, a4(p, k, 1), a6(p, k, 1));
        await this.addr(b, ifB, a4(p, k, 2), a6(p, k, 2));
      }
      // Routes: each router sends the path's client-side links left, everything else right.
      for (let k = 1; k <= r; k++) {
        const ns = routers[k - 1] as string;
        await ip(['-n', ns, 'route', 'add', 'default', 'via', a4(p, k + 1, 2)]);
        for (let j = 1; j < k; j++)
          await ip(['-n', ns, 'route', 'add', `10.${p}.${j}.0/24`, 'via', a4(p, k, 1)]);
        if (v6) {
          await ip(['-n', ns, '-6', 'route', 'add', 'default', 'via', a6(p, k + 1, 2) as string]);
          for (let j = 1; j < k; j++)
            await ip(['-n', ns, '-6', 'route', 'add', `fd00:${p}:${j}::/64`, 'via', a6(p, k, 1) as string]);
        }
      }
      // Client: path p's prefix through r1 of path p; a source rule per path (for --from).
      await ip(['-n', this.client, 'route', 'add', `10.${p}.0.0/16`, 'via', a4(p, 1, 2)]);
      await ip(['-n', this.client, 'route', 'add', 'default', 'via', a4(p, 1, 2), 'table', String(100 + p)]);
      await ip(['-n', this.client, 'rule', 'add', 'from', a4(p, 1, 1), 'table', String(100 + p)]);
      await ip(['-n', this.server, 'route', 'add', `10.${p}.0.0/16`, 'via', a4(p, r + 1, 1)]);
      if (v6) {
        await ip(['-n', this.client, '-6', 'route', 'add', `fd00:${p}::/32`, 'via', a6(p, 1, 2) as string]);
        await ip([
          '-n',
          this.client,
          '-6',
          'route',
          'add',
          'default',
          'via',
          a6(p, 1, 2) as string,
          'table',
          String(100 + p),
        ]);
        await ip([
          '-n',
          this.client,
          '-6',
          'rule',
          'add',
          'from',
          a6(p, 1, 1) as string,
          'table',
          String(100 + p),
        ]);
        await ip([
          '-n',
          this.server,
          '-6',
          'route',
          'add',
          `fd00:${p}::/32`,
          'via',
          a6(p, r + 1, 1) as string,
        ]);
      }
      // The middleboxes.
      for (const tool of v6 ? ['iptables', 'ip6tables'] : ['iptables']) {
        const r1 = routers[0];
        if (r1)
          await nsRun(r1, tool, [
            '-t',
            'mangle',
            '-A',
            'FORWARD',
            '-p',
            'tcp',
            '--tcp-flags',
            'SYN,RST',
            'SYN',
            '-j',
            'TCPMSS',
            '--set-mss',
            '1200',
          ]);
        const r2 = routers[1];
        if (r2 && strip.has(p))
          await nsRun(r2, tool, [
            '-t',
            'mangle',
            '-A',
            'FORWARD',
            '-p',
            'tcp',
            '-j',
            'TCPOPTSTRIP',
            '--strip-options',
            '30',
          ]);
        // The subflow check's middleboxes (docs/path-doctor.md "Subflow check"), on r2 too.
        const joinSyn = ['-p', 'tcp', '--syn', '-m', 'u32', '--u32', MP_JOIN_SYN_U32];
        if (r2 && joinDrop.has(p) && tool === 'iptables')
          await nsRun(r2, tool, ['-A', 'FORWARD', ...joinSyn, '-j', 'DROP']);
        if (r2 && joinRefuse.has(p) && tool === 'iptables')
          await nsRun(r2, tool, ['-A', 'FORWARD', ...joinSyn, '-j', 'REJECT', '--reject-with', 'tcp-reset']);
        if (r2 && dssStrip.has(p))
          // Packets with data only (longer than any header with options): handshakes pass.
          await nsRun(r2, tool, [
            '-t',
            'mangle',
            '-A',
            'FORWARD',
            '-p',
            'tcp',
            '!',
            '--syn',
            '-m',
            'length',
            '--length',
            '140:65535',
            '-j',
            'TCPOPTSTRIP',
            '--strip-options',
            '30',
          ]);
        if (r2 && ids.has(p))
          await nsRun(r2, tool, [
            '-A',
            'FORWARD',
            '-p',
            'tcp',
            '-m',
            'string',
            '--algo',
            'bm',
            '--string',
            IDS_SIGNATURE,
            '-j',
            'DROP',
          ]);
        const r3 = routers[2];
        if (r3)
          await nsRun(r3, tool, [
            '-t',
            'mangle',
            '-A',
            'FORWARD',
            '-p',
            'tcp',
            '-j',
            'DSCP',
            '--set-dscp',
            '10',
          ]);
      }
      this.paths.push({
        index: p,
        clientIf: `c${p}`,
        clientAddress: a4(p, 1, 1),
        serverAddress: a4(p, r + 1, 2),
        clientAddress6: a6(p, 1, 1),
        serverAddress6: a6(p, r + 1, 2),
        routers,
        hopAddresses: Array.from({ length: r + 1 }, (_, k) => a4(p, k + 1, 2)),
      });
    }
    await nsRun(this.server, 'sysctl', ['-q', '-w', 'net.ipv4.icmp_ratelimit=0']);
    // The responder accepts a subflow check's joins: the in-kernel PM takes at most `subflows`
    // joins per connection (2 by default), and refuses the rest with an RST.
    await ip(['-n', this.server, 'mptcp', 'limits', 'set', 'subflows', '8', 'add_addr_accepted', '8']);
    // The kernel's own MPTCP blackhole detection (net.mptcp.blackhole_timeout) would disable
    // active MPTCP in the client namespace after the first dropped MP_CAPABLE SYN; connect-mode
    // tests probe the blackhole port on purpose, and must not change every later result.
    await nsRun(this.client, 'sysctl', ['-q', '-w', 'net.mptcp.blackhole_timeout=0']);
    for (const tool of v6 ? ['iptables', 'ip6tables'] : ['iptables']) {
      const t = TARGET_PORTS;
      const rule = (...args: string[]): Promise<unknown> =>
        nsRun(this.server, tool, ['-A', 'INPUT', '-p', 'tcp', ...args]);
      await rule('--dport', String(t.dropped), '-j', 'DROP');
      await rule('--dport', String(t.synBlackhole), '-m', 'tcp', '--tcp-option', '30', '-j', 'DROP');
      // The raw responders answer these; the kernel must stay silent (no listener → RST).
      await rule('--dport', String(t.v0), '-j', 'DROP');
      await rule('--dport', String(t.mirror), '-j', 'DROP');
      await rule(
        '--dport',
        String(t.rejected),
        '-j',
        'REJECT',
        '--reject-with',
        tool === 'iptables' ? 'icmp-port-unreachable' : 'icmp6-port-unreachable',
      );
    }
    if (opts.scale) await this.buildScale(opts.scaleLoss ?? 0);
  }

  private async buildScale(loss: number): Promise<void> {
    await this.addNs(this.scale);
    await this.link(this.client, 'cb', this.scale, 'bc');
    await this.addr(this.client, 'cb', '10.254.0.1', null);
    await this.addr(this.scale, 'bc', '10.254.0.2', null);
    await ip(['-n', this.client, 'route', 'add', SCALE_PREFIX, 'via', '10.254.0.2']);
    // Every address of the /16 is local to this namespace: one listener answers them all.
    await ip(['-n', this.scale, 'route', 'add', 'local', SCALE_PREFIX, 'dev', 'lo']);
    await nsRun(this.scale, 'sysctl', [
      '-q',
      '-w',
      'net.core.somaxconn=65535',
      'net.ipv4.tcp_max_syn_backlog=65536',
    ]);
    if (loss > 0)
      await nsRun(this.scale, 'iptables', [
        '-A',
        'INPUT',
        '-p',
        'tcp',
        '-m',
        'statistic',
        '--mode',
        'random',
        '--probability',
        String(loss),
        '-j',
        'DROP',
      ]);
  }

  /** Start a process in `ns`; stopped with the lab. Resolves once it printed "ready". */
  async start(ns: string, cmd: string, args: string[]): Promise<Proc> {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const proc: Proc = {
      child,
      stop: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const t = setTimeout(() => child.kill('SIGKILL'), 3000);
          child.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          child.stdin.end();
          child.kill('SIGTERM');
        }),
    };
    this.procs.add(proc);
    child.once('exit', () => this.procs.delete(proc));
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (l) => {
        if (l.startsWith('ready')) resolve();
      });
      child.once('exit', (code) =>
        reject(new Error(`${cmd} ${args.join(' ')} exited (${code}): ${stderr.trim()}`)),
      );
    });
    return proc;
  }

  /** The kernel-served targets: MPTCP and TCP echo listeners (IPv4, and IPv6 with `ipv6`). */
  async startTargets(helper: string, opts: { ipv6?: boolean } = {}): Promise<void> {
    const t = TARGET_PORTS;
    await this.start(this.server, helper, ['echo', String(t.mptcp)]);
    await this.start(this.server, helper, ['echo', String(t.tcp), 'tcp']);
    await this.start(this.server, helper, ['echo', String(t.synBlackhole)]);
    if (opts.ipv6) {
      await this.start(this.server, helper, ['echo', String(t.mptcp), '6']);
      await this.start(this.server, helper, ['echo', String(t.tcp), 'tcp', '6']);
      await this.start(this.server, helper, ['echo', String(t.synBlackhole), '6']);
    }
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.procs].map((p) => p.stop()));
    for (const ns of [...this.all].reverse()) await ip(['netns', 'del', ns]).catch(() => undefined);
    live.delete(this);
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) p.child.kill('SIGKILL');
    for (const ns of this.all) spawnSync('ip', ['netns', 'del', ns]);
    live.delete(this);
  }
}
