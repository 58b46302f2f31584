/**
 * The config journal: what an apply is about to change, written durably before its first step, so
 * that an engine killed half-way (SIGKILL, OOM, power to the process cut) does not leave a mixed
 * state behind. The next engine in the same namespace reads it and undoes the plan before doing
 * anything else (config-manager.ts reconcile).
 *
 * One file per network namespace, named by its identity (../netns-identity.ts), in /run/mptcp-studio
 * (tmpfs: gone at reboot, like the kernel state it describes; the systemd unit's
 * RuntimeDirectory):
 *
 *   config-netns-<ino>-<cookie>.json      the journal; JSON, JournalEntrySchema
 *   ….json.tmp-<pid>-<random>             a version being written (never read)
 *   ….json.claim-<pid>-<starttime>        a journal an engine took over from a dead holder
 *
 * Lifecycle: `begin` (phase "applying", the plan and the state before) before the first step;
 * removed when the apply ends (done, or failed and rolled back); rewritten as phase "pending" with
 * the deadline when the change awaits confirmation, "reverting" while it is being reverted, and
 * removed once confirmed or reverted.
 *
 * Durability (fsync(2), rename(2), link(2)): a version is written to a temp file in the same
 * directory and fsync'd, then put in place atomically, then the directory is fsync'd so that the
 * name itself is durable. Nobody ever sees a torn journal. A new journal is put in place with
 * link(2), which fails with EEXIST instead of replacing: a second engine in the namespace cannot
 * overwrite the journal of one that is applying. Taking over a journal is a rename(2) to a name
 * that carries the new holder: of two engines starting at once exactly one succeeds, the other
 * gets ENOENT.
 *
 * Holders are named by pid and start time (proc(5): /proc/<pid>/stat field 22, clock ticks since
 * boot), so a recycled pid does not pass for the engine that wrote the journal.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { z } from 'zod';
import { StepSchema } from '../../../shared/config-api';
import type { Step } from '../../../shared/plan';
import { ApiFailure } from '../../../shared/result';
import { netnsStatePath, removeForeignStateFiles, type NetnsIdentity } from '../netns-identity';

export const JOURNAL_VERSION = 1;

const HolderSchema = z
  .object({
    pid: z.number().int().min(1),
    /** /proc/<pid>/stat starttime; null when it could not be read. */
    startTicks: z
      .string()
      .regex(/^\d{1,20}$/)
      .nullable(),
  })
  .strict();
export type Holder = z.infer<typeof HolderSchema>;

export const JournalPhaseSchema = z.enum(['applying', 'pending', 'reverting']);
export type JournalPhase = z.infer<typeof JournalPhaseSchema>;

/** Parsed like any input: it sits in a directory other engines write to. */
export const JournalEntrySchema = z
  .object({
    version: z.literal(JOURNAL_VERSION),
    netns: z
      .object({
        ino: z.number().int().min(0),
        cookie: z.string().regex(/^\d{1,20}$/),
        bootId: z.string().max(64),
      })
      .strict(),
    holder: HolderSchema,
    /**
     * applying: the steps are the plan, some may have run. pending: every step ran (endpoint ids as
     * the kernel allocated them), the change reverts at revertAtMs unless confirmed. reverting: a
     * revert of a pending change was under way.
     */
    phase: JournalPhaseSchema,
    /** When the apply started (ms since epoch). */
    startedAtMs: z.number(),
    /** When this version was written. */
    writtenAtMs: z.number(),
    revertAtMs: z.number().nullable(),
    /** stateFingerprint (config-manager.ts) before the apply: what "restored exactly" means. */
    before: z.string().max(8_000_000),
    steps: z.array(StepSchema).max(10_000),
  })
  .strict();
export type JournalEntry = z.infer<typeof JournalEntrySchema>;

export interface JournalDraft {
  phase: JournalPhase;
  startedAtMs: number;
  revertAtMs: number | null;
  before: string;
  steps: Step[];
}

interface ProcStat {
  /** Field 3: R, S, D, Z (zombie), X (dead), ... */
  state: string;
  /** Field 22: start time in clock ticks after boot. */
  startTicks: string;
}

