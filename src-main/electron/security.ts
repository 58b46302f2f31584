/**
 * Electron security checklist, applied in one place (each item names the checklist entry it
 * implements: https://www.electronjs.org/docs/latest/tutorial/security).
 */
import { CSP } from '../web/server';

/** 2, 3, 4: contextIsolation, sandbox, no nodeIntegration; 6: webSecurity on; 5: no insecure content. */
export const secureWebPreferences = {
  contextIsolation: true,
  sandbox: true,
  nodeIntegration: false,
  nodeIntegrationInWorker: false,
  nodeIntegrationInSubFrames: false,
  webSecurity: true,
  allowRunningInsecureContent: false,
  experimentalFeatures: false,
  webviewTag: false,
  spellcheck: false,
} as const;

export interface WebContentsSecurityLike {
  on(
    event: 'will-navigate' | 'will-attach-webview' | 'will-redirect',
    listener: (e: { preventDefault(): void }) => void,
  ): void;
  setWindowOpenHandler(handler: () => { action: 'deny' }): void;
}

/** 13, 14: deny navigation and new windows; 12: no <webview>. */
export function lockDownContents(contents: WebContentsSecurityLike): void {
  contents.on('will-navigate', (e) => e.preventDefault());
  contents.on('will-redirect', (e) => e.preventDefault());
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

export interface SessionLike {
  setPermissionRequestHandler(
    h: (wc: unknown, permission: string, cb: (granted: boolean) => void) => void,
  ): void;
  setPermissionCheckHandler(h: () => boolean): void;
  webRequest: {
    onHeadersReceived(
      h: (
        details: { responseHeaders?: Record<string, string[] | string> },
        cb: (r: { responseHeaders: Record<string, string[] | string> }) => void,
      ) => void,
    ): void;
  };
}

/** 5: permission requests denied (the app needs none); 7: a CSP on every response. */
export function lockDownSession(session: SessionLike): void {
  session.setPermissionRequestHandler((_wc, _permission, cb) => cb(false));
  session.setPermissionCheckHandler(() => false);
  session.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: { ...(details.responseHeaders ?? {}), 'Content-Security-Policy': [CSP] } });
  });
}
