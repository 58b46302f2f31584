import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseProfile, type MptcpConfig, type Profile } from '../../shared/config';
import { presets } from '../../shared/presets';
import { ApiFailure } from '../../shared/result';
import { EngineService } from '../engine/service';
import { fakeBackend } from '../testing/fake-backend';
import { createHostHandlers, type HostDeps } from './index';
import { profileHandlers, type ProfileHandlers } from './profiles';

const flags = { signal: false, subflow: true, backup: false, fullmesh: false, laminar: false };
const mine: Profile = {
  schemaVersion: 1,
  name: 'office: wifi + ethernet',
  description: 'two paths',
  config: {
    enabled: true,
    limits: { subflows: 4, addAddrAccepted: 2 },
    endpoints: [{ address: '10.0.0.2', id: 1, ifname: 'eth0', flags }],
    mtu: { eth0: 1500 },
    // Source routing travels with the profile (docs/configuration.md, "Source routing").
    routing: {
      sourceRules: [{ address: '10.0.1.2', ifname: 'wlan0', gateway: '10.0.1.1' }],
      rpFilter: { wlan0: 2 },
    },
  },
};

let root: string;
let dir: string;
let deps: HostDeps;
let h: ProfileHandlers;
const fixedNow = () => new Date('2025-06-01T12:00:00.000Z');
const liveConfig: MptcpConfig = { enabled: true, limits: { subflows: 2, addAddrAccepted: 0 } };

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mptcp-profiles-'));
  dir = join(root, 'config', 'mptcp-studio', 'profiles');
  deps = {
    kernel: fakeBackend({ 'mptcp:config:export': () => Promise.resolve(liveConfig) }).handlers,
    profilesDir: dir,
  };
  h = profileHandlers(deps, { now: fixedNow });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Every file in the profiles directory with its exact bytes. */
function snapshot(): Record<string, string> {
  try {
    return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'latin1')]));
  } catch {
    return {};
  }
}

async function failure(p: Promise<unknown>): Promise<ApiFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiFailure) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

const builtIns = presets.map((p) => ({
  name: p.profile.name,
  description: p.profile.description,
  builtIn: true,
}));

