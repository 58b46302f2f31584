/**
 * An engine backend that is another machine's web host: every kernel method of the contract is
 * called over that host's WSS API (the same calls its own page makes, with its token), and its
 * events come back the same way. The Fleet direct mode's host switcher puts one in place of the
 * local backend (switchable-backend.ts), so that every page works against the remote host while
 * the renderer still talks only to its own host.
 */
import WebSocket from 'ws';
import {
  isEventName,
  kernelMethodNames,
  type EventName,
  type EventPayload,
  type KernelHandlers,
} from '../../../shared/contract';
import { ServerMessageSchema, MAX_WIRE_BYTES } from '../../../shared/wire';
import type { EngineBackend } from '../../engine/index';
import { checkRemoteUrl } from './remote-hosts';

export interface RemoteTarget {
  name: string;
  url: string;
  plainToken: string;
  caCertPem: string | null;
}

type Listener = <E extends EventName>(event: E, payload: EventPayload<E>) => void;

/** A call gets no answer in this long: the host is treated as gone and the call fails. */
export const REMOTE_CALL_TIMEOUT_MS = 30_000;

export class RemoteBackend implements EngineBackend {
  readonly handlers: KernelHandlers;
  private ws: WebSocket | null = null;
  private opening: Promise<WebSocket> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly listeners = new Set<Listener>();
  private closed = false;

  constructor(readonly target: RemoteTarget) {
    const handlers: Record<string, (args: unknown) => Promise<unknown>> = {};
    for (const m of kernelMethodNames) handlers[m] = (args) => this.call(m, args);
    // The remote web host forwards its kernel events to every connected client by itself.
    handlers['mptcp:events:watch'] = () => Promise.resolve({ mptcp: true, interfaces: true, note: null });
    this.handlers = handlers as unknown as KernelHandlers;
  }

  private open(): Promise<WebSocket> {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) return Promise.resolve(this.ws);
    this.opening ??= new Promise<WebSocket>((resolve, reject) => {
      const url = checkRemoteUrl(this.target.url);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.pathname = '/api';
      url.search = new URLSearchParams({ token: this.target.plainToken }).toString();
      const ws = new WebSocket(url, {
        ...(this.target.caCertPem ? { ca: this.target.caCertPem } : {}),
        maxPayload: MAX_WIRE_BYTES,
        handshakeTimeout: 10_000,
      });
      ws.once('open', () => {
        this.ws = ws;
        this.opening = null;
        resolve(ws);
      });
      ws.once('unexpected-response', (_req, res) => {
        this.opening = null;
        reject(new Error(`${this.target.name}: refused (HTTP ${res.statusCode ?? '?'})`));
        ws.terminate();
      });
      ws.on('error', (e: NodeJS.ErrnoException) => {
        if (this.opening) {
          this.opening = null;
          reject(new Error(`${this.target.name}: ${e.code ?? e.message}`));
        }
      });
      ws.on('message', (data: Buffer) => this.onMessage(data));
      ws.on('close', () => {
        if (this.ws === ws) this.ws = null;
        for (const p of this.pending.values()) p.reject(new Error(`${this.target.name}: connection closed`));
        this.pending.clear();
        if (!this.closed)
          this.emit('mptcp:engine:error', {
            source: 'remote',
            code: 'REMOTE_CLOSED',
            message: `lost the connection to ${this.target.name}; the next call reconnects`,
          });
      });
    });
    return this.opening;
  }

  private onMessage(data: Buffer): void {
    let msg;
    try {
      msg = ServerMessageSchema.parse(JSON.parse(data.toString('utf8')));
    } catch {
      return;
    }
    if (msg.t === 'result') {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.result.ok) p.resolve(msg.result.value);
      else p.reject(Object.assign(new Error(msg.result.error.message), { code: msg.result.error.code }));
      return;
    }
    // This host polls connections itself (mptcp:connections:list): the remote page feed is not used.
    if (msg.name === 'mptcp:connections:delta' || !isEventName(msg.name)) return;
    this.emit(msg.name, msg.payload as EventPayload<typeof msg.name>);
  }

  private emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const l of this.listeners) {
      try {
        l(event, payload);
      } catch {
        // one failing listener must not stop the others
      }
    }
  }

  private async call(method: string, args: unknown): Promise<unknown> {
    const ws = await this.open();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.target.name}: ${method} had no answer within ${REMOTE_CALL_TIMEOUT_MS} ms`));
      }, REMOTE_CALL_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      ws.send(JSON.stringify({ t: 'call', id, method, args }));
    });
  }

  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    this.ws?.terminate();
    this.ws = null;
  }
}
