/**
 * The Node side of the probe helper (native/mptcp-probe.c): spawn it (inside a namespace with
 * `ip netns exec` when asked), speak its frame protocol, hand out received packets. The helper
 * is the only process with CAP_NET_RAW; everything here runs unprivileged. Its policy (TCP only,
 * own source addresses, no broadcast/multicast, rate ceiling) is enforced there, not here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatIp } from '../../../shared/packet/addr';
import { PROBE_MAX_PPS } from '../../../shared/path-doctor';

/** The helper's own ceiling (MAX_PPS in native/mptcp-probe.c); `--rate` above it is refused. */
export { PROBE_MAX_PPS };

const T_SEND = 1;
const T_SRC = 2;
const T_ADDRS = 3;
const R_HELLO = 0x80;
const R_SENT = 0x81;
const R_RECV = 0x82;
const R_SRC = 0x83;
const R_ADDRS = 0x84;
const R_NOTE = 0x85;

/** Where the helper binary is: $MPTCP_STUDIO_PROBE_HELPER, else out/probe/ of this checkout or bundle. */
export function probeHelperPath(): string {
  const env = process.env.MPTCP_STUDIO_PROBE_HELPER;
  if (env) return env;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'out', 'probe', 'mptcp-probe');
    const sibling = join(dir, 'probe', 'mptcp-probe');
    if (existsSync(sibling)) return sibling;
    dir = dirname(dir);
  }
  return join(process.cwd(), 'out', 'probe', 'mptcp-probe');
}

/** argv to run the helper (in `netns` when given: needs root, like every --netns). */
export function helperCommand(
  args: string[],
  netns: string | null | undefined,
  path = probeHelperPath(),
): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, path, ...args]] : [path, args];
}

export interface ReceivedPacket {
  /** Kernel receive time (CLOCK_REALTIME), microseconds. */
  timeUs: number;
  ifindex: number;
  bytes: Uint8Array;
}

export interface LocalAddress {
  ifindex: number;
  name: string;
  address: string;
}

export interface RawHelperOptions {
  ratePps: number;
  /** Packets that may leave back to back (default: 10 ms worth, at least 1; the helper caps it at 64 or 10 ms worth). */
  burst?: number;
  netns?: string | null;
  helperPath?: string;
}

export class ProbeHelperError extends Error {}

const u32 = (b: Buffer, at: number): number => b.readUInt32BE(at);
const timeUsAt = (b: Buffer, at: number): number => u32(b, at) * 4294967.296 + u32(b, at + 4) / 1000;

