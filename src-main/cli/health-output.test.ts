import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../shared/testing/fuzz';
import { syntheticConnection } from '../../shared/testing/synthetic';
import { connectionsJson, formatConnections } from './format';

const NOW = 1_800_000_000_000;

/** One connection: an active subflow, one stalled as ss saw it ("rto:13312 backoff:6"), an idle backup. */
function connection() {
  const c = syntheticConnection(mulberry32(11), 0xab12, 3);
  const recent = { lastDataSentAtMs: NOW - 20, lastDataRecvAtMs: NOW - 20, lastAckRecvAtMs: NOW - 20 };
  const flags = { ...c.subflows[0]!.flags, backupLoc: false, backupRem: false };
  c.subflows[0] = { ...c.subflows[0]!, ...recent, flags, unackedPkts: 0, backoffCount: 0, probesCount: 0 };
  c.subflows[1] = {
    ...c.subflows[1]!,
    flags,
    backoffCount: 6,
    rtoUs: 13_312_000,
    unackedPkts: 12,
    deliveryRateBytesPerSec: 1_412_500,
    lastDataSentAtMs: NOW - 400,
    lastDataRecvAtMs: NOW - 30_000,
    lastAckRecvAtMs: NOW - 25_000,
  };
  c.subflows[2] = {
    ...c.subflows[2]!,
    flags: { ...flags, backupLoc: true },
    backup: true,
    unackedPkts: 0,
    backoffCount: 0,
    deliveryRateAppLimited: true,
    deliveryRateBytesPerSec: 42_125_000,
    lastDataSentAtMs: NOW - 25_000,
    lastDataRecvAtMs: NOW - 25_000,
    lastAckRecvAtMs: NOW - 25_000,
  };
  return c;
}

describe('the CLI shows each subflow health (shared/health.ts)', () => {
  it('in words, with the stall behind it, the stale rate marked and whose backup flag', () => {
    const [, active, stalled, backup] = formatConnections([connection()], NOW).split('\n');
    expect(active).toContain('health active');
    expect(active).not.toContain('(stale)');
    expect(stalled).toContain('health stalled (RTO backoff)');
    expect(stalled).toContain('backoff 6  rto 13312 ms');
    expect(stalled).toContain('last ack 25.0 s ago');
    expect(stalled).toContain('delivery 11.3 Mbit/s (stale)');
    expect(backup).toContain('health idle');
    expect(backup).toContain('delivery 337.0 Mbit/s (stale)');
    expect(backup).toContain('backup (ours)');
  });

  it('as `health` in the JSON, judged at the snapshot time', () => {
    const json = connectionsJson({
      takenAtMs: NOW,
      pollDurationUs: 1,
      connections: [connection()],
      orphanSubflows: 0,
    }) as { connections: { subflows: { health: { state: string; deliveryRate: string } }[] }[] };
    expect(json.connections[0]!.subflows.map((s) => s.health.state)).toEqual(['active', 'stalled', 'idle']);
    expect(json.connections[0]!.subflows[1]!.health).toMatchObject({
      stallReasons: ['rto-backoff'],
      deliveryRate: 'stale',
      lastAckRecvAgoMs: 25_000,
    });
  });
});
