/**
 * Finding the privileged agent (docs/security.md, "Finding the privileged agent"). A host that
 * runs unprivileged and was given neither `--agent-socket` nor `--netns` looks at the agent's
 * default socket, and writes through the agent when one answers there, from this namespace, with
 * CAP_NET_ADMIN; otherwise it stays read-only and says why. It looks again when the socket file
 * changes (checked every few seconds with one lstat), when the agent's connection drops, and when
 * the user asks (the read-only banner's "Check again"), so an agent started later is picked up
 * without a restart.
 *
 * Whatever listens on the path is untrusted until it answered a status call with the contract's
 * schema: a stale file, a listener that never answers, or one that speaks another protocol costs
 * at most PROBE_TIMEOUT_MS and one log line, never a hang or a crash.
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { lstat, readFile, realpath } from 'node:fs/promises';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  kernelMethodNames,
  type EventName,
  type EventPayload,
  type KernelHandlers,
} from '../../../shared/contract';
import { AGENT_POLKIT_ACTION_ID, type AgentAccess } from '../../../shared/agent-access';
import { ApiFailure } from '../../../shared/result';
import { KernelStatusSchema, type KernelStatus } from '../../../shared/types';
import { ServerMessageSchema } from '../../../shared/wire';
import { attrMap, NlSocket } from '../netlink/core';
import { CAP_NET_ADMIN } from '../uapi/capability';
import { NETLINK_SOCK_DIAG } from '../uapi/netlink';
import {
  SOCK_DIAG_BY_FAMILY,
  TCPF_LISTEN,
  UDIAG_SHOW_UID,
  UDIAG_SHOW_VFS,
  UNIX_DIAG_MSG_LEN,
  UNIX_DIAG_REQ_LEN,
  UNIX_DIAG_UID,
  UNIX_DIAG_VFS,
} from '../uapi/sock-diag';
import { AF_UNIX } from '../uapi/socket';
import type { EngineBackend } from '../service';
import { SocketBackend } from './client';
import { readLines } from './lines';

/** Where the shipped unit (packaging/mptcp-studio-agent.service) and the pkexec launcher listen. */
export const DEFAULT_AGENT_SOCKET = '/run/mptcp-studio/agent.sock';
/** Another socket path to look at (tests point it at a temporary directory). */
export const AGENT_SOCKET_ENV = 'MPTCP_STUDIO_AGENT_SOCKET';
/** The group the shipped unit gives the socket to (`--socket-group`). */
export const AGENT_GROUP = 'mptcp-studio';
export const AGENT_UNIT = 'mptcp-studio-agent';
/** The pkexec launcher's installed path: the polkit action's exec.path (packaging/polkit/). */
export const INSTALLED_AGENT_LAUNCHER = '/usr/libexec/mptcp-studio/mptcp-studio-agent-launch';
/** Another launcher (tests, or running from the source tree). */
export const AGENT_LAUNCHER_ENV = 'MPTCP_STUDIO_AGENT_LAUNCHER';

/** How long a probe waits for a connection and for the status answer. */
export const PROBE_TIMEOUT_MS = 2000;
/** How often the socket file is looked at (one lstat) while no agent is in use or one is. */
const WATCH_INTERVAL_MS = 2000;
/** A socket that did not answer is probed again after this even if its file did not change. */
const REPROBE_UNCHANGED_MS = 30_000;
/** Lines the probe reads before giving up on its answer (an agent may send events first). */
const PROBE_MAX_LINES = 64;
/** The longest line the probe accepts: a status is a few kilobytes. */
const PROBE_MAX_LINE_BYTES = 1024 * 1024;
/** How long mptcp:agent:start waits for the administrator to answer polkit and the agent to listen. */
const START_TIMEOUT_MS = 120_000;
/** After the launcher returned 0 (systemd-run started the agent), how long the agent has to listen. */
const STARTED_LISTEN_WITHIN_MS = 15_000;
/**
 * After pkexec was refused or dismissed, how long another start is refused without asking again:
 * any client of a web host may call mptcp:agent:start, and each call would put an administrator
 * password dialog on the desktop's screen.
 */
export const START_RETRY_AFTER_MS = 15_000;

export function agentSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const p = env[AGENT_SOCKET_ENV];
  return p && p.startsWith('/') ? p : DEFAULT_AGENT_SOCKET;
}

