import { nsRun } from '../src-main/lab/lab';
import { expect, test } from './fixtures';
import { OverviewPage } from './pages/overview-page';

/** Subflow endpoints `ss -tinM` reports in the namespace, as "a.b.c.d:port" pairs. */
async function ssSubflows(ns: string): Promise<string[]> {
  const { stdout } = await nsRun(ns, 'ss', ['-tnH', 'state', 'established', 'dport', '5201']);
  return stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const cols = l.trim().split(/\s+/);
      return `${cols[2]} ${cols[3]}`;
    })
    .sort();
}

test('the Overview shows the lab connection with its 2 subflows and plausible RTT/cwnd', async ({
  page,
  studio,
}) => {
  const overview = new OverviewPage(page);
  await overview.open(studio.url);
  await expect(overview.mptcpEnabled).toBeVisible();
  await expect(overview.interfaceRow('c0')).toContainText('10.99.1.1');
  await expect(overview.interfaceRow('c1')).toContainText('10.99.2.1');
  await expect(overview.connectionRows).toHaveCount(1);
  // The join of the second subflow is asynchronous: the live list must show it established.
  await expect(overview.subflowRows.filter({ hasText: 'ESTABLISHED' })).toHaveCount(2);

  const shown = await overview.subflows();
  const fromSs = await ssSubflows(studio.lab.client);
  expect(shown.map((s) => `${s.local} ${s.remote}`).sort()).toEqual(fromSs);
  for (const sf of shown) {
    // veth in one machine: RTT is tens of µs to a few ms; cwnd is at least the initial window.
    expect(sf.rttUs).toBeGreaterThan(0);
    expect(sf.rttUs).toBeLessThan(200_000);
    expect(sf.cwnd).toBeGreaterThanOrEqual(1);
    expect(sf.cwnd).toBeLessThan(100_000);
  }
  await page.screenshot({ path: 'test-results/overview.png', fullPage: true });
});

test('the web host refuses requests without the token', async ({ page, request, studio }) => {
  const plain = await request.get(`${studio.origin}/`);
  expect(plain.status()).toBe(401);
  const wrong = await request.get(`${studio.origin}/?token=not-the-token`);
  expect(wrong.status()).toBe(401);
  await page.goto(`${studio.origin}/`);
  await expect(page.locator('body')).toContainText('Unauthorised');
});
