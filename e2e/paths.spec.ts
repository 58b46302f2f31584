import { ip } from '../src-main/lab/lab';
import { expect, test } from './fixtures';
import { MonitoringPage } from './pages/monitoring-page';
import { OverviewPage } from './pages/overview-page';

/**
 * Paths in the browser (docs/live-data.md "Interfaces of subflows"): on the worker's lab (two
 * paths, one connection with live traffic, a subflow per path), every subflow row names the
 * interface `ip route get DST from SRC` names, the Overview's Paths card counts them per
 * interface with a send rate, and the connection detail shows them per interface and in its
 * local × remote address matrix.
 */
test('each subflow’s interface, per interface on the Overview and in the detail’s matrix', async ({
  page,
  studio,
}) => {
  test.setTimeout(60_000);
  const { lab } = studio;
  const overview = new OverviewPage(page);
  await overview.open(studio.url);
  await expect(overview.subflowRows.filter({ hasText: 'ESTABLISHED' })).toHaveCount(2);
  const routeDev = async (local: string, remote: string): Promise<string> =>
    / dev (\S+)/.exec((await ip(['-n', lab.client, 'route', 'get', remote, 'from', local])).stdout)?.[1] ??
    '';
  const perIf = new Map<string, number>();
  for (const row of await overview.subflowRows.all()) {
    const local = ((await row.getAttribute('data-local')) ?? '').replace(/:\d+$/, '');
    const remote = ((await row.getAttribute('data-remote')) ?? '').replace(/:\d+$/, '');
    const dev = await routeDev(local, remote);
    await expect(row).toHaveAttribute('data-ifname', dev);
    perIf.set(dev, (perIf.get(dev) ?? 0) + 1);
  }
  expect([...perIf.keys()].sort()).toEqual(lab.paths.map((p) => p.clientIf).sort());
  for (const [dev, n] of perIf) {
    const row = page.getByTestId(`path-row-${dev}`);
    await expect(row).toHaveAttribute('data-subflows', String(n));
  }
  // The first path carries the traffic (200 kB/s): its send rate shows after two snapshots.
  await expect
    .poll(
      async () =>
        Number(
          await page
            .getByTestId(`path-row-${lab.paths[0]!.clientIf}`)
            .getAttribute('data-sent-bytes-per-sec'),
        ),
      { timeout: 15_000 },
    )
    .toBeGreaterThan(0);

  const m = new MonitoringPage(page);
  await m.connections();
  await m.row(await m.firstToken()).click();
  await expect(m.detail).toBeVisible();
  await expect(page.getByTestId('subflow-ifname')).toHaveText(
    await Promise.all(
      (await page.getByTestId('subflow-detail-row').all()).map(async (r) => {
        const [local, remote] = ((await r.locator('td').first().textContent()) ?? '')
          .split('→')
          .map((x) => x.trim().replace(/:\d+$/, ''));
        return routeDev(local!, remote!);
      }),
    ),
  );
  for (const p of lab.paths) {
    const cell = page.getByTestId(`matrix-cell-${p.clientAddress}-${p.serverAddress}`);
    await expect(cell).toHaveAttribute('data-subflows', '1');
    await expect(cell).toContainText(p.clientIf);
    await expect(page.getByTestId('conn-paths-table').getByTestId(`path-row-${p.clientIf}`)).toBeVisible();
  }
  await page.setViewportSize({ width: 1280, height: 1100 });
  await page.screenshot({ path: 'test-results/connection-paths.png', fullPage: true });
});
