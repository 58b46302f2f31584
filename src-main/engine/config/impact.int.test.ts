/**
 * Applies that keep live traffic, against the real kernel with live MPTCP connections in a lab
 * namespace, through the per-namespace agent: subflows are compared as `ss -tinM` prints them (the
 * 4-tuples of every subflow before and after), endpoints as `ip mptcp endpoint show` prints them.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EndpointFlagsInput, MptcpConfig } from '../../../shared/config';
import type { ApplyReport, ConfigOutcome, PlanView } from '../../../shared/config-api';
import { formatExport } from '../../../shared/export-formats';
import type { Result } from '../../../shared/result';
import { ip, Lab, labUnavailableReason, nsRun, type LabProcess } from '../../lab/lab';
import { openEngine, type EngineService } from '../index';

const flags = (on: string[]): EndpointFlagsInput => ({
  signal: on.includes('signal'),
  subflow: on.includes('subflow'),
  backup: on.includes('backup'),
  fullmesh: on.includes('fullmesh'),
  laminar: on.includes('laminar'),
});

function value<T>(r: Result<unknown>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value as T;
}

interface SsSubflow {
  /** "10.99.2.1:45151 10.99.2.2:5201" */
  tuple: string;
  /** ss's MPTCP subflow flags (`flags:Jjbec`): b/B = backup (local/remote). */
  flags: string;
}

/** Every TCP subflow of an MPTCP connection in `ns`, as `ss -tinM` prints it. */
async function subflows(ns: string): Promise<SsSubflow[]> {
  const out = (await nsRun(ns, 'ss', ['-tinMH', 'state', 'established'])).stdout.split('\n');
  const list: SsSubflow[] = [];
  for (let i = 0; i < out.length; i++) {
    // `ss -tMH state established`: Netid Recv-Q Send-Q Local Peer; the -i line follows.
    const head = out[i]!.trim().split(/\s+/);
    if (head[0] !== 'tcp') continue;
    const [local, peer] = head.filter((w) => /:\d+$/.test(w));
    const info = out[i + 1] ?? '';
    if (!local || !peer || !info.includes('tcp-ulp-mptcp')) continue;
    list.push({ tuple: `${local} ${peer}`, flags: /flags:(\S+)/.exec(info)?.[1] ?? '' });
  }
  return list.sort((a, b) => a.tuple.localeCompare(b.tuple));
}

