import { describe, expect, it } from 'vitest';
import { prng, syntheticConnection } from '../../../shared/testing/synthetic';
import type { Connection, ConnectionsSnapshot } from '../../../shared/types';
import { InterfaceByteCounters, UNKNOWN_INTERFACE } from './interface-bytes';

/** The interface the engine resolved for each local address (Subflow.ifname); others: none. */
const resolved = new Map<string, string>([
  ['10.99.1.1', 'c0'],
  ['::ffff:10.99.1.1', 'c0'],
  ['10.99.2.1', 'c1'],
  ['fd99:2::1', 'c1'],
]);

/** A connection with one subflow per local address, each with the given byte counters. */
function conn(
  token: number,
  subflows: [local: string, sent: number, received: number, retrans: number][],
): Connection {
  const base = syntheticConnection(prng(token), token, subflows.length);
  return {
    ...base,
    subflows: base.subflows.map((s, i) => {
      const [local, sent, received, retrans] = subflows[i] ?? ['', 0, 0, 0];
      return {
        ...s,
        localAddress: local,
        ifname: resolved.get(local) ?? null,
        localPort: 40000 + i,
        remotePort: 5201,
        tokenLocal: token,
        bytesSent: sent,
        bytesReceived: received,
        bytesRetrans: retrans,
      };
    }),
  };
}

const snap = (...connections: Connection[]): ConnectionsSnapshot => ({
  takenAtMs: 1,
  pollDurationUs: 1,
  connections,
  orphanSubflows: 0,
});

describe('InterfaceByteCounters', () => {
  it('adds each subflow’s growth to the interface the engine resolved for it', () => {
    const acc = new InterfaceByteCounters();
    acc.update(
      snap(
        conn(1, [
          ['10.99.1.1', 100, 10, 1],
          ['10.99.2.1', 200, 20, 2],
        ]),
      ),
    );
    acc.update(
      snap(
        conn(1, [
          ['10.99.1.1', 150, 15, 1],
          ['10.99.2.1', 260, 30, 5],
        ]),
      ),
    );
    expect(acc.snapshot().get('c0')).toEqual({ sentBytes: 150, receivedBytes: 15, retransmittedBytes: 1 });
    expect(acc.snapshot().get('c1')).toEqual({ sentBytes: 260, receivedBytes: 30, retransmittedBytes: 5 });
    expect(acc.trackedSubflows).toBe(2);
  });

  it('stays monotonic when a connection closes, and counts a new one from zero', () => {
    const acc = new InterfaceByteCounters();
    acc.update(snap(conn(1, [['10.99.1.1', 1000, 0, 0]]), conn(2, [['10.99.1.1', 500, 0, 0]])));
    expect(acc.snapshot().get('c0')?.sentBytes).toBe(1500);
    // Connection 1 closed; connection 2 grew by 100.
    acc.update(snap(conn(2, [['10.99.1.1', 600, 0, 0]])));
    expect(acc.snapshot().get('c0')?.sentBytes).toBe(1600);
    expect(acc.trackedSubflows).toBe(1);
    // A later connection reusing connection 1's 4-tuple (other token): its bytes are new.
    acc.update(snap(conn(2, [['10.99.1.1', 600, 0, 0]]), conn(3, [['10.99.1.1', 40, 0, 0]])));
    expect(acc.snapshot().get('c0')?.sentBytes).toBe(1640);
  });

  it('treats a counter that went down as a new subflow instead of subtracting', () => {
    const acc = new InterfaceByteCounters();
    acc.update(snap(conn(7, [['10.99.2.1', 900, 0, 0]])));
    acc.update(snap(conn(7, [['10.99.2.1', 30, 0, 0]])));
    expect(acc.snapshot().get('c1')?.sentBytes).toBe(930);
  });

  it('counts an unresolved subflow (no route) as unknown', () => {
    const acc = new InterfaceByteCounters();
    acc.update(
      snap(
        conn(9, [
          ['::ffff:10.99.1.1', 5, 0, 0],
          ['192.0.2.1', 7, 0, 0],
          ['fd99:2::1', 11, 0, 0],
        ]),
      ),
    );
    const t = acc.snapshot();
    expect(t.get('c0')?.sentBytes).toBe(5);
    expect(t.get(UNKNOWN_INTERFACE)?.sentBytes).toBe(7);
    expect(t.get('c1')?.sentBytes).toBe(11);
  });
});
