/**
 * The subflow check's one touch of namespace state. Its connection must be under the userspace
 * path manager, so that the engine may add subflows to it (MPTCP_PM_CMD_SUBFLOW_CREATE answers
 * "userspace PM not selected" otherwise), and the path manager is chosen when an MPTCP socket is
 * created (net.mptcp.path_manager, "for each new MPTCP socket": Documentation/networking/
 * mptcp-sysctl.rst). So, when the namespace runs the in-kernel path manager, the check sets
 * `userspace`, has its one socket created, and puts the old value back at once: a window of about
 * a millisecond (docs/path-doctor.md "Subflow check"). Checks switch one at a time. A state file
 * written before the switch and removed after it lets the next engine put the value back if this
 * one was killed inside the window.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { netnsStatePath, type NetnsIdentity } from '../netns-identity';

export interface PmSwitchOptions {
  /** Root of the proc tree (default /proc). */
  procRoot?: string;
  /** Where the state file goes (default /run/mptcp-studio). */
  stateDir?: string;
  /** This namespace's identity (names the state file); none: no state file. */
  identity?: () => Promise<NetnsIdentity>;
}

export interface SwitchOutcome<T> {
  value: T;
  /** net.mptcp.path_manager before. */
  before: string;
  /** The check switched to userspace and back. */
  switched: boolean;
}

/** The switch was needed but not allowed. */
export class PmSwitchRefused extends Error {}

export class PmSwitch {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly path: string;
  private readonly stateDir: string;

  constructor(private readonly opts: PmSwitchOptions = {}) {
    this.path = `${opts.procRoot ?? '/proc'}/sys/net/mptcp/path_manager`;
    this.stateDir = opts.stateDir ?? '/run/mptcp-studio';
  }

  async read(): Promise<string> {
    return (await readFile(this.path, 'utf8')).trim();
  }

  private async stateFile(): Promise<string | null> {
    const id = await this.opts.identity?.().catch(() => null);
    return id ? netnsStatePath(this.stateDir, 'probe-pm', id) : null;
  }

  /**
   * A killed check left `userspace` behind: put back what its state file says, if the value is
   * still the one the check set. Returns what was restored.
   */
  async recover(): Promise<string | null> {
    const file = await this.stateFile();
    if (!file) return null;
    let before: string;
    try {
      before = (JSON.parse(await readFile(file, 'utf8')) as { before?: unknown }).before as string;
    } catch {
      return null;
    }
    await rm(file, { force: true });
    if (typeof before !== 'string' || !/^[a-z]{1,32}$/.test(before)) return null;
    if ((await this.read()) !== 'userspace' || before === 'userspace') return null;
    await writeFile(this.path, before);
    return before;
  }

  /**
   * Run `create` (which creates the socket) under the userspace path manager. `allowed`: the
   * user consented to the switch; without it a namespace not under `userspace` is refused here
   * too (the check asks before it starts; the value may have changed since).
   */
  underUserspace<T>(create: () => Promise<T>, opts: { allowed: boolean }): Promise<SwitchOutcome<T>> {
    const run = async (): Promise<SwitchOutcome<T>> => {
      const before = await this.read();
      if (before === 'userspace') return { value: await create(), before, switched: false };
      if (!opts.allowed) {
        throw new PmSwitchRefused(
          `net.mptcp.path_manager is ${before}: switching it to userspace was not allowed (--allow-pm-switch)`,
        );
      }
      const file = await this.stateFile();
      if (file) {
        await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
        await writeFile(file, JSON.stringify({ before, pid: process.pid, atMs: Date.now() }), {
          mode: 0o600,
        });
      }
      await writeFile(this.path, 'userspace');
      try {
        return { value: await create(), before, switched: true };
      } finally {
        // Put it back unless someone else changed it meanwhile (a configuration apply wins).
        if ((await this.read().catch(() => null)) === 'userspace') await writeFile(this.path, before);
        if (file) await rm(file, { force: true });
      }
    };
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => undefined);
    return p;
  }
}
