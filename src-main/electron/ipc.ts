/**
 * The IPC binding: one ipcMain handler per contract method (channel = method name), every sender
 * frame checked, every payload parsed by EngineService against the method's zod schema. Written
 * against structural types, so tests exercise it with fakes and without Electron.
 */
import { eventNames, methodNames, type EventName } from '../../shared/contract';
import { fail } from '../../shared/result';
import type { EngineService } from '../engine/service';

export interface FrameLike {
  url: string;
  parent: FrameLike | null;
}
export interface IpcEventLike {
  senderFrame: FrameLike | null;
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
      return service.invoke(method, args);
    });
  }
  return () => {
    for (const method of methodNames) ipcMain.removeHandler(method);
  };
}

/** Forward every event stream to a window until it is destroyed. */
export function forwardEvents(service: EngineService, contents: WebContentsLike): () => void {
  const offs = eventNames.map((name: EventName) =>
    service.on(name, (payload) => {
      if (!contents.isDestroyed()) contents.send(name, payload);
    }),
  );
  return () => {
    for (const off of offs) off();
  };
}
