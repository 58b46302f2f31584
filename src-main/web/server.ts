/**
 * The web host: the built renderer over HTTP and the API contract over WebSocket, for headless
 * servers and for the e2e tests. It binds loopback by default and every request must carry the
 * token printed at start (in the URL; the page then keeps it in an HttpOnly, SameSite=Strict
 * cookie). WebSocket upgrades from a foreign Origin and requests with an unexpected Host header
 * (DNS rebinding) are refused.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  EVENTS_DROPPED_CODE,
  eventNames,
  methods,
  type EventName,
  type EventPayload,
} from '../../shared/contract';
import type { FeedStats } from '../engine/connections-feed';
import { ClientMessageSchema, MAX_WIRE_BYTES } from '../../shared/wire';
import type { EngineService } from '../engine/service';

export const TOKEN_COOKIE = 'mptcp_studio_token';
/** Sent on the WebSocket close when auth fails after upgrade (the renderer maps it to a message). */
export const WS_CLOSE_UNAUTHORIZED = 4401;
/**
 * A client whose socket has more than this unsent is skipped by the connections feed (a slow
 * renderer or link): its next delta is computed against what it last got, so nothing queues.
 * The backlog is then bounded by this plus one message (and the small event streams).
 */
export const FEED_MAX_BUFFERED_BYTES = 1024 * 1024;
/** Streams that are not forwarded as is: the connections feed replaces whole snapshots. */
const NOT_FORWARDED = new Set<EventName>(['mptcp:connections:snapshot', 'mptcp:connections:delta']);
/**
 * Streams dropped, not queued, for a client with more than FEED_MAX_BUFFERED_BYTES unsent: kernel
 * events can come in floods (link flaps, thousands of subflows closing) and a paused tab would
 * otherwise grow ws's buffer without bound. A missed counters sample is healed by the client (it
 * reads the base again when prevTakenAtMs does not match); missed kernel events are lost, so the
 * client is told how many (DROPPED_NOTICE). Rare, small streams (config:pending, engine:error)
 * are always sent.
 */
const DROPPED_WHEN_BEHIND = new Set<EventName>(['mptcp:kernel:event', 'mptcp:counters:sample']);
/** `source` of the mptcp:engine:error that tells a client it missed events while it was behind. */
export const DROPPED_NOTICE_SOURCE = 'web-host';

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
}

export interface ClientStats {
  bufferedAmount: number;
  /** The most bytes the socket had unsent when a feed event was offered. */
  maxBufferedAmount: number;
  feed: FeedStats;
  /** Events not sent because the client was behind (DROPPED_WHEN_BEHIND), since it connected. */
  dropped: { kernelEvents: number; counterSamples: number };
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

function cookieToken(req: IncomingMessage): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, v] = part.trim().split('=');
    if (k === TOKEN_COOKIE && v) return decodeURIComponent(v);
  }
  return null;
}

