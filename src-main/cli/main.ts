/**
 * `mptcp-studio` command line: scriptable reads (`--json` prints the contract's types), the web
 * host (`serve`) and the per-namespace agent (`agent`, started by the engine itself).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readFile, unlink } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { createInterface } from 'node:readline';
import type { MethodArgs, MethodName, MethodResult } from '../../shared/contract';
import { parseProfile } from '../../shared/config';
import { ExportFormatSchema } from '../../shared/config-api';
import type { Result } from '../../shared/result';
import { formatExport } from '../../shared/export-formats';
import {
  EngineService,
  LocalEngine,
  openEngine,
  serveAgent,
  serveAgentSocket,
  type EngineBackend,
} from '../engine/index';
import { startWebHost } from '../web/server';
import {
  createHostHandlers,
  defaultFleetHostsFile,
  defaultProfilesDir,
  SwitchableBackend,
} from '../host/index';
import { runPmCommand } from './pm-command';
import { runScanCommand } from './scan-command';
import { runTraceCommand } from './trace-command';
import { runResponderCommand } from './responder-command';
import { runSubflowsCommand } from './subflows-command';
import { runExporterCommand } from './exporter-command';
import { startMetricsEndpoint } from '../exporter/http';
import { REMOTE_SERVE_USAGE, remoteServeSecurity, type RemoteServeOptions } from './serve-remote';
import { runCcCommand } from './cc-command';
import { formatCounters } from './counters-format';
import { COMMAND_HELP, describeParseError, unexpectedOption } from './help';
import {
  connectionsJson,
  formatConnections,
  formatEndpoints,
  formatPlan,
  formatReport,
  formatStatus,
} from './format';

const USAGE = `usage: mptcp-studio <command> [options]
       mptcp-studio <command> --help   (that command's options, with units, and an example)

commands:
  status        kernel MPTCP status, settings and limits
  endpoints     in-kernel path manager endpoints
  connections   MPTCP connections and their subflows
  counters      MPTcpExt counters, each with what it counts (--all: zeros too)
  apply FILE    apply a profile (JSON) all or nothing; --dry-run prints the plan
  export        print the current configuration (--format json|sh|sysctl.d)
  serve         start the web host (prints the URL with its access token)
  cc list|load NAME|unload NAME
                coupled congestion control (BPF struct_ops): what can be loaded and why
                not; register or unregister mptcp_lia / mptcp_olia / mptcp_balia (root or
                CAP_BPF + CAP_PERFMON to load, CAP_SYS_ADMIN to unload; or through
                --agent-socket)
  exporter [--listen ADDR:PORT] [--per-connection]
                Prometheus metrics of MPTCP at /metrics (see: exporter --help)
  pm --mode fullmesh|ndiffports
                run the engine as the namespace's MPTCP path manager (see: pm --help)
  scan TARGET…  which hosts speak MPTCP v1/v0, and what answers instead (see: scan --help)
  trace HOST    where on the path MP_CAPABLE is stripped or changed (see: trace --help)
  responder --port P
                an MPTCP echo server: the cooperating end of a subflow check
  subflows HOST --port P
                the subflow check: a subflow from every interface to a responder, a known
                payload over them; per path: joins OK, refused, dropped, or broken by data
                (see: subflows --help)
  agent --socket PATH [--socket-group GROUP] [--socket-owner UID]
                run the privileged agent (root or CAP_NET_ADMIN) on a Unix socket; every
                change is logged to stderr as one JSON line

options:
  --netns NAME  look at network namespace NAME (needs root; see: ip netns list)
  --agent-socket PATH
                reach the kernel through the privileged agent at PATH (run the UI unprivileged;
                without it, an unprivileged run uses the agent at /run/mptcp-studio/agent.sock
                when one answers there)
  --json        print JSON (the API contract's types)
  --listen ADDR serve: address to bind (default 127.0.0.1; anything else exposes the engine)
  --port N      serve: TCP port (default 7878, 0 = any free port)
  --poll-ms N   serve: connections poll interval in ms (default 1000)
  --history-minutes N
                serve: how much of every connection's series and of the event timeline the
                host keeps for pages that open later (default 15, 0 = none)
  --metrics-listen ADDR:PORT
                serve, agent: also serve Prometheus metrics at http://ADDR:PORT/metrics
${REMOTE_SERVE_USAGE}  --prometheus URL
                serve: the Prometheus (or federating) server the Fleet page queries
  --dry-run     apply: print what would change, change nothing
  --confirm-within S
                apply: revert automatically unless confirmed within S seconds
                (the command waits, asks on the terminal, and reverts on Ctrl-C)
  --allow-disruption
                apply: go ahead although steps close live subflows (without it such
                an apply is refused before anything changes; --dry-run shows each
                step's impact on the live connections)
  --format F    export: json (a profile), sh (a script), sysctl.d (persistent config)
`;

class CliError extends Error {}

async function call<M extends MethodName>(
  engine: EngineService,
  method: M,
  args: MethodArgs<M> = {} as MethodArgs<M>,
): Promise<MethodResult<M>> {
  const r = await engine.invoke(method, args);
  if (!r.ok) throw new CliError(`${r.error.code}: ${r.error.message}`);
  return r.value as MethodResult<M>;
}

function staticDir(): string {
  // The bundle lives in out/node/, the renderer build in out/renderer/.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'out', 'renderer');
    dir = dirname(dir);
  }
  return join(process.cwd(), 'out', 'renderer');
}

export async function main(argv: string[]): Promise<number> {
  // `pm` has its own options (a strict parse here would reject them): see pm-command.ts.
  if (argv[0] === 'pm') return await runPmCommand(argv.slice(1));
  // The Path doctor's commands parse their own options (docs/path-doctor.md).
  if (argv[0] === 'scan') return await runScanCommand(argv.slice(1));
  if (argv[0] === 'trace') return await runTraceCommand(argv.slice(1));
  if (argv[0] === 'responder') return await runResponderCommand(argv.slice(1));
  if (argv[0] === 'subflows') return await runSubflowsCommand(argv.slice(1));
  if (argv[0] === 'exporter') return await runExporterCommand(argv.slice(1));
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      netns: { type: 'string' },
      json: { type: 'boolean', default: false },
      listen: { type: 'string' },
      port: { type: 'string' },
      'poll-ms': { type: 'string' },
      'history-minutes': { type: 'string' },
      label: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      'confirm-within': { type: 'string' },
      'allow-disruption': { type: 'boolean', default: false },
      format: { type: 'string', default: 'json' },
      socket: { type: 'string' },
      'socket-group': { type: 'string' },
      'socket-owner': { type: 'string' },
      'agent-socket': { type: 'string' },
      'metrics-listen': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'insecure-http': { type: 'boolean', default: false },
      'public-name': { type: 'string', multiple: true },
      prometheus: { type: 'string' },
      'token-file': { type: 'string' },
      all: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    tokens: true,
  });
  const cmd = positionals[0];
  if (values.help || !cmd) {
    process.stdout.write((cmd && COMMAND_HELP[cmd]) || USAGE);
    return cmd || values.help ? 0 : 2;
  }
  // An option the command would ignore is refused by name (help.ts lists what each one takes).
  const given = tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : []));
  const unexpected = unexpectedOption(cmd, given);
  if (unexpected !== null)
    throw new CliError(`${cmd} does not take --${unexpected} (see: mptcp-studio ${cmd} --help)`);

  if (cmd === 'agent' && values.socket !== undefined) {
    return await runSocketAgent(
      values.socket,
      values['socket-group'],
      values.label ?? null,
      values['metrics-listen'],
      values['socket-owner'],
    );
  }
  if (cmd === 'agent') {
    // MPTCP_STUDIO_TEST_FAIL_STEP: integration tests make apply step k fail to prove the rollback.
    const failStep = process.env.MPTCP_STUDIO_TEST_FAIL_STEP;
    const engine = new LocalEngine({
      netnsLabel: values.label ?? null,
      ...(failStep && /^\d+$/.test(failStep) ? { injectFailureAt: Number(failStep) } : {}),
    });
    await serveAgent(engine, process.stdin, process.stdout);
    return 0;
  }

  const pollIntervalMs = values['poll-ms'] === undefined ? 1000 : Number(values['poll-ms']);
  if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 50 || pollIntervalMs > 60_000) {
    throw new CliError('--poll-ms must be an integer from 50 to 60000');
  }
  if (values.netns && values['agent-socket']) throw new CliError('give --netns or --agent-socket, not both');
  const historyMinutes = values['history-minutes'] === undefined ? 15 : Number(values['history-minutes']);
  if (!Number.isInteger(historyMinutes) || historyMinutes < 0 || historyMinutes > 24 * 60) {
    throw new CliError('--history-minutes must be an integer from 0 to 1440');
  }
  let switcher: SwitchableBackend | null = null;
  const engine = openEngine({
    netns: values.netns ?? null,
    agentSocket: values['agent-socket'] ?? null,
    // Unprivileged without --agent-socket: the privileged agent at its default socket, if one
    // answers (engine/agent/discovery.ts); the web host keeps looking, a command looks once.
    discoverAgent: { watch: cmd === 'serve' },
    pollIntervalMs,
    // Only the web host keeps history: a one-shot command has nobody to show it to.
    ...(cmd === 'serve' && historyMinutes > 0 ? { history: { retentionMs: historyMinutes * 60_000 } } : {}),
    // The web host can show a registered remote host instead of its own (the Fleet direct mode).
    ...(cmd === 'serve' ? { wrapBackend: (b: EngineBackend) => (switcher = new SwitchableBackend(b)) } : {}),
    host: (backend, agentAccess) =>
      createHostHandlers({
        kernel: backend.handlers,
        agentAccess,
        profilesDir: defaultProfilesDir(),
        fleet: { prometheusUrl: values.prometheus ?? null, hostsFile: defaultFleetHostsFile(), switcher },
      }),
  });
  // What a killed engine left in the namespace and what this one did about it (an interrupted
  // apply undone, a change awaiting confirmation reverted or adopted: engine/config/journal.ts).
  // The engine (in-process or agent) does it before answering the first call.
  engine.on('mptcp:config:recovered', (r) => process.stderr.write(`mptcp-studio: ${r.message}\n`));
  const print = (v: unknown, human: string): void => {
    process.stdout.write(values.json ? `${JSON.stringify(v, null, 2)}\n` : human);
  };
  try {
    switch (cmd) {
      case 'status': {
        const status = await call(engine, 'mptcp:status:get');
        const limits = await call(engine, 'mptcp:limits:get').catch(() => null);
        print(values.json ? { ...status, limits } : status, formatStatus(status, limits));
        return 0;
      }
      case 'endpoints': {
        const eps = await call(engine, 'mptcp:endpoints:list');
        print(eps, formatEndpoints(eps));
        return 0;
      }
      case 'counters': {
        const counters = await call(engine, 'mptcp:counters:get');
        print(counters, formatCounters(counters.counters, values.all ?? false));
        return 0;
      }
      case 'connections': {
        const snap = await call(engine, 'mptcp:connections:list');
        print(connectionsJson(snap), formatConnections(snap.connections, snap.takenAtMs));
        return 0;
      }
      case 'apply':
        return await applyFile(
          engine,
          positionals[1],
          values['dry-run'] ?? false,
          values['confirm-within'],
          values.json ?? false,
          values['allow-disruption'] ?? false,
        );
      case 'export': {
        const format = ExportFormatSchema.safeParse(values.format);
        if (!format.success) throw new CliError('--format must be json, sh or sysctl.d');
        const config = await call(engine, 'mptcp:config:export');
        const name = values.netns ? `export of netns ${values.netns}` : 'export';
        process.stdout.write(
          formatExport(config, format.data, { name, generatedAt: new Date().toISOString() }).text,
        );
        return 0;
      }
      case 'serve':
        return await serve(engine, values.listen, values.port, values['metrics-listen'], {
          tlsCert: values['tls-cert'],
          tlsKey: values['tls-key'],
          insecureHttp: values['insecure-http'],
          publicNames: values['public-name'],
          tokenFile: values['token-file'],
        });
      case 'cc':
        return await runCcCommand(engine, positionals.slice(1), values.json ?? false, (s) =>
          process.stdout.write(s),
        );
      default:
        throw new CliError(`unknown command "${cmd}" (see mptcp-studio --help)`);
    }
  } finally {
    if (cmd !== 'serve') await engine.close();
  }
}

async function applyFile(
  engine: EngineService,
  file: string | undefined,
  dryRun: boolean,
  confirmWithin: string | undefined,
  json: boolean,
  allowDisruption: boolean,
): Promise<number> {
  if (!file) throw new CliError('apply needs a profile file (mptcp-studio apply FILE)');
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${file}: ${e.code ?? e.message}`);
  });
  const parsed = parseProfile(text);
  if (!parsed.ok) throw new CliError(`${file} is not a valid profile: ${parsed.errors.join('; ')}`);
  const config = parsed.profile.config;
  if (dryRun) {
    const plan = await call(engine, 'mptcp:config:plan', { config });
    if (json) process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    else process.stdout.write(formatPlan(plan));
    return plan.errors.length > 0 ? 1 : 0;
  }
  let confirmWithinS: number | null = null;
  if (confirmWithin !== undefined) {
    confirmWithinS = Number(confirmWithin);
    if (!Number.isInteger(confirmWithinS) || confirmWithinS < 5 || confirmWithinS > 3600) {
      throw new CliError('--confirm-within must be 5..3600 seconds');
    }
  }
  const report = await call(engine, 'mptcp:config:apply', { config, confirmWithinS, allowDisruption });
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(formatReport(report));
  if (!report.ok) return 1;
  if (report.revertAtMs !== null) return await askToConfirm(engine, report.revertAtMs);
  return 0;
}

/** Confirm-or-revert on a terminal: "y" keeps the change; anything else, Ctrl-C or the deadline reverts. */
async function askToConfirm(engine: EngineService, revertAtMs: number): Promise<number> {
  const seconds = Math.round((revertAtMs - Date.now()) / 1000);
  process.stderr.write(`Keep these changes? They revert in ${seconds} s unless you type "y" and Enter: `);
  const rl = createInterface({ input: process.stdin });
  const answer = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), Math.max(0, revertAtMs - Date.now()));
    rl.once('line', (line) => {
      clearTimeout(timer);
      resolve(line.trim());
    });
    rl.once('close', () => {
      clearTimeout(timer);
      resolve(null);
    });
    process.once('SIGINT', () => resolve(null));
  });
  rl.close();
  if (answer === 'y' || answer === 'yes') {
    const kept = await onLiveAgent(engine, 'mptcp:config:confirm');
    if (!kept.ok) throw new CliError(`${kept.error.code}: ${kept.error.message}`);
    process.stderr.write('kept.\n');
    return 0;
  }
  const undo = await onLiveAgent(engine, 'mptcp:config:revert');
  process.stderr.write(undo.ok ? 'reverted.\n' : `revert: ${undo.error.message}\n`);
  return 1;
}

