/**
 * Electron security checklist, applied in one place (each item names the checklist entry it
 * implements: https://www.electronjs.org/docs/latest/tutorial/security). Imports nothing: the web
 * host's module (and with it ws and http) stays out of Electron's graph.
 */

/**
 * 7: the Content-Security-Policy of every page Electron loads. The web host's `CSP` (web/server.ts)
 * less `ws: wss:` in connect-src: the window speaks to the engine over IPC, never a socket
 * (security.test.ts checks it stays at least as strict as the web host's). It is written out again,
 * as the same literal, where lockDownSession sets the header, so that Electronegativity evaluates
 * the policy (it reads only a literal there); the test checks that the two are the same.
 */
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/**
 * 2, 3, 4: contextIsolation, sandbox, no nodeIntegration; 6: webSecurity on; 8: no insecure content;
 * 9: no experimental features; 10: no enableBlinkFeatures, and Auxclick (middle-click opening a link
 * in a new window) disabled; 12: no <webview>. main.ts also writes the first four out literally
 * where it creates the window, for scanners and reviewers that read only that line.
 */
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
  disableBlinkFeatures: 'Auxclick',
  spellcheck: false,
} as const;

export interface NavigationEventLike {
  preventDefault(): void;
}

export interface WebContentsSecurityLike {
  on(
    event: 'will-navigate' | 'will-frame-navigate' | 'will-redirect' | 'will-attach-webview',
    listener: (e: NavigationEventLike) => void,
  ): void;
  setWindowOpenHandler(handler: () => { action: 'deny' }): void;
}

/**
 * 13, 14: deny navigation (of the page and of any frame), redirects and new windows; 12: no
 * <webview>. The app is one page: it never navigates, and it opens no window nor external link.
 */
export function lockDownContents(contents: WebContentsSecurityLike): void {
  contents.on('will-navigate', (e) => e.preventDefault());
  contents.on('will-frame-navigate', (e) => e.preventDefault());
  contents.on('will-redirect', (e) => e.preventDefault());
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

export type ResponseHeaders = Record<string, string[] | string>;

export interface SessionLike {
  setPermissionRequestHandler(
    h: (wc: unknown, permission: string, cb: (granted: boolean) => void) => void,
  ): void;
  setPermissionCheckHandler(h: () => boolean): void;
  webRequest: {
    onHeadersReceived(
      h: (
        details: { responseHeaders?: ResponseHeaders },
        cb: (r: { responseHeaders: ResponseHeaders }) => void,
      ) => void,
    ): void;
  };
}

/** 5: permission requests and checks denied (the app needs none); 7: our CSP on every response. */
export function lockDownSession(session: SessionLike): void {
  session.setPermissionRequestHandler((_wc, _permission, cb) => cb(false));
  session.setPermissionCheckHandler(() => false);
  session.webRequest.onHeadersReceived((details, cb) => {
    // The same literal as CSP above (see there).
    cb({
      responseHeaders: {
        ...(details.responseHeaders ?? {}),
        'Content-Security-Policy': [
          "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
        ],
      },
    });
  });
}
