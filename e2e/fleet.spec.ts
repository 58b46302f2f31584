/**
 * The Fleet page and the header's host switcher in Chromium, against real parts (docs/fleet.md):
 * - Two lab namespaces with MPTCP traffic (2 and 3 connections), each with its own exporter
 *   (`mptcp-studio exporter --netns`), scraped every second by Debian's `prometheus`.
 * - The home web host (`serve --netns <lab A> --prometheus URL`) shows both hosts with what `ss`
 *   counts; a host whose exporter is stopped turns down.
 * - The direct mode: lab B's own web host registered in the page's Remote web hosts section,
 *   chosen in the header's switcher (the Overview then shows lab B's namespace and connections),
 *   and this host chosen again.
 *
 * History: the page's sparklines are range queries at a 60 s step over the last hour, which a
 * Prometheus started a few seconds ago cannot fill. The minutes before the test are backfilled for
 * the two exporters' instances (`promtool tsdb create-blocks-from openmetrics`, as
 * bench/fleet.mjs does for 200 hosts); every current value comes from the live scrapes.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test as base, type Page } from '@playwright/test';
import { startExporter, type ExporterProcess } from '../src-main/lab/exporter-process';
import { ssMptcpCount } from '../src-main/lab/kernel-views';
import { Lab, labUnavailableReason, waitFor } from '../src-main/lab/lab';
import { startPrometheus, type PrometheusProcess } from '../src-main/lab/prometheus';
import { startServe, stopServe } from '../src-main/lab/serve';

interface FleetLab {
  labs: [Lab, Lab];
  exporters: [ExporterProcess, ExporterProcess];
  /** The exporters' `instance` labels (host:port). */
  instances: [string, string];
  prometheus: PrometheusProcess;
  /** The home web host (lab A, --prometheus), token included. */
  url: string;
  /** Lab B's own web host: its base URL and token, for the direct mode. */
  remote: { url: string; token: string };
}

const CONNECTIONS = [2, 3] as const;

/**
 * OpenMetrics text for the minutes before now: `up` 1 and the lab's connection count, every 60 s
 * (the page's step for the last hour), for each exporter's instance.
 */
