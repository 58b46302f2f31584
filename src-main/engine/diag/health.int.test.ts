/**
 * Subflow health (shared/health.ts, docs/live-data.md "Subflow health") against the real kernel:
 * three paths, one MPTCP connection saturating the two regular subflows, the third a backup (the
 * server's signal endpoint carries the backup flag, so the client's subflow has the peer's
 * backup bit, MPTCP_SUBFLOW_FLAG_BKUP_REM, and the client's scheduler leaves it idle). Cutting the
 * second path with iptables DROP in the server namespace must turn its subflow `stalled` in the
 * engine's snapshot while `ss -ti` shows the RTO backoff; the first stays `active`, the backup
 * `idle` with its delivery rate marked stale. Restoring the path brings the subflow back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifySubflow, subflowHealthState } from '../../../shared/health';
import type { ConnectionsSnapshot, Subflow } from '../../../shared/types';
import { ip, Lab, labUnavailableReason, nsRun } from '../../lab/lab';
import { openEngine, type EngineService } from '../index';

/** `ss -tin` in `ns`: per local address of an MPTCP subflow, the backoff (0 when ss prints none). */
async function ssBackoff(ns: string): Promise<Map<string, { backoff: number; unacked: number }>> {
  const { stdout } = await nsRun(ns, 'ss', ['-tinH']);
  const out = new Map<string, { backoff: number; unacked: number }>();
  let local: string | null = null;
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      const addr = line.trim().split(/\s+/)[3] ?? '';
      local = addr.slice(0, addr.lastIndexOf(':'));
      continue;
    }
    if (local === null || !line.includes('tcp-ulp-mptcp')) continue;
    const num = (k: string): number => Number(new RegExp(`\\b${k}:(\\d+)`).exec(line)?.[1] ?? 0);
    out.set(local, { backoff: num('backoff'), unacked: num('unacked') });
    local = null;
  }
  return out;
}

describe.skipIf(labUnavailableReason() !== null)('subflow health in a lab with a cut path', () => {
  let lab: Lab;
  let engine: EngineService;
  const cut = (op: '-A' | '-D') =>
    Promise.all([
      nsRun(lab.server, 'iptables', [op, 'INPUT', '-i', 's1', '-j', 'DROP']),
      nsRun(lab.server, 'iptables', [op, 'OUTPUT', '-o', 's1', '-j', 'DROP']),
    ]);

  beforeAll(async () => {
    lab = await Lab.create({ paths: 3, pathOptions: [{ rateMbit: 20 }, { rateMbit: 10 }, { rateMbit: 10 }] });
    // The server announces path 1 as a regular path and path 2 as a backup one.
    await ip(['-n', lab.server, 'mptcp', 'endpoint', 'flush']);
    await ip(['-n', lab.server, 'mptcp', 'endpoint', 'add', '10.99.2.2', 'dev', 's1', 'signal']);
    await ip(['-n', lab.server, 'mptcp', 'endpoint', 'add', '10.99.3.2', 'dev', 's2', 'signal', 'backup']);
    await lab.startServer(5201);
    await lab.openConnections(1, { rateBytesPerSec: -1, congestionControl: 'cubic', abortOnStop: true });
    engine = openEngine({ netns: lab.client });
  }, 60_000);
  afterAll(async () => {
    await engine?.close();
    await lab?.destroy();
  });

  const snapshot = async (): Promise<ConnectionsSnapshot> => {
    const r = await engine.invoke('mptcp:connections:list', {});
    if (!r.ok) throw new Error(r.error.message);
    return r.value as ConnectionsSnapshot;
  };
  const on = (snap: ConnectionsSnapshot, local: string): Subflow | undefined =>
    snap.connections[0]?.subflows.find((s) => s.localAddress === local);

  it('active, stalled on the cut path with ss showing backoff, the idle backup with a stale rate', async () => {
    await lab.waitFor('three subflows', snapshot, (s) => s.connections[0]?.subflows.length === 3, 15_000);
    // Past slow start, and the backup idle for longer than HEALTH_IDLE_AFTER_MS.
    await new Promise((r) => setTimeout(r, 2500));
    const before = await snapshot();
    const now = before.takenAtMs;
    expect(subflowHealthState(on(before, '10.99.1.1')!, now)).toBe('active');
    expect(subflowHealthState(on(before, '10.99.2.1')!, now)).toBe('active');
    const backup = on(before, '10.99.3.1')!;
    // The peer's backup flag (the server's endpoint), not ours.
    expect(backup.flags).toMatchObject({ backupRem: true, backupLoc: false });
    expect(classifySubflow(backup, now)).toMatchObject({ state: 'idle', deliveryRate: 'stale' });

    await cut('-A');
    try {
      const stalled = await lab.waitFor(
        'the subflow on the cut path stalled',
        snapshot,
        (s) => {
          const sf = on(s, '10.99.2.1');
          return sf !== undefined && subflowHealthState(sf, s.takenAtMs) === 'stalled';
        },
        20_000,
      );
      const sf = on(stalled, '10.99.2.1')!;
      const h = classifySubflow(sf, stalled.takenAtMs);
      expect(h.stallReasons.length).toBeGreaterThan(0);
      expect(h.deliveryRate).toBe('stale');
      // ss reads the same socket: backoff there once it fired (it only grows while cut).
      const ss = await lab.waitFor(
        'ss -ti showing backoff on the cut path',
        () => ssBackoff(lab.client),
        (m) => (m.get('10.99.2.1')?.backoff ?? 0) > 0,
      );
      expect(ss.get('10.99.2.1')!.backoff).toBeGreaterThan(0);
      const later = await lab.waitFor(
        'the engine reading the backoff',
        snapshot,
        (s) => (on(s, '10.99.2.1')?.backoffCount ?? 0) > 0,
      );
      const cutSf = on(later, '10.99.2.1')!;
      expect(classifySubflow(cutSf, later.takenAtMs).stallReasons).toContain('rto-backoff');
      // The others, at the same poll: the first path carries the traffic, the backup stays idle.
      expect(subflowHealthState(on(later, '10.99.1.1')!, later.takenAtMs)).toBe('active');
      expect(classifySubflow(on(later, '10.99.3.1')!, later.takenAtMs)).toMatchObject({
        state: 'idle',
        deliveryRate: 'stale',
        backupRem: true,
      });
      // Same socket, same readings: ss saw backoff, the engine's snapshot has it too.
      expect((await ssBackoff(lab.client)).get('10.99.2.1')!.backoff).toBeGreaterThan(0);
    } finally {
      await cut('-D');
    }
    // Back: a valid RTT sample resets the backoff (RFC 6298 5.7) and the subflow leaves `stalled`.
    await lab.waitFor(
      'the restored subflow no longer stalled',
      snapshot,
      (s) => {
        const sf = on(s, '10.99.2.1');
        return sf !== undefined && subflowHealthState(sf, s.takenAtMs) !== 'stalled';
      },
      40_000,
    );
  }, 120_000);
});
