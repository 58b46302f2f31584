#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const bundle = fileURLToPath(new URL('../out/node/mptcp-studio.mjs', import.meta.url));
if (!existsSync(bundle)) {
  process.stderr.write('mptcp-studio: not built yet; run `npm run build` in the project folder first\n');
  process.exit(1);
}
// `trace` has a bundle of its own that loads only what a trace needs (src-main/cli/trace-main.ts).
const trace = fileURLToPath(new URL('../out/node/trace.mjs', import.meta.url));
await import(pathToFileURL(process.argv[2] === 'trace' && existsSync(trace) ? trace : bundle).href);
