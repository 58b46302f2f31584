/**
 * Per-subflow throughput derived from the engine's counters (bytes_acked deltas over time) on two
 * paths shaped with tbf (this kernel has no netem): each subflow must come out at its path's rate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionsSnapshot } from '../../../shared/types';
import { Lab, labUnavailableReason } from '../../lab/lab';
import { openEngine, type EngineService } from '../index';

const RATES_MBIT = [20, 5];

describe.skipIf(labUnavailableReason() !== null)('per-subflow throughput on shaped paths', () => {
  let lab: Lab;
  let engine: EngineService;
  beforeAll(async () => {
    lab = await Lab.create({ paths: 2, pathOptions: RATES_MBIT.map((rateMbit) => ({ rateMbit })) });
    await lab.startServer(5201);
    // Saturating, with cubic: BBR (this kernel's default) reached only 11.6 of 20 Mbit/s through tbf.
    await lab.openConnections(1, { rateBytesPerSec: -1, congestionControl: 'cubic' });
    engine = openEngine({ netns: lab.client });
  });
  afterAll(async () => {
    await engine?.close();
    await lab?.destroy();
  });

  const snapshot = async (): Promise<ConnectionsSnapshot> => {
    const r = await engine.invoke('mptcp:connections:list', {});
    if (!r.ok) throw new Error(r.error.message);
    return r.value as ConnectionsSnapshot;
  };

  it('measures each subflow within 15% of its path rate', async () => {
    await lab.waitFor('two subflows', snapshot, (s) => s.connections[0]?.subflows.length === 2);
    await new Promise((r) => setTimeout(r, 1500)); // past slow start
    const a = await snapshot();
    const t0 = a.takenAtMs;
    await new Promise((r) => setTimeout(r, 4000));
    const b = await snapshot();
    const seconds = (b.takenAtMs - t0) / 1000;
    for (const [i, rateMbit] of RATES_MBIT.entries()) {
      const local = `10.99.${i + 1}.1`;
      const before = a.connections[0]?.subflows.find((s) => s.localAddress === local);
      const after = b.connections[0]?.subflows.find((s) => s.localAddress === local);
      if (!before || !after) throw new Error(`no subflow on ${local}`);
      const mbit = ((after.bytesAcked - before.bytesAcked) * 8) / seconds / 1e6;
      // bytes_acked counts TCP payload; tbf shapes whole IP packets (~3% headers at 1500 MTU).
      expect(mbit, `subflow on path ${i} (${rateMbit} Mbit/s)`).toBeGreaterThan(rateMbit * 0.85);
      expect(mbit, `subflow on path ${i} (${rateMbit} Mbit/s)`).toBeLessThan(rateMbit * 1.15);
    }
  }, 30_000);
});
