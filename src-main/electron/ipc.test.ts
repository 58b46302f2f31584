import { describe, expect, it } from 'vitest';
import { methodNames } from '../../shared/contract';
import { EngineService } from '../engine/service';
import { fakeBackend, sampleStatus } from '../testing/fake-backend';
import { bindIpc, isTrustedSender, type IpcEventLike, type IpcMainLike } from './ipc';
import { lockDownContents, secureWebPreferences } from './security';

const APP = 'file:///opt/mptcp-studio/out/renderer/index.html';

function fakeIpcMain() {
  const handlers = new Map<string, (event: IpcEventLike, ...args: unknown[]) => unknown>();
  const ipc: IpcMainLike = {
    handle: (ch, fn) => void handlers.set(ch, fn),
    removeHandler: (ch) => void handlers.delete(ch),
  };
  return { ipc, handlers };
}

describe('IPC binding', () => {
  it('registers exactly one handler per contract method', () => {
    const { ipc, handlers } = fakeIpcMain();
    const unbind = bindIpc(ipc, new EngineService(fakeBackend()), APP);
    expect([...handlers.keys()].sort()).toEqual([...methodNames].sort());
    unbind();
    expect(handlers.size).toBe(0);
  });

  it('answers the app page and refuses subframes and foreign pages', async () => {
    const { ipc, handlers } = fakeIpcMain();
    const backend = fakeBackend();
    bindIpc(ipc, new EngineService(backend), APP);
    const h = handlers.get('mptcp:status:get');
    if (!h) throw new Error('no handler');
    const top = { url: APP, parent: null };
    expect(await h({ senderFrame: top }, {})).toEqual({ ok: true, value: sampleStatus });
    expect(await h({ senderFrame: { url: APP, parent: top } }, {})).toMatchObject({
      ok: false,
      error: { code: 'UNAUTHORIZED' },
    });
    expect(await h({ senderFrame: { url: 'https://evil.example/', parent: null } }, {})).toMatchObject({
      ok: false,
    });
    expect(await h({ senderFrame: null }, {})).toMatchObject({ ok: false });
    expect(backend.calls).toEqual(['mptcp:status:get']);
  });

  it('validates payloads from the renderer', async () => {
    const { ipc, handlers } = fakeIpcMain();
    bindIpc(ipc, new EngineService(fakeBackend()), APP);
    const h = handlers.get('mptcp:limits:get');
    expect(await h?.({ senderFrame: { url: APP, parent: null } }, { subflows: 99 })).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
  });

  it('isTrustedSender compares scheme, host and path', () => {
    expect(isTrustedSender({ url: `${APP}#x`, parent: null }, APP)).toBe(true);
    expect(isTrustedSender({ url: 'file:///tmp/index.html', parent: null }, APP)).toBe(false);
    expect(isTrustedSender({ url: 'not a url', parent: null }, APP)).toBe(false);
  });
});

describe('Electron security settings', () => {
  it('keeps the checklist items on', () => {
    expect(secureWebPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    });
  });

  it('denies navigation, redirects, webviews and new windows', () => {
    const listeners = new Map<string, (e: { preventDefault(): void }) => void>();
    let openHandler: (() => { action: string }) | null = null;
    lockDownContents({
      on: (ev, l) => void listeners.set(ev, l),
      setWindowOpenHandler: (h) => {
        openHandler = h;
      },
    });
    for (const ev of ['will-navigate', 'will-redirect', 'will-attach-webview']) {
      let prevented = false;
      listeners.get(ev)?.({ preventDefault: () => (prevented = true) });
      expect(prevented, ev).toBe(true);
    }
    expect(openHandler).not.toBeNull();
    expect(openHandler!()).toEqual({ action: 'deny' });
  });
});
