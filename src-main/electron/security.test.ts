import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CSP as WEB_CSP } from '../web/server';
import {
  CSP,
  lockDownContents,
  lockDownSession,
  secureWebPreferences,
  type NavigationEventLike,
  type ResponseHeaders,
  type SessionLike,
} from './security';

/** directive → its sources (lower-cased directive names; sources as written). */
function parseCsp(policy: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of policy.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name && !out.has(name.toLowerCase())) out.set(name.toLowerCase(), sources);
  }
  return out;
}

/** Where a fetch directive that is absent takes its sources from (CSP3). */
const FALLBACK: Record<string, string[]> = {
  'script-src': ['default-src'],
  'style-src': ['default-src'],
  'img-src': ['default-src'],
  'connect-src': ['default-src'],
  'font-src': ['default-src'],
  'object-src': ['default-src'],
  'media-src': ['default-src'],
  'manifest-src': ['default-src'],
  'child-src': ['default-src'],
  'frame-src': ['child-src', 'default-src'],
  'worker-src': ['child-src', 'script-src', 'default-src'],
};

/** The sources a directive allows in a policy; null when the policy does not restrict it. */
function effective(policy: Map<string, string[]>, directive: string): string[] | null {
  for (const d of [directive, ...(FALLBACK[directive] ?? [])]) {
    const sources = policy.get(d);
    if (sources) return sources;
  }
  return null;
}

/** Every restriction of `base` holds in `policy` too, with no source that `base` does not allow. */
function atLeastAsStrict(policy: string, base: string): string[] {
  const p = parseCsp(policy);
  const b = parseCsp(base);
  const problems: string[] = [];
  for (const d of new Set([...b.keys(), ...p.keys(), ...Object.keys(FALLBACK), 'default-src'])) {
    const allowed = effective(b, d);
    if (allowed === null) continue;
    const ours = effective(p, d);
    if (ours === null) problems.push(`${d}: unrestricted`);
    else for (const s of ours) if (s !== "'none'" && !allowed.includes(s)) problems.push(`${d}: ${s}`);
  }
  return problems;
}

describe('Electron CSP', () => {
  it("is at least as strict as the web host's, less its WebSocket sources", () => {
    expect(atLeastAsStrict(CSP, WEB_CSP)).toEqual([]);
    expect(parseCsp(CSP).get('connect-src')).toEqual(["'self'"]);
    // The comparison does catch a wider policy.
    expect(atLeastAsStrict(WEB_CSP, CSP)).toEqual(['connect-src: ws:', 'connect-src: wss:']);
    expect(atLeastAsStrict(CSP.replace("object-src 'none'; ", ''), WEB_CSP)).toEqual(["object-src: 'self'"]);
    expect(atLeastAsStrict(CSP.replace("base-uri 'none'; ", ''), WEB_CSP)).toEqual([
      'base-uri: unrestricted',
    ]);
  });

  it('has no inline or eval script, no plugins, no base, no framing, no form target', () => {
    const p = parseCsp(CSP);
    expect(p.get('script-src')).toEqual(["'self'"]);
    expect(p.get('object-src')).toEqual(["'none'"]);
    expect(p.get('base-uri')).toEqual(["'none'"]);
    expect(p.get('frame-ancestors')).toEqual(["'none'"]);
    expect(p.get('form-action')).toEqual(["'none'"]);
  });
});

function fakeSession() {
  let request: Parameters<SessionLike['setPermissionRequestHandler']>[0] | null = null;
  let check: (() => boolean) | null = null;
  let headers: Parameters<SessionLike['webRequest']['onHeadersReceived']>[0] | null = null;
  const session: SessionLike = {
    setPermissionRequestHandler: (h) => void (request = h),
    setPermissionCheckHandler: (h) => void (check = h),
    webRequest: { onHeadersReceived: (h) => void (headers = h) },
  };
  return {
    session,
    request: () => request,
    check: () => check,
    /** What the headers hook answers for a response with these headers. */
    respond(responseHeaders?: ResponseHeaders): ResponseHeaders | undefined {
      let out: ResponseHeaders | undefined;
      headers?.(responseHeaders ? { responseHeaders } : {}, (r) => (out = r.responseHeaders));
      return out;
    },
  };
}

