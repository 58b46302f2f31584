import { expect, type Locator, type Page } from '@playwright/test';

type Flag = 'signal' | 'subflow' | 'backup' | 'fullmesh' | 'laminar';

/** Page object for the Configure and Profiles pages: tests speak of knobs, not selectors. */
export class ConfigurePage {
  constructor(readonly page: Page) {}

  async open(url: string): Promise<void> {
    await this.page.goto(url);
    await this.page.getByTestId('nav-configure').click();
    // The form is shown once the export and the overview are read.
    await expect(this.limitSubflows).not.toHaveValue('');
  }

  async openProfiles(): Promise<void> {
    await this.page.getByTestId('nav-profiles').click();
    await expect(this.profilesList).toBeVisible();
  }

  get limitSubflows(): Locator {
    return this.page.getByTestId('cfg-limit-subflows');
  }

  get limitAddAddr(): Locator {
    return this.page.getByTestId('cfg-limit-addaddr');
  }

  async setLimits(subflows: number, addAddrAccepted: number): Promise<void> {
    await this.limitSubflows.fill(String(subflows));
    await this.limitAddAddr.fill(String(addAddrAccepted));
  }

  get endpointRows(): Locator {
    return this.page.getByTestId('cfg-endpoint-row');
  }

  async addEndpoint(e: { address: string; ifname?: string; port?: number; flags: Flag[] }): Promise<void> {
    const before = await this.endpointRows.count();
    await this.page.getByTestId('cfg-endpoint-add').click();
    const row = this.endpointRows.nth(before);
    await row.getByTestId('endpoint-address').fill(e.address);
    if (e.port !== undefined) await row.getByTestId('endpoint-port').fill(String(e.port));
    if (e.ifname !== undefined) await row.getByTestId('endpoint-ifname').selectOption(e.ifname);
    for (const f of ['signal', 'subflow', 'backup', 'fullmesh', 'laminar'] as const) {
      await row.getByTestId(`endpoint-flag-${f}`).setChecked(e.flags.includes(f));
    }
  }

  /** The endpoint row whose address field holds `address`. */
  async endpointRow(address: string): Promise<Locator> {
    const n = await this.endpointRows.count();
    for (let i = 0; i < n; i++) {
      const row = this.endpointRows.nth(i);
      if ((await row.getByTestId('endpoint-address').inputValue()) === address) return row;
    }
    throw new Error(`no endpoint row for ${address}`);
  }

  /** An MPTCP sysctl by its /proc name under net.mptcp (`add_addr_timeout`). */
  sysctl(name: string): Locator {
    return this.page.getByTestId(`cfg-sysctl-${name}`);
  }

  get scheduler(): Locator {
    return this.page.getByTestId('cfg-scheduler');
  }

  get congestionControl(): Locator {
    return this.page.getByTestId('cfg-cc');
  }

  async review(): Promise<void> {
    await this.page.getByTestId('cfg-review').click();
    await expect(this.page.getByTestId('plan-review')).toBeVisible();
    await expect(this.page.getByText('Planning…')).toHaveCount(0);
  }

  async planSteps(): Promise<string[]> {
    return this.page.getByTestId('plan-steps').locator('li').allTextContents();
  }

  async planShell(): Promise<string> {
    return (await this.page.getByTestId('plan-shell').textContent()) ?? '';
  }

  get planErrors(): Locator {
    return this.page.getByTestId('plan-errors');
  }

  /** Each step's kind and impact level, in plan order: [['endpoint-flags', 'live'], …]. */
  async planImpacts(): Promise<[string, string][]> {
    const items = await this.page.getByTestId('plan-steps').locator('li').all();
    return Promise.all(
      items.map(
        async (li) =>
          [(await li.getAttribute('data-kind')) ?? '', (await li.getAttribute('data-impact')) ?? ''] as [
            string,
            string,
          ],
      ),
    );
  }

  /** The box listing the steps that close live subflows, and its consent checkbox. */
  get disruption(): Locator {
    return this.page.getByTestId('cfg-disruption');
  }

  get allowDisruption(): Locator {
    return this.page.getByTestId('cfg-allow-disruption');
  }

  get applyButton(): Locator {
    return this.page.getByTestId('cfg-apply');
  }

  /** How the latest change ended, in words (Reverted at …: not confirmed within 5 s). */
  get outcome(): Locator {
    return this.page.getByTestId('cfg-outcome');
  }

  /** Apply the reviewed plan, optionally with the confirm-or-revert safeguard. */
  async apply(confirmWithinS: number | null = null): Promise<void> {
    if (confirmWithinS !== null) {
      await this.page.getByTestId('cfg-confirm-toggle').check();
      await this.page.getByTestId('cfg-confirm-seconds').fill(String(confirmWithinS));
    }
    await this.page.getByTestId('cfg-apply').click();
    await expect(this.report).toBeVisible();
  }

  get report(): Locator {
    return this.page.getByTestId('apply-report');
  }

  get pendingBanner(): Locator {
    return this.page.getByTestId('pending-banner');
  }

  async pendingRemainingS(): Promise<number> {
    return Number(await this.page.getByTestId('pending-countdown').getAttribute('data-remaining-s'));
  }

  get changeCount(): Locator {
    return this.page.getByTestId('cfg-change-count');
  }

  // ---- Profiles ---------------------------------------------------------------------------

  get profilesList(): Locator {
    return this.page.getByTestId('profiles-list');
  }

  async profileNames(): Promise<string[]> {
    const rows = await this.page.locator('[data-testid^="profile-row-"]').all();
    return Promise.all(
      rows.map(async (r) => ((await r.getAttribute('data-testid')) ?? '').replace(/^profile-row-/, '')),
    );
  }

  async importProfile(fileName: string, text: string): Promise<void> {
    await this.page.getByTestId('profile-import-input').setInputFiles({
      name: fileName,
      mimeType: 'application/json',
      buffer: Buffer.from(text),
    });
  }

  get importErrors(): Locator {
    return this.page.getByTestId('import-errors');
  }
}
