import { describe, expect, it } from 'vitest';
import {
  APP_SCHEME,
  APP_SCHEME_PRIVILEGES,
  APP_URL,
  appFilePath,
  appProtocolHandler,
  registerAppScheme,
  serveApp,
  type AppRequestLike,
  type CustomSchemeLike,
  type ReadFileLike,
} from './app-protocol';
import { CSP } from './security';

const ROOT = '/opt/mptcp-studio/resources/app.asar/out/renderer';

/** A renderer build in memory; reading anything else fails as fs does. */
function fakeFs(files: Record<string, string>): { readFile: ReadFileLike; reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    readFile: (path) => {
      reads.push(path);
      const text = files[path];
      if (text !== undefined) return Promise.resolve(new TextEncoder().encode(text));
      const error = Object.assign(new Error(`ENOENT: ${path}`), {
        code: path.endsWith('/assets') ? 'EISDIR' : 'ENOENT',
      });
      return Promise.reject(error);
    },
  };
}

const files: Record<string, string> = {
  [`${ROOT}/index.html`]: '<!doctype html><title>MPTCP Studio</title>',
  [`${ROOT}/assets/index-abc.js`]: 'export {};',
  [`${ROOT}/assets/index-abc.css`]: 'body{}',
  [`${ROOT}/favicon.svg`]: '<svg/>',
  [`${ROOT}/assets/font.woff2`]: 'wOF2',
  [`${ROOT}/assets/data.bin`]: '\u0001',
  '/etc/passwd': 'root:x:0:0',
  '/opt/mptcp-studio/resources/app.asar/out/main/main.js': 'secret main',
};

const get = (url: string): AppRequestLike => ({ url, method: 'GET' });

describe('app scheme: paths', () => {
  it('maps the app URL to files under the renderer folder', () => {
    expect(appFilePath(ROOT, APP_URL)).toEqual({ ok: true, file: `${ROOT}/index.html` });
    expect(appFilePath(ROOT, `${APP_SCHEME}://app/`)).toEqual({ ok: true, file: `${ROOT}/index.html` });
    expect(appFilePath(ROOT, `${APP_SCHEME}://app`)).toEqual({ ok: true, file: `${ROOT}/index.html` });
    expect(appFilePath(ROOT, `${APP_SCHEME}://app/assets/index-abc.js?v=1#x`)).toEqual({
      ok: true,
      file: `${ROOT}/assets/index-abc.js`,
    });
    expect(appFilePath(ROOT, `${APP_SCHEME}://app/assets/a%20b.js`)).toEqual({
      ok: true,
      file: `${ROOT}/assets/a b.js`,
    });
  });

  it('refuses paths out of the renderer folder', () => {
    for (const path of [
      '/..%2F..%2Fmain/main.js',
      '/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd',
      '/assets/..%2F..%2F..%2Fmain%2Fmain.js',
      '/%2e%2e%2F%2e%2e%2Fmain/main.js',
      '/%2F..%2F..%2Fetc/passwd',
    ]) {
      expect(appFilePath(ROOT, `${APP_SCHEME}://app${path}`), path).toEqual({ ok: false, status: 403 });
    }
    // Dot segments the URL parser resolves itself stay inside (and name nothing there).
    expect(appFilePath(ROOT, `${APP_SCHEME}://app/../../etc/passwd`)).toEqual({
      ok: true,
      file: `${ROOT}/etc/passwd`,
    });
    expect(appFilePath(ROOT, `${APP_SCHEME}://app/%2e%2e/%2e%2e/etc/passwd`)).toEqual({
      ok: true,
      file: `${ROOT}/etc/passwd`,
    });
    // The folder itself is not a file.
    expect(appFilePath(ROOT, `${APP_SCHEME}://app/assets/..%2F`)).toEqual({ ok: false, status: 403 });
    // A relative root would depend on the working directory.
    expect(appFilePath('out/renderer', APP_URL)).toEqual({ ok: false, status: 403 });
  });

  it('refuses other schemes and hosts, and malformed paths', () => {
    expect(appFilePath(ROOT, 'file:///etc/passwd')).toEqual({ ok: false, status: 404 });
    expect(appFilePath(ROOT, `file://${ROOT}/index.html`)).toEqual({ ok: false, status: 404 });
    expect(appFilePath(ROOT, `${APP_SCHEME}://other/index.html`)).toEqual({ ok: false, status: 404 });
    expect(appFilePath(ROOT, `${APP_SCHEME}://app:8080/index.html`)).toEqual({ ok: false, status: 404 });
    expect(appFilePath(ROOT, 'https://app/index.html')).toEqual({ ok: false, status: 404 });
    expect(appFilePath(ROOT, `${APP_SCHEME}://app/%E0%A4%A`)).toEqual({ ok: false, status: 400 });
    expect(appFilePath(ROOT, `${APP_SCHEME}://app/index.html%00.png`)).toEqual({ ok: false, status: 400 });
    expect(appFilePath(ROOT, `${APP_SCHEME}://app/..%5C..%5Cmain%5Cmain.js`)).toEqual({
      ok: false,
      status: 400,
    });
    expect(appFilePath(ROOT, 'not a url')).toEqual({ ok: false, status: 400 });
  });
});

