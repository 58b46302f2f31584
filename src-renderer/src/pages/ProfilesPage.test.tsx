// @vitest-environment jsdom
import { PROFILE_TEXT_MAX_CHARS } from '../../../shared/contract';
import { act, cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseProfile, type Profile } from '../../../shared/config';
import type { ProfileSummary } from '../../../shared/config-api';
import type { Stores } from '../state/stores';
import { configApi, renderApp, settle } from '../testing/render';

let stores: Stores | null = null;
afterEach(() => {
  cleanup();
  stores?.dispose();
  stores = null;
  vi.restoreAllMocks();
});

const byTestId = (id: string) => screen.getByTestId(id);

async function click(el: HTMLElement): Promise<void> {
  act(() => el.click());
  await settle();
}

const builtIn: ProfileSummary = {
  name: 'server (announce all addresses)',
  description: 'Announce every address to clients.',
  builtIn: true,
};
const mine: ProfileSummary = { name: 'laptop', description: '', builtIn: false };
const laptop: Profile = {
  schemaVersion: 1,
  name: 'laptop',
  config: { limits: { subflows: 4, addAddrAccepted: 1 } },
};

/** A profile store in memory behind the contract, refusing what the engine's parser refuses. */
function profilesApi() {
  const list: ProfileSummary[] = [builtIn, mine];
  return configApi()
    .handle('mptcp:profiles:list', () => ({ ok: true, value: [...list] }))
    .handle('mptcp:profiles:get', ({ name }) =>
      name === 'laptop'
        ? { ok: true, value: laptop }
        : { ok: false, error: { code: 'ENOENT', message: `no profile named "${name}"` } },
    )
    .handle('mptcp:profiles:import', ({ text }) => {
      const r = parseProfile(text);
      if (!r.ok) return { ok: false, error: { code: 'EINVAL', message: r.errors.join('; ') } };
      list.push({ name: r.profile.name, description: '', builtIn: false });
      return { ok: true, value: r.profile };
    })
    .handle('mptcp:profiles:save', ({ profile }) => {
      list.push({ name: profile.name, description: profile.description ?? '', builtIn: false });
      return { ok: true, value: { name: profile.name, description: '', builtIn: false } };
    })
    .handle('mptcp:profiles:delete', ({ name }) => {
      list.splice(
        list.findIndex((p) => p.name === name),
        1,
      );
      return { ok: true, value: {} };
    })
    .handle('mptcp:profiles:export', ({ name, format }) => ({
      ok: true,
      value: { filename: `${name ?? 'current'}.${format === 'json' ? 'json' : 'sh'}`, text: 'x' },
    }));
}

function importFile(text: string, name = 'bad.json') {
  const input = byTestId('profile-import-input');
  fireEvent.change(input, { target: { files: [new File([text], name, { type: 'application/json' })] } });
}

