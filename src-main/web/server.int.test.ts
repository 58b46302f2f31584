/**
 * The attack table of src-main/testing/web-attacks.ts against a real web host process
 * (`mptcp-studio serve --netns LAB`): after every malformed request and every broken WebSocket
 * frame the same process still answers. Each of these used to end it.
 */
import type { ChildProcess } from 'node:child_process';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labUnavailableReason } from '../lab/lab';
import { startServe, stopServe } from '../lab/serve';
import { fillRequest, HTTP_ATTACKS, rawHttp, WS_ATTACKS, wsAttack } from '../testing/web-attacks';

describe.skipIf(labUnavailableReason() !== null)('a real web host under malformed input', () => {
  let lab: Lab;
  let serve: ChildProcess | null = null;
  let port = 0;
  let token = '';

  beforeAll(async () => {
    lab = await Lab.create({ paths: 1, mptcp: 'none' });
    const started = await startServe(lab.client);
    serve = started.child;
    const url = new URL(started.url);
    port = Number(url.port);
    token = url.searchParams.get('token') ?? '';
  });
  afterAll(async () => {
    await stopServe(serve);
    await lab?.destroy();
  });

  const alive = async (): Promise<void> => {
    expect(serve?.exitCode, 'web host exited').toBeNull();
    expect(serve?.signalCode).toBeNull();
    // A call through the whole path: WebSocket, session, namespace agent, kernel.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api?token=${token}`);
    const reply = await new Promise<unknown>((resolve, reject) => {
      ws.once('error', reject);
      ws.once('open', () =>
        ws.send(JSON.stringify({ t: 'call', id: 1, method: 'mptcp:status:get', args: {} })),
      );
      ws.on('message', (d: Buffer) => {
        const m = JSON.parse(d.toString()) as { t: string };
        if (m.t === 'result') resolve(m);
      });
    });
    ws.close();
    expect(reply).toMatchObject({ t: 'result', id: 1, result: { ok: true, value: { netns: lab.client } } });
  };

  it('answers every malformed HTTP request with a status and keeps serving', async () => {
    for (const attack of HTTP_ATTACKS) {
      const status = await rawHttp(port, fillRequest(attack.request, port, token));
      expect(attack.expect, attack.name).toContain(status);
      await alive();
    }
  });

  it('closes a WebSocket that breaks RFC 6455 with the right code and keeps serving', async () => {
    for (const attack of WS_ATTACKS) {
      const code = await wsAttack(port, token, attack);
      if (attack.closeCodes) expect(attack.closeCodes, attack.name).toContain(code);
      await alive();
    }
  });
});
