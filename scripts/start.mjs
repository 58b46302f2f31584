// `npm start`: the Electron app where an Electron runtime can run, otherwise the web host.
// Electron's binary is not part of the npm package (it is fetched at first launch), and Chromium's
// sandbox refuses to run as root; in either case we say why in one sentence and serve the same UI
// over HTTP on loopback instead.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const passThrough = process.argv.slice(2);

function electronBinary() {
  const dir = join(root, 'node_modules', 'electron');
  const pathFile = join(dir, 'path.txt');
  if (existsSync(pathFile)) {
    const bin = join(dir, 'dist', readFileSync(pathFile, 'utf8').trim());
    if (existsSync(bin)) return { bin };
  }
  if (!existsSync(join(dir, 'install.js'))) return { why: 'the electron package is not installed' };
  // First launch: fetch the runtime now (the install script is not allowed to run at npm install).
  const r = spawnSync(process.execPath, [join(dir, 'install.js')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status === 0 && existsSync(pathFile)) {
    const bin = join(dir, 'dist', readFileSync(pathFile, 'utf8').trim());
    if (existsSync(bin)) return { bin };
  }
  const detail = (r.stderr || r.stdout || '').split('\n').find((l) => /error/i.test(l)) ?? `exit ${r.status}`;
  return { why: `the Electron runtime could not be downloaded (${detail.trim()})` };
}

/**
 * @param {string} cmd
 * @param {string[]} args
 */
function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

let reason = null;
if (!process.env.DISPLAY && !process.env.WAYLAND_DISPLAY)
  reason = 'there is no graphical display (DISPLAY/WAYLAND_DISPLAY unset)';
else if (process.getuid?.() === 0)
  reason = "Electron's sandbox cannot run as root, and MPTCP Studio never disables it";
let electron = null;
if (!reason) {
  const found = electronBinary();
  if (found.bin) electron = found.bin;
  else reason = found.why;
}

if (electron) {
  run('npm', ['run', '--silent', 'build:electron']);
  const child = spawn(electron, [root, ...passThrough], { cwd: root, stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 0));
} else {
  console.log(
    `MPTCP Studio cannot open its desktop window because ${reason}; starting the web host instead.`,
  );
  run('npm', ['run', '--silent', 'build']);
  const child = spawn(process.execPath, [join(root, 'bin', 'mptcp-studio.mjs'), 'serve', ...passThrough], {
    cwd: root,
    stdio: 'inherit',
  });
  for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) process.on(sig, () => child.kill(sig));
  child.on('exit', (code) => process.exit(code ?? 0));
}