export type ProbeOutcome =
  | { ok: true; status: KernelStatus }
  | {
      ok: false;
      kind:
        | 'absent'
        | 'not-socket'
        | 'denied'
        | 'refused'
        | 'timeout'
        | 'garbage'
        | 'error'
        | 'other-netns'
        | 'foreign-owner'
        | 'unprivileged';
      reason: string;
    };

/** CAP_NET_ADMIN in this process's effective set (proc(5): CapEff in /proc/self/status). */
export function processHasNetAdmin(statusText?: string): boolean {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return false;
    }
  }
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  return m?.[1] ? ((BigInt(`0x${m[1]}`) >> BigInt(CAP_NET_ADMIN)) & 1n) === 1n : false;
}

/** Kernel dev_t (MKDEV: major << 20 | minor) as stat(2) reports it (new_encode_dev). */
function userDev(kdev: number): number {
  const major = kdev >>> 20;
  const minor = kdev & 0xfffff;
  return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

/**
 * The socket listening on this file in our network namespace, with the uid that created it. unix_diag
 * dumps only the sockets of the asking process's namespace (net/unix/diag.c), and a listening socket
 * belongs to the namespace of the process that bound it; UDIAG_SHOW_VFS names the file it is bound to
 * (struct unix_diag_vfs) and UDIAG_SHOW_UID the uid that created it (UNIX_DIAG_UID, Linux 5.3; uapi:
 * linux/unix_diag.h). A path reached through the file system can lead to an agent in another
 * namespace, whose writes would land there: `false` then. `null`: unix_diag is not available here
 * (no unix_diag module), so the caller cannot tell.
 */
export async function listenerOf(path: string): Promise<{ uid: number | null } | false | null> {
  let st: { ino: number; dev: number };
  try {
    st = statSync(path);
  } catch {
    return false;
  }
  const req = Buffer.alloc(UNIX_DIAG_REQ_LEN);
  req.writeUInt8(AF_UNIX, 0);
  req.writeUInt32LE(TCPF_LISTEN, 4); // udiag_states: listening sockets only
  req.writeUInt32LE(UDIAG_SHOW_VFS | UDIAG_SHOW_UID, 12);
  req.writeUInt32LE(0xffffffff, 16);
  req.writeUInt32LE(0xffffffff, 20);
  let diag: NlSocket | null = null;
  try {
    diag = new NlSocket(NETLINK_SOCK_DIAG, { timeoutMs: PROBE_TIMEOUT_MS });
    // Listening sockets only: a few dozen on a desktop.
    const msgs = await diag.dump(SOCK_DIAG_BY_FAMILY, req, 'unix_diag listening sockets');
    for (const msg of msgs) {
      if (msg.length < UNIX_DIAG_MSG_LEN) continue;
      const attrs = attrMap(msg, UNIX_DIAG_MSG_LEN, msg.length);
      const vfs = attrs.get(UNIX_DIAG_VFS);
      if (
        vfs !== undefined &&
        vfs.length >= 8 &&
        vfs.readUInt32LE(0) === st.ino >>> 0 &&
        userDev(vfs.readUInt32LE(4)) === st.dev
      ) {
        const uid = attrs.get(UNIX_DIAG_UID);
        return { uid: uid !== undefined && uid.length >= 4 ? uid.readUInt32LE(0) : null };
      }
    }
    return false;
  } catch {
    return null;
  } finally {
    diag?.close();
  }
}

/** Root, or this process's own user (who trusts itself): the only owners an agent may have. */
function trustedUid(uid: number): boolean {
  return uid === 0 || uid === process.geteuid?.();
}

/**
 * Who could have put the socket at `path`: the file's owner, and every directory above it owned by
 * a trusted user and writable by nobody else (or sticky, as /tmp: then nobody else can rename or
 * remove our file). Otherwise another local user could have planted a listener of their own there,
 * or could swap one in after the probe. Null when all is well, else the reason.
 */
async function untrustedPath(path: string, fileUid: number): Promise<string | null> {
  if (!trustedUid(fileUid))
    return `${path} belongs to uid ${fileUid}, not root: it is not the privileged agent's socket`;
  // The directories as named (a symlink among them, such as /var/run, can be replaced by whoever
  // may write its parent) and as they really are (the symlink's target).
  const dirs = new Set<string>();
  const above = (from: string): void => {
    for (let dir = from; ; dir = dirname(dir)) {
      dirs.add(dir);
      if (dir === dirname(dir)) return;
    }
  };
  above(dirname(path));
  const real = await realpath(dirname(path)).catch(() => null);
  if (real !== null) above(real);
  for (const dir of dirs) {
    let st;
    try {
      st = await lstat(dir);
    } catch (e) {
      return `cannot look at ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
    }
    if (!trustedUid(st.uid)) return `${dir} belongs to uid ${st.uid}, who could replace the agent's socket`;
    // A symlink's own mode bits mean nothing (symlink(7)).
    if (!st.isSymbolicLink() && (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0)
      return `${dir} is writable by others than its owner, who could replace the agent's socket`;
  }
  return null;
}

/**
 * One status call to whatever listens at `path`, bounded in time and size. Never throws.
 * `checkNetns` false skips the namespace check (unit tests of the protocol part).
 */
export async function probeAgent(
  path: string,
  opts: { timeoutMs?: number; checkNetns?: boolean } = {},
): Promise<ProbeOutcome> {
  const timeoutMs = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
  try {
    const st = await lstat(path);
    if (!st.isSocket()) return { ok: false, kind: 'not-socket', reason: `${path} is not a socket` };
    const untrusted = await untrustedPath(path, st.uid);
    if (untrusted !== null) return { ok: false, kind: 'foreign-owner', reason: untrusted };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      return { ok: false, kind: 'absent', reason: `no agent at ${path}` };
    if (code === 'EACCES') return { ok: false, kind: 'denied', reason: deniedReason(path) };
    return { ok: false, kind: 'error', reason: `cannot look at ${path}: ${code ?? String(e)}` };
  }
  const answer = await new Promise<ProbeOutcome>((resolve) => {
    const sock = connect(path);
    let done = false;
    const finish = (o: ProbeOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(o);
    };
    const timer = setTimeout(
      () =>
        finish({
          ok: false,
          kind: 'timeout',
          reason: `whatever listens at ${path} did not answer a status call within ${timeoutMs} ms`,
        }),
      timeoutMs,
    );
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED')
        finish({ ok: false, kind: 'refused', reason: `nothing listens at ${path} (a stale socket file)` });
      else if (e.code === 'EACCES' || e.code === 'EPERM')
        finish({ ok: false, kind: 'denied', reason: deniedReason(path) });
      else finish({ ok: false, kind: 'error', reason: `cannot reach ${path}: ${e.code ?? e.message}` });
    });
    sock.on('close', () =>
      finish({ ok: false, kind: 'garbage', reason: `${path} closed the connection without answering` }),
    );
    let lines = 0;
    void readLines(sock, {
      maxLineBytes: PROBE_MAX_LINE_BYTES,
      onOversize: () => finish({ ok: false, kind: 'garbage', reason: `${path} sent a line no agent sends` }),
      onLine: (line) => {
        if (++lines > PROBE_MAX_LINES) {
          finish({ ok: false, kind: 'garbage', reason: `${path} did not answer the status call` });
          return;
        }
        let msg;
        try {
          msg = ServerMessageSchema.parse(JSON.parse(line));
        } catch {
          finish({ ok: false, kind: 'garbage', reason: `${path} does not speak the agent protocol` });
          return;
        }
        if (msg.t !== 'result' || msg.id !== 1) return; // an event before our answer
        if (!msg.result.ok) {
          finish({
            ok: false,
            kind: 'error',
            reason: `the agent at ${path} answered ${msg.result.error.code}: ${msg.result.error.message}`,
          });
          return;
        }
        const status = KernelStatusSchema.safeParse(msg.result.value);
        if (!status.success) {
          finish({
            ok: false,
            kind: 'garbage',
            reason: `${path} answered the status call with something else`,
          });
          return;
        }
        finish({ ok: true, status: status.data });
      },
    });
    sock.on('connect', () => {
      sock.write(`${JSON.stringify({ t: 'call', id: 1, method: 'mptcp:status:get', args: {} })}\n`);
    });
  });
  if (!answer.ok) return answer;
  if (!answer.status.privileges.netAdmin) {
    return {
      ok: false,
      kind: 'unprivileged',
      reason: `the agent at ${path} has no CAP_NET_ADMIN, so it could not write either`,
    };
  }
  if (opts.checkNetns !== false) {
    const listener = await listenerOf(path);
    if (listener === false) {
      return {
        ok: false,
        kind: 'other-netns',
        reason: `the agent at ${path} runs in another network namespace: its changes would not apply here`,
      };
    }
    // The file's owner is checked above; the listener's creator too (a socket bound by root can
    // be handed to another process): the answer came from that user's process.
    if (listener !== null && listener.uid !== null && !trustedUid(listener.uid)) {
      return {
        ok: false,
        kind: 'foreign-owner',
        reason: `the socket at ${path} was opened by uid ${listener.uid}, not root: it is not the privileged agent`,
      };
    }
  }
  return answer;
}

function deniedReason(path: string): string {
  const user = currentUser();
  return `permission denied on ${path}: ${user} is not in group ${AGENT_GROUP} in this session (join it, then log in again)`;
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'this user');
  }
}

