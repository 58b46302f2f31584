import { spawn } from 'node:child_process';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { ip, nsRun } from '../src-main/lab/lab';
import { expect, test } from './fixtures';
import { MonitoringPage } from './pages/monitoring-page';

/** RTTs (µs) `ss -tinH` reports for the lab connection's subflows in the namespace. */
async function ssRttsUs(ns: string): Promise<number[]> {
  const { stdout } = await nsRun(ns, 'ss', ['-tinH', 'state', 'established', 'dport', '5201']);
  return [...stdout.matchAll(/\brtt:([\d.]+)\//g)].map((m) => Math.round(Number(m[1]) * 1000));
}

async function establishedSubflows(ns: string): Promise<number> {
  const { stdout } = await nsRun(ns, 'ss', ['-tnH', 'state', 'established', 'dport', '5201']);
  return stdout.split('\n').filter((l) => l.trim()).length;
}

/** The id of the server's MPTCP endpoint for `address`. */
async function serverEndpointId(ns: string, address: string): Promise<number> {
  const { stdout } = await ip(['-n', ns, 'mptcp', 'endpoint', 'show']);
  const line = stdout.split('\n').find((l) => l.startsWith(`${address} `));
  const id = /\bid (\d+)/.exec(line ?? '')?.[1];
  if (!id) throw new Error(`no endpoint for ${address} in ${stdout}`);
  return Number(id);
}

/** CSP violations and page errors: the PNG export must work under the page's policy. */
function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy|Refused to/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  return problems;
}

test('the connection detail charts its 2 subflows, with RTTs like ss, and exports CSV and PNG', async ({
  page,
  studio,
}) => {
  const problems = watchConsole(page);
  const m = new MonitoringPage(page);
  await m.open(studio.url);
  await m.connections();
  await expect(m.rows).toHaveCount(1);
  const hex = await m.firstToken();
  await m.row(hex).click();
  await expect(m.detail).toBeVisible();
  for (const chart of ['rtt', 'cwnd', 'throughput'] as const) {
    await expect
      .poll(async () => Number(await m.chart(chart).getAttribute('data-lines')))
      .toBeGreaterThanOrEqual(2);
  }
  // The lines are drawn on a canvas once samples come in; it reports how many it drew (the
  // assertion waits for it). The CSV below needs more than ten samples: wait for them.
  await expect
    .poll(async () => Number(await m.chart('rtt').getAttribute('data-points')), { timeout: 15_000 })
    .toBeGreaterThan(10);
  await expect(page.getByTestId('chart-rtt-lines')).toHaveAttribute('data-drawn-lines', '2');
  // Hovering near "now" reads out both subflows' values.
  const body = await m.chart('rtt').locator('.chart-body').boundingBox();
  expect(body).not.toBeNull();
  await page.mouse.move(body!.x + body!.width - 30, body!.y + 100);
  await expect(page.getByTestId('chart-tooltip').locator('.mono')).toHaveCount(2);
  await page.mouse.move(0, 0);
  await expect(page.getByTestId('chart-tooltip')).toHaveCount(0);

  const shown = await m.subflowRttsUs();
  const fromSs = await ssRttsUs(studio.lab.client);
  expect(shown).toHaveLength(2);
  expect(fromSs).toHaveLength(2);
  for (const rtt of [...shown, ...fromSs]) {
    // veth in one machine: tens of µs to a few ms (allow for a loaded CI box).
    expect(rtt).toBeGreaterThan(0);
    expect(rtt).toBeLessThan(200_000);
  }
  // Same order of magnitude as ss (medians within a factor of 30: RTT on veth is noisy).
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? 0;
  const ratio = median(shown) / median(fromSs);
  expect(ratio).toBeGreaterThan(1 / 30);
  expect(ratio).toBeLessThan(30);

  await page.screenshot({ path: 'test-results/monitoring-detail.png', fullPage: true });

  const csv = await m.downloadText('export-csv');
  expect(csv.name).toMatch(/\.csv$/);
  const lines = csv.text.trim().split('\n');
  expect(lines[0]).toContain('rtt_ms');
  expect(lines[0]).toContain('send_mbit_per_s');
  const subflows = new Set(lines.slice(1).map((l) => l.split(',').slice(1, 3).join(' ')));
  expect(subflows.size).toBe(2);
  expect(lines.length).toBeGreaterThan(10);

  const png = await m.download('export-png');
  expect(png.name).toMatch(/\.png$/);
  const bytes = await readFile(png.path);
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(bytes.length).toBeGreaterThan(5000);
  await copyFile(png.path, 'test-results/monitoring-export.png');
  await expect(page.getByTestId('export-error')).toHaveCount(0);
  expect(problems).toEqual([]);
});

test('a recording saved and opened again replays into a chart with 2 lines', async ({
  page,
  studio,
}, testInfo) => {
  const m = new MonitoringPage(page);
  await m.open(studio.url);
  await m.connections();
  await expect(m.rows).toHaveCount(1);
  await m.recordToggle.click();
  await page.waitForTimeout(3000);
  await m.recordToggle.click();
  const saved = await m.downloadText('save-recording');
  expect(saved.name).toMatch(/\.ndjson$/);
  const lines = saved.text.trim().split('\n');
  expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ format: 'mptcp-studio-recording', version: 3 });
  // Snapshots: a whole one, then deltas against the one before.
  expect(lines.filter((l) => l.includes('"type":"snapshot"')).length).toBeGreaterThanOrEqual(1);
  expect(
    lines.filter((l) => l.includes('"type":"snapshot"') || l.includes('"type":"delta"')).length,
  ).toBeGreaterThanOrEqual(4);
  // The host samples MPTcpExt about once a second: the readings are in the recording too.
  expect(lines.filter((l) => l.includes('"type":"counters"')).length).toBeGreaterThanOrEqual(1);

  const file = join(testInfo.outputDir, saved.name);
  await saved.download.saveAs(file);
  await m.openRecording(file);
  await expect(m.replayBanner).toContainText(`Replaying ${saved.name}`);
  await page.getByTestId('replay-speed-4').click();
  await expect(m.rows).toHaveCount(1);
  await m.row(await m.firstToken()).click();
  await expect(m.chart('rtt')).toHaveAttribute('data-lines', '2');
  await expect(m.chart('throughput')).toHaveAttribute('data-lines', '2');
  await expect(m.replayBanner).toContainText('finished', { timeout: 20_000 });
  await page.screenshot({ path: 'test-results/monitoring-replay.png', fullPage: true });
  await page.getByTestId('replay-exit').click();
  await expect(m.replayBanner).toHaveCount(0);
});