describe('profile storage', () => {
  it('lists only the built-ins when nothing is saved (no directory yet)', async () => {
    expect(await h['mptcp:profiles:list']({})).toEqual(builtIns);
  });

  it('save, list, get, rename, delete round trip', async () => {
    expect(await h['mptcp:profiles:save']({ profile: mine })).toEqual({
      name: mine.name,
      description: 'two paths',
      builtIn: false,
    });
    const file = join(dir, `${encodeURIComponent(mine.name)}.json`);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual([`${encodeURIComponent(mine.name)}.json`]); // no temp file left
    expect(parseProfile(readFileSync(file, 'utf8'))).toEqual({ ok: true, profile: mine });

    expect(await h['mptcp:profiles:list']({})).toEqual([
      ...builtIns,
      { name: mine.name, description: 'two paths', builtIn: false },
    ]);
    expect(await h['mptcp:profiles:get']({ name: mine.name })).toEqual(mine);

    // Saving again replaces.
    await h['mptcp:profiles:save']({ profile: { ...mine, description: 'v2' } });
    expect((await h['mptcp:profiles:get']({ name: mine.name })).description).toBe('v2');

    expect(await h['mptcp:profiles:rename']({ from: mine.name, to: 'home' })).toEqual({
      name: 'home',
      description: 'v2',
      builtIn: false,
    });
    expect(readdirSync(dir)).toEqual(['home.json']);
    expect(await h['mptcp:profiles:get']({ name: 'home' })).toEqual({
      ...mine,
      name: 'home',
      description: 'v2',
    });
    expect((await failure(h['mptcp:profiles:get']({ name: mine.name }))).code).toBe('ENOENT');

    expect(await h['mptcp:profiles:delete']({ name: 'home' })).toEqual({});
    expect(readdirSync(dir)).toEqual([]);
    expect((await failure(h['mptcp:profiles:delete']({ name: 'home' }))).code).toBe('ENOENT');
  });

  it('rename refuses to overwrite, and leaves both profiles as they were', async () => {
    await h['mptcp:profiles:save']({ profile: mine });
    await h['mptcp:profiles:save']({ profile: { ...mine, name: 'home' } });
    const before = snapshot();
    const f = await failure(h['mptcp:profiles:rename']({ from: mine.name, to: 'home' }));
    expect(f.code).toBe('EEXIST');
    expect(f.message).toContain('"home" already exists');
    expect(snapshot()).toEqual(before);
    expect((await failure(h['mptcp:profiles:rename']({ from: 'missing', to: 'x' }))).code).toBe('ENOENT');
  });

  it('built-in presets are listed, readable and read-only', async () => {
    const name = 'cellular as backup';
    expect((await h['mptcp:profiles:get']({ name })).config.endpointPolicy).toHaveLength(4);
    const attempts = [
      h['mptcp:profiles:save']({ profile: { ...mine, name } }),
      h['mptcp:profiles:rename']({ from: name, to: 'mine' }),
      h['mptcp:profiles:rename']({ from: mine.name, to: name }),
      h['mptcp:profiles:delete']({ name }),
    ];
    for (const a of attempts) {
      const f = await failure(a);
      expect(f.code).toBe('BAD_REQUEST');
      expect(f.message).toContain('built-in');
    }
    expect(snapshot()).toEqual({});
  });

  it('a corrupt file is listed as unreadable, never breaks the list, and can be deleted', async () => {
    await h['mptcp:profiles:save']({ profile: mine });
    writeFileSync(join(dir, 'broken.json'), '{"schemaVersion": 1, "name": "broken", "config": {');
    writeFileSync(join(dir, 'future.json'), JSON.stringify({ ...mine, name: 'future', schemaVersion: 7 }));
    writeFileSync(join(dir, 'moved.json'), JSON.stringify({ ...mine, name: 'elsewhere' }));
    // Not ours: ignored.
    writeFileSync(join(dir, '.tmp-leftover'), 'x');
    writeFileSync(join(dir, 'notes.txt'), 'x');
    writeFileSync(join(dir, '%E0%A4%A.json'), '{}'); // does not decode
    writeFileSync(join(dir, '%61.json'), '{}'); // "a", but not the canonical file name for it
    writeFileSync(join(dir, 'a%2Fb.json'), '{}'); // "a/b": not a valid profile name

    const list = await h['mptcp:profiles:list']({});
    expect(list.slice(0, builtIns.length)).toEqual(builtIns);
    const user = list.slice(builtIns.length);
    expect(user.map((s) => s.name)).toEqual(['broken', 'future', 'moved', mine.name]);
    const byName = Object.fromEntries(user.map((s) => [s.name, s.description]));
    expect(byName.broken).toMatch(/^Unreadable profile file broken\.json: \(profile\): not valid JSON/);
    expect(byName.future).toMatch(/schemaVersion: profile version 7 is newer/);
    expect(byName.moved).toMatch(/the name inside the file is "elsewhere", not "moved"/);

    const f = await failure(h['mptcp:profiles:get']({ name: 'broken' }));
    expect(f.code).toBe('EINVAL');
    expect(f.message).toContain('file broken.json');
    expect((await failure(h['mptcp:profiles:export']({ name: 'future', format: 'sh' }))).code).toBe('EINVAL');

    await h['mptcp:profiles:delete']({ name: 'broken' });
    expect((await h['mptcp:profiles:list']({})).map((s) => s.name)).not.toContain('broken');
  });

  it('refuses a name too long to be a file name, writing nothing', async () => {
    const name = 'ü'.repeat(80); // 80 characters, 480 bytes once percent-encoded
    const f = await failure(h['mptcp:profiles:save']({ profile: { ...mine, name } }));
    expect(f.code).toBe('BAD_REQUEST');
    expect(f.message).toMatch(/too long to store/);
    expect(snapshot()).toEqual({});
  });
});

