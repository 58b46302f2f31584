import { run } from './lab';
import { cleanStaleLabs, labTool, labUnavailableReason } from './lab';
import { cleanStaleCcs } from './bpf-cc';
import { cleanStaleCcCopies } from './cc-test-copies';

/**
 * Before the integration suite: remove debris of crashed runs (namespaces, and coupled CC test
 * copies whose owning process is gone: they stay registered host-wide otherwise), build the
 * traffic tool and the engine bundle (the per-namespace agent runs the bundle under
 * `ip netns exec`).
 */
export default async function setup(): Promise<void> {
  await run(process.execPath, ['scripts/build-node.mjs']);
  if (labUnavailableReason()) return;
  await cleanStaleLabs();
  const removed = [...cleanStaleCcCopies(), ...(await cleanStaleCcs().catch(() => []))];
  if (removed.length > 0) console.warn(`unregistered stale test congestion controls: ${removed.join(', ')}`);
  await labTool();
}