test('the Events tab shows an interface going down and up, and the subflow closing and coming back', async ({
  page,
  studio,
}, testInfo) => {
  const m = new MonitoringPage(page);
  await m.open(studio.url);
  await m.connections();
  await expect(m.rows).toHaveCount(1);
  const hex = await m.firstToken();
  await m.events();
  await expect(page.getByTestId('events-list')).toBeAttached();
  // The host subscribes to kernel events when the page listens: flap a veth interface of our
  // own until the page shows it, then the subscription is live.
  await ip(['-n', studio.lab.client, 'link', 'add', 'e2erdy', 'type', 'veth', 'peer', 'name', 'e2erdyp']);
  await expect(async () => {
    await ip(['-n', studio.lab.client, 'link', 'set', 'e2erdy', 'up']);
    await ip(['-n', studio.lab.client, 'link', 'set', 'e2erdy', 'down']);
    await expect(
      m
        .eventRows('link')
        .filter({ hasText: /e2erdy/ })
        .first(),
    ).toBeVisible({ timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await ip(['-n', studio.lab.client, 'link', 'del', 'e2erdy']);
  // What the kernel itself reports on the mptcp_pm events group during the flap (diagnostics).
  const monitor = spawn('ip', ['-n', studio.lab.client, 'mptcp', 'monitor'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let monitored = '';
  monitor.stdout.on('data', (d: Buffer) => (monitored += d.toString()));
  try {
    await ip(['-n', studio.lab.client, 'link', 'set', 'c1', 'down']);
    await expect(
      m
        .eventRows('link')
        .filter({ hasText: /c1 down/ })
        .first(),
    ).toBeVisible();
    // The link stays down a while (the flap's length is the subject here, not a readiness wait).
    await page.waitForTimeout(1500);
  } finally {
    await ip(['-n', studio.lab.client, 'link', 'set', 'c1', 'up']);
  }
  await expect(m.eventRows('link').filter({ hasText: /c1 up/ }).first()).toBeVisible();

  // Filters: by type, then by the connection's token.
  await page.getByTestId('events-filter-kind').selectOption('link');
  await expect(m.eventRows().first()).toHaveAttribute('data-kind', 'link');
  await page.getByTestId('events-filter-kind').selectOption('');

  // A short link flap leaves the subflow alone (the kernel sends no mptcp_pm event for it). Make
  // the server withdraw its second address and announce it again: the client's subflow on that
  // path closes (sub_closed) and a new one is established. MPTCP events need the engine's
  // mptcp_pm subscription; whether they flowed is reported, not required.
  const endpointId = await serverEndpointId(studio.lab.server, '10.99.2.2');
  await ip(['-n', studio.lab.server, 'mptcp', 'endpoint', 'delete', 'id', String(endpointId)]);
  // Re-announce once the kernel has removed the address (the monitor prints REMOVED), not after a
  // guess; events are diagnostics here, so give up waiting after 5 s.
  await expect
    .poll(() => monitored, { timeout: 5000 })
    .toMatch(/REMOVED|SF_CLOSED/)
    .catch(() => undefined);
  await ip(['-n', studio.lab.server, 'mptcp', 'endpoint', 'add', '10.99.2.2', 'dev', 's1', 'signal']);
  const subClosed = m.eventRows('sub_closed').and(page.locator(`[data-token="${hex}"]`));
  const sawSubClosed = await subClosed
    .first()
    .waitFor({ timeout: 5000 })
    .then(() => true)
    .catch(() => false);
  monitor.kill('SIGTERM');
  testInfo.annotations.push({ type: 'ip-mptcp-monitor', description: monitored.trim() || '(nothing)' });
  testInfo.annotations.push({
    type: 'mptcp-events',
    description: sawSubClosed ? `sub_closed seen for ${hex}` : `no sub_closed for ${hex} within 5 s`,
  });
  const anyMptcp = await page
    .locator('[data-testid="event-row"]:not([data-kind="link"]):not([data-kind="address"])')
    .count();
  testInfo.annotations.push({ type: 'mptcp-event-rows', description: String(anyMptcp) });
  // When the kernel emitted it, the timeline must show it.
  if (/SF_CLOSED/.test(monitored)) expect(sawSubClosed).toBe(true);
  if (sawSubClosed) {
    await page.getByTestId('events-filter-token').fill(hex);
    await expect(m.eventRows().first()).toHaveAttribute('data-token', hex);
  }
  await page.screenshot({ path: 'test-results/monitoring-events.png', fullPage: true });

  // Leave the lab as found for later tests: both subflows established again.
  await studio.lab
    .waitFor(
      '2 subflows again',
      () => establishedSubflows(studio.lab.client),
      (n) => n >= 2,
      20_000,
    )
    .catch((e: unknown) => testInfo.annotations.push({ type: 'lab', description: String(e) }));
});

test('a page opened later starts with what the host kept: the timeline and the charts of the last minutes', async ({
  page,
  studio,
}) => {
  const ns = studio.lab.client;
  // Before any page exists: an interface event, and a few seconds of polls.
  await ip(['-n', ns, 'link', 'add', 'e2ehist', 'type', 'veth', 'peer', 'name', 'e2ehistp']);
  await ip(['-n', ns, 'link', 'set', 'e2ehist', 'up']);
  await ip(['-n', ns, 'link', 'del', 'e2ehist']);
  // Time passing is the subject here: the host's polls accumulate while no page is open.
  await page.waitForTimeout(4000);
  const openedAtMs = Date.now();
  const m = new MonitoringPage(page);
  await m.open(studio.url);
  await m.events();
  await expect(
    m
      .eventRows('link')
      .filter({ hasText: /e2ehist/ })
      .first(),
  ).toBeVisible();
  await m.connections();
  await expect(m.rows).toHaveCount(1);
  await m.row(await m.firstToken()).click();
  const rtt = m.chart('rtt');
  // Two live subflows, and any that closed within the host's history (the lab is shared by the
  // worker's tests: an earlier test re-announced an address, which replaced a subflow).
  await expect.poll(async () => Number(await rtt.getAttribute('data-lines'))).toBeGreaterThanOrEqual(2);
  await expect
    .poll(async () => Number(await rtt.getAttribute('data-first-ms')))
    .toBeLessThan(openedAtMs - 2000);
  // And a reload keeps it.
  await page.reload();
  await m.events();
  await expect(
    m
      .eventRows('link')
      .filter({ hasText: /e2ehist/ })
      .first(),
  ).toBeVisible();
});

test('every view has a URL: a deep link to a connection, Back and Forward, filters, and a reload keep them', async ({
  page,
  studio,
}) => {
  const m = new MonitoringPage(page);
  await m.open(studio.url);
  // The address names the view from the start.
  await expect(page).toHaveURL(/#\/overview$/);
  await m.connections();
  await expect(page).toHaveURL(/#\/connections$/);
  await expect(m.rows).toHaveCount(1);
  const hex = await m.firstToken();
  // The same rates under one name on every page: a rate is a rate, a total a total.
  await expect(m.table.locator('thead')).toContainText('Send rate');
  await expect(m.table.locator('thead')).toContainText('Receive rate');

  // Opened directly, as from a bookmark or a link in a ticket: the connection's detail.
  const deep = `${studio.url}#/connections/${hex}`;
  await page.goto(deep);
  await expect(m.detail).toBeVisible();
  await expect(m.detail).toHaveAttribute('data-token', hex);
  await expect(page.getByTestId('nav-connections')).toHaveAttribute('aria-current', 'page');
  await expect
    .poll(async () => Number(await m.chart('rtt').getAttribute('data-lines')))
    .toBeGreaterThanOrEqual(2);
  await expect(page.getByTestId('subflow-detail-table').locator('thead')).toContainText('TCP retrans pkts');
  await expect(page.getByTestId('subflow-retrans-pct').first()).toHaveText(/^(\d+(\.\d+)? %|<0\.01 %|—)$/);
  await page.screenshot({ path: 'test-results/connection-detail-route.png', fullPage: true });

  // A reload keeps it.
  await page.reload();
  await expect(m.detail).toHaveAttribute('data-token', hex);
  await expect(page).toHaveURL(new RegExp(`#/connections/${hex}$`));

  // Back to the list and Back again to the detail; Forward to the list.
  await page.getByTestId('detail-back').click();
  await expect(page).toHaveURL(/#\/connections$/);
  await expect(m.table).toBeVisible();
  await page.goBack();
  await expect(m.detail).toHaveAttribute('data-token', hex);
  await page.goForward();
  await expect(m.table).toBeVisible();
  await expect(m.detail).toHaveCount(0);

  // Filters are part of the address: the Events page's, through a reload and Back.
  await m.events();
  await expect(page).toHaveURL(/#\/events$/);
  await page.getByTestId('events-filter-kind').selectOption('link');
  await page.getByTestId('events-filter-token').fill(hex);
  await expect(page).toHaveURL(new RegExp(`#/events\\?kind=link&conn=${hex}$`));
  await page.reload();
  await expect(page.getByTestId('events-filter-kind')).toHaveValue('link');
  await expect(page.getByTestId('events-filter-token')).toHaveValue(hex);
  // The filter edits did not add history entries: one Back is the Connections list.
  await page.goBack();
  await expect(page).toHaveURL(/#\/connections$/);
  await expect(m.table).toBeVisible();
  // An address that names no view falls back to the Overview.
  await page.goto(`${studio.url}#/no-such-view`);
  await expect(page).toHaveURL(/#\/overview$/);
  await expect(page.getByTestId('overview-kernel')).toBeVisible();
});
