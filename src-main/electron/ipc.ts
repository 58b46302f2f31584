/**
 * The IPC binding: one ipcMain handler per contract method (channel = method name), every sender
 * frame checked, every payload parsed by EngineService against the method's zod schema. Written
 * against structural types, so tests exercise it with fakes and without Electron.
 */
import { methodNames, streamMethodNames } from '../../shared/contract';
import { fail } from '../../shared/result';
import type { EngineService } from '../engine/index';
import { Session } from '../session/session';

/** Events sent beyond the renderer's last acknowledged one before the feed coalesces instead. */
export const IPC_ACK_WINDOW = 2;
/** Each window's session, for the calls it makes. */
const sessionsBySender = new WeakMap<object, Session>();

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
      const session = event.sender ? sessionsBySender.get(event.sender) : undefined;
      if (session) return session.call(method, args);
      // A window without a session yet (forwardEvents not called): only engine methods.
      if ((streamMethodNames as readonly string[]).includes(method)) {
        return fail('UNSUPPORTED', `${method}: this window has no connections feed`);
      }
      return service.invoke(method, args);
    });
  }
  return () => {
    for (const method of methodNames) ipcMain.removeHandler(method);
  };
}

let windows = 0;

/**
 * The window's session (src-main/session): every event stream forwarded until the window is
 * destroyed, connections as a per-window delta feed that waits for the renderer's acks (IPC
 * sends never block, so a busy renderer would otherwise pile messages up in its queue).
 */
export function forwardEvents(service: EngineService, contents: WebContentsLike): () => void {
  const session = new Session(
    service,
    {
      send: (name, payload) => contents.send(name, payload),
      isOpen: () => !contents.isDestroyed(),
      canTake: () => !contents.isDestroyed(),
    },
    { peer: `window ${++windows}`, ackWindow: IPC_ACK_WINDOW, dropWhenBehind: false },
  );
  sessionsBySender.set(contents, session);
  return () => {
    session.close();
    sessionsBySender.delete(contents);
  };
}
