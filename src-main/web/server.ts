/**
 * The web host: the built renderer over HTTP and the API contract over WebSocket, for headless
 * servers and for the e2e tests. It binds loopback by default and every request must carry the
 * token printed at start (in the URL; the page then keeps it in an HttpOnly, SameSite=Strict
 * cookie). WebSocket upgrades from a foreign Origin and requests with an unexpected Host header
 * (DNS rebinding) are refused.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { EventPayload } from '../../shared/contract';
import { ClientMessageSchema, MAX_CALL_BYTES } from '../../shared/wire';
import type { EngineService } from '../engine/index';
import { Session, type SessionStats } from '../session/session';

export { DROPPED_NOTICE_SOURCE } from '../session/session';

export const TOKEN_COOKIE = 'mptcp_studio_token';
/** Sent on the WebSocket close when auth fails after upgrade (the renderer maps it to a message). */
export const WS_CLOSE_UNAUTHORIZED = 4401;
/**
 * A client whose socket has more than this unsent is skipped by the connections feed (a slow
 * renderer or link): its next delta is computed against what it last got, so nothing queues.
 * The backlog is then bounded by this plus one message (and the small event streams).
 */
export const FEED_MAX_BUFFERED_BYTES = 1024 * 1024;

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

export interface WebHostOptions {
  service: EngineService;
  /** Directory with the built renderer (out/renderer). */
  staticDir: string;
  host?: string;
  port?: number;
  token?: string;
  /**
   * Where a line goes for every call of a writing method (shared/contract.ts `writes`), as the
   * privileged agent logs them: a web host run as root writes the kernel itself.
   */
  audit?: (entry: Record<string, unknown>) => void;
  /** Serve HTTPS and WSS with this certificate and key (PEM); plain HTTP without. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * Names this host is reached by besides its bind address (a DNS name in its certificate), that
   * the Host and Origin checks accept, with the port (`name:port`) or without it for
   * default-port URLs behind a proxy.
   */
  publicNames?: string[];
}

export interface ClientStats extends SessionStats {
  bufferedAmount: number;
  /** The most bytes the socket had unsent when the session asked whether it keeps up. */
  maxBufferedAmount: number;
}

export interface WebHost {
  server: Server;
  /** Per connected client (tests, diagnostics). */
  clientStats(): ClientStats[];
  url: string;
  token: string;
  port: number;
  close(): Promise<void>;
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * The token cookie's value, or null. Runs before authentication on every request: a malformed
 * value (a bad `%` escape) is no token, never an exception (decodeURIComponent throws URIError).
 */
export function cookieToken(req: IncomingMessage): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, v] = part.trim().split('=');
    if (k === TOKEN_COOKIE && v) return safeDecode(v);
  }
  return null;
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/**
 * `req.url` as a URL, or null: a request target such as `//[` is an authority that does not
 * parse, and `new URL` throws on it (before authentication).
 */
function requestUrl(req: IncomingMessage): URL | null {
  try {
    return new URL(req.url ?? '/', 'http://x');
  } catch {
    return null;
  }
}

