/**
 * `mptcp-studio <command> --help` for the commands main.ts parses itself: what the command does,
 * its options with their units, and an example; and the options each one takes, so that an
 * option it would ignore is refused by name instead. Commands with their own parser (pm, scan,
 * trace, responder, subflows, exporter) keep their usage beside their code.
 */
import { REMOTE_SERVE_USAGE } from './serve-remote';

const TARGET = `  --netns NAME        look at network namespace NAME (root; see: ip netns list)
  --agent-socket PATH reach the kernel through the privileged agent listening at PATH
`;
const JSON_OPTION = `  --json              print JSON (the API contract's types; byte counts as raw numbers)
`;

/** Usage text per command. */
export const COMMAND_HELP: Readonly<Record<string, string>> = {
  status: `usage: mptcp-studio status [options]

The kernel's MPTCP state: kernel release, net.mptcp.enabled, the path manager and scheduler (with
the available ones), the default congestion control and the in-kernel path manager's limits.

options:
${TARGET}${JSON_OPTION}
example:
  mptcp-studio status --netns client
`,
  endpoints: `usage: mptcp-studio endpoints [options]

The in-kernel path manager's endpoints, like \`ip mptcp endpoint show\`: address, port, id,
flags (signal, subflow, backup, fullmesh, laminar) and device.

options:
${TARGET}${JSON_OPTION}
example:
  mptcp-studio endpoints --json
`,
  connections: `usage: mptcp-studio connections [options]

Every MPTCP connection with its subflows: addresses, token, bytes sent and received (KiB, MiB,
GiB; --json gives bytes), MPTCP-level retransmitted bytes, and per subflow its interface, RTT
(ms), cwnd (packets), MSS (bytes), delivery rate (bit/s), retransmission share (%) and health.

options:
${TARGET}${JSON_OPTION}
example:
  mptcp-studio connections --netns client
`,
  counters: `usage: mptcp-studio counters [options]

The MPTcpExt counters of the namespace (/proc/net/netstat, as \`nstat -az | grep MPTcp\`), each
with a line saying what it counts. Only the nonzero ones unless --all.

options:
  --all               every counter, zeros included
${TARGET}${JSON_OPTION}
example:
  mptcp-studio counters --all
`,
  apply: `usage: mptcp-studio apply FILE [options]

Apply a profile (JSON, as written by \`mptcp-studio export\` or the Profiles page) all or nothing:
if a step fails, the steps done are undone and the prior state is read back.

options:
  --dry-run           print the plan and each step's impact on the live connections; change nothing
  --confirm-within S  revert automatically unless confirmed within S seconds (5..3600); the
                      command waits and asks on the terminal, and reverts on Ctrl-C
  --allow-disruption  go ahead although steps close live subflows (without it such an apply is
                      refused before anything changes)
${TARGET}${JSON_OPTION}
example:
  mptcp-studio apply client.json --dry-run
  mptcp-studio apply client.json --confirm-within 30
`,
  export: `usage: mptcp-studio export [options]

Print the current configuration: a profile (json), a script that makes another host match it
(sh), or persistent settings (sysctl.d).

options:
  --format F          json (default), sh or sysctl.d
${TARGET}
example:
  mptcp-studio export --format sh > mptcp-client.sh
`,
  serve: `usage: mptcp-studio serve [options]

Start the web host: the UI in a browser, with the same engine; prints the URL with its access
token. Runs until Ctrl-C.

options:
  --listen ADDR       address to bind (default 127.0.0.1; anything else exposes the engine)
  --port N            TCP port (default 7878; 0 = any free port)
  --poll-ms N         connections poll interval in milliseconds (default 1000; 50..60000)
  --history-minutes N how much of every connection's series and of the event timeline the host
                      keeps for pages opened later, in minutes (default 15; 0 = none; at most 1440)
  --metrics-listen ADDR:PORT
                      also serve Prometheus metrics at http://ADDR:PORT/metrics
  --prometheus URL    the Prometheus (or federating) server the Fleet page queries
${REMOTE_SERVE_USAGE.replace(/^ {16}/gm, ' '.repeat(22)).replace(/serve: /g, '')}${TARGET}
example:
  mptcp-studio serve --netns client --port 8080
`,
  cc: `usage: mptcp-studio cc list | cc load NAME | cc unload NAME [options]

Coupled congestion control as BPF struct_ops: what can be loaded and why not (list), register
(load) or unregister (unload) NAME, one of mptcp_lia, mptcp_olia, mptcp_balia. Loading needs root
or CAP_BPF + CAP_PERFMON, unloading CAP_SYS_ADMIN; or go through --agent-socket.

options:
${TARGET}${JSON_OPTION}
example:
  mptcp-studio cc list
  sudo mptcp-studio cc load mptcp_lia
`,
  agent: `usage: mptcp-studio agent --socket PATH [options]

Run the privileged agent (root or CAP_NET_ADMIN) on a Unix socket, for the UI and the CLI to reach
the kernel without running as root (--agent-socket). Every change is logged to stderr as one JSON
line. Runs until SIGINT or SIGTERM.

options:
  --socket PATH       the Unix socket to listen on (mode 0660)
  --socket-group GROUP
                      the group (name or gid) that may connect
  --socket-owner UID  give the socket to this uid alone (mode 0600; the pkexec launcher, for a
                      user outside the mptcp-studio group)
  --label NAME        the network namespace's name in logs and state files
  --metrics-listen ADDR:PORT
                      also serve Prometheus metrics at http://ADDR:PORT/metrics
example:
  sudo mptcp-studio agent --socket /run/mptcp-studio/agent.sock --socket-group mptcp-studio
`,
};

