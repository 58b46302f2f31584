import { readFile } from 'node:fs/promises';
import { nsRun, ip } from '../src-main/lab/lab';
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures';
import { ConfigurePage } from './pages/configure-page';

async function sysctl(ns: string, name: string): Promise<string> {
  return (await nsRun(ns, 'sysctl', ['-n', name])).stdout.trim();
}

interface IpEndpoint {
  address: string;
  id: number;
  dev?: string;
  /** iproute2 prints each flag as a boolean key: `"subflow": true`. */
  subflow?: boolean;
  signal?: boolean;
  backup?: boolean;
}

test.describe.configure({ mode: 'serial' });

test('Configure: limits, an endpoint, a sysctl and the default CC applied through the UI reach the kernel', async ({
  page,
  studio,
}) => {
  const ns = studio.lab.client;
  const cfg = new ConfigurePage(page);
  await cfg.open(studio.url);

  // This kernel has only the default scheduler; the lab offers reno, bbr and cubic.
  await expect(cfg.scheduler.locator('option:not([disabled])')).toHaveText(['default']);
  await expect(cfg.congestionControl.locator('option[value="reno"]')).toBeEnabled();
  // Coupled CCs are listed whether or not they can be loaded here (then with the reason).
  await expect(cfg.congestionControl.locator('option[value="mptcp_lia"]')).toHaveCount(1);
  await expect(page.getByTestId('cc-row-mptcp_lia')).toBeVisible();

  await cfg.setLimits(3, 2);
  await cfg.addEndpoint({ address: '10.99.2.1', ifname: 'c1', flags: ['subflow'] });
  await cfg.sysctl('add_addr_timeout').fill('60');
  await cfg.congestionControl.selectOption('reno');
  // Each change is named like the command that makes it.
  await expect(page.getByTestId('cfg-change-chips').locator('code')).toHaveText([
    'net.ipv4.tcp_congestion_control',
    'ip mptcp limits subflows',
    'ip mptcp limits add_addr_accepted',
    'ip mptcp endpoint',
    'net.mptcp.add_addr_timeout',
  ]);
  await expect(cfg.changeCount).toHaveAttribute('data-count', '5');

  await cfg.review();
  await expect(cfg.planErrors).toHaveCount(0);
  const steps = await cfg.planSteps();
  expect(steps).toEqual(
    expect.arrayContaining([
      expect.stringContaining('subflows 1 → 3, add_addr_accepted 1 → 2'),
      expect.stringContaining('Add endpoint 10.99.2.1 (subflow) on c1'),
      expect.stringContaining('net.mptcp.add_addr_timeout from 120 to 60'),
      expect.stringContaining('net.ipv4.tcp_congestion_control'),
    ]),
  );
  const shell = await cfg.planShell();
  expect(shell).toContain('ip mptcp limits set subflows 3 add_addr_accepted 2');
  expect(shell).toContain('ip mptcp endpoint add 10.99.2.1 dev c1 subflow');
  expect(shell).toContain('sysctl -w net.mptcp.add_addr_timeout=60');
  expect(shell).toContain('sysctl -w net.ipv4.tcp_congestion_control=reno');
  await page.screenshot({ path: 'test-results/configure-review.png', fullPage: true });

  await cfg.apply();
  await expect(cfg.report).toHaveAttribute('data-ok', 'true');
  // The form is read again from the kernel: nothing left to change.
  await expect(cfg.changeCount).toHaveAttribute('data-count', '0');
  await expect(cfg.limitSubflows).toHaveValue('3');
  // Read back with the interfaces: the endpoint's device is known, not "missing".
  await expect(cfg.endpointRows.first().getByTestId('endpoint-ifname').locator('option:checked')).toHaveText(
    'c1',
  );
  await expect(page.getByTestId('cfg-read-errors')).toHaveCount(0);
  await page.screenshot({ path: 'test-results/configure-applied.png', fullPage: true });

  expect(await sysctl(ns, 'net.mptcp.add_addr_timeout')).toBe('60');
  expect(await sysctl(ns, 'net.ipv4.tcp_congestion_control')).toBe('reno');
  const limits = (await ip(['-n', ns, 'mptcp', 'limits', 'show'])).stdout;
  expect(limits).toMatch(/add_addr_accepted 2/);
  expect(limits).toMatch(/subflows 3/);
  const endpoints = JSON.parse(
    (await ip(['-n', ns, '-j', 'mptcp', 'endpoint', 'show'])).stdout,
  ) as IpEndpoint[];
  const added = endpoints.find((e) => e.address === '10.99.2.1');
  expect(added).toMatchObject({ dev: 'c1', subflow: true });
  expect(added?.signal).toBeUndefined();
});

