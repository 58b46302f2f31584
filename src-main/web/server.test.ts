import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { EngineService } from '../engine/service';
import { fakeBackend, sampleStatus } from '../testing/fake-backend';
import { below, mulberry32, mutateText, randomBytes } from '../../shared/testing/fuzz';
import { fillRequest, frame, HTTP_ATTACKS, rawHttp, WS_ATTACKS, wsAttack } from '../testing/web-attacks';
import { MAX_CALL_BYTES } from '../../shared/wire';
import { DROPPED_NOTICE_SOURCE, FEED_MAX_BUFFERED_BYTES, startWebHost, type WebHost } from './server';
import { ConnectionsFeedEventSchema, applyDelta } from '../../shared/delta';
import { prng, steadyTick, syntheticSnapshot } from '../../shared/testing/synthetic';
import type { ConnectionsSnapshot, KernelEvent } from '../../shared/types';

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

function wsOpen(url: string, origin?: string): Promise<{ ws: WebSocket; status: number | null }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    ws.once('open', () => resolve({ ws, status: null }));
    ws.once('unexpected-response', (_req, res) => resolve({ ws, status: res.statusCode ?? 0 }));
    ws.once('error', () => resolve({ ws, status: -1 }));
  });
}

describe('web host', () => {
  let host: WebHost;
  const service = new EngineService(fakeBackend());
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mpst-static-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>MPTCP Studio</title>');
    host = await startWebHost({ service, staticDir: dir, port: 0 });
  });
  afterAll(async () => {
    await host.close();
  });

  it('binds loopback and prints a URL with the token', () => {
    expect(host.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${host.port}/\\?token=[A-Za-z0-9_-]{20,}$`));
    const addr = host.server.address();
    expect(typeof addr === 'object' && addr?.address).toBe('127.0.0.1');
  });

  it('refuses HTTP requests without the token', async () => {
    expect((await get(host.port, '/')).status).toBe(401);
    expect((await get(host.port, '/?token=wrong')).status).toBe(401);
    expect((await get(host.port, '/', { Cookie: 'mptcp_studio_token=wrong' })).status).toBe(401);
  });

  it('serves the page with the token, sets a strict cookie and a CSP', async () => {
    const r = await get(host.port, `/?token=${host.token}`);
    expect(r.status).toBe(200);
    expect(r.body).toContain('MPTCP Studio');
    expect(String(r.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict/);
    expect(String(r.headers['content-security-policy'])).toContain("script-src 'self'");
    const viaCookie = await get(host.port, '/', { Cookie: `mptcp_studio_token=${host.token}` });
    expect(viaCookie.status).toBe(200);
  });

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    const r = await get(host.port, `/?token=${host.token}`, { Host: `evil.example:${host.port}` });
    expect(r.status).toBe(421);
  });

  it('does not serve files outside its directory', async () => {
    const r = await get(host.port, `/..%2f..%2fetc%2fpasswd?token=${host.token}`);
    expect([403, 404]).toContain(r.status);
    expect(r.body).not.toContain('root:');
  });

  it('refuses WebSocket upgrades without the token or from a foreign Origin', async () => {
    const base = `ws://127.0.0.1:${host.port}/api`;
    expect((await wsOpen(base)).status).toBe(401);
    expect((await wsOpen(`${base}?token=${host.token}`, 'http://evil.example')).status).toBe(403);
  });

  it('serves the contract over WebSocket and validates calls', async () => {
    const { ws, status } = await wsOpen(
      `ws://127.0.0.1:${host.port}/api?token=${host.token}`,
      `http://127.0.0.1:${host.port}`,
    );
    expect(status).toBeNull();
    const replies: unknown[] = [];
    const got = new Promise<void>((resolve) => {
      ws.on('message', (d: Buffer) => {
        const m = JSON.parse(d.toString()) as { t: string };
        if (m.t === 'result') replies.push(m);
        if (replies.length === 2) resolve();
      });
    });
    ws.send(JSON.stringify({ t: 'call', id: 1, method: 'mptcp:status:get', args: {} }));
    ws.send(JSON.stringify({ t: 'call', id: 2, method: 'mptcp:status:get', args: { evil: true } }));
    await got;
    expect(replies).toContainEqual({ t: 'result', id: 1, result: { ok: true, value: sampleStatus } });
    const second = replies.find((r) => (r as { id: number }).id === 2) as
      { result: { ok: boolean } } | undefined;
    expect(second?.result.ok).toBe(false);
    ws.close();
  });
});

