/**
 * The engine backend the host's service runs on when the Fleet direct mode is available: this
 * host's own backend, or a registered remote web host (remote-backend.ts) chosen by the header's
 * host switcher (mptcp:fleet:hosts:select). The handlers object is stable and delegates to
 * whichever backend is current, so that everything holding it (the service, the host's advice
 * and profile handlers) follows a switch. The switch is for the whole host process: every page
 * connected to it sees the chosen host.
 */
import {
  kernelMethodNames,
  type EventName,
  type EventPayload,
  type KernelHandlers,
} from '../../../shared/contract';
import type { EngineBackend } from '../../engine/index';
import { RemoteBackend, type RemoteTarget } from './remote-backend';

type Listener = <E extends EventName>(event: E, payload: EventPayload<E>) => void;

export interface BackendSwitcher {
  /** The registered host now shown; null: this host. */
  selected(): string | null;
  /** Show `target` (null: this host). Resolves once its first call (status) answered. */
  select(target: RemoteTarget | null): Promise<void>;
}

export class SwitchableBackend implements EngineBackend, BackendSwitcher {
  readonly handlers: KernelHandlers;
  private current: EngineBackend;
  private remote: RemoteBackend | null = null;
  private readonly listeners = new Set<Listener>();
  private stopCurrentEvents: (() => void) | null = null;
  /** Net mptcp:events:watch calls (on − off) the service made, replayed on the new backend. */
  private watchers = 0;

  constructor(private readonly local: EngineBackend) {
    this.current = local;
    const handlers: Record<string, (args: unknown) => Promise<unknown>> = {};
    for (const m of kernelMethodNames) {
      handlers[m] = (args) =>
        (this.current.handlers as unknown as Record<string, (a: unknown) => Promise<unknown>>)[m]!(args);
    }
    handlers['mptcp:events:watch'] = (args) => {
      const on = (args as { on: boolean }).on;
      this.watchers = Math.max(0, this.watchers + (on ? 1 : -1));
      return this.current.handlers['mptcp:events:watch']({ on });
    };
    this.handlers = handlers as unknown as KernelHandlers;
    this.listen(local);
  }

  private listen(b: EngineBackend): void {
    this.stopCurrentEvents?.();
    this.stopCurrentEvents =
      b.onEvent?.((event, payload) => {
        for (const l of this.listeners) l(event, payload);
      }) ?? null;
  }

  selected(): string | null {
    return this.remote?.target.name ?? null;
  }

  async select(target: RemoteTarget | null): Promise<void> {
    const next = target ? new RemoteBackend(target) : this.local;
    if (next instanceof RemoteBackend) {
      // Refuse a host that does not answer, before anything switches.
      try {
        await next.handlers['mptcp:status:get']({});
      } catch (e) {
        next.close();
        throw e;
      }
    }
    const prev = this.current;
    const prevRemote = this.remote;
    this.current = next;
    this.remote = next instanceof RemoteBackend ? next : null;
    this.listen(next);
    if (this.watchers > 0) {
      await next.handlers['mptcp:events:watch']({ on: true }).catch(() => undefined);
      if (prev === this.local)
        await prev.handlers['mptcp:events:watch']({ on: false }).catch(() => undefined);
    }
    prevRemote?.close();
  }

  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.stopCurrentEvents?.();
    this.remote?.close();
    await this.local.close();
  }
}
