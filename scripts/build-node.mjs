// Bundle the Node side (CLI, web host, agent, engine) into one ESM file. The native `netlink`
// binding and the other runtime packages stay in node_modules.
import { build } from 'esbuild';

await build({
  entryPoints: ['src-main/cli/entry.ts'],
  outfile: 'out/node/mptcp-studio.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});

// The netlink events reader runs a file of its own, as a worker thread or a child process
// (src-main/engine/netlink/event-reader-worker.ts; found beside the CLI bundle by worker-entry.ts).
await build({
  entryPoints: ['src-main/engine/netlink/event-reader-worker.ts'],
  outfile: 'out/node/event-reader-worker.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});

// The sock_diag dump workers run a file of their own in worker threads
// (src-main/engine/diag/dump-worker-thread.ts; found the same way, as dump-worker).
await build({
  entryPoints: ['src-main/engine/diag/dump-worker-thread.ts'],
  outfile: 'out/node/dump-worker.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