describe('web host under malformed input', () => {
  let host: WebHost;
  const service = new EngineService(fakeBackend());
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mpst-static-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>MPTCP Studio</title>');
    host = await startWebHost({ service, staticDir: dir, port: 0 });
  });
  afterAll(async () => {
    await host.close();
  });

  // Each attack used to end the process (URIError, an unhandled rejection or an 'error' event with
  // no listener); in-process here, the test run itself would die.
  it.each(HTTP_ATTACKS)('HTTP: $name gets a clear status and the host keeps serving', async (attack) => {
    const status = await rawHttp(host.port, fillRequest(attack.request, host.port, host.token));
    expect(attack.expect).toContain(status);
    expect((await get(host.port, `/?token=${host.token}`)).status).toBe(200);
  });

  it.each(WS_ATTACKS)('WebSocket: $name closes that socket only', async (attack) => {
    const code = await wsAttack(host.port, host.token, attack);
    if (attack.closeCodes) expect(attack.closeCodes).toContain(code);
    const { ws, status } = await wsOpen(`ws://127.0.0.1:${host.port}/api?token=${host.token}`);
    expect(status).toBeNull();
    const reply = new Promise<unknown>((resolve) =>
      ws.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()))),
    );
    ws.send(JSON.stringify({ t: 'call', id: 7, method: 'mptcp:status:get', args: {} }));
    expect(await reply).toMatchObject({ t: 'result', id: 7, result: { ok: true } });
    ws.close();
  });

  it('survives 300 random frames after the handshake (seeded fuzz)', async () => {
    const r = mulberry32(0xf7a3e5);
    for (let i = 0; i < 300; i++) {
      const first = below(r, 256);
      const payload = Buffer.from(
        below(r, 2) === 0
          ? mutateText(r, JSON.stringify({ t: 'call', id: i, method: 'mptcp:status:get', args: {} }))
          : randomBytes(r, below(r, 300)),
      );
      const masked = below(r, 8) !== 0;
      const claimed = below(r, 4) === 0 ? below(r, 1 << 22) : undefined;
      await wsAttack(
        host.port,
        host.token,
        {
          name: `fuzz ${i}`,
          bytes: () =>
            frame(first, payload, { masked, ...(claimed !== undefined ? { claimedLength: claimed } : {}) }),
          closeCodes: null,
        },
        200,
      ).catch(() => null); // a frame that needs more bytes leaves the socket waiting: timed out, fine
    }
    const { ws } = await wsOpen(`ws://127.0.0.1:${host.port}/api?token=${host.token}`);
    const reply = new Promise<unknown>((resolve) =>
      ws.once('message', (d: Buffer) => resolve(JSON.parse(d.toString()))),
    );
    ws.send(JSON.stringify({ t: 'call', id: 1, method: 'mptcp:status:get', args: {} }));
    expect(await reply).toMatchObject({ t: 'result', id: 1, result: { ok: true } });
    ws.close();
  }, 60_000);

  it('refuses a call larger than MAX_CALL_BYTES with 1009, before reading it whole', async () => {
    const { ws } = await wsOpen(`ws://127.0.0.1:${host.port}/api?token=${host.token}`);
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    ws.on('error', () => undefined);
    ws.send(
      JSON.stringify({
        t: 'call',
        id: 1,
        method: 'mptcp:profiles:import',
        args: { text: 'x'.repeat(MAX_CALL_BYTES) },
      }),
    );
    expect(await closed).toBe(1009);
  });
});

describe('web host audit', () => {
  it('logs every writing call with its client and validated arguments, and no read', async () => {
    const lines: Record<string, unknown>[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'mpst-static-'));
    const host = await startWebHost({
      service: new EngineService(fakeBackend()),
      staticDir: dir,
      port: 0,
      audit: (e) => lines.push(e),
    });
    try {
      const { ws } = await wsOpen(`ws://127.0.0.1:${host.port}/api?token=${host.token}`);
      const results = new Map<number, unknown>();
      const got = new Promise<void>((resolve) =>
        ws.on('message', (d: Buffer) => {
          const m = JSON.parse(d.toString()) as { t: string; id: number };
          if (m.t === 'result') results.set(m.id, m);
          if (results.size === 3) resolve();
        }),
      );
      ws.send(JSON.stringify({ t: 'call', id: 1, method: 'mptcp:status:get', args: {} }));
      ws.send(JSON.stringify({ t: 'call', id: 2, method: 'mptcp:pm:stop', args: {} }));
      const config = { limits: { subflows: 2, addAddrAccepted: 0 } };
      ws.send(
        JSON.stringify({
          t: 'call',
          id: 3,
          method: 'mptcp:config:apply',
          args: { config, confirmWithinS: null },
        }),
      );
      await got;
      ws.close();
      expect(lines.map((l) => l.method)).toEqual(['mptcp:pm:stop', 'mptcp:config:apply']);
      expect(lines[1]).toMatchObject({
        peer: { client: expect.stringMatching(/^websocket 127\.0\.0\.1:\d+$/) },
        args: { config },
      });
    } finally {
      await host.close();
    }
  });
});

