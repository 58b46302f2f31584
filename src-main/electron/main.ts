/**
 * Electron main process: a window onto the engine. Kept thin on purpose: the engine, the contract
 * and the renderer are the same as the web host's; this file only wires Electron to them.
 *
 * The engine's netlink event readers run as worker threads of this process: event-reader.ts picks
 * its `thread` isolation whenever process.versions.electron is set, because the packaged binary has
 * Electron's RunAsNode fuse off (electron-builder.yml) and so cannot start itself as Node.
 */
import { app, BrowserWindow, dialog, ipcMain, protocol, safeStorage, session } from 'electron';
import { join } from 'node:path';
import { openEngine, type EngineBackend } from '../engine/index';
import { createHostHandlers, defaultFleetHostsFile, SwitchableBackend } from '../host/index';
import { safeStorageCodec } from './fleet-secrets';
import { APP_URL, registerAppScheme, serveApp } from './app-protocol';
import { bindIpc, forwardEvents } from './ipc';
import { lockDownContents, lockDownSession, secureWebPreferences } from './security';

const netnsArg = process.argv.find((a) => a.startsWith('--netns='))?.slice('--netns='.length) ?? null;

app.enableSandbox();
// Before 'ready', as Electron requires: the scheme the renderer is loaded from (app-protocol.ts).
registerAppScheme(protocol);

void app.whenReady().then(() => {
  if (netnsArg !== null && app.isPackaged) {
    // A namespace agent is the engine bundle run by `process.execPath` under `ip netns exec` (the
    // engine's AgentBackend). Packaged, that is this app's own binary, which does not run as Node
    // (its RunAsNode fuse is off) and would only open a second window. The web host does it.
    dialog.showErrorBox(
      'MPTCP Studio',
      `--netns is not available in the packaged desktop app: use the web host from the source tree ` +
        `(npx mptcp-studio serve --netns ${netnsArg}).`,
    );
    app.exit(2);
    return;
  }

  lockDownSession(session.defaultSession);
  app.on('web-contents-created', (_e, contents) => lockDownContents(contents));
  serveApp(protocol, join(import.meta.dirname, '../renderer'));

  let switcher: SwitchableBackend | null = null;
  const service = openEngine({
    netns: netnsArg,
    // The window never runs as root: the privileged agent at its default socket, when one answers
    // (src-main/engine/agent/discovery.ts), looked for again when its socket appears.
    discoverAgent: { watch: true },
    // The last 15 minutes of every connection and of the timeline, for windows opened later.
    history: { retentionMs: 15 * 60_000 },
    // The Fleet direct mode's host switcher (docs/fleet.md): pages can show a registered remote host.
    wrapBackend: (b: EngineBackend) => (switcher = new SwitchableBackend(b)),
    host: (backend, agentAccess) =>
      createHostHandlers({
        kernel: backend.handlers,
        agentAccess,
        profilesDir: join(app.getPath('userData'), 'profiles'),
        fleet: {
          prometheusUrl: process.env.MPTCP_STUDIO_PROMETHEUS ?? null,
          hostsFile: defaultFleetHostsFile(),
          codec: safeStorageCodec(safeStorage),
          switcher,
        },
      }),
  });
  // What a killed engine left in this namespace and what this one did about it (an interrupted
  // apply undone, a pending change reverted or adopted: src-main/engine/config/journal.ts).
  service.on('mptcp:config:recovered', (r) => process.stderr.write(`mptcp-studio: ${r.message}\n`));
  const unbind = bindIpc(ipcMain, service, APP_URL);

  // The checklist items are written out here, where the window is created, for scanners
  // (Electronegativity) and reviewers reading this line; security.ts has the full set.
  const win = new BrowserWindow({
    width: 1280,
    height: 860,
    title: 'MPTCP Studio',
    show: false,
    webPreferences: {
      ...secureWebPreferences,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      disableBlinkFeatures: 'Auxclick',
      preload: join(import.meta.dirname, '../preload/index.cjs'),
    },
  });
  const stopEvents = forwardEvents(service, win.webContents);
  win.once('ready-to-show', () => win.show());
  void win.loadURL(APP_URL);

  app.on('window-all-closed', () => {
    stopEvents();
    unbind();
    void service.close().finally(() => app.quit());
  });
});
