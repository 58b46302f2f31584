// What every bench (and bpf/diag) script needs: the repo root, the untracked .cache/ folder,
// `--name value` arguments, and esbuild bundles of the TypeScript they import (netlink stays a
// native runtime dependency, never bundled).
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const cache = join(root, '.cache');
mkdirSync(cache, { recursive: true });

/** The value after `--name` on the command line, or `dflt`. */
export function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
}

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
};

/** Bundles `entry` (relative to the root) into .cache/`out`; returns the bundle's path. */
export async function bundleEntry(entry, out, { external = ['netlink'] } = {}) {
  const outfile = join(cache, out);
  await build({ ...common, entryPoints: [join(root, entry)], external, outfile });
  return outfile;
}

/** Bundles a module whose source is `contents` (TypeScript, paths relative to the root). */
export async function bundleSource(contents, out, { external = ['netlink'] } = {}) {
  const outfile = join(cache, out);
  await build({ ...common, stdin: { contents, resolveDir: root, loader: 'ts' }, external, outfile });
  return outfile;
}

/**
 * Debian's Chromium, headless, with the flags the e2e tests use (playwright.config.ts): the
 * benches that drive the real renderer measure it as the tests run it.
 */
export async function launchChromium() {
  const { chromium } = await import('@playwright/test');
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}
