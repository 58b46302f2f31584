/**
 * `mptcp-studio trace HOST [--port P] [--from IFACE|ADDR]… [--max-ttl N] [--json] [--pcap FILE]
 * [--netns NS]`: where on the path MP_CAPABLE is stripped or changed (docs/path-doctor.md).
 */
import { parseArgs } from 'node:util';
import { parseIp } from '../../shared/packet/addr';
import { formatTraceText } from '../../shared/path-doctor-format';
import type { TraceResult } from '../../shared/path-doctor';
// Named imports, no namespace: the lean trace bundle (trace-main.ts) keeps only these.
import {
  expandTargets,
  RawProbeHelper,
  resolveSources,
  runTrace,
  SourceError,
  writePcap,
} from '../engine/index';

export const TRACE_USAGE = `usage: mptcp-studio trace HOST [options]

  --port P       destination port (default 443)
  --from X       leave from interface or address X; repeat to trace from each, side by side
  --max-ttl N    highest TTL probed (default 30)
  --retries N    resend to a silent hop N times (default 2)
  --timeout-ms T wait for a hop this long, in milliseconds (default 1000)
  --rate PPS     probes per second (default 100)
  --json         the hops, their changes and the verdict as JSON
  --pcap FILE    also write every probe and matched answer to FILE (pcap, raw IP)
  --netns NS     trace from inside network namespace NS (needs root)
Needs CAP_NET_RAW for the probe helper (root, or setcap on out/probe/mptcp-probe).

examples:
  sudo mptcp-studio trace example.net --port 443
  sudo mptcp-studio trace 192.0.2.7 --from eth0 --from wwan0
`;

class TraceUsageError extends Error {}

function sideBySide(results: TraceResult[]): string {
  const maxHops = Math.max(...results.map((r) => r.hops.length));
  const cell = (r: TraceResult, i: number): string => {
    const h = r.hops[i];
    if (!h) return '';
    if (!h.address) return '*';
    const news = h.newChanges.map((c) => c.kind).join(',');
    return `${h.address} ${h.destination ? (r.destination.class ?? 'destination') : h.mptcp}${news ? ` +${news}` : ''}`;
  };
  const width = 38;
  const lines = [
    `TTL  ${results.map((r) => `${r.source}${r.from ? ` (${r.from})` : ''}`.padEnd(width)).join('')}`,
  ];
  for (let i = 0; i < maxHops; i++)
    lines.push(`${String(i + 1).padStart(3)}  ${results.map((r) => cell(r, i).padEnd(width)).join('')}`);
  return `${lines.join('\n')}\n`;
}

export async function runTraceCommand(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '443' },
      from: { type: 'string', multiple: true },
      'max-ttl': { type: 'string', default: '30' },
      retries: { type: 'string', default: '2' },
      'timeout-ms': { type: 'string', default: '1000' },
      rate: { type: 'string', default: '100' },
      json: { type: 'boolean', default: false },
      pcap: { type: 'string' },
      netns: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    out(TRACE_USAGE);
    return 0;
  }
  const int = (name: string, v: string, min: number, max: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new TraceUsageError(`--${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  if (positionals.length !== 1)
    throw new TraceUsageError('trace needs exactly one HOST (see: mptcp-studio trace --help)');
  const targets = await expandTargets(positionals);
  // A name with several addresses: trace the first, as traceroute does.
  const target = targets[0];
  if (!target) throw new TraceUsageError(`no address for ${positionals[0]}`);
  const port = int('port', values.port, 1, 65535);
  const ratePps = int('rate', values.rate, 1, 10_000);
  // A burst as large as the TTLs in flight: a trace's first round leaves at once.
  const helper = await RawProbeHelper.open({ ratePps, burst: 8, netns: values.netns ?? null });
  const ac = new AbortController();
  const onSig = (): void => ac.abort();
  process.once('SIGINT', onSig);
  const capture: { timeUs: number; bytes: Uint8Array }[] = [];
  try {
    const froms = values.from ?? [];
    const family = target.address.length as 4 | 16;
    let sources: { source: Uint8Array; ifindex: number; from: string | null }[];
    try {
      sources =
        froms.length === 0
          ? [{ source: await helper.sourceFor(target.address), ifindex: 0, from: null }]
          : resolveSources(froms, family, await helper.addresses()).map((s) => ({
              source: parseIp(s.address) as Uint8Array,
              // An address names a source, routed by it (policy routing); an interface, its device.
              ifindex: s.spec !== null && parseIp(s.spec) ? 0 : s.ifindex,
              from: s.spec,
            }));
    } catch (e) {
      if (e instanceof SourceError) throw new TraceUsageError(`--from: ${e.message}`);
      throw e;
    }
    const results = await Promise.all(
      sources.map((s) =>
        runTrace({
          helper,
          target,
          port,
          source: s.source,
          ifindex: s.ifindex,
          from: s.from,
          maxTtl: int('max-ttl', values['max-ttl'], 1, 64),
          retries: int('retries', values.retries, 0, 5),
          timeoutMs: int('timeout-ms', values['timeout-ms'], 10, 60_000),
          signal: ac.signal,
          ...(values.pcap ? { capture } : {}),
        }),
      ),
    );
    if (values.pcap) await writePcap(values.pcap, capture);
    if (values.json) out(`${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n`);
    else {
      out(results.map(formatTraceText).join('\n'));
      if (results.length > 1) out(`\n${sideBySide(results)}`);
    }
    return ac.signal.aborted ? 130 : 0;
  } finally {
    process.off('SIGINT', onSig);
    await helper.close();
  }
}
