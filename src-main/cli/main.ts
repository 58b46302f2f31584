/**
 * `mptcp-studio` command line: scriptable reads (`--json` prints the contract's types), the web
 * host (`serve`) and the per-namespace agent (`agent`, started by the engine itself).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { MethodName, MethodResult } from '../../shared/contract';
import { openEngine, type EngineService } from '../engine/index';
import { serveAgent } from '../engine/agent';
import { LocalEngine } from '../engine/local-engine';
import { startWebHost } from '../web/server';
import { formatConnections, formatEndpoints, formatStatus } from './format';

const USAGE = `usage: mptcp-studio <command> [options]

commands:
  status        kernel MPTCP status, settings and limits
  endpoints     in-kernel path manager endpoints
  connections   MPTCP connections and their subflows
  serve         start the web host (prints the URL with its access token)

options:
  --netns NAME  look at network namespace NAME (needs root; see: ip netns list)
  --json        print JSON (the API contract's types)
  --host ADDR   serve: address to bind (default 127.0.0.1; anything else exposes the engine)
  --port N      serve: TCP port (default 7878, 0 = any free port)
  --poll-ms N   serve: connections poll interval in ms (default 1000)
`;

class CliError extends Error {}

async function call<M extends MethodName>(engine: EngineService, method: M): Promise<MethodResult<M>> {
  const r = await engine.invoke(method, {});
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
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      netns: { type: 'string' },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
      port: { type: 'string' },
      'poll-ms': { type: 'string' },
      label: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const cmd = positionals[0];
  if (values.help || !cmd) {
    process.stdout.write(USAGE);
    return cmd || values.help ? 0 : 2;
  }

  if (cmd === 'agent') {
    const engine = new LocalEngine({ netnsLabel: values.label ?? null });
    await serveAgent(engine, process.stdin, process.stdout);
    return 0;
  }

  const pollIntervalMs = values['poll-ms'] === undefined ? 1000 : Number(values['poll-ms']);
  if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 50 || pollIntervalMs > 60_000) {
    throw new CliError('--poll-ms must be an integer from 50 to 60000');
  }
  const engine = openEngine({ netns: values.netns ?? null, pollIntervalMs });
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
      case 'connections': {
        const snap = await call(engine, 'mptcp:connections:list');
        print(snap, formatConnections(snap.connections));
        return 0;
      }
      case 'serve':
        return await serve(engine, values.host, values.port);
      default:
        throw new CliError(`unknown command "${cmd}" (see mptcp-studio --help)`);
    }
  } finally {
    if (cmd !== 'serve') await engine.close();
  }
}

async function serve(
  engine: EngineService,
  hostOpt: string | undefined,
  portOpt: string | undefined,
): Promise<number> {
  const port = portOpt === undefined ? 7878 : Number(portOpt);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError('--port must be 0..65535');
  const host = hostOpt ?? '127.0.0.1';
  // Fail early, with the reason, if the namespace or the kernel cannot be read.
  await call(engine, 'mptcp:status:get');
  const web = await startWebHost({ service: engine, staticDir: staticDir(), host, port });
  if (host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') {
    process.stderr.write(
      `warning: listening on ${host}: anyone who can reach it and has the token can read this host's MPTCP state\n`,
    );
  }
  process.stdout.write(`MPTCP Studio web host: ${web.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
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
      const msg = err instanceof Error ? err.message : String(err);
      process.stderr.write(`mptcp-studio: ${msg.split('\n')[0]}\n`);
      process.exitCode = 1;
    },
  );
}
