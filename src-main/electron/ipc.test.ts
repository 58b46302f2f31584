import { describe, expect, it, vi } from 'vitest';
import { applyDelta, type ConnectionsFeedEvent } from '../../shared/delta';
import { prng, steadyTick, syntheticSnapshot } from '../../shared/testing/synthetic';
import type { ConnectionsSnapshot } from '../../shared/types';
import { methodNames } from '../../shared/contract';
import { EngineService } from '../engine/service';
import { fakeBackend, sampleStatus } from '../testing/fake-backend';
import {
  IPC_ACK_WINDOW,
  bindIpc,
  forwardEvents,
  isTrustedSender,
  type IpcEventLike,
  type IpcMainLike,
} from './ipc';
import { APP_URL } from './app-protocol';

const APP = APP_URL;

function fakeIpcMain() {
  const handlers = new Map<string, (event: IpcEventLike, ...args: unknown[]) => unknown>();
  const ipc: IpcMainLike = {
    handle: (ch, fn) => void handlers.set(ch, fn),
    removeHandler: (ch) => void handlers.delete(ch),
  };
  return { ipc, handlers };
}

describe('IPC binding', () => {
  it('registers exactly one handler per contract method', () => {
    const { ipc, handlers } = fakeIpcMain();
    const unbind = bindIpc(ipc, new EngineService(fakeBackend()), APP);
    expect([...handlers.keys()].sort()).toEqual([...methodNames].sort());
    unbind();
    expect(handlers.size).toBe(0);
  });

  it('answers the app page and refuses subframes and foreign pages', async () => {
    const { ipc, handlers } = fakeIpcMain();
    const backend = fakeBackend();
    bindIpc(ipc, new EngineService(backend), APP);
    const h = handlers.get('mptcp:status:get');
    if (!h) throw new Error('no handler');
    const top = { url: APP, parent: null };
    expect(await h({ senderFrame: top }, {})).toEqual({ ok: true, value: sampleStatus });
    expect(await h({ senderFrame: { url: APP, parent: top } }, {})).toMatchObject({
      ok: false,
      error: { code: 'UNAUTHORIZED' },
    });
    expect(await h({ senderFrame: { url: 'https://evil.example/', parent: null } }, {})).toMatchObject({
      ok: false,
    });
    expect(await h({ senderFrame: null }, {})).toMatchObject({ ok: false });
    expect(backend.calls).toEqual(['mptcp:status:get']);
  });

  it('validates payloads from the renderer', async () => {
    const { ipc, handlers } = fakeIpcMain();
    bindIpc(ipc, new EngineService(fakeBackend()), APP);
    const h = handlers.get('mptcp:limits:get');
    expect(await h?.({ senderFrame: { url: APP, parent: null } }, { subflows: 99 })).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
  });

  it('sends each window a delta feed that waits for its acks, and routes resync/ack by sender', async () => {
    vi.useFakeTimers();
    const r = prng(8);
    let snap = syntheticSnapshot(r, 20, 1000, 2);
    const service = new EngineService(
      fakeBackend({
        'mptcp:connections:list': () => Promise.resolve((snap = steadyTick(r, snap, 100))),
      }),
      { pollIntervalMs: 100 },
    );
    const { ipc, handlers } = fakeIpcMain();
    bindIpc(ipc, service, APP);
    const sent: { channel: string; payload: unknown }[] = [];
    const contents = {
      send: (channel: string, payload: unknown) => sent.push({ channel, payload }),
      isDestroyed: () => false,
    };
    const stop = forwardEvents(service, contents);
    await vi.advanceTimersByTimeAsync(1000);
    const feed = () =>
      sent
        .filter((m) => m.channel === 'mptcp:connections:delta')
        .map((m) => m.payload as ConnectionsFeedEvent);
    expect(sent.some((m) => m.channel === 'mptcp:connections:snapshot')).toBe(false);
    expect(feed()).toHaveLength(IPC_ACK_WINDOW); // then it waits
    const top = { url: APP, parent: null };
    const ack = handlers.get('mptcp:connections:ack');
    const resync = handlers.get('mptcp:connections:resync');
    // Another window's ack does not count for this one.
    expect(await ack?.({ senderFrame: top, sender: {} }, { seq: 2 })).toMatchObject({ ok: false });
    expect(await ack?.({ senderFrame: top, sender: contents }, { seq: 2 })).toEqual({ ok: true, value: {} });
    await vi.advanceTimersByTimeAsync(service.pollStats.intervalMs);
    expect(feed().length).toBe(IPC_ACK_WINDOW + 1);
    expect(await resync?.({ senderFrame: top, sender: contents }, {})).toEqual({ ok: true, value: {} });
    const events = feed();
    expect(events.at(-1)?.kind).toBe('full');
    let held: ConnectionsSnapshot | null = null;
    for (const e of events)
      held = e.kind === 'full' ? e.snapshot : applyDelta(held as ConnectionsSnapshot, e);
    expect(held).toEqual(snap);
    stop();
    vi.useRealTimers();
    await service.close();
  });

  it('isTrustedSender compares scheme, host and path', () => {
    expect(isTrustedSender({ url: `${APP}#x`, parent: null }, APP)).toBe(true);
    expect(isTrustedSender({ url: 'file:///tmp/index.html', parent: null }, APP)).toBe(false);
    expect(isTrustedSender({ url: 'not a url', parent: null }, APP)).toBe(false);
    expect(isTrustedSender({ url: 'mptcp-studio://other/index.html', parent: null }, APP)).toBe(false);
    expect(isTrustedSender({ url: 'mptcp-studio://app/other.html', parent: null }, APP)).toBe(false);
  });
});