export async function startWebHost(opts: WebHostOptions): Promise<WebHost> {
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const { service } = opts;
  let port = opts.port ?? 7878;

  const allowedHosts = (): Set<string> =>
    new Set([
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `[::1]:${port}`,
      `${host}:${port}`,
      `[${host}]:${port}`,
    ]);

  /** Who may talk to us: the right Host (no DNS rebinding) and the token, by query or cookie. */
  const authorise = (
    req: IncomingMessage,
  ): { ok: true; viaQuery: boolean } | { ok: false; status: number; why: string } => {
    if (!allowedHosts().has(req.headers.host ?? '')) {
      return { ok: false, status: 421, why: 'unexpected Host header' };
    }
    const url = new URL(req.url ?? '/', 'http://x');
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

  const server = createServer((req, res) => {
    securityHeaders(res);
    const auth = authorise(req);
    if (!auth.ok) {
      res.writeHead(auth.status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`${auth.status === 401 ? 'Unauthorised' : 'Refused'}: ${auth.why}\n`);
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
    void serveStatic(opts.staticDir, req, res);
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WIRE_BYTES });
  const clients = new Map<WebSocket, () => ClientStats>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = authorise(req);
    const origin = req.headers.origin;
    // Browsers always send Origin on WebSocket upgrades; it must be this very host.
    const originOk = origin === undefined || origin === `http://${req.headers.host ?? ''}`;
    if (url.pathname !== '/api' || !auth.ok || !originOk) {
      const status =
        url.pathname !== '/api'
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
      clients.set(ws, serveClient(ws, service));
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
    url: `http://${shownHost}:${port}/?token=${token}`,
    clientStats: () => [...clients.entries()].filter(([ws]) => ws.readyState === ws.OPEN).map(([, s]) => s()),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function serveClient(ws: WebSocket, service: EngineService): () => ClientStats {
  const send = (name: EventName, payload: unknown): void => {
    ws.send(JSON.stringify({ t: 'event', name, payload }));
  };
  let maxBufferedAmount = 0;
  const canTake = (): boolean => ws.readyState === ws.OPEN && ws.bufferedAmount <= FEED_MAX_BUFFERED_BYTES;
  const dropped = { kernelEvents: 0, counterSamples: 0 };
  /** Kernel events dropped since the client was last told. */
  let kernelEventsUntold = 0;
  /** Once the client keeps up again: one notice saying how many kernel events it missed. */
  const tellDrops = (): void => {
    if (kernelEventsUntold === 0 || !canTake()) return;
    const n = kernelEventsUntold;
    kernelEventsUntold = 0;
    const notice: EventPayload<'mptcp:engine:error'> = {
      source: DROPPED_NOTICE_SOURCE,
      code: EVENTS_DROPPED_CODE,
      message: `${n} kernel event${n === 1 ? ' was' : 's were'} dropped while this page was behind`,
    };
    send('mptcp:engine:error', notice);
  };
  const feed = service.subscribeConnections({
    ready: () => {
      maxBufferedAmount = Math.max(maxBufferedAmount, ws.bufferedAmount);
      const ok = canTake();
      // The feed asks at every poll: a client that caught up hears of its drops within a poll
      // interval, even when no other event follows.
      if (ok) tellDrops();
      return ok;
    },
    send: (event) => send('mptcp:connections:delta', event),
  });
  const unsubscribe = eventNames
    .filter((name) => !NOT_FORWARDED.has(name))
    .map((name: EventName) =>
      service.on(name, (payload) => {
        if (ws.readyState !== ws.OPEN) return;
        if (DROPPED_WHEN_BEHIND.has(name) && !canTake()) {
          if (name === 'mptcp:kernel:event') {
            dropped.kernelEvents++;
            kernelEventsUntold++;
          } else dropped.counterSamples++;
          return;
        }
        tellDrops();
        send(name, payload);
      }),
    );
  const reply = (id: number, result: unknown): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ t: 'result', id, result }));
  };
  ws.on('message', (data, isBinary) => {
    if (isBinary || !Buffer.isBuffer(data)) return;
    let msg;
    try {
      msg = ClientMessageSchema.parse(JSON.parse(data.toString('utf8')));
    } catch {
      ws.close(1008, 'malformed message');
      return;
    }
    // This client's own feed: answered here, the engine does not know subscribers.
    if (msg.method === 'mptcp:connections:resync' || msg.method === 'mptcp:connections:ack') {
      const args = methods[msg.method].args.safeParse(msg.args ?? {});
      if (!args.success) {
        reply(msg.id, {
          ok: false,
          error: { code: 'BAD_REQUEST', message: `${msg.method}: invalid arguments` },
        });
        return;
      }
      if ('seq' in args.data) feed.ack(args.data.seq);
      else feed.resync();
      reply(msg.id, { ok: true, value: {} });
      return;
    }
    void service.invoke(msg.method, msg.args).then((result) => reply(msg.id, result));
  });
  ws.on('close', () => {
    feed.close();
    for (const u of unsubscribe) u();
  });
  return () => ({
    bufferedAmount: ws.bufferedAmount,
    maxBufferedAmount,
    feed: { ...feed.stats },
    dropped: { ...dropped },
  });
}

async function serveStatic(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
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
