import { describe, expect, it } from 'vitest';
import {
  ageMs,
  backupLabel,
  classifySubflow,
  describeHealth,
  HEALTH_IDLE_AFTER_MS,
  healthCode,
  healthOfCode,
  rateQualityOf,
  SUBFLOW_HEALTH_STATES,
  subflowHealthState,
  type SubflowHealthInput,
} from './health';

const NOW = 1_800_000_000_000;

/** A subflow that sent, received and got an ACK 50 ms ago, nothing in flight. */
function sf(over: Partial<SubflowHealthInput> = {}): SubflowHealthInput {
  return {
    rtoUs: 204_000,
    unackedPkts: 0,
    backoffCount: 0,
    probesCount: 0,
    deliveryRateAppLimited: false,
    lastDataSentAtMs: NOW - 50,
    lastDataRecvAtMs: NOW - 50,
    lastAckRecvAtMs: NOW - 50,
    flags: { backupLoc: false, backupRem: false },
    ...over,
  };
}

describe('subflow health', () => {
  it('active: carries data, a current delivery rate', () => {
    expect(classifySubflow(sf({ unackedPkts: 40 }), NOW)).toEqual({
      state: 'active',
      stallReasons: [],
      deliveryRate: 'current',
      backupLoc: false,
      backupRem: false,
      lastDataSentAgoMs: 50,
      lastDataRecvAgoMs: 50,
      lastAckRecvAgoMs: 50,
    });
  });

  it('stalled by tcpi_backoff (ss: "rto:13312 backoff:6"), whatever else it shows', () => {
    // The downed link of the report: 7 ms RTT and 11.3 Mbit/s kept from before the cut.
    const h = classifySubflow(sf({ backoffCount: 6, rtoUs: 13_312_000, unackedPkts: 10 }), NOW);
    expect(h.state).toBe('stalled');
    expect(h.stallReasons).toEqual(['rto-backoff']);
    expect(h.deliveryRate).toBe('stale');
    expect(describeHealth(h)).toBe('stalled (RTO backoff)');
    // Backoff wins over idle and app-limited.
    const old = NOW - 60_000;
    expect(
      subflowHealthState(
        sf({ backoffCount: 1, deliveryRateAppLimited: true, lastDataSentAtMs: old, lastDataRecvAtMs: old }),
        NOW,
      ),
    ).toBe('stalled');
  });

  it('stalled by unanswered probes (tcpi_probes)', () => {
    expect(classifySubflow(sf({ probesCount: 2 }), NOW).stallReasons).toEqual(['probes-unanswered']);
  });

  it('stalled by unacked data with no ACK and no send for longer than the RTO, not before', () => {
    const quiet = (ms: number) =>
      sf({ unackedPkts: 5, lastAckRecvAtMs: NOW - ms, lastDataSentAtMs: NOW - ms });
    expect(subflowHealthState(quiet(204), NOW)).toBe('active'); // exactly the RTO: not longer
    expect(classifySubflow(quiet(205), NOW)).toMatchObject({ state: 'stalled', stallReasons: ['no-ack'] });
    // Nothing in flight: a quiet subflow is idle, not stalled.
    expect(
      subflowHealthState(
        sf({ lastAckRecvAtMs: NOW - 5000, lastDataSentAtMs: NOW - 5000, lastDataRecvAtMs: NOW - 5000 }),
        NOW,
      ),
    ).toBe('idle');
    // Just woke up after a long idle: its last ACK is old, its first segment was sent now.
    expect(
      subflowHealthState(
        sf({ unackedPkts: 1, lastAckRecvAtMs: NOW - 25_000, lastDataSentAtMs: NOW - 5 }),
        NOW,
      ),
    ).toBe('active');
    // Unknown times (a recording older than the fields) never make it stalled.
    expect(
      subflowHealthState(sf({ unackedPkts: 5, lastAckRecvAtMs: null, lastDataSentAtMs: null }), NOW),
    ).not.toBe('stalled');
  });

  it('idle: no data sent and none received for longer than HEALTH_IDLE_AFTER_MS; its rate is stale', () => {
    const at = NOW - HEALTH_IDLE_AFTER_MS - 1;
    // The idle backup of the report: an app-limited 337 Mbit/s sample from 25 s before.
    const h = classifySubflow(
      sf({
        lastDataSentAtMs: NOW - 25_000,
        lastDataRecvAtMs: NOW - 25_000,
        lastAckRecvAtMs: NOW - 25_000,
        deliveryRateAppLimited: true,
        flags: { backupLoc: true, backupRem: false },
      }),
      NOW,
    );
    expect(h).toMatchObject({ state: 'idle', deliveryRate: 'stale', backupLoc: true, backupRem: false });
    expect(subflowHealthState(sf({ lastDataSentAtMs: at, lastDataRecvAtMs: at }), NOW)).toBe('idle');
    // Either direction recent: not idle.
    expect(subflowHealthState(sf({ lastDataSentAtMs: at, lastDataRecvAtMs: NOW - 10 }), NOW)).toBe('active');
    expect(subflowHealthState(sf({ lastDataSentAtMs: NOW - 10, lastDataRecvAtMs: at }), NOW)).toBe('active');
    expect(
      subflowHealthState(sf({ lastDataSentAtMs: NOW - HEALTH_IDLE_AFTER_MS, lastDataRecvAtMs: at }), NOW),
    ).toBe('active');
    expect(subflowHealthState(sf({ lastDataSentAtMs: null, lastDataRecvAtMs: null }), NOW)).toBe('active');
  });

  it('app-limited: tcpi_delivery_rate_app_limited on a subflow that carries data', () => {
    expect(classifySubflow(sf({ deliveryRateAppLimited: true }), NOW)).toMatchObject({
      state: 'app-limited',
      deliveryRate: 'app-limited',
    });
  });

  it('judges at the given time, never a later clock: ages are never negative', () => {
    expect(ageMs(NOW + 3, NOW)).toBe(0);
    expect(ageMs(null, NOW)).toBeNull();
    expect(classifySubflow(sf({ lastAckRecvAtMs: NOW + 10 }), NOW).lastAckRecvAgoMs).toBe(0);
  });

  it('says whose backup flag is set', () => {
    expect(backupLabel({ backupLoc: true, backupRem: false })).toBe('backup (ours)');
    expect(backupLabel({ backupLoc: false, backupRem: true })).toBe("backup (peer's)");
    expect(backupLabel({ backupLoc: true, backupRem: true })).toBe('backup (both)');
    expect(backupLabel({ backupLoc: false, backupRem: false })).toBe('');
  });

  it('codes states as small numbers for typed arrays, worst first, and back', () => {
    for (const s of SUBFLOW_HEALTH_STATES) expect(healthOfCode(healthCode(s))).toBe(s);
    expect(healthCode('stalled')).toBeLessThan(healthCode('active'));
    expect(healthOfCode(Number.NaN)).toBeNull();
    expect(healthOfCode(9)).toBeNull();
    expect(SUBFLOW_HEALTH_STATES.map(rateQualityOf)).toEqual(['stale', 'stale', 'app-limited', 'current']);
  });
});
