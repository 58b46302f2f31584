/**
 * The Node side of the helper's `check` mode (native/mptcp-probe-check.h): one MPTCP (or TCP)
 * connection driven by line commands, because Node cannot open IPPROTO_MPTCP sockets (libuv
 * creates every socket with protocol 0). Unprivileged; the subflow check (subflow-check.ts) adds
 * the subflows from the engine, which holds CAP_NET_ADMIN.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { helperCommand, probeHelperPath, ProbeHelperError } from './helper';

export interface CheckConnect {
  /** TCP_IS_MPTCP right after the handshake (0: the connection fell back to TCP). */
  mptcp: number;
  /** mptcpi_token: the local token the path manager's commands name the connection by. */
  token: number;
  local: string;
  localPort: number;
  connectMs: number;
}

export interface CheckSent {
  /** Stream bytes written so far (all sends). */
  sent: number;
  /** Stream bytes that came back so far. */
  echoed: number;
  /** Everything written so far came back. */
  complete: boolean;
  /** The first stream offset whose echoed byte differed, or -1. */
  mismatchAt: number;
  peerClosed: boolean;
  errno: string | null;
  ms: number;
  /** TCP_IS_MPTCP after this send (0: fell back to TCP during the data). */
  mptcp: number;
}

export interface CheckInfo {
  mptcp: number;
  token: number;
  infoFlags: number;
  extraSubflows: number;
}

export class CheckError extends Error {
  constructor(
    readonly errno: string,
    message: string,
  ) {
    super(message);
  }
}

type Line = { ev: string; ok: boolean; errno?: string; message?: string } & Record<string, unknown>;

/** A running `mptcp-probe check`. */
export class CheckHelper {
  private readonly waiters: { ev: string; resolve: (l: Line) => void; reject: (e: Error) => void }[] = [];
  private progressListener: ((sent: number, echoed: number) => void) | null = null;
  private stderr = '';
  private exitedWith: string | null = null;

  private constructor(private readonly child: ChildProcess) {
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    child.stdin?.on('error', () => undefined);
    if (child.stdout)
      createInterface({ input: child.stdout }).on('line', (text) => {
        let l: Line;
        try {
          l = JSON.parse(text) as Line;
        } catch {
          return;
        }
        if (l.ev === 'progress') {
          this.progressListener?.(Number(l.sent), Number(l.echoed));
          return;
        }
        const w = this.waiters.shift();
        if (!w) return;
        // Answers come in command order: the oldest waiter's, or its refusal.
        if (l.ok) w.resolve(l);
        else w.reject(new CheckError(l.errno ?? 'EINVAL', l.message ?? `${w.ev} failed`));
      });
    child.once('exit', (code, signal) => {
      this.exitedWith = `${signal ?? code}`;
      const why = `the check helper exited (${this.exitedWith})${this.stderr ? `: ${this.stderr.trim()}` : ''}`;
      for (const w of this.waiters.splice(0)) w.reject(new ProbeHelperError(why));
    });
  }

  /** Start the helper (in `netns` when given: needs root, like every --netns). */
  static async open(opts: { netns?: string | null; helperPath?: string } = {}): Promise<CheckHelper> {
    const path = opts.helperPath ?? probeHelperPath();
    if (!existsSync(path))
      throw new ProbeHelperError(
        `probe helper not found at ${path} (build it: node scripts/build-probe.mjs)`,
      );
    const [cmd, args] = helperCommand(['check'], opts.netns, path);
    const h = new CheckHelper(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    await h.command('', 'ready', 10_000);
    return h;
  }

  private command(text: string, ev: string, timeoutMs: number): Promise<Line> {
    if (this.exitedWith !== null)
      return Promise.reject(new ProbeHelperError(`the check helper exited (${this.exitedWith})`));
    return new Promise<Line>((resolve, reject) => {
      const t = setTimeout(() => {
        const i = this.waiters.findIndex((w) => w.resolve === done);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new ProbeHelperError(`the check helper did not answer ${ev || 'at start'} in time`));
        this.kill();
      }, timeoutMs);
      const done = (l: Line): void => {
        clearTimeout(t);
        resolve(l);
      };
      this.waiters.push({
        ev,
        resolve: done,
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      if (text) this.child.stdin?.write(`${text}\n`);
    });
  }

  /** The stream's content: a seeded pattern, with `signature` at stream offset `at` if given. */
  async pattern(seed: number, signature?: { bytes: Uint8Array; at: number }): Promise<void> {
    const sig = signature ? ` ${Buffer.from(signature.bytes).toString('hex')} ${signature.at}` : '';
    await this.command(`pattern ${seed >>> 0}${sig}`, 'pattern', 5000);
  }

  /** Create the socket (bound to `source` if given); connect separately. */
  async socket(proto: 'mptcp' | 'tcp', family: 4 | 6, source?: string): Promise<void> {
    await this.command(`open ${proto} ${family}${source ? ` ${source}` : ''}`, 'open', 5000);
  }

  async connect(address: string, port: number, timeoutMs: number): Promise<CheckConnect> {
    const l = await this.command(`connect ${address} ${port} ${timeoutMs}`, 'connect', timeoutMs + 5000);
    return {
      mptcp: Number(l.mptcp),
      token: Number(l.token),
      local: String(l.local),
      localPort: Number(l.localPort),
      connectMs: Number(l.connectMs),
    };
  }

  /** Write the next `bytes` of the stream and wait for their echo (or the timeout). */
  async send(
    bytes: number,
    timeoutMs: number,
    onProgress?: (sent: number, echoed: number) => void,
  ): Promise<CheckSent> {
    this.progressListener = onProgress ?? null;
    try {
      const l = await this.command(`send ${bytes} ${timeoutMs}`, 'sent', timeoutMs + 5000);
      return {
        sent: Number(l.sent),
        echoed: Number(l.echoed),
        complete: l.complete === true,
        mismatchAt: Number(l.mismatchAt),
        peerClosed: l.peerClosed === true,
        errno: typeof l.errno === 'string' ? l.errno : null,
        ms: Number(l.ms),
        mptcp: Number(l.mptcp),
      };
    } finally {
      this.progressListener = null;
    }
  }

  async info(): Promise<CheckInfo> {
    const l = await this.command('info', 'info', 5000);
    return {
      mptcp: Number(l.mptcp),
      token: Number(l.token),
      infoFlags: Number(l.infoFlags),
      extraSubflows: Number(l.extraSubflows),
    };
  }

  /** Close the connection (shutdown, the peer's end, close); the helper stays. */
  async closeConnection(): Promise<void> {
    await this.command('close', 'close', 5000);
  }

  /** Reset the connection (an RST, SO_LINGER 0): nothing queued is retransmitted. */
  async abortConnection(): Promise<void> {
    await this.command('abort', 'abort', 5000);
  }

  /** Stop the helper: it closes its connection and exits when stdin closes. */
  close(): void {
    this.child.stdin?.end();
    const t = setTimeout(() => this.kill(), 3000);
    t.unref();
    this.child.once('exit', () => clearTimeout(t));
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