describe('app scheme: handler', () => {
  it('serves files with their MIME type and the CSP and security headers', async () => {
    const fs = fakeFs(files);
    const handler = appProtocolHandler(ROOT, fs.readFile);
    const cases: [string, string][] = [
      ['/index.html', 'text/html; charset=utf-8'],
      ['/assets/index-abc.js', 'text/javascript; charset=utf-8'],
      ['/assets/index-abc.css', 'text/css; charset=utf-8'],
      ['/favicon.svg', 'image/svg+xml'],
      ['/assets/font.woff2', 'font/woff2'],
      ['/assets/data.bin', 'application/octet-stream'],
    ];
    for (const [path, type] of cases) {
      const res = await handler(get(`${APP_SCHEME}://app${path}`));
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect(res.headers.get('content-security-policy'), path).toBe(CSP);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(await res.text(), path).toBe(files[`${ROOT}${path}`]);
    }
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    const handler = appProtocolHandler(ROOT, fakeFs(files).readFile);
    const head = await handler({ url: APP_URL, method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await head.text()).toBe('');
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const res = await handler({ url: APP_URL, method });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('content-security-policy')).toBe(CSP);
    }
  });

  it('never reads a file out of the renderer folder', async () => {
    const fs = fakeFs(files);
    const handler = appProtocolHandler(ROOT, fs.readFile);
    const traversal = await handler(get(`${APP_SCHEME}://app/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd`));
    expect(traversal.status).toBe(403);
    expect(await traversal.text()).not.toContain('root:');
    expect((await handler(get(`${APP_SCHEME}://app/..%2Fmain%2Fmain.js`))).status).toBe(403);
    expect((await handler(get(`${APP_SCHEME}://app/../../../etc/passwd`))).status).toBe(404);
    expect((await handler(get('file:///etc/passwd'))).status).toBe(404);
    expect(fs.reads.every((f) => f.startsWith(`${ROOT}/`))).toBe(true);
    expect(fs.reads).not.toContain('/etc/passwd');
  });

  it('answers 404 for what is not there, a folder included, and 500 for other read errors', async () => {
    const handler = appProtocolHandler(ROOT, fakeFs(files).readFile);
    expect((await handler(get(`${APP_SCHEME}://app/missing.js`))).status).toBe(404);
    expect((await handler(get(`${APP_SCHEME}://app/assets`))).status).toBe(404);
    const failing = appProtocolHandler(ROOT, () =>
      Promise.reject(Object.assign(new Error('EACCES'), { code: 'EACCES' })),
    );
    const res = await failing(get(APP_URL));
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain('EACCES');
  });
});

describe('app scheme: registration', () => {
  it('registers the scheme as standard and secure, without CSP bypass, then serves it', async () => {
    const registered: CustomSchemeLike[][] = [];
    registerAppScheme({ registerSchemesAsPrivileged: (s) => void registered.push(s) });
    expect(registered).toEqual([[{ scheme: APP_SCHEME, privileges: APP_SCHEME_PRIVILEGES }]]);
    expect(APP_SCHEME_PRIVILEGES).toEqual({ standard: true, secure: true, supportFetchAPI: true });
    for (const risky of ['bypassCSP', 'corsEnabled', 'allowServiceWorkers', 'stream']) {
      expect(APP_SCHEME_PRIVILEGES).not.toHaveProperty(risky);
    }

    const handlers = new Map<string, (r: AppRequestLike) => Promise<Response>>();
    serveApp({ handle: (scheme, h) => void handlers.set(scheme, h) }, ROOT, fakeFs(files).readFile);
    expect([...handlers.keys()]).toEqual([APP_SCHEME]);
    const res = await handlers.get(APP_SCHEME)!(get(APP_URL));
    expect(res.status).toBe(200);
    expect(APP_URL).toBe('mptcp-studio://app/index.html');
  });
});
