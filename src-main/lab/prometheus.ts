/**
 * A real Prometheus server (Debian's `prometheus`) for tests and benches: a temporary config and
 * data directory, listening on 127.0.0.1 and a free port, stopped by its pid. Scrape targets are
 * loopback addresses only (the exporters of lab namespaces listen on the host's loopback).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild } from './exporter-process';

export interface ScrapeJob {
  job: string;
  /** host:port → extra target labels. */
  targets: { address: string; labels?: Record<string, string> }[];
  /** Default /metrics. */
  metricsPath?: string;
  /** URL parameters (federation's match[]). */
  params?: Record<string, string[]>;
  honorLabels?: boolean;
}

export interface PrometheusProcess {
  child: ChildProcess;
  pid: number;
  /** http://127.0.0.1:PORT */
  url: string;
  dataDir: string;
  /** Instant query; throws on an API error (status "error"), with Prometheus's message. */
  query(expr: string, timeSeconds?: number): Promise<PromVectorSample[]>;
  stop(): Promise<void>;
}

export interface PromVectorSample {
  metric: Record<string, string>;
  /** [unix seconds, value text] */
  value: [number, string];
}

/** A port nobody listens on now, on 127.0.0.1 (a race with other processes is retried by callers). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = addr && typeof addr === 'object' ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The prometheus.yml for `jobs` (YAML is a superset of JSON: written as JSON). */
export function prometheusConfig(jobs: ScrapeJob[], scrapeIntervalS: number): string {
  return JSON.stringify(
    {
      global: { scrape_interval: `${scrapeIntervalS}s`, evaluation_interval: `${scrapeIntervalS}s` },
      scrape_configs: jobs.map((j) => ({
        job_name: j.job,
        metrics_path: j.metricsPath ?? '/metrics',
        ...(j.params ? { params: j.params } : {}),
        ...(j.honorLabels ? { honor_labels: true } : {}),
        static_configs: j.targets.map((t) => ({ targets: [t.address], labels: t.labels ?? {} })),
      })),
    },
    null,
    2,
  );
}

export async function startPrometheus(
  jobs: ScrapeJob[],
  opts: { scrapeIntervalS?: number; dataDir?: string; extraArgs?: string[] } = {},
): Promise<PrometheusProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'mpst-prom-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, prometheusConfig(jobs, opts.scrapeIntervalS ?? 1));
  const dataDir = opts.dataDir ?? join(dir, 'data');
  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
      ...(opts.extraArgs ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const stop = async (): Promise<void> => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`prometheus exited (${code}): ${stderr}`))),
  );
  exited.catch(() => undefined);
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ready = await fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (child.exitCode !== null) await exited;
      if (Date.now() > deadline) throw new Error(`prometheus not ready after 30 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const query = async (expr: string, timeSeconds?: number): Promise<PromVectorSample[]> => {
    const params = new URLSearchParams({ query: expr });
    if (timeSeconds !== undefined) params.set('time', String(timeSeconds));
    const res = await fetch(`${url}/api/v1/query`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: params.toString(),
    });
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: unknown };
    };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? `HTTP ${res.status}`}`);
    const r = body.data?.result;
    if (body.data?.resultType === 'scalar') {
      return [{ metric: {}, value: r as [number, string] }];
    }
    return r as PromVectorSample[];
  };
  return { child, pid: child.pid ?? -1, url, dataDir, query, stop };
}
