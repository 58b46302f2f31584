#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const bundle = fileURLToPath(new URL('../out/node/mptcp-studio.mjs', import.meta.url));
if (!existsSync(bundle)) {
  process.stderr.write('mptcp-studio: not built yet; run `npm run build` in the project folder first\n');
  process.exit(1);
}
await import(pathToFileURL(bundle).href);
