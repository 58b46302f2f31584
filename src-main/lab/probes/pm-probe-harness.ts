/**
 * Test-only: bundles probe-entry.ts once per run and runs it inside a lab namespace (a netlink
 * socket sees its own process's netns). The per-netns agent will replace this.
 */
import { join } from 'node:path';
import type { Endpoint, KernelStatus, Limits, NetInterface } from '../../../shared/types';
import { bundleProbe, nsRun } from '../lab';

const root = join(import.meta.dirname, '..', '..', '..');
export const probePath = join(root, '.cache', 'settings-probe.mjs');

export interface ProbeReading {
  family: { familyId: number; version: number; groups: Record<string, number> };
  endpoints: Endpoint[];
  limits: Limits;
  interfaces: NetInterface[];
  status: KernelStatus;
}

let built: Promise<void> | null = null;

export function buildProbe(): Promise<void> {
  built ??= bundleProbe('src-main/lab/probes/pm-probe.ts', 'settings-probe.mjs').then(() => undefined);
  return built;
}

export async function readInNs(ns: string): Promise<ProbeReading> {
  await buildProbe();
  const { stdout } = await nsRun(ns, process.execPath, [probePath, 'read', ns]);
  return JSON.parse(stdout) as ProbeReading;
}
