/**
 * The seed's firewall lesson, in the lab only (docs/path-doctor.md "The IDS lesson"): an IDS-like
 * rule on path 1 (`iptables -m string … -j DROP` on its r2) stops a plain TCP stream carrying the
 * signature; over MPTCP, with the signature split across subflows of paths 0 and 1, the rule never
 * matches and every byte comes back.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeHelperPath } from '../engine/pathdoctor/helper';
import { runIdsDemo } from './ids-demo';
import { labUnavailableReason } from './lab';
import { PathDoctorLab } from './path-doctor-lab';

const skip = labUnavailableReason();

describe.skipIf(skip !== null)('the IDS lesson', () => {
  let lab: PathDoctorLab;
  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build-probe.mjs']);
    lab = await PathDoctorLab.create({ paths: 2, stripPaths: [], idsPaths: [1] });
    await lab.startTargets(probeHelperPath());
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('a signature split across subflows passes an IDS on one path, which stops it in plain TCP', async () => {
    const r = await runIdsDemo(lab, { cleanPath: 0, idsPath: 1, helperPath: probeHelperPath() });
    // Plain TCP over the IDS's path: matched, dropped, retransmitted, dropped again.
    expect(r.control.matches).toBeGreaterThan(0);
    expect(r.control.intact).toBe(false);
    expect(r.control.echoed).toBeLessThan(r.control.sent);
    // MPTCP: the first half of the signature on path 0, the second half on path 1.
    expect(r.split.matches).toBe(0);
    expect(r.split.intact).toBe(true);
    expect(r.split.firstPart.path).toBe(lab.paths[0]?.clientAddress);
    expect(r.split.secondPart.path).toBe(lab.paths[1]?.clientAddress);
    expect(r.split.secondPart.bytes).toBeGreaterThan(0);
    expect(r.lesson).toMatch(/the rule matched 0 packets and every byte came back/);
    console.log(r.lesson);
  });
});
