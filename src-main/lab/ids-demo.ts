/**
 * The seed's firewall lesson in the lab (docs/path-doctor.md "The IDS lesson"): an IDS-like rule
 * on one path (PathDoctorLab `idsPaths`: `iptables -m string` on r2, dropping what matches
 * IDS_SIGNATURE) stops a plain TCP stream that carries the signature; the same bytes over MPTCP,
 * split across subflows of two paths, pass, and the rule never matches. Lab only: the split is
 * steered with the userspace path manager (probes/ids-demo-probe.ts), not something a check does
 * to a real network.
 */
import { bundleProbe, nsRun } from './lab';
import { IDS_SIGNATURE, TARGET_PORTS, type PathDoctorLab } from './path-doctor-lab';

export interface IdsRun {
  /** Packets the IDS rule matched (and dropped) during the run. */
  matches: number;
  sent: number;
  echoed: number;
  /** Every byte came back, right. */
  intact: boolean;
}

export interface IdsDemoReport {
  signature: string;
  /** Plain TCP over the IDS's path. */
  control: IdsRun;
  /** MPTCP: the first half of the signature on the clean path, the rest on the IDS's path. */
  split: IdsRun & { firstPart: { bytes: number; path: string }; secondPart: { bytes: number; path: string } };
  /** The lesson in one sentence, from the numbers. */
  lesson: string;
}

async function ruleMatches(router: string): Promise<number> {
  const { stdout } = await nsRun(router, 'iptables', ['-L', 'FORWARD', '-v', '-n', '-x']);
  const line = stdout.split('\n').find((l) => l.includes('STRING match'));
  return Number(line?.trim().split(/\s+/)[0] ?? 0);
}

export async function runIdsDemo(
  lab: PathDoctorLab,
  opts: { cleanPath: number; idsPath: number; helperPath: string },
): Promise<IdsDemoReport> {
  const clean = lab.paths[opts.cleanPath];
  const ids = lab.paths[opts.idsPath];
  const router = ids?.routers[1];
  if (!clean || !ids || !router)
    throw new Error('the IDS demo needs a clean path and an IDS path with an r2');
  const bundle = await bundleProbe('src-main/lab/probes/ids-demo-probe.ts', 'ids-demo-probe.mjs');
  const run = async (
    mode: 'control' | 'split',
  ): Promise<{ out: Record<string, unknown>; matches: number }> => {
    const before = await ruleMatches(router);
    const { stdout } = await nsRun(
      lab.client,
      process.execPath,
      [
        bundle,
        JSON.stringify({
          mode,
          target: clean.serverAddress,
          port: TARGET_PORTS.mptcp,
          cleanAddress: clean.clientAddress,
          idsAddress: ids.clientAddress,
          signature: IDS_SIGNATURE,
          helperPath: opts.helperPath,
        }),
      ],
      { timeoutMs: 30_000 },
    );
    const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    if (typeof out.error === 'string') throw new Error(`IDS demo (${mode}): ${out.error}`);
    return { out, matches: (await ruleMatches(router)) - before };
  };
  const c = await run('control');
  const s = await run('split');
  const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
  const part = (v: unknown): { bytes: number; path: string } => {
    const p = (v ?? {}) as { bytes?: unknown; path?: unknown };
    return { bytes: num(p.bytes), path: typeof p.path === 'string' ? p.path : '' };
  };
  const report: IdsDemoReport = {
    signature: IDS_SIGNATURE,
    control: {
      matches: c.matches,
      sent: num(c.out.sent),
      echoed: num(c.out.echoed),
      intact: c.out.intact === true,
    },
    split: {
      matches: s.matches,
      sent: num(s.out.sent),
      echoed: num(s.out.echoed),
      intact: s.out.intact === true,
      firstPart: part(s.out.firstPart),
      secondPart: part(s.out.secondPart),
    },
    lesson: '',
  };
  report.lesson =
    `Plain TCP over the IDS's path: the rule matched ${report.control.matches} packet${report.control.matches === 1 ? '' : 's'} ` +
    `and the stream stopped at ${report.control.echoed} of ${report.control.sent} bytes. ` +
    `MPTCP with the signature split across subflows (${report.split.firstPart.path}, then ${report.split.secondPart.path}): ` +
    `the rule matched ${report.split.matches} packet${report.split.matches === 1 ? '' : 's'} and ` +
    `${report.split.intact ? 'every byte came back' : `${report.split.echoed} of ${report.split.sent} bytes came back`}. ` +
    'An IDS that inspects one path sees only that path’s share of an MPTCP connection.';
  return report;
}
