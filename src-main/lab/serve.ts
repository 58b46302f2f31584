/**
 * The real web host (the built CLI, `mptcp-studio serve --netns NS`) as the e2e and integration
 * tests start and stop it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * The web host on a free port; `env` reaches the engine and its namespace agent, `extraArgs` the
 * command line (e.g. `--prometheus URL`).
 */
export async function startServe(
  netns: string,
  env: Record<string, string> = {},
  extraArgs: string[] = [],
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ['bin/mptcp-studio.mjs', 'serve', '--netns', netns, '--port', '0', '--poll-ms', '500', ...extraArgs],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not returned to the caller, so nobody else would stop it: an orphaned web host and agent.
      child.kill('SIGKILL');
      reject(new Error(`web host did not start: ${stderr}`));
    }, 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /(http:\/\/\S+\?token=\S+)/.exec(line);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`web host exited (${code}): ${stderr}`)));
  });
  return { child, url };
}

/** SIGTERM, then SIGKILL if the web host is still there after 5 s; resolves once it has exited. */
export async function stopServe(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}
