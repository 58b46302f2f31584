/**
 * Coupled congestion control from the UI, against the real kernel: load a uniquely named copy of
 * LIA (never the real mptcp_lia), see it in the kernel's list, make it the lab namespace's
 * default, see Unload refused while it is, switch back, unload. The copy is unregistered in
 * teardown whatever happens, by an exit hook if teardown never runs, and by the next run's global
 * setup if the worker was killed (src-main/lab/cc-test-copies.ts). The object sits in a root-owned
 * 0755 directory, so it passes the privileged engine's ownership checks for real.
 */
import { randomInt } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { test as base, expect } from '@playwright/test';
import { ccTestObjectDir, recordCcCopies, releaseCcCopies } from '../src-main/lab/cc-test-copies';
import { Lab, labUnavailableReason, nsRun, run } from '../src-main/lab/lab';
import { startServe, stopServe } from './fixtures';
import { ConfigurePage } from './pages/configure-page';

interface CcStudio {
  lab: Lab;
  url: string;
  /** The registered name of the LIA copy (mptcp_lia + a random suffix). */
  lia: string;
  /** The registered name of the Balia copy (mptcp_balia + the same suffix). */
  balia: string;
}

const available = (): string[] =>
  readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8').trim().split(/\s+/);

const test = base.extend<object, { ccStudio: CcStudio }>({
  ccStudio: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const reason =
        labUnavailableReason() ??
        (existsSync('/sys/kernel/btf/vmlinux') ? null : 'this kernel has no BTF (CONFIG_DEBUG_INFO_BTF)');
      test.skip(reason !== null, reason ?? '');
      // `_e` + 2 base-36 characters: mptcp_balia_e1z is 15 characters, TCP_CA_NAME_MAX minus the
      // NUL (catalog.ts); 1,296 names, as the CC namespace is host-wide and runs may overlap.
      const suffix = `_e${randomInt(1296).toString(36).padStart(2, '0')}`;
      const names = [`mptcp_lia${suffix}`, `mptcp_olia${suffix}`, `mptcp_balia${suffix}`];
      const dir = ccTestObjectDir();
      const record = recordCcCopies(names, [dir]);
      const { buildBpfCc } = (await import(pathToFileURL(resolve('scripts/build-bpf.mjs')).href)) as {
        buildBpfCc: (o: { algo: string; ccName: string; outFile: string }) => Promise<string>;
      };
      // LIA and Balia are built; OLIA is not (its row must say why it cannot be loaded).
      const built = [
        ['lia', names[0]!],
        ['balia', names[2]!],
      ] as const;
      for (const [algo, name] of built) {
        await buildBpfCc({ algo, ccName: name, outFile: join(dir, `${name}.bpf.o`) });
        chmodSync(join(dir, `${name}.bpf.o`), 0o644);
      }
      chmodSync(dir, 0o755);
      const lab = await Lab.create({ paths: 2 });
      let serve: ChildProcess | null = null;
      try {
        await lab.startServer(5201);
        const started = await startServe(lab.client, {
          MPTCP_STUDIO_BPF_DIR: dir,
          MPTCP_STUDIO_CC_SUFFIX: suffix,
        });
        serve = started.child;
        await use({ lab, url: started.url, lia: names[0]!, balia: names[2]! });
      } finally {
        await stopServe(serve);
        await lab.destroy();
        for (const n of names) {
          if (available().includes(n)) await run('bpftool', ['struct_ops', 'unregister', 'name', n]);
        }
        releaseCcCopies(record);
        rmSync(dir, { recursive: true, force: true });
      }
    },
    { scope: 'worker' },
  ],
});

async function sysctl(ns: string, name: string): Promise<string> {
  return (await nsRun(ns, 'sysctl', ['-n', name])).stdout.trim();
}

