/**
 * The desktop app's token path for the Fleet direct mode: Electron safeStorage (a fake with a real
 * cipher standing in for the keyring) turned into the registry's SecretCodec, and the registry
 * file it produces (docs/fleet.md, "Remote web hosts").
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteHostStore } from '../host/index';
import { safeStorageCodec, type SafeStorageLike } from './fleet-secrets';

type Backend = ReturnType<NonNullable<SafeStorageLike['getSelectedStorageBackend']>>;

/** safeStorage with a keyring: AES-256-GCM under a key only this fake holds. */
function fakeSafeStorage(opts: { available?: boolean; backend?: Backend } = {}) {
  const key = randomBytes(32);
  const calls = { encrypt: 0, decrypt: 0 };
  const safeStorage: SafeStorageLike = {
    isEncryptionAvailable: () => opts.available ?? true,
    getSelectedStorageBackend: () => opts.backend ?? 'gnome_libsecret',
    encryptString: (plain) => {
      calls.encrypt++;
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return Buffer.concat([iv, c.getAuthTag(), body]);
    },
    decryptString: (enc) => {
      calls.decrypt++;
      const d = createDecipheriv('aes-256-gcm', key, enc.subarray(0, 12));
      d.setAuthTag(enc.subarray(12, 28));
      return Buffer.concat([d.update(enc.subarray(28)), d.final()]).toString('utf8');
    },
  };
  return { safeStorage, calls };
}

const TOKEN = 'fleet-token-0123456789abcdef';
const HOST = { name: 'node-1', url: 'https://node-1.example:7878/', token: TOKEN, caCertPem: null };

describe('safeStorageCodec', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'mpst-fleet-secrets-'));
    dirs.push(d);
    return join(d, 'mptcp-studio', 'fleet-hosts.json');
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('gives no codec without encryption or with the basic_text backend (a hard-coded key)', () => {
    expect(safeStorageCodec(fakeSafeStorage({ available: false }).safeStorage)).toBeNull();
    expect(safeStorageCodec(fakeSafeStorage({ backend: 'basic_text' }).safeStorage)).toBeNull();
    expect(safeStorageCodec(fakeSafeStorage({ backend: 'kwallet5' }).safeStorage)?.kind).toBe(
      'electron-safeStorage',
    );
  });

  it('keeps the token encrypted in the 0600 registry file and gives it back in clear', async () => {
    const { safeStorage, calls } = fakeSafeStorage();
    const codec = safeStorageCodec(safeStorage);
    const file = tmp();
    const store = new RemoteHostStore(file, codec);
    await store.add(HOST);
    expect(calls.encrypt).toBe(1);
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(TOKEN);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = (JSON.parse(text) as { hosts: { tokenCodec: string; token: string }[] }).hosts[0]!;
    expect(stored.tokenCodec).toBe('electron-safeStorage');
    // base64 of IV (12) + tag (16) + the token's bytes: what safeStorage returned, nothing else.
    expect(Buffer.from(stored.token, 'base64')).toHaveLength(28 + TOKEN.length);
    const [listed] = await store.list();
    expect(listed?.plainToken).toBe(TOKEN);
    expect(calls.decrypt).toBe(1);
  });

  it('refuses to read an encrypted token without the keyring, and reads plain ones with it', async () => {
    const file = tmp();
    await new RemoteHostStore(file, safeStorageCodec(fakeSafeStorage().safeStorage)).add(HOST);
    await expect(new RemoteHostStore(file, null).list()).rejects.toThrow(
      /node-1: its token was stored with electron-safeStorage, which is not available here/,
    );
    // Another keyring key (a new login keyring): decryption fails instead of giving garbage.
    await expect(
      new RemoteHostStore(file, safeStorageCodec(fakeSafeStorage().safeStorage)).list(),
    ).rejects.toThrow();
    const plainFile = tmp();
    await new RemoteHostStore(plainFile, null).add(HOST);
    const { safeStorage, calls } = fakeSafeStorage();
    const [listed] = await new RemoteHostStore(plainFile, safeStorageCodec(safeStorage)).list();
    expect(listed?.plainToken).toBe(TOKEN);
    expect(calls.decrypt).toBe(0);
  });
});
