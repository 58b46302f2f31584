/**
 * The contract, served: validates every incoming call against its zod schema, runs the handler,
 * returns a Result (never throws across the boundary), and pushes event streams to subscribers.
 * Both hosts (Electron IPC, web WebSocket) and the per-namespace agent sit on top of this.
 */
import {
  isEventName,
  isMethodName,
  methods,
  type EventName,
  type EventPayload,
  type HostHandlers,
  type KernelHandlers,
  type MethodName,
} from '../../shared/contract';
import { fail, ok, toApiError, type Result } from '../../shared/result';

export interface EngineBackend {
  readonly handlers: KernelHandlers;
  /** Kernel-side events (e.g. a confirm-or-revert deadline); the service re-emits them. */
  onEvent?(listener: <E extends EventName>(event: E, payload: EventPayload<E>) => void): () => void;
  close(): void | Promise<void>;
}

type Listener<E extends EventName> = (payload: EventPayload<E>) => void;

export interface ServiceOptions {
  /** Connections poll interval while anyone listens to snapshots. */
  pollIntervalMs?: number;
}

export class EngineService {
  private readonly listeners = new Map<EventName, Set<Listener<EventName>>>();
  private pollTimer: NodeJS.Timeout | null = null;
  private polling = false;
  private readonly pollIntervalMs: number;

  private readonly host: Partial<HostHandlers>;

  constructor(
    readonly backend: EngineBackend,
    opts: ServiceOptions & { host?: Partial<HostHandlers> } = {},
  ) {
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.host = opts.host ?? {};
    backend.onEvent?.((event, payload) => this.emit(event, payload));
  }

  private handlerFor(method: MethodName): ((args: unknown) => Promise<unknown>) | undefined {
    const all: Partial<Record<MethodName, unknown>> = { ...this.backend.handlers, ...this.host };
    return all[method] as ((args: unknown) => Promise<unknown>) | undefined;
  }

  /** Dispatch an untrusted call: unknown methods and malformed args are refused, not thrown. */
  async invoke(method: unknown, rawArgs: unknown): Promise<Result<unknown>> {
    if (!isMethodName(method)) return fail('BAD_REQUEST', `unknown method ${JSON.stringify(method)}`);
    const parsed = methods[method].args.safeParse(rawArgs ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? issue.path.join('.') : 'arguments';
      return fail('BAD_REQUEST', `${method}: ${where}: ${issue?.message ?? 'invalid'}`);
    }
    const handler = this.handlerFor(method);
    if (!handler) return fail('UNSUPPORTED', `${method} is not served by this host`);
    try {
      return ok(await handler(parsed.data));
    } catch (err) {
      return { ok: false, error: toApiError(err) };
    }
  }

  on<E extends EventName>(event: E, listener: Listener<E>): () => void {
    if (!isEventName(event)) throw new Error(`unknown event ${String(event)}`);
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    this.updatePolling();
    this.updateWatching();
    return () => {
      set.delete(listener);
      this.updatePolling();
      this.updateWatching();
    };
  }

  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const l of this.listeners.get(event) ?? []) {
      try {
        l(payload);
      } catch {
        // A failing subscriber must not stop the others.
      }
    }
  }

  /** Kernel event subscriptions run while anyone listens (they hold multicast memberships). */
  private eventsWatched = false;
  private updateWatching(): void {
    const wanted = (this.listeners.get('mptcp:kernel:event')?.size ?? 0) > 0;
    if (wanted === this.eventsWatched) return;
    this.eventsWatched = wanted;
    void this.backend.handlers['mptcp:events:watch']({ on: wanted }).then(
      (r) => {
        if (wanted && r.note)
          this.emit('mptcp:engine:error', {
            source: 'events',
            code: r.mptcp ? 'KERNEL' : 'EPERM',
            message: r.note,
          });
      },
      (err: unknown) => {
        const e = toApiError(err);
        this.emit('mptcp:engine:error', { source: 'events', code: e.code, message: e.message });
      },
    );
  }

  private updatePolling(): void {
    const wanted = (this.listeners.get('mptcp:connections:snapshot')?.size ?? 0) > 0;
    if (wanted && !this.pollTimer) {
      this.pollTimer = setInterval(() => void this.pollOnce(), this.pollIntervalMs);
      void this.pollOnce();
    } else if (!wanted && this.pollTimer) {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    }
  }

  /** One poll; a poll still running when the timer fires is skipped, never queued. */
  async pollOnce(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const snap = await this.backend.handlers['mptcp:connections:list']({});
      this.emit('mptcp:connections:snapshot', snap);
    } catch (err) {
      const e = toApiError(err);
      this.emit('mptcp:engine:error', { source: 'connections', code: e.code, message: e.message });
    } finally {
      this.polling = false;
    }
  }

  async close(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.listeners.clear();
    await this.backend.close();
  }
}
