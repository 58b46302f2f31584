import type { Locator, Page } from '@playwright/test';

/** Page object for the Path doctor page (src-renderer/src/pages/PathDoctorPage.tsx). */
export class PathDoctorPage {
  constructor(readonly page: Page) {}

  async open(url: string): Promise<void> {
    await this.page.goto(url);
    await this.page.getByTestId('nav-path-doctor').click();
    await this.page.getByTestId('path-doctor-page').waitFor();
  }

  async tool(kind: 'trace' | 'scan' | 'subflows'): Promise<void> {
    await this.page.getByTestId(`pd-tool-${kind}`).click();
  }

  /** Tick exactly these interfaces in "From". */
  async from(names: string[]): Promise<void> {
    const boxes = this.page.locator('[data-testid^="pd-from-"]');
    for (const box of await boxes.all()) {
      const name = ((await box.getAttribute('data-testid')) ?? '').replace('pd-from-', '');
      await box.setChecked(names.includes(name));
    }
  }

  async trace(target: string, port: number, from: string[]): Promise<void> {
    await this.tool('trace');
    await this.page.getByTestId('pd-target').fill(target);
    await this.page.getByTestId('pd-port').fill(String(port));
    await this.from(from);
    await this.page.getByTestId('pd-run').click();
  }

  async scan(targets: string, ports: string, rate = 200): Promise<void> {
    await this.tool('scan');
    await this.page.getByTestId('pd-scan-targets').fill(targets);
    await this.page.getByTestId('pd-scan-ports').fill(ports);
    await this.page.getByTestId('pd-rate').fill(String(rate));
    await this.page.getByTestId('pd-run').click();
  }

  async subflows(target: string, port: number, from: string[], perPath: number): Promise<void> {
    await this.tool('subflows');
    await this.page.getByTestId('pd-target').fill(target);
    await this.page.getByTestId('pd-port').fill(String(port));
    await this.page.getByTestId('pd-per-path').fill(String(perPath));
    await this.from(from);
    // Under the in-kernel path manager the check asks first (docs/path-doctor.md).
    if (await this.page.getByTestId('pd-allow-pm-switch').isVisible())
      await this.page.getByTestId('pd-allow-pm-switch').check();
    await this.page.getByTestId('pd-run').click();
  }

  get progress(): Locator {
    return this.page.getByTestId('pd-progress');
  }

  get verdicts(): Locator {
    return this.page.getByTestId('trace-verdict');
  }

  /** The hop cell of column `column` (0-based) at `ttl`. */
  hop(ttl: number, column: number): Locator {
    return this.page
      .getByTestId('hop-row')
      .nth(ttl - 1)
      .getByTestId('hop-cell')
      .nth(column);
  }

  scanRows(cls?: string): Locator {
    return this.page.locator(
      cls ? `[data-testid="scan-row"][data-class="${cls}"]` : '[data-testid="scan-row"]',
    );
  }

  pathRow(iface: string): Locator {
    return this.page.locator(`[data-testid="path-row"][data-interface="${iface}"]`);
  }

  historyItems(state?: string): Locator {
    return this.page.locator(
      state ? `[data-testid="pd-history-item"][data-state="${state}"]` : '[data-testid="pd-history-item"]',
    );
  }
}
