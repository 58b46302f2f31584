/**
 * MptcpApi over the web host's WebSocket (framing: shared/wire.ts). Every incoming message is
 * parsed with the contract's zod schemas (a check compiled from them first, zod for anything it
 * does not pass: shared/zod-fast-check.ts, same verdicts, a fraction of the time on the
 * connections feed): a malformed result becomes an `{ok:false}` INTERNAL
 * result for its call, a malformed event is dropped and reported on the connection status. Nothing
 * the server sends can throw into the page.
 *
 * The socket reconnects with exponential backoff; calls in flight when it closes fail with a clear
 * error (the stores refresh when the connection is open again). A close with code 4401, or an
 * upgrade refused because the token is missing or wrong, stops reconnecting: the page must be
 * opened with the URL `mptcp-studio serve` prints.
 */
import {
  events,
  isEventName,
  isMethodName,
  methods,
  type EventName,
  type EventPayload,
  type MethodArgs,
  type MethodName,
  type MethodResult,
  type MptcpApi,
} from '../../../shared/contract';
import type { ApiError, ErrorCode, Result } from '../../../shared/result';
import { ServerMessageSchema, type WireCall } from '../../../shared/wire';
import { parseFast } from '../../../shared/zod-fast-check';
import { UNAUTHORISED_MESSAGE, type SessionInfo, type SessionSource } from './session';

/** Close code the web host sends when auth fails after the upgrade. */
export const WS_CLOSE_UNAUTHORIZED = 4401;

