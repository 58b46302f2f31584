/**
 * Coupled MPTCP congestion control (bpf/mptcp_lia.bpf.c, bpf/mptcp_olia.bpf.c,
 * bpf/mptcp_balia.bpf.c) on the real kernel, in lab namespaces shaped with tbf. Registers uniquely
 * named copies (never the real mptcp_lia / mptcp_olia / mptcp_balia) and always unregisters them,
 * checking the kernel freed them.
 *
 * CI-bounded version of `npm run bench:cc` (4.4 to 4.5 minutes measured with Balia, which adds
 * about a minute; each CC whose verdict needs the extra runs adds ~45 s):
 * 1. shared 20 Mbit/s bottleneck, MPTCP (2 subflows) + single-path TCP Reno: the coupled
 *    connection's share must be clearly below uncoupled Reno subflows' and near one TCP share
 *    (RFC 6356 §2 goal 2);
 * 2. disjoint 20 + 5 Mbit/s paths: aggregate goodput >= 90% of the sum (goal 1);
 * 3. every run is watched (`ss -tinH`, 100 ms) for the absurd-cwnd anomaly: no subflow cwnd above
 *    SANE_MAX_CWND in >= 20 runs of LIA and OLIA, >= BALIA_ANOMALY_RUNS of Balia (the anomaly
 *    was found with LIA; Balia shares every defence, cc_sanitize() included, and gets fewer short
 *    extra runs to keep the suite's CI time down).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labUnavailableReason } from './lab';
import {
  availableCongestionControls,
  bpfCcUnavailableReason,
  registerUniqueCc,
  type RegisteredCc,
} from './bpf-cc';
import {
  BOTTLENECK_MBIT,
  DISJOINT_MBIT,
  SANE_MAX_CWND,
  mean,
  runCcSuite,
  type CcSuiteResult,
} from './cc-experiments';

const skip = labUnavailableReason() ?? bpfCcUnavailableReason();
const log = (s: string): void => {
  process.stderr.write(`  ${s}\n`);
};

/*
 * Statistics. Over 6 s windows the per-run MPTCP share has sd ~0.08 (10-run bench: Reno 0.67,
 * LIA 0.54, OLIA 0.48). LIA's gain over uncoupled Reno (~0.1) is only ~2 sd of the difference of
 * 5-6-run means, so the verdict is sequential: a clear result after SHARED_RUNS decides; one
 * within the noise gets EXTRA_RUNS more runs and is then judged on all of them with the final
 * (looser) bounds. Broken coupling (share ~ Reno's, ~0.65) still fails ~85% of the time.
 */
const SHARED_RUNS = 5;
const EXTRA_RUNS = 5;
const RENO_RUNS = 5;
const DISJOINT_RUNS = 2;
const ANOMALY_RUNS = 20;
const BALIA_ANOMALY_RUNS = 10;
/*
 * Repairs tolerated per suite (~30 runs): measured 4 in 290 LIA runs, 0 in 30 OLIA runs, 1 in 75
 * Balia runs (2026-11-24).
 */
const MAX_REPAIRS = 2;
const CLEAR = { maxShare: 0.6, marginToReno: 0.05 };
const FINAL = { maxShare: 0.62, marginToReno: 0.0 };
const timing = { warmupMs: 2000, measureMs: 6000, disjointWarmupMs: 2000, disjointMeasureMs: 4000 };

