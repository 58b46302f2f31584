/** The Path doctor's pure helpers in shared/: ports, targets, tracebox names, the advisor's hint. */
import { describe, expect, it } from 'vitest';
import { connection, overview, snapshot } from '../src-renderer/src/testing/fixtures';
import { advise } from './advisor';
import { parsePortList, probeTargetProblem } from './path-doctor';
import { compactPorts, formatSubflowCheckText, seedChangeText } from './path-doctor-format';

describe('parsePortList', () => {
  it('reads lists and ranges, refuses nonsense', () => {
    expect(parsePortList('80, 443,8000-8002')).toEqual([80, 443, 8000, 8001, 8002]);
    expect(parsePortList('443,443')).toEqual([443]);
    expect(parsePortList('0')).toMatch(/1\.\.65535/);
    expect(parsePortList('10-5')).toMatch(/1\.\.65535/);
    expect(parsePortList('1-2000')).toBe('at most 1024 ports');
    expect(parsePortList('http')).toMatch(/not a port/);
  });
});

describe('compactPorts', () => {
  it('folds runs of three or more into ranges', () => {
    expect(compactPorts([443, 80, 8001, 8002, 8003, 8005, 8006])).toBe('80,443,8001-8003,8005,8006');
  });
});

describe('probeTargetProblem', () => {
  it('checks IPv6 ranges by their first address, host names by shape', () => {
    expect(probeTargetProblem('::1/120')).toMatch(/reaches ::: the unspecified address/);
    expect(probeTargetProblem('fd00::/116')).toBeNull();
    expect(probeTargetProblem('-bad.example')).toMatch(/not an address/);
    expect(probeTargetProblem('10.0.0.1', { ranges: false })).toBeNull();
    expect(probeTargetProblem('10.0.0.0/30', { ranges: false })).toMatch(/not a range/);
  });
});

describe('tracebox names', () => {
  it('names changes as the seed prints them, with the values', () => {
    expect(seedChangeText({ kind: 'mss', field: 'MSS', from: '1460', to: '1200', text: '' })).toBe(
      'TCP::Option_MSS 1460→1200',
    );
    expect(seedChangeText({ kind: 'dscp', field: 'DSCP', from: '0', to: '10', text: '' })).toBe(
      'IP::DSCP 0→10',
    );
    expect(
      seedChangeText({ kind: 'option-nopped', field: 'MP_CAPABLE', from: 'x', to: null, text: '' }),
    ).toBe('TCP::Option_MP_CAPABLE NOPed');
    expect(
      seedChangeText({ kind: 'option-removed', field: 'timestamp', from: 'x', to: null, text: '' }),
    ).toBe('TCP::Option_timestamp removed');
  });
});

describe('the advisor offers “Trace this path”', () => {
  it('for connections this host opened that fell back, naming the commonest peer and the local address', () => {
    const fell = (token: number, port: number) =>
      connection({ token, fallback: true, localAddress: '::ffff:10.0.1.2', localPort: port, subflows: [] });
    const advice = advise({
      overview: overview(),
      connections: snapshot({
        connections: [fell(1, 40001), fell(2, 40002), connection({ token: 3 })],
      }),
      managers: { mptcpd: false, networkManager: false },
    });
    const a = advice.find((x) => x.id === 'fallback-trace');
    expect(a).toMatchObject({
      severity: 'warning',
      title: '2 connections fell back to plain TCP',
      fix: null,
      trace: { target: '10.0.9.1', port: 5201, from: '10.0.1.2' },
    });
    expect(a?.detail).toContain('all to 10.0.9.1:5201');
  });

  it('not for a server-side fallback (the peer connected to us) nor when nothing fell back', () => {
    const ids = (conns: ReturnType<typeof connection>[]) =>
      advise({
        overview: overview(),
        connections: snapshot({ connections: conns }),
        managers: { mptcpd: false, networkManager: false },
      }).map((a) => a.id);
    expect(ids([connection({ fallback: true, localPort: 443, remotePort: 50000 })])).not.toContain(
      'fallback-trace',
    );
    expect(ids([connection()])).not.toContain('fallback-trace');
  });
});

describe('subflow check text', () => {
  it('one line per subflow and per path, the counters, the switch, the verdict', () => {
    const text = formatSubflowCheckText({
      target: '10.0.5.2',
      port: 8001,
      subflowsPerPath: 1,
      connection: {
        token: 0x1234,
        initialAddress: '10.0.1.1',
        mptcp: true,
        fallback: null,
        pathManager: { before: 'kernel', switched: true },
      },
      remotes: [{ address: '10.0.5.2', port: 8001, from: 'target' }],
      payload: { bytes: 1024, sent: 1024, echoed: 1024, intact: true, mismatchAt: null, ms: 1 },
      subflows: [
        {
          interface: 'c0',
          localAddress: '10.0.1.1',
          localPort: 40000,
          remoteAddress: '10.0.5.2',
          remotePort: 8001,
          initial: true,
          extra: false,
          outcome: 'ok',
          reason: 'MP_CAPABLE handshake and data',
          bytesSent: 2048,
          bytesReceived: 1024,
          retransmits: 0,
          rttUs: 100,
          error: null,
          resetReason: null,
        },
      ],
      paths: [
        {
          interface: 'c0',
          localAddress: '10.0.1.1',
          remoteAddress: '10.0.5.2',
          outcome: 'ok',
          subflows: 1,
          counts: { ok: 1 },
          verdict: 'MPTCP works from c0',
        },
      ],
      counters: { MPJoinSynTx: 0, MPCapableSYNTX: 1 },
      verdict: 'MPTCP works on the one path',
      elapsedMs: 5,
      cancelled: false,
    });
    expect(text.split('\n')).toEqual([
      'subflow check to 10.0.5.2 port 8001, 1 subflow per path (connection 00001234)',
      '  c0 10.0.1.1:40000              ok          [initial]  MP_CAPABLE handshake and data  sent 2 KiB, received 1 KiB',
      'paths:',
      '  c0           ok          MPTCP works from c0',
      'counters: MPJoinSynTx 0, MPCapableSYNTX +1',
      "(the check's socket was created under path_manager=userspace; kernel was put back at once)",
      'verdict: MPTCP works on the one path',
      '',
    ]);
  });
});
