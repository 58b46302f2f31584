import { spawn } from 'node:child_process';
import { ip, nsRun, waitFor } from '../src-main/lab/lab';
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

test('the open Overview follows the kernel within 2 s: link down/up, an endpoint, a sysctl, a path manager start', async ({
  page,
  studio,
}) => {
  const ns = studio.lab.client;
  const overview = new OverviewPage(page);
  await overview.open(studio.url);
  const c1 = overview.interfaceRow('c1');
  await expect(c1).toContainText('up');
  // Every change below is made from a shell, as another admin would, and must show without reload.
  await ip(['-n', ns, 'link', 'set', 'c1', 'down']);
  await expect(c1).toContainText('down', { timeout: 2000 });
  await ip(['-n', ns, 'link', 'set', 'c1', 'up']);
  await expect(c1).not.toContainText('down', { timeout: 2000 });

  // The kernel announces no endpoint or sysctl change: the host re-reads them every second. The
  // lab is shared by the worker's tests: what this test changes, it puts back.
  const current = (await nsRun(ns, 'sysctl', ['-n', 'net.mptcp.add_addr_timeout'])).stdout.trim();
  // An address of its own, so that no live subflow is touched (the kernel already holds an
  // implicit endpoint for the address its second subflow uses).
  await ip(['-n', ns, 'addr', 'add', '10.99.2.77/24', 'dev', 'c1']);
  try {
    await expect(c1).toContainText('10.99.2.77', { timeout: 2000 });
    await ip(['-n', ns, 'mptcp', 'endpoint', 'add', '10.99.2.77', 'dev', 'c1', 'backup']);
    await expect(c1).toContainText(/10\.99\.2\.77\/24\s*endpoint \d+\s*backup/, { timeout: 2000 });

    const next = current === '77' ? '78' : '77';
    await nsRun(ns, 'sysctl', ['-w', `net.mptcp.add_addr_timeout=${next}`]);
    await expect(page.getByTestId('sysctl-net.mptcp.add_addr_timeout')).toHaveAttribute('data-value', next, {
      timeout: 2000,
    });
  } finally {
    const shown = (await ip(['-n', ns, 'mptcp', 'endpoint', 'show'])).stdout;
    const id = /10\.99\.2\.77 id (\d+)/.exec(shown)?.[1];
    if (id) await ip(['-n', ns, 'mptcp', 'endpoint', 'delete', 'id', id]);
    await ip(['-n', ns, 'addr', 'del', '10.99.2.77/24', 'dev', 'c1']);
    await nsRun(ns, 'sysctl', ['-w', `net.mptcp.add_addr_timeout=${current}`]);
  }

  // Another engine becomes the namespace's path manager (userspace), then stops and restores it.
  const pathManager = page.getByTestId('kernel-path-manager');
  await expect(pathManager).toHaveAttribute('data-value', 'kernel');
  const pm = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      process.execPath,
      'bin/mptcp-studio.mjs',
      'pm',
      '--mode',
      'fullmesh',
      '--manager',
      'userspace',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    // The run switches path_manager once it has started; the page shows it within 2 s of that.
    await waitFor(
      'the path manager run to switch path_manager',
      async () => (await nsRun(ns, 'sysctl', ['-n', 'net.mptcp.path_manager'])).stdout.trim(),
      (v) => v === 'userspace',
      20_000,
    );
    await expect(pathManager).toHaveAttribute('data-value', 'userspace', { timeout: 2000 });
  } finally {
    const exited = new Promise((r) => pm.once('exit', r));
    pm.kill('SIGTERM');
    await exited;
  }
  // The run restores path_manager as it stops; the page shows it within 2 s of the kernel.
  await waitFor(
    'the stopped run to restore path_manager',
    async () => (await nsRun(ns, 'sysctl', ['-n', 'net.mptcp.path_manager'])).stdout.trim(),
    (v) => v === 'kernel',
    20_000,
  );
  await expect(pathManager).toHaveAttribute('data-value', 'kernel', { timeout: 2000 });
  await page.screenshot({ path: 'test-results/overview-live.png', fullPage: true });
});