describe.skipIf(skip !== null)('coupled congestion control (BPF LIA / OLIA / Balia)', () => {
  const registered: RegisteredCc[] = [];
  let reno: CcSuiteResult;

  beforeAll(async () => {
    // The uncoupled baseline: the same MPTCP connection with Reno on both subflows.
    reno = await runCcSuite({
      cc: 'reno',
      sharedRuns: RENO_RUNS,
      disjointRuns: 0,
      anomalyRuns: 0,
      ...timing,
      log: (s) => log(`[reno] ${s}`),
    });
  }, 120_000);

  afterAll(async () => {
    const leftovers: string[] = [];
    for (const cc of registered) if (!(await cc.unregister(30_000))) leftovers.push(cc.name);
    // Nothing may stay behind: gone from the kernel's list and freed.
    expect(leftovers).toEqual([]);
    for (const cc of registered) expect(availableCongestionControls()).not.toContain(cc.name);
  }, 60_000);

  it('uncoupled Reno subflows take clearly more than one TCP share (the problem being fixed)', () => {
    const share = mean(reno.shared.map((r) => r.mptcpShare));
    log(`[reno] mean MPTCP share ${share.toFixed(3)}`);
    expect(reno.minSubflows).toBe(2);
    expect(share).toBeGreaterThan(0.55);
  });

  for (const [algo, anomalyRuns] of [
    ['lia', ANOMALY_RUNS],
    ['olia', ANOMALY_RUNS],
    ['balia', BALIA_ANOMALY_RUNS],
  ] as const) {
    it(`${algo}: registers, couples the subflows on a shared bottleneck, aggregates disjoint paths, no absurd cwnd`, async () => {
      const cc = await registerUniqueCc(algo);
      registered.push(cc);
      expect(availableCongestionControls()).toContain(cc.name);
      const renoShare = mean(reno.shared.map((r) => r.mptcpShare));
      const res = await runCcSuite({
        cc: cc.name,
        sharedRuns: SHARED_RUNS,
        extraSharedRuns: (shares) =>
          mean(shares) <= CLEAR.maxShare && mean(shares) < renoShare - CLEAR.marginToReno ? 0 : EXTRA_RUNS,
        disjointRuns: DISJOINT_RUNS,
        anomalyRuns,
        ...timing,
        log: (s) => log(`[${algo}] ${s}`),
      });
      // The subflows really ran this CC (setsockopt on the MPTCP socket reaches every subflow).
      expect(res.ccSeen).toEqual([cc.name]);
      expect(res.minSubflows).toBe(2);

      const share = mean(res.shared.map((r) => r.mptcpShare));
      const bottleneckUse = mean(res.shared.map((r) => r.mptcpMbit + r.tcpMbit));
      log(`[${algo}] mean MPTCP share ${share.toFixed(3)} (reno ${renoShare.toFixed(3)})`);
      const bounds = res.shared.length > SHARED_RUNS ? FINAL : CLEAR;
      expect(share).toBeLessThan(renoShare - bounds.marginToReno);
      expect(share).toBeLessThanOrEqual(bounds.maxShare);
      // Coupling must not starve MPTCP either, nor leave the bottleneck idle.
      expect(share).toBeGreaterThan(0.2);
      expect(bottleneckUse).toBeGreaterThan(0.85 * BOTTLENECK_MBIT);

      const sum = DISJOINT_MBIT.reduce((a, b) => a + b, 0);
      const goodput = mean(res.disjoint.map((r) => r.mptcpMbit));
      log(`[${algo}] disjoint goodput ${goodput.toFixed(2)} of ${sum} Mbit/s`);
      expect(goodput).toBeGreaterThanOrEqual(0.9 * sum);

      expect(res.watchedRuns).toBeGreaterThanOrEqual(anomalyRuns);
      log(`[${algo}] max subflow cwnd over ${res.watchedRuns} runs: ${res.maxCwnd}`);
      expect(res.anomalies.map((a) => a.line)).toEqual([]);
      expect(res.maxCwnd).toBeLessThanOrEqual(SANE_MAX_CWND);
      expect(res.maxCwnd).toBeGreaterThan(10); // the watcher did see real windows
      // The clamps repair a corrupt ssthresh before the kernel copies it into cwnd, so the ss
      // watch above cannot see the anomaly in this build; the repair counter can
      // (bpf/mptcp_coupled.h, cc_sanitize()). The corruption is not caused by this CC's programs
      // (see the comment there) and still happens ~1-2 times per 100 LIA runs on 6.18, so 0
      // cannot be asserted; more than MAX_REPAIRS in one suite means it became frequent.
      const repairs = await cc.repairs();
      log(`[${algo}] cc_repairs over ${res.watchedRuns} runs: ${repairs}`);
      expect(repairs).toBeLessThanOrEqual(MAX_REPAIRS);
    }, 300_000);
  }
});
