import { run } from './lab';
import { cleanStaleLabs, labTool, labUnavailableReason } from './lab';

/**
 * Before the integration suite: remove debris of crashed runs, build the traffic tool and the
 * engine bundle (the per-namespace agent runs the bundle under `ip netns exec`).
 */
export default async function setup(): Promise<void> {
  await run(process.execPath, ['scripts/build-node.mjs']);
  if (labUnavailableReason()) return;
  await cleanStaleLabs();
  await labTool();
}
