/**
 * The per-namespace agent. A Node process can only open netlink sockets in its own network
 * namespace (reference G4), so to look at namespace NS the engine runs a copy of itself under
 * `ip netns exec NS` and speaks the same contract to it over stdio, one JSON message per line
 * (shared/wire.ts). The parent validates everything the agent sends, as it would any boundary.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { kernelMethodNames, methods, type KernelHandlers, type MethodName } from '../../shared/contract';
import { ApiFailure } from '../../shared/result';
import { ServerMessageSchema, WireCallSchema, type ServerMessage } from '../../shared/wire';
import { isEventName, type EventName, type EventPayload, events } from '../../shared/contract';
import type { EngineBackend } from './service';
import { EngineService } from './service';

/** Names `ip netns add` accepts and that cannot smuggle a path or an option. */
const NETNS_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export function checkNetnsName(name: string): void {
  if (!NETNS_NAME.test(name)) {
    throw new ApiFailure('EINVAL', `"${name}" is not a valid network namespace name`);
  }
  if (!existsSync(`/run/netns/${name}`)) {
    throw new ApiFailure('ENOENT', `network namespace "${name}" does not exist (see: ip netns list)`);
  }
}

interface PendingCall {
  method: MethodName;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface AgentOptions {
  /** The bundled CLI (out/node/mptcp-studio.mjs) that implements the `agent` command. */
  entry: string;
  /** Node binary; defaults to the one running us. */
  nodePath?: string;
  /** Extra environment for the agent (tests use it for the fault-injection hook). */
  env?: Record<string, string>;
}

/** Parent side: an EngineBackend whose handlers run in another network namespace. */
export class AgentBackend implements EngineBackend {
  private child: ChildProcessWithoutNullStreams | null = null;
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 1;
  private stderrTail = '';
  private readonly eventListeners = new Set<
    <E extends EventName>(event: E, payload: EventPayload<E>) => void
  >();
  readonly handlers: KernelHandlers;

  onEvent(listener: <E extends EventName>(event: E, payload: EventPayload<E>) => void): void {
    this.eventListeners.add(listener);
  }

  constructor(
    readonly netns: string,
    private readonly opts: AgentOptions,
  ) {
    checkNetnsName(netns);
    const entries = kernelMethodNames.map((m) => [m, (args: unknown) => this.call(m, args)] as const);
    this.handlers = Object.fromEntries(entries) as unknown as KernelHandlers;
  }

  private ensureChild(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    if (!existsSync(this.opts.entry)) {
      throw new ApiFailure('INTERNAL', `engine bundle ${this.opts.entry} is missing; run npm run build`);
    }
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.netns,
        this.opts.nodePath ?? process.execPath,
        this.opts.entry,
        'agent',
        '--label',
        this.netns,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...this.opts.env } },
    );
    this.child = child;
    this.stderrTail = '';
    child.stderr.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-2000);
    });
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => this.onLine(line));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      const why = `engine agent for netns "${this.netns}" exited (${signal ?? code})${this.stderrTail ? `: ${this.stderrTail.trim()}` : ''}`;
      for (const [, p] of this.pending) p.reject(new ApiFailure('INTERNAL', why));
      this.pending.clear();
    });
    child.on('error', () => undefined);
    return child;
  }

  private onLine(line: string): void {
    let msg: ServerMessage;
    try {
      msg = ServerMessageSchema.parse(JSON.parse(line));
    } catch {
      return; // not a protocol line (the agent never prints anything else; ignore defensively)
    }
    if (msg.t === 'event') {
      if (!isEventName(msg.name)) return;
      const parsed = events[msg.name].safeParse(msg.payload);
      if (parsed.success) for (const l of this.eventListeners) l(msg.name, parsed.data as never);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (!msg.result.ok) {
      const { code, message, errno } = msg.result.error;
      p.reject(new ApiFailure(code, message, errno));
      return;
    }
    const parsed = methods[p.method].result.safeParse(msg.result.value);
    if (parsed.success) p.resolve(parsed.data);
    else
      p.reject(
        new ApiFailure('INTERNAL', `agent sent a malformed ${p.method} result: ${parsed.error.message}`),
      );
  }

  private call(method: MethodName, args: unknown): Promise<never> {
    return new Promise((resolve, reject) => {
      const child = this.ensureChild();
      const id = this.nextId++;
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject });
      child.stdin.write(`${JSON.stringify({ t: 'call', id, method, args })}\n`);
    });
  }

  close(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.stdin.end();
    });
  }
}

/** Agent side: serve a backend over stdin/stdout until stdin closes. */
export function serveAgent(
  backend: EngineBackend,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<void> {
  const service = new EngineService(backend);
  // Kernel-side events (not the connections poll: the parent polls through calls).
  service.on('mptcp:config:pending', (payload) => {
    output.write(`${JSON.stringify({ t: 'event', name: 'mptcp:config:pending', payload })}\n`);
  });
  const rl = createInterface({ input, crlfDelay: Infinity });
  const inflight = new Set<Promise<void>>();
  rl.on('line', (line) => {
    let call;
    try {
      call = WireCallSchema.parse(JSON.parse(line));
    } catch {
      return;
    }
    const p = service.invoke(call.method, call.args).then((result) => {
      output.write(`${JSON.stringify({ t: 'result', id: call.id, result })}\n`);
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  });
  return new Promise((resolve) => {
    rl.on('close', () => {
      void Promise.all(inflight).then(async () => {
        await service.close();
        resolve();
      });
    });
  });
}
