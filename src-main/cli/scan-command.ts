/**
 * `mptcp-studio scan TARGETS… [--ports 80,443] [--rate PPS] [--mode raw|connect] [--json|--csv]
 * [--netns NS]`: which hosts speak MPTCP, and what answers instead (docs/path-doctor.md).
 */
import { parseArgs } from 'node:util';
import { formatScanText, scanRecordsToCsv, sortScanRecords } from '../../shared/path-doctor-format';
import type { ScanResult } from '../../shared/path-doctor';
import { probe } from '../engine/index';

export const SCAN_USAGE = `usage: mptcp-studio scan TARGET… [options]

  TARGET       an address, a CIDR range (network and broadcast addresses are skipped), a host
               name, or @FILE (one per line). Multicast and broadcast targets are refused.

  --ports P    ports and ranges, e.g. 80,443,8000-8010 (default 80,443)
  --rate PPS   probes per second in all (default ${probe.DEFAULT_RATE_PPS}; at most ${probe.PROBE_MAX_PPS})
  --per-target-rate PPS
               probes per second to any one address (default ${probe.DEFAULT_PER_TARGET_PPS})
  --retries N  resend unanswered probes N times (default 1)
  --timeout-ms T
               wait for an answer this long (default 1000; connect mode 5000)
  --mode M     raw (default): crafted SYNs with v1 and v0 MP_CAPABLE; needs CAP_NET_RAW for the
               probe helper (root, or setcap on out/probe/mptcp-probe).
               connect: real MPTCP connections, no privilege; sees v1 only
  --join       raw mode: also send SYN + MP_JOIN with a random token (an RST proves a real
               MPTCP listener)
  --json | --csv
  --netns NS   probe from inside network namespace NS (needs root)
  --no-progress
               no progress bar on stderr

examples:
  sudo mptcp-studio scan 192.0.2.0/28 --ports 443,8443
  mptcp-studio scan example.net --mode connect --json
`;

class ScanUsageError extends Error {}

export async function runScanCommand(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ports: { type: 'string', default: '80,443' },
      rate: { type: 'string' },
      'per-target-rate': { type: 'string' },
      retries: { type: 'string', default: '1' },
      'timeout-ms': { type: 'string' },
      mode: { type: 'string', default: 'raw' },
      join: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      csv: { type: 'boolean', default: false },
      netns: { type: 'string' },
      'no-progress': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    out(SCAN_USAGE);
    return 0;
  }
  const int = (name: string, v: string | undefined, min: number, max: number, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new ScanUsageError(`--${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  if (positionals.length === 0)
    throw new ScanUsageError('scan needs at least one target (see: mptcp-studio scan --help)');
  if (values.mode !== 'raw' && values.mode !== 'connect')
    throw new ScanUsageError('--mode must be raw or connect');
  if (values.json && values.csv) throw new ScanUsageError('give --json or --csv, not both');
  const ratePps = int('rate', values.rate, 1, probe.PROBE_MAX_PPS, probe.DEFAULT_RATE_PPS);
  const perTargetPps = int(
    'per-target-rate',
    values['per-target-rate'],
    1,
    probe.PROBE_MAX_PPS,
    probe.DEFAULT_PER_TARGET_PPS,
  );
  const retries = int('retries', values.retries, 0, 10, 1);
  const ports = probe.parsePorts(values.ports);
  const targets = await probe.expandTargets(positionals);
  if (targets.length === 0) throw new ScanUsageError('no target left to scan');

  const ac = new AbortController();
  const onSig = (): void => ac.abort();
  process.once('SIGINT', onSig);
  const showProgress = !values['no-progress'] && process.stderr.isTTY === true;
  let lastDraw = 0;
  const progress = (done: number, total: number, sent: number): void => {
    if (!showProgress) return;
    const now = Date.now();
    if (now - lastDraw < 100 && done < total) return;
    lastDraw = now;
    const width = 30;
    const filled = Math.round((done / Math.max(1, total)) * width);
    err(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} done, ${sent} probes sent `);
  };
  let res: ScanResult;
  try {
    if (values.mode === 'connect') {
      res = await probe.connectScan({
        targets,
        ports,
        ratePps,
        netns: values.netns ?? null,
        signal: ac.signal,
        onProgress: progress,
        ...(values['timeout-ms'] !== undefined
          ? { timeoutMs: int('timeout-ms', values['timeout-ms'], 100, 60_000, 5000) }
          : {}),
      });
    } else {
      const helper = await probe.RawProbeHelper.open({ ratePps, netns: values.netns ?? null });
      try {
        res = await probe.rawScan({
          helper,
          targets,
          ports,
          ratePps,
          perTargetPps,
          retries,
          timeoutMs: int('timeout-ms', values['timeout-ms'], 10, 60_000, 1000),
          join: values.join ?? false,
          signal: ac.signal,
          onProgress: progress,
        });
      } finally {
        await helper.close();
      }
    }
  } finally {
    process.off('SIGINT', onSig);
    if (showProgress) err('\n');
  }
  if (values.json)
    out(`${JSON.stringify({ records: sortScanRecords(res.records), summary: res.summary }, null, 2)}\n`);
  else if (values.csv) out(scanRecordsToCsv(sortScanRecords(res.records)));
  else out(formatScanText(res));
  return res.summary.cancelled ? 130 : 0;
}
