/**
 * The agent side of the line protocol (shared/wire.ts): the per-namespace agent on its stdio and
 * the privileged agent on a Unix socket. Every line is untrusted input: it is bounded in length,
 * parsed with the contract's schemas, always answered (a malformed line gets a BAD_REQUEST, by
 * its id when one can be read), and no single line can end the process. Every call of a method
 * the contract marks `writes`, and every probe (auditedMethodNames), leaves one audit line with
 * the peer's credentials, the validated arguments and the outcome.
 */
import { mkdir, chmod, chown, stat } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { isMethodName, type EventName, type EventPayload, type MethodName } from '../../../shared/contract';
import type { Result } from '../../../shared/result';
import { AgentFeedArgsSchema, MAX_CALL_BYTES, WireCallSchema } from '../../../shared/wire';
import { EngineService, type EngineBackend } from '../service';
import { auditArgs, auditResult, isAuditedMethod } from '../audit';
import { AgentFeed } from './feed';
import { readLines } from './lines';
import { peerCredentials, type PeerCredentials } from './peer';

/** Who a line stream belongs to, for the audit log and for who may confirm a change. */
export interface AgentPeer extends PeerCredentials {
  /** `stdio`, or `socket client N` (N counts connections since the agent started). */
  label: string;
}

/** Longest request line: the largest call plus its envelope. */
export const MAX_REQUEST_LINE_BYTES = MAX_CALL_BYTES + 1024;
/**
 * Calls one client may have in the engine at once. Past it the agent stops reading that client
 * (its socket buffer fills and its writes block): 5,000 pipelined calls used to be taken in at
 * once (about 1 GB of replies in the making) while every other client waited behind them.
 */
export const MAX_CALLS_IN_FLIGHT = 16;

/**
 * State shared by every client of one agent: who made the change that awaits confirmation.
 * Only that client, or another client of the same uid, may confirm or revert it, and only they
 * hear its `mptcp:config:pending` events.
 */
export class AgentSessions {
  /** The owner of the change awaiting confirmation, while one does. */
  pendingOwner: AgentPeer | null = null;
  /** The owner of the latest such change, kept after it ended: its end is told to them. */
  lastOwner: AgentPeer | null = null;
  /** Applies run one at a time across clients, so a pending event belongs to the one running. */
  applying: AgentPeer | null = null;
  private applyTail: Promise<unknown> = Promise.resolve();

  /** Run `fn` as `peer`'s apply, after any apply of another client. */
  serialApply<T>(peer: AgentPeer, fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      this.applying = peer;
      try {
        return await fn();
      } finally {
        this.applying = null;
      }
    };
    const p = this.applyTail.then(run, run);
    this.applyTail = p.catch(() => undefined);
    return p;
  }

  /** Called for every event the engine emits, before it is forwarded to any client. */
  observe<E extends EventName>(name: E, payload: EventPayload<E>): void {
    if (name !== 'mptcp:config:pending') return;
    const { revertAtMs } = payload as EventPayload<'mptcp:config:pending'>;
    if (revertAtMs !== null) {
      // The engine announces a pending change from inside the apply that made it.
      const owner = this.applying ?? this.pendingOwner;
      this.pendingOwner = owner;
      this.lastOwner = owner;
    } else {
      this.pendingOwner = null;
    }
  }

  /** Same client, or the same known uid. */
  static samePrincipal(a: AgentPeer, b: AgentPeer): boolean {
    return a === b || (a.uid !== null && a.uid === b.uid);
  }
}

export interface ServeAgentOptions {
  /** Close the backend when the stream ends (stdio agent: yes; socket agent: no, others remain). */
  closeBackend?: boolean;
  /** Where to log changes (one JSON line each); the systemd unit sends stderr to the journal. */
  log?: (entry: Record<string, unknown>) => void;
  /** Who is on the other end. */
  peer?: AgentPeer;
  /**
   * Settles once `peer`'s uid, gid and pid are filled in (a socket client's are read from /proc
   * in the background). Reads are served before it; a call that is audited or decides by the
   * caller's identity (confirm, revert, apply) waits for it, so its audit line names the peer.
   */
  peerReady?: Promise<unknown>;
  /** The service every client of this agent shares (else one is made for this stream). */
  service?: EngineService;
  /** Shared by the clients of one agent (else this stream is alone). */
  sessions?: AgentSessions;
  maxCallsInFlight?: number;
}

/** The call id of a line that did not parse, if its first bytes carry one (for the reply). */
function recoverId(head: string): number | null {
  const m = /"id"\s*:\s*(\d{1,15})\s*[,}]/.exec(head.slice(0, 256));
  return m ? Number(m[1]) : null;
}

/** Calls that wait for the peer's credentials: audited ones, and those decided by who calls. */
function needsIdentity(method: MethodName): boolean {
  return (
    isAuditedMethod(method) ||
    method === 'mptcp:config:apply' ||
    method === 'mptcp:config:confirm' ||
    method === 'mptcp:config:revert'
  );
}