/** The built CLI (node scripts/build-node.mjs), as a user runs it. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/mptcp-studio.mjs', ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const tuples = async (ns: string): Promise<string[]> => (await subflows(ns)).map((s) => s.tuple);

async function endpoints(ns: string): Promise<Record<string, unknown>[]> {
  return JSON.parse((await ip(['-n', ns, '-j', 'mptcp', 'endpoint', 'show'])).stdout) as Record<
    string,
    unknown
  >[];
}

describe.skipIf(labUnavailableReason() !== null)('applies with live MPTCP traffic', () => {
  let lab: Lab;
  let conns: LabProcess | null = null;
  const engines: EngineService[] = [];
  const engine = (): EngineService => {
    const e = openEngine({ netns: lab.client });
    engines.push(e);
    return e;
  };
  const dir = mkdtempSync(join(tmpdir(), 'mpst-impact-'));

  beforeAll(async () => {
    lab = await Lab.create({ paths: 2 });
    await lab.startServer(5201);
  });
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.close()));
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    // The client: a subflow endpoint on its second path, and 3 connections with traffic, each with
    // a subflow from 10.99.2.1 (the server announces 10.99.2.2).
    await conns?.stop();
    await ip(['-n', lab.client, 'mptcp', 'endpoint', 'flush']);
    await ip(['-n', lab.client, 'mptcp', 'limits', 'set', 'subflows', '2', 'add_addr_accepted', '1']);
    await ip(['-n', lab.client, 'mptcp', 'endpoint', 'add', '10.99.2.1', 'id', '1', 'dev', 'c1', 'subflow']);
    conns = await lab.openConnections(3, { rateBytesPerSec: 50_000, abortOnStop: true });
    await lab.waitFor(
      '3 subflows from 10.99.2.1',
      () => tuples(lab.client),
      (t) => t.filter((x) => x.startsWith('10.99.2.1:')).length === 3 && t.length === 6,
    );
  });

  const backupOn: MptcpConfig = {
    endpoints: [{ address: '10.99.2.1', ifname: 'c1', flags: flags(['subflow', 'backup']) }],
  };

  it('a backup-flag apply keeps every subflow (same 4-tuples) and the flag is set', async () => {
    const before = await tuples(lab.client);
    const e = engine();
    const plan = value<PlanView>(await e.invoke('mptcp:config:plan', { config: backupOn }));
    expect(plan.steps.map((s) => s.shell)).toEqual(['ip mptcp endpoint change id 1 backup nofullmesh']);
    expect(plan.steps[0]!.impact).toMatchObject({ level: 'live', closes: null });
    expect(plan.steps[0]!.impact.text).toMatch(
      /^3 live subflows of 3 connections from 10\.99\.2\.1 become backup/,
    );
    expect(plan.live?.connections).toBe(3);

    const report = value<ApplyReport>(await e.invoke('mptcp:config:apply', { config: backupOn }));
    expect(report.ok).toBe(true);
    expect(report.applied.map((s) => s.step.kind)).toEqual(['endpoint-flags']);
    expect(await endpoints(lab.client)).toEqual([
      { address: '10.99.2.1', id: 1, subflow: true, backup: true, dev: 'c1' },
    ]);
    // The kernel sent MP_PRIO on the live subflows: ss shows the local backup bit on each.
    await lab.waitFor(
      'the backup bit on the subflows from 10.99.2.1',
      () => subflows(lab.client),
      (l) => l.filter((s) => s.tuple.startsWith('10.99.2.1:')).every((s) => s.flags.includes('b')),
    );
    expect(await tuples(lab.client)).toEqual(before);
  });

  it('a disruptive apply without consent is refused and changes nothing; with consent it goes ahead', async () => {
    const before = await tuples(lab.client);
    const eps = await endpoints(lab.client);
    const toSignal: MptcpConfig = {
      endpoints: [{ address: '10.99.2.1', ifname: 'c1', flags: flags(['signal']) }],
      sysctls: { addAddrTimeoutS: 61 },
    };
    const e = engine();
    const plan = value<PlanView>(await e.invoke('mptcp:config:plan', { config: toSignal }));
    expect(plan.steps.find((s) => s.step.kind === 'endpoint-del')?.impact).toMatchObject({
      level: 'closes',
      closes: { subflows: 3, connections: 3, address: '10.99.2.1' },
    });
    const refused = value<ApplyReport>(await e.invoke('mptcp:config:apply', { config: toSignal }));
    expect(refused.ok).toBe(false);
    expect(refused.needsConsent).toBe(true);
    expect(refused.applied).toEqual([]);
    expect(refused.planErrors[0]).toMatch(/closes 3 live subflows of 3 connections \(10\.99\.2\.1\)/);
    expect(await endpoints(lab.client)).toEqual(eps);
    expect((await nsRun(lab.client, 'sysctl', ['-n', 'net.mptcp.add_addr_timeout'])).stdout.trim()).toBe(
      '120',
    );
    expect(await tuples(lab.client)).toEqual(before);

    const allowed = value<ApplyReport>(
      await e.invoke('mptcp:config:apply', { config: toSignal, allowDisruption: true }),
    );
    expect(allowed.ok).toBe(true);
    await lab.waitFor(
      'the subflows from 10.99.2.1 to close',
      () => tuples(lab.client),
      (t) => !t.some((x) => before.includes(x) && x.startsWith('10.99.2.1:')),
    );
    await nsRun(lab.client, 'sysctl', ['-q', '-w', 'net.mptcp.add_addr_timeout=120']);
  });

  it('the CLI refuses a disruptive apply unless --allow-disruption, and --dry-run says which step', async () => {
    const before = await tuples(lab.client);
    const eps = await endpoints(lab.client);
    const file = join(dir, 'no-endpoints.json');
    writeFileSync(file, JSON.stringify({ schemaVersion: 1, name: 'none', config: { endpoints: [] } }));
    const dry = await cli(['apply', file, '--dry-run', '--netns', lab.client]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('ip mptcp endpoint delete id 1');
    expect(dry.stdout).toMatch(
      /live traffic: DISRUPTS: closes 3 live subflows of 3 connections \(10\.99\.2\.1\)/,
    );
    expect(dry.stdout).toContain('--allow-disruption');
    const refused = await cli(['apply', file, '--netns', lab.client]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^refused: Remove endpoint id 1 10\.99\.2\.1: closes 3 live subflows/m);
    expect(await endpoints(lab.client)).toEqual(eps);
    expect(await tuples(lab.client)).toEqual(before);
    const allowed = await cli(['apply', file, '--allow-disruption', '--netns', lab.client]);
    expect(allowed.code, allowed.stdout + allowed.stderr).toBe(0);
    expect(allowed.stdout).toContain('done: Remove endpoint id 1 10.99.2.1');
    // The kernel may have made an implicit endpoint for a subflow it opened since: not ours.
    expect((await endpoints(lab.client)).filter((e) => !e.implicit)).toEqual([]);
  });

  it('the exported sh script changes the backup flag in place too: the same 4-tuples', async () => {
    const before = await tuples(lab.client);
    const script = join(dir, 'profile.sh');
    writeFileSync(script, formatExport(backupOn, 'sh', { name: 'lab', generatedAt: 'now' }).text);
    await nsRun(lab.client, 'sh', [script]);
    expect(await endpoints(lab.client)).toEqual([
      { address: '10.99.2.1', id: 1, subflow: true, backup: true, dev: 'c1' },
    ]);
    expect(await tuples(lab.client)).toEqual(before);
  });

  it('an automatic revert is an outcome event with its reason, window and steps', async () => {
    const e = engine();
    const outcomes: ConfigOutcome[] = [];
    e.on('mptcp:config:outcome', (o) => outcomes.push(o));
    const before = await tuples(lab.client);
    value<ApplyReport>(await e.invoke('mptcp:config:apply', { config: backupOn, confirmWithinS: 5 }));
    await lab.waitFor(
      'the automatic revert',
      () => Promise.resolve(outcomes.map((o) => o.kind)),
      (k) => k.includes('reverted'),
      15_000,
    );
    expect(outcomes.map((o) => [o.kind, o.reason])).toEqual([
      ['applied', null],
      ['reverted', 'deadline'],
    ]);
    expect(outcomes[1]).toMatchObject({
      confirmWithinS: 5,
      restored: true,
      steps: [{ description: 'Change endpoint id 1 10.99.2.1 in place: backup off', ok: true, error: null }],
    });
    expect((await endpoints(lab.client))[0]?.backup).toBeUndefined();
    // Both ways in place: every subflow is still the one it was.
    expect(await tuples(lab.client)).toEqual(before);
  }, 30_000);
});