test('Configure: confirm-or-revert counts down and "Revert now" restores the sysctl', async ({
  page,
  studio,
}) => {
  const ns = studio.lab.client;
  const cfg = new ConfigurePage(page);
  await cfg.open(studio.url);
  const before = await sysctl(ns, 'net.mptcp.close_timeout');
  await cfg.sysctl('close_timeout').fill('45');
  await cfg.review();
  await cfg.apply(30);
  await expect(cfg.pendingBanner).toBeVisible();
  expect(await sysctl(ns, 'net.mptcp.close_timeout')).toBe('45');
  const first = await cfg.pendingRemainingS();
  expect(first).toBeGreaterThan(20);
  expect(first).toBeLessThanOrEqual(30);
  await expect.poll(() => cfg.pendingRemainingS(), { timeout: 5000 }).toBeLessThan(first);
  await page.screenshot({ path: 'test-results/configure-pending.png', fullPage: true });
  await page.getByTestId('pending-revert').click();
  await expect(cfg.pendingBanner).toHaveCount(0);
  await expect(cfg.report).toHaveAttribute('data-kind', 'revert');
  await expect(cfg.report).toHaveAttribute('data-ok', 'true');
  expect(await sysctl(ns, 'net.mptcp.close_timeout')).toBe(before);
});

/** The 4-tuples of the MPTCP subflows in `ns`, as `ss -tinM` prints them. */
async function subflowTuples(ns: string): Promise<string[]> {
  const lines = (await nsRun(ns, 'ss', ['-tinMH', 'state', 'established'])).stdout.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    // Netid Recv-Q Send-Q Local Peer; the -i line follows.
    const f = lines[i]!.trim().split(/\s+/);
    const [local, peer] = f.filter((w) => /:\d+$/.test(w));
    if (f[0] === 'tcp' && local && peer && (lines[i + 1] ?? '').includes('tcp-ulp-mptcp'))
      out.push(`${local} ${peer}`);
  }
  return out.sort();
}

test('Configure: a backup toggle keeps the live subflows, and an automatic revert reads as one', async ({
  page,
  studio,
}) => {
  const ns = studio.lab.client;
  const cfg = new ConfigurePage(page);
  await cfg.open(studio.url);
  const before = await subflowTuples(ns);
  expect(before.some((t) => t.startsWith('10.99.2.1:'))).toBe(true);

  await (await cfg.endpointRow('10.99.2.1')).getByTestId('endpoint-flag-backup').check();
  await cfg.review();
  expect(await cfg.planImpacts()).toEqual([['endpoint-flags', 'live']]);
  await expect(page.getByTestId('step-impact')).toContainText('become backup');
  await expect(page.getByTestId('step-impact')).toContainText('all stay open');
  expect(await cfg.planShell()).toMatch(/^ip mptcp endpoint change id \d+ backup nofullmesh$/);
  await expect(cfg.disruption).toHaveCount(0);

  await cfg.apply(5);
  await expect(cfg.pendingBanner).toBeVisible();
  const eps = JSON.parse((await ip(['-n', ns, '-j', 'mptcp', 'endpoint', 'show'])).stdout) as IpEndpoint[];
  expect(eps.find((e) => e.address === '10.99.2.1')).toMatchObject({ backup: true });
  await expect(page.getByTestId('report-pending')).toContainText('Reverts by itself at');

  // Not confirmed: the engine reverts at the deadline, and the page says so in words.
  await expect(cfg.outcome).toContainText(/Reverted at \d\d:\d\d:\d\d: not confirmed within 5 s/, {
    timeout: 15_000,
  });
  await expect(page.getByTestId('cfg-outcome-kind')).toHaveAttribute('data-reason', 'deadline');
  await expect(cfg.pendingBanner).toHaveCount(0);
  await expect(page.getByTestId('report-pending')).toHaveCount(0);
  await page.screenshot({ path: 'test-results/configure-reverted.png', fullPage: true });
  const after = JSON.parse((await ip(['-n', ns, '-j', 'mptcp', 'endpoint', 'show'])).stdout) as IpEndpoint[];
  expect(after.find((e) => e.address === '10.99.2.1')).not.toHaveProperty('backup');
  // Set in place and put back in place: every subflow is still the one it was.
  expect(await subflowTuples(ns)).toEqual(before);

  // The Events page lists both, as config events with their steps.
  await page.getByTestId('nav-events').click();
  await page.getByTestId('events-filter-kind').selectOption('config');
  const rows = page.locator('[data-testid="event-row"][data-kind="config"]');
  // Newest first; the host's history also holds the outcomes of earlier tests on this worker's
  // lab (the timeline outlives page loads), so this test's two are the first two.
  await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(2);
  await expect(rows.first()).toContainText('not confirmed within 5 s');
  await expect(rows.first()).toContainText('in place: backup off');
  await expect(rows.nth(1)).toContainText('in place: backup on');
});