/**
 * Confirm or revert, once more if the namespace agent that held the change died meanwhile: the
 * next agent adopts the change from its journal before it answers (src-main/engine/config/
 * journal.ts), so the user's answer still reaches it. Should the dead agent have acted on the
 * call before dying, the second one finds no pending change and says so: nothing runs twice.
 */
async function onLiveAgent(
  engine: EngineService,
  method: 'mptcp:config:confirm' | 'mptcp:config:revert',
): Promise<Result<unknown>> {
  const first = await engine.invoke(method, {});
  const agentGone =
    !first.ok &&
    first.error.code === 'INTERNAL' &&
    /agent .*(exited|closed the connection)/.test(first.error.message);
  return agentGone ? engine.invoke(method, {}) : first;
}

/** Numeric gid, or a name looked up in /etc/group (no NSS: the agent runs early at boot). */
async function resolveGroup(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const text = await readFile('/etc/group', 'utf8');
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new CliError(`unknown group "${group}"`);
}

async function runSocketAgent(
  path: string,
  group: string | undefined,
  label: string | null,
  metricsListen?: string,
  owner?: string,
): Promise<number> {
  // One user's socket (the pkexec launcher for a user outside the group): 0600, theirs alone.
  if (owner !== undefined && !/^\d+$/.test(owner))
    throw new CliError(`--socket-owner takes a numeric uid, not "${owner}"`);
  const engine = new LocalEngine({ netnsLabel: label });
  // A socket left by a previous run that died: remove it, but only if nobody answers on it.
  if (existsSync(path)) {
    const alive = await new Promise<boolean>((resolve) => {
      const probe = netConnect(path);
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (alive) throw new CliError(`another agent is already listening on ${path}`);
    await unlink(path);
  }
  const log = (entry: Record<string, unknown>): void => {
    process.stderr.write(`${JSON.stringify(entry)}\n`);
  };
  // Before the first client: what a killed agent left in this namespace is dealt with (an
  // interrupted apply undone, a change awaiting confirmation reverted or adopted), and logged.
  engine.onEvent((name, payload) => {
    if (name === 'mptcp:config:recovered')
      log({ time: new Date().toISOString(), event: 'recovered', ...(payload as Record<string, unknown>) });
  });
  await engine.recover();
  const server = await serveAgentSocket(engine, {
    path,
    mode: owner !== undefined ? 0o600 : 0o660,
    log,
    ...(owner !== undefined ? { uid: Number(owner) } : {}),
    ...(group !== undefined ? { gid: await resolveGroup(group) } : {}),
  });
  log({ time: new Date().toISOString(), event: 'listening', path });
  // Prometheus metrics of this namespace, read through the agent's own engine (docs/fleet.md).
  const metricsService = metricsListen !== undefined ? new EngineService(engine) : null;
  const metrics = metricsService ? await startMetricsEndpoint(metricsService, metricsListen!) : null;
  if (metrics) log({ time: new Date().toISOString(), event: 'metrics', url: metrics.url });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await metrics?.close();
  metricsService?.detach();
  server.close();
  await engine.close(); // reverts a change still waiting for confirmation
  await unlink(path).catch(() => undefined);
  return 0;
}

async function serve(
  engine: EngineService,
  hostOpt: string | undefined,
  portOpt: string | undefined,
  metricsListen?: string,
  remote: RemoteServeOptions = {},
): Promise<number> {
  const port = portOpt === undefined ? 7878 : Number(portOpt);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError('--port must be 0..65535');
  const host = hostOpt ?? '127.0.0.1';
  // TLS, public names, and no plain HTTP off loopback unless asked for (serve-remote.ts).
  const security = await remoteServeSecurity(host, remote).catch(async (e: Error) => {
    await engine.close(); // main() leaves closing to serve: an open agent would keep the process alive
    throw new CliError(e.message);
  });
  // Fail early, with the reason, if the namespace or the kernel cannot be read.
  await call(engine, 'mptcp:status:get');
  const web = await startWebHost({
    service: engine,
    staticDir: staticDir(),
    host,
    port,
    // Every change made through this host, one JSON line each (as the privileged agent logs them).
    audit: (entry) => process.stderr.write(`${JSON.stringify(entry)}\n`),
    ...security,
  });
  if (host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') {
    process.stderr.write(
      `warning: listening on ${host}: anyone who can reach it and has the token can read this host's ` +
        `MPTCP state and change it (endpoints, limits, sysctls, path manager); every change is logged here\n`,
    );
  }
  process.stdout.write(`MPTCP Studio web host: ${web.url}\n`);
  // Prometheus metrics from the same engine, on their own read-only port (docs/fleet.md).
  const metrics = metricsListen !== undefined ? await startMetricsEndpoint(engine, metricsListen) : null;
  if (metrics) process.stdout.write(`MPTCP Studio exporter: ${metrics.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await metrics?.close();
  await web.close();
  await engine.close();
  return 0;
}

export function run(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const msg =
        describeParseError(err, process.argv[2]) ?? (err instanceof Error ? err.message : String(err));
      process.stderr.write(`mptcp-studio: ${msg.split('\n')[0]}\n`);
      process.exitCode = 1;
    },
  );
}
