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
