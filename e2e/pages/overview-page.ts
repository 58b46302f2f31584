import type { Locator, Page } from '@playwright/test';

/** Page object for the Overview: tests speak of subflows and interfaces, not selectors. */
export class OverviewPage {
  constructor(readonly page: Page) {}

  async open(url: string): Promise<void> {
    await this.page.goto(url);
  }

  get kernel(): Locator {
    return this.page.getByTestId('overview-kernel');
  }

  get mptcpEnabled(): Locator {
    return this.page.getByTestId('mptcp-enabled');
  }

  interfaceRow(name: string): Locator {
    return this.page.getByTestId(`interface-row-${name}`);
  }

  connectionRow(tokenHex: string): Locator {
    return this.page.getByTestId(`connection-row-${tokenHex}`);
  }

  get connectionRows(): Locator {
    return this.page.locator('[data-testid^="connection-row-"]');
  }

  get subflowRows(): Locator {
    return this.page.getByTestId('subflow-row');
  }

  /** The raw numbers the subflow rows carry for machines (the text is for people). */
  async subflows(): Promise<{ local: string; remote: string; rttUs: number; cwnd: number }[]> {
    const rows = await this.subflowRows.all();
    return Promise.all(
      rows.map(async (r) => ({
        local: (await r.getAttribute('data-local')) ?? '',
        remote: (await r.getAttribute('data-remote')) ?? '',
        rttUs: Number(await r.getAttribute('data-rtt-us')),
        cwnd: Number(await r.getAttribute('data-cwnd')),
      })),
    );
  }
}
