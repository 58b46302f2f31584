import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ServerMessageSchema, WireCallSchema } from '../../../shared/wire';
import { OverviewSchema } from '../../../shared/types';
import { overview, snapshot } from '../testing/fixtures';
import { UNAUTHORISED_MESSAGE, type SessionInfo } from './session';
import { WS_CLOSE_UNAUTHORIZED, WsClient, apiUrlFromLocation, type WebSocketLike } from './ws-client';

type Listener = (ev: never) => void;

/** Just enough of a browser WebSocket; the test drives it. */
class FakeWebSocket implements WebSocketLike {
  static instances: FakeWebSocket[] = [];
  readonly sent: string[] = [];
  closedByClient: { code?: number; reason?: string } | null = null;
  private readonly listeners = new Map<string, Listener[]>();

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  static last(): FakeWebSocket {
    const ws = FakeWebSocket.instances.at(-1);
    if (!ws) throw new Error('no socket created');
    return ws;
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  send(data: string): void {
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
  }

  private fire(type: string, ev: unknown): void {
    for (const l of this.listeners.get(type) ?? []) (l as (ev: unknown) => void)(ev);
  }

  // ---- server side ----
  open(): void {
    this.fire('open', {});
  }
  receive(data: unknown): void {
    this.fire('message', { data: typeof data === 'string' ? data : JSON.stringify(data) });
  }
  receiveRaw(data: unknown): void {
    this.fire('message', { data });
  }
  serverClose(code = 1006, reason = ''): void {
    this.fire('error', {});
    this.fire('close', { code, reason });
  }
  /** The calls the client sent, parsed with the wire schema. */
  calls() {
    return this.sent.map((s) => WireCallSchema.parse(JSON.parse(s)));
  }
}

function makeClient(extra: Partial<ConstructorParameters<typeof WsClient>[0]> = {}) {
  const client = new WsClient({
    url: 'ws://127.0.0.1:7878/api?token=abc',
    WebSocketImpl: FakeWebSocket,
    backoff: { initialMs: 100, maxMs: 1000 },
    ...extra,
  });
  const states: SessionInfo[] = [];
  client.subscribe((info) => states.push(info));
  return { client, states, ws: FakeWebSocket.last() };
}

/** Let promise continuations run. */
const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

beforeEach(() => {
  FakeWebSocket.instances = [];
  vi.spyOn(console, 'warn').mockImplementation(() => {});
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('apiUrlFromLocation', () => {
  it('carries the page token to the WebSocket URL', () => {
    expect(apiUrlFromLocation({ protocol: 'http:', host: '127.0.0.1:7878', search: '?token=a+b/c' })).toBe(
      'ws://127.0.0.1:7878/api?token=a%20b%2Fc',
    );
    expect(apiUrlFromLocation({ protocol: 'https:', host: 'studio.example', search: '' })).toBe(
      'wss://studio.example/api',
    );
  });
});

describe('WsClient', () => {
  it('correlates results with calls by id, also out of order, and parses values', async () => {
    const { client, ws } = makeClient();
    expect(client.get().state).toBe('connecting');

    const p1 = client.invoke('mptcp:limits:get', {});
    const p2 = client.invoke('mptcp:overview:get', {});
    expect(ws.sent).toHaveLength(0); // queued until open
    ws.open();
    expect(client.get().state).toBe('open');

    const [c1, c2] = ws.calls();
    expect(c1).toMatchObject({ t: 'call', method: 'mptcp:limits:get', args: {} });
    expect(c2).toMatchObject({ t: 'call', method: 'mptcp:overview:get', args: {} });
    expect(c1?.id).not.toBe(c2?.id);

    const ov = overview();
    ws.receive({ t: 'result', id: c2?.id, result: { ok: true, value: ov } });
    ws.receive({ t: 'result', id: c1?.id, result: { ok: false, error: { code: 'EPERM', message: 'nope' } } });

    expect(await p2).toEqual({ ok: true, value: OverviewSchema.parse(ov) });
    expect(await p1).toEqual({ ok: false, error: { code: 'EPERM', message: 'nope' } });

    // Once open, calls go out at once.
    void client.invoke('mptcp:status:get', {});
    expect(ws.calls()[2]?.method).toBe('mptcp:status:get');
  });

  it('turns a malformed result into an INTERNAL error for that call', async () => {
    const { client, ws } = makeClient();
    ws.open();
    const p = client.invoke('mptcp:limits:get', {});
    const id = ws.calls()[0]?.id;
    ws.receive({ t: 'result', id, result: { ok: true, value: { subflows: -1, addAddrAccepted: 'x' } } });
    const r = await p;
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('INTERNAL');
      expect(r.error.message).toContain('mptcp:limits:get');
    }
  });

  it('fails a call whose result frame itself is malformed', async () => {
    const { client, ws } = makeClient();
    ws.open();
    const p = client.invoke('mptcp:limits:get', {});
    const id = ws.calls()[0]?.id;
    ws.receive({ t: 'result', id, result: { ok: 'maybe' } });
    const r = await p;
    expect(r).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
  });

  it('drops garbage from the server with a visible error instead of throwing', () => {
    const { client, ws } = makeClient();
    ws.open();
    const onSnapshot = vi.fn();
    client.on('mptcp:connections:snapshot', onSnapshot);

    expect(() => ws.receiveRaw('{not json')).not.toThrow();
    expect(client.get()).toMatchObject({
      state: 'open',
      detail: expect.stringContaining('not JSON') as string,
    });

    expect(() => ws.receive({ t: 'bogus' })).not.toThrow();
    expect(client.get().detail).toContain('malformed');

    expect(() => ws.receiveRaw(new ArrayBuffer(4))).not.toThrow();
    expect(client.get().detail).toContain('binary');

    ws.receive({ t: 'result', id: 999, result: { ok: true, value: 1 } });
    expect(client.get().detail).toContain('unknown call 999');

    expect(onSnapshot).not.toHaveBeenCalled();
    expect(client.get().state).toBe('open');
  });

  it('dispatches parsed events to every listener until unsubscribed', () => {
    const { client, ws } = makeClient();
    ws.open();
    const a = vi.fn();
    const b = vi.fn();
    const errors = vi.fn();
    const offA = client.on('mptcp:connections:snapshot', a);
    client.on('mptcp:connections:snapshot', b);
    client.on('mptcp:engine:error', errors);

    const snap = snapshot();
    expect(
      ServerMessageSchema.safeParse({ t: 'event', name: 'mptcp:connections:snapshot', payload: snap })
        .success,
    ).toBe(true);
    ws.receive({ t: 'event', name: 'mptcp:connections:snapshot', payload: snap });
    expect(a).toHaveBeenCalledWith(snap);
    expect(b).toHaveBeenCalledTimes(1);
    expect(errors).not.toHaveBeenCalled();

    offA();
    ws.receive({
      t: 'event',
      name: 'mptcp:engine:error',
      payload: { source: 'connections', code: 'EPERM', message: 'x' },
    });
    ws.receive({ t: 'event', name: 'mptcp:connections:snapshot', payload: snap });
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledTimes(2);
    expect(errors).toHaveBeenCalledWith({ source: 'connections', code: 'EPERM', message: 'x' });
  });

  it('drops a malformed or unknown event and says so', () => {
    const { client, ws } = makeClient();
    ws.open();
    const listener = vi.fn();
    client.on('mptcp:connections:snapshot', listener);
    ws.receive({ t: 'event', name: 'mptcp:connections:snapshot', payload: { connections: 'lots' } });
    expect(listener).not.toHaveBeenCalled();
    expect(client.get().detail).toContain('malformed mptcp:connections:snapshot event');
    ws.receive({ t: 'event', name: 'mptcp:something:new', payload: {} });
    expect(client.get().detail).toContain('unknown event mptcp:something:new');
  });

  it('refuses malformed connections deltas (checked without zod on good input, by zod otherwise)', () => {
    const { client, ws } = makeClient();
    ws.open();
    const listener = vi.fn();
    client.on('mptcp:connections:delta', listener);
    const head = { kind: 'delta', seq: 2, baseSeq: 1, takenAtMs: 5, pollDurationUs: 1, orphanSubflows: 0 };
    const good = { ...head, changed: [{ token: 7, f: [-14, 1200] }] };
    const bad: unknown[] = [
      { ...head, changed: [{ token: -7, f: [-14, 1200] }] }, // token not a u32
      { ...head, changed: [{ token: 7, f: [-14, 1200], extra: 1 }] }, // unknown key (strict)
      { ...head, changed: [{ token: 7, f: [-14, [1]] }] }, // a packed value no field has
      { ...head, seq: 2.5 },
      { ...head, kind: 'diff' },
      { ...head, added: [{ token: 1 }] }, // a connection without its fields
    ];
    for (const payload of bad) ws.receive({ t: 'event', name: 'mptcp:connections:delta', payload });
    expect(listener).not.toHaveBeenCalled();
    expect(client.get().detail).toContain('malformed mptcp:connections:delta event');
    ws.receive({ t: 'event', name: 'mptcp:connections:delta', payload: good });
    expect(listener).toHaveBeenCalledWith(good);
  });

  it('a throwing listener does not stop the others', () => {
    const { client, ws } = makeClient();
    ws.open();
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const after = vi.fn();
    client.on('mptcp:connections:snapshot', () => {
      throw new Error('boom');
    });
    client.on('mptcp:connections:snapshot', after);
    expect(() =>
      ws.receive({ t: 'event', name: 'mptcp:connections:snapshot', payload: snapshot() }),
    ).not.toThrow();
    expect(after).toHaveBeenCalledTimes(1);
  });

  it('fails pending calls when the socket closes and reconnects with backoff', async () => {
    vi.useFakeTimers();
    const { client, ws, states } = makeClient();
    ws.open();
    const p = client.invoke('mptcp:overview:get', {});
    ws.serverClose(1006);

    const r = await p;
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('INTERNAL');
      expect(r.error.message).toMatch(/connection closed \(code 1006\) before the result arrived/);
    }
    expect(client.get().state).toBe('closed');
    // While closed, calls fail at once rather than hang.
    expect(await client.invoke('mptcp:limits:get', {})).toMatchObject({
      ok: false,
      error: { code: 'INTERNAL' },
    });

    vi.advanceTimersByTime(99);
    expect(FakeWebSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeWebSocket.instances).toHaveLength(2);
    expect(client.get().state).toBe('connecting');

    // Second failure before open: the delay doubles.
    FakeWebSocket.last().serverClose(1006);
    await vi.advanceTimersByTimeAsync(199);
    expect(FakeWebSocket.instances).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWebSocket.instances).toHaveLength(3);

    const ws3 = FakeWebSocket.last();
    ws3.open();
    expect(client.get().state).toBe('open');
    expect(states.map((s) => s.state)).toEqual([
      'open',
      'closed',
      'connecting',
      'closed',
      'connecting',
      'open',
    ]);

    // Works again on the new socket.
    const p2 = client.invoke('mptcp:limits:get', {});
    const id = ws3.calls()[0]?.id;
    ws3.receive({ t: 'result', id, result: { ok: true, value: { subflows: 2, addAddrAccepted: 1 } } });
    expect(await p2).toEqual({ ok: true, value: { subflows: 2, addAddrAccepted: 1 } });
  });

  it('stops at unauthorized on close code 4401', async () => {
    vi.useFakeTimers();
    const { client, ws } = makeClient();
    const p = client.invoke('mptcp:status:get', {});
    ws.open();
    ws.serverClose(WS_CLOSE_UNAUTHORIZED, 'unauthorised');
    expect(await p).toEqual({ ok: false, error: { code: 'UNAUTHORIZED', message: UNAUTHORISED_MESSAGE } });
    expect(client.get()).toMatchObject({ state: 'unauthorized', detail: UNAUTHORISED_MESSAGE });
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it('asks the probe when the upgrade is refused, and stops if unauthorised', async () => {
    const probe = vi.fn(() => Promise.resolve(true));
    const { client, ws } = makeClient({ probeUnauthorized: probe });
    ws.serverClose(1006);
    await flush();
    expect(probe).toHaveBeenCalledTimes(1);
    expect(client.get().state).toBe('unauthorized');
  });

  it('keeps reconnecting when the probe says the host is just unreachable', async () => {
    const probe = vi.fn(() => Promise.resolve(false));
    const { client, ws } = makeClient({ probeUnauthorized: probe });
    ws.serverClose(1006);
    await flush();
    expect(client.get().state).toBe('closed');
    expect(client.get().retryAtMs).not.toBeNull();
    client.dispose();
  });

  it('times out a call that gets no result', async () => {
    vi.useFakeTimers();
    const { client, ws } = makeClient({ callTimeoutMs: 1000 });
    ws.open();
    const p = client.invoke('mptcp:status:get', {});
    vi.advanceTimersByTime(1000);
    expect(await p).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } });
    // A late result is reported, not crashed on.
    const id = ws.calls()[0]?.id;
    ws.receive({ t: 'result', id, result: { ok: true, value: {} } });
    expect(client.get().detail).toContain('unknown call');
  });

  it('dispose closes the socket and fails pending calls without reconnecting', async () => {
    vi.useFakeTimers();
    const { client, ws } = makeClient();
    ws.open();
    const p = client.invoke('mptcp:status:get', {});
    client.dispose();
    expect(await p).toMatchObject({ ok: false });
    expect(ws.closedByClient).toEqual({ code: 1000, reason: 'client closed' });
    ws.serverClose(1000);
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });
});
