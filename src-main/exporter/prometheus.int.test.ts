/**
 * A real Prometheus (Debian's `prometheus`, 1 s scrape interval, temporary config and data, on
 * 127.0.0.1) scraping the exporters of three lab namespaces with real MPTCP traffic through tbf
 * rate limits. Through its HTTP API, per host: mptcp_connections equals `ss`'s count, the
 * per-interface byte rates are close to the tbf rates, the MPTcpExt counters equal `nstat`'s; and
 * every PromQL expression of the shipped Grafana dashboard returns data without error.
 *
 * The exporters watch the receiving (server) namespaces: what a subflow received is what crossed
 * the shaped link. The sender's tcpi_bytes_sent is not: it counts what TCP handed to IP, and with
 * the tbf on the sender's own interface it ran 20% above the link rate in this lab (docs/fleet.md).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labUnavailableReason, waitFor } from '../lab/lab';
import { dashboardQueries, readDashboard, substitute } from '../lab/grafana-dashboard';
import { nstatMptcp, ssMptcpCount } from '../lab/kernel-views';
import { startPrometheus, type PrometheusProcess } from '../lab/prometheus';
import { startExporter, type ExporterProcess } from '../lab/exporter-process';

/** tbf rates of the two paths of every lab, Mbit/s. */
const RATES_MBIT = [8, 4] as const;
const DASHBOARD = join(process.cwd(), 'packaging', 'grafana', 'mptcp-fleet.json');

interface Host {
  name: string;
  lab: Lab;
  exporter: ExporterProcess;
  connections: number;
  instance: string;
}

// Not skipped when `prometheus` is missing: scripts/setup-debian.sh --test installs it, and a
// missing server fails beforeAll with the reason.
describe.skipIf(labUnavailableReason() !== null)('Prometheus scraping three lab exporters', () => {
  const hosts: Host[] = [];
  let prom: PrometheusProcess | null = null;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
      const lab = await Lab.create({ paths: 2, pathOptions: RATES_MBIT.map((rateMbit) => ({ rateMbit })) });
      // The exporter first, so that it counts the kernel events of the connections opened next.
      const exporter = await startExporter(lab.server);
      hosts.push({
        name: `lab${i}`,
        lab,
        exporter,
        connections: i + 1,
        instance: new URL(exporter.url).host,
      });
    }
    prom = await startPrometheus([
      {
        job: 'mptcp',
        targets: hosts.map((h) => ({ address: h.instance, labels: { host: h.name } })),
      },
    ]);
    for (const h of hosts) {
      await h.lab.startServer(5201);
      await h.lab.openConnections(h.connections, { rateBytesPerSec: -1 });
      await h.lab.waitFor(
        `${h.name}: two subflows per connection`,
        () => ssMptcpCount(h.lab.server),
        (n) => n === h.connections,
      );
    }
    // Ten seconds of steady traffic in Prometheus for the rates.
    await waitFor(
      'every exporter up with 10 s of samples',
      () => prom!.query('count_over_time(up{job="mptcp"}[12s]) >= 10 and up == 1'),
      (r) => r.length === hosts.length,
      60_000,
      500,
    );
  }, 180_000);

  afterAll(async () => {
    await prom?.stop();
    for (const h of hosts) await h.exporter.stop();
    for (const h of hosts) await h.lab.destroy();
  });

  it('mptcp_connections of each host equals ss', async () => {
    for (const h of hosts) {
      const r = await prom!.query(`sum(mptcp_connections{host="${h.name}"})`);
      expect(Number(r[0]?.value[1]), h.name).toBe(await ssMptcpCount(h.lab.server));
      expect(Number(r[0]?.value[1]), h.name).toBe(h.connections);
    }
  });

  it('per-interface byte rates are close to the tbf rates', async () => {
    for (const h of hosts) {
      const r = await prom!.query(
        `sum by (interface) (rate(mptcp_subflow_received_bytes_total{host="${h.name}"}[8s]))`,
      );
      for (const [i, p] of h.lab.paths.entries()) {
        const bytesPerSec = Number(r.find((x) => x.metric.interface === p.serverIf)?.value[1]);
        const tbfBytesPerSec = (RATES_MBIT[i]! * 1e6) / 8;
        const what = `${h.name} ${p.serverIf}: ${bytesPerSec} B/s`;
        // tbf counts whole frames; tcpi_bytes_received counts TCP payload, about 95% of a
        // 1514-byte frame once the Ethernet, IP, TCP and MPTCP option headers are off.
        expect(bytesPerSec / tbfBytesPerSec, what).toBeGreaterThan(0.8);
        expect(bytesPerSec / tbfBytesPerSec, what).toBeLessThan(1.02);
      }
    }
  });

  it('MPTcpExt counters of each host equal nstat', async () => {
    for (const h of hosts) {
      const beforeMs = Date.now();
      const before = await nstatMptcp(h.lab.server);
      // A scrape that started after the first nstat reading (the exporter reads the counters
      // during the scrape, so after it too).
      const r = await waitFor(
        `${h.name}: a scrape after the nstat reading`,
        () =>
          prom!.query(
            `mptcp_mib_total{host="${h.name}"} and timestamp(mptcp_mib_total) * 1000 > ${beforeMs}`,
          ),
        (x) => x.length > 0,
        10_000,
        200,
      );
      const after = await nstatMptcp(h.lab.server);
      const current = await prom!.query(`mptcp_mib_current{host="${h.name}"}`);
      expect(r.length + current.length, h.name).toBe(before.size);
      for (const [name, lo] of before) {
        const sample =
          r.find((x) => x.metric.counter === name) ?? current.find((x) => x.metric.counter === name);
        expect(sample, `${h.name} ${name}`).toBeDefined();
        const v = Number(sample!.value[1]);
        const hi = after.get(name) ?? lo;
        if (name === 'MPCurrEstab') {
          expect(v, `${h.name} ${name}`).toBe(h.connections);
          continue;
        }
        // Counters only grow: the scrape's value lies between the two readings.
        expect(v, `${h.name} ${name}`).toBeGreaterThanOrEqual(lo);
        expect(v, `${h.name} ${name}`).toBeLessThanOrEqual(hi);
      }
    }
  });

  it('every PromQL expression of the Grafana dashboard returns data without error', async () => {
    const queries = dashboardQueries(readDashboard(DASHBOARD));
    expect(queries.length).toBeGreaterThan(25);
    const failures: string[] = [];
    for (const h of hosts) {
      for (const q of queries) {
        const expr = substitute(q.expr, { job: 'mptcp', instance: h.instance, rateInterval: '10s' });
        try {
          const r = await prom!.query(expr);
          if (r.length === 0) failures.push(`${h.name} ${q.where}: no data: ${expr}`);
        } catch (e) {
          failures.push(`${h.name} ${q.where}: ${(e as Error).message}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