/** Members of a group by /etc/group (no NSS: what groupadd/usermod write), or null when it has none. */
function readGroup(text: string, group: string): { gid: number; members: string[] } | null {
  for (const line of text.split('\n')) {
    const [name, , gid, members] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) {
      return { gid: Number(gid), members: (members ?? '').split(',').filter((m) => m !== '') };
    }
  }
  return null;
}

/** The repository (or installed package) root, when this runs from one: for the unit's path. */
function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return null;
}

const UNIT_DIRS = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/** The way that needs an administrator once: the shipped unit, and this user in its group. */
export async function setupAdvice(etcGroup = '/etc/group'): Promise<AgentAccess['setup']> {
  const user = currentUser();
  const text = await readFile(etcGroup, 'utf8').catch(() => '');
  const group = readGroup(text, AGENT_GROUP);
  const primaryGid = (() => {
    try {
      return userInfo().gid;
    } catch {
      return -1;
    }
  })();
  const userInGroup = group !== null && (group.members.includes(user) || group.gid === primaryGid);
  const commands: string[] = [];
  if (!group) commands.push(`sudo groupadd --system ${AGENT_GROUP}`);
  if (!userInGroup) commands.push(`sudo usermod -aG ${AGENT_GROUP} ${user}`);
  if (!UNIT_DIRS.some((d) => existsSync(join(d, `${AGENT_UNIT}.service`)))) {
    const root = packageRoot();
    const unit = root ? join(root, 'packaging', `${AGENT_UNIT}.service`) : `packaging/${AGENT_UNIT}.service`;
    commands.push(`sudo cp ${unit} /etc/systemd/system/`, 'sudo systemctl daemon-reload');
  }
  commands.push(`sudo systemctl enable --now ${AGENT_UNIT}`);
  return { group: AGENT_GROUP, user, userInGroup, commands };
}

