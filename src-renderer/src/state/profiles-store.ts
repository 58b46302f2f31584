/**
 * The Profiles page's state: the list (built-in presets and the user's own), the profile being
 * viewed, and the outcome of the last action. Import errors are kept as a list of
 * "field: rule" lines so the page can show each one.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import { parseProfile, PROFILE_SCHEMA_VERSION, type Profile } from '../../../shared/config';
import type { ExportFormat, ProfileSummary } from '../../../shared/config-api';
import type { MptcpApi } from '../../../shared/contract';
import { invokeSettled } from '../api/settle';
import type { ApiError, Result } from '../../../shared/result';

export interface ExportedFile {
  filename: string;
  text: string;
}

export interface ProfilesState {
  list: ProfileSummary[] | null;
  listError: ApiError | null;
  loading: boolean;
  viewing: { name: string; profile: Profile | null; error: ApiError | null } | null;
  /** Which action runs now ("save", "rename:<name>", …); buttons are disabled meanwhile. */
  busy: string | null;
  actionError: ApiError | null;
  /** A sentence about the last action that succeeded. */
  message: string | null;
  importErrors: string[] | null;

  refresh: () => Promise<void>;
  view: (name: string | null) => Promise<void>;
  saveCurrent: (name: string, description: string) => Promise<boolean>;
  rename: (from: string, to: string) => Promise<boolean>;
  remove: (name: string) => Promise<boolean>;
  importText: (text: string, fileName: string) => Promise<boolean>;
  exportFile: (name: string | null, format: ExportFormat) => Promise<ExportedFile | null>;
  /** The profile's full content (for "Load into Configure"). */
  get: (name: string) => Promise<Profile | null>;
}

export type ProfilesStore = StoreApi<ProfilesState>;

/**
 * The engine refuses a profile with its parser's sentences joined by "; ". The same parser runs
 * here, so when it refuses too its list is used as is; otherwise the engine's message is split.
 */
export function importErrorList(text: string, error: ApiError): string[] {
  const local = parseProfile(text);
  if (!local.ok) return local.errors;
  return error.message.split('; ').filter((s) => s.trim() !== '');
}

export function createProfilesStore(api: MptcpApi): ProfilesStore {
  return createStore<ProfilesState>()((set, get) => {
    /** Run an action: busy while it runs; its error or success message kept for the page. */
    const act = async <T>(
      busy: string,
      run: () => Promise<Result<T>>,
      done: (value: T) => string,
    ): Promise<T | null> => {
      set({ busy, actionError: null, message: null });
      const r = await run();
      if (!r.ok) {
        set({ busy: null, actionError: r.error });
        return null;
      }
      set({ busy: null, message: done(r.value) });
      return r.value;
    };

    return {
      list: null,
      listError: null,
      loading: false,
      viewing: null,
      busy: null,
      actionError: null,
      message: null,
      importErrors: null,

      refresh: async () => {
        set({ loading: true });
        const r = await invokeSettled(api, 'mptcp:profiles:list', {});
        if (r.ok) set({ list: r.value, listError: null, loading: false });
        else set({ listError: r.error, loading: false });
      },

      view: async (name) => {
        if (name === null || get().viewing?.name === name) {
          set({ viewing: null });
          return;
        }
        set({ viewing: { name, profile: null, error: null } });
        const r = await invokeSettled(api, 'mptcp:profiles:get', { name });
        if (get().viewing?.name !== name) return;
        set({ viewing: { name, profile: r.ok ? r.value : null, error: r.ok ? null : r.error } });
      },

      saveCurrent: async (name, description) => {
        const saved = await act(
          'save',
          async () => {
            const exported = await invokeSettled(api, 'mptcp:config:export', {});
            if (!exported.ok) return exported;
            const profile: Profile = { schemaVersion: PROFILE_SCHEMA_VERSION, name, config: exported.value };
            if (description.trim() !== '') profile.description = description.trim();
            return invokeSettled(api, 'mptcp:profiles:save', { profile });
          },
          (s) => `Saved the current state as "${s.name}"`,
        );
        if (saved) await get().refresh();
        return saved !== null;
      },

      rename: async (from, to) => {
        const renamed = await act(
          `rename:${from}`,
          () => invokeSettled(api, 'mptcp:profiles:rename', { from, to }),
          (s) => `Renamed "${from}" to "${s.name}"`,
        );
        if (renamed) {
          if (get().viewing?.name === from) set({ viewing: null });
          await get().refresh();
        }
        return renamed !== null;
      },

      remove: async (name) => {
        const removed = await act(
          `delete:${name}`,
          () => invokeSettled(api, 'mptcp:profiles:delete', { name }),
          () => `Deleted "${name}"`,
        );
        if (removed) {
          if (get().viewing?.name === name) set({ viewing: null });
          await get().refresh();
        }
        return removed !== null;
      },

      importText: async (text, fileName) => {
        set({ busy: 'import', actionError: null, message: null, importErrors: null });
        const r = await invokeSettled(api, 'mptcp:profiles:import', { text });
        if (!r.ok) {
          const invalid = r.error.code === 'EINVAL' || r.error.code === 'BAD_REQUEST';
          set({
            busy: null,
            importErrors: invalid ? importErrorList(text, r.error) : null,
            actionError: invalid ? null : r.error,
          });
          return false;
        }
        set({ busy: null, message: `Imported "${r.value.name}" from ${fileName}` });
        await get().refresh();
        return true;
      },

      exportFile: (name, format) =>
        act(
          `export:${name ?? ''}`,
          () => invokeSettled(api, 'mptcp:profiles:export', { name, format }),
          (f) => `Exported ${f.filename}`,
        ),

      get: async (name) => {
        const r = await invokeSettled(api, 'mptcp:profiles:get', { name });
        if (!r.ok) {
          set({ actionError: r.error });
          return null;
        }
        return r.value;
      },
    };
  });
}
