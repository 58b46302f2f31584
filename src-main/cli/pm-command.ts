/**
 * `mptcp-studio pm`: run the engine as the namespace's MPTCP path manager (userspace PM, reference
 * docs/path-manager.md) until SIGINT/SIGTERM.
 *
 *   mptcp-studio pm --mode fullmesh|ndiffports [--subflows N] [--role client|server]
 *                   [--netns NS] [--json] [--force] [--no-recreate] [--max-retries N]
 *   mptcp-studio pm --mode fullmesh --manager kernel [--role client|server] [--match GLOB ...]
 *                   [--backup GLOB ...] [--cleanup] [--netns NS] [--json] [--force]
 *
 * --manager kernel keeps the in-kernel PM's endpoints in step with the addresses instead
 * (engine/pm/endpoint-sync.ts); it switches path_manager to `kernel` while it runs, likewise.
 *
 * With --netns it re-executes itself under `ip netns exec NS` (a process cannot open netlink
 * sockets in another namespace: network_namespaces(7)), as the engine's agent does. It switches the namespace's
 * net.mptcp.path_manager to `userspace` while it runs and puts the previous value back when it
 * stops, on errors too (engine/pm/pm-controller.ts, shared with the app). Connections opened
 * meanwhile keep the userspace PM and their subflows (the PM is chosen per socket at creation: docs/kernel-interfaces.md).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describeParseError } from './help';
import {
  checkGlob,
  checkNetnsName,
  defaultAgentEntry,
  formatMptcpEvent,
  LocalEngine,
  PmController,
  type PmLogEntry,
} from '../engine/index';
import { PM_RECREATE } from '../../shared/pm';

export const PM_USAGE = `usage: mptcp-studio pm --mode fullmesh|ndiffports [options]

Run the engine as the MPTCP path manager of a network namespace (the kernel's userspace PM).
  fullmesh     client: a subflow from every local address to every peer address (N x M),
               following interfaces; server: announce the other local addresses
  ndiffports   client: N subflows over the initial address pair, distinct source ports
               (for ECMP tests; not for production)
Servers never create subflows.

options:
  --mode M          fullmesh or ndiffports (required)
  --subflows N      ndiffports: subflows per connection (default 2); fullmesh: the cap (default 16)
  --role R          client (default) or server
  --netns NS        run in network namespace NS
  --json            one JSON object per line
  --force           start even if mptcpd, NetworkManager or another MPTCP Studio path manager
                    runs in the namespace
  --no-recreate     do not recreate subflows that close on an error (link flap, reset, timeout)
  --max-retries N   recreate attempts per address pair, 1 s apart doubling up to 30 s (default 8)
  --events-rcvbuf B userspace: receive buffer of the MPTCP events socket in bytes (default 4 MiB,
                    capped by net.core.rmem_max); when it overflows (ENOBUFS) events are lost and
                    the loop resyncs from the kernel
  --manager M       userspace (default) or kernel: with kernel (fullmesh only) the engine keeps
                    the in-kernel PM's endpoints in step with the interfaces' addresses instead
                    (client: subflow fullmesh endpoints; server: signal endpoints)
  --match GLOB      kernel: manage interfaces matching GLOB (repeatable; default all but loopback)
  --backup GLOB     kernel: endpoints on these interfaces get the backup flag (repeatable)
  --cleanup         kernel: on stop, remove the endpoints it added (default: leave them in place)

examples:
  sudo mptcp-studio pm --mode fullmesh
  sudo mptcp-studio pm --mode ndiffports --subflows 4 --netns lab
`;

class PmCliError extends Error {}

/** Set in the re-executed child: it stops when its parent's pipe closes (the parent died). */
const CHILD_ENV = 'MPTCP_STUDIO_PM_CHILD';

interface PmSettings {
  mode: 'fullmesh' | 'ndiffports';
  manager: 'userspace' | 'kernel';
  match: string[];
  backup: string[];
  cleanup: boolean;
  role: 'client' | 'server';
  subflows: number;
  json: boolean;
  force: boolean;
  recreate: boolean;
  maxRetries: number;
  eventsRecvBufferBytes: number | null;
}