/** Established subflows of the lab's traffic connection (to the server's port 5201). */
async function liveSubflows(ns: string): Promise<number> {
  const { stdout } = await nsRun(ns, 'ss', ['-tnH', 'state', 'established', 'dport', '5201']);
  return stdout.split('\n').filter(Boolean).length;
}

test('Configure: a step that closes live subflows needs the consent checkbox', async ({ page, studio }) => {
  const ns = studio.lab.client;
  try {
    await consentTest(page, studio.url, ns);
  } finally {
    // The apply closed a live subflow, and the kernel re-creates none; the worker's lab is shared
    // with the next specs, which expect one connection with 2 subflows: endpoints back to none,
    // and a new traffic connection in place of the old one.
    await ip(['-n', ns, 'mptcp', 'endpoint', 'flush']);
    await studio.resetTraffic();
    await expect.poll(() => liveSubflows(ns), { timeout: 15_000 }).toBe(2);
  }
});

async function consentTest(page: Page, url: string, ns: string): Promise<void> {
  const cfg = new ConfigurePage(page);
  await cfg.open(url);
  // subflow → signal: the kernel cannot change that in place, so the endpoint is deleted and added.
  const row = await cfg.endpointRow('10.99.2.1');
  await row.getByTestId('endpoint-flag-subflow').uncheck();
  await row.getByTestId('endpoint-flag-signal').check();
  await cfg.review();
  expect(await cfg.planImpacts()).toEqual([
    ['endpoint-del', 'closes'],
    ['endpoint-add', 'live'],
  ]);
  await expect(cfg.disruption).toContainText(/closes \d+ live subflows? of 1 connection \(10\.99\.2\.1\)/);
  await expect(cfg.applyButton).toBeDisabled();
  await page.screenshot({ path: 'test-results/configure-consent.png', fullPage: true });
  const eps = (await ip(['-n', ns, 'mptcp', 'endpoint', 'show'])).stdout;

  await cfg.allowDisruption.check();
  await expect(cfg.applyButton).toBeEnabled();
  await cfg.apply();
  await expect(cfg.report).toHaveAttribute('data-ok', 'true');
  const now = JSON.parse((await ip(['-n', ns, '-j', 'mptcp', 'endpoint', 'show'])).stdout) as IpEndpoint[];
  expect(now.find((e) => e.address === '10.99.2.1')).toMatchObject({ signal: true });
  expect(now.find((e) => e.address === '10.99.2.1')?.subflow).toBeUndefined();
  expect((await ip(['-n', ns, 'mptcp', 'endpoint', 'show'])).stdout).not.toBe(eps);
}

