/**
 * The client side of the agents. A Node process can only open netlink sockets in its own network
 * namespace (a socket belongs to the namespace of the process that creates it:
 * network_namespaces(7), and Node has no setns), so to look at namespace NS the engine runs a copy of itself under
 * `ip netns exec NS` and speaks the same contract to it over stdio, one JSON message per line
 * (shared/wire.ts). The parent validates everything the agent sends, as it would any boundary.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync } from 'node:fs';
import { kernelMethodNames, methods, type KernelHandlers, type MethodName } from '../../../shared/contract';
import { ApiFailure } from '../../../shared/result';
import {
  MAX_WIRE_BYTES,
  ServerMessageSchema,
  type AgentFeedArgs,
  type ServerMessage,
} from '../../../shared/wire';
import {
  applyDelta,
  ConnectionsFeedEventSchema,
  DeltaMismatchError,
  type ConnectionsFeedEvent,
} from '../../../shared/delta';
import { FEED_FIELDS } from './feed';
import { readLines } from './lines';
import type { ConnectionsSnapshot } from '../../../shared/types';
import type { z } from 'zod';
import { isEventName, type EventName, type EventPayload, events } from '../../../shared/contract';
import type { EngineBackend } from '../service';

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
  /** The channel the call went out on: only its closing fails the call. */
  channel: AgentChannel;
  /** The request line, to send again on a new channel if this one never took it. */
  line: string;
  /** Settles when the write finished: null when written, the error when it was not (EPIPE). */
  written: Promise<Error | null>;
  /** Sent once more already: a second failure is final. */
  retried: boolean;
  /** Why the first channel failed it: the reason given if the second try fails too. */
  firstFailure?: string;
  /** What a successful result must parse as (the method's result schema, or the feed's). */
  schema: z.ZodTypeAny;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** How long a closed channel's unfinished write may take to report its outcome. */
const WRITE_SETTLE_MS = 2000;

/** A line-oriented duplex connection to an agent: a child's stdio or a Unix socket. */
export interface AgentChannel {
  /** `done` is called once the line is written, with the error when it could not be. */
  write(line: string, done: (err: Error | null) => void): void;
  close(): Promise<void>;
}

export interface ChannelHandlers {
  onLine: (line: string) => void;
  /** The channel is gone; `why` is shown to the user with every call that was in flight. */
  onClose: (why: string) => void;
}

type EventListener = <E extends EventName>(event: E, payload: EventPayload<E>) => void;

/**
 * Parent side: an EngineBackend whose kernel handlers run in an agent (another namespace, or a
 * privileged process). Everything the agent sends is parsed with the contract's schemas.
 */
export class LineBackend implements EngineBackend {
  private channel: AgentChannel | null = null;
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 1;
  private readonly eventListeners = new Set<EventListener>();
  readonly handlers: KernelHandlers;
  /** The agent's last connections feed event as applied here (see pollConnections). */
  private feedBase: { seq: number; snapshot: ConnectionsSnapshot } | null = null;
  /** False once the agent refused the feed arguments (an older agent): whole snapshots. */
  private feedSupported = true;
  private readonly feedWanted: boolean;
  private feedTail: Promise<unknown> = Promise.resolve();
  /** Feed results received, by kind (tests and diagnostics). */
  readonly feedStats = { full: 0, deltas: 0, resyncs: 0, plain: 0 };

  constructor(
    private readonly open: (h: ChannelHandlers) => AgentChannel,
    opts: { connectionsFeed?: boolean } = {},
  ) {
    // connectionsFeed: false asks for whole snapshots, as with an agent without the feed (bench).
    this.feedWanted = opts.connectionsFeed !== false;
    const handlers: Record<string, (args: unknown) => Promise<unknown>> = {};
    for (const m of kernelMethodNames) {
      handlers[m] =
        m === 'mptcp:connections:list' ? () => this.pollConnections() : (args) => this.call(m, args);
    }
    this.handlers = handlers as unknown as KernelHandlers;
  }

  /**
   * `mptcp:connections:list` through the agent's connections feed: the agent sends a delta against
   * the snapshot it sent last (AgentFeedArgsSchema), applied here with unchanged connections
   * keeping their identity, so the host's own per-subscriber diff skips them too. Polls go one at
   * a time (the agent serialises its dumps anyway), so each delta applies to the base it names.
   */
  private pollConnections(): Promise<ConnectionsSnapshot> {
    const p = this.feedTail.then(() => this.feedPoll(true));
    this.feedTail = p.catch(() => undefined);
    return p;
  }

