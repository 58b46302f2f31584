/**
 * The exporter (the built CLI, `mptcp-studio exporter --netns NS`) against a lab namespace with
 * real MPTCP traffic, compared with the kernel's other views: `ss` for connections, subflows and
 * their byte counters, `nstat` for MPTcpExt, and `promtool check metrics` for the format.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labUnavailableReason, nsRun, type LabProcess } from '../lab/lab';
import { nstatMptcp, ssMptcpCount, ssSubflows, type SsSubflow } from '../lab/kernel-views';
import {
  parseExposition,
  promtoolCheckMetrics,
  sampleValue,
  scrape,
  startExporter,
  stopChild,
  type ExporterProcess,
  type Sample,
} from '../lab/exporter-process';

const CONNECTIONS = 4;

/** Per interface as the exporter counts: by the interface each subflow leaves by. */
const sumBy = (
  subs: readonly SsSubflow[],
  ifname: string,
  k: 'bytesSent' | 'bytesReceived' | 'bytesRetrans',
): number => subs.filter((s) => s.ifname === ifname).reduce((a, s) => a + s[k], 0);

/** A scrape whose connections poll finished after `afterMs` (the poll runs in the background). */
async function scrapeAfter(lab: Lab, url: string, afterMs: number): Promise<Sample[]> {
  return (
    await lab.waitFor(
      'a connections poll after the reference reading',
      () => scrape(url),
      (r) => (sampleValue(r.samples, 'mptcp_exporter_last_poll_timestamp_seconds') ?? 0) * 1000 > afterMs,
      15_000,
    )
  ).samples;
}