describe('Electron session lock-down', () => {
  it('denies every permission request and check', () => {
    const fake = fakeSession();
    lockDownSession(fake.session);
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal']) {
      const answers: boolean[] = [];
      fake.request()?.({}, permission, (granted) => answers.push(granted));
      expect(answers, permission).toEqual([false]);
    }
    expect(fake.check()?.()).toBe(false);
  });

  it('puts the CSP (the exported literal) on every response and keeps its other headers', () => {
    const fake = fakeSession();
    lockDownSession(fake.session);
    expect(fake.respond()).toEqual({ 'Content-Security-Policy': [CSP] });
    expect(
      fake.respond({ 'Content-Type': ['text/html'], 'Content-Security-Policy': ['default-src *'] }),
    ).toEqual({ 'Content-Type': ['text/html'], 'Content-Security-Policy': [CSP] });
  });
});

describe('Electron security settings', () => {
  it('keeps the checklist items on', () => {
    expect(secureWebPreferences).toMatchObject({
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
    });
    expect(secureWebPreferences).not.toHaveProperty('enableBlinkFeatures');
    expect(secureWebPreferences).not.toHaveProperty('preload');
  });

  it('denies navigation of the page and its frames, redirects, webviews and new windows', () => {
    const listeners = new Map<string, (e: NavigationEventLike) => void>();
    let openHandler: (() => { action: string }) | null = null;
    lockDownContents({
      on: (ev, l) => void listeners.set(ev, l),
      setWindowOpenHandler: (h) => {
        openHandler = h;
      },
    });
    for (const ev of ['will-navigate', 'will-frame-navigate', 'will-redirect', 'will-attach-webview']) {
      let prevented = false;
      listeners.get(ev)?.({ preventDefault: () => (prevented = true) });
      expect(prevented, ev).toBe(true);
    }
    expect(openHandler).not.toBeNull();
    expect(openHandler!()).toEqual({ action: 'deny' });
  });
});

/** Relative imports of a module, resolved to files (.ts, or index.ts of a folder). */
function localImports(file: string): { local: string[]; packages: string[] } {
  const text = readFileSync(file, 'utf8');
  const specs = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g),
  ].map((m) => (m[1] ?? m[2])!);
  const local: string[] = [];
  const packages: string[] = [];
  for (const spec of specs) {
    if (!spec.startsWith('.')) {
      packages.push(spec);
      continue;
    }
    const base = resolve(dirname(file), spec);
    const found = [`${base}.ts`, join(base, 'index.ts'), base].find(
      (f) => existsSync(f) && f.endsWith('.ts'),
    );
    if (found) local.push(found);
  }
  return { local, packages };
}

describe("Electron's module graph", () => {
  it('leaves the web host (and with it an HTTP server) out; ws only as the remote-host client', () => {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const queue = ['main.ts', 'preload.ts'].map((f) => join(import.meta.dirname, f));
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const { local, packages: p } = localImports(file);
      queue.push(...local);
      for (const name of p) packages.add(name);
    }
    const web = join(import.meta.dirname, '..', 'web');
    expect(seen.size).toBeGreaterThan(10); // the walk does reach the engine
    expect([...seen].filter((f) => f.startsWith(web))).toEqual([]);
    expect([...packages].filter((p) => ['http', 'node:http', 'https', 'node:https'].includes(p))).toEqual([]);
    // The desktop app may reach remote `mptcp-studio serve` hosts (the Fleet's direct mode), and
    // Node 20 has no WebSocket client of its own: ws may come in, but only through that client.
    const wsUsers = [...seen]
      .filter((f) => [...localImports(f).packages].includes('ws'))
      .map((f) => f.slice(f.indexOf('src-main/')));
    expect(wsUsers.filter((f) => !f.startsWith('src-main/host/fleet/'))).toEqual([]);
  });
});

describe('Electron packaging', () => {
  it('flips the fuses (electron-builder.yml electronFuses)', () => {
    const yml = readFileSync(join(import.meta.dirname, '..', '..', 'electron-builder.yml'), 'utf8');
    const block = /^electronFuses:\n((?:[ \t]+.*\n?)+)/m.exec(yml)?.[1] ?? '';
    const fuses = Object.fromEntries(
      [...block.matchAll(/^[ \t]+(\w+):[ \t]*(true|false)[ \t]*$/gm)].map((m) => [m[1], m[2] === 'true']),
    );
    expect(fuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true,
      enableEmbeddedAsarIntegrityValidation: true,
      enableCookieEncryption: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });
});
