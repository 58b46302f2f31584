/**
 * `mptcp-studio exporter`: MPTCP metrics for Prometheus, read through the engine (docs/fleet.md).
 *
 *   mptcp-studio exporter [--listen ADDR:PORT] [--netns NS | --agent-socket PATH]
 *                         [--per-connection [--per-connection-limit N]] [--poll-ms N]
 *
 * Runs until SIGINT/SIGTERM. In its own network namespace it needs no privileges (sock_diag,
 * /proc/net/netstat, the path manager's endpoints and limits are readable by anyone on 6.18);
 * with CAP_NET_ADMIN it also counts mptcp_pm events. --netns needs root (a namespace agent).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_PER_CONNECTION_LIMIT, openEngine } from '../engine/index';
import { parseListen, startMetricsEndpoint } from '../exporter/http';

/** Loopback by default, like `serve`: the systemd unit says where a fleet's Prometheus scrapes. */
export const DEFAULT_EXPORTER_LISTEN = '127.0.0.1:9850';

export const EXPORTER_USAGE = `usage: mptcp-studio exporter [options]

Serve MPTCP metrics for Prometheus at http://ADDR:PORT/metrics (read-only, no token).

options:
  --listen ADDR:PORT     where to listen (default ${DEFAULT_EXPORTER_LISTEN}; :PORT = every address)
  --netns NS             report network namespace NS (root; the engine runs there as an agent)
  --agent-socket PATH    read through the privileged agent at PATH
  --per-connection       add per-connection and per-subflow series (token, addresses, RTT, cwnd,
                         bytes), for the busiest connections only (see --per-connection-limit)
  --per-connection-limit N
                         connections given their own series (default ${DEFAULT_PER_CONNECTION_LIMIT}, at most 10000)
  --poll-ms N            background connections poll interval in milliseconds (default 1000;
                         100..60000): the per-interface byte counters see a subflow's bytes only
                         while it lives

example:
  mptcp-studio exporter --listen :9850 --per-connection
`;

export async function runExporterCommand(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: 'string', default: DEFAULT_EXPORTER_LISTEN },
      netns: { type: 'string' },
      'agent-socket': { type: 'string' },
      'per-connection': { type: 'boolean', default: false },
      'per-connection-limit': { type: 'string' },
      'poll-ms': { type: 'string', default: '1000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    out(EXPORTER_USAGE);
    return 0;
  }
  parseListen(values.listen); // a malformed --listen is refused before the engine starts
  const pollIntervalMs = Number(values['poll-ms']);
  if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 100 || pollIntervalMs > 60_000) {
    throw new Error('--poll-ms must be an integer from 100 to 60000');
  }
  let perConnectionLimit: number | null = null;
  if (values['per-connection-limit'] !== undefined && !values['per-connection']) {
    throw new Error('--per-connection-limit needs --per-connection');
  }
  if (values['per-connection']) {
    perConnectionLimit = Number(values['per-connection-limit'] ?? DEFAULT_PER_CONNECTION_LIMIT);
    if (!Number.isInteger(perConnectionLimit) || perConnectionLimit < 1 || perConnectionLimit > 10_000) {
      throw new Error('--per-connection-limit must be an integer from 1 to 10000');
    }
  }
  if (values.netns && values['agent-socket']) throw new Error('give --netns or --agent-socket, not both');

  const engine = openEngine({
    netns: values.netns ?? null,
    agentSocket: values['agent-socket'] ?? null,
    pollIntervalMs,
  });
  try {
    // Fail early, with the reason, when the namespace or the kernel cannot be read.
    const status = await engine.invoke('mptcp:status:get', {});
    if (!status.ok) throw new Error(`${status.error.code}: ${status.error.message}`);
    const server = await startMetricsEndpoint(engine, values.listen, { perConnectionLimit });
    out(`MPTCP Studio exporter: ${server.url}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    if (server.collector.eventsNote) {
      process.stderr.write(`mptcp-studio exporter: ${server.collector.eventsNote}\n`);
    }
    await server.close();
    return 0;
  } finally {
    await engine.close();
  }
}
