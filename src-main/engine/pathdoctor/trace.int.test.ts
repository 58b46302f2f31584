/**
 * The trace on the lab's middlebox chain (PathDoctorLab): per path client → r1 (MSS clamp) →
 * r2 (strips option 30, path 0 only) → r3 (DSCP) → r4 → server. Real routers quote the probes.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIp } from '../../../shared/packet/addr';
import type { TraceResult } from '../../../shared/path-doctor';
import { labUnavailableReason } from '../../lab/lab';
import { PathDoctorLab, TARGET_PORTS } from '../../lab/path-doctor-lab';
import { probeHelperPath, RawProbeHelper } from './helper';
import { expandTargets } from './targets';
import { runTrace } from './trace';

const skip = labUnavailableReason();

const newKinds = (t: TraceResult, ttl: number): string[] =>
  (t.hops[ttl - 1]?.newChanges ?? []).map((c) => c.kind).sort();

describe.skipIf(skip !== null)('trace in the Path doctor lab', () => {
  let lab: PathDoctorLab;
  let helper: RawProbeHelper;

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build-probe.mjs']);
    lab = await PathDoctorLab.create({ paths: 2, stripPaths: [0], ipv6: true });
    await lab.startTargets(probeHelperPath(), { ipv6: true });
    helper = await RawProbeHelper.open({ ratePps: 1000, netns: lab.client });
  });
  afterAll(async () => {
    await helper?.close();
    await lab?.destroy();
  });

  const trace = async (dst: string, port: number, from?: string): Promise<TraceResult> => {
    const [target] = await expandTargets([dst]);
    if (!target) throw new Error('target');
    const source = from ? (parseIp(from) as Uint8Array) : await helper.sourceFor(target.address);
    return runTrace({ helper, target, port, source, from: from ?? null, maxTtl: 10, timeoutMs: 500 });
  };

  it('names the stripping hop on the stripping path, with MSS and DSCP changes at their hops', async () => {
    const p = lab.paths[0];
    if (!p) throw new Error('path');
    const t = await trace(p.serverAddress, TARGET_PORTS.mptcp);
    expect(t.hops.map((h) => h.address)).toEqual(p.hopAddresses);
    expect(t.hops.map((h) => h.mptcp)).toEqual(['intact', 'intact', 'stripped', 'stripped', 'unknown']);
    expect(t.hops.map((h) => h.quote?.kind ?? null)).toEqual([
      'rfc1812',
      'rfc1812',
      'rfc1812',
      'rfc1812',
      null,
    ]);
    expect(newKinds(t, 1)).toEqual([]);
    expect(newKinds(t, 2)).toEqual(['mss']); // r1 clamped it
    expect(newKinds(t, 3)).toEqual(['option-nopped']); // r2's TCPOPTSTRIP writes NOPs
    expect(newKinds(t, 4)).toEqual(['dscp']); // r3
    expect(t.hops[1]?.newChanges[0]).toMatchObject({ from: '1460', to: '1200' });
    expect(t.destination).toMatchObject({ class: 'tcp', ttl: 5 });
    expect(t.verdict).toBe(
      'MP_CAPABLE is removed between hop 2 (10.0.2.2) and hop 3 (10.0.3.2) (overwritten with NOPs)',
    );
  });

  it('finds MP_CAPABLE intact on the other path, and the server speaking MPTCP v1', async () => {
    const p = lab.paths[1];
    if (!p) throw new Error('path');
    const t = await trace(p.serverAddress, TARGET_PORTS.mptcp);
    expect(t.hops.map((h) => h.mptcp)).toEqual(['intact', 'intact', 'intact', 'intact', 'intact']);
    expect(newKinds(t, 2)).toEqual(['mss']);
    expect(newKinds(t, 4)).toEqual(['dscp']);
    expect(t.destination.class).toBe('mptcp-v1');
    expect(t.verdict).toMatch(/^MPTCP works on this path: the server answers with MP_CAPABLE v1/);
  });

  it('--from: the same destination from each client address, each path its own verdict', async () => {
    const [p0, p1] = lab.paths;
    if (!p0 || !p1) throw new Error('paths');
    const [a, b] = await Promise.all([
      trace(p0.serverAddress, TARGET_PORTS.mptcp, p0.clientAddress),
      trace(p0.serverAddress, TARGET_PORTS.mptcp, p1.clientAddress),
    ]);
    expect(a.verdict).toContain('removed between hop 2');
    // Source routing sends 10.1.1.1's probes through path 1's routers, which do not strip.
    expect(b.hops[0]?.address).toBe(p1.hopAddresses[0]);
    expect(b.destination.class).toBe('mptcp-v1');
  });

  it('tells a SYN blackhole (MP_CAPABLE SYNs dropped at the server, plain SYN answered)', async () => {
    const t = await trace(lab.paths[1]?.serverAddress ?? '', TARGET_PORTS.synBlackhole);
    expect(t.hops.slice(0, 4).map((h) => h.mptcp)).toEqual(['intact', 'intact', 'intact', 'intact']);
    expect(t.destination.class).toBe('syn-blackhole');
    expect(t.verdict).toMatch(/^SYNs carrying MP_CAPABLE are dropped after hop 4 \(10\.1\.4\.2\)/);
  });

  it('IPv6: ICMPv6 quotes show the strip on path 0', async () => {
    const p = lab.paths[0];
    if (!p?.serverAddress6) throw new Error('ipv6');
    const t = await trace(p.serverAddress6, TARGET_PORTS.mptcp);
    expect(t.hops.map((h) => h.quote?.kind ?? null)).toEqual(['icmpv6', 'icmpv6', 'icmpv6', 'icmpv6', null]);
    expect(t.hops.map((h) => h.mptcp)).toEqual(['intact', 'intact', 'stripped', 'stripped', 'unknown']);
    expect(t.verdict).toContain('removed between hop 2 (fd00:0:2::2) and hop 3 (fd00:0:3::2)');
  });
});
