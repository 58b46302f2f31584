/**
 * The ownership and mode checks on a BPF object a privileged engine registers, on real files in
 * a temp dir (the walk stops at the temp dir, see TrustOptions.trustedRoot), and once without a
 * stop to show that /tmp itself is refused.
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readTrustedObject, untrustedReason, withPrivateCopy } from './object-trust';

const euid = process.geteuid?.() ?? 0;
const isRoot = euid === 0;

describe('BPF object trust checks', () => {
  let root: string;
  let obj: string;
  const opts = (): { euid: number; trustedRoot: string } => ({ euid, trustedRoot: root });

  beforeEach(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'mpst-trust-')));
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    chmodSync(join(root, 'a'), 0o755);
    chmodSync(join(root, 'a', 'b'), 0o755);
    obj = join(root, 'a', 'b', 'x.bpf.o');
    writeFileSync(obj, 'object bytes', { mode: 0o644 });
    chmodSync(obj, 0o644);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('accepts a 0644 file in 0755 directories owned by us', async () => {
    expect(await untrustedReason(obj, opts())).toBeNull();
    expect((await readTrustedObject(obj, opts())).toString()).toBe('object bytes');
  });

  it('refuses a group- or other-writable file, naming it and its mode', async () => {
    chmodSync(obj, 0o664);
    expect(await untrustedReason(obj, opts())).toBe(`${obj} is writable by group or others (mode 0664)`);
    chmodSync(obj, 0o646);
    expect(await untrustedReason(obj, opts())).toMatch(/mode 0646/);
    await expect(readTrustedObject(obj, opts())).rejects.toThrow(/writable by group or others/);
  });

  it('refuses when any directory above it is group- or other-writable (a sticky bit is no excuse)', async () => {
    chmodSync(join(root, 'a'), 0o775);
    expect(await untrustedReason(obj, opts())).toBe(
      `${join(root, 'a')} is writable by group or others (mode 0775)`,
    );
    chmodSync(join(root, 'a'), 0o1777);
    expect(await untrustedReason(obj, opts())).toMatch(/mode 01777/);
  });

  it('checks the real path behind a symlink', async () => {
    const bad = join(root, 'bad');
    mkdirSync(bad);
    chmodSync(bad, 0o777);
    writeFileSync(join(bad, 'y.bpf.o'), 'evil', { mode: 0o644 });
    const link = join(root, 'a', 'b', 'link.bpf.o');
    symlinkSync(join(bad, 'y.bpf.o'), link);
    expect(await untrustedReason(link, opts())).toBe(`${bad} is writable by group or others (mode 0777)`);
  });

  it('refuses something that is not a regular file', async () => {
    expect(await untrustedReason(join(root, 'a'), opts())).toMatch(/is not a regular file/);
  });

  it.skipIf(!isRoot)('refuses a file or directory owned by another user (as root)', async () => {
    chownSync(obj, 1234, 1234);
    expect(await untrustedReason(obj, opts())).toBe(`${obj} is owned by uid 1234 (only root may own it)`);
    chownSync(obj, 0, 0);
    chownSync(join(root, 'a', 'b'), 4321, 0);
    expect(await untrustedReason(obj, opts())).toMatch(/\/a\/b is owned by uid 4321/);
  });

  it('without a stop the walk reaches /tmp, which is world-writable, so a test dir there is refused', async () => {
    const why = await untrustedReason(obj, { euid });
    const tmp = realpathSync(tmpdir());
    if ((statSync(tmp).mode & 0o022) !== 0) expect(why).toMatch(/is writable by group or others/);
  });

  it('accepts a root-owned system file (node itself) when the system directories are sane', async () => {
    const node = realpathSync(process.execPath);
    const chain: string[] = [];
    for (let p = node; ; p = dirname(p)) {
      chain.push(p);
      if (dirname(p) === p) break;
    }
    const sane = chain.every((p) => {
      const st = statSync(p);
      return st.uid === 0 && (st.mode & 0o022) === 0;
    });
    if (sane) expect(await untrustedReason(node, { euid })).toBeNull();
    else expect(await untrustedReason(node, { euid })).not.toBeNull();
  });

  it('registers from a private copy: 0600 in a fresh 0700 directory, removed afterwards', async () => {
    let seen = '';
    const out = await withPrivateCopy(Buffer.from('checked'), 'mptcp_lia.bpf.o', (p) => {
      seen = p;
      expect(statSync(p).mode & 0o7777).toBe(0o600);
      expect(statSync(dirname(p)).mode & 0o7777).toBe(0o700);
      expect(readFileSync(p, 'utf8')).toBe('checked');
      return Promise.resolve(42);
    });
    expect(out).toBe(42);
    expect(seen).toMatch(/mptcp_lia\.bpf\.o$/);
    expect(existsSync(dirname(seen))).toBe(false);
    await expect(
      withPrivateCopy(Buffer.from('x'), 'y.bpf.o', (p) => {
        seen = p;
        return Promise.reject(new Error('bpftool failed'));
      }),
    ).rejects.toThrow('bpftool failed');
    expect(existsSync(dirname(seen))).toBe(false);
  });
});
