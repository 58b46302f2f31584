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

// `trace` alone (src-main/cli/trace-main.ts; bin/mptcp-studio.mjs runs it for `trace`): only the
// modules a trace uses. Our sources are marked free of side effects for this bundle, so that
// esbuild drops every module the trace does not use (the engine front door imports the whole
// engine); the external packages keep their own markings.
await build({
  entryPoints: ['src-main/cli/trace-main.ts'],
  outfile: 'out/node/trace.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  plugins: [
    {
      name: 'sources-without-side-effects',
      setup(b) {
        b.onResolve({ filter: /^\.\.?\// }, async (args) => {
          // Our own second resolve (below) comes back here marked: let esbuild resolve it.
          const data = /** @type {unknown} */ (args.pluginData);
          if (typeof data === 'object' && data !== null && 'inner' in data) return undefined;
          const r = await b.resolve(args.path, {
            resolveDir: args.resolveDir,
            kind: args.kind,
            importer: args.importer,
            pluginData: { inner: true },
          });
          return r.errors.length > 0 ? r : { ...r, sideEffects: false };
        });
      },
    },
  ],
});