/** The part of the browser's WebSocket the client uses (a test passes a fake class). */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'error', listener: () => void): void;
  addEventListener(type: 'message', listener: (ev: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (ev: { code: number; reason: string }) => void): void;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

export interface WsClientOptions {
  /** ws(s)://host/api?token=… (see apiUrlFromLocation). */
  url: string;
  /** Defaults to the global WebSocket. */
  WebSocketImpl?: WebSocketCtor;
  /**
   * Asked when a socket closed without ever opening (browsers hide the HTTP status of a refused
   * upgrade): resolves true when the server refuses us for auth, so reconnecting is pointless.
   */
  probeUnauthorized?: () => Promise<boolean>;
  /** Reconnect delays: initialMs, doubling up to maxMs. */
  backoff?: { initialMs: number; maxMs: number };
  /** A call without a result after this long fails with TIMEOUT. */
  callTimeoutMs?: number;
}

interface PendingCall {
  method: MethodName;
  frame: string;
  sent: boolean;
  timer: ReturnType<typeof setTimeout>;
  resolve: (result: Result<unknown>) => void;
}

type AnyListener = (payload: unknown) => void;

/** `ws://host/api?token=…` for the page at `loc`; without a token the HttpOnly cookie is used. */
export function apiUrlFromLocation(loc: Pick<Location, 'protocol' | 'host' | 'search'>): string {
  const token = new URLSearchParams(loc.search).get('token');
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  return `${scheme}://${loc.host}/api${query}`;
}

/** The same URL over HTTP: the web host answers 401 there when the token is wrong. */
export function httpAuthProbe(wsUrl: string): () => Promise<boolean> {
  const httpUrl = wsUrl.replace(/^ws(s?):/, 'http$1:');
  return async () => {
    try {
      const res = await fetch(httpUrl, { method: 'HEAD', cache: 'no-store', credentials: 'same-origin' });
      return res.status === 401;
    } catch {
      return false; // the host is down, not refusing us
    }
  };
}

function failure(code: ErrorCode, message: string): { ok: false; error: ApiError } {
  return { ok: false, error: { code, message } };
}

/** First zod issue as one line: "connections.0.token: Invalid input". */
function describeIssue(error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

export class WsClient implements MptcpApi, SessionSource {
  private readonly url: string;
  private readonly WebSocketImpl: WebSocketCtor;
  private readonly probeUnauthorized: (() => Promise<boolean>) | undefined;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly callTimeoutMs: number;

  private socket: WebSocketLike | null = null;
  private nextId = 1;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private disposed = false;
  private readonly pending = new Map<number, PendingCall>();
  private readonly listeners = new Map<EventName, Set<AnyListener>>();
  private readonly statusListeners = new Set<(info: SessionInfo) => void>();
  private info: SessionInfo = {
    state: 'connecting',
    transport: 'websocket',
    detail: null,
    retryAtMs: null,
  };

  constructor(opts: WsClientOptions) {
    this.url = opts.url;
    this.WebSocketImpl = opts.WebSocketImpl ?? WebSocket;
    this.probeUnauthorized = opts.probeUnauthorized;
    this.backoff = opts.backoff ?? { initialMs: 500, maxMs: 10_000 };
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
    this.connect();
  }

  // ---- MptcpApi ---------------------------------------------------------------------------

  invoke<M extends MethodName>(method: M, args: MethodArgs<M>): Promise<Result<MethodResult<M>>> {
    return new Promise<Result<unknown>>((resolve) => {
      if (!isMethodName(method)) {
        resolve(failure('BAD_REQUEST', `unknown method ${String(method)}`));
        return;
      }
      const { state, detail } = this.info;
      if (this.disposed || state === 'unauthorized') {
        resolve(failure('UNAUTHORIZED', this.disposed ? 'the API client was closed' : UNAUTHORISED_MESSAGE));
        return;
      }
      if (state === 'closed') {
        resolve(
          failure('INTERNAL', `not connected to the engine${detail ? ` (${detail})` : ''}; reconnecting`),
        );
        return;
      }
      const id = this.nextId++;
      let frame: string;
      try {
        frame = JSON.stringify({ t: 'call', id, method, args } satisfies WireCall);
      } catch (err) {
        resolve(failure('BAD_REQUEST', `arguments for ${method} are not JSON: ${String(err)}`));
        return;
      }
      const timer = setTimeout(() => {
        this.settle(id, failure('TIMEOUT', `${method}: no result after ${this.callTimeoutMs} ms`));
      }, this.callTimeoutMs);
      this.pending.set(id, { method, frame, sent: false, timer, resolve });
      if (state === 'open') this.send(id);
      // 'connecting': sent from the open handler.
    }) as Promise<Result<MethodResult<M>>>;
  }

  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    const wrapped = listener as AnyListener;
    set.add(wrapped);
    return () => {
      set.delete(wrapped);
    };
  }

  // ---- SessionSource -------------------------------------------------------------------

  get(): SessionInfo {
    return this.info;
  }

  subscribe(listener: (info: SessionInfo) => void): () => void {
    this.statusListeners.add(listener);
    return () => {
      this.statusListeners.delete(listener);
    };
  }

  /** Close for good: no reconnect, pending calls fail. */
  dispose(): void {
    this.disposed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const socket = this.socket;
    this.socket = null;
    this.failAll('INTERNAL', 'the API client was closed');
    try {
      socket?.close(1000, 'client closed');
    } catch {
      // already closed
    }
    this.setInfo({ state: 'closed', detail: 'closed', retryAtMs: null });
  }

  // ---- socket lifecycle -------------------------------------------------------------------

  private connect(): void {
    if (this.disposed) return;
    this.reconnectTimer = null;
    this.setInfo({ state: 'connecting', detail: null, retryAtMs: null });
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch (err) {
      this.scheduleReconnect(`could not open the WebSocket: ${String(err)}`);
      return;
    }
    this.socket = socket;
    let opened = false;
    let closed = false;
    socket.addEventListener('open', () => {
      if (this.socket !== socket) return;
      opened = true;
      this.attempt = 0;
      this.setInfo({ state: 'open', detail: null, retryAtMs: null });
      for (const [id, call] of this.pending) if (!call.sent) this.send(id);
    });
    socket.addEventListener('message', (ev) => {
      if (this.socket === socket) this.receive(ev.data);
    });
    socket.addEventListener('error', () => {
      // Always followed by 'close', which does the work.
    });
    socket.addEventListener('close', (ev) => {
      if (closed || this.socket !== socket) return;
      closed = true;
      this.socket = null;
      void this.handleClose(ev.code, ev.reason, opened);
    });
  }

  private async handleClose(code: number, reason: string, opened: boolean): Promise<void> {
    if (this.disposed) return;
    const why = `connection closed (code ${code}${reason ? `: ${reason}` : ''})`;
    if (code === WS_CLOSE_UNAUTHORIZED) {
      this.setUnauthorized();
      return;
    }
    this.failAll('INTERNAL', `${why} before the result arrived; reconnecting`);
    if (!opened && this.probeUnauthorized) {
      this.setInfo({ state: 'closed', detail: why, retryAtMs: null });
      const unauthorized = await this.probeUnauthorized();
      if (this.disposed) return;
      if (unauthorized) {
        this.setUnauthorized();
        return;
      }
    }
    this.scheduleReconnect(why);
  }

  private setUnauthorized(): void {
    this.failAll('UNAUTHORIZED', UNAUTHORISED_MESSAGE);
    this.setInfo({ state: 'unauthorized', detail: UNAUTHORISED_MESSAGE, retryAtMs: null });
  }

  private scheduleReconnect(why: string): void {
    if (this.disposed) return;
    const delayMs = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.attempt);
    this.attempt++;
    this.setInfo({ state: 'closed', detail: why, retryAtMs: Date.now() + delayMs });
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
  }

  private send(id: number): void {
    const call = this.pending.get(id);
    if (!call || !this.socket) return;
    try {
      this.socket.send(call.frame);
      call.sent = true;
    } catch (err) {
      this.settle(id, failure('INTERNAL', `${call.method}: could not send: ${String(err)}`));
    }
  }

  private settle(id: number, result: Result<unknown>): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    clearTimeout(call.timer);
    call.resolve(result);
  }

  private failAll(code: ErrorCode, message: string): void {
    for (const id of [...this.pending.keys()]) this.settle(id, failure(code, message));
  }

  // ---- incoming -----------------------------------------------------------------------------

  private receive(data: unknown): void {
    if (typeof data !== 'string') {
      this.protocolError('dropped a binary message from the server');
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      this.protocolError('dropped a message from the server that is not JSON');
      return;
    }
    const parsed = parseFast(ServerMessageSchema, raw);
    if (!parsed.success) {
      const id = (raw as { t?: unknown; id?: unknown } | null)?.id;
      const isResult = (raw as { t?: unknown } | null)?.t === 'result';
      if (isResult && typeof id === 'number' && this.pending.has(id)) {
        const method = this.pending.get(id)?.method ?? 'call';
        this.settle(
          id,
          failure('INTERNAL', `${method}: malformed result frame (${describeIssue(parsed.error)})`),
        );
      } else {
        this.protocolError(`dropped a malformed message from the server (${describeIssue(parsed.error)})`);
      }
      return;
    }
    const msg = parsed.data;
    switch (msg.t) {
      case 'result':
        this.receiveResult(msg.id, msg.result);
        return;
      case 'event':
        this.receiveEvent(msg.name, msg.payload);
        return;
    }
  }

  private receiveResult(
    id: number,
    result: { ok: true; value: unknown } | { ok: false; error: ApiError },
  ): void {
    const call = this.pending.get(id);
    if (!call) {
      this.protocolError(`dropped a result for unknown call ${id}`);
      return;
    }
    if (!result.ok) {
      this.settle(id, result);
      return;
    }
    const value = parseFast(methods[call.method].result, result.value);
    this.settle(
      id,
      value.success
        ? { ok: true, value: value.data }
        : failure('INTERNAL', `${call.method}: malformed result (${describeIssue(value.error)})`),
    );
  }

  private receiveEvent(name: string, payload: unknown): void {
    if (!isEventName(name)) {
      this.protocolError(`dropped unknown event ${name}`);
      return;
    }
    const parsed = parseFast(events[name], payload);
    if (!parsed.success) {
      this.protocolError(`dropped a malformed ${name} event (${describeIssue(parsed.error)})`);
      return;
    }
    for (const listener of [...(this.listeners.get(name) ?? [])]) {
      try {
        listener(parsed.data);
      } catch (err) {
        console.error(`listener for ${name} threw`, err);
      }
    }
  }

  private protocolError(message: string): void {
    console.warn(`mptcp api: ${message}`);
    this.setInfo({ detail: message });
  }

  private setInfo(patch: Partial<Omit<SessionInfo, 'transport'>>): void {
    this.info = { ...this.info, ...patch };
    for (const l of [...this.statusListeners]) l(this.info);
  }
}
