/**
 * The Path doctor page in Chromium against the real web host (`serve --netns <lab client>`) and the
 * Path doctor lab (src-main/lab/path-doctor-lab.ts): five paths client → r1 … r4 → server, with
 * no route out of the lab. Path 0 is clean; r2 drops SYN + MP_JOIN on path 1, resets it on path
 * 2, strips DSS from data on path 3 and strips option 30 from everything on path 4. Every probe
 * goes from the lab's client namespace to the lab's server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { expect, test as base } from '@playwright/test';
import { labUnavailableReason } from '../src-main/lab/lab';
import { PathDoctorLab, TARGET_PORTS } from '../src-main/lab/path-doctor-lab';
import { startServe, stopServe } from '../src-main/lab/serve';
import { probeHelperPath } from '../src-main/engine/pathdoctor/helper';
import { PathDoctorPage } from './pages/path-doctor-page';

interface Doctor {
  lab: PathDoctorLab;
  url: string;
}

const SHOTS = 'test-results/path-doctor';

const test = base.extend<object, { doctor: Doctor }>({
  doctor: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const reason = labUnavailableReason();
      test.skip(reason !== null, reason ?? '');
      const lab = await PathDoctorLab.create({
        paths: 5,
        stripPaths: [4],
        joinDropPaths: [1],
        joinRefusePaths: [2],
        dssStripPaths: [3],
      });
      let serve: ChildProcess | null = null;
      try {
        await lab.startTargets(probeHelperPath());
        const started = await startServe(lab.client);
        serve = started.child;
        mkdirSync(SHOTS, { recursive: true });
        await use({ lab, url: started.url });
      } finally {
        await stopServe(serve);
        await lab.destroy();
      }
    },
    { scope: 'worker' },
  ],
});

test.describe.configure({ mode: 'serial' });

test('trace from two interfaces side by side: the stripping hop on one, MPTCP on the other', async ({
  page,
  doctor,
}) => {
  await page.setViewportSize({ width: 1360, height: 1000 });
  const pd = new PathDoctorPage(page);
  const server = doctor.lab.paths[0]?.serverAddress ?? '';
  await pd.open(doctor.url);
  await pd.trace(server, TARGET_PORTS.mptcp, ['c0', 'c4']);
  await expect(pd.verdicts).toHaveCount(2);
  await expect(pd.verdicts.nth(0)).toHaveText(/^c0 \(10\.0\.1\.1\) MPTCP works on this path/);
  await expect(pd.verdicts.nth(1)).toHaveText(
    'c4 (10.4.1.1) MP_CAPABLE is removed between hop 2 (10.4.2.2) and hop 3 (10.4.3.2) (overwritten with NOPs)',
  );
  await expect(page.getByTestId('hop-column')).toHaveText(['from c0 (10.0.1.1)', 'from c4 (10.4.1.1)']);
  // Hop 3 on c4's path is where MP_CAPABLE goes: marked; c0's hop 3 is not.
  await expect(pd.hop(3, 1)).toHaveAttribute('data-breaking', 'true');
  await expect(pd.hop(3, 1).getByTestId('change-new')).toHaveText('TCP::Option_MP_CAPABLE NOPed');
  await expect(pd.hop(3, 0)).toHaveAttribute('data-mptcp', 'intact');
  // r1 clamps the MSS on every path: new at hop 2; r3 rewrites DSCP: new at hop 4.
  await expect(pd.hop(2, 0).getByTestId('change-new')).toHaveText('TCP::Option_MSS 1460→1200');
  await expect(pd.hop(4, 0).getByTestId('change-new')).toHaveText('IP::DSCP 0→10');
  await expect(pd.historyItems('done')).toHaveCount(1);
  await page.getByTestId('trace-result').screenshot({ path: `${SHOTS}/trace.png` });
  await page.screenshot({ path: `${SHOTS}/page-trace.png`, fullPage: true });
});

test('scan: the table fills while it runs, filters by class, exports CSV', async ({ page, doctor }) => {
  await page.setViewportSize({ width: 1360, height: 1000 });
  const pd = new PathDoctorPage(page);
  const [p0, p4] = [doctor.lab.paths[0]?.serverAddress ?? '', doctor.lab.paths[4]?.serverAddress ?? ''];
  await pd.open(doctor.url);
  await pd.scan(`${p0} ${p4}`, '8001-8008');
  await expect(pd.scanRows()).toHaveCount(16);
  await expect(pd.progress).toHaveCount(0);
  // Path 0 reaches the MPTCP listener; over path 4 it answers as plain TCP (option 30 stripped).
  await expect(page.locator(`[data-testid="scan-row"][data-class="mptcp-v1"]`)).toHaveCount(1);
  await expect(pd.scanRows('mptcp-v1')).toContainText(p0);
  await expect(pd.scanRows('syn-blackhole')).toHaveCount(1);
  await page.getByTestId('scan-filter-class').selectOption('tcp');
  await expect(pd.scanRows('tcp').first()).toBeVisible();
  await expect(pd.scanRows('closed')).toHaveCount(0);
  await page.getByTestId('scan-filter-class').selectOption('all');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('scan-export-csv').click(),
  ]);
  const csv = await readFile((await download.path()) ?? '', 'utf8');
  expect(csv.trim().split('\n')).toHaveLength(17);
  expect(csv).toContain(`${p0},,${TARGET_PORTS.mptcp},mptcp-v1,1,false,false`);
  await page.getByTestId('scan-result').screenshot({ path: `${SHOTS}/scan.png` });
});

test('subflow check: per path, joins OK, dropped, refused, broken by data', async ({ page, doctor }) => {
  await page.setViewportSize({ width: 1360, height: 1000 });
  const pd = new PathDoctorPage(page);
  await pd.open(doctor.url);
  // The one change the check makes to the namespace is shown, and must be allowed, beforehand.
  await pd.tool('subflows');
  await page.getByTestId('pd-target').fill(doctor.lab.paths[0]?.serverAddress ?? '');
  await expect(page.getByTestId('pd-pm-consent')).toContainText(
    'net.mptcp.path_manager from kernel to userspace while the check',
  );
  await expect(page.getByTestId('pd-run')).toBeDisabled();
  await pd.subflows(
    doctor.lab.paths[0]?.serverAddress ?? '',
    TARGET_PORTS.mptcp,
    ['c0', 'c1', 'c2', 'c3'],
    2,
  );
  await expect(pd.progress).toBeVisible();
  await expect(page.getByTestId('subflows-verdict')).toBeVisible({ timeout: 30_000 });
  await expect(pd.pathRow('c0')).toHaveAttribute('data-outcome', 'ok');
  await expect(pd.pathRow('c1')).toHaveAttribute('data-outcome', 'dropped');
  await expect(pd.pathRow('c2')).toHaveAttribute('data-outcome', 'refused');
  await expect(pd.pathRow('c3')).toHaveAttribute('data-outcome', 'fallback');
  await expect(page.getByTestId('subflow-row')).toHaveCount(8);
  await expect(page.getByTestId('subflows-payload')).toContainText('every byte intact');
  await page.getByTestId('subflows-result').screenshot({ path: `${SHOTS}/subflows.png` });
});

test('cancel a slow scan; the history is the host’s and outlives a reload', async ({ page, doctor }) => {
  const pd = new PathDoctorPage(page);
  await pd.open(doctor.url);
  const before = await pd.historyItems().count();
  await pd.scan(doctor.lab.paths[0]?.serverAddress ?? '', '9000-9399', 20);
  await expect(pd.progress).toBeVisible();
  await expect(page.getByTestId('pd-progress-message')).toContainText('probed');
  await page.getByTestId('pd-cancel').click();
  await expect(pd.progress).toHaveCount(0);
  await expect(pd.historyItems('cancelled')).toHaveCount(1);
  await page.reload();
  await page.getByTestId('nav-path-doctor').click();
  await expect(pd.historyItems()).toHaveCount(before + 1);
  await expect(pd.historyItems('cancelled')).toHaveCount(1);
  // A run from the history opens again.
  await pd.historyItems('done').last().getByRole('button').click();
  await expect(page.getByTestId('trace-result')).toBeVisible();
});

/** An MPTCP connection from `source` that stays open (the probe helper's check mode), until stopped. */
async function openConnection(ns: string, source: string, target: string, port: number): Promise<() => void> {
  const child = spawn('ip', ['netns', 'exec', ns, probeHelperPath(), 'check'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const next = (): Promise<string> => new Promise((resolve) => lines.once('line', resolve));
  await next(); // ready
  child.stdin.write(`open mptcp 4 ${source}\n`);
  await next();
  child.stdin.write(`connect ${target} ${port} 3000\n`);
  const connected = await next();
  if (!connected.includes('"ok":true')) throw new Error(`connect: ${connected}`);
  return () => child.kill('SIGKILL');
}

test('a connection that fell back offers “Trace this path”, which traces from its own address', async ({
  page,
  doctor,
}) => {
  const c4 = doctor.lab.paths[4];
  const server = doctor.lab.paths[0]?.serverAddress ?? '';
  if (!c4) throw new Error('path 4');
  // Path 4 strips option 30: this connection falls back to TCP at the handshake.
  const stop = await openConnection(doctor.lab.client, c4.clientAddress, server, TARGET_PORTS.mptcp);
  try {
    await page.goto(doctor.url);
    await page.getByTestId('nav-connections').click();
    const row = page.locator('[data-testid^="conn-row-"]').first();
    await expect(row).toBeVisible();
    await row.click();
    await page.getByTestId('trace-this-path').click();
    await expect(page.getByTestId('path-doctor-page')).toBeVisible();
    await expect(page.getByTestId('pd-target')).toHaveValue(server);
    await expect(page.getByTestId('trace-verdict')).toHaveText(
      `${c4.clientAddress} MP_CAPABLE is removed between hop 2 (10.4.2.2) and hop 3 (10.4.3.2) (overwritten with NOPs)`,
    );
  } finally {
    stop();
  }
});