/** A running raw helper. Create with RawProbeHelper.open; close when done. */
export class RawProbeHelper {
  private buf: Buffer = Buffer.alloc(0);
  private nextTag = 1;
  private readonly pending = new Map<number, (body: Buffer) => void>();
  private packetListeners: ((p: ReceivedPacket) => void)[] = [];
  private sentListeners: ((tag: number, timeUs: number, errno: number) => void)[] = [];
  /** Reasons the helper gave for refusing packets (its NOTE frames), newest last. */
  readonly notes: string[] = [];
  private stderr = '';
  private exited: Promise<number | null>;
  maxPps = 0;
  ratePps = 0;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    child.stdout?.on('data', (d: Buffer) => this.onData(d));
    child.stdin?.on('error', () => undefined);
  }

  static async open(opts: RawHelperOptions): Promise<RawProbeHelper> {
    if (!Number.isInteger(opts.ratePps) || opts.ratePps < 1 || opts.ratePps > PROBE_MAX_PPS)
      throw new ProbeHelperError(`the probe rate must be 1..${PROBE_MAX_PPS} packets/s`);
    const path = opts.helperPath ?? probeHelperPath();
    if (!existsSync(path))
      throw new ProbeHelperError(
        `probe helper not found at ${path} (build it: node scripts/build-probe.mjs)`,
      );
    const burst = opts.burst !== undefined ? ['--burst', String(Math.max(1, Math.floor(opts.burst)))] : [];
    const [cmd, args] = helperCommand(['raw', '--rate', String(opts.ratePps), ...burst], opts.netns, path);
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const h = new RawProbeHelper(child);
    const hello = new Promise<Buffer>((resolve) => h.pending.set(0, resolve));
    const result = await Promise.race([
      hello,
      h.exited.then((code) => code),
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref()),
    ]);
    if (!(result instanceof Buffer)) {
      child.kill('SIGKILL');
      const why =
        h.stderr.trim() || (result === 'timeout' ? 'no answer within 10 s' : `exit code ${String(result)}`);
      throw new ProbeHelperError(`the probe helper did not start: ${why}`);
    }
    h.maxPps = result.readUInt32BE(0);
    h.ratePps = result.readUInt32BE(4);
    return h;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let off = 0;
    while (this.buf.length - off >= 5) {
      const len = u32(this.buf, off);
      if (this.buf.length - off < 4 + len) break;
      const type = this.buf[off + 4];
      const body = this.buf.subarray(off + 5, off + 4 + len);
      off += 4 + len;
      this.onFrame(type ?? 0, body);
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
  }

  private onFrame(type: number, body: Buffer): void {
    switch (type) {
      case R_HELLO:
        this.pending.get(0)?.(body);
        this.pending.delete(0);
        return;
      case R_SENT: {
        const tag = u32(body, 0);
        const t = timeUsAt(body, 4);
        const errno = body.readInt32BE(12);
        for (const l of this.sentListeners) l(tag, t, errno);
        return;
      }
      case R_RECV: {
        const p: ReceivedPacket = {
          timeUs: timeUsAt(body, 0),
          ifindex: u32(body, 8),
          // A copy: the frame buffer is reused once parsed.
          bytes: new Uint8Array(body.subarray(12)),
        };
        for (const l of this.packetListeners) l(p);
        return;
      }
      case R_SRC:
      case R_ADDRS: {
        const tag = u32(body, 0);
        this.pending.get(tag)?.(Buffer.from(body));
        this.pending.delete(tag);
        return;
      }
      case R_NOTE:
        this.notes.push(body.toString('utf8'));
        if (this.notes.length > 100) this.notes.shift();
        return;
      default:
        return;
    }
  }

  onPacket(l: (p: ReceivedPacket) => void): () => void {
    this.packetListeners.push(l);
    return () => {
      this.packetListeners = this.packetListeners.filter((x) => x !== l);
    };
  }

  onSent(l: (tag: number, timeUs: number, errno: number) => void): () => void {
    this.sentListeners.push(l);
    return () => {
      this.sentListeners = this.sentListeners.filter((x) => x !== l);
    };
  }

  private write(type: number, parts: Uint8Array[]): boolean {
    const len = 1 + parts.reduce((n, p) => n + p.length, 0);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(len, 0);
    head[4] = type;
    return this.child.stdin?.write(Buffer.concat([head, ...parts])) ?? false;
  }

  /** Bytes written to the helper and not yet taken by it (the scanner paces on this). */
  get queuedBytes(): number {
    return this.child.stdin?.writableLength ?? 0;
  }

  /** Queue one IP packet; returns its tag (reported by onSent with the send time). */
  send(packet: Uint8Array, ifindex = 0): number {
    const tag = this.nextTag++ >>> 0;
    const h = Buffer.alloc(8);
    h.writeUInt32BE(tag, 0);
    h.writeUInt32BE(ifindex >>> 0, 4);
    this.write(T_SEND, [h, packet]);
    return tag;
  }

  private request(type: number, parts: Uint8Array[], tag: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(tag);
        reject(new ProbeHelperError('the probe helper did not answer'));
      }, 5000);
      this.pending.set(tag, (b) => {
        clearTimeout(t);
        resolve(b);
      });
      this.write(type, parts);
    });
  }

  /** The source address routing picks to reach `dst` (optionally out of interface `ifindex`). */
  async sourceFor(dst: Uint8Array, ifindex = 0): Promise<Uint8Array> {
    const tag = this.nextTag++ >>> 0;
    const h = Buffer.alloc(8);
    h.writeUInt32BE(tag, 0);
    h.writeUInt32BE(ifindex >>> 0, 4);
    const body = await this.request(T_SRC, [h, dst], tag);
    const errno = body.readInt32BE(4);
    if (errno !== 0) throw new ProbeHelperError(`no route to ${formatIp(dst)} (errno ${errno})`);
    return new Uint8Array(body.subarray(8));
  }

  /** Addresses of the helper's namespace, with their interfaces. */
  async addresses(): Promise<LocalAddress[]> {
    const tag = this.nextTag++ >>> 0;
    const h = Buffer.alloc(4);
    h.writeUInt32BE(tag, 0);
    const body = await this.request(T_ADDRS, [h], tag);
    return body
      .subarray(4)
      .toString('utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => {
        const [idx, name, address] = l.split(' ');
        return { ifindex: Number(idx), name: name ?? '', address: address ?? '' };
      });
  }

  /**
   * Stop: the helper sends what it was given and exits when its stdin closes. Closing its packet
   * socket waits for an RCU grace period in the kernel (tens of ms), so by default nobody waits
   * for the exit; `wait` does (tests that count on the process being gone).
   */
  async close(opts: { wait?: boolean } = {}): Promise<void> {
    this.child.stdin?.end();
    if (!opts.wait) {
      this.child.stdout?.removeAllListeners('data');
      this.child.unref();
      (this.child.stdout as { unref?: () => void } | null)?.unref?.();
      (this.child.stderr as { unref?: () => void } | null)?.unref?.();
      return;
    }
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(t);
  }

  /** Stop at once (cancel). */
  kill(): void {
    this.child.kill('SIGTERM');
  }
}