/** The first executable `name` on PATH, or null. */
function which(name: string, path = process.env.PATH ?? '/usr/bin:/bin'): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir.startsWith('/')) continue;
    const p = join(dir, name);
    try {
      const st = statSync(p);
      if (st.isFile() && (st.mode & 0o111) !== 0) return p;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Why root must not run `path`, or null: pkexec runs the launcher as root, so it, every directory
 * above it (and above its real path, through symlinks) must be owned by root and writable by
 * nobody else — a sticky directory such as /tmp excepted, where others cannot rename or remove
 * root's entries. Otherwise whoever may write it would have their code run as root.
 */
export function untrustedLauncher(path: string): string | null {
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    return `${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
  }
  const seen = new Set<string>();
  for (const start of [path, real]) {
    for (let p = start; !seen.has(p); p = dirname(p)) {
      seen.add(p);
      let st;
      try {
        st = lstatSync(p);
      } catch (e) {
        return `cannot look at ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
      }
      if (st.uid !== 0) return `${p} belongs to uid ${st.uid}, not root`;
      const sticky = st.isDirectory() && (st.mode & 0o1000) !== 0;
      // A symlink's own mode bits mean nothing (symlink(7)).
      if (!st.isSymbolicLink() && (st.mode & 0o022) !== 0 && !sticky)
        return `${p} is writable by others than root`;
      if (p === dirname(p)) break;
    }
  }
  return null;
}

export interface LauncherChoice {
  /** The launcher pkexec runs, or null. */
  path: string | null;
  /** Why a launcher that is there is not used (it, or a directory above it, others may write). */
  refused: string | null;
}

