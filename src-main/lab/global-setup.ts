import { cleanStaleLabs, labTool, labUnavailableReason } from './lab';

/** Before the integration suite: remove debris of crashed runs and build the traffic tool once. */
export default async function setup(): Promise<void> {
  if (labUnavailableReason()) return;
  await cleanStaleLabs();
  await labTool();
}