const peerOf = (p: AgentPeer): Record<string, unknown> => ({
  client: p.label,
  uid: p.uid,
  gid: p.gid,
  pid: p.pid,
});

/** Agent side: serve the contract over a line stream until it ends. */
export function serveAgent(
  backend: EngineBackend,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  opts: ServeAgentOptions = {},
): Promise<void> {
  const ownService = opts.service === undefined;
  const service = opts.service ?? new EngineService(backend);
  const sessions = opts.sessions ?? new AgentSessions();
  // Alone on this stream: this stream keeps its sessions' view of the pending change itself.
  const stopObserving =
    opts.sessions === undefined
      ? backend.onEvent?.((name, payload) => sessions.observe(name, payload))
      : undefined;
  const peer: AgentPeer = opts.peer ?? { label: 'stdio', uid: null, gid: null, pid: null };
  const maxInFlight = opts.maxCallsInFlight ?? MAX_CALLS_IN_FLIGHT;
  const log = (entry: Record<string, unknown>): void => {
    try {
      opts.log?.({ time: new Date().toISOString(), peer: peerOf(peer), ...entry });
    } catch {
      // a log sink that fails must not take the call with it
    }
  };
  let open = true;
  const write = (msg: unknown): void => {
    if (!open) return;
    let line: string;
    try {
      line = `${JSON.stringify(msg)}\n`;
    } catch (e) {
      line = `${JSON.stringify({ t: 'event', name: 'mptcp:engine:error', payload: { source: 'agent', code: 'INTERNAL', message: `unserialisable reply: ${String(e)}` } })}\n`;
    }
    try {
      output.write(line);
    } catch {
      open = false; // the stream is gone; its end is seen by the reader
    }
  };
  const badRequest = (id: number | null, message: string): void => {
    if (id !== null)
      write({ t: 'result', id, result: { ok: false, error: { code: 'BAD_REQUEST', message } } });
    else
      write({
        t: 'event',
        name: 'mptcp:engine:error',
        payload: { source: 'agent', code: 'BAD_REQUEST', message },
      });
  };

  // Kernel-side events travel to the client (not the connections poll: clients poll through
  // calls). A pending change's events go only to the client (or uid) that made it.
  const stopEvents = backend.onEvent?.((name, payload) => {
    if (name === 'mptcp:connections:snapshot') return;
    if (name === 'mptcp:config:pending') {
      const owner = sessions.lastOwner;
      if (owner && !AgentSessions.samePrincipal(owner, peer)) return;
    }
    write({ t: 'event', name, payload });
  });

  const feed = new AgentFeed(service);
  const run = async (method: MethodName, args: unknown): Promise<Result<unknown>> => {
    if (opts.peerReady && needsIdentity(method)) await opts.peerReady.catch(() => undefined);
    if (method === 'mptcp:connections:list') {
      const f = AgentFeedArgsSchema.safeParse(args);
      if (f.success) return feed.list(f.data.feed.baseSeq, f.data.feed.fields);
    }
    if (method === 'mptcp:config:confirm' || method === 'mptcp:config:revert') {
      const owner = sessions.pendingOwner;
      if (owner && !AgentSessions.samePrincipal(owner, peer)) {
        return {
          ok: false,
          error: {
            code: 'EPERM',
            message:
              `the change waiting for confirmation was made by another client (${owner.label}, uid ` +
              `${owner.uid ?? 'unknown'}); only it or a client of the same user can ${method === 'mptcp:config:confirm' ? 'confirm' : 'revert'} it`,
          },
        };
      }
    }
    if (method === 'mptcp:config:apply')
      return sessions.serialApply(peer, () => service.invoke(method, args));
    return service.invoke(method, args);
  };

  let inFlight = 0;
  const queue: string[] = [];
  const paused = (): boolean => inFlight >= maxInFlight;
  const pump = (): void => {
    while (!paused() && queue.length > 0) handle(queue.shift() ?? '');
    if (paused()) input.pause();
    else input.resume();
  };
  const inflight = new Set<Promise<void>>();
  const handle = (line: string): void => {
    let call;
    try {
      call = WireCallSchema.parse(JSON.parse(line));
    } catch {
      badRequest(
        recoverId(line),
        'malformed request line: expected {"t":"call","id":N,"method":"…","args":{…}}',
      );
      return;
    }
    const { id, method, args } = call;
    if (!isMethodName(method)) {
      badRequest(id, `unknown method ${JSON.stringify(method)}`);
      return;
    }
    inFlight++;
    const p = run(method, args)
      .catch((e: unknown): Result<unknown> => ({
        ok: false,
        error: { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) },
      }))
      .then((result) => {
        if (isAuditedMethod(method))
          log({ method, args: auditArgs(method, args), result: auditResult(result) });
        write({ t: 'result', id, result });
      })
      .finally(() => {
        inFlight--;
        inflight.delete(p);
        pump();
      });
    inflight.add(p);
  };

  const reading = readLines(input, {
    maxLineBytes: MAX_REQUEST_LINE_BYTES,
    onLine: (line) => {
      queue.push(line);
      pump();
    },
    onOversize: (head) => {
      const id = recoverId(head.toString('utf8'));
      log({ event: 'refused', why: `request line over ${MAX_REQUEST_LINE_BYTES} bytes`, id });
      badRequest(id, `request line over ${MAX_REQUEST_LINE_BYTES} bytes: refused`);
    },
  });
  input.resume();
  return reading.then(async () => {
    stopEvents?.();
    stopObserving?.();
    feed.close();
    queue.length = 0;
    await Promise.all(inflight);
    open = false;
    if (ownService) service.detach();
    if (opts.closeBackend !== false) await service.close();
  });
}

