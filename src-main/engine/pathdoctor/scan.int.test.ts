/**
 * The scanner against real kernels and real middleboxes (PathDoctorLab): every class exact, in
 * raw and connect mode, and the helper's safety rules. All probes stay inside the lab: the
 * client namespace has routes to the lab's own prefixes only.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIp } from '../../../shared/packet/addr';
import type { ScanRecord } from '../../../shared/path-doctor';
import { labUnavailableReason, nsRun, waitFor } from '../../lab/lab';
import { PathDoctorLab, TARGET_PORTS } from '../../lab/path-doctor-lab';
import { startRawResponders, type RawResponders } from '../../lab/raw-responder';
import { connectScan } from './connect-scan';
import { probeHelperPath, RawProbeHelper } from './helper';
import { buildSyn } from './syn-packets';
import { rawScan } from './scanner';
import { expandTargets } from './targets';

const skip = labUnavailableReason();

const classesByPort = (records: ScanRecord[]): Record<number, string> =>
  Object.fromEntries(records.map((r) => [r.port, r.class]));

describe.skipIf(skip !== null)('scanner in the Path doctor lab', () => {
  let lab: PathDoctorLab;
  let responders: RawResponders;
  let helper: RawProbeHelper;
  const ports = Object.values(TARGET_PORTS);

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build-probe.mjs']);
    lab = await PathDoctorLab.create({ paths: 2, stripPaths: [0] });
    await lab.startTargets(probeHelperPath());
    responders = await startRawResponders(lab.server, { v0: TARGET_PORTS.v0, mirror: TARGET_PORTS.mirror });
    helper = await RawProbeHelper.open({ ratePps: 2000, netns: lab.client });
  });
  afterAll(async () => {
    await helper?.close();
    await responders?.close();
    await lab?.destroy();
  });

  it('raw mode: every class exact on the clean path', async () => {
    const clean = lab.paths[1]?.serverAddress ?? '';
    const res = await rawScan({
      helper,
      targets: await expandTargets([clean]),
      ports,
      ratePps: 500,
      perTargetPps: 200,
      timeoutMs: 500,
      join: true,
    });
    expect(classesByPort(res.records)).toEqual({
      [TARGET_PORTS.mptcp]: 'mptcp-v1',
      [TARGET_PORTS.tcp]: 'tcp',
      [TARGET_PORTS.closed]: 'closed',
      [TARGET_PORTS.dropped]: 'filtered',
      [TARGET_PORTS.synBlackhole]: 'syn-blackhole',
      [TARGET_PORTS.v0]: 'mptcp-v0',
      [TARGET_PORTS.mirror]: 'mirror',
      [TARGET_PORTS.rejected]: 'filtered',
    });
    const mptcp = res.records.find((r) => r.port === TARGET_PORTS.mptcp);
    expect(mptcp?.mptcp).toEqual({ version: 1, checksumRequired: false, denyJoinInitialAddress: false });
    // A SYN + MP_JOIN with a token nobody issued: the MPTCP listener resets it.
    expect(mptcp?.join).toBe('rst');
    expect(res.records.find((r) => r.port === TARGET_PORTS.rejected)?.reason).toContain('port unreachable');
    expect(responders.answered.get(TARGET_PORTS.v0)).toBeGreaterThan(0);
  });

  it('raw mode: the path whose r2 strips option 30 turns the MPTCP listener into plain TCP', async () => {
    const stripped = lab.paths[0]?.serverAddress ?? '';
    const res = await rawScan({
      helper,
      targets: await expandTargets([stripped]),
      ports: [TARGET_PORTS.mptcp],
      ratePps: 100,
      timeoutMs: 500,
    });
    expect(res.records).toMatchObject([{ class: 'tcp', port: TARGET_PORTS.mptcp }]);
  });

  it('raw mode: reports the server flags (checksum required, no join to the initial address)', async () => {
    await nsRun(lab.server, 'sysctl', [
      '-q',
      '-w',
      'net.mptcp.checksum_enabled=1',
      'net.mptcp.allow_join_initial_addr_port=0',
    ]);
    try {
      const res = await rawScan({
        helper,
        targets: await expandTargets([lab.paths[1]?.serverAddress ?? '']),
        ports: [TARGET_PORTS.mptcp],
        ratePps: 100,
        timeoutMs: 500,
      });
      expect(res.records[0]?.mptcp).toEqual({
        version: 1,
        checksumRequired: true,
        denyJoinInitialAddress: true,
      });
    } finally {
      await nsRun(lab.server, 'sysctl', [
        '-q',
        '-w',
        'net.mptcp.checksum_enabled=0',
        'net.mptcp.allow_join_initial_addr_port=1',
      ]);
    }
  });

  it('connect mode (no raw sockets): the classes the kernel can see', async () => {
    const clean = lab.paths[1]?.serverAddress ?? '';
    const res = await connectScan({
      targets: await expandTargets([clean, lab.paths[0]?.serverAddress ?? '']),
      ports: [
        TARGET_PORTS.mptcp,
        TARGET_PORTS.tcp,
        TARGET_PORTS.closed,
        TARGET_PORTS.dropped,
        TARGET_PORTS.synBlackhole,
      ],
      ratePps: 100,
      timeoutMs: 4500,
      netns: lab.client,
    });
    const byKey = Object.fromEntries(res.records.map((r) => [`${r.target}:${r.port}`, r.class]));
    const strip = lab.paths[0]?.serverAddress ?? '';
    expect(byKey).toEqual({
      [`${clean}:${TARGET_PORTS.mptcp}`]: 'mptcp-v1',
      [`${clean}:${TARGET_PORTS.tcp}`]: 'tcp',
      [`${clean}:${TARGET_PORTS.closed}`]: 'closed',
      [`${clean}:${TARGET_PORTS.dropped}`]: 'filtered',
      [`${clean}:${TARGET_PORTS.synBlackhole}`]: 'syn-blackhole',
      [`${strip}:${TARGET_PORTS.mptcp}`]: 'tcp',
      [`${strip}:${TARGET_PORTS.tcp}`]: 'tcp',
      [`${strip}:${TARGET_PORTS.closed}`]: 'closed',
      [`${strip}:${TARGET_PORTS.dropped}`]: 'filtered',
      [`${strip}:${TARGET_PORTS.synBlackhole}`]: 'tcp',
    });
  });

  it('the helper refuses broadcast, multicast and spoofed sources, and reports why', async () => {
    const p = lab.paths[1];
    if (!p) throw new Error('path');
    const src = parseIp(p.clientAddress) as Uint8Array;
    const syn = (s: Uint8Array, d: Uint8Array): Uint8Array =>
      buildSyn({ kind: 'v1', src: s, dst: d, srcPort: 40000, dstPort: 80, seq: 1, ttl: 64, id: 1, tsVal: 1 });
    const results = new Map<number, number>();
    const off = helper.onSent((tag, _t, errno) => results.set(tag, errno));
    const cases = [
      helper.send(syn(src, parseIp('10.1.1.255') as Uint8Array)), // c1's directed broadcast
      helper.send(syn(src, parseIp('224.0.0.1') as Uint8Array)),
      helper.send(syn(src, parseIp('255.255.255.255') as Uint8Array)),
      helper.send(syn(parseIp('10.1.5.99') as Uint8Array, parseIp(p.serverAddress) as Uint8Array)), // not ours
    ];
    const deadline = Date.now() + 5000;
    while (cases.some((t) => !results.has(t)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    off();
    expect(cases.map((t) => results.get(t))).toEqual([1, 1, 1, 1]); // EPERM each
    expect(helper.notes.slice(-4)).toEqual([
      "refused: destination is an interface's directed broadcast",
      'refused: destination is multicast',
      'refused: destination is limited broadcast',
      'refused: source is not an address of this host',
    ]);
  });

  it('the helper never sends faster than its --rate, however fast it is fed', async () => {
    const slow = await RawProbeHelper.open({ ratePps: 40, netns: lab.client });
    try {
      const p = lab.paths[1];
      if (!p) throw new Error('path');
      const times: number[] = [];
      slow.onSent((_tag, t) => times.push(t));
      for (let i = 0; i < 60; i++)
        slow.send(
          buildSyn({
            kind: 'plain',
            src: parseIp(p.clientAddress) as Uint8Array,
            dst: parseIp(p.serverAddress) as Uint8Array,
            srcPort: 41000 + i,
            dstPort: TARGET_PORTS.dropped,
            seq: i,
            ttl: 64,
            id: i,
            tsVal: 1,
          }),
        );
      await waitFor(
        '60 sends',
        () => times.length,
        (n) => n >= 60,
        10_000,
      );
      const spanS = ((times.at(-1) ?? 0) - (times[0] ?? 0)) / 1e6;
      // 60 packets at 40/s with a burst of at most one: the last leaves ≥ 59/40 s after the first.
      expect(spanS).toBeGreaterThanOrEqual(59 / 40 - 0.05);
    } finally {
      await slow.close();
    }
  });

  it('classifies a whole /22 at speed: 1022 MPTCP targets, none lost or misread', async () => {
    const big = await PathDoctorLab.create({ paths: 1, scale: true });
    try {
      await big.start(big.scale, probeHelperPath(), ['echo', '80']);
      const h = await RawProbeHelper.open({ ratePps: 5000, netns: big.client });
      try {
        const res = await rawScan({
          helper: h,
          targets: await expandTargets(['10.200.4.0/22']),
          ports: [80],
          ratePps: 5000,
          timeoutMs: 1000,
        });
        expect(res.records).toHaveLength(1022);
        expect(res.summary.counts).toEqual({ 'mptcp-v1': 1022 });
      } finally {
        await h.close();
      }
    } finally {
      await big.destroy();
    }
  });
});
