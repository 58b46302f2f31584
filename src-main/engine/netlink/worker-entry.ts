/**
 * Where a worker's bundled entry file is. A worker (event-reader-worker.ts) is a module of its
 * own, type-checked like the rest, bundled beside the engine:
 * - the CLI, web host and agents: out/node/<name>.mjs (scripts/build-node.mjs);
 * - the Electron main process: out/main/<name>.js (electron.vite.config.ts);
 * both found next to the running bundle (or one folder up, for a bundler that puts the engine in
 * a chunk folder). When the engine runs from its TypeScript source (vitest) or from a test or
 * bench bundle in .cache/, the repository's out/node build is used, as defaultAgentEntry()
 * (../index.ts) does for the agent; `npm run build:node` makes it, and the integration tests'
 * global setup runs that first.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiFailure } from '../../../shared/result';

/** Candidate paths for `name`, in the order they are tried. */
export function workerEntryCandidates(name: string, moduleUrl: string = import.meta.url): string[] {
  const here = dirname(fileURLToPath(moduleUrl));
  const out: string[] = [];
  for (const dir of [here, dirname(here)]) out.push(join(dir, `${name}.mjs`), join(dir, `${name}.js`));
  let dir = here;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) {
      out.push(join(dir, 'out', 'node', `${name}.mjs`));
      break;
    }
    dir = dirname(dir);
  }
  return out;
}

/** The entry file of worker `name`; INTERNAL when it was not built. */
export function workerEntry(name: string, moduleUrl?: string): string {
  const candidates = workerEntryCandidates(name, moduleUrl);
  const found = candidates.find((p) => existsSync(p));
  if (found) return found;
  throw new ApiFailure(
    'INTERNAL',
    `the ${name} entry is missing (looked for ${candidates.join(', ')}): run \`npm run build:node\``,
  );
}