describe.skipIf(labUnavailableReason() !== null)('exporter against a lab namespace', () => {
  let lab: Lab;
  let traffic: LabProcess;
  let exporter: ExporterProcess | null = null;
  let capped: ExporterProcess | null = null;

  beforeAll(async () => {
    lab = await Lab.create({ paths: 2, pathOptions: [{ rateMbit: 20 }, { rateMbit: 10 }] });
    await lab.startServer(5201);
    traffic = await lab.openConnections(CONNECTIONS, { rateBytesPerSec: 200_000 });
    await lab.waitFor(
      'two subflows per connection',
      () => ssSubflows(lab.client),
      (s) => s.length === 2 * CONNECTIONS,
    );
    exporter = await startExporter(lab.client);
    capped = await startExporter(lab.client, ['--per-connection', '--per-connection-limit', '2']);
  });
  afterAll(async () => {
    await exporter?.stop();
    await capped?.stop();
    await lab?.destroy();
  });

  it('is clean for promtool check metrics, with and without --per-connection', async () => {
    for (const e of [exporter, capped]) {
      const { text } = await scrapeAfter(lab, e!.url, 0).then(async () => scrape(e!.url));
      const r = await promtoolCheckMetrics(text);
      expect(r.output).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('counts the connections ss counts, and the subflows on each interface', async () => {
    const t0 = Date.now();
    const s = await scrapeAfter(lab, exporter!.url, t0);
    const total = s.filter((x) => x.name === 'mptcp_connections').reduce((a, x) => a + x.value, 0);
    expect(total).toBe(await ssMptcpCount(lab.client));
    expect(sampleValue(s, 'mptcp_connections', { state: 'ESTABLISHED' })).toBe(
      await ssMptcpCount(lab.client, 'established'),
    );
    const subs = await ssSubflows(lab.client);
    for (const p of lab.paths) {
      const n = s
        .filter((x) => x.name === 'mptcp_subflows' && x.labels.interface === p.clientIf)
        .reduce((a, x) => a + x.value, 0);
      expect(n, p.clientIf).toBe(subs.filter((x) => x.ifname === p.clientIf).length);
      expect(n).toBe(CONNECTIONS);
    }
    // Every subflow series carries its health (shared/health.ts; docs/fleet.md).
    const healths = s.filter((x) => x.name === 'mptcp_subflows').map((x) => x.labels.health);
    expect(healths.length).toBeGreaterThan(0);
    for (const h of healths) expect(['active', 'idle', 'app-limited', 'stalled']).toContain(h);
    expect(sampleValue(s, 'mptcp_connections_fallback')).toBe(0);
  });

  it('reports every MPTcpExt counter nstat reports, with the value nstat read around the scrape', async () => {
    const before = await nstatMptcp(lab.client);
    const s = (await scrape(exporter!.url)).samples;
    const after = await nstatMptcp(lab.client);
    expect(before.size).toBeGreaterThan(40);
    for (const [name, lo] of before) {
      const hi = after.get(name) ?? lo;
      const v =
        sampleValue(s, 'mptcp_mib_total', { counter: name }) ??
        sampleValue(s, 'mptcp_mib_current', { counter: name });
      expect(v, name).toBeDefined();
      // Counters only grow, so the scrape's value lies between the two readings (equal when
      // nothing moved: the connections were opened before the first reading).
      expect(v!, name).toBeGreaterThanOrEqual(Math.min(lo, hi));
      expect(v!, name).toBeLessThanOrEqual(Math.max(lo, hi));
    }
    expect(sampleValue(s, 'mptcp_mib_total', { counter: 'MPCapableSYNTX' })).toBeGreaterThanOrEqual(
      CONNECTIONS,
    );
    expect(sampleValue(s, 'mptcp_mib_current', { counter: 'MPCurrEstab' })).toBe(CONNECTIONS);
  });

  it('serve --metrics-listen and agent --metrics-listen serve the same metrics', async () => {
    // The web host's engine (a namespace agent) and its exporter port.
    const serve = spawn(
      process.execPath,
      [
        'bin/mptcp-studio.mjs',
        'serve',
        '--netns',
        lab.client,
        '--port',
        '0',
        '--metrics-listen',
        '127.0.0.1:0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: serve.stdout }).on('line', (l) => {
          const m = /exporter: (http:\/\/\S+\/metrics)/.exec(l);
          if (m?.[1]) resolve(m[1]);
        });
        serve.once('exit', (code) => reject(new Error(`serve exited (${code})`)));
      });
      const s = await scrapeAfter(lab, url, 0);
      expect(sampleValue(s, 'mptcp_connections', { state: 'ESTABLISHED' })).toBe(
        await ssMptcpCount(lab.client, 'established'),
      );
    } finally {
      await stopChild(serve);
    }

    // The privileged agent inside the namespace: its exporter listens on the namespace's own
    // loopback, so the scrape runs there too.
    const sockDir = mkdtempSync(join(tmpdir(), 'mpst-exporter-agent-'));
    const sock = join(sockDir, 'agent.sock');
    const agent = spawn(
      'ip',
      [
        'netns',
        'exec',
        lab.client,
        process.execPath,
        'bin/mptcp-studio.mjs',
        'agent',
        '--socket',
        sock,
        '--metrics-listen',
        '127.0.0.1:0',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: agent.stderr }).on('line', (l) => {
          if (l.includes('"event":"metrics"')) resolve((JSON.parse(l) as { url: string }).url);
        });
        agent.once('exit', (code) => reject(new Error(`agent exited (${code})`)));
      });
      const text = await lab.waitFor(
        'the agent exporter to have polled',
        async () =>
          (
            await nsRun(lab.client, process.execPath, [
              '-e',
              `fetch(${JSON.stringify(url)}).then((r) => r.text()).then((t) => process.stdout.write(t))`,
            ])
          ).stdout,
        (t) => t.includes('mptcp_connections{'),
      );
      const s = parseExposition(text);
      expect(sampleValue(s, 'mptcp_connections', { state: 'ESTABLISHED' })).toBe(
        await ssMptcpCount(lab.client, 'established'),
      );
      expect((await promtoolCheckMetrics(text)).code).toBe(0);
    } finally {
      await stopChild(agent);
      rmSync(sockDir, { recursive: true, force: true });
    }
  });

  it('counts per-interface bytes as ss does, and keeps them when the connections close', async () => {
    const ssBefore = await ssSubflows(lab.client);
    const t0 = Date.now();
    const s = await scrapeAfter(lab, exporter!.url, t0);
    const ssAfter = await ssSubflows(lab.client);
    const sentBefore: Record<string, number> = {};
    for (const p of lab.paths) {
      const v = sampleValue(s, 'mptcp_subflow_sent_bytes_total', { interface: p.clientIf })!;
      // The exporter first saw these subflows after they opened, so its totals are their whole
      // counters at the poll: between what ss read before and after it.
      expect(v, p.clientIf).toBeGreaterThanOrEqual(sumBy(ssBefore, p.clientIf, 'bytesSent'));
      expect(v, p.clientIf).toBeLessThanOrEqual(sumBy(ssAfter, p.clientIf, 'bytesSent'));
      const rx = sampleValue(s, 'mptcp_subflow_received_bytes_total', { interface: p.clientIf })!;
      expect(rx).toBeGreaterThanOrEqual(sumBy(ssBefore, p.clientIf, 'bytesReceived'));
      expect(rx).toBeLessThanOrEqual(sumBy(ssAfter, p.clientIf, 'bytesReceived'));
      sentBefore[p.clientIf] = v;
    }
    // 800 kB/s fits the first path: the default scheduler may leave the second one idle.
    expect(Object.values(sentBefore).reduce((a, v) => a + v, 0)).toBeGreaterThan(0);

    // Per-connection series, capped: 2 of the 4 connections, each with its two subflows.
    const pc = (await scrape(capped!.url)).samples;
    expect(pc.filter((x) => x.name === 'mptcp_conn_info')).toHaveLength(2);
    expect(pc.filter((x) => x.name === 'mptcp_conn_subflow_rtt_seconds')).toHaveLength(4);
    expect(sampleValue(pc, 'mptcp_exporter_per_connection_omitted')).toBe(CONNECTIONS - 2);
    expect(s.some((x) => x.name.startsWith('mptcp_conn_'))).toBe(false);

    await traffic.stop();
    await lab.waitFor(
      'no subflow left',
      () => ssSubflows(lab.client),
      (x) => x.length === 0,
    );
    const t1 = Date.now();
    const closed = await scrapeAfter(lab, exporter!.url, t1);
    expect(closed.filter((x) => x.name === 'mptcp_subflows')).toHaveLength(0);
    expect(sampleValue(closed, 'mptcp_connections', { state: 'ESTABLISHED' })).toBe(0);
    for (const p of lab.paths) {
      const v = sampleValue(closed, 'mptcp_subflow_sent_bytes_total', { interface: p.clientIf })!;
      expect(v, p.clientIf).toBeGreaterThanOrEqual(sentBefore[p.clientIf]!);
    }
  });
});