/**
 * The launcher pkexec runs: the env override, the installed one, or the source tree's — each only
 * when root alone can change it (untrustedLauncher).
 */
export function agentLauncher(env: NodeJS.ProcessEnv = process.env): LauncherChoice {
  const fromEnv = env[AGENT_LAUNCHER_ENV];
  const root = packageRoot();
  const candidates =
    fromEnv && fromEnv.startsWith('/')
      ? [fromEnv]
      : [
          INSTALLED_AGENT_LAUNCHER,
          ...(root ? [join(root, 'packaging', 'polkit', 'mptcp-studio-agent-launch')] : []),
        ];
  let refused: string | null = null;
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    const why = untrustedLauncher(c);
    if (why === null) return { path: c, refused: null };
    refused ??= `the agent launcher ${c} is not used: ${why}, who could have it run their code as root`;
  }
  return { path: null, refused };
}

/** The launcher pkexec runs (agentLauncher), or null. */
export function agentLauncherPath(env: NodeJS.ProcessEnv = process.env): string | null {
  return agentLauncher(env).path;
}

/** Runs argv (never a shell) with a time limit; resolves with the exit code (null: killed, or not started). */
function run(argv: [string, ...string[]], timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd, args, { stdio: 'ignore' });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', () => {
      clearTimeout(t);
      resolve(null);
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

export interface PolkitCheck {
  available: boolean;
  reason: string | null;
  pkexec: string | null;
  launcher: string | null;
}

/** pkexec present and setuid root, the launcher present, and a polkit daemon answering on the system bus. */
/** How long a polkit ping's answer is reused: every status call of every client asks. */
export const POLKIT_ANSWER_TTL_MS = 10_000;
/** A forced ping ("Check again") reuses an answer at most this old. */
const POLKIT_FRESH_MIN_MS = 1000;
/** The last ping, by dbus-send path; while it runs, every caller waits for the same one. */
let lastPing: { dbusSend: string; atMs: number; answer: Promise<boolean>; done: boolean } | null = null;

/**
 * Whether a polkit daemon answers on the system bus: one `dbus-send` (Peer.Ping, which starts
 * polkitd by D-Bus activation if it is installed but idle), its answer reused for
 * POLKIT_ANSWER_TTL_MS (`fresh`: for POLKIT_FRESH_MIN_MS), and never two at once.
 */
function pingPolkit(dbusSend: string, fresh: boolean): Promise<boolean> {
  const now = Date.now();
  const maxAgeMs = fresh ? POLKIT_FRESH_MIN_MS : POLKIT_ANSWER_TTL_MS;
  if (lastPing?.dbusSend === dbusSend && (!lastPing.done || now - lastPing.atMs < maxAgeMs))
    return lastPing.answer;
  const answer = run(
    [
      dbusSend,
      '--system',
      '--print-reply',
      '--reply-timeout=2000',
      '--dest=org.freedesktop.PolicyKit1',
      '/org/freedesktop/PolicyKit1/Authority',
      'org.freedesktop.DBus.Peer.Ping',
    ],
    3000,
  ).then((code) => code === 0);
  const ping = { dbusSend, atMs: now, answer, done: false };
  lastPing = ping;
  // Its age counts from its answer: a 3 s ping is not stale as soon as it ends.
  void answer.then(() => {
    ping.atMs = Date.now();
    ping.done = true;
  });
  return answer;
}

export async function checkPolkit(
  env: NodeJS.ProcessEnv = process.env,
  opts: { fresh?: boolean } = {},
): Promise<PolkitCheck> {
  const pkexec = which('pkexec', env.PATH);
  const chosen = agentLauncher(env);
  const launcher = chosen.path;
  const no = (reason: string): PolkitCheck => ({ available: false, reason, pkexec, launcher });
  if (!pkexec) return no('pkexec is not installed (Debian: apt install pkexec)');
  const st = statSync(pkexec);
  if (st.uid !== 0 || (st.mode & 0o4000) === 0) return no(`${pkexec} is not setuid root`);
  if (!launcher)
    return no(chosen.refused ?? `the agent launcher is not installed (${INSTALLED_AGENT_LAUNCHER})`);
  const dbusSend = which('dbus-send', env.PATH);
  if (!dbusSend)
    return no('dbus-send is not installed, so polkit cannot be asked (Debian: apt install dbus-bin)');
  if (!(await pingPolkit(dbusSend, opts.fresh === true)))
    return no('no polkit daemon answers on the system bus');
  return { available: true, reason: null, pkexec, launcher };
}