const TARGET_OPTIONS = ['netns', 'agent-socket'];

/** The options each command takes (long names); `help` goes with every one. */
export const COMMAND_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  status: [...TARGET_OPTIONS, 'json'],
  endpoints: [...TARGET_OPTIONS, 'json'],
  connections: [...TARGET_OPTIONS, 'json'],
  counters: [...TARGET_OPTIONS, 'json', 'all'],
  apply: [...TARGET_OPTIONS, 'json', 'dry-run', 'confirm-within', 'allow-disruption'],
  export: [...TARGET_OPTIONS, 'format'],
  serve: [
    ...TARGET_OPTIONS,
    'listen',
    'port',
    'poll-ms',
    'history-minutes',
    'metrics-listen',
    'prometheus',
    'tls-cert',
    'tls-key',
    'insecure-http',
    'public-name',
    'token-file',
  ],
  cc: [...TARGET_OPTIONS, 'json'],
  agent: ['socket', 'socket-group', 'socket-owner', 'label', 'metrics-listen'],
};

/**
 * The first option in `given` that `command` does not take, or null. A command this table does
 * not know is not checked.
 */
export function unexpectedOption(command: string, given: readonly string[]): string | null {
  const allowed = COMMAND_OPTIONS[command];
  if (!allowed) return null;
  return given.find((o) => o !== 'help' && !allowed.includes(o)) ?? null;
}

/**
 * Node's parseArgs errors in words: `unknown option --fast for "status" (see: mptcp-studio status
 * --help)` instead of its advice about positional arguments.
 */
export function describeParseError(err: unknown, command: string | undefined): string | null {
  const e = err as { code?: string; message?: string } | null;
  if (!e || typeof e.code !== 'string' || !e.code.startsWith('ERR_PARSE_ARGS')) return null;
  const where = command ? ` for "${command}"` : '';
  const see = command ? `mptcp-studio ${command} --help` : 'mptcp-studio --help';
  const message = e.message ?? e.code;
  // The option or argument as Node quotes it: '--fast', '--port <value>', 'extra'.
  const quoted = /'(-{1,2}[^' ]+)/.exec(message)?.[1] ?? /'([^']*)'/.exec(message)?.[1] ?? '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      // serve's bind address was --host until "host" came to mean only the process serving the
      // contract (docs/security.md); the old spelling gets the new one.
      if (quoted === '--host') return `unknown option --host${where}: the address to bind is --listen ADDR`;
      return `unknown option ${quoted}${where} (see: ${see})`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(message)
        ? `${quoted} needs a value${where} (see: ${see})`
        : `${quoted} takes no value${where} (see: ${see})`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${quoted}${where} (see: ${see})`;
    default:
      return `${message}${where} (see: ${see})`;
  }
}