async function readProcStat(pid: number, procRoot: string): Promise<ProcStat | null> {
  try {
    const stat = await readFile(`${procRoot}/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; fields restart after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [state, ticks] = [fields[0], fields[19]]; // fields[0] is field 3, fields[19] field 22
    return state !== undefined && ticks !== undefined && /^\d+$/.test(ticks)
      ? { state, startTicks: ticks }
      : null;
  } catch {
    return null;
  }
}

/** Start time of a process in clock ticks since boot, or null (gone, or no procfs). */
export async function processStartTicks(pid: number, procRoot = '/proc'): Promise<string | null> {
  return (await readProcStat(pid, procRoot))?.startTicks ?? null;
}

/**
 * Is the engine that wrote a journal still running? Dead: no such process, a zombie (killed, not
 * yet reaped), or another process under a recycled pid (another start time).
 */
export async function holderAlive(h: Holder, procRoot = '/proc'): Promise<boolean> {
  const st = await readProcStat(h.pid, procRoot);
  if (st)
    return st.state !== 'Z' && st.state !== 'X' && (h.startTicks === null || st.startTicks === h.startTicks);
  // No /proc entry readable: the signal probe (kill(2) with signal 0) says whether the pid exists.
  try {
    process.kill(h.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A journal file found in the directory, with what is known about its holder. */
export interface JournalFile {
  path: string;
  /** The journal itself or a claim taken by an engine that may have died since. */
  kind: 'journal' | 'claim';
  /** null: unreadable or not a journal of this namespace (discarded by the caller). */
  entry: JournalEntry | null;
  /** Who holds it: the entry's holder, or for a claim the engine named in the file name. */
  holder: Holder | null;
  alive: boolean;
}

export interface JournalScan {
  files: JournalFile[];
  /** Files of a namespace that no longer exists (same inode, another cookie), removed. */
  foreign: string[];
}

export interface JournalOptions {
  /** Default /run/mptcp-studio. */
  dir?: string;
  identity: () => Promise<NetnsIdentity>;
  procRoot?: string;
}

export class ConfigJournal {
  readonly dir: string;
  private readonly procRoot: string;
  private self: Promise<Holder> | null = null;

  constructor(private readonly opts: JournalOptions) {
    this.dir = opts.dir ?? '/run/mptcp-studio';
    this.procRoot = opts.procRoot ?? '/proc';
  }

  /** This process as a holder. */
  me(): Promise<Holder> {
    this.self ??= processStartTicks(process.pid, this.procRoot).then((startTicks) => ({
      pid: process.pid,
      startTicks,
    }));
    return this.self;
  }

  /**
   * Why this namespace cannot have a journal (its identity cannot be read: see
   * ../netns-identity.ts), or null when it can.
   */
  async unavailable(): Promise<string | null> {
    try {
      await this.opts.identity();
      return null;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  }

  async path(): Promise<string> {
    return netnsStatePath(this.dir, 'config', await this.opts.identity());
  }

  private async entryOf(draft: JournalDraft): Promise<JournalEntry> {
    const id = await this.opts.identity();
    return {
      version: JOURNAL_VERSION,
      netns: { ino: id.ino, cookie: id.cookie, bootId: id.bootId },
      holder: await this.me(),
      phase: draft.phase,
      startedAtMs: draft.startedAtMs,
      writtenAtMs: Date.now(),
      revertAtMs: draft.revertAtMs,
      before: draft.before,
      steps: draft.steps,
    };
  }

  /** Write `text` to a new temp file next to `final`, fsync'd; returns its path. */
  private async writeTemp(final: string, text: string): Promise<string> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const tmp = `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return tmp;
  }

  /** fsync(2) the directory: a rename, link or unlink is durable only once its directory is. */
  private async syncDir(): Promise<void> {
    const fh = await open(this.dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /**
   * The journal of a new apply, in place before its first step. Refused (EBUSY, with the holder)
   * when this namespace has one already: another engine is applying or holds a pending change.
   */
  async begin(draft: JournalDraft): Promise<void> {
    const final = await this.path();
    const entry = await this.entryOf(draft);
    const tmp = await this.writeTemp(final, JSON.stringify(entry));
    try {
      await link(tmp, final);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const other = await this.readEntry(final);
      throw new ApiFailure(
        'EBUSY',
        other
          ? `another MPTCP Studio engine (pid ${other.holder.pid}) ${other.phase === 'pending' ? 'holds a change awaiting confirmation' : 'is changing the configuration'} in this network namespace; confirm or revert it there, or wait`
          : `${final} exists: another MPTCP Studio engine is changing the configuration here`,
      );
    } finally {
      await rm(tmp, { force: true });
    }
    await this.syncDir();
  }

  /** A new version by its holder (phase, steps, deadline), replacing the old atomically. */
  async rewrite(draft: JournalDraft): Promise<void> {
    const final = await this.path();
    const tmp = await this.writeTemp(final, JSON.stringify(await this.entryOf(draft)));
    try {
      await rename(tmp, final);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    await this.syncDir();
  }

  /** The journal is done with (or a claim file, given its path). */
  async remove(path?: string): Promise<void> {
    await rm(path ?? (await this.path()), { force: true });
    await this.syncDir().catch(() => undefined);
  }

  private async readEntry(path: string): Promise<JournalEntry | null> {
    try {
      const parsed = JournalEntrySchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /**
   * What this namespace's journal files say. Files of a namespace that reused our inode are
   * removed (and named), temp files of dead writers too.
   */
  async scan(): Promise<JournalScan> {
    const id = await this.opts.identity();
    const foreign = await removeForeignStateFiles(this.dir, 'config', id);
    const final = await this.path();
    const base = final.slice(this.dir.length + 1);
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return { files: [], foreign };
    }
    const files: JournalFile[] = [];
    for (const name of names) {
      if (!name.startsWith(base)) continue;
      const path = `${this.dir}/${name}`;
      const rest = name.slice(base.length);
      const tmp = /^\.tmp-(\d+)-[0-9a-f]+$/.exec(rest);
      if (tmp) {
        if (!(await holderAlive({ pid: Number(tmp[1]), startTicks: null }, this.procRoot)))
          await rm(path, { force: true }).catch(() => undefined);
        continue;
      }
      const claim = /^\.claim-(\d+)-(\d+|x)$/.exec(rest);
      if (rest !== '' && !claim) continue;
      let entry = await this.readEntry(path);
      // A journal of another boot or namespace under our name (a stateDir that outlived a reboot).
      if (
        entry &&
        (entry.netns.cookie !== id.cookie || entry.netns.ino !== id.ino || entry.netns.bootId !== id.bootId)
      )
        entry = null;
      const holder: Holder | null = claim
        ? { pid: Number(claim[1]), startTicks: claim[2] === 'x' ? null : claim[2]! }
        : (entry?.holder ?? null);
      const alive = holder ? await holderAlive(holder, this.procRoot) : false;
      files.push({ path, kind: claim ? 'claim' : 'journal', entry, holder, alive });
    }
    // The journal first, then claims: the order they were taken in does not matter, each is undone.
    files.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'journal' ? -1 : 1));
    return { files, foreign };
  }

  /**
   * Take over a file whose holder is gone: renamed to a claim in our name. Null when another
   * engine took it first.
   */
  async claim(file: JournalFile): Promise<string | null> {
    const me = await this.me();
    const target = `${await this.path()}.claim-${me.pid}-${me.startTicks ?? 'x'}`;
    if (file.path === target) return target;
    try {
      await rename(file.path, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    await this.syncDir();
    return target;
  }

  /**
   * Make a claimed pending change ours: the journal in place again with us as holder (exclusive,
   * as in `begin`), then the claim removed. False when another journal appeared meanwhile.
   */
  async adopt(claimPath: string, draft: JournalDraft): Promise<boolean> {
    const final = await this.path();
    const tmp = await this.writeTemp(final, JSON.stringify(await this.entryOf(draft)));
    try {
      await link(tmp, final);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    } finally {
      await rm(tmp, { force: true });
    }
    await rm(claimPath, { force: true });
    await this.syncDir();
    return true;
  }
}
