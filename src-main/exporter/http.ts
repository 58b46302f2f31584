/**
 * The exporter's HTTP endpoint: GET /metrics in the Prometheus text format (version 0.0.4), a
 * one-line page at /, 404 elsewhere. Read-only: nothing served here changes the host, so it needs
 * no token (as node_exporter); bind it where only the Prometheus servers can reach it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { MetricsCollector, type EngineService } from '../engine/index';
import { createExporterRegistry, type ExporterRegistry } from './registry';

export interface ExporterServer {
  server: Server;
  /** `http://host:port/metrics` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Answers a GET or HEAD of the metrics path; the caller routes. A failed read is a 500 with the
 * reason (Prometheus then records the target as down, `up` 0).
 */
export function serveMetrics(reg: ExporterRegistry, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  reg.render().then(
    (text) => {
      res.writeHead(200, { 'Content-Type': reg.contentType, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
    },
    (err: unknown) => {
      if (res.headersSent) return void res.end();
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`scrape failed: ${err instanceof Error ? err.message : String(err)}\n`);
    },
  );
}

/** Splits `ADDR:PORT`, `[v6]:PORT` or `:PORT` (all addresses). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new Error(`--listen must be ADDR:PORT, [ADDR]:PORT or :PORT, not "${listen}"`);
  }
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '::' : host, port };
}

export async function startExporterServer(
  reg: ExporterRegistry,
  listen: { host: string; port: number },
): Promise<ExporterServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') return serveMetrics(reg, req, res);
    if (path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>MPTCP Studio exporter</title><a href="/metrics">/metrics</a>\n');
      return;
    }
    res.writeHead(404).end();
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const addr = server.address();
  const port = addr && typeof addr === 'object' ? addr.port : listen.port;
  const shown = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    server,
    port,
    url: `http://${shown}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The exporter on `listen` for an engine that is already open (the `exporter` command, and
 * `serve` or `agent` given --metrics-listen): a collector, its registry and the HTTP endpoint.
 * Closing it stops the collector's poll and event counts, not the engine.
 */
export async function startMetricsEndpoint(
  service: EngineService,
  listen: string,
  opts: { perConnectionLimit?: number | null } = {},
): Promise<ExporterServer & { collector: MetricsCollector }> {
  const collector = new MetricsCollector(service, { perConnectionLimit: opts.perConnectionLimit ?? null });
  collector.start();
  try {
    const server = await startExporterServer(createExporterRegistry(collector), parseListen(listen));
    return {
      ...server,
      collector,
      close: async () => {
        collector.close();
        await server.close();
      },
    };
  } catch (e) {
    collector.close();
    throw e;
  }
}
