import { readFile } from 'node:fs/promises';
import type { Download, Locator, Page } from '@playwright/test';

/** Page object for Connections, the connection detail, Events and recordings. */
export class MonitoringPage {
  constructor(readonly page: Page) {}

  async open(url: string): Promise<void> {
    await this.page.goto(url);
  }

  async connections(): Promise<void> {
    await this.page.getByTestId('nav-connections').click();
  }

  async events(): Promise<void> {
    await this.page.getByTestId('nav-events').click();
  }

  get table(): Locator {
    return this.page.getByTestId('conn-table');
  }

  get rows(): Locator {
    return this.page.locator('[data-testid^="conn-row-"]');
  }

  row(tokenHex: string): Locator {
    return this.page.getByTestId(`conn-row-${tokenHex}`);
  }

  /** The token (hex) of the first row. */
  async firstToken(): Promise<string> {
    const id = (await this.rows.first().getAttribute('data-testid')) ?? '';
    return id.replace('conn-row-', '');
  }

  get detail(): Locator {
    return this.page.getByTestId('conn-detail');
  }

  chart(name: 'rtt' | 'cwnd' | 'throughput'): Locator {
    return this.page.getByTestId(`chart-${name}`);
  }

  /** RTTs (µs) of the detail view's subflow table. */
  async subflowRttsUs(): Promise<number[]> {
    const rows = await this.page.getByTestId('subflow-detail-row').all();
    return Promise.all(rows.map(async (r) => Number(await r.getAttribute('data-rtt-us'))));
  }

  /** Click a button that downloads something; the file's path and suggested name. */
  async download(testId: string): Promise<{ download: Download; path: string; name: string }> {
    const [download] = await Promise.all([
      this.page.waitForEvent('download'),
      this.page.getByTestId(testId).click(),
    ]);
    const path = await download.path();
    return { download, path, name: download.suggestedFilename() };
  }

  async downloadText(
    testId: string,
  ): Promise<{ download: Download; text: string; name: string; path: string }> {
    const d = await this.download(testId);
    return { ...d, text: await readFile(d.path, 'utf8') };
  }

  get recordToggle(): Locator {
    return this.page.getByTestId('record-toggle');
  }

  get replayBanner(): Locator {
    return this.page.getByTestId('replay-banner');
  }

  async openRecording(path: string): Promise<void> {
    await this.page.getByTestId('open-recording-input').setInputFiles(path);
  }

  eventRows(kind?: string): Locator {
    const rows = this.page.getByTestId('event-row');
    return kind ? this.page.locator(`[data-testid="event-row"][data-kind="${kind}"]`) : rows;
  }
}