function parse(argv: string[]): { s: PmSettings; netns: string | null; help: boolean; rest: string[] } {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      mode: { type: 'string' },
      subflows: { type: 'string' },
      role: { type: 'string', default: 'client' },
      netns: { type: 'string' },
      json: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      'no-recreate': { type: 'boolean', default: false },
      'max-retries': { type: 'string' },
      'events-rcvbuf': { type: 'string' },
      manager: { type: 'string', default: 'userspace' },
      match: { type: 'string', multiple: true, default: [] },
      backup: { type: 'string', multiple: true, default: [] },
      cleanup: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const help = values.help ?? false;
  const mode = values.mode;
  if (!help && mode !== 'fullmesh' && mode !== 'ndiffports')
    throw new PmCliError('--mode must be fullmesh or ndiffports');
  const role = values.role;
  if (role !== 'client' && role !== 'server') throw new PmCliError('--role must be client or server');
  const subflows = Number(values.subflows ?? (mode === 'ndiffports' ? 2 : 16));
  if (!Number.isInteger(subflows) || subflows < 1 || subflows > 256)
    throw new PmCliError('--subflows must be an integer from 1 to 256');
  const manager = values.manager;
  if (manager !== 'userspace' && manager !== 'kernel')
    throw new PmCliError('--manager must be userspace or kernel');
  if (!help && manager === 'kernel' && mode !== 'fullmesh')
    throw new PmCliError('--manager kernel supports --mode fullmesh only');
  const match = values.match ?? [];
  const backup = values.backup ?? [];
  const cleanup = values.cleanup ?? false;
  if (manager === 'userspace' && (match.length > 0 || backup.length > 0 || cleanup))
    throw new PmCliError('--match, --backup and --cleanup need --manager kernel');
  for (const g of [...match, ...backup]) {
    const bad = checkGlob(g);
    if (bad) throw new PmCliError(bad);
  }
  const maxRetries = Number(values['max-retries'] ?? PM_RECREATE.maxRetries);
  if (!Number.isInteger(maxRetries) || maxRetries < 0 || maxRetries > 100)
    throw new PmCliError('--max-retries must be an integer from 0 to 100');
  const rcvbuf = values['events-rcvbuf'];
  const eventsRecvBufferBytes = rcvbuf === undefined ? null : Number(rcvbuf);
  if (
    eventsRecvBufferBytes !== null &&
    (!Number.isInteger(eventsRecvBufferBytes) || eventsRecvBufferBytes < 1 || eventsRecvBufferBytes > 1 << 30)
  )
    throw new PmCliError('--events-rcvbuf must be an integer number of bytes from 1 to 1073741824');
  if (manager === 'kernel' && eventsRecvBufferBytes !== null)
    throw new PmCliError('--events-rcvbuf needs --manager userspace');
  // Everything but --netns goes to the re-executed child as given.
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--netns') i++;
    else if (!a.startsWith('--netns=')) rest.push(a);
  }
  return {
    s: {
      mode: mode === 'ndiffports' ? 'ndiffports' : 'fullmesh',
      manager,
      match,
      backup,
      cleanup,
      role,
      subflows,
      json: values.json ?? false,
      force: values.force ?? false,
      recreate: !(values['no-recreate'] ?? false),
      maxRetries,
      eventsRecvBufferBytes,
    },
    netns: values.netns ?? null,
    help,
    rest,
  };
}

