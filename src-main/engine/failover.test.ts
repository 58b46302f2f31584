/**
 * Failover events from sequences of snapshots shaped like a lab run's (a primary path whose link
 * goes down, `ss -ti` there: "rto:13312 backoff:6 cwnd:1"; a backup subflow that takes over).
 */
import { describe, expect, it } from 'vitest';
import { describeFailover } from '../../shared/failover';
import { prng, syntheticSubflow } from '../../shared/testing/synthetic';
import type { Connection, ConnectionsSnapshot, Subflow } from '../../shared/types';
import { FailoverDetector } from './failover';

const T0 = 1_780_000_000_000;
const TOKEN = 0xa1b2c3d4;

function sub(local: string, localPort: number, remote: string, p: Partial<Subflow> = {}): Subflow {
  const base = syntheticSubflow(prng(1), TOKEN, 0, 5201);
  return {
    ...base,
    family: 'inet',
    localAddress: local,
    localPort,
    remoteAddress: remote,
    remotePort: 5201,
    backup: false,
    flags: { ...base.flags, backupLoc: false, backupRem: false },
    rtoUs: 204_000,
    unackedPkts: 0,
    backoffCount: 0,
    probesCount: 0,
    bytesAcked: 0,
    bytesReceived: 0,
    lastDataSentAtMs: null,
    lastDataRecvAtMs: null,
    lastAckRecvAtMs: null,
    ...p,
  };
}

function snap(tMs: number, subflows: Subflow[]): ConnectionsSnapshot {
  const conn: Connection = {
    token: TOKEN,
    family: 'inet',
    state: 'ESTABLISHED',
    localAddress: '10.0.1.1',
    localPort: 40000,
    remoteAddress: '10.0.1.2',
    remotePort: 5201,
    inode: 1,
    subflowsTotal: subflows.length,
    fallback: false,
    remoteKeyReceived: true,
    addAddrSignal: 0,
    addAddrAccepted: 0,
    subflowsMax: 8,
    checksumEnabled: false,
    retransmits: 0,
    bytesSent: 0,
    bytesReceived: 0,
    bytesAcked: 0,
    bytesRetrans: 0,
    subflows,
  };
  return { takenAtMs: tMs, pollDurationUs: 100, connections: [conn], orphanSubflows: 0 };
}

/** A sending subflow: `acked` bytes acknowledged so far, last ACK just now. */
const sending = (t: number, acked: number): Partial<Subflow> => ({
  bytesAcked: acked,
  unackedPkts: 10,
  lastAckRecvAtMs: t - 5,
  lastDataSentAtMs: t - 2,
});
/** A subflow on a downed link: data waits, the RTO backed off, no ACK since `lastAckMs`. */
const stalled = (acked: number, lastAckMs: number, backoff: number): Partial<Subflow> => ({
  bytesAcked: acked,
  unackedPkts: 10,
  rtoUs: 13_312_000,
  backoffCount: backoff,
  cwndPkts: 1,
  lastAckRecvAtMs: lastAckMs,
  lastDataSentAtMs: lastAckMs - 10,
});

