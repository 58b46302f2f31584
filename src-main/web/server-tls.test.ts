/**
 * The web host over TLS (serve --tls-cert --tls-key): HTTPS and WSS with a self-signed certificate
 * made by openssl, the Origin check on the https scheme, the Host check with --public-name, and
 * plain HTTP to the TLS port answered by nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { EngineService } from '../engine/service';
import { fakeBackend } from '../testing/fake-backend';
import { startWebHost, type WebHost } from './server';

const dir = mkdtempSync(join(tmpdir(), 'mpst-tls-'));
let cert = '';
let web: WebHost;
let service: EngineService;

function get(path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: web.port, path, headers: { Host: host }, ca: cert, servername: 'localhost' },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  const r = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:fleet-a.example',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  service = new EngineService(fakeBackend());
  web = await startWebHost({
    service,
    staticDir: dir,
    port: 0,
    token: 'tls-test-token-0123456789',
    tls: { cert, key: readFileSync(join(dir, 'key.pem')) },
    publicNames: ['fleet-a.example'],
  });
});
afterAll(async () => {
  await web.close();
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('web host over TLS', () => {
  it('prints an https URL and answers HTTPS with the token, for its address and its public name', async () => {
    expect(web.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/\?token=tls-test-token-0123456789$/);
    // 500: no renderer in this directory, but the request passed the Host and token checks.
    expect(await get(`/?token=${web.token}`, `127.0.0.1:${web.port}`)).toBe(500);
    expect(await get(`/?token=${web.token}`, `fleet-a.example:${web.port}`)).toBe(500);
    expect(await get(`/?token=${web.token}`, `evil.example:${web.port}`)).toBe(421);
    expect(await get('/?token=wrong-token-0123456789', `127.0.0.1:${web.port}`)).toBe(401);
  });

  it('accepts WSS from its own https origin only', async () => {
    const open = (origin: string): Promise<number | 'open'> =>
      new Promise((resolve) => {
        const ws = new WebSocket(`wss://127.0.0.1:${web.port}/api?token=${web.token}`, { ca: cert, origin });
        ws.once('open', () => {
          ws.close();
          resolve('open');
        });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('error', () => resolve(-1));
      });
    expect(await open(`https://127.0.0.1:${web.port}`)).toBe('open');
    expect(await open(`http://127.0.0.1:${web.port}`)).toBe(403);
  });

  it('gives plain HTTP on the TLS port no answer', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: web.port, path: `/?token=${web.token}` }, (res) =>
        resolve(`HTTP ${res.statusCode}`),
      );
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      req.end();
    });
    expect(outcome).not.toMatch(/^HTTP 2/);
    expect(outcome).toMatch(/ECONNRESET|socket hang up|HTTP 400/);
  });
});