function backfill(instances: readonly string[], endS: number): string {
  const lines: string[] = [];
  const series = (
    name: string,
    type: string,
    labels: (i: number) => string,
    value: (i: number) => number,
  ) => {
    lines.push(`# TYPE ${name} ${type}`);
    for (const [i, inst] of instances.entries()) {
      for (let t = endS - 20 * 60; t <= endS; t += 60) {
        lines.push(`${name}{instance="${inst}",job="mptcp"${labels(i)}} ${value(i)} ${t}`);
      }
    }
  };
  series(
    'up',
    'gauge',
    () => '',
    () => 1,
  );
  series(
    'mptcp_connections',
    'gauge',
    () => ',state="ESTABLISHED"',
    (i) => CONNECTIONS[i] ?? 0,
  );
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

const test = base.extend<object, { fleet: FleetLab }>({
  fleet: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const reason = labUnavailableReason();
      test.skip(reason !== null, reason ?? '');
      const dir = mkdtempSync(join(tmpdir(), 'mpst-fleet-e2e-'));
      const labs: Lab[] = [];
      const exporters: ExporterProcess[] = [];
      const serves: ChildProcess[] = [];
      let prometheus: PrometheusProcess | null = null;
      try {
        for (const [i, n] of CONNECTIONS.entries()) {
          const lab = await Lab.create({ paths: i === 0 ? 2 : 1 });
          labs.push(lab);
          await lab.startServer(5201);
          await lab.openConnections(n, { rateBytesPerSec: 20_000 });
          await waitFor(
            `${n} connections in ${lab.client}`,
            () => ssMptcpCount(lab.client),
            (c) => c === n,
          );
          exporters.push(await startExporter(lab.client));
        }
        const instances = exporters.map((e) => new URL(e.url).host);
        const om = join(dir, 'history.om');
        writeFileSync(om, backfill(instances, Math.floor(Date.now() / 1000) - 90));
        const data = join(dir, 'data');
        mkdirSync(data);
        const filled = spawnSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', om, data]);
        if (filled.status !== 0) throw new Error(`promtool: ${filled.stderr.toString()}`);
        prometheus = await startPrometheus(
          [{ job: 'mptcp', targets: instances.map((address) => ({ address })) }],
          {
            dataDir: data,
          },
        );
        const prom = prometheus;
        // mptcp_info, not `up`: the backfilled `up` already answers for the last 5 minutes.
        await waitFor(
          'both exporters scraped',
          () => prom.query('count(mptcp_info{job="mptcp"})'),
          (r) => r[0]?.value[1] === '2',
          30_000,
          200,
        );
        const remote = await startServe(labs[1]!.client);
        serves.push(remote.child);
        const home = await startServe(labs[0]!.client, { XDG_CONFIG_HOME: join(dir, 'xdg') }, [
          '--prometheus',
          prom.url,
        ]);
        serves.push(home.child);
        const r = new URL(remote.url);
        await use({
          labs: [labs[0]!, labs[1]!],
          exporters: [exporters[0]!, exporters[1]!],
          instances: [instances[0]!, instances[1]!],
          prometheus: prom,
          url: home.url,
          remote: { url: `${r.origin}/`, token: r.searchParams.get('token') ?? '' },
        });
      } finally {
        for (const s of serves) await stopServe(s);
        await prometheus?.stop();
        for (const e of exporters) await e.stop();
        for (const l of labs) await l.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    { scope: 'worker' },
  ],
});

test.describe.configure({ mode: 'serial' });

const row = (page: Page, instance: string) =>
  page.locator(`[data-testid="fleet-row"][data-instance="${instance}"]`);

test('the Fleet page lists both lab hosts with their connections and history, and a stopped one down', async ({
  page,
  fleet,
}) => {
  await page.goto(fleet.url);
  await page.getByTestId('nav-fleet').click();
  await expect(page.getByTestId('fleet-row')).toHaveCount(2);
  await expect(page.getByTestId('fleet-summary')).toHaveText('2 hosts, 0 down');
  for (const [i, instance] of fleet.instances.entries()) {
    const r = row(page, instance);
    await expect(r.getByTestId('fleet-up')).toHaveText('up');
    // Host, exporter, MPTCP, path manager, connections, subflows per interface, …
    await expect(r.locator('td').nth(2)).toHaveText('on');
    await expect(r.locator('td').nth(3)).toHaveText('kernel');
    await expect(r.locator('td').nth(4)).toHaveText(String(await ssMptcpCount(fleet.labs[i]!.client)));
    for (const p of fleet.labs[i]!.paths) await expect(r.locator('td').nth(5)).toContainText(p.clientIf);
    // The sparklines hold the backfilled minutes and the live scrapes: 20 and more points.
    for (const what of ['connections', 'up']) {
      const points = await r
        .getByRole('img', { name: `${instance} ${what}` })
        .locator('polyline')
        .getAttribute('points');
      expect(points?.trim().split(' ').length ?? 0, `${instance} ${what}`).toBeGreaterThanOrEqual(20);
    }
  }

  await fleet.exporters[1].stop();
  const gone = fleet.instances[1];
  await expect(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await expect(row(page, gone).getByTestId('fleet-up')).toHaveText('down', { timeout: 1000 });
  }).toPass({ timeout: 20_000 });
  await expect(row(page, gone)).toHaveClass(/row-down/);
  await expect(row(page, fleet.instances[0]).getByTestId('fleet-up')).toHaveText('up');
  await expect(page.getByTestId('fleet-summary')).toHaveText('2 hosts, 1 down');
});

test("the header's host switcher shows a registered lab web host's data, and this host again", async ({
  page,
  fleet,
}) => {
  const [a, b] = fleet.labs;
  await page.goto(fleet.url);
  await expect(page.getByTestId('netns')).toContainText(a.client);
  await expect(page.getByTestId('host-switcher')).toHaveCount(0);
  await page.getByTestId('nav-fleet').click();
  await page.getByTestId('remote-host-name').fill('lab-b');
  await page.getByTestId('remote-host-url').fill(fleet.remote.url);
  await page.getByTestId('remote-host-token').fill(fleet.remote.token);
  await page.getByTestId('remote-host-add').click();
  await expect(page.locator('[data-testid="remote-host-row"][data-name="lab-b"]')).toContainText('up');

  // The switcher reads the registry when the page loads.
  await page.reload();
  const switcher = page.getByTestId('host-switcher');
  await switcher.selectOption('lab-b');
  await expect(page.getByTestId('netns')).toContainText(b.client);
  await page.getByTestId('nav-overview').click();
  await expect(page.locator('[data-testid^="connection-row-"]')).toHaveCount(await ssMptcpCount(b.client));

  await page.getByTestId('host-switcher').selectOption('');
  await expect(page.getByTestId('netns')).toContainText(a.client);
  await expect(page.locator('[data-testid^="connection-row-"]')).toHaveCount(await ssMptcpCount(a.client));
});