export async function startWebHost(opts: WebHostOptions): Promise<WebHost> {
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const { service } = opts;
  let port = opts.port ?? 7878;

  const scheme = opts.tls ? 'https' : 'http';
  const allowedHosts = (): Set<string> =>
    new Set([
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `[::1]:${port}`,
      `${host}:${port}`,
      `[${host}]:${port}`,
      ...(opts.publicNames ?? []).flatMap((n) => (n.includes(':') ? [n] : [`${n}:${port}`])),
    ]);

  /** Who may talk to us: the right Host (no DNS rebinding) and the token, by query or cookie. */
  const authorise = (
    req: IncomingMessage,
  ): { ok: true; viaQuery: boolean } | { ok: false; status: number; why: string } => {
    if (!allowedHosts().has(req.headers.host ?? '')) {
      return { ok: false, status: 421, why: 'unexpected Host header' };
    }
    const url = requestUrl(req);
    if (!url) return { ok: false, status: 400, why: 'malformed request target' };
    const q = url.searchParams.get('token');
    if (q !== null && safeEqual(q, token)) return { ok: true, viaQuery: true };
    const c = cookieToken(req);
    if (c !== null && safeEqual(c, token)) return { ok: true, viaQuery: false };
    return {
      ok: false,
      status: 401,
      why: 'missing or wrong token: open the URL printed by `mptcp-studio serve`',
    };
  };

  const securityHeaders = (res: ServerResponse): void => {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    securityHeaders(res);
    const auth = authorise(req);
    if (!auth.ok) {
      res.writeHead(auth.status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(
        `${auth.status === 401 ? 'Unauthorised' : auth.status === 400 ? 'Bad request' : 'Refused'}: ${auth.why}\n`,
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (auth.viaQuery) {
      res.setHeader(
        'Set-Cookie',
        `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
      );
    }
    serveStatic(opts.staticDir, req, res).catch(() => {
      // serveStatic answers every request itself; this is for a response that failed mid-way
      // (the client went away): end it, never let the rejection end the process.
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
  // With TLS, a plain-HTTP request never gets an answer: the handshake fails and the socket closes.
  const server: Server = opts.tls
    ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler)
    : createServer(handler);
  // A socket error (a reset mid-request, a write after the peer left) ends that socket only.
  server.on('clientError', (_err, socket: Duplex) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  // What a client may send in one message is far less than what it receives (a 10,000-connection
  // snapshot): calls carry at most a profile (MAX_CALL_BYTES). A larger frame closes the socket
  // with 1009 (RFC 6455 section 7.4.1) and ws reports it as an 'error' on that socket only.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CALL_BYTES });
  wss.on('error', () => undefined);
  const clients = new Map<WebSocket, () => ClientStats>();
  // A host recovers what a killed engine left (src-main/engine/config/journal.ts) before any page
  // connects: each page that connects later is told, so the outcome is visible where the user is.
  const recoveries: EventPayload<'mptcp:config:recovered'>[] = [];
  const stopRecoveries = service.on('mptcp:config:recovered', (r) => {
    recoveries.push(r);
    if (recoveries.length > 20) recoveries.shift();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Until ws takes the socket over, its errors (a reset during the handshake) are ours to catch.
    socket.on('error', () => socket.destroy());
    const url = requestUrl(req);
    const auth = authorise(req);
    const origin = req.headers.origin;
    // Browsers always send Origin on WebSocket upgrades; it must be this very host.
    const originOk = origin === undefined || origin === `${scheme}://${req.headers.host ?? ''}`;
    if (url?.pathname !== '/api' || !auth.ok || !originOk) {
      const status =
        url?.pathname !== '/api'
          ? '404 Not Found'
          : !originOk
            ? '403 Forbidden'
            : auth.ok
              ? '400'
              : `${auth.status} Unauthorized`;
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // RFC 6455 protocol errors (invalid UTF-8, an unmasked frame, a reserved opcode or RSV bit,
      // an oversized control frame, a bad close code, a stray continuation, a frame over
      // maxPayload): ws closes the socket with the matching status code and emits 'error' here.
      // Without a listener, that 'error' would end the whole web host.
      ws.on('error', () => ws.terminate());
      const peer = `websocket ${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
      clients.set(ws, serveClient(ws, service, peer, opts.audit));
      for (const r of recoveries)
        ws.send(JSON.stringify({ t: 'event', name: 'mptcp:config:recovered', payload: r }));
      ws.on('close', () => clients.delete(ws));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  if (addr && typeof addr === 'object') port = addr.port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server,
    token,
    port,
    url: `${scheme}://${shownHost}:${port}/?token=${token}`,
    clientStats: () => [...clients.entries()].filter(([ws]) => ws.readyState === ws.OPEN).map(([, s]) => s()),
    close: () =>
      new Promise<void>((resolve) => {
        stopRecoveries();
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function serveClient(
  ws: WebSocket,
  service: EngineService,
  peer: string,
  audit: WebHostOptions['audit'],
): () => ClientStats {
  let maxBufferedAmount = 0;
  const session = new Session(
    service,
    {
      send: (name, payload) => ws.send(JSON.stringify({ t: 'event', name, payload })),
      isOpen: () => ws.readyState === ws.OPEN,
      canTake: () => {
        maxBufferedAmount = Math.max(maxBufferedAmount, ws.bufferedAmount);
        return ws.readyState === ws.OPEN && ws.bufferedAmount <= FEED_MAX_BUFFERED_BYTES;
      },
    },
    { peer, dropWhenBehind: true, ...(audit ? { audit } : {}) },
  );
  const reply = (id: number, result: unknown): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ t: 'result', id, result }));
  };
  const onMessage = (data: RawData, isBinary: boolean): void => {
    if (isBinary || !Buffer.isBuffer(data)) {
      ws.close(1003, 'binary messages are not part of the protocol');
      return;
    }
    let msg;
    try {
      msg = ClientMessageSchema.parse(JSON.parse(data.toString('utf8')));
    } catch {
      ws.close(1008, 'malformed message');
      return;
    }
    const { id } = msg;
    // call never rejects (it returns a Result); a failure to send (socket gone) must not either.
    session
      .call(msg.method, msg.args)
      .then((result) => reply(id, result))
      .catch(() => undefined);
  };
  ws.on('message', (data, isBinary) => {
    // A listener that throws would throw inside ws's frame parser, past every socket: contain it.
    try {
      onMessage(data, isBinary);
    } catch {
      ws.close(1011, 'internal error');
    }
  });
  ws.on('close', () => session.close());
  return () => ({ bufferedAmount: ws.bufferedAmount, maxBufferedAmount, ...session.stats() });
}

async function serveStatic(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = requestUrl(req)?.pathname;
  const pathname = raw === undefined ? null : safeDecode(raw);
  if (pathname === null || pathname.includes('\0')) {
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Bad request: malformed path\n');
    return;
  }
  const rel = pathname === '/' ? 'index.html' : pathname.slice(1);
  const file = normalize(join(root, rel));
  if (!file.startsWith(normalize(root) + sep)) {
    res.writeHead(403).end();
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, {
      'Content-Type': MIME[extname(file)] ?? 'application/octet-stream',
      'Cache-Control': rel === 'index.html' ? 'no-store' : 'max-age=3600',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch {
    if (rel === 'index.html') {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('The renderer is not built: run `npm run build` first.\n');
    } else {
      res.writeHead(404).end();
    }
  }
}