export interface AgentSocketOptions {
  path: string;
  /** File mode of the socket: who may connect is decided by the file system (default 0660). */
  mode?: number;
  /** Group that may connect (the socket's and its directory's group). */
  gid?: number;
  /** Owner of the socket file (default: this process's uid); with mode 0600, the one user who may connect. */
  uid?: number;
  log?: (entry: Record<string, unknown>) => void;
  /** Reads a client's credentials (default peerCredentials; tests slow it down). */
  identify?: (sock: Socket) => Promise<PeerCredentials>;
}

/**
 * Binds a Unix socket that has its final mode from its first moment. Node binds with the process
 * umask; a chmod after listen() leaves a window in which, under umask 000, anyone may connect
 * (and the connection stays open after the chmod). So the umask is set around the bind, which
 * Node performs synchronously inside listen() for a path (uv_pipe_bind).
 */
async function listenWithMode(server: Server, path: string, mode: number): Promise<void> {
  const old = process.umask(0o777 & ~mode);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(old);
  }
}

/**
 * The privileged agent on a Unix socket. Access control is the socket file's owner, group and
 * mode (as with other system daemons' sockets), and the directory it is in; requests are still
 * only the contract's kernel methods, each parsed with its schema, never commands or shell
 * strings. Each connection's peer credentials go into every audit line.
 */
export async function serveAgentSocket(backend: EngineBackend, opts: AgentSocketOptions): Promise<Server> {
  const mode = opts.mode ?? 0o660;
  // The directory is ours (created 0750 if missing): the socket's mode is not the only gate.
  const dir = dirname(opts.path);
  const made = await mkdir(dir, { recursive: true, mode: 0o750 }).catch(() => undefined);
  if (made !== undefined && opts.gid !== undefined) await chown(dir, process.getuid?.() ?? 0, opts.gid);
  const service = new EngineService(backend);
  const sessions = new AgentSessions();
  backend.onEvent?.((name, payload) => sessions.observe(name, payload));
  let clients = 0;
  const identify = opts.identify ?? peerCredentials;
  const log = (entry: Record<string, unknown>): void => {
    try {
      opts.log?.(entry);
    } catch {
      // see serveAgent
    }
  };
  const server = createServer((sock: Socket) => {
    sock.on('error', () => undefined);
    const label = `socket client ${++clients}`;
    // Credentials are read in the background (a /proc scan: hundreds of ms on a busy host) while
    // reads are served; audited calls wait for them (serveAgent's peerReady), so every audit line
    // carries them.
    const peer: AgentPeer = { label, uid: null, gid: null, pid: null };
    const peerReady = identify(sock)
      .catch((): PeerCredentials => ({ uid: null, gid: null, pid: null }))
      .then((creds) => {
        Object.assign(peer, creds);
        log({ time: new Date().toISOString(), peer: peerOf(peer), event: 'connected' });
      });
    void serveAgent(backend, sock, sock, {
      closeBackend: false,
      peer,
      peerReady,
      service,
      sessions,
      ...(opts.log ? { log: opts.log } : {}),
    }).then(async () => {
      await peerReady;
      log({ time: new Date().toISOString(), peer: peerOf(peer), event: 'disconnected' });
      sock.end();
    });
  });
  server.on('error', (e) => log({ time: new Date().toISOString(), event: 'server-error', error: String(e) }));
  await listenWithMode(server, opts.path, mode);
  // Bound with its final mode by root: handed to its owner and group only afterwards.
  if (opts.gid !== undefined || opts.uid !== undefined)
    await chown(opts.path, opts.uid ?? process.getuid?.() ?? 0, opts.gid ?? process.getgid?.() ?? 0);
  // Belt and braces: the mode the bind gave must be the one asked for.
  const st = await stat(opts.path);
  if ((st.mode & 0o777) !== mode) await chmod(opts.path, mode);
  const closeService = (): void => service.detach();
  server.once('close', closeService);
  return server;
}
