// What every bench (and bpf/diag) script needs: the repo root, the untracked .cache/ folder,
// `--name value` arguments, esbuild bundles of the TypeScript they import (netlink stays a
// native runtime dependency, never bundled), the built web host, cleanup on a signal, and the
// statistics. JavaScript with JSDoc types, checked by tsconfig.scripts.json.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const cache = join(root, '.cache');
mkdirSync(cache, { recursive: true });

/**
 * The value after `--name` on the command line, or `dflt`.
 * @template {string | number | null | undefined} T
 * @param {string} name
 * @param {T} dflt
 * @returns {string | T}
 */
export function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return (i >= 0 ? process.argv[i + 1] : undefined) ?? dflt;
}

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
};

/**
 * Bundles `entry` (relative to the root) into .cache/`out`; returns the bundle's path.
 * @param {string} entry
 * @param {string} out
 * @param {{ external?: string[] }} [options]
 * @returns {Promise<string>}
 */
export async function bundleEntry(entry, out, { external = ['netlink'] } = {}) {
  const outfile = join(cache, out);
  await build({ ...common, entryPoints: [join(root, entry)], external, outfile });
  return outfile;
}

/**
 * Bundles a module whose source is `contents` (TypeScript, paths relative to the root).
 * @param {string} contents
 * @param {string} out
 * @param {{ external?: string[] }} [options]
 * @returns {Promise<string>}
 */
export async function bundleSource(contents, out, { external = ['netlink'] } = {}) {
  const outfile = join(cache, out);
  await build({ ...common, stdin: { contents, resolveDir: root, loader: 'ts' }, external, outfile });
  return outfile;
}

/**
 * Imports a bundle that bundleEntry or bundleSource wrote. A bundle is plain JavaScript: the
 * caller casts it to the modules it was built from (`typeof import('../src-main/…')`).
 * @param {string} path
 * @returns {Promise<unknown>}
 */
export async function importBundle(path) {
  return import(path);
}

/**
 * JSON.parse, typed as what it is: the caller checks or casts the value.
 * @param {string} text
 * @returns {unknown}
 */
export function parseJson(text) {
  return JSON.parse(text);
}

/**
 * The text of a WebSocket message (ws hands text frames over as a Buffer).
 * @param {import('ws').RawData} data
 */
export function wsText(data) {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
}

/**
 * The lab (src-main/lab/lab.ts: namespaces, veth paths, traffic), bundled for plain Node.
 * @returns {Promise<typeof import('../src-main/lab/lab')>}
 */
export async function importLab() {
  const lab = await importBundle(await bundleEntry('src-main/lab/lab.ts', 'bench-lab.mjs'));
  return /** @type {typeof import('../src-main/lab/lab')} */ (lab);
}

/**
 * Builds what the web host serves and runs: the renderer (out/renderer, as `npm run build` does)
 * and the Node bundle (out/node). What a browser bench measures is the renderer, so a host bundle
 * that does not build right now (a tree being edited) is replaced by the last one built, if any.
 * @param {{ minify?: boolean }} [options] minify false: readable function names in a profile
 */
export function buildWebAndHost({ minify = true } = {}) {
  const web = spawnSync(
    process.execPath,
    [
      'node_modules/vite/bin/vite.js',
      'build',
      '--config',
      'vite.renderer.config.ts',
      '--logLevel',
      'warn',
      ...(minify ? [] : ['--minify', 'false']),
    ],
    { cwd: root, stdio: 'inherit' },
  );
  if (web.status !== 0) process.exit(web.status ?? 1);
  const node = spawnSync(process.execPath, ['scripts/build-node.mjs'], { cwd: root, stdio: 'pipe' });
  if (node.status !== 0) {
    if (!existsSync(join(root, 'out/node/mptcp-studio.mjs'))) {
      process.stderr.write(node.stderr);
      process.exit(node.status ?? 1);
    }
    console.log('build:node failed; using the host bundle already in out/node');
  }
}

/**
 * Runs `cleanup` on SIGINT, SIGTERM and SIGHUP, then exits with 130: a bench stopped by a signal
 * must not leave its lab namespaces or child processes behind. `cleanup` must be idempotent.
 * @param {() => Promise<unknown>} cleanup
 */
export function cleanupOnSignals(cleanup) {
  for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
    process.on(sig, () => {
      console.error(`\n${sig}: removing the lab`);
      void cleanup().finally(() => process.exit(130));
    });
  }
}

/**
 * @typedef {import('node:child_process').ChildProcessByStdio<null, import('node:stream').Readable, null>} WebHostChild
 */

/**
 * Starts the built web host, `node bin/mptcp-studio.mjs serve --netns <netns> --port 0 <args>`,
 * run from `cwd` (this checkout unless another tree is measured). `child` is there at once, for
 * the caller's cleanup; `ready` resolves with the URL it prints (`url`: the page with its token).
 * @param {string} netns
 * @param {{ args?: string[], cwd?: string }} [options]
 * @returns {{ child: WebHostChild, ready: Promise<{ url: string, base: string, token: string }> }}
 */
export function startWebHost(netns, { args = [], cwd = root } = {}) {
  const child = spawn(
    process.execPath,
    ['bin/mptcp-studio.mjs', 'serve', '--netns', netns, '--port', '0', ...args],
    {
      cwd,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  /** @type {Promise<{ url: string, base: string, token: string }>} */
  const ready = new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      const m = /(http:\/\/\S+)\/\?token=(\S+)/.exec(l);
      if (m?.[1] && m[2]) resolve({ url: m[0], base: m[1], token: m[2] });
    });
    child.once('exit', (code) => reject(new Error(`web host exited (${code})`)));
  });
  return { child, ready };
}

/**
 * SIGTERM, then SIGKILL if the process is still there after `graceMs`; resolves once it has exited.
 * @param {import('node:child_process').ChildProcess | null | undefined} child
 * @param {number} [graceMs]
 * @returns {Promise<void>}
 */
export async function stopChild(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  /** @type {Promise<void>} */
  const exited = new Promise((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * The median of `xs` (the mean of the middle two for an even count); NaN when empty.
 * @param {readonly number[]} xs
 * @returns {number}
 */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const hi = s[s.length >> 1] ?? NaN;
  return s.length % 2 ? hi : ((s[(s.length >> 1) - 1] ?? NaN) + hi) / 2;
}

/**
 * The 90th percentile of `xs` (nearest rank); NaN when empty.
 * @param {readonly number[]} xs
 * @returns {number}
 */
export function p90(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)] ?? NaN;
}

/**
 * The arithmetic mean of `xs`; NaN when empty.
 * @param {readonly number[]} xs
 * @returns {number}
 */
export function mean(xs) {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
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
