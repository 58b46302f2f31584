/**
 * The subflow check against real kernels and real middleboxes (PathDoctorLab), through the
 * contract and the namespace agent, as the UI runs it. Paths (each client → r1 … r4 → server):
 *   c0 clean; c1 r2 drops SYNs carrying MP_JOIN; c2 r2 answers them with an RST;
 *   c3 r2 strips option 30 from data packets (DSS); c4 r2 strips option 30 from every packet.
 * Every probe stays in the lab: the client namespace has routes to the lab's prefixes only.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeProgress, ProbeRun, SubflowCheckResult } from '../../../shared/path-doctor';
import type { Result } from '../../../shared/result';
import { labUnavailableReason, nsRun } from '../../lab/lab';
import { PathDoctorLab, TARGET_PORTS } from '../../lab/path-doctor-lab';
import { openEngine, type EngineService } from '../index';
import { probeHelperPath } from './helper';

const skip = labUnavailableReason();

describe.skipIf(skip !== null)('subflow check in the Path doctor lab', () => {
  let lab: PathDoctorLab;
  let engine: EngineService;
  const progress: ProbeProgress[] = [];
  let n = 0;

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build-probe.mjs']);
    lab = await PathDoctorLab.create({
      paths: 5,
      stripPaths: [4],
      joinDropPaths: [1],
      joinRefusePaths: [2],
      dssStripPaths: [3],
    });
    await lab.startTargets(probeHelperPath());
    engine = openEngine({ netns: lab.client });
    engine.on('mptcp:probe:progress', (p) => progress.push(p));
  });
  afterAll(async () => {
    await engine?.close();
    await lab?.destroy();
  });

  /** Start a check, wait for its end, return the run with its result. */
  async function check(args: Record<string, unknown>): Promise<ProbeRun> {
    const runId = `it-subflows-${++n}-${Date.now()}`;
    // The lab's client runs the in-kernel path manager: the switch is consented to unless a test
    // says otherwise.
    const started = await engine.invoke('mptcp:probe:subflows', { runId, allowPmSwitch: true, ...args });
    if (!started.ok) throw new Error(`${started.error.code}: ${started.error.message}`);
    const deadline = Date.now() + 45_000;
    while (!progress.some((p) => p.runId === runId && p.state !== 'running')) {
      if (Date.now() > deadline) throw new Error('the check did not end');
      await new Promise((r) => setTimeout(r, 50));
    }
    const got = (await engine.invoke('mptcp:probe:get', { runId })) as Result<ProbeRun | null>;
    if (!got.ok || !got.value) throw new Error('no run in the history');
    return got.value;
  }
  const resultOf = (run: ProbeRun): SubflowCheckResult => {
    if (run.result?.kind !== 'subflows') throw new Error(`no check result: ${run.summary}`);
    return run.result.check;
  };

  it('per path: joins OK, silently dropped, refused with an RST, broken once data flows; the payload intact', async () => {
    const target = lab.paths[0]?.serverAddress ?? '';
    const run = await check({
      target,
      port: TARGET_PORTS.mptcp,
      from: ['c0', 'c1', 'c2', 'c3'],
      subflowsPerPath: 2,
      payloadBytes: 1024 * 1024,
      joinTimeoutMs: 2500,
    });
    expect(run.state).toBe('done');
    const r = resultOf(run);
    expect(Object.fromEntries(r.paths.map((p) => [p.interface, p.outcome]))).toEqual({
      c0: 'ok',
      c1: 'dropped',
      c2: 'refused',
      c3: 'fallback',
    });
    // Two subflows per path, each with its own source port; c0's first is the initial one.
    expect(r.subflows.filter((s) => !s.extra)).toHaveLength(8);
    expect(r.subflows.filter((s) => s.initial).map((s) => s.interface)).toEqual(['c0']);
    expect(new Set(r.subflows.map((s) => `${s.localAddress}:${s.localPort}`)).size).toBe(8);
    // Every subflow that joined carried data, both ways.
    for (const s of r.subflows.filter((x) => x.outcome === 'ok')) {
      expect(s.bytesSent).toBeGreaterThan(0);
      expect(s.bytesReceived).toBeGreaterThan(0);
    }
    for (const s of r.subflows.filter((x) => x.interface === 'c1'))
      expect(s.reason).toMatch(/no answer to the SYN \+ MP_JOIN/);
    for (const s of r.subflows.filter((x) => x.interface === 'c2')) expect(s.error).toBe('ECONNREFUSED');
    // Broken by data: reset once the DSS mapping is found stripped, or, when the kernel got there
    // first on a loaded machine, closed with EBADMSG (74) before carrying any.
    for (const s of r.subflows.filter((x) => x.interface === 'c3'))
      expect(s.reason).toMatch(
        /^(reset (by this end )?once data flowed.*strips or alters DSS|closed once data flowed \(errno 74\))/,
      );
    // At least the payload asked for: a subflow the scheduler left idle gets a chunk of its own
    // (subflow-check.ts), which depends on how the scheduler spread the payload.
    expect(r.payload).toMatchObject({ intact: true, mismatchAt: null });
    expect(r.payload.bytes).toBeGreaterThanOrEqual(1024 * 1024);
    expect(r.connection).toMatchObject({
      mptcp: true,
      fallback: null,
      initialAddress: lab.paths[0]?.clientAddress,
    });
    // The namespace's counters agree: 7 SYN + MP_JOIN sent, answered on c0 and c3 only.
    expect(r.counters.MPJoinSynTx).toBe(7);
    expect(r.counters.MPJoinSynAckRx).toBe(3);
    expect(r.verdict).toMatch(
      /^1 of 4 paths carry MPTCP subflows; joins from c1 \(10\.1\.1\.1\) are dropped silently/,
    );
    // 1 MiB and, when the scheduler left a subflow idle, a forced chunk of its own (subflow-check.ts).
    expect(r.verdict).toMatch(/the payload \([\d.]+ MiB\) came back intact/);
    // Progress came while it ran, and the run is in the history.
    const mine = progress.filter((p) => p.runId === run.runId);
    expect(mine.filter((p) => p.state === 'running').length).toBeGreaterThan(2);
    expect(mine.at(-1)).toMatchObject({ state: 'done', kind: 'subflows' });
    const history = (await engine.invoke('mptcp:probe:history', {})) as Result<ProbeRun[]>;
    expect(history.ok && history.value.find((h) => h.runId === run.runId)).toMatchObject({
      state: 'done',
      result: null,
    });
  });

  it('creates its socket under the userspace path manager and puts `kernel` back at once, state file gone', async () => {
    const run = await check({
      target: lab.paths[0]?.serverAddress ?? '',
      port: TARGET_PORTS.mptcp,
      from: ['c0'],
      payloadBytes: 64 * 1024,
    });
    expect(resultOf(run).connection.pathManager).toEqual({ before: 'kernel', switched: true });
    const { stdout } = await nsRun(lab.client, 'sysctl', ['-n', 'net.mptcp.path_manager']);
    expect(stdout.trim()).toBe('kernel');
    const dir = '/run/mptcp-studio';
    if (existsSync(dir)) expect(readdirSync(dir).filter((f) => f.startsWith('probe-pm-'))).toEqual([]);
  });

  it('without consent to the path manager switch: refused up front, the path manager untouched', async () => {
    const r = await engine.invoke('mptcp:probe:subflows', {
      runId: `it-consent-${++n}-${Date.now()}`,
      target: lab.paths[0]?.serverAddress ?? '',
      port: TARGET_PORTS.mptcp,
      from: ['c0'],
    });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('EPERM');
      expect(r.error.message).toMatch(
        /^this namespace runs the kernel path manager \(net\.mptcp\.path_manager=kernel\); the subflow check switches it to userspace .*allow that switch to run the check$/,
      );
    }
    const { stdout } = await nsRun(lab.client, 'sysctl', ['-n', 'net.mptcp.path_manager']);
    expect(stdout.trim()).toBe('kernel');
    // No connection was opened: the server saw nothing new.
    const ss = await nsRun(lab.server, 'ss', ['-MHn', 'state', 'established']);
    expect(ss.stdout.trim()).toBe('');
  });

  it('joins from every local address to every remote one: the target, an announced one, a given one', async () => {
    const [p0, p1, p2] = lab.paths;
    if (!p0 || !p1 || !p2) throw new Error('paths');
    // The server announces its path-2 address (ADD_ADDR) on every new connection while this runs.
    await nsRun(lab.server, 'ip', ['mptcp', 'endpoint', 'add', p2.serverAddress, 'signal']);
    try {
      const run = await check({
        target: p0.serverAddress,
        port: TARGET_PORTS.mptcp,
        from: ['c0', 'c1'],
        remotes: [p1.serverAddress],
        payloadBytes: 1024 * 1024,
        joinTimeoutMs: 2000,
      });
      const r = resultOf(run);
      const port = TARGET_PORTS.mptcp;
      expect(r.remotes).toEqual([
        { address: p0.serverAddress, port, from: 'target' },
        { address: p2.serverAddress, port, from: 'announced' },
        { address: p1.serverAddress, port, from: 'given' },
      ]);
      // c0 is clean whatever the far address; c1's r2 drops every SYN + MP_JOIN.
      expect(
        Object.fromEntries(r.paths.map((p) => [`${p.interface} ${p.remoteAddress}`, p.outcome])),
      ).toEqual({
        [`c0 ${p0.serverAddress}`]: 'ok',
        [`c0 ${p2.serverAddress}`]: 'ok',
        [`c0 ${p1.serverAddress}`]: 'ok',
        [`c1 ${p0.serverAddress}`]: 'dropped',
        [`c1 ${p2.serverAddress}`]: 'dropped',
        [`c1 ${p1.serverAddress}`]: 'dropped',
      });
      // The kernel's own view while it ran: five joins sent (two from c0, three from c1).
      expect(r.counters.MPJoinSynTx).toBe(5);
      expect(r.counters.MPJoinSynAckRx).toBe(2);
      expect(r.payload.intact).toBe(true);
    } finally {
      await nsRun(lab.server, 'ip', ['mptcp', 'endpoint', 'flush']);
    }
  });

  it('an IPv6 far address given: one dual-stack connection joins over IPv4 and IPv6', async () => {
    // A lab of its own, with IPv6 on its one clean path.
    const lab6 = await PathDoctorLab.create({ paths: 1, ipv6: true, stripPaths: [] });
    const engine6 = openEngine({ netns: lab6.client });
    try {
      await lab6.startTargets(probeHelperPath(), { ipv6: true });
      const [p0] = lab6.paths;
      if (!p0?.serverAddress6 || !p0.clientAddress6) throw new Error('the lab has no IPv6');
      const runId = `it-dual-${Date.now()}`;
      const ended = new Promise<void>((resolve) =>
        engine6.on('mptcp:probe:progress', (p) => {
          if (p.runId === runId && p.state !== 'running') resolve();
        }),
      );
      const started = await engine6.invoke('mptcp:probe:subflows', {
        runId,
        target: p0.serverAddress,
        port: TARGET_PORTS.mptcp,
        from: ['c0'],
        remotes: [p0.serverAddress6],
        subflowsPerPath: 2,
        payloadBytes: 1024 * 1024,
        joinTimeoutMs: 2000,
        allowPmSwitch: true,
      });
      expect(started.ok).toBe(true);
      await ended;
      const got = (await engine6.invoke('mptcp:probe:get', { runId })) as Result<ProbeRun | null>;
      const r = resultOf(got.ok && got.value ? got.value : ({} as ProbeRun));
      // The initial subflow over IPv4 (shown without its ::ffff: form), then joins of both families.
      expect(r.connection, r.verdict).toMatchObject({ mptcp: true, initialAddress: p0.clientAddress });
      expect(r.subflows.filter((s) => s.initial).map((s) => [s.localAddress, s.remoteAddress])).toEqual([
        [p0.clientAddress, p0.serverAddress],
      ]);
      expect(r.paths.map((p) => [p.localAddress, p.remoteAddress, p.outcome, p.subflows])).toEqual([
        [p0.clientAddress, p0.serverAddress, 'ok', 2],
        [p0.clientAddress6, p0.serverAddress6, 'ok', 2],
      ]);
      expect(r.payload.intact).toBe(true);
    } finally {
      await engine6.close();
      await lab6.destroy();
    }
  }, 60_000);

  it('a payload too small to spread: each subflow the scheduler left idle is sent a chunk alone', async () => {
    // 1 KiB goes out in one piece on one subflow; the other three carry data only because the
    // check sets every other subflow to backup (MP_PRIO) for a chunk of their own, and back after.
    const run = await check({
      target: lab.paths[0]?.serverAddress ?? '',
      port: TARGET_PORTS.mptcp,
      from: ['c0'],
      subflowsPerPath: 4,
      payloadBytes: 1024,
      joinTimeoutMs: 2500,
    });
    expect(run.state).toBe('done');
    const r = resultOf(run);
    expect(
      r.paths.map((p) => [p.interface, p.outcome, p.subflows]),
      r.verdict,
    ).toEqual([['c0', 'ok', 4]]);
    for (const s of r.subflows) expect(s.bytesSent, `${s.localPort}: ${s.reason}`).toBeGreaterThan(0);
    expect(r.payload.intact).toBe(true);
    // Every subflow set to backup was set back: the MP_PRIOs sent (MPTcpExt MPPrioTx) come in
    // pairs, three pairs (the three others) per subflow the scheduler had left idle.
    expect((r.counters.MPPrioTx ?? 0) % 6).toBe(0);
  });

  it('the first interface strips MP_CAPABLE: the check says so and starts from the next one', async () => {
    const run = await check({
      target: lab.paths[0]?.serverAddress ?? '',
      port: TARGET_PORTS.mptcp,
      from: ['c4', 'c0'],
      payloadBytes: 256 * 1024,
    });
    const r = resultOf(run);
    expect(Object.fromEntries(r.paths.map((p) => [p.interface, p.outcome]))).toEqual({
      c4: 'fallback',
      c0: 'ok',
    });
    expect(r.paths.find((p) => p.interface === 'c4')?.verdict).toMatch(/fell back to TCP at the handshake/);
    expect(r.connection.initialAddress).toBe(lab.paths[0]?.clientAddress);
    expect(r.payload.intact).toBe(true);
  });

  it('nothing listens there: refused at the handshake, with how to start the responder', async () => {
    const run = await check({
      target: lab.paths[0]?.serverAddress ?? '',
      port: TARGET_PORTS.closed,
      from: ['c0'],
    });
    const r = resultOf(run);
    expect(r.paths).toMatchObject([{ interface: 'c0', outcome: 'refused' }]);
    expect(r.verdict).toContain(`mptcp-studio responder --port ${TARGET_PORTS.closed}`);
  });

  it('arguments are checked by schema before anything runs', async () => {
    const bad = async (args: Record<string, unknown>): Promise<string> => {
      const r = await engine.invoke('mptcp:probe:subflows', {
        runId: `it-bad-${++n}-${Date.now()}`,
        target: lab.paths[0]?.serverAddress,
        port: TARGET_PORTS.mptcp,
        ...args,
      });
      return r.ok ? 'accepted' : `${r.error.code}: ${r.error.message}`;
    };
    expect(await bad({ target: '224.0.0.1' })).toMatch(/^BAD_REQUEST: .*multicast/);
    expect(await bad({ target: '255.255.255.255' })).toMatch(/^BAD_REQUEST: .*broadcast/);
    expect(await bad({ target: '10.0.0.0/24' })).toMatch(/^BAD_REQUEST: .*not a range/);
    expect(await bad({ port: 0 })).toMatch(/^BAD_REQUEST: mptcp:probe:subflows: port/);
    expect(await bad({ subflowsPerPath: 9 })).toMatch(/^BAD_REQUEST/);
    expect(await bad({ from: ['c9'] })).toMatch(/^EINVAL: interface c9 has no IPv4 address here/);
  });

  it('refused up front without CAP_NET_ADMIN (an unprivileged CLI in the namespace)', async () => {
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      execFile(
        'ip',
        [
          'netns',
          'exec',
          lab.client,
          'setpriv',
          '--reuid',
          '65534',
          '--regid',
          '65534',
          '--clear-groups',
          '--inh-caps=-all',
          '--bounding-set=-all',
          process.execPath,
          'bin/mptcp-studio.mjs',
          'subflows',
          lab.paths[0]?.serverAddress ?? '',
          '--port',
          String(TARGET_PORTS.mptcp),
        ],
        { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' } },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, text: stdout + stderr }),
      );
    });
    expect(out.code).not.toBe(0);
    expect(out.text).toMatch(/EPERM: the subflow check .* needs CAP_NET_ADMIN/);
  });
});
