import { describe, expect, it } from 'vitest';
import { parseSsTcpInfo } from './cc-experiments';

// `ss -tinH state established` in a lab client namespace (iproute2 6.x): one MPTCP subflow running
// a test copy of LIA, and the competing single-path Reno flow (trimmed).
const SS = [
  '0      2658240      10.99.2.1:40917 10.99.100.2:6000 ',
  '\t ts sack mpst_l_dyx_f1 wscale:7,7 rto:208 rtt:7.52/0.61 mss:1448 pmtu:1500 rcvmss:536 advmss:1448 cwnd:43 ssthresh:38 bytes_sent:5123456 tcp-ulp-mptcp flags:Jec token:0000(id:2)/0000(id:0) seq:0 sfseq:0 ssnoff:0 maplen:0',
  '0      1893544      10.99.1.1:52344 10.99.100.2:6001 ',
  '\t ts sack reno wscale:7,7 rto:212 rtt:11.3/0.9 mss:1448 pmtu:1500 rcvmss:536 advmss:1448 cwnd:65536 ssthresh:31 bytes_sent:8123456',
].join('\n');

describe('parseSsTcpInfo', () => {
  it('reads address pair, CC name, cwnd and the MPTCP subflow marker of each socket', () => {
    const got = parseSsTcpInfo(SS, 7);
    expect(
      got.map(({ local, peer, cc, cwnd, mptcp, atMs }) => ({ local, peer, cc, cwnd, mptcp, atMs })),
    ).toEqual([
      {
        local: '10.99.2.1:40917',
        peer: '10.99.100.2:6000',
        cc: 'mpst_l_dyx_f1',
        cwnd: 43,
        mptcp: true,
        atMs: 7,
      },
      { local: '10.99.1.1:52344', peer: '10.99.100.2:6001', cc: 'reno', cwnd: 65536, mptcp: false, atMs: 7 },
    ]);
  });

  it('ignores a socket line without its info line and empty output', () => {
    expect(parseSsTcpInfo('')).toEqual([]);
    expect(parseSsTcpInfo('0 0 10.99.1.1:1 10.99.100.2:2\n')).toEqual([]);
  });
});