type Listener = <E extends EventName>(event: E, payload: EventPayload<E>) => void;

/** What the host's `mptcp:agent:*` handlers need (shared/agent-access.ts). */
export interface AgentAccessControl {
  access(opts?: { recheck?: boolean }): Promise<AgentAccess>;
  startAgent(): Promise<AgentAccess>;
}

export interface DiscoveryOptions {
  socketPath?: string;
  probeTimeoutMs?: number;
  /** How often the socket file is looked at; 0: only on request (tests, one-shot CLI commands). */
  watchIntervalMs?: number;
  /** One line per change of state (the host's stderr by default). */
  log?: (line: string) => void;
  /** Log only what is wrong with a socket that is there (one-shot CLI commands: no news is good news). */
  quiet?: boolean;
  /** The backend for a found agent (tests inject one). */
  openAgent?: (path: string, onGone: () => void) => EngineBackend;
  /** Skip the namespace check (unit tests of the protocol part). */
  checkNetns?: boolean;
  env?: NodeJS.ProcessEnv;
  /** How long an agent handed to systemd has to listen (default STARTED_LISTEN_WITHIN_MS). */
  startedListenWithinMs?: number;
}

/**
 * The backend of an unprivileged host without agent flags: the local engine (reads) until an
 * agent answers at the socket, then that agent for everything (as `--agent-socket` does), and
 * back to the local engine, read-only, when it goes away. Kernel event subscriptions follow
 * the switch, as in the Fleet host switcher (src-main/host/fleet/switchable-backend.ts).
 */
export class DiscoveringBackend implements EngineBackend, AgentAccessControl {
  readonly handlers: KernelHandlers;
  readonly socketPath: string;
  private current: EngineBackend;
  private agent: EngineBackend | null = null;
  private readonly listeners = new Set<Listener>();
  private stopCurrentEvents: (() => void) | null = null;
  private watchers = 0;
  private reason: string | null = null;
  private checkedAtMs: number | null = null;
  /** The socket file as last probed (inode and change time): a different one is probed at once. */
  private probedFile: string | null = null;
  private probing: Promise<void> | null = null;
  private readonly ready: Promise<void>;
  private readonly timer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastLog: string | null = null;
  private starting: Promise<AgentAccess> | null = null;
  /** When pkexec last ended without starting the agent (refused, dismissed, failed). */
  private startRefusedAtMs: number | null = null;
  private readonly opts: DiscoveryOptions;

  constructor(
    private readonly local: EngineBackend,
    opts: DiscoveryOptions = {},
  ) {
    this.opts = opts;
    this.socketPath = opts.socketPath ?? agentSocketPath(opts.env);
    this.current = local;
    const handlers: Record<string, (args: unknown) => Promise<unknown>> = {};
    for (const m of kernelMethodNames) {
      handlers[m] = async (args) => {
        await this.ready;
        return (this.current.handlers as unknown as Record<string, (a: unknown) => Promise<unknown>>)[m]!(
          args,
        );
      };
    }
    handlers['mptcp:events:watch'] = async (args) => {
      await this.ready;
      const on = (args as { on: boolean }).on;
      this.watchers = Math.max(0, this.watchers + (on ? 1 : -1));
      return this.current.handlers['mptcp:events:watch']({ on });
    };
    this.handlers = handlers as unknown as KernelHandlers;
    this.listen(local);
    this.ready = this.recheck().catch(() => undefined);
    const every = opts.watchIntervalMs ?? WATCH_INTERVAL_MS;
    if (every > 0) {
      this.timer = setInterval(() => void this.watch(), every);
      this.timer.unref();
    }
  }

  private log(line: string): void {
    if (line === this.lastLog) return;
    this.lastLog = line;
    (this.opts.log ?? ((l: string) => process.stderr.write(`mptcp-studio: ${l}\n`)))(line);
  }

  private listen(b: EngineBackend): void {
    this.stopCurrentEvents?.();
    this.stopCurrentEvents =
      b.onEvent?.((event, payload) => {
        for (const l of this.listeners) l(event, payload);
      }) ?? null;
  }