describe('web host and crash recovery', () => {
  it('tells every page that connects later what the engine recovered at start', async () => {
    const service = new EngineService(fakeBackend());
    const host = await startWebHost({
      service,
      staticDir: mkdtempSync(join(tmpdir(), 'mpst-static-')),
      port: 0,
    });
    try {
      const recovery = {
        kind: 'apply-undone' as const,
        message: 'an apply interrupted by a killed engine (pid 42) was undone: the state before it is back',
        atMs: 1,
        pid: 42,
        appliedAtMs: 0,
        revertAtMs: null,
        restored: true,
        steps: [],
      };
      service.emit('mptcp:config:recovered', recovery);
      for (let i = 0; i < 2; i++) {
        // Listening before 'open': the event may come in the same read as the handshake.
        const ws = new WebSocket(`ws://127.0.0.1:${host.port}/api?token=${host.token}`);
        const got = await new Promise<unknown>((resolve) =>
          ws.on('message', (d: Buffer) => {
            const m = JSON.parse(d.toString()) as { name?: string; payload?: unknown };
            if (m.name === 'mptcp:config:recovered') resolve(m.payload);
          }),
        );
        expect(got).toEqual(recovery);
        ws.close();
      }
    } finally {
      await host.close();
    }
  });
});

describe('web host connections feed', () => {
  it('a client that stops reading is skipped, not queued (bounded backlog), and converges when it reads again', async () => {
    const r = prng(2024);
    let current = syntheticSnapshot(r, 400, 1_000_000, 2);
    const byTime = new Map<number, ConnectionsSnapshot>();
    let polls = 0;
    const service = new EngineService(
      fakeBackend({
        'mptcp:connections:list': () => {
          current = steadyTick(r, current, 100);
          byTime.set(current.takenAtMs, current);
          polls++;
          return Promise.resolve(current);
        },
      }),
      // The interval would grow while the client is behind; keep it fixed to push hard.
      { pollIntervalMs: 50, maxPollIntervalMs: 50 },
    );
    const dir = mkdtempSync(join(tmpdir(), 'mpst-static-'));
    const host = await startWebHost({ service, staticDir: dir, port: 0 });
    try {
      const { ws } = await wsOpen(`ws://127.0.0.1:${host.port}/api?token=${host.token}`);
      let held: { seq: number; snap: ConnectionsSnapshot } | null = null;
      let messages = 0;
      let gaps = 0;
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { t: string; name?: string; payload?: unknown };
        if (msg.name !== 'mptcp:connections:delta') return;
        messages++;
        const e = ConnectionsFeedEventSchema.parse(msg.payload);
        if (e.kind === 'full') held = { seq: e.seq, snap: e.snapshot };
        else if (held?.seq === e.baseSeq) held = { seq: e.seq, snap: applyDelta(held.snap, e) };
        else gaps++;
      });
      await vi.waitFor(() => expect(messages).toBeGreaterThan(2), { timeout: 10_000 });
      // Stop reading: the kernel's socket buffers fill, then ws's own buffer would grow.
      ws.pause();
      const pollsBefore = polls;
      let maxBuffered = 0;
      // Paused for 5 s at least, and longer on a slow machine until the polls and skips counted
      // below have happened (at most 15 s).
      const behindEnough = (): boolean =>
        polls - pollsBefore > 20 && (host.clientStats()[0]?.feed.skipped ?? 0) > 5;
      for (let i = 0; i < 100 || (i < 300 && !behindEnough()); i++) {
        await new Promise((res) => setTimeout(res, 50));
        for (const c of host.clientStats()) maxBuffered = Math.max(maxBuffered, c.bufferedAmount);
      }
      const stats = host.clientStats()[0];
      expect(polls - pollsBefore).toBeGreaterThan(20);
      expect(stats?.feed.skipped).toBeGreaterThan(5);
      // Bounded: the threshold plus one message (a delta here is well under 1 MB).
      expect(maxBuffered).toBeLessThan(FEED_MAX_BUFFERED_BYTES + 2 * 1024 * 1024);
      ws.resume();
      // Caught up: holding a snapshot within 5 polls of the engine's latest (checked again below).
      await vi.waitFor(
        () => expect(current.takenAtMs - (held?.snap.takenAtMs ?? 0)).toBeLessThanOrEqual(5 * 100),
        { timeout: 10_000 },
      );
      expect(gaps).toBe(0);
      expect(messages).toBeLessThan(polls);
      const got = held as { seq: number; snap: ConnectionsSnapshot } | null;
      expect(got).not.toBeNull();
      // What the client rebuilt is exactly a snapshot the engine read, and a recent one.
      expect(got?.snap).toEqual(byTime.get(got?.snap.takenAtMs ?? -1));
      expect(current.takenAtMs - (got?.snap.takenAtMs ?? 0)).toBeLessThanOrEqual(5 * 100);
      ws.close();
    } finally {
      await host.close();
      await service.close();
    }
  }, 30_000);
});

