import { describe, expect, it } from 'vitest';
import { parseNetstat } from './netstat';

const sample = `TcpExt: SyncookiesSent SyncookiesRecv
TcpExt: 0 3
MPTcpExt: MPCapableSYNRX MPJoinRejected AddAddr NewCounterFromAFutureKernel
MPTcpExt: 12 2 18446744073709 7
`;

describe('parseNetstat', () => {
  it('pairs names with values and keeps unknown counters', () => {
    expect(parseNetstat(sample, 'MPTcpExt')).toEqual({
      MPCapableSYNRX: 12,
      MPJoinRejected: 2,
      AddAddr: 18446744073709,
      NewCounterFromAFutureKernel: 7,
    });
    expect(parseNetstat(sample, 'TcpExt')).toEqual({ SyncookiesSent: 0, SyncookiesRecv: 3 });
  });

  it('returns nothing for a missing or malformed MIB', () => {
    expect(parseNetstat('', 'MPTcpExt')).toEqual({});
    expect(parseNetstat('MPTcpExt: A B\nMPTcpExt: 1\n', 'MPTcpExt')).toEqual({});
    expect(parseNetstat('MPTcpExt: A B\nTcpExt: 1 2\n', 'MPTcpExt')).toEqual({});
  });
});
