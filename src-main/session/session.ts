/**
 * One subscriber of the contract, whatever carries it: a WebSocket of the web host or an Electron
 * window. The transport only frames messages (and says whether its subscriber keeps up); this
 * module holds what every transport needs, written once: the subscriber's connections feed
 * (shared/delta.ts), the methods that are about that feed (the contract's streamMethodNames),
 * event forwarding with the drop-and-tell policy for subscribers that fall behind, and the audit
 * line of every writing call (shared/contract.ts `writes`).
 */
import {
  EVENTS_DROPPED_CODE,
  eventNames,
  isMethodName,
  methods,
  streamMethodNames,
  type EventName,
  type EventPayload,
  type MethodArgs,
  type StreamMethodName,
} from '../../shared/contract';
import { fail, ok, type Result } from '../../shared/result';
import {
  auditArgs,
  auditResult,
  isAuditedMethod,
  type ConnectionsFeed,
  type EngineService,
  type FeedStats,
} from '../engine/index';

export interface SessionTransport {
  /** Sends one event to the subscriber (framing is the transport's). */
  send(name: EventName, payload: unknown): void;
  /** The subscriber is there. */
  isOpen(): boolean;
  /**
   * The subscriber keeps up: it is open and its transport has room. A WebSocket says no while
   * more than its limit is unsent; an Electron window while it is open, always (its feed waits
   * for acks instead).
   */
  canTake(): boolean;
}

export interface SessionOptions {
  /** Who is on the other end, for audit lines (`websocket ADDR:PORT`, `window N`). */
  peer: string;
  /** Connections feed events sent beyond the last acknowledged one (IPC); none for a WebSocket. */
  ackWindow?: number;
  /**
   * Drop kernel events and counter samples while the subscriber is behind (a paused tab must not
   * grow a socket's buffer without bound), then tell it how many kernel events it missed.
   */
  dropWhenBehind: boolean;
  /** One line per call of a writing method. */
  audit?: (entry: Record<string, unknown>) => void;
}

/** Streams a session does not forward as is: the connections feed replaces whole snapshots. */
const NOT_FORWARDED = new Set<EventName>(['mptcp:connections:snapshot', 'mptcp:connections:delta']);
/**
 * Streams dropped, not queued, for a subscriber that is behind: kernel events come in floods (link
 * flaps, thousands of subflows closing). A missed counters sample is healed by the client (it
 * reads the base again when prevTakenAtMs does not match); missed kernel events are lost, so the
 * client is told how many. Rare, small streams (config:pending, engine:error) are always sent.
 */
const DROPPED_WHEN_BEHIND = new Set<EventName>(['mptcp:kernel:event', 'mptcp:counters:sample']);
/** `source` of the mptcp:engine:error that tells a subscriber it missed events while it was behind. */
export const DROPPED_NOTICE_SOURCE = 'web-host';

export interface SessionStats {
  feed: FeedStats;
  /** Events not sent because the subscriber was behind, since it connected. */
  dropped: { kernelEvents: number; counterSamples: number };
}

export class Session {
  private readonly feed: ConnectionsFeed;
  private readonly unsubscribe: (() => void)[];
  private readonly dropped = { kernelEvents: 0, counterSamples: 0 };
  /** Kernel events dropped since the subscriber was last told. */
  private kernelEventsUntold = 0;
  /**
   * The methods about this subscriber's own feed, one per name in streamMethodNames: the
   * compiler asks for a handler when the contract gains one.
   */
  private readonly streamHandlers: {
    [M in StreamMethodName]: (args: MethodArgs<M>) => void;
  };

  constructor(
    private readonly service: EngineService,
    private readonly transport: SessionTransport,
    private readonly opts: SessionOptions,
  ) {
    this.feed = service.subscribeConnections(
      {
        ready: () => {
          const ok = transport.canTake();
          // The feed asks at every poll: a subscriber that caught up hears of its drops within a
          // poll interval, even when no other event follows.
          if (ok) this.tellDrops();
          return ok;
        },
        send: (event) => transport.send('mptcp:connections:delta', event),
      },
      opts.ackWindow !== undefined ? { ackWindow: opts.ackWindow } : {},
    );
    this.streamHandlers = {
      'mptcp:connections:resync': () => this.feed.resync(),
      'mptcp:connections:ack': ({ seq }) => this.feed.ack(seq),
    };
    this.unsubscribe = eventNames
      .filter((name) => !NOT_FORWARDED.has(name))
      .map((name) => service.on(name, (payload) => this.forward(name, payload)));
  }

  private forward(name: EventName, payload: unknown): void {
    if (!this.transport.isOpen()) return;
    if (this.opts.dropWhenBehind && DROPPED_WHEN_BEHIND.has(name) && !this.transport.canTake()) {
      if (name === 'mptcp:kernel:event') {
        this.dropped.kernelEvents++;
        this.kernelEventsUntold++;
      } else this.dropped.counterSamples++;
      return;
    }
    this.tellDrops();
    this.transport.send(name, payload);
  }

  /** Once the subscriber keeps up again: one notice saying how many kernel events it missed. */
  private tellDrops(): void {
    if (this.kernelEventsUntold === 0 || !this.transport.canTake()) return;
    const n = this.kernelEventsUntold;
    this.kernelEventsUntold = 0;
    const notice: EventPayload<'mptcp:engine:error'> = {
      source: DROPPED_NOTICE_SOURCE,
      code: EVENTS_DROPPED_CODE,
      message: `${n} kernel event${n === 1 ? ' was' : 's were'} dropped while this page was behind`,
    };
    this.transport.send('mptcp:engine:error', notice);
  }

  /** An untrusted call from this subscriber; never rejects. */
  async call(method: unknown, args: unknown): Promise<Result<unknown>> {
    if (isMethodName(method) && (streamMethodNames as readonly string[]).includes(method)) {
      const m = method as StreamMethodName;
      const parsed = methods[m].args.safeParse(args ?? {});
      if (!parsed.success) return fail('BAD_REQUEST', `${m}: invalid arguments`);
      (this.streamHandlers[m] as (a: unknown) => void)(parsed.data);
      return ok({});
    }
    const result = await this.service.invoke(method, args);
    if (this.opts.audit && isMethodName(method) && isAuditedMethod(method)) {
      try {
        this.opts.audit({
          time: new Date().toISOString(),
          peer: { client: this.opts.peer },
          method,
          args: auditArgs(method, args),
          result: auditResult(result),
        });
      } catch {
        // a failing log sink must not fail the call it logs
      }
    }
    return result;
  }

  stats(): SessionStats {
    return { feed: { ...this.feed.stats }, dropped: { ...this.dropped } };
  }

  close(): void {
    this.feed.close();
    for (const u of this.unsubscribe) u();
  }
}
