/**
 * `scan`, `trace` and `responder` as a user runs them (--netns into the lab), in process: JSON,
 * CSV and text output, --pcap, refusals. Every probe stays in the lab namespaces.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanResultSchema, SubflowCheckResultSchema, TraceResultSchema } from '../../shared/path-doctor';
import { labUnavailableReason } from '../lab/lab';
import { PathDoctorLab, TARGET_PORTS } from '../lab/path-doctor-lab';
import { probe } from '../engine/index';
import { runScanCommand } from './scan-command';
import { runSubflowsCommand } from './subflows-command';
import { runTraceCommand } from './trace-command';

const skip = labUnavailableReason();

async function capture(
  run: (out: (s: string) => void) => Promise<number>,
): Promise<{ code: number; text: string }> {
  let text = '';
  const code = await run((s) => {
    text += s;
  });
  return { code, text };
}

describe.skipIf(skip !== null)('path doctor commands', () => {
  let lab: PathDoctorLab;
  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build-probe.mjs']);
    lab = await PathDoctorLab.create({ paths: 2, stripPaths: [0] });
    await lab.startTargets(probe.probeHelperPath());
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('scan --json: one schema-valid record per target and port', async () => {
    const dst = lab.paths[1]?.serverAddress ?? '';
    const { code, text } = await capture((out) =>
      runScanCommand(
        [
          dst,
          '--ports',
          `${TARGET_PORTS.mptcp},${TARGET_PORTS.tcp},${TARGET_PORTS.closed}`,
          '--rate',
          '200',
          '--per-target-rate',
          '200',
          '--timeout-ms',
          '400',
          '--json',
          '--netns',
          lab.client,
        ],
        out,
      ),
    );
    expect(code).toBe(0);
    const res = ScanResultSchema.parse(JSON.parse(text));
    expect(res.records.map((r) => [r.port, r.class])).toEqual([
      [TARGET_PORTS.mptcp, 'mptcp-v1'],
      [TARGET_PORTS.tcp, 'tcp'],
      [TARGET_PORTS.closed, 'closed'],
    ]);
  });

  it('scan --csv --mode connect works without raw sockets', async () => {
    const dst = lab.paths[1]?.serverAddress ?? '';
    const { text } = await capture((out) =>
      runScanCommand(
        [dst, '--ports', String(TARGET_PORTS.mptcp), '--mode', 'connect', '--csv', '--netns', lab.client],
        out,
      ),
    );
    const [header, row] = text.trim().split('\n');
    expect(header).toBe(
      'target,host,port,class,mptcp_version,checksum_required,deny_join_initial_address,join,fallback,rtt_ms,probes,reason',
    );
    expect(row).toMatch(new RegExp(`^${dst.replace(/\./g, '\\.')},,${TARGET_PORTS.mptcp},mptcp-v1,1,`));
  });

  it('scan refuses broadcast and multicast targets before anything is sent', async () => {
    await expect(runScanCommand(['224.0.0.1', '--netns', lab.client], () => undefined)).rejects.toThrow(
      /multicast/,
    );
    await expect(runScanCommand(['255.255.255.255', '--netns', lab.client], () => undefined)).rejects.toThrow(
      /broadcast/,
    );
    await expect(runScanCommand(['10.0.0.0/8', '--netns', lab.client], () => undefined)).rejects.toThrow(
      /at most/,
    );
    await expect(
      runScanCommand([lab.paths[1]?.serverAddress ?? '', '--rate', '1000000'], () => undefined),
    ).rejects.toThrow(/--rate/);
  });

  it('trace: one line per hop with what changed, the verdict, and a pcap of it all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pd-'));
    const pcap = join(dir, 'trace.pcap');
    const p = lab.paths[0];
    if (!p) throw new Error('path');
    const { code, text } = await capture((out) =>
      runTraceCommand(
        [
          p.serverAddress,
          '--port',
          String(TARGET_PORTS.mptcp),
          '--max-ttl',
          '8',
          '--timeout-ms',
          '500',
          '--pcap',
          pcap,
          '--netns',
          lab.client,
        ],
        out,
      ),
    );
    expect(code).toBe(0);
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe(`trace to ${p.serverAddress} port ${TARGET_PORTS.mptcp} from ${p.clientAddress}`);
    expect(lines[2]).toMatch(
      /^ 2 {2}10\.0\.2\.2 [\d.]+ ms {2}MP_CAPABLE intact \[rfc1812\] {2}MSS rewritten 1460 → 1200$/,
    );
    expect(lines[3]).toMatch(/^ 3 {2}10\.0\.3\.2 .*MP_CAPABLE stripped .*MP_CAPABLE replaced by NOPs$/);
    expect(lines[4]).toMatch(/DSCP changed 0 → 10$/);
    expect(lines.at(-1)).toBe(
      'verdict: MP_CAPABLE is removed between hop 2 (10.0.2.2) and hop 3 (10.0.3.2) (overwritten with NOPs)',
    );
    const file = readFileSync(pcap);
    expect(file.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(file.readUInt32LE(20)).toBe(101);
    expect(file.length).toBeGreaterThan(24 + 10 * (16 + 60));
  });

  it('trace --from each client interface --json: side by side, one verdict per path', async () => {
    const p = lab.paths[0];
    if (!p) throw new Error('path');
    const { text } = await capture((out) =>
      runTraceCommand(
        [
          p.serverAddress,
          '--port',
          String(TARGET_PORTS.mptcp),
          '--from',
          'c0',
          '--from',
          'c1',
          '--max-ttl',
          '8',
          '--timeout-ms',
          '500',
          '--json',
          '--netns',
          lab.client,
        ],
        out,
      ),
    );
    const [a, b] = TraceResultSchema.array().parse(JSON.parse(text));
    expect(a?.from).toBe('c0');
    expect(a?.destination.class).toBe('tcp');
    expect(b?.from).toBe('c1');
    expect(b?.source).toBe('10.1.1.1');
    expect(b?.destination.class).toBe('mptcp-v1');
  });

  it('trace as installed: bin/mptcp-studio.mjs runs its own bundle, with the same answer and no engine', () => {
    // Built by the integration setup (scripts/build-node.mjs): only the modules a trace uses.
    const bundle = readFileSync('out/node/trace.mjs', 'utf8');
    expect(bundle).not.toMatch(/from "netlink"/);
    expect(bundle).not.toMatch(/\bLocalEngine\b|\bEngineService\b|\bstartWebHost\b/);
    const p = lab.paths[0];
    if (!p) throw new Error('path');
    const args = [
      p.serverAddress,
      '--port',
      String(TARGET_PORTS.mptcp),
      '--max-ttl',
      '8',
      '--timeout-ms',
      '500',
    ];
    const text = execFileSync(
      process.execPath,
      ['bin/mptcp-studio.mjs', 'trace', ...args, '--json', '--netns', lab.client],
      { encoding: 'utf8' },
    );
    const t = TraceResultSchema.parse(JSON.parse(text));
    expect(t.verdict).toMatch(
      /MP_CAPABLE is removed between hop 2 \(10\.0\.2\.2\) and hop 3 \(10\.0\.3\.2\)/,
    );
    expect(t.hops.map((h) => h.mptcp).slice(0, 3)).toEqual(['intact', 'intact', 'stripped']);
    // Refusals and their exit code, as main.ts gives them.
    let err: { status?: number; stderr?: string } = {};
    try {
      execFileSync(
        process.execPath,
        ['bin/mptcp-studio.mjs', 'trace', ...args, '--max-ttl', '99', '--netns', lab.client],
        {
          encoding: 'utf8',
          stdio: 'pipe',
        },
      );
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.status).toBe(1);
    expect(err.stderr).toBe('mptcp-studio: --max-ttl must be an integer from 1 to 64\n');
  });

  it('subflows --json through the namespace agent: from c1 both subflows join; c0 strips MP_CAPABLE', async () => {
    const { code, text } = await capture((out) =>
      runSubflowsCommand(
        [
          lab.paths[1]?.serverAddress ?? '',
          '--port',
          String(TARGET_PORTS.mptcp),
          '--from',
          'c0',
          '--from',
          'c1',
          '--per-path',
          '2',
          '--bytes',
          '262144',
          '--allow-pm-switch',
          '--json',
          '--netns',
          lab.client,
        ],
        out,
      ),
    );
    expect(code).toBe(0);
    const r = SubflowCheckResultSchema.parse(JSON.parse(text));
    expect(r.paths.map((p) => [p.interface, p.outcome])).toEqual([
      ['c0', 'fallback'],
      ['c1', 'ok'],
    ]);
    expect(r.payload).toMatchObject({ bytes: 262144, intact: true });
  });

  it('subflows refuses a target that is not one host, and a path manager switch not allowed', async () => {
    await expect(
      runSubflowsCommand(['224.0.0.1', '--port', '8001', '--netns', lab.client], () => undefined),
    ).rejects.toThrow(/BAD_REQUEST: .*multicast/);
    // Under the in-kernel path manager, without --allow-pm-switch: refused, nothing switched.
    await expect(
      runSubflowsCommand(
        [lab.paths[1]?.serverAddress ?? '', '--port', String(TARGET_PORTS.mptcp), '--netns', lab.client],
        () => undefined,
      ),
    ).rejects.toThrow(/^EPERM: this namespace runs the kernel path manager .*allow that switch/);
  });
});
