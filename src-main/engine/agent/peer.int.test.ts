/**
 * Peer credentials of a Unix socket read from the kernel (unix_diag + /proc), against a client
 * whose uid, gid and pid we know: a child process run as another user with setpriv.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { peerCredentials } from './peer';

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('peer credentials of a Unix socket client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mpst-peer-'));
  chmodSync(dir, 0o755);
  const path = join(dir, 'peer.sock');
  const accepted: Socket[] = [];
  const server = createServer((s) => accepted.push(s));
  afterAll(() => server.close());

  it('names the uid, gid and pid of a client of another user', async () => {
    await new Promise<void>((resolve) => server.listen(path, resolve));
    chmodSync(path, 0o666);
    const got = new Promise<Socket>((resolve) => server.once('connection', resolve));
    // A client that connects and stays until we read its credentials.
    const child = spawn('setpriv', [
      '--reuid',
      '65534',
      '--regid',
      '65533',
      '--clear-groups',
      process.execPath,
      '-e',
      `const s = require('node:net').connect(${JSON.stringify(path)}); s.on('error', () => process.exit(3)); setTimeout(() => process.exit(0), 10000);`,
    ]);
    try {
      const sock = await got;
      const creds = await peerCredentials(sock);
      expect(creds).toEqual({ uid: 65534, gid: 65533, pid: child.pid });
    } finally {
      child.kill('SIGKILL');
    }
  });
});
