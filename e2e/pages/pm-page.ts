import type { Locator, Page } from '@playwright/test';

/** Page object for the Path manager page and the pm actions in the Events timeline. */
export class PmPage {
  constructor(readonly page: Page) {}

  async open(url: string): Promise<void> {
    await this.page.goto(url);
    await this.page.getByTestId('nav-pm').click();
  }

  get sysctl(): Locator {
    return this.page.getByTestId('pm-sysctl');
  }

  get running(): Locator {
    return this.page.getByTestId('pm-running');
  }

  async start(opts: { mode: string; role: string; manager: string; subflows?: number }): Promise<void> {
    await this.page.getByTestId('pm-mode').selectOption(opts.mode);
    await this.page.getByTestId('pm-role').selectOption(opts.role);
    await this.page.getByTestId('pm-manager').selectOption(opts.manager);
    if (opts.subflows !== undefined) await this.page.getByTestId('pm-subflows').fill(String(opts.subflows));
    await this.page.getByTestId('pm-start').click();
  }

  async stop(): Promise<void> {
    await this.page.getByTestId('pm-stop').click();
  }

  /** A connection row of the page's "Connections now" card with this many established subflows. */
  connectionWithSubflows(n: number): Locator {
    return this.page.locator(`[data-testid="pm-conn-row"][data-subflows="${n}"]`);
  }

  actions(action: string, result = 'ok'): Locator {
    return this.page.locator(
      `[data-testid="pm-action-row"][data-action="${action}"][data-result="${result}"]`,
    );
  }

  async events(): Promise<void> {
    await this.page.getByTestId('nav-events').click();
  }

  async filterEvents(kind: string, token = ''): Promise<void> {
    await this.page.getByTestId('events-filter-kind').selectOption(kind);
    await this.page.getByTestId('events-filter-token').fill(token);
  }

  eventRows(action?: string): Locator {
    return this.page.locator(
      action ? `[data-testid="event-row"][data-action="${action}"]` : '[data-testid="event-row"]',
    );
  }
}
