import { defineConfig } from '@playwright/test';

// e2e runs the real web host against a real namespace lab in Debian's Chromium (Playwright's own
// browser download is not possible here, and not needed).
export default defineConfig({
  testDir: 'e2e',
  // Unregisters coupled CC test copies a killed run left behind (src-main/lab/cc-test-copies.ts).
  globalSetup: './e2e/global-setup.ts',
  timeout: 90_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
        '--disable-quic',
      ],
    },
  },
});
