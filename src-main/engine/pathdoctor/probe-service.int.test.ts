/**
 * Trace and scan through the contract and the namespace agent, as the Path doctor page runs them:
 * a run answers at once, reports on mptcp:probe:progress (scan records as they finish), can be
 * cancelled, and ends in the history. Every probe stays in the lab (PathDoctorLab: path 0's r2
 * strips option 30; the client namespace has routes to the lab's prefixes only).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProbeProgress, ProbeRun } from '../../../shared/path-doctor';
import type { Result } from '../../../shared/result';
import { labUnavailableReason } from '../../lab/lab';
import { PathDoctorLab, TARGET_PORTS } from '../../lab/path-doctor-lab';
import { openEngine, type EngineService } from '../index';
import { probeHelperPath } from './helper';

const skip = labUnavailableReason();

describe.skipIf(skip !== null)('probe runs through the contract', () => {
  let lab: PathDoctorLab;
  let engine: EngineService;
  const progress: ProbeProgress[] = [];
  let n = 0;

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build-probe.mjs']);
    lab = await PathDoctorLab.create({ paths: 2, stripPaths: [0] });
    await lab.startTargets(probeHelperPath());
    engine = openEngine({ netns: lab.client });
    engine.on('mptcp:probe:progress', (p) => progress.push(p));
  });
  afterAll(async () => {
    await engine?.close();
    await lab?.destroy();
  });

  const start = async (
    method: 'mptcp:probe:trace' | 'mptcp:probe:scan',
    args: Record<string, unknown>,
  ): Promise<string> => {
    const runId = `it-run-${++n}-${Date.now()}`;
    const r = (await engine.invoke(method, { runId, ...args })) as Result<{ runId: string }>;
    if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
    expect(r.value.runId).toBe(runId);
    return runId;
  };
  const ended = async (runId: string): Promise<ProbeRun> => {
    const deadline = Date.now() + 30_000;
    while (!progress.some((p) => p.runId === runId && p.state !== 'running')) {
      if (Date.now() > deadline) throw new Error(`${runId} did not end`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const got = (await engine.invoke('mptcp:probe:get', { runId })) as Result<ProbeRun | null>;
    if (!got.ok || !got.value) throw new Error('not in the history');
    return got.value;
  };

  it('trace from both interfaces, side by side: the stripping hop on c0, MPTCP on c1', async () => {
    const runId = await start('mptcp:probe:trace', {
      target: lab.paths[0]?.serverAddress,
      port: TARGET_PORTS.mptcp,
      from: ['c0', 'c1'],
      maxTtl: 8,
      timeoutMs: 400,
      ratePps: 1000,
    });
    const run = await ended(runId);
    expect(run.state).toBe('done');
    if (run.result?.kind !== 'trace') throw new Error('no trace');
    const [a, b] = run.result.traces;
    expect(a?.from).toBe('c0');
    expect(a?.verdict).toBe(
      'MP_CAPABLE is removed between hop 2 (10.0.2.2) and hop 3 (10.0.3.2) (overwritten with NOPs)',
    );
    expect(b?.from).toBe('c1');
    expect(b?.destination.class).toBe('mptcp-v1');
    expect(run.summary).toContain('c0: MP_CAPABLE is removed between hop 2');
    expect(progress.filter((p) => p.runId === runId && p.state === 'running').length).toBeGreaterThan(0);
  });

  it('scan: records stream on the progress events; the result and the history agree', async () => {
    const ports = [TARGET_PORTS.mptcp, TARGET_PORTS.tcp, TARGET_PORTS.closed, TARGET_PORTS.dropped];
    const runId = await start('mptcp:probe:scan', {
      targets: [lab.paths[1]?.serverAddress],
      ports,
      ratePps: 500,
      perTargetPps: 200,
      timeoutMs: 300,
    });
    const run = await ended(runId);
    if (run.result?.kind !== 'scan') throw new Error('no scan');
    const classes = Object.fromEntries(run.result.scan.records.map((r) => [r.port, r.class]));
    expect(classes).toEqual({
      [TARGET_PORTS.mptcp]: 'mptcp-v1',
      [TARGET_PORTS.tcp]: 'tcp',
      [TARGET_PORTS.closed]: 'closed',
      [TARGET_PORTS.dropped]: 'filtered',
    });
    const streamed = progress.filter((p) => p.runId === runId).flatMap((p) => p.records ?? []);
    expect(streamed.map((r) => r.port).sort()).toEqual([...ports].sort());
    expect(run.summary).toMatch(/^4 results \(/);
    const hist = (await engine.invoke('mptcp:probe:history', {})) as Result<ProbeRun[]>;
    expect(hist.ok && hist.value[0]).toMatchObject({ runId, kind: 'scan', state: 'done', result: null });
  });

  it('cancel: a slow scan stops at once, ends as cancelled with what it found', async () => {
    const runId = await start('mptcp:probe:scan', {
      targets: [lab.paths[1]?.serverAddress],
      ports: Array.from({ length: 400 }, (_, i) => 9000 + i),
      ratePps: 20,
      perTargetPps: 20,
      timeoutMs: 200,
    });
    await new Promise((r) => setTimeout(r, 700));
    const c = (await engine.invoke('mptcp:probe:cancel', { runId })) as Result<{ cancelled: boolean }>;
    expect(c).toEqual({ ok: true, value: { cancelled: true } });
    const run = await ended(runId);
    expect(run.state).toBe('cancelled');
    if (run.result?.kind !== 'scan') throw new Error('no scan');
    expect(run.result.scan.summary.cancelled).toBe(true);
    expect(run.result.scan.records.length).toBeLessThan(400);
    // A second cancel finds nothing running.
    expect(await engine.invoke('mptcp:probe:cancel', { runId })).toEqual({
      ok: true,
      value: { cancelled: false },
    });
  });

  it('scans through the contract are bounded: too many target × port pairs are refused up front', async () => {
    const r = await engine.invoke('mptcp:probe:scan', {
      runId: `it-big-${Date.now()}`,
      targets: ['10.1.0.0/19'],
      ports: [80, 443],
    });
    expect(r).toMatchObject({
      ok: false,
      error: { code: 'EINVAL', message: expect.stringMatching(/at most 8192 per scan here/) },
    });
  });
});