describe('import', () => {
  const good = JSON.stringify({ ...mine, name: 'imported' });

  it('parses, validates and saves under the profile name', async () => {
    expect(await h['mptcp:profiles:import']({ text: good })).toEqual({ ...mine, name: 'imported' });
    expect(await h['mptcp:profiles:get']({ name: 'imported' })).toEqual({ ...mine, name: 'imported' });
  });

  it.each([
    ['malformed JSON', '{"schemaVersion":1,', /^\(profile\): not valid JSON/],
    [
      'a newer version',
      JSON.stringify({ ...mine, schemaVersion: 2 }),
      /^schemaVersion: profile version 2 is newer/,
    ],
    [
      'an unknown field',
      JSON.stringify({ ...mine, config: { ...mine.config, turbo: true } }),
      /^config: Unrecognized key.*turbo/,
    ],
    [
      'an out-of-range value',
      JSON.stringify({ ...mine, config: { limits: { subflows: 9, addAddrAccepted: 0 }, mtu: { eth0: 10 } } }),
      /config\.limits\.subflows: .*8.*; config\.mtu\.eth0: .*68/,
    ],
    ['a name with a slash', JSON.stringify({ ...mine, name: 'a/b' }), /^name: must not contain \//],
    ['a built-in name', JSON.stringify({ ...mine, name: 'cellular as backup' }), /built-in profile/],
  ])(
    'refuses %s with EINVAL, leaving the directory unchanged byte for byte',
    async (_what, text, message) => {
      await h['mptcp:profiles:save']({ profile: mine });
      const before = snapshot();
      const f = await failure(h['mptcp:profiles:import']({ text }));
      expect(f.code).toBe('EINVAL');
      expect(f.message).toMatch(message);
      expect(snapshot()).toEqual(before);
    },
  );
});

describe('export', () => {
  it('exports the current state (name null) through the kernel handler', async () => {
    const r = await h['mptcp:profiles:export']({ name: null, format: 'json' });
    expect(r.filename).toBe('current-state.json');
    expect(parseProfile(r.text)).toEqual({
      ok: true,
      profile: {
        schemaVersion: 1,
        name: 'current state',
        description: 'Exported by MPTCP Studio at 2025-06-01T12:00:00.000Z',
        config: liveConfig,
      },
    });
    const sh = await h['mptcp:profiles:export']({ name: null, format: 'sh' });
    expect(sh.text).toContain('ip mptcp limits set subflows 2 add_addr_accepted 0\n');
  });

  it('exports a saved profile and a built-in one in every format', async () => {
    await h['mptcp:profiles:save']({ profile: mine });
    const json = await h['mptcp:profiles:export']({ name: mine.name, format: 'json' });
    expect(parseProfile(json.text)).toEqual({ ok: true, profile: mine });
    const sh = await h['mptcp:profiles:export']({ name: mine.name, format: 'sh' });
    // The script reconciles (keeps, changes in place, adds): no flush (shared/export-formats.ts).
    expect(sh.text).toContain('mptcp_studio_endpoint 10.0.0.2 - 1 eth0 subflow\n');
    expect(sh.text).not.toContain('endpoint flush');
    expect(sh.text).toContain('mptcp_studio_source 10.0.1.2 wlan0 - 10.0.1.1\n');
    expect(sh.text).toContain('sysctl -w net.ipv4.conf.wlan0.rp_filter=2\n');
    const client = await h['mptcp:profiles:export']({ name: 'dual-homed client (fullmesh)', format: 'sh' });
    expect(client.text).toContain("mptcp_studio_source_policy '*' 'inet inet6'\n");
    const persistent = await h['mptcp:profiles:export']({
      name: 'server (announce all addresses)',
      format: 'sysctl.d',
    });
    expect(persistent.filename).toBe('mptcp-studio-persistent.txt');
    expect(persistent.text).toContain("mptcp_studio_policy '*' 'inet inet6' - signal\n");
    expect((await failure(h['mptcp:profiles:export']({ name: 'nope', format: 'json' }))).code).toBe('ENOENT');
  });

  it('turns an unsafe live value into EINVAL instead of a script', async () => {
    const bad = profileHandlers(
      {
        ...deps,
        // Linux accepts interface names like this one; the script must not.
        kernel: fakeBackend({ 'mptcp:config:export': () => Promise.resolve({ mtu: { 'x$(id)': 1500 } }) })
          .handlers,
      },
      { now: fixedNow },
    );
    const f = await failure(bad['mptcp:profiles:export']({ name: null, format: 'sh' }));
    expect(f.code).toBe('EINVAL');
    expect(f.message).toMatch(/refusing to export/);
  });
});

describe('through the EngineService (the contract)', () => {
  function service(): EngineService {
    return new EngineService(fakeBackend(), { host: createHostHandlers(deps) });
  }

  it('serves the profile methods from the host handlers', async () => {
    const s = service();
    expect(await s.invoke('mptcp:profiles:save', { profile: mine })).toEqual({
      ok: true,
      value: { name: mine.name, description: 'two paths', builtIn: false },
    });
    const got = await s.invoke('mptcp:profiles:get', { name: mine.name });
    expect(got).toEqual({ ok: true, value: mine });
  });

  it('refuses a name with a slash (ProfileNameSchema) before any handler runs', async () => {
    const s = service();
    for (const [method, args] of [
      ['mptcp:profiles:get', { name: 'a/b' }],
      ['mptcp:profiles:delete', { name: '../x' }],
      ['mptcp:profiles:rename', { from: 'a', to: 'x/y' }],
      ['mptcp:profiles:export', { name: '..', format: 'json' }],
    ] as const) {
      const r = await s.invoke(method, args);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('BAD_REQUEST');
    }
    // save's argument is a whole profile (whose schema allows any name); the handler applies the
    // name rules itself.
    const r = await s.invoke('mptcp:profiles:save', { profile: { ...mine, name: 'a/b' } });
    expect(r).toEqual({
      ok: false,
      error: { code: 'BAD_REQUEST', message: 'name: must not contain / or \\' },
    });
    expect(snapshot()).toEqual({});
  });

  it('reports an import refusal as a Result, not a throw', async () => {
    const r = await service().invoke('mptcp:profiles:import', { text: '[]' });
    expect(r).toEqual({ ok: false, error: { code: 'EINVAL', message: '(profile): must be a JSON object' } });
  });
});