export async function runPmCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (e) {
    const message = describeParseError(e, 'pm') ?? (e instanceof Error ? e.message : String(e));
    process.stderr.write(`mptcp-studio pm: ${message}\n${PM_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(PM_USAGE);
    return 0;
  }
  if (parsed.netns !== null) return await reexecInNetns(parsed.netns, parsed.rest);
  return await runHere(parsed.s);
}

/** `ip netns exec NS node <bundle> pm ...`, with signals forwarded and the exit code passed on. */
async function reexecInNetns(netns: string, rest: string[]): Promise<number> {
  checkNetnsName(netns);
  const entry = defaultAgentEntry();
  if (!existsSync(entry)) throw new PmCliError(`engine bundle ${entry} is missing; run npm run build`);
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, entry, 'pm', ...rest], {
    stdio: ['pipe', 'inherit', 'inherit'],
    env: { ...process.env, [CHILD_ENV]: '1' },
  });
  const forward = (sig: NodeJS.Signals) => (): void => {
    child.kill(sig);
  };
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return await new Promise<number>((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`mptcp-studio pm: cannot start ip netns exec: ${e.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

async function runHere(s: PmSettings): Promise<number> {
  const print = (e: PmLogEntry): void => {
    process.stdout.write(s.json ? `${JSON.stringify(e)}\n` : `${formatEntry(e)}\n`);
  };
  const fail = (message: string): number => {
    print({ timeMs: Date.now(), token: null, what: 'start', result: 'error', message });
    if (!s.json) process.stderr.write(`mptcp-studio pm: ${message}\n`);
    return 1;
  };
  // The same controller as the app's engine ('mptcp:pm:start'): same checks (CAP_NET_ADMIN,
  // mptcpd/NetworkManager, another run in this namespace), same path_manager switch and restore,
  // same state file, so a run killed with SIGKILL is recovered by the next one, CLI or app.
  const engine = new LocalEngine();
  // What a killed engine left in this namespace (src-main/engine/config/journal.ts), said here too.
  engine.onEvent((name, payload) => {
    if (name === 'mptcp:config:recovered') {
      process.stderr.write(`mptcp-studio: ${(payload as { message: string }).message}\n`);
    }
  });
  const controller = new PmController({ engine, emit: () => undefined, log: print });
  // Synchronous, so it also runs from an exit handler after an unexpected error.
  const onExit = (): void => controller.restoreSync();
  process.once('exit', onExit);
  // Listening before the start: a SIGTERM while start() runs (path_manager already switched)
  // would otherwise take Node's default action, which ends the process without an 'exit' event
  // and leaves the namespace on the userspace path manager. It now stops the run once started.
  const stopped = untilStopped();
  try {
    await controller.start(
      {
        mode: s.mode,
        role: s.role,
        manager: s.manager,
        subflows: s.subflows,
        force: s.force,
      },
      {
        match: s.match,
        backup: s.backup,
        cleanup: s.cleanup,
        recreate: s.recreate,
        maxRetries: s.maxRetries,
        ...(s.eventsRecvBufferBytes !== null ? { eventsRecvBufferBytes: s.eventsRecvBufferBytes } : {}),
        ...testEventsStall(),
        onKernelEvent: (ev) =>
          print({
            timeMs: Date.now(),
            token: ev.token,
            what: `event:${ev.kind}`,
            result: 'info',
            message: formatMptcpEvent(ev),
            detail: { ...ev },
          }),
      },
    );
  } catch (e) {
    await engine.close();
    process.stdin.destroy();
    return fail(e instanceof Error ? e.message : String(e));
  }
  await testHoldAfterStart();
  await stopped;
  await controller.stop();
  await engine.close();
  process.off('exit', onExit);
  // The parent's pipe would keep the event loop (and this process) alive.
  process.stdin.destroy();
  return 0;
}

function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    if (process.env[CHILD_ENV] === '1') {
      process.stdin.on('end', () => resolve()).on('error', () => resolve());
      process.stdin.resume();
    }
  });
}

export function formatEntry(e: PmLogEntry): string {
  const token = e.token === null ? '-' : e.token.toString(16).padStart(8, '0');
  const time = new Date(e.timeMs).toISOString().slice(11, 23);
  if (e.what.startsWith('event:')) return `${time} ${token} ${e.message ?? e.what}`;
  const detail = e.detail
    ? Object.entries(e.detail)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ')
    : '';
  return [time, token, e.what, e.result, e.message ?? '', detail].filter((x) => x !== '').join(' ');
}

/**
 * MPTCP_STUDIO_TEST_EVENTS_STALL_MS (integration tests only, not a user setting): the events reader
 * waits this long at each wake-up before reading, so that a burst overflows its socket and the
 * lost-events path (report, resync from the kernel) runs for real (EventReaderOptions).
 */
/**
 * Tests only: MPTCP_STUDIO_TEST_PM_HOLD_AFTER_START_MS keeps the run busy right after its start
 * (path_manager switched), the window in which a SIGTERM once ended it without restoring.
 */
async function testHoldAfterStart(): Promise<void> {
  const ms = Number(process.env.MPTCP_STUDIO_TEST_PM_HOLD_AFTER_START_MS ?? '');
  if (Number.isInteger(ms) && ms > 0 && ms <= 10_000) await new Promise((r) => setTimeout(r, ms));
}

function testEventsStall(): { eventsStallMsForTests?: number } {
  const ms = Number(process.env.MPTCP_STUDIO_TEST_EVENTS_STALL_MS ?? '');
  return Number.isInteger(ms) && ms > 0 && ms <= 10_000 ? { eventsStallMsForTests: ms } : {};
}
