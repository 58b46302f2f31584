/**
 * netns-identity.ts without the kernel: the netlink_diag reply as the kernel lays it out, and which
 * state files count as another namespace's. Reading the real identity: netns-identity.int.test.ts.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  buildNetlinkDiagRequest,
  kernelSocketCookie,
  netnsStatePath,
  removeForeignStateFiles,
  type NetnsIdentity,
} from './netns-identity';

/** struct netlink_diag_msg (uapi: linux/netlink_diag.h). */
function diagMsg(o: { family?: number; protocol?: number; portid?: number; cookie: bigint }): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt8(o.family ?? 16, 0);
  b.writeUInt8(3, 1); // SOCK_RAW
  b.writeUInt8(o.protocol ?? 0, 2);
  b.writeUInt8(7, 3); // NETLINK_UNCONNECTED
  b.writeUInt32LE(o.portid ?? 0, 4);
  b.writeUInt32LE(1234, 16); // ndiag_ino
  b.writeUInt32LE(Number(o.cookie & 0xffffffffn), 20);
  b.writeUInt32LE(Number(o.cookie >> 32n), 24);
  return b;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('netns identity', () => {
  it('asks for the AF_NETLINK sockets of one protocol', () => {
    expect([...buildNetlinkDiagRequest(0)]).toEqual([16, 0, ...Array<number>(18).fill(0)]);
  });

  it('takes the cookie of the kernel socket (portid 0) only, all 64 bits', () => {
    const big = 0x1_0000_0002n;
    expect(kernelSocketCookie(diagMsg({ cookie: big }), 0, 28, 0)).toBe(big.toString());
    expect(kernelSocketCookie(diagMsg({ cookie: 7n, portid: 4242 }), 0, 28, 0)).toBeNull();
    expect(kernelSocketCookie(diagMsg({ cookie: 7n, protocol: 16 }), 0, 28, 0)).toBeNull();
    expect(kernelSocketCookie(diagMsg({ cookie: 7n, family: 2 }), 0, 28, 0)).toBeNull();
    expect(kernelSocketCookie(diagMsg({ cookie: 7n }), 0, 24, 0)).toBeNull();
    expect(kernelSocketCookie(diagMsg({ cookie: 0n }), 0, 28, 0)).toBeNull();
  });

  it('files for our inode with another cookie, or by inode alone, are another namespace’s: removed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mpst-ident-'));
    dirs.push(dir);
    const id: NetnsIdentity = { ino: 4026532100, cookie: '17', bootId: 'b', key: '4026532100-17' };
    const names = [
      'pm-netns-4026532100-17.json', // ours
      'pm-netns-4026532100-16.json', // same inode, another namespace
      'pm-netns-4026532100-171.json', // a longer cookie is another one too
      'pm-netns-4026532100.json', // inode alone: cannot tell
      'pm-netns-40265321001-17.json', // another inode: a live namespace's
      'config-netns-4026532100-16.json', // another kind: not this call's
    ];
    for (const n of names) writeFileSync(join(dir, n), '{}');
    const removed = await removeForeignStateFiles(dir, 'pm', id);
    expect(removed.sort()).toEqual([
      'pm-netns-4026532100-16.json',
      'pm-netns-4026532100-171.json',
      'pm-netns-4026532100.json',
    ]);
    expect(readdirSync(dir).sort()).toEqual(
      [
        'config-netns-4026532100-16.json',
        'pm-netns-40265321001-17.json',
        'pm-netns-4026532100-17.json',
      ].sort(),
    );
    expect(netnsStatePath(dir, 'pm', id)).toBe(join(dir, 'pm-netns-4026532100-17.json'));
    expect(await removeForeignStateFiles(join(dir, 'missing'), 'pm', id)).toEqual([]);
  });
});
