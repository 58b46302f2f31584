/**
 * Profiles: the built-in presets (read-only) plus the user's own, stored one per file as
 * `<profilesDir>/<encodeURIComponent(name)>.json` (directory 0700, files 0600: a profile can name
 * the host's addresses and interfaces, which is nobody else's business).
 *
 * - Every write goes through parseProfile first and lands atomically (temp file, fsync, rename),
 *   so a crash or a refused profile never leaves a half-written or invalid file.
 * - Every read goes through parseProfile too. A file that fails (hand-edited, from a newer
 *   version, truncated) is still listed, under its name, with a description saying it is
 *   unreadable and why, so the user can see it and delete it; get/export of it fail with EINVAL.
 *   One bad file never hides the others.
 * - Files the app did not write are ignored: dotfiles (our temp files), non-.json files, and
 *   names that do not decode to a valid profile name in the canonical encoding (so two files can
 *   never claim the same profile). A file named like a built-in preset is shadowed by the preset.
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseProfile, type MptcpConfig, type Profile } from '../../shared/config';
import { ProfileNameSchema, type ProfileSummary } from '../../shared/config-api';
import type { HostHandlers } from '../../shared/contract';
import { formatExport } from '../../shared/export-formats';
import { findPreset, presets } from '../../shared/presets';
import { ApiFailure, type ErrorCode } from '../../shared/result';
import type { HostDeps } from './deps';

export type ProfileMethodName =
  | 'mptcp:profiles:list'
  | 'mptcp:profiles:get'
  | 'mptcp:profiles:save'
  | 'mptcp:profiles:rename'
  | 'mptcp:profiles:delete'
  | 'mptcp:profiles:import'
  | 'mptcp:profiles:export';
export type ProfileHandlers = Pick<HostHandlers, ProfileMethodName>;

export interface ProfileOptions {
  /** Clock for the export timestamp (tests). */
  now?: () => Date;
}

/** Same cap as the import argument: a profile is small; anything bigger is not one of ours. */
const MAX_FILE_BYTES = 1_000_000;
/** NAME_MAX on Linux file systems, in bytes; an encoded name is ASCII. */
const NAME_MAX = 255;

/** The name "current state" exports carry (as a profile, it imports under this name). */
export const CURRENT_STATE_NAME = 'current state';

type Stored = { ok: true; profile: Profile } | { ok: false; reason: string };

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The profile name rules of the contract, for names that arrive inside a profile (save, import). */
function nameProblem(name: string): string | null {
  const r = ProfileNameSchema.safeParse(name);
  return r.success ? null : (r.error.issues[0]?.message ?? 'invalid');
}

function fileNameFor(name: string, code: ErrorCode): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(name);
  } catch {
    // encodeURIComponent refuses lone UTF-16 surrogates.
    throw new ApiFailure(code, `name: "${name}" is not valid Unicode text`);
  }
  const file = `${encoded}.json`;
  if (file.length > NAME_MAX) {
    throw new ApiFailure(
      code,
      `name: "${name}" is too long to store (${file.length} bytes as a file name, at most ${NAME_MAX}); use a shorter name`,
    );
  }
  return file;
}

/** Text to store: validated by the same parser that reads it back, written in its normalised form. */
function serialise(profile: Profile, code: ErrorCode): { text: string; profile: Profile } {
  const r = parseProfile(JSON.stringify(profile));
  if (!r.ok) throw new ApiFailure(code, r.errors.join('; '));
  return { text: JSON.stringify(r.profile, null, 2) + '\n', profile: r.profile };
}

const summaryOf = (p: Profile, builtIn: boolean): ProfileSummary => ({
  name: p.name,
  description: p.description ?? '',
  builtIn,
});