describe('web host event streams', () => {
  it('drops kernel events and counter samples for a client that is behind, and tells it how many it missed', async () => {
    const service = new EngineService(fakeBackend());
    const dir = mkdtempSync(join(tmpdir(), 'mpst-static-'));
    const host = await startWebHost({ service, staticDir: dir, port: 0 });
    try {
      const { ws } = await wsOpen(`ws://127.0.0.1:${host.port}/api?token=${host.token}`);
      let kernelEvents = 0;
      const notices: { source: string; code: string; message: string }[] = [];
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { name?: string; payload?: unknown };
        if (msg.name === 'mptcp:kernel:event') kernelEvents++;
        if (msg.name === 'mptcp:engine:error')
          notices.push(msg.payload as { source: string; code: string; message: string });
      });
      // The host has taken this client on (it subscribes it to the events as it does).
      await vi.waitFor(() => expect(host.clientStats()).toHaveLength(1), { timeout: 5000 });
      const link = (i: number): KernelEvent => ({
        source: 'link',
        timestampMs: i,
        deleted: false,
        index: 3,
        name: 'eth1',
        operState: i % 2 ? 'up' : 'down',
        adminUp: true,
        running: true,
        usable: true,
        mtuBytes: 1500,
      });
      // A big counters sample (1,000 changed counters, ~30 kB) fills the socket quickly.
      const changed = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`Counter${i}`, i]));
      ws.pause();
      let emitted = 0;
      let maxBuffered = 0;
      for (let round = 0; round < 100; round++) {
        for (let i = 0; i < 20; i++)
          service.emit('mptcp:counters:sample', { takenAtMs: round, prevTakenAtMs: null, changed });
        for (let i = 0; i < 50; i++) service.emit('mptcp:kernel:event', link(emitted++));
        maxBuffered = Math.max(maxBuffered, host.clientStats()[0]?.bufferedAmount ?? 0);
        await new Promise((res) => setImmediate(res));
      }
      const stats = host.clientStats()[0];
      // Bounded: the threshold plus the few messages sent before the socket reported it.
      expect(maxBuffered).toBeLessThan(FEED_MAX_BUFFERED_BYTES + 512 * 1024);
      expect(stats?.dropped.kernelEvents).toBeGreaterThan(0);
      expect(stats?.dropped.counterSamples).toBeGreaterThan(0);
      ws.resume();
      await vi.waitFor(() => expect(host.clientStats()[0]?.bufferedAmount).toBe(0), { timeout: 5000 });
      service.emit('mptcp:kernel:event', link(emitted++));
      await vi.waitFor(() => expect(kernelEvents + (stats?.dropped.kernelEvents ?? 0)).toBe(emitted), {
        timeout: 5000,
      });
      // One notice, before the next event, counting exactly what was missed.
      expect(notices).toEqual([
        {
          source: DROPPED_NOTICE_SOURCE,
          code: 'EVENTS_DROPPED',
          message: `${stats?.dropped.kernelEvents} kernel events were dropped while this page was behind`,
        },
      ]);
      ws.close();
    } finally {
      await host.close();
      await service.close();
    }
  }, 30_000);
});