describe('Profiles page', () => {
  it('lists built-in and own profiles with their descriptions; built-ins cannot be renamed or deleted', async () => {
    stores = await renderApp(profilesApi(), 'profiles');
    const row = byTestId(`profile-row-${builtIn.name}`);
    expect(row.textContent).toContain('built-in');
    expect(row.textContent).toContain('Announce every address to clients.');
    expect(within(row).getByTestId<HTMLButtonElement>('profile-delete').disabled).toBe(true);
    expect(within(row).getByTestId<HTMLButtonElement>('profile-rename').disabled).toBe(true);
    const own = byTestId('profile-row-laptop');
    expect(own.textContent).not.toContain('built-in');
    await click(within(own).getByTestId('profile-view'));
    expect(JSON.parse(within(own).getByTestId('profile-json').textContent ?? '')).toEqual(laptop.config);
  });

  it('shows each import error with its field and rule, and leaves the list alone', async () => {
    const api = profilesApi();
    stores = await renderApp(api, 'profiles');
    const before = screen.getAllByTestId(/^profile-row-/).map((r) => r.dataset.testid);
    importFile(
      JSON.stringify({
        schemaVersion: 1,
        name: 'bad',
        config: { limits: { subflows: 99, addAddrAccepted: 0 }, turbo: true },
      }),
    );
    await settle();
    const errors = within(byTestId('import-errors'))
      .getAllByRole('listitem')
      .map((li) => li.textContent);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^config\.limits\.subflows: .*8/),
        expect.stringMatching(/^config: Unrecognized key: "turbo"/),
      ]),
    );
    expect(screen.getAllByTestId(/^profile-row-/).map((r) => r.dataset.testid)).toEqual(before);
    expect(api.calls.filter((c) => c.method === 'mptcp:profiles:import')).toHaveLength(1);

    importFile(JSON.stringify({ ...laptop, name: 'good one' }), 'good.json');
    await settle();
    expect(screen.queryByTestId('import-errors')).toBeNull();
    expect(byTestId('profile-row-good one')).toBeTruthy();
  });

  it('refuses a file larger than a profile can be before reading or sending it', async () => {
    const api = profilesApi();
    stores = await renderApp(api, 'profiles');
    importFile('x'.repeat(PROFILE_TEXT_MAX_CHARS + 1), 'huge.json');
    await settle();
    expect(byTestId('import-too-large').textContent).toMatch(
      /huge\.json is 262,145 bytes; a profile file is at most 262,144/,
    );
    expect(api.calls.filter((c) => c.method === 'mptcp:profiles:import')).toHaveLength(0);
  });

  it('saves the current state under a name from the export', async () => {
    const api = profilesApi();
    stores = await renderApp(api, 'profiles');
    fireEvent.change(byTestId('profile-save-name'), { target: { value: 'office' } });
    await click(byTestId('profile-save'));
    const save = api.calls.find((c) => c.method === 'mptcp:profiles:save');
    expect(save?.args).toMatchObject({
      profile: { schemaVersion: 1, name: 'office', config: { limits: { subflows: 2 } } },
    });
    expect(byTestId('profile-row-office')).toBeTruthy();
  });

  it('deletes only after a confirmation', async () => {
    const api = profilesApi();
    stores = await renderApp(api, 'profiles');
    await click(within(byTestId('profile-row-laptop')).getByTestId('profile-delete'));
    expect(api.calls.some((c) => c.method === 'mptcp:profiles:delete')).toBe(false);
    await click(byTestId('profile-delete-confirm'));
    expect(screen.queryByTestId('profile-row-laptop')).toBeNull();
  });

  it('exports through a Blob URL download', async () => {
    const created: Blob[] = [];
    const createObjectURL = vi.fn((b: Blob) => {
      created.push(b);
      return 'blob:test/1';
    });
    Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() });
    // The tabs are links too: the download's click is caught once the page is open.
    stores = await renderApp(profilesApi(), 'profiles');
    const clicks: string[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicks.push(`${this.download} ${this.href}`);
    });
    const row = byTestId('profile-row-laptop');
    fireEvent.change(within(row).getByTestId('profile-export-format'), { target: { value: 'sh' } });
    await click(within(row).getByTestId('profile-export'));
    expect(clicks).toEqual(['laptop.sh blob:test/1']);
    expect(await created[0]?.text()).toBe('x');
  });

  it('loads a profile into the Configure form as desired changes and opens the review', async () => {
    const api = profilesApi();
    stores = await renderApp(api, 'profiles');
    await click(within(byTestId('profile-row-laptop')).getByTestId('profile-load'));
    await settle();
    expect(byTestId('configure-page')).toBeTruthy();
    expect((byTestId('cfg-limit-subflows') as HTMLInputElement).value).toBe('4');
    expect(byTestId('cfg-draft-source').textContent).toContain('laptop');
    expect(api.calls.filter((c) => c.method === 'mptcp:config:plan').at(-1)?.args).toEqual({
      config: { limits: { subflows: 4, addAddrAccepted: 1 } },
    });
    expect(byTestId('plan-steps').textContent).toContain('subflows 2 → 4');
  });
});