  /** The agent in use, if any. */
  usingAgent(): boolean {
    return this.agent !== null;
  }

  private async fileSignature(): Promise<string | null> {
    try {
      const st = await lstat(this.socketPath);
      return `${st.dev}:${st.ino}:${st.ctimeMs}`;
    } catch {
      return null;
    }
  }

  /** The periodic look: one lstat; a probe only when the file changed (or long after a failure). */
  private async watch(): Promise<void> {
    if (this.closed || this.probing || this.starting) return;
    const sig = await this.fileSignature();
    const stale = this.checkedAtMs === null || Date.now() - this.checkedAtMs > REPROBE_UNCHANGED_MS;
    if (sig !== this.probedFile || (this.agent === null && sig !== null && stale)) await this.recheck();
  }

  /** Probe the socket now and switch to or away from the agent accordingly. */
  recheck(): Promise<void> {
    if (this.probing) return this.probing;
    this.probing = (async () => {
      const sig = await this.fileSignature();
      const outcome = await probeAgent(this.socketPath, {
        ...(this.opts.probeTimeoutMs !== undefined ? { timeoutMs: this.opts.probeTimeoutMs } : {}),
        ...(this.opts.checkNetns === false ? { checkNetns: false } : {}),
      });
      this.probedFile = sig;
      this.checkedAtMs = Date.now();
      if (this.closed) return;
      if (outcome.ok) {
        this.reason = null;
        if (!this.agent) await this.switchTo(this.openAgent());
        if (!this.opts.quiet) this.log(`writing through the privileged agent at ${this.socketPath}`);
      } else {
        this.reason = outcome.reason;
        if (this.agent) await this.switchTo(null);
        if (!this.opts.quiet || outcome.kind !== 'absent') this.log(`read-only: ${outcome.reason}`);
      }
    })().finally(() => {
      this.probing = null;
    });
    return this.probing;
  }

  private openAgent(): EngineBackend {
    const onGone = (): void => {
      // The connection dropped (agent stopped or restarted): look again, soon but not in a loop.
      setTimeout(() => void this.recheck(), 200).unref();
    };
    return this.opts.openAgent
      ? this.opts.openAgent(this.socketPath, onGone)
      : new SocketBackend(this.socketPath, { onClose: onGone });
  }

  private async switchTo(agent: EngineBackend | null): Promise<void> {
    const prevAgent = this.agent;
    const next = agent ?? this.local;
    const prev = this.current;
    this.agent = agent;
    this.current = next;
    this.listen(next);
    if (this.watchers > 0) {
      await next.handlers['mptcp:events:watch']({ on: true }).catch(() => undefined);
      if (prev === this.local)
        await prev.handlers['mptcp:events:watch']({ on: false }).catch(() => undefined);
    }
    if (prevAgent) await Promise.resolve(prevAgent.close()).catch(() => undefined);
  }

  async access(opts: { recheck?: boolean } = {}): Promise<AgentAccess> {
    await this.ready;
    if (opts.recheck) await this.recheck();
    const [setup, polkit] = await Promise.all([
      setupAdvice(),
      this.agent ? null : checkPolkit(this.opts.env, { fresh: opts.recheck === true }),
    ]);
    return {
      mode: this.agent ? 'agent' : 'read-only',
      socketPath: this.socketPath,
      reason: this.reason,
      checkedAtMs: this.checkedAtMs,
      setup,
      polkit: {
        available: polkit?.available ?? false,
        reason: polkit ? polkit.reason : 'the agent is running',
        actionId: AGENT_POLKIT_ACTION_ID,
      },
    };
  }

