/**
 * The IPC binding: one ipcMain handler per contract method (channel = method name), every sender
 * frame checked, every payload parsed by EngineService against the method's zod schema. Written
 * against structural types, so tests exercise it with fakes and without Electron.
 */
import { eventNames, methodNames, methods, type EventName } from '../../shared/contract';
import { fail, ok } from '../../shared/result';
import type { ConnectionsFeed } from '../engine/connections-feed';
import type { EngineService } from '../engine/service';

/** Events sent beyond the renderer's last acknowledged one before the feed coalesces instead. */
export const IPC_ACK_WINDOW = 2;
/** Not forwarded as is: each window gets its own connections feed. */
const NOT_FORWARDED = new Set<EventName>(['mptcp:connections:snapshot', 'mptcp:connections:delta']);
/** Each window's connections feed, for its resync and ack calls. */
const feedsBySender = new WeakMap<object, ConnectionsFeed>();

export interface FrameLike {
  url: string;
  parent: FrameLike | null;
}
export interface IpcEventLike {
  senderFrame: FrameLike | null;
  /** The WebContents that called (keys its connections feed). */
  sender?: object;
}
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}
export interface WebContentsLike {
  send(channel: string, payload: unknown): void;
  isDestroyed(): boolean;
}

/**
 * Only the app's own top-level page may call the engine: not a subframe, not a page the window
 * was somehow navigated to (navigation is also denied, see security.ts).
 */
export function isTrustedSender(frame: FrameLike | null, appUrl: string): boolean {
  if (!frame || frame.parent !== null) return false;
  try {
    const u = new URL(frame.url);
    const app = new URL(appUrl);
    return u.protocol === app.protocol && u.host === app.host && u.pathname === app.pathname;
  } catch {
    return false;
  }
}

export function bindIpc(ipcMain: IpcMainLike, service: EngineService, appUrl: string): () => void {
  for (const method of methodNames) {
    ipcMain.handle(method, (event, args) => {
      if (!isTrustedSender(event.senderFrame, appUrl)) {
        return fail('UNAUTHORIZED', `IPC ${method} refused: sender is not the app's own page`);
      }
      if (method === 'mptcp:connections:resync' || method === 'mptcp:connections:ack') {
        const feed = event.sender ? feedsBySender.get(event.sender) : undefined;
        if (!feed) return fail('UNSUPPORTED', `${method}: this window has no connections feed`);
        const parsed = methods[method].args.safeParse(args ?? {});
        if (!parsed.success) return fail('BAD_REQUEST', `${method}: invalid arguments`);
        if ('seq' in parsed.data) feed.ack(parsed.data.seq);
        else feed.resync();
        return ok({});
      }
      return service.invoke(method, args);
    });
  }
  return () => {
    for (const method of methodNames) ipcMain.removeHandler(method);
  };
}

/**
 * Forward every event stream to a window until it is destroyed; connections as a per-window
 * delta feed that waits for the renderer's acks (IPC sends never block, so a busy renderer would
 * otherwise pile messages up in its queue).
 */
export function forwardEvents(service: EngineService, contents: WebContentsLike): () => void {
  const feed = service.subscribeConnections(
    {
      ready: () => !contents.isDestroyed(),
      send: (event) => contents.send('mptcp:connections:delta', event),
    },
    { ackWindow: IPC_ACK_WINDOW },
  );
  feedsBySender.set(contents, feed);
  const offs = eventNames
    .filter((name) => !NOT_FORWARDED.has(name))
    .map((name: EventName) =>
      service.on(name, (payload) => {
        if (!contents.isDestroyed()) contents.send(name, payload);
      }),
    );
  return () => {
    feed.close();
    feedsBySender.delete(contents);
    for (const off of offs) off();
  };
}
