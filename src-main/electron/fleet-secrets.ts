/**
 * The Fleet direct mode's tokens at rest in the desktop app: encrypted with Electron's safeStorage
 * (the system keyring: libsecret or kwallet on Linux) where it is available. The registry file is
 * 0600 either way (src-main/host/fleet/remote-hosts.ts); without a keyring the token is stored as
 * given in it.
 */
import type { SafeStorage } from 'electron';
import type { SecretCodec } from '../host/index';

/** What the codec uses of Electron's safeStorage (a fake in fleet-secrets.test.ts). */
export type SafeStorageLike = Pick<SafeStorage, 'isEncryptionAvailable' | 'encryptString' | 'decryptString'> &
  Partial<Pick<SafeStorage, 'getSelectedStorageBackend'>>;

export function safeStorageCodec(safeStorage: SafeStorageLike): SecretCodec | null {
  // On Linux, 'basic_text' means no keyring: a hard-coded key, no better than the 0600 file.
  if (!safeStorage.isEncryptionAvailable() || safeStorage.getSelectedStorageBackend?.() === 'basic_text') {
    return null;
  }
  return {
    kind: 'electron-safeStorage',
    encrypt: (plain) => safeStorage.encryptString(plain).toString('base64'),
    decrypt: (stored) => safeStorage.decryptString(Buffer.from(stored, 'base64')),
  };
}
