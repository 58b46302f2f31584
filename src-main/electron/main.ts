/**
 * Electron main process: a window onto the engine. Kept thin on purpose: the engine, the contract
 * and the renderer are the same as the web host's; this file only wires Electron to them.
 */
import { app, BrowserWindow, ipcMain, session } from 'electron';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openEngine } from '../engine/index';
import { createHostHandlers } from '../host/index';
import { bindIpc, forwardEvents } from './ipc';
import { lockDownContents, lockDownSession, secureWebPreferences } from './security';

const netnsArg = process.argv.find((a) => a.startsWith('--netns='))?.slice('--netns='.length) ?? null;

app.enableSandbox();

void app.whenReady().then(() => {
  lockDownSession(session.defaultSession);
  app.on('web-contents-created', (_e, contents) => lockDownContents(contents));

  const service = openEngine({
    netns: netnsArg,
    host: (backend) =>
      createHostHandlers({
        kernel: backend.handlers,
        profilesDir: join(app.getPath('userData'), 'profiles'),
      }),
  });
  const indexHtml = join(import.meta.dirname, '../renderer/index.html');
  const appUrl = pathToFileURL(indexHtml).href;
  const unbind = bindIpc(ipcMain, service, appUrl);

  const win = new BrowserWindow({
    width: 1280,
    height: 860,
    title: 'MPTCP Studio',
    show: false,
    webPreferences: { ...secureWebPreferences, preload: join(import.meta.dirname, '../preload/index.cjs') },
  });
  const stopEvents = forwardEvents(service, win.webContents);
  win.once('ready-to-show', () => win.show());
  void win.loadURL(appUrl);

  app.on('window-all-closed', () => {
    stopEvents();
    unbind();
    void service.close().finally(() => app.quit());
  });
});