  /**
   * Start the agent through pkexec (argv, never a shell: pkexec LAUNCHER, which takes no
   * arguments) and use it once it answers. Resolves when it does; fails with pkexec's own words
   * when the administrator refused or dismissed the dialog.
   */
  startAgent(): Promise<AgentAccess> {
    if (this.starting) return this.starting;
    this.starting = this.start().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async start(): Promise<AgentAccess> {
    await this.ready;
    if (this.agent) return this.access();
    const polkit = await checkPolkit(this.opts.env);
    if (!polkit.available || !polkit.pkexec || !polkit.launcher) {
      throw new ApiFailure(
        'UNSUPPORTED',
        `cannot start the agent through polkit: ${polkit.reason ?? 'unavailable'}`,
      );
    }
    const sinceRefusedMs = this.startRefusedAtMs === null ? null : Date.now() - this.startRefusedAtMs;
    if (sinceRefusedMs !== null && sinceRefusedMs >= 0 && sinceRefusedMs < START_RETRY_AFTER_MS) {
      throw new ApiFailure(
        'EBUSY',
        `the agent was not started ${Math.round(sinceRefusedMs / 1000)} s ago: try again in ${Math.ceil((START_RETRY_AFTER_MS - sinceRefusedMs) / 1000)} s`,
      );
    }
    if (this.socketPath !== DEFAULT_AGENT_SOCKET) {
      // The launcher listens only at the default path (it takes no arguments).
      throw new ApiFailure(
        'UNSUPPORTED',
        `the launcher listens at ${DEFAULT_AGENT_SOCKET}, but this host looks at ${this.socketPath}`,
      );
    }
    this.log(`starting the privileged agent: ${polkit.pkexec} ${polkit.launcher}`);
    const child = spawn(polkit.pkexec, [polkit.launcher], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true, // the agent outlives this host, as the systemd unit's would
    });
    let stderrTail = '';
    // Read to the end (only pkexec's own words come here: the launcher logs the agent elsewhere).
    child.stderr?.on('data', (d: Buffer) => (stderrTail = (stderrTail + d.toString()).slice(-1000)));
    let exit: { code: number | null; signal: string | null } | null = null;
    child.once('exit', (code, signal) => (exit = { code, signal }));
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    child.unref();
    let failed: Error | null = null;
    void spawnError.then((e) => (failed = e));
    const deadline = Date.now() + START_TIMEOUT_MS;
    let endedOkAtMs: number | null = null;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      if (failed) throw new ApiFailure('INTERNAL', `pkexec did not start: ${(failed as Error).message}`);
      if (existsSync(this.socketPath)) {
        await this.recheck();
        if (this.agent) {
          this.log(`the privileged agent started through pkexec listens at ${this.socketPath}`);
          return this.access();
        }
      }
      const ended = exit as { code: number | null; signal: string | null } | null;
      // Exit 0: the launcher handed the agent to systemd (systemd-run) and returned; it may take a
      // moment to listen, but not forever.
      if (ended?.code === 0) {
        endedOkAtMs ??= Date.now();
        const withinMs = this.opts.startedListenWithinMs ?? STARTED_LISTEN_WITHIN_MS;
        if (Date.now() - endedOkAtMs < withinMs) continue;
        throw new ApiFailure(
          'TIMEOUT',
          `the launcher started the agent, but nothing answered at ${this.socketPath} within ${withinMs / 1000} s (journalctl -u mptcp-studio-agent-pkexec)`,
        );
      }
      if (ended) {
        // pkexec(1): 126 = not authorized or dismissed, 127 = not authorized or an error.
        const words = stderrTail.trim() || `exit ${ended.code ?? ended.signal}`;
        this.startRefusedAtMs = Date.now();
        this.log(`pkexec did not start the agent: ${words}`);
        throw new ApiFailure('EPERM', `the agent was not started: ${words}`);
      }
    }
    throw new ApiFailure(
      'TIMEOUT',
      `no agent listened at ${this.socketPath} within ${START_TIMEOUT_MS / 1000} s`,
    );
  }

  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.stopCurrentEvents?.();
    await this.probing?.catch(() => undefined);
    if (this.agent) await Promise.resolve(this.agent.close()).catch(() => undefined);
    await this.local.close();
  }
}

/**
 * The answer of a host that looks for no agent: it writes itself (CAP_NET_ADMIN) or was told where
 * to go (`--agent-socket`, `--netns`). The setup advice is still given, for a host that cannot
 * write for another reason (a read-only sysctl, another namespace).
 */
export async function directAgentAccess(): Promise<AgentAccess> {
  return {
    mode: 'direct',
    socketPath: agentSocketPath(),
    reason: null,
    checkedAtMs: null,
    setup: await setupAdvice(),
    polkit: {
      available: false,
      reason:
        'this host does not look for the agent: it writes itself, or was given --agent-socket or --netns',
      actionId: AGENT_POLKIT_ACTION_ID,
    },
  };
}
