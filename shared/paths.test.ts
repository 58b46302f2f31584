import { describe, expect, it } from 'vitest';
import { addressMatrix, connectionPaths, summarizePaths, UNKNOWN_PATH } from './paths';
import { prng, syntheticConnection } from './testing/synthetic';
import type { Connection, Subflow } from './types';

/** A connection whose subflows are [ifname, local address, bytes sent, received, retransmitted, backup?]. */
function conn(
  token: number,
  subs: [string | null, string, number, number, number, boolean?][],
  remote = '10.0.9.1',
): Connection {
  const base = syntheticConnection(prng(token), token, subs.length);
  return {
    ...base,
    token,
    subflows: base.subflows.map((s, i): Subflow => {
      const [ifname, local, sent, received, retrans, backup] = subs[i]!;
      return {
        ...s,
        family: 'inet',
        ifname,
        localAddress: local,
        remoteAddress: remote,
        localPort: 40000 + i,
        remotePort: 5201,
        bytesSent: sent,
        bytesReceived: received,
        bytesRetrans: retrans,
        backup: backup ?? false,
      };
    }),
  };
}

describe('summarizePaths', () => {
  it('counts subflows, backups and connections per interface, unknown last', () => {
    const list = [
      conn(1, [
        ['c0', '10.0.1.2', 100, 10, 0],
        ['c1', '10.0.2.2', 200, 20, 0, true],
        [null, '10.0.3.2', 5, 0, 0],
      ]),
      conn(2, [
        ['c0', '10.0.1.2', 300, 30, 30],
        ['c0', '10.0.1.2', 100, 0, 0],
      ]),
    ];
    const p = summarizePaths(list);
    expect(p.map((x) => [x.ifname, x.subflows, x.backupSubflows, x.connections])).toEqual([
      ['c0', 3, 0, 2],
      ['c1', 1, 1, 1],
      [UNKNOWN_PATH, 1, 0, 1],
    ]);
    const c0 = p[0]!;
    expect([c0.bytesSent, c0.bytesReceived, c0.bytesRetrans]).toEqual([500, 40, 30]);
    // No previous snapshot: no rates, the retransmission share over the subflows' lifetime.
    expect(c0.sentBytesPerSec).toBeNull();
    expect(c0.retransPct).toBe(6);
    expect(c0.retransOver).toBe('lifetime');
  });

  it('rates from the growth since the previous snapshot: closed subflows do not go negative, new ones count', () => {
    const before = [conn(1, [['c0', '10.0.1.2', 1000, 0, 0]]), conn(2, [['c1', '10.0.2.2', 5000, 0, 0]])];
    const idle = conn(3, [['c1', '10.0.2.2', 9999, 0, 0]]);
    // Connection 2 closed; 1 sent 2,000 bytes (200 of them again); 4 is new with 500; 3 unchanged.
    const after = [
      conn(1, [['c0', '10.0.1.2', 3000, 400, 200]]),
      conn(4, [['c1', '10.0.2.2', 500, 0, 0]]),
      idle,
    ];
    const p = summarizePaths(after, { connections: [...before, idle], takenAtMs: 1000 }, 3000);
    const c0 = p.find((x) => x.ifname === 'c0')!;
    expect(c0.sentBytesPerSec).toBe(1000);
    expect(c0.receivedBytesPerSec).toBe(200);
    expect(c0.retransPct).toBe(10);
    expect(c0.retransOver).toBe('interval');
    const c1 = p.find((x) => x.ifname === 'c1')!;
    expect(c1.sentBytesPerSec).toBe(250);
    // Nothing retransmitted and bytes sent in the interval: 0 %, over the interval.
    expect([c1.retransPct, c1.retransOver]).toEqual([0, 'interval']);
  });

  it('an interface that sent nothing in the interval keeps its lifetime share; none sent at all: null', () => {
    const a = conn(1, [
      ['c0', '10.0.1.2', 1000, 0, 50],
      ['c1', '10.0.2.2', 0, 10, 0],
    ]);
    const b = { ...a, subflows: a.subflows.map((s) => ({ ...s, bytesReceived: s.bytesReceived + 1 })) };
    const p = summarizePaths([b], { connections: [a], takenAtMs: 0 }, 1000);
    expect(p.find((x) => x.ifname === 'c0')).toMatchObject({
      retransPct: 5,
      retransOver: 'lifetime',
      sentBytesPerSec: 0,
    });
    expect(p.find((x) => x.ifname === 'c1')?.retransPct).toBeNull();
  });

  it('connectionPaths: one connection against its previous reading', () => {
    const a = conn(1, [
      ['c0', '10.0.1.2', 1000, 0, 0],
      ['c1', '10.0.2.2', 1000, 0, 0],
    ]);
    const b = conn(1, [
      ['c0', '10.0.1.2', 1100, 0, 0],
      ['c1', '10.0.2.2', 1000, 0, 0],
    ]);
    const p = connectionPaths(b, a, 100);
    expect(p.map((x) => [x.ifname, x.sentBytesPerSec])).toEqual([
      ['c0', 1000],
      ['c1', 0],
    ]);
    expect(connectionPaths(b)[0]?.sentBytesPerSec).toBeNull();
  });
});

describe('addressMatrix', () => {
  it('rows by local address, columns by remote address, each cell with its subflows and interfaces', () => {
    const c = conn(1, [
      ['c0', '10.0.1.2', 0, 0, 0],
      ['c0', '::ffff:10.0.2.2', 0, 0, 0],
      ['c1', '10.0.2.2', 0, 0, 0],
    ]);
    c.subflows[2] = { ...c.subflows[2]!, remoteAddress: '10.0.9.2' };
    const m = addressMatrix(c);
    expect(m.locals).toEqual(['10.0.1.2', '10.0.2.2']);
    expect(m.remotes).toEqual(['10.0.9.1', '10.0.9.2']);
    expect(m.cells.map((row) => row.map((cell) => [cell.subflows.length, cell.ifnames]))).toEqual([
      [
        [1, ['c0']],
        [0, []],
      ],
      [
        [1, ['c0']],
        [1, ['c1']],
      ],
    ]);
  });
});
