/**
 * The Fleet page's host side against real parts:
 * - Prometheus: two lab namespaces' exporters scraped by one Prometheus, federated by a second
 *   (the NorNet layout of docs/fleet.md: a site's Prometheus and a top-level one); the overview
 *   read from the top-level one matches `ss`, and an exporter killed is shown down.
 * - Direct mode over TLS: three lab web hosts (`serve --tls-cert --tls-key`, a self-signed
 *   certificate made with openssl), probed from the registry; one killed is down and comes back
 *   when restarted; a wrong token, plain HTTP to the TLS port, and plain HTTP off loopback are
 *   refused; the registry file is 0600.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startExporter, stopChild, type ExporterProcess } from '../../lab/exporter-process';
import { ssMptcpCount, ssSubflows } from '../../lab/kernel-views';
import { Lab, labUnavailableReason, waitFor } from '../../lab/lab';
import { startPrometheus, type PrometheusProcess } from '../../lab/prometheus';
import { fleetHandlers } from './handlers';
import { readFleetOverview } from './overview';
import { PrometheusApi } from './prometheus-api';

const skip = labUnavailableReason();

describe.skipIf(skip !== null)('Fleet overview from a Prometheus that federates the lab Prometheus', () => {
  const labs: Lab[] = [];
  const exporters: ExporterProcess[] = [];
  let site: PrometheusProcess | null = null;
  let top: PrometheusProcess | null = null;

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const lab = await Lab.create({ paths: 2 });
      labs.push(lab);
      await lab.startServer(5201);
      await lab.openConnections(i + 2, { rateBytesPerSec: 50_000 });
      await lab.waitFor(
        'two subflows per connection',
        () => ssSubflows(lab.client),
        (s) => s.length === 2 * (i + 2),
      );
      exporters.push(await startExporter(lab.client));
    }
    site = await startPrometheus([
      { job: 'mptcp', targets: exporters.map((e) => ({ address: new URL(e.url).host })) },
    ]);
    top = await startPrometheus([
      {
        job: 'federate',
        targets: [{ address: new URL(site.url).host }],
        metricsPath: '/federate',
        params: { 'match[]': ['{job="mptcp"}'] },
        honorLabels: true,
      },
    ]);
    await waitFor(
      'both exporters in the top-level Prometheus',
      // Five federated samples: enough for the overview's rates.
      () => top!.query('count(count_over_time(mptcp_mib_total{counter="MPJoinRejected"}[1m]) >= 5) == 2'),
      (r) => r.length === 1,
      60_000,
      500,
    );
  }, 180_000);

  afterAll(async () => {
    await top?.stop();
    await site?.stop();
    for (const e of exporters) await e.stop();
    for (const l of labs) await l.destroy();
  });

  it('lists every host with its state as ss sees it, and history', async () => {
    const o = await readFleetOverview(new PrometheusApi(top!.url), 'hour');
    expect(o.errors).toEqual([]);
    expect(o.hosts.map((h) => h.instance).sort()).toEqual(exporters.map((e) => new URL(e.url).host).sort());
    for (const [i, lab] of labs.entries()) {
      const h = o.hosts.find((x) => x.instance === new URL(exporters[i]!.url).host)!;
      expect(h.up).toBe(true);
      expect(h.job).toBe('mptcp');
      expect(h.mptcpEnabled).toBe(true);
      expect(h.pathManager).toBe('kernel');
      expect(h.connections).toBe(await ssMptcpCount(lab.client));
      const subs = await ssSubflows(lab.client);
      for (const p of lab.paths) {
        expect(h.subflowsByInterface[p.clientIf], p.clientIf).toBe(
          subs.filter((s) => s.ifname === p.clientIf).length,
        );
      }
      expect(h.fallbacksPerSec).toBe(0);
      expect(h.joinFailuresPerSec).toBe(0);
      expect(h.history.connections.length).toBeGreaterThan(0);
      expect(h.history.connections.at(-1)?.[1]).toBe(i + 2);
      expect(h.history.up.at(-1)?.[1]).toBe(1);
    }
  });

  it('shows a host down once its exporter is gone', async () => {
    const gone = new URL(exporters[0]!.url).host;
    await exporters[0]!.stop();
    const o = await waitFor(
      'the stopped exporter down in the top-level Prometheus',
      () => readFleetOverview(new PrometheusApi(top!.url), 'hour'),
      (x) => x.hosts.find((h) => h.instance === gone)?.up === false,
      30_000,
      500,
    );
    expect(o.hosts).toHaveLength(2);
    expect(o.hosts.find((h) => h.instance !== gone)?.up).toBe(true);
  });
});

interface WebHostProc {
  child: ChildProcess;
  url: string;
  port: number;
}

/** `serve --tls-cert --tls-key --token-file` for a lab namespace; resolves with its https URL. */
async function startTlsServe(netns: string, dir: string, port = 0): Promise<WebHostProc> {
  const child = spawn(
    process.execPath,
    [
      'bin/mptcp-studio.mjs',
      'serve',
      '--netns',
      netns,
      '--port',
      String(port),
      '--tls-cert',
      join(dir, 'cert.pem'),
      '--tls-key',
      join(dir, 'key.pem'),
      '--token-file',
      join(dir, 'token'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
    createInterface({ input: child.stdout }).on('line', (l) => {
      const m = /(https:\/\/\S+)\?token=/.exec(l);
      if (m?.[1]) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${stderr}`)));
  });
  return { child, url, port: Number(new URL(url).port) };
}

describe.skipIf(skip !== null)('Fleet direct mode over TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mpst-fleet-'));
  const token = 'fleet-test-token-0123456789';
  const labs: Lab[] = [];
  const hosts: WebHostProc[] = [];
  let cert = '';
  // Where `serve` looks with XDG_CONFIG_HOME=<dir>/xdg (host/fleet/handlers.ts defaultFleetHostsFile).
  const hostsFile = join(dir, 'xdg', 'mptcp-studio', 'fleet-hosts.json');
  const handlers = fleetHandlers({ prometheusUrl: null, hostsFile });

  beforeAll(async () => {
    const r = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    if (r.status !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
    cert = await readFile(join(dir, 'cert.pem'), 'utf8');
    writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
    for (let i = 0; i < 3; i++) {
      const lab = await Lab.create({ paths: 1 });
      labs.push(lab);
      hosts.push(await startTlsServe(lab.client, dir));
    }
  }, 180_000);

  afterAll(async () => {
    for (const h of hosts) await stopChild(h.child);
    for (const l of labs) await l.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers three web hosts, stores their tokens 0600 and finds them up', async () => {
    for (const [i, h] of hosts.entries()) {
      const r = await handlers['mptcp:fleet:hosts:add']({
        name: `lab${i}`,
        url: h.url,
        token,
        caCertPem: cert,
      });
      expect(r.error).toBeNull();
      expect(r.up).toBe(true);
      expect(r.netns).toBe(labs[i]!.client);
    }
    expect(statSync(hostsFile).mode & 0o777).toBe(0o600);
    const listed = await handlers['mptcp:fleet:hosts:list']({});
    expect(listed.map((h) => [h.name, h.up, h.pathManager])).toEqual([
      ['lab0', true, 'kernel'],
      ['lab1', true, 'kernel'],
      ['lab2', true, 'kernel'],
    ]);
    expect(JSON.stringify(listed)).not.toContain(token);
  });

  it('shows a killed host down, and up again once restarted', async () => {
    const h = hosts[1]!;
    await stopChild(h.child);
    const down = await handlers['mptcp:fleet:hosts:list']({});
    expect(down.find((x) => x.name === 'lab1')).toMatchObject({ up: false, error: 'ECONNREFUSED' });
    expect(down.filter((x) => x.up)).toHaveLength(2);
    hosts[1] = await startTlsServe(labs[1]!.client, dir, h.port);
    const back = await handlers['mptcp:fleet:hosts:list']({});
    expect(back.find((x) => x.name === 'lab1')).toMatchObject({ up: true, error: null });
  });

  it('refuses a wrong token, plain HTTP to the TLS port, an untrusted certificate and plain HTTP off loopback', async () => {
    const h = hosts[0]!;
    const wrong = await handlers['mptcp:fleet:hosts:add']({
      name: 'wrong-token',
      url: h.url,
      token: 'not-the-right-token-42',
      caCertPem: cert,
    });
    expect(wrong).toMatchObject({ up: false, error: 'refused: wrong token (401)' });
    const plain = await handlers['mptcp:fleet:hosts:add']({
      name: 'plain-http',
      url: h.url.replace('https:', 'http:'),
      token,
      caCertPem: null,
    });
    expect(plain.up).toBe(false);
    const untrusted = await handlers['mptcp:fleet:hosts:add']({
      name: 'no-ca',
      url: h.url,
      token,
      caCertPem: null,
    });
    expect(untrusted).toMatchObject({ up: false, error: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    await expect(
      handlers['mptcp:fleet:hosts:add']({
        name: 'remote-plain',
        url: 'http://192.0.2.1:7878/',
        token,
        caCertPem: null,
      }),
    ).rejects.toThrow(/refusing plain HTTP/);
    // The web host refuses to serve plain HTTP on a non-loopback address (checked before binding).
    const serve = spawnSync(
      process.execPath,
      ['bin/mptcp-studio.mjs', 'serve', '--netns', labs[0]!.client, '--listen', '0.0.0.0', '--port', '0'],
      { timeout: 30_000 },
    );
    expect(serve.status).toBe(1);
    expect(serve.stderr.toString()).toMatch(/refusing plain HTTP on 0\.0\.0\.0/);
  });

  it('switches every page of a local web host to a registered remote host and back', async () => {
    await labs[2]!.startServer(5201);
    await labs[2]!.openConnections(3, { rateBytesPerSec: 10_000 });
    // The home web host (plain HTTP on loopback) with the registry above.
    const home = spawn(
      process.execPath,
      ['bin/mptcp-studio.mjs', 'serve', '--netns', labs[0]!.client, '--port', '0'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'xdg') },
      },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: home.stdout }).on('line', (l) => {
          const m = /(http:\/\/\S+\?token=\S+)/.exec(l);
          if (m?.[1]) resolve(m[1]);
        });
        home.once('exit', (code) => reject(new Error(`serve exited (${code})`)));
      });
      const u = new URL(url);
      const ws = new WebSocket(`ws://${u.host}/api?token=${u.searchParams.get('token')}`);
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      let id = 0;
      const call = (
        method: string,
        args: unknown = {},
      ): Promise<{ ok: boolean; value?: unknown; error?: unknown }> =>
        new Promise((resolve) => {
          const my = ++id;
          const onMsg = (data: Buffer): void => {
            const m = JSON.parse(data.toString()) as { t: string; id?: number; result?: { ok: boolean } };
            if (m.t === 'result' && m.id === my) {
              ws.off('message', onMsg);
              resolve(m.result!);
            }
          };
          ws.on('message', onMsg);
          ws.send(JSON.stringify({ t: 'call', id: my, method, args }));
        });
      const netns = async (): Promise<unknown> =>
        ((await call('mptcp:status:get')).value as { netns: string | null }).netns;
      expect(await netns()).toBe(labs[0]!.client);
      expect(await call('mptcp:fleet:hosts:select', { name: 'lab2' })).toEqual({
        ok: true,
        value: { selected: 'lab2' },
      });
      expect(await netns()).toBe(labs[2]!.client);
      const snap = (await call('mptcp:connections:list')).value as { connections: unknown[] };
      expect(snap.connections).toHaveLength(await ssMptcpCount(labs[2]!.client));
      expect(snap.connections).toHaveLength(3);
      const listed = (await call('mptcp:fleet:hosts:list')).value as { name: string; selected: boolean }[];
      expect(listed.filter((h) => h.selected).map((h) => h.name)).toEqual(['lab2']);
      // A host that is down is refused, and the pages stay where they were.
      await stopChild(hosts[1]!.child);
      const refused = await call('mptcp:fleet:hosts:select', { name: 'lab1' });
      expect(refused.ok).toBe(false);
      expect(await netns()).toBe(labs[2]!.client);
      expect(await call('mptcp:fleet:hosts:select', { name: null })).toEqual({
        ok: true,
        value: { selected: null },
      });
      expect(await netns()).toBe(labs[0]!.client);
      ws.close();
    } finally {
      await stopChild(home);
    }
  });
});