  private async feedPoll(mayRetry: boolean): Promise<ConnectionsSnapshot> {
    if (!this.feedWanted || !this.feedSupported) {
      this.feedStats.plain++;
      return this.call<ConnectionsSnapshot>('mptcp:connections:list', {});
    }
    const args: AgentFeedArgs = { feed: { baseSeq: this.feedBase?.seq ?? null, fields: FEED_FIELDS } };
    let ev: ConnectionsFeedEvent;
    try {
      ev = await this.call<ConnectionsFeedEvent>('mptcp:connections:list', args, ConnectionsFeedEventSchema);
    } catch (e) {
      this.feedBase = null;
      if (e instanceof ApiFailure && e.code === 'BAD_REQUEST' && mayRetry) {
        // The contract's NoArgs is strict: an agent without the feed refuses the arguments, and
        // one whose field layout differs (another build) refuses the feed.
        this.feedSupported = false;
        return this.feedPoll(false);
      }
      throw e;
    }
    if (ev.kind === 'full') {
      this.feedStats.full++;
      this.feedBase = { seq: ev.seq, snapshot: ev.snapshot };
      return ev.snapshot;
    }
    const base = this.feedBase;
    try {
      if (!base || ev.baseSeq !== base.seq) {
        throw new DeltaMismatchError(`delta on ${ev.baseSeq}, have ${base?.seq ?? 'nothing'}`);
      }
      const snapshot = applyDelta(base.snapshot, ev);
      this.feedStats.deltas++;
      this.feedBase = { seq: ev.seq, snapshot };
      return snapshot;
    } catch (e) {
      this.feedBase = null;
      if (!(e instanceof DeltaMismatchError) || !mayRetry) throw e;
      // Out of step (cannot happen with polls in order, but never show a wrong snapshot): start over.
      this.feedStats.resyncs++;
      return this.feedPoll(false);
    }
  }

  onEvent(listener: EventListener): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  private ensureChannel(): AgentChannel {
    if (this.channel) return this.channel;
    let closed = false;
    const channel: AgentChannel = this.open({
      onLine: (line) => this.onLine(line),
      onClose: (why) => {
        // A socket reports 'error' and then 'close', possibly after a new channel replaced it:
        // the first report of this channel says why; only this channel's calls are affected,
        // and only its end resets the feed.
        if (closed) return;
        closed = true;
        const mine = [...this.pending].filter(([, p]) => p.channel === channel);
        if (this.channel === channel) {
          this.channel = null;
          // The next agent (a new process, or the privileged agent restarted with another build)
          // knows nothing of this feed, and may support it when this one did not.
          this.feedBase = null;
          this.feedSupported = true;
        }
        for (const [id, p] of mine) {
          // A call the dead agent never received (its write failed: EPIPE once the agent was
          // gone) goes to a new agent: a user who confirms a change right after its agent died
          // would otherwise be told it failed. A call that was written may have been acted on:
          // it fails with the reason, never runs twice.
          // A write whose callback never comes (a stream that drops it) counts as written.
          const settled = Promise.race([
            p.written,
            new Promise<null>((r) => setTimeout(() => r(null), WRITE_SETTLE_MS).unref()),
          ]);
          void settled.then((err) => {
            if (this.pending.get(id) !== p || p.channel !== channel) return;
            if (err !== null && !p.retried) {
              p.retried = true;
              p.firstFailure = why;
              this.send(id, p);
              return;
            }
            this.pending.delete(id);
            p.reject(new ApiFailure('INTERNAL', p.firstFailure ?? why));
          });
        }
      },
    });
    this.channel = channel;
    return channel;
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
    const parsed = p.schema.safeParse(msg.result.value);
    if (parsed.success) p.resolve(parsed.data);
    else
      p.reject(
        new ApiFailure('INTERNAL', `agent sent a malformed ${p.method} result: ${parsed.error.message}`),
      );
  }