test('Configure: changes are named like the commands they run, and Apply stays in view next to a long plan', async ({
  page,
  studio,
}) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  const cfg = new ConfigurePage(page);
  await cfg.open(studio.url);
  // Values no other test of this worker's lab sets, so that each one is a change.
  await cfg.setLimits(7, 5);
  for (const [name, value] of [
    ['add_addr_timeout', '77'],
    ['close_timeout', '33'],
    ['stale_loss_cnt', '5'],
    ['blackhole_timeout', '1234'],
  ] as const)
    await cfg.sysctl(name).fill(value);
  const chips = page.getByTestId('cfg-change-chips').locator('code');
  await expect(chips).toHaveText([
    'ip mptcp limits subflows',
    'ip mptcp limits add_addr_accepted',
    'net.mptcp.add_addr_timeout',
    'net.mptcp.close_timeout',
    'net.mptcp.stale_loss_cnt',
    'net.mptcp.blackhole_timeout',
  ]);
  await expect(page.getByTestId('cfg-change-count')).toHaveText('6 settings');
  await cfg.review();
  const steps = page.getByTestId('plan-steps').locator('li');
  await expect(steps).toHaveCount(5);
  // The plan is longer than the side column shows, yet Apply is in view without scrolling.
  await expect(page.getByTestId('plan-shell')).not.toBeInViewport();
  await expect(cfg.applyButton).toBeInViewport();
  await expect(cfg.applyButton).toHaveText('Apply 5 steps');
  await page.screenshot({ path: 'test-results/configure-apply-in-view.png' });
  // Nothing was applied: the form goes back to the kernel's values.
  await page.getByRole('button', { name: 'Discard' }).first().click();
  await expect(page.getByTestId('cfg-change-count')).toHaveText('none');
});

test('Profiles: a bad profile file is refused with its field and rule; the list is unchanged', async ({
  page,
  studio,
}) => {
  const cfg = new ConfigurePage(page);
  await page.goto(studio.url);
  await cfg.openProfiles();
  await expect(page.locator('[data-testid^="profile-row-"]').first()).toBeVisible();
  const before = await cfg.profileNames();
  await cfg.importProfile(
    'bad-profile.json',
    JSON.stringify({
      schemaVersion: 1,
      name: 'e2e bad profile',
      config: { limits: { subflows: 99, addAddrAccepted: 0 }, turbo: true },
    }),
  );
  await expect(cfg.importErrors).toBeVisible();
  await expect(cfg.importErrors).toContainText('config.limits.subflows');
  await expect(cfg.importErrors).toContainText('8');
  await expect(cfg.importErrors).toContainText('turbo');
  expect(await cfg.profileNames()).toEqual(before);
  expect(before).not.toContain('e2e bad profile');
  await page.screenshot({ path: 'test-results/profiles-import-errors.png', fullPage: true });
});

test('Profiles: a built-in profile shows its JSON and loads into Configure as a plan to review, not applied', async ({
  page,
  studio,
}) => {
  const cfg = new ConfigurePage(page);
  await page.goto(studio.url);
  await cfg.openProfiles();
  const row = page.getByTestId('profile-row-server (announce all addresses)');
  await row.getByTestId('profile-view').click();
  await expect(row.getByTestId('profile-json')).toContainText('endpointPolicy');
  await page.screenshot({ path: 'test-results/profiles.png', fullPage: true });
  const before = (await ip(['-n', studio.lab.client, 'mptcp', 'endpoint', 'show'])).stdout;
  await row.getByTestId('profile-load').click();
  await expect(page.getByTestId('configure-page')).toBeVisible();
  await expect(page.getByTestId('cfg-draft-source')).toContainText('server (announce all addresses)');
  await expect(page.getByTestId('plan-steps')).toContainText('Add endpoint');
  await page.screenshot({ path: 'test-results/configure-from-profile.png', fullPage: true });
  expect((await ip(['-n', studio.lab.client, 'mptcp', 'endpoint', 'show'])).stdout).toBe(before);
});

test('Profiles: exporting the current state downloads a file through a Blob URL under the CSP', async ({
  page,
  studio,
}) => {
  const cspViolations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  const cfg = new ConfigurePage(page);
  await page.goto(studio.url);
  await cfg.openProfiles();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-current').click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/\.json$/);
  const text = await readFile(await download.path(), 'utf8');
  const profile = JSON.parse(text) as { config: { limits?: { subflows: number } } };
  expect(profile.config.limits?.subflows).toBe(3);
  expect(cspViolations).toEqual([]);
});