test('Coupled CC: load LIA from the UI, make it the default, unload refused while in use, then unloaded', async ({
  page,
  ccStudio,
}) => {
  const { lab, lia } = ccStudio;
  const cfg = new ConfigurePage(page);
  await cfg.open(ccStudio.url);
  const row = page.getByTestId('cc-row-mptcp_lia');
  await expect(row).toHaveAttribute('data-state', 'loadable');
  await expect(row).toContainText(lia);
  await expect(page.getByTestId('cc-coupled')).toContainText(
    'coupled: fair to single-path TCP on shared bottlenecks, RFC 6356',
  );
  // No OLIA copy was built: the row says so instead of offering a button that would fail.
  await expect(page.getByTestId('cc-row-mptcp_olia')).toHaveAttribute('data-state', 'unavailable');
  await expect(page.getByTestId('cc-load-mptcp_olia')).toBeDisabled();
  await expect(page.getByTestId('cc-reason-mptcp_olia')).toContainText('.bpf.o is missing');

  await page.getByTestId('cc-load-mptcp_lia').click();
  await expect(row).toHaveAttribute('data-state', 'loaded');
  expect(available()).toContain(lia);
  await expect(cfg.congestionControl.locator(`option[value="${lia}"]`)).toBeEnabled();

  await cfg.congestionControl.selectOption(lia);
  await cfg.review();
  expect(await cfg.planShell()).toContain(`sysctl -w net.ipv4.tcp_congestion_control=${lia}`);
  await cfg.apply();
  await expect(cfg.report).toHaveAttribute('data-ok', 'true');
  expect(await sysctl(lab.client, 'net.ipv4.tcp_congestion_control')).toBe(lia);
  await expect(page.getByTestId('cc-unload-mptcp_lia')).toBeDisabled();
  await expect(page.getByTestId('cc-unload-reason-mptcp_lia')).toContainText(
    'default congestion control of this network namespace',
  );
  await page.screenshot({ path: 'test-results/cc-default.png', fullPage: true });

  // reno: outside the host namespace only non-restricted CCs may become the default.
  await cfg.congestionControl.selectOption('reno');
  await cfg.review();
  await cfg.apply();
  await expect(cfg.report).toHaveAttribute('data-ok', 'true');
  expect(await sysctl(lab.client, 'net.ipv4.tcp_congestion_control')).toBe('reno');

  await expect(page.getByTestId('cc-unload-mptcp_lia')).toBeEnabled();
  await page.getByTestId('cc-unload-mptcp_lia').click();
  await expect(row).toHaveAttribute('data-state', 'loadable');
  await expect(page.getByTestId('cc-message')).toHaveText(`unregistered ${lia}`);
  expect(available()).not.toContain(lia);
  await expect(cfg.congestionControl.locator(`option[value="${lia}"]`)).toHaveCount(1); // loadable again
});

test('Coupled CC: load Balia from the UI, the kernel lists it under its suffixed name, then unload it', async ({
  page,
  ccStudio,
}) => {
  const { balia } = ccStudio;
  const cfg = new ConfigurePage(page);
  await cfg.open(ccStudio.url);
  const row = page.getByTestId('cc-row-mptcp_balia');
  await expect(row).toHaveAttribute('data-state', 'loadable');
  await expect(row).toContainText(balia);
  await expect(row).toContainText('Balia: Balanced Linked Adaptation');

  await page.getByTestId('cc-load-mptcp_balia').click();
  await expect(row).toHaveAttribute('data-state', 'loaded');
  await expect(page.getByTestId('cc-message')).toHaveText(`registered ${balia}`);
  expect(available()).toContain(balia);
  await expect(cfg.congestionControl.locator(`option[value="${balia}"]`)).toBeEnabled();

  await page.getByTestId('cc-unload-mptcp_balia').click();
  await expect(row).toHaveAttribute('data-state', 'loadable');
  await expect(page.getByTestId('cc-message')).toHaveText(`unregistered ${balia}`);
  expect(available()).not.toContain(balia);
});