describe('FailoverDetector', () => {
  it('a primary that stalls, traffic moving to the backup, then recovery and the move back', () => {
    const d = new FailoverDetector();
    const primary = (p: Partial<Subflow>) => sub('10.0.1.1', 40000, '10.0.1.2', p);
    const backup = (p: Partial<Subflow>) =>
      sub('10.0.2.1', 40001, '10.0.1.2', {
        backup: true,
        flags: { ...sub('', 0, '').flags, backupLoc: true },
        ...p,
      });
    const MB = 1_000_000;
    const seen: string[] = [];
    const feed = (s: ConnectionsSnapshot) => {
      for (const e of d.observe(s)) seen.push(`${e.kind}: ${describeFailover(e)}`);
    };
    // 0–2 s: 2 MB/s on the primary, the backup idle.
    feed(snap(T0, [primary(sending(T0, 0)), backup({})]));
    feed(snap(T0 + 1000, [primary(sending(T0 + 1000, 2 * MB)), backup({})]));
    feed(snap(T0 + 2000, [primary(sending(T0 + 2000, 4 * MB)), backup({})]));
    expect(seen).toEqual([]);
    // 3 s: the link is down, no ACK since 2.0 s, backoff 4; the backup starts to carry it.
    feed(snap(T0 + 3000, [primary(stalled(4 * MB, T0 + 2000, 4)), backup(sending(T0 + 3000, 1.5 * MB))]));
    expect(seen).toEqual([
      'stalled: subflow 10.0.1.1:40000 → 10.0.1.2:5201 stalled (backoff 4, no ACK for 1.0 s)',
    ]);
    seen.length = 0;
    // 4 s: the next poll shows where the traffic went (the poll of the loss may still hold what
    // the lost path delivered before it failed).
    feed(snap(T0 + 4000, [primary(stalled(4 * MB, T0 + 2000, 5)), backup(sending(T0 + 4000, 3 * MB))]));
    expect(seen).toEqual([
      'traffic-moved: traffic moved to backup subflow 10.0.2.1:40001 → 10.0.1.2:5201 (100% of the traffic) from subflow 10.0.1.1:40000 → 10.0.1.2:5201, stalled',
    ]);
    seen.length = 0;
    // Still down: nothing new.
    feed(snap(T0 + 4500, [primary(stalled(4 * MB, T0 + 2000, 5)), backup(sending(T0 + 4500, 4 * MB))]));
    expect(seen).toEqual([]);
    // 5 s: the link is back, the primary delivers again and takes the traffic back.
    feed(snap(T0 + 5000, [primary(sending(T0 + 5000, 6 * MB)), backup(sending(T0 + 5000, 4.1 * MB))]));
    expect(seen).toEqual([
      'recovered: subflow 10.0.1.1:40000 → 10.0.1.2:5201 recovered after 2.0 s',
      'traffic-moved: traffic moved back to subflow 10.0.1.1:40000 → 10.0.1.2:5201 (95% of the traffic) from backup subflow 10.0.2.1:40001 → 10.0.1.2:5201',
    ]);
  });

  it('a subflow that closes: its traffic moving is news; the shares of two healthy subflows wandering is not', () => {
    const d = new FailoverDetector();
    const a = (p: Partial<Subflow>) => sub('10.0.1.1', 40000, '10.0.1.2', p);
    const b = (p: Partial<Subflow>) => sub('10.0.2.1', 40001, '10.0.1.2', p);
    const events = (s: ConnectionsSnapshot) => d.observe(s);
    events(snap(T0, [a(sending(T0, 0)), b(sending(T0, 0))]));
    // 80/20, then 20/80: both healthy, neither a backup.
    expect(events(snap(T0 + 1000, [a(sending(T0 + 1000, 800_000)), b(sending(T0 + 1000, 200_000))]))).toEqual(
      [],
    );
    expect(
      events(snap(T0 + 2000, [a(sending(T0 + 2000, 1_000_000)), b(sending(T0 + 2000, 1_000_000))])),
    ).toEqual([]);
    expect(
      events(snap(T0 + 3000, [a(sending(T0 + 3000, 1_900_000)), b(sending(T0 + 3000, 1_100_000))])),
    ).toEqual([]);
    // a goes away (its link down, the path manager destroyed it) and b carries the traffic.
    expect(events(snap(T0 + 3500, [b(sending(T0 + 3500, 2_000_000))]))).toEqual([]);
    const moved = events(snap(T0 + 3900, [b(sending(T0 + 3900, 2_500_000))]));
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatchObject({ kind: 'traffic-moved', fromState: 'closed', back: false, token: TOKEN });
    expect(describeFailover(moved[0]!)).toMatch(
      /^traffic moved to subflow 10\.0\.2\.1:40001 .* from subflow 10\.0\.1\.1:40000 .*, closed$/,
    );
    // A recreated subflow (new port) takes traffic again: the move back after the failover.
    const a2 = (p: Partial<Subflow>) => sub('10.0.1.1', 40100, '10.0.1.2', p);
    events(snap(T0 + 4000, [a2(sending(T0 + 4000, 0)), b(sending(T0 + 4000, 3_000_000))]));
    const back = events(snap(T0 + 5000, [a2(sending(T0 + 5000, 900_000)), b(sending(T0 + 5000, 3_050_000))]));
    expect(back).toMatchObject([{ kind: 'traffic-moved', back: true, fromState: 'active' }]);
  });

  it('traffic spread over four subflows: the two of a downed interface close, one to it stalls', () => {
    const d = new FailoverDetector();
    const subs = [
      (p: Partial<Subflow>) => sub('10.0.1.1', 40000, '10.0.1.2', p),
      (p: Partial<Subflow>) => sub('10.0.1.1', 40001, '10.0.2.2', p),
      (p: Partial<Subflow>) => sub('10.0.2.1', 40002, '10.0.1.2', p),
      (p: Partial<Subflow>) => sub('10.0.2.1', 40003, '10.0.2.2', p),
    ];
    const all = (t: number, k: number) => subs.map((f) => f(sending(t, k * 500_000)));
    expect(d.observe(snap(T0, all(T0, 0)))).toEqual([]);
    expect(d.observe(snap(T0 + 1000, all(T0 + 1000, 1)))).toEqual([]);
    // The second interface is down: its two subflows are gone, the one towards it stalls (and the
    // poll still shows what they delivered before: where the traffic went is the next poll's).
    const lost = d.observe(
      snap(T0 + 2000, [subs[0]!(sending(T0 + 2000, 1_000_000)), subs[1]!(stalled(900_000, T0 + 1900, 2))]),
    );
    expect(lost.map((x) => `${x.kind} ${x.subflow?.localPort}`)).toEqual(['stalled 40001']);
    const e = d.observe(
      snap(T0 + 3000, [subs[0]!(sending(T0 + 3000, 1_500_000)), subs[1]!(stalled(900_000, T0 + 1900, 3))]),
    );
    expect(
      e.map((x) => `${x.kind} ${x.fromState ?? ''} ${x.from?.localPort ?? x.subflow?.localPort}`),
    ).toEqual(['traffic-moved stalled 40001', 'traffic-moved closed 40002', 'traffic-moved closed 40003']);
    expect(e.filter((x) => x.kind === 'traffic-moved').every((x) => x.subflow?.localPort === 40000)).toBe(
      true,
    );
  });

  it('an idle connection moves nothing; a subflow stalled at the first poll is the baseline', () => {
    const d = new FailoverDetector();
    const a = (p: Partial<Subflow>) => sub('10.0.1.1', 40000, '10.0.1.2', p);
    expect(d.observe(snap(T0, [a(stalled(0, T0 - 5000, 3))]))).toEqual([]);
    expect(d.observe(snap(T0 + 1000, [a(stalled(0, T0 - 5000, 4))]))).toEqual([]);
    expect(d.observe(snap(T0 + 2000, [a({ bytesAcked: 10 })]))).toMatchObject([{ kind: 'recovered' }]);
  });

  it('SubflowStale and SubflowRecover rising are namespace-wide events; a counter reset is a new baseline', () => {
    const d = new FailoverDetector();
    expect(d.observeCounters({ SubflowStale: 3, SubflowRecover: 1, MPJoinSynRx: 9 }, T0)).toEqual([]);
    const e = d.observeCounters({ SubflowStale: 5, SubflowRecover: 1, MPJoinSynRx: 12 }, T0 + 1000);
    expect(e).toMatchObject([{ kind: 'kernel-stale', count: 2, token: null }]);
    expect(describeFailover(e[0]!)).toBe(
      'the kernel marked 2 subflows stale (MPTcpExt SubflowStale): the scheduler sends on the others',
    );
    expect(d.observeCounters({ SubflowStale: 0, SubflowRecover: 0 }, T0 + 2000)).toEqual([]);
    expect(d.observeCounters({ SubflowStale: 0, SubflowRecover: 1 }, T0 + 3000)).toMatchObject([
      { kind: 'kernel-recover', count: 1 },
    ]);
  });
});
