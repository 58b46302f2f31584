/**
 * The renderer over a custom privileged scheme instead of file:// (security checklist 18): the
 * window loads mptcp-studio://app/index.html, answered from out/renderer only, each response with
 * the CSP as a header. A page on file:// could read any file the user can and shares its origin
 * with every other local file; this one has an origin of its own and reaches only the built renderer.
 * Written against structural types, so tests exercise it with fakes and without Electron.
 */
import { readFile as fsReadFile } from 'node:fs/promises';
import { extname, isAbsolute, join, normalize, sep } from 'node:path';
import { CSP } from './security';

export const APP_SCHEME = 'mptcp-studio';
export const APP_HOST = 'app';
/** The page the window loads; also the only sender the IPC binding answers (ipc.ts). */
export const APP_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

/**
 * standard: URLs resolve like http ones (relative paths, an origin of its own that CSP 'self'
 * means); secure: a secure context, as https; supportFetchAPI: fetch() may read the app's own
 * files. Deliberately not bypassCSP, corsEnabled, allowServiceWorkers nor stream.
 */
export const APP_SCHEME_PRIVILEGES = { standard: true, secure: true, supportFetchAPI: true } as const;

/** Content types of what the renderer build holds; anything else goes as octet-stream (nosniff). */
export const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** Headers of every response of the scheme (the web host sends the same set, web/server.ts). */
const SECURITY_HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

export type AppPath = { ok: true; file: string } | { ok: false; status: 400 | 403 | 404 };

/**
 * The file under `root` (absolute) that `url` names: 404 for another scheme or host, 400 for a
 * malformed path, 403 for one that leads out of `root` (`..%2F` decodes to `../` after the URL
 * parser has resolved its own dot segments).
 */
export function appFilePath(root: string, url: string): AppPath {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { ok: false, status: 400 };
  }
  if (u.protocol !== `${APP_SCHEME}:` || u.host !== APP_HOST) return { ok: false, status: 404 };
  let pathname: string;
  try {
    pathname = decodeURIComponent(u.pathname);
  } catch {
    return { ok: false, status: 400 };
  }
  // No NUL, and no backslash (a separator on Windows; no file of the build has one).
  if (pathname.includes('\0') || pathname.includes('\\')) return { ok: false, status: 400 };
  const base = normalize(root);
  if (!isAbsolute(base)) return { ok: false, status: 403 };
  const rel = pathname === '' || pathname === '/' ? 'index.html' : pathname.slice(1);
  const file = normalize(join(base, rel));
  const inside = base.endsWith(sep) ? base : base + sep;
  if (!file.startsWith(inside) || file.length === inside.length) return { ok: false, status: 403 };
  return { ok: true, file };
}

export interface AppRequestLike {
  url: string;
  method: string;
}
export type ReadFileLike = (path: string) => Promise<Uint8Array>;

function plain(status: number, text: string): Response {
  return new Response(text, {
    status,
    headers: { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' },
  });
}

/** The scheme's handler: GET and HEAD of files under `root`, nothing else. */
export function appProtocolHandler(
  root: string,
  readFile: ReadFileLike = fsReadFile,
): (request: AppRequestLike) => Promise<Response> {
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return plain(405, 'Method Not Allowed');
    const where = appFilePath(root, request.url);
    if (!where.ok) {
      return plain(
        where.status,
        where.status === 403 ? 'Forbidden' : where.status === 400 ? 'Bad Request' : 'Not Found',
      );
    }
    let body: Uint8Array;
    try {
      body = await readFile(where.file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return plain(404, 'Not Found');
      return plain(500, 'Internal Server Error');
    }
    const type = MIME[extname(where.file).toLowerCase()] ?? 'application/octet-stream';
    return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), {
      status: 200,
      headers: { ...SECURITY_HEADERS, 'Content-Type': type },
    });
  };
}

export interface CustomSchemeLike {
  scheme: string;
  privileges: typeof APP_SCHEME_PRIVILEGES;
}
export interface ProtocolLike {
  registerSchemesAsPrivileged(schemes: CustomSchemeLike[]): void;
  handle(scheme: string, handler: (request: AppRequestLike) => Promise<Response>): void;
}

/** Before the app's 'ready' (Electron accepts it only then, and only once). */
export function registerAppScheme(protocol: Pick<ProtocolLike, 'registerSchemesAsPrivileged'>): void {
  protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: APP_SCHEME_PRIVILEGES }]);
}

/** After 'ready': answer the scheme from `root` (out/renderer). */
export function serveApp(
  protocol: Pick<ProtocolLike, 'handle'>,
  root: string,
  readFile?: ReadFileLike,
): void {
  protocol.handle(APP_SCHEME, appProtocolHandler(root, readFile));
}
