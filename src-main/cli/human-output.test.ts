import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../shared/testing/fuzz';
import { syntheticConnection } from '../../shared/testing/synthetic';
import { formatCounters } from './counters-format';
import { connectionsJson, formatConnections } from './format';

describe('the CLI text output', () => {
  it('prints byte counts in KiB, MiB and GiB and a retransmission share per subflow; JSON stays raw', () => {
    const c = syntheticConnection(mulberry32(7), 0xab12, 2);
    c.bytesSent = 52_428_800;
    c.bytesReceived = 3 * 1024 ** 3;
    c.bytesRetrans = 1536;
    c.subflows[0] = { ...c.subflows[0]!, bytesSent: 1_000_000, bytesRetrans: 5_000 };
    c.subflows[1] = { ...c.subflows[1]!, bytesSent: 0, bytesRetrans: 0 };
    const text = formatConnections([c], Date.now());
    const [head, first, second] = text.split('\n');
    expect(head).toContain('sent 50 MiB  received 3 GiB  mptcp retrans 1.5 KiB');
    expect(head).not.toMatch(/\d B\b/);
    expect(first).toContain('retrans 0.50 %');
    expect(second).toContain('retrans -');
    const json = connectionsJson({
      takenAtMs: Date.now(),
      pollDurationUs: 1,
      connections: [c],
      orphanSubflows: 0,
    }) as {
      connections: { bytesSent: number; bytesReceived: number }[];
    };
    expect(json.connections[0]).toMatchObject({ bytesSent: 52_428_800, bytesReceived: 3 * 1024 ** 3 });
  });

  it('lists MPTcpExt counters with what each counts', () => {
    const counters = { MPJoinRejected: 3, MPCapableSYNTX: 0, SomeFutureCounter: 1 };
    expect(formatCounters(counters, false).split('\n')).toEqual([
      'MPJoinRejected     3  MP_JOINs refused by the path manager (limit reached: ip mptcp limits subflows)',
      'SomeFutureCounter  1  (not described by this version)',
      '',
    ]);
    expect(formatCounters(counters, true)).toContain(
      'MPCapableSYNTX     0  SYNs sent with MP_CAPABLE: outgoing MPTCP connection attempts',
    );
    expect(formatCounters({ MPCapableSYNTX: 0 }, false)).toBe(
      'the one MPTcpExt counter is 0 (--all lists them)\n',
    );
    expect(formatCounters({ MPCapableSYNTX: 0, AddAddr: 0 }, false)).toBe(
      'all 2 MPTcpExt counters are 0 (--all lists them)\n',
    );
  });
});