  /** One call; resolves with the result parsed by `schema` (so `T` must be what it parses as). */
  private call<T = never>(
    method: MethodName,
    args: unknown,
    schema: z.ZodTypeAny = methods[method].result,
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const p: PendingCall = {
        method,
        channel: null as unknown as AgentChannel, // set by send()
        line: `${JSON.stringify({ t: 'call', id, method, args })}\n`,
        written: Promise.resolve(null),
        retried: false,
        schema,
        resolve: resolve as (v: unknown) => void,
        reject,
      };
      this.pending.set(id, p);
      this.send(id, p);
    });
  }

  /** Writes a pending call on the current channel (opening one if needed). */
  private send(id: number, p: PendingCall): void {
    let channel: AgentChannel;
    try {
      channel = this.ensureChannel();
    } catch (e) {
      this.pending.delete(id);
      p.reject(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    p.channel = channel;
    p.written = new Promise((settle) => channel.write(p.line, settle));
  }

  close(): Promise<void> {
    const channel = this.channel;
    this.channel = null;
    return channel ? channel.close() : Promise.resolve();
  }
}

export interface AgentOptions {
  /** The bundled CLI (out/node/mptcp-studio.mjs) that implements the `agent` command. */
  entry: string;
  /** Node binary; defaults to the one running us. */
  nodePath?: string;
  /** Extra environment for the agent (tests use it for the fault-injection hook). */
  env?: Record<string, string>;
  /** False: whole snapshots instead of the agent's delta feed (bench/agent-pipe.mjs compares). */
  connectionsFeed?: boolean;
}

/**
 * V8 flags of the agent process. A sock_diag poll of 10,000 connections builds ~10 MB of objects
 * that all survive until the poll returns; a larger young generation scavenges them less often
 * (bench/poll.mjs passes the same flags to its engine run).
 */
export const AGENT_V8_FLAGS = ['--max-semi-space-size=32'];

/** The command that runs the agent inside a namespace. */
export function agentCommand(netns: string, opts: AgentOptions): string[] {
  const node = opts.nodePath ?? process.execPath;
  return ['netns', 'exec', netns, node, ...AGENT_V8_FLAGS, opts.entry, 'agent', '--label', netns];
}

/** A namespace agent: the engine bundle under `ip netns exec NS`, spoken to over stdio. */
export class AgentBackend extends LineBackend {
  constructor(
    readonly netns: string,
    opts: AgentOptions,
  ) {
    checkNetnsName(netns);
    super((h) => {
      if (!existsSync(opts.entry)) {
        throw new ApiFailure('INTERNAL', `engine bundle ${opts.entry} is missing; run npm run build`);
      }
      const child = spawn('ip', agentCommand(netns, opts), {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, ...opts.env },
      });
      let stderrTail = '';
      child.stderr.on('data', (d: Buffer) => {
        stderrTail = (stderrTail + d.toString()).slice(-2000);
      });
      void readLines(child.stdout, {
        maxLineBytes: MAX_WIRE_BYTES,
        onLine: h.onLine,
        // Our own agent never sends this: it is broken, and what follows cannot be trusted.
        onOversize: () => child.kill('SIGKILL'),
      });
      child.on('exit', (code, signal) => {
        h.onClose(
          `engine agent for netns "${netns}" exited (${signal ?? code})${stderrTail ? `: ${stderrTail.trim()}` : ''}`,
        );
      });
      child.on('error', () => undefined);
      // An agent that died leaves a pipe without reader: a call written meanwhile fails with
      // EPIPE, which is reported by the exit handler above. Unhandled, it ended the whole host
      // (seen when bench/events.mjs tore its namespace down under a live web host).
      child.stdin.on('error', () => undefined);
      return {
        write: (line, done) => {
          child.stdin.write(line, (err) => done(err ?? null));
        },
        close: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const t = setTimeout(() => child.kill('SIGKILL'), 2000);
            child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            child.stdin.end();
          }),
      };
    }, opts);
  }
}

/**
 * The privileged agent's socket (`mptcp-studio agent --socket PATH`, e.g. from the shipped systemd
 * unit with CAP_NET_ADMIN): an unprivileged UI reaches the kernel's write path only through it.
 */
export class SocketBackend extends LineBackend {
  /** `onClose`: a connection ended or could not be made (agent discovery looks again: discovery.ts). */
  constructor(
    readonly socketPath: string,
    opts: { onClose?: (why: string) => void } = {},
  ) {
    super((h) => {
      const sock = connect(socketPath);
      const closed = (why: string): void => {
        h.onClose(why);
        opts.onClose?.(why);
      };
      sock.on('error', (e: NodeJS.ErrnoException) => {
        closed(`cannot reach the privileged agent at ${socketPath}: ${e.code ?? e.message}`);
      });
      sock.on('close', () => closed(`the privileged agent at ${socketPath} closed the connection`));
      void readLines(sock, {
        maxLineBytes: MAX_WIRE_BYTES,
        onLine: h.onLine,
        // Whatever listens on that path sent a line no agent sends: stop talking to it.
        onOversize: () => sock.destroy(new Error('the agent sent a line over the size limit')),
      });
      return {
        write: (line, done) => {
          sock.write(line, (err) => done(err ?? null));
        },
        close: () =>
          new Promise<void>((resolve) => {
            sock.end(() => resolve());
            setTimeout(() => {
              sock.destroy();
              resolve();
            }, 1000).unref();
          }),
      };
    });
  }
}
