/**
 * A typed in-memory MptcpApi for tests. It implements the interface fully, so a contract change
 * that the renderer must follow breaks the build here too. A test either installs a handler per
 * method (answered at once) or leaves calls pending and resolves them later, and emits events.
 */
import type {
  EventName,
  EventPayload,
  MethodArgs,
  MethodName,
  MethodResult,
  MptcpApi,
} from '../../../shared/contract';
import type { Result } from '../../../shared/result';

type Handler<M extends MethodName> = (args: MethodArgs<M>) => Result<MethodResult<M>>;
type Handlers = { [M in MethodName]?: Handler<M> };

interface PendingFakeCall {
  method: MethodName;
  args: unknown;
  resolve: (result: Result<unknown>) => void;
}

export class FakeApi implements MptcpApi {
  /** Every call, in order. */
  readonly calls: { method: MethodName; args: unknown }[] = [];
  private readonly handlers: Handlers = {};
  private readonly pending: PendingFakeCall[] = [];
  private readonly listeners = new Map<EventName, Set<(payload: unknown) => void>>();

  invoke<M extends MethodName>(method: M, args: MethodArgs<M>): Promise<Result<MethodResult<M>>> {
    this.calls.push({ method, args });
    const handler = this.handlers[method];
    if (handler) return Promise.resolve(handler(args));
    return new Promise((resolve) => {
      this.pending.push({ method, args, resolve: resolve as (r: Result<unknown>) => void });
    });
  }

  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    const wrapped = listener as (payload: unknown) => void;
    set.add(wrapped);
    return () => {
      set.delete(wrapped);
    };
  }

  /** Answer every future call of `method` (a fixed result or a function of the args). */
  handle<M extends MethodName>(method: M, answer: Result<MethodResult<M>> | Handler<M>): this {
    const handler: Handler<M> = typeof answer === 'function' ? answer : () => answer;
    (this.handlers as Record<MethodName, unknown>)[method] = handler;
    return this;
  }

  /** Resolve the oldest pending call of `method`; throws when there is none. */
  resolveNext<M extends MethodName>(method: M, result: Result<MethodResult<M>>): void {
    const index = this.pending.findIndex((p) => p.method === method);
    const call = this.pending[index];
    if (!call) throw new Error(`FakeApi: no pending ${method} call`);
    this.pending.splice(index, 1);
    call.resolve(result);
  }

  pendingCalls(method?: MethodName): number {
    return this.pending.filter((p) => method === undefined || p.method === method).length;
  }

  /** Deliver an event to the registered listeners, as the host's push would. */
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const l of [...(this.listeners.get(event) ?? [])]) l(payload);
  }

  listenerCount(event: EventName): number {
    return this.listeners.get(event)?.size ?? 0;
  }
}
