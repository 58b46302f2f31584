import { ip, nsRun } from '../src-main/lab/lab';
import { expect, test } from './fixtures';
import { MonitoringPage } from './pages/monitoring-page';
import { OverviewPage } from './pages/overview-page';

/** `backoff:N` that `ss -tin` prints for the subflow from `local` (0 when it prints none). */
async function ssBackoff(ns: string, local: string): Promise<number> {
  const { stdout } = await nsRun(ns, 'ss', ['-tinH', 'src', local, 'dport', '5201']);
  return Number(/\bbackoff:(\d+)/.exec(stdout)?.[1] ?? 0);
}

/**
 * Subflow health in the browser (docs/live-data.md "Subflow health"): the server marks the second
 * path backup (MP_PRIO: the peer's flag on our side), then the first path is cut with iptables
 * DROP in the server namespace. The Overview shows the cut subflow `stalled` while `ss` shows its
 * backoff, the backup labelled as the peer's; the connection detail marks the stall on its charts
 * and in its table.
 */
test('a cut path shows as stalled, the backup as the peer’s, the stall marked on the charts', async ({
  page,
  studio,
}) => {
  test.setTimeout(90_000);
  const { lab } = studio;
  const [p0, p1] = lab.paths;
  const overview = new OverviewPage(page);
  await overview.open(studio.url);
  await expect(overview.subflowRows.filter({ hasText: 'ESTABLISHED' })).toHaveCount(2);
  const rowOf = (local: string) => page.locator(`[data-testid="subflow-row"][data-local^="${local}:"]`);
  await expect(rowOf(p0!.clientAddress).getByTestId('subflow-health')).toHaveAttribute(
    'data-health',
    /active|app-limited/,
  );

  const cut = (op: '-A' | '-D') =>
    Promise.all([
      nsRun(lab.server, 'iptables', [op, 'INPUT', '-i', p0!.serverIf, '-j', 'DROP']),
      nsRun(lab.server, 'iptables', [op, 'OUTPUT', '-o', p0!.serverIf, '-j', 'DROP']),
    ]);
  await ip(['-n', lab.server, 'mptcp', 'endpoint', 'change', p1!.serverAddress, 'backup']);
  try {
    await expect(rowOf(p1!.clientAddress).getByTestId('subflow-backup')).toHaveText("backup (peer's)");

    // The connection detail first, so that its charts hold the time before the cut.
    const m = new MonitoringPage(page);
    await m.connections();
    await m.row(await m.firstToken()).click();
    await expect(m.detail).toBeVisible();
    await page.getByTestId('window-30s').click();
    await expect
      .poll(async () => Number(await m.chart('rtt').getAttribute('data-points')), { timeout: 20_000 })
      .toBeGreaterThan(60);
    await expect(m.chart('rtt').getByTestId('stall-marker')).toHaveCount(0);
    await cut('-A');
    const stalledRow = page.locator('[data-testid="subflow-detail-row"][data-health="stalled"]');
    await expect(stalledRow).toHaveCount(1, { timeout: 20_000 });
    await expect(stalledRow).toContainText(p0!.clientAddress);
    await expect(stalledRow.getByTestId('subflow-delivery-rate')).toHaveAttribute(
      'data-rate-quality',
      'stale',
    );
    await expect(page.getByTestId(`matrix-cell-${p0!.clientAddress}-${p0!.serverAddress}`)).toContainText(
      '(stale)',
    );
    for (const chart of ['rtt', 'cwnd', 'throughput'] as const) {
      await expect(m.chart(chart).getByTestId('stall-marker').first()).toBeVisible({ timeout: 15_000 });
      await expect(m.chart(chart).getByTestId('legend-stalled')).toHaveCount(1);
    }
    // The backup carries the traffic now.
    await expect(
      page.locator('[data-testid="subflow-detail-row"]', { hasText: p1!.clientAddress }),
    ).toHaveAttribute('data-health', /active|app-limited/, { timeout: 15_000 });
    await page.waitForTimeout(5000); // a few seconds of stall on the charts, for the picture
    await page.setViewportSize({ width: 1280, height: 1100 });
    await page.screenshot({ path: 'test-results/connection-health.png', fullPage: true });

    // The Overview: the cut subflow stalled while ss shows its RTO backoff.
    await page.getByTestId('nav-overview').click();
    await expect(rowOf(p0!.clientAddress).getByTestId('subflow-health')).toHaveAttribute(
      'data-health',
      'stalled',
      { timeout: 15_000 },
    );
    expect(await ssBackoff(lab.client, p0!.clientAddress)).toBeGreaterThan(0);
    await expect(rowOf(p0!.clientAddress).getByTestId('subflow-delivery-rate')).toHaveAttribute(
      'data-rate-quality',
      'stale',
    );
    await expect(rowOf(p1!.clientAddress).getByTestId('subflow-backup')).toHaveText("backup (peer's)");
  } finally {
    await cut('-D');
    await ip(['-n', lab.server, 'mptcp', 'endpoint', 'change', p1!.serverAddress, 'nobackup']);
  }
  // The path is back: a valid RTT sample resets the backoff and the subflow leaves `stalled`.
  await expect(rowOf(p0!.clientAddress).getByTestId('subflow-health')).not.toHaveAttribute(
    'data-health',
    'stalled',
    { timeout: 45_000 },
  );
  await studio.resetTraffic();
});
