/**
 * e2e fixtures: a namespace lab with real MPTCP traffic and the real web host (the built CLI,
 * `mptcp-studio serve --netns <client>`) looking at the lab's client namespace.
 */
import type { ChildProcess } from 'node:child_process';
import { test as base } from '@playwright/test';
import { Lab, labUnavailableReason } from '../src-main/lab/lab';
import { startServe, stopServe } from '../src-main/lab/serve';

export { startServe, stopServe };

export interface Studio {
  lab: Lab;
  /** The URL the web host printed, token included. */
  url: string;
  /** The same origin without the token. */
  origin: string;
  /**
   * Replaces the lab's traffic connection with a new one (2 subflows again): for a test that
   * closed subflows for good (the kernel re-creates none), since the lab is the worker's.
   */
  resetTraffic: () => Promise<void>;
}

export const test = base.extend<object, { studio: Studio }>({
  studio: [
    // Playwright requires the object pattern for a fixture without dependencies.
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const reason = labUnavailableReason();
      test.skip(reason !== null, reason ?? '');
      const lab = await Lab.create({ paths: 2 });
      let serve: ChildProcess | null = null;
      try {
        await lab.startServer(5201);
        let traffic = await lab.openConnections(1, { rateBytesPerSec: 200_000 });
        const started = await startServe(lab.client);
        serve = started.child;
        const resetTraffic = async (): Promise<void> => {
          await traffic.stop();
          traffic = await lab.openConnections(1, { rateBytesPerSec: 200_000 });
        };
        await use({ lab, url: started.url, origin: new URL(started.url).origin, resetTraffic });
      } finally {
        await stopServe(serve);
        await lab.destroy();
      }
    },
    { scope: 'worker' },
  ],
});

export { expect } from '@playwright/test';