export function profileHandlers(deps: HostDeps, opts: ProfileOptions = {}): ProfileHandlers {
  const dir = deps.profilesDir;
  const now = opts.now ?? (() => new Date());

  /** Names a user may write to: valid for the contract and not a built-in preset. */
  function writableFile(name: string, code: ErrorCode): string {
    const problem = nameProblem(name);
    if (problem) throw new ApiFailure(code, `name: ${problem}`);
    if (findPreset(name)) {
      throw new ApiFailure(
        code,
        `"${name}" is a built-in profile and cannot be changed; save a copy under another name`,
      );
    }
    return fileNameFor(name, code);
  }

  /** null when there is no such file. */
  async function readStored(file: string, name: string): Promise<Stored | null> {
    let text: string;
    try {
      const fh = await open(join(dir, file), 'r');
      try {
        const st = await fh.stat();
        if (!st.isFile()) return { ok: false, reason: 'not a regular file' };
        if (st.size > MAX_FILE_BYTES) return { ok: false, reason: `larger than ${MAX_FILE_BYTES} bytes` };
        text = await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return null;
      return { ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
    const r = parseProfile(text);
    if (!r.ok) return { ok: false, reason: r.errors.join('; ') };
    if (r.profile.name !== name) {
      return { ok: false, reason: `the name inside the file is "${r.profile.name}", not "${name}"` };
    }
    return { ok: true, profile: r.profile };
  }

  async function load(name: string): Promise<{ profile: Profile; builtIn: boolean }> {
    const preset = findPreset(name);
    if (preset) return { profile: structuredClone(preset.profile), builtIn: true };
    const file = fileNameFor(name, 'ENOENT');
    const stored = await readStored(file, name);
    if (!stored) throw new ApiFailure('ENOENT', `no profile named "${name}"`);
    if (!stored.ok)
      throw new ApiFailure('EINVAL', `profile "${name}" (file ${file}) is unreadable: ${stored.reason}`);
    return { profile: stored.profile, builtIn: false };
  }

  /**
   * Write `text` to `file` through a temp file in the same directory. `replace` overwrites
   * (rename); `create` refuses an existing file atomically (link fails with EEXIST), so a rename
   * racing another save cannot clobber it.
   */
  async function writeAtomic(file: string, text: string, mode: 'replace' | 'create'): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.tmp-${randomUUID()}`);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(text, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (mode === 'replace') await rename(tmp, join(dir, file));
      else {
        await link(tmp, join(dir, file));
        await unlink(tmp);
      }
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await syncDir();
  }

  /** Make the rename itself durable; best effort (some file systems refuse fsync on a directory). */
  async function syncDir(): Promise<void> {
    try {
      const d = await open(dir, 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    } catch {
      // The data is written either way; only a power cut right now could lose the rename.
    }
  }

  async function save(profile: Profile, code: ErrorCode): Promise<Profile> {
    const file = writableFile(profile.name, code);
    const s = serialise(profile, code);
    await writeAtomic(file, s.text, 'replace');
    return s.profile;
  }

  async function listStored(): Promise<ProfileSummary[]> {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return []; // nothing saved yet
      throw err;
    }
    const out = await Promise.all(
      entries.map(async (entry): Promise<ProfileSummary | null> => {
        if (entry.startsWith('.') || !entry.endsWith('.json')) return null;
        const stem = entry.slice(0, -'.json'.length);
        let name: string;
        try {
          name = decodeURIComponent(stem);
        } catch {
          return null;
        }
        if (encodeURIComponent(name) !== stem || nameProblem(name) || findPreset(name)) return null;
        const stored = await readStored(entry, name);
        if (!stored) return null; // deleted meanwhile
        if (stored.ok) return summaryOf(stored.profile, false);
        return {
          name,
          description: `Unreadable profile file ${entry}: ${stored.reason}. Delete it, or fix the file by hand.`,
          builtIn: false,
        };
      }),
    );
    return out
      .filter((s): s is ProfileSummary => s !== null)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  return {
    'mptcp:profiles:list': async () => [
      ...presets.map((p) => summaryOf(p.profile, true)),
      ...(await listStored()),
    ],

    'mptcp:profiles:get': async ({ name }) => (await load(name)).profile,

    'mptcp:profiles:save': async ({ profile }) => summaryOf(await save(profile, 'BAD_REQUEST'), false),

    'mptcp:profiles:rename': async ({ from, to }) => {
      const fromFile = writableFile(from, 'BAD_REQUEST');
      const toFile = writableFile(to, 'BAD_REQUEST');
      const { profile } = await load(from);
      if (from === to) return summaryOf(profile, false);
      const s = serialise({ ...profile, name: to }, 'EINVAL');
      try {
        await writeAtomic(toFile, s.text, 'create');
      } catch (err) {
        if (errnoOf(err) === 'EEXIST')
          throw new ApiFailure('EEXIST', `a profile named "${to}" already exists`);
        throw err;
      }
      await unlink(join(dir, fromFile));
      return summaryOf(s.profile, false);
    },

    'mptcp:profiles:delete': async ({ name }) => {
      const file = writableFile(name, 'BAD_REQUEST');
      try {
        await unlink(join(dir, file));
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') throw new ApiFailure('ENOENT', `no profile named "${name}"`);
        throw err;
      }
      return {};
    },

    // A file's content is the user's input: every problem with it, the name included, is EINVAL
    // with the field and the rule, and nothing is written.
    'mptcp:profiles:import': async ({ text }) => {
      const r = parseProfile(text);
      if (!r.ok) throw new ApiFailure('EINVAL', r.errors.join('; '));
      return save(r.profile, 'EINVAL');
    },

    'mptcp:profiles:export': async ({ name, format }) => {
      let config: MptcpConfig;
      let meta: { name: string; description?: string };
      if (name === null) {
        config = await deps.kernel['mptcp:config:export']({});
        meta = { name: CURRENT_STATE_NAME };
      } else {
        const { profile } = await load(name);
        config = profile.config;
        meta = profile.description === undefined ? { name } : { name, description: profile.description };
      }
      try {
        return formatExport(config, format, { ...meta, generatedAt: now().toISOString() });
      } catch (err) {
        throw new ApiFailure('EINVAL', err instanceof Error ? err.message : String(err));
      }
    },
  };
}
