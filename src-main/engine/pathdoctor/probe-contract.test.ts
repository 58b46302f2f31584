/**
 * The Path doctor's contract surface without a kernel: argument schemas (no multicast or
 * broadcast target, the rate ceiling, ports), the agent's audit of probe calls, the subflow
 * check's reading of evidence, and the probe service's run bookkeeping with fake runs.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { auditedMethodNames, methods, probeMethodNames, writeMethodNames } from '../../../shared/contract';
import {
  PROBE_MAX_PPS,
  probeTargetProblem,
  type CheckedSubflow,
  type ProbeProgress,
} from '../../../shared/path-doctor';
import { fakeBackend } from '../../testing/fake-backend';
import { serveAgent } from '../agent/server';
import { EngineService } from '../service';
import { ProbeService } from './service';
import {
  checkVerdict,
  classifySubflow,
  FORCED_IDLE_REASON,
  summarisePaths,
  type SubflowEvidence,
} from './subflow-verdict';

describe('probe argument schemas', () => {
  const scan = methods['mptcp:probe:scan'].args;
  const base = { runId: 'run-00000001', targets: ['10.0.5.2'], ports: [443] };

  it('refuses multicast, broadcast, reserved and unspecified targets, and ranges that reach them', () => {
    for (const t of [
      '224.0.0.1',
      '239.255.255.250',
      '255.255.255.255',
      '240.0.0.1',
      '0.0.0.0',
      'ff02::1',
      '::',
    ])
      expect(scan.safeParse({ ...base, targets: [t] }).success, t).toBe(false);
    // CIDR blocks nest: a range reaches a forbidden block only through its first or last address.
    expect(probeTargetProblem('239.255.240.0/20')).toMatch(/reaches 239\.255\.240\.0: a multicast address/);
    expect(probeTargetProblem('223.255.255.0/24')).toBeNull();
    expect(probeTargetProblem('0.0.0.0/19')).toMatch(/this network/);
    expect(probeTargetProblem('ff02::/120')).toMatch(/multicast/);
    expect(probeTargetProblem('10.0.0.0/18')).toMatch(/at most 8192/);
    expect(probeTargetProblem('10.0.0.0/24')).toBeNull();
    expect(probeTargetProblem('example.org')).toBeNull();
    expect(probeTargetProblem('a b')).toMatch(/not an address/);
    expect(
      methods['mptcp:probe:trace'].args.safeParse({ runId: 'run-00000001', target: '10.0.0.0/24', port: 1 })
        .success,
    ).toBe(false);
  });

  it('bounds the rate by the helper ceiling, and ports to 1..65535', () => {
    expect(scan.safeParse({ ...base, ratePps: PROBE_MAX_PPS }).success).toBe(true);
    expect(scan.safeParse({ ...base, ratePps: PROBE_MAX_PPS + 1 }).success).toBe(false);
    expect(scan.safeParse({ ...base, perTargetPps: 0 }).success).toBe(false);
    expect(scan.safeParse({ ...base, ports: [0] }).success).toBe(false);
    expect(scan.safeParse({ ...base, ports: [65536] }).success).toBe(false);
    expect(scan.safeParse({ ...base, runId: 'x' }).success).toBe(false);
    expect(scan.safeParse({ ...base, extra: 1 }).success).toBe(false);
    expect(
      methods['mptcp:probe:trace'].args.safeParse({
        runId: 'run-00000001',
        target: '10.0.5.2',
        port: 1,
        ratePps: 10_001,
      }).success,
    ).toBe(false);
  });

  it('probes write nothing, but every one that sends packets is audited', () => {
    for (const m of probeMethodNames) expect(methods[m].writes).toBe(false);
    expect(auditedMethodNames).toEqual([...writeMethodNames, ...probeMethodNames]);
  });
});

describe('the agent audits probe calls', () => {
  it('logs a scan start with its validated arguments and the peer', async () => {
    const log: Record<string, unknown>[] = [];
    const input = new PassThrough();
    const output = new PassThrough();
    const lines: string[] = [];
    output.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
    const done = serveAgent(fakeBackend(), input, output, { log: (e) => log.push(e) });
    const call = (id: number, method: string, args: unknown): void => {
      input.write(`${JSON.stringify({ t: 'call', id, method, args })}\n`);
    };
    call(1, 'mptcp:probe:scan', { runId: 'audit-run-1', targets: ['10.0.5.2'], ports: [443], ratePps: 50 });
    call(2, 'mptcp:probe:history', {});
    call(3, 'mptcp:probe:scan', { runId: 'audit-run-2', targets: ['224.0.0.1'], ports: [443] });
    while (lines.length < 3) await new Promise((r) => setTimeout(r, 5));
    input.end();
    await done;
    expect(log.map((e) => e.method)).toEqual(['mptcp:probe:scan', 'mptcp:probe:scan']);
    expect(log[0]).toMatchObject({
      peer: { client: 'stdio' },
      args: { runId: 'audit-run-1', targets: ['10.0.5.2'], ports: [443], ratePps: 50, mode: 'raw' },
      result: { ok: true },
    });
    expect(log[1]).toMatchObject({
      args: { invalid: expect.stringMatching(/multicast/) },
      result: { ok: false },
    });
  });
});

const evidence = (e: Partial<SubflowEvidence>): SubflowEvidence => ({
  initial: false,
  extra: false,
  createError: null,
  established: false,
  closed: null,
  lastState: 'SYN_SENT',
  alive: true,
  dataFlowed: false,
  bytesSent: 0,
  bytesReceived: 0,
  retransmits: 0,
  connectionFallback: null,
  localResets: 0,
  ...e,
});

describe('reading a subflow', () => {
  it('tells joined, refused, dropped, broken by data and idle apart', () => {
    expect(classifySubflow(evidence({ established: true, dataFlowed: true, bytesSent: 10 })).outcome).toBe(
      'ok',
    );
    expect(
      classifySubflow(evidence({ closed: { error: 111, resetReason: null }, alive: false })),
    ).toMatchObject({
      outcome: 'refused',
      reason: expect.stringMatching(/RST/),
    });
    expect(classifySubflow(evidence({ retransmits: 3 }))).toEqual({
      outcome: 'dropped',
      reason: 'no answer to the SYN + MP_JOIN after 3 retransmissions',
    });
    expect(
      classifySubflow(
        evidence({
          established: true,
          dataFlowed: true,
          alive: false,
          closed: { error: 104, resetReason: 'middlebox' },
        }),
      ),
    ).toMatchObject({ outcome: 'fallback', reason: expect.stringMatching(/MP_RST: middlebox/) });
    expect(
      classifySubflow(
        evidence({
          established: true,
          dataFlowed: true,
          alive: false,
          closed: { error: null, resetReason: null },
          localResets: 2,
        }),
      ),
    ).toMatchObject({ outcome: 'fallback', reason: expect.stringMatching(/MPRstTx \+2/) });
    expect(classifySubflow(evidence({ established: true, dataFlowed: true })).outcome).toBe('idle');
    // Still nothing with a chunk forced onto it (every other subflow backup): the path, not the scheduler.
    expect(classifySubflow(evidence({ established: true, dataFlowed: true, forcedChunk: true }))).toEqual({
      outcome: 'idle',
      reason: FORCED_IDLE_REASON,
    });
    expect(classifySubflow(evidence({ established: true, dataFlowed: true })).reason).toMatch(/scheduler/);
    expect(classifySubflow(evidence({ createError: 'no route' })).outcome).toBe('not-created');
    expect(
      classifySubflow(evidence({ initial: true, established: true, connectionFallback: 'handshake' }))
        .outcome,
    ).toBe('fallback');
  });

  it('names each path by its worst subflow, and the verdict lists what is wrong first', () => {
    const sf = (
      iface: string,
      addr: string,
      outcome: CheckedSubflow['outcome'],
      reason: string,
    ): CheckedSubflow => ({
      interface: iface,
      localAddress: addr,
      localPort: 1,
      remoteAddress: '10.0.5.2',
      remotePort: 8001,
      initial: false,
      extra: false,
      outcome,
      reason,
      bytesSent: 0,
      bytesReceived: 0,
      retransmits: 0,
      rttUs: null,
      error: null,
      resetReason: null,
    });
    const paths = summarisePaths([
      sf('c0', '10.0.1.1', 'ok', 'joined and carried data'),
      sf('c1', '10.1.1.1', 'ok', 'joined and carried data'),
      sf('c1', '10.1.1.1', 'dropped', 'no answer to the SYN + MP_JOIN'),
    ]);
    expect(paths.map((p) => [p.interface, p.outcome, p.counts])).toEqual([
      ['c0', 'ok', { ok: 1 }],
      ['c1', 'dropped', { ok: 1, dropped: 1 }],
    ]);
    expect(paths[1]?.verdict).toBe(
      'joins from c1 (10.1.1.1) are dropped silently: no answer to the SYN + MP_JOIN (1 of 2 subflows)',
    );
    const verdict = checkVerdict({
      paths,
      payload: { bytes: 1024, sent: 1024, echoed: 1024, intact: true, mismatchAt: null, ms: 1 },
      connection: {
        token: 1,
        initialAddress: '10.0.1.1',
        mptcp: true,
        fallback: null,
        pathManager: { before: 'kernel', switched: true },
      },
      cancelled: false,
    });
    expect(verdict).toBe(
      '1 of 2 paths carry MPTCP subflows; joins from c1 (10.1.1.1) are dropped silently: no answer to the SYN + MP_JOIN (1 of 2 subflows); the payload (1 KiB) came back intact',
    );
  });

  it('a path is a local address and a far one: named with the far one when there are several', () => {
    const sf = (addr: string, remote: string, outcome: CheckedSubflow['outcome']): CheckedSubflow => ({
      interface: 'c0',
      localAddress: addr,
      localPort: 1,
      remoteAddress: remote,
      remotePort: 8001,
      initial: false,
      extra: false,
      outcome,
      reason: outcome === 'ok' ? 'joined and carried data' : 'no answer to the SYN + MP_JOIN',
      bytesSent: 0,
      bytesReceived: 0,
      retransmits: 0,
      rttUs: null,
      error: null,
      resetReason: null,
    });
    const paths = summarisePaths([
      sf('10.0.1.1', '10.0.5.2', 'ok'),
      sf('10.0.1.1', '10.1.5.2', 'dropped'),
      sf('fd00:0:1::1', 'fd00:0:5::2', 'ok'),
    ]);
    expect(paths.map((p) => [p.localAddress, p.remoteAddress, p.outcome])).toEqual([
      ['10.0.1.1', '10.0.5.2', 'ok'],
      ['10.0.1.1', '10.1.5.2', 'dropped'],
      ['fd00:0:1::1', 'fd00:0:5::2', 'ok'],
    ]);
    expect(paths[1]?.verdict).toBe(
      'joins from c0 (10.0.1.1) to 10.1.5.2 are dropped silently: no answer to the SYN + MP_JOIN (its one subflow)',
    );
    // One far address: the path is named by its local end only, as before.
    expect(summarisePaths([sf('10.0.1.1', '10.0.5.2', 'ok')])[0]?.verdict).toBe(
      'MPTCP works from c0 (10.0.1.1): its one subflow joined and carried data',
    );
  });
});

describe('probe service bookkeeping', () => {
  const kernel = {} as ConstructorParameters<typeof ProbeService>[0]['kernel'];

  it('refuses a taken run id and a schema-valid target that resolves to a forbidden address', async () => {
    const events: ProbeProgress[] = [];
    const svc = new ProbeService({
      kernel,
      emit: (p) => events.push(p),
      resolve: () => Promise.resolve(['224.0.0.5']),
      helperPath: '/nonexistent/mptcp-probe',
    });
    const service = new EngineService({
      ...fakeBackend(),
      handlers: { ...fakeBackend().handlers, ...svc.handlers },
    });
    const r = await service.invoke('mptcp:probe:trace', {
      runId: 'run-resolves-1',
      target: 'evil.example',
      port: 443,
    });
    expect(r).toMatchObject({
      ok: false,
      error: { code: 'EINVAL', message: expect.stringMatching(/224\.0\.0\.5.*multicast/) },
    });
    // Nothing ran, nothing was remembered.
    expect(events).toEqual([]);
    expect(await service.invoke('mptcp:probe:history', {})).toEqual({ ok: true, value: [] });
    const missing = await service.invoke('mptcp:probe:scan', {
      runId: 'run-nohelper',
      targets: ['10.0.5.2'],
      ports: [1],
    });
    expect(missing).toMatchObject({
      ok: false,
      error: { message: expect.stringMatching(/probe helper not found/) },
    });
    svc.close();
  });
});
