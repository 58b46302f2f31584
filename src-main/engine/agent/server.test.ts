/**
 * The agent's line protocol as an attacker or a broken client uses it: depth, size, garbage,
 * floods of calls, other clients' pending changes. Each case used to end the agent or hang the
 * client; here the agent answers and keeps serving.
 */
import { mkdtempSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { writeMethodNames, type EventName, type EventPayload } from '../../../shared/contract';
import { fakeBackend } from '../../testing/fake-backend';
import type { EngineBackend } from '../service';
import { LineSplitter } from './lines';
import {
  AgentSessions,
  MAX_CALLS_IN_FLIGHT,
  MAX_REQUEST_LINE_BYTES,
  serveAgent,
  serveAgentSocket,
  type AgentPeer,
} from './server';

type Listener = <E extends EventName>(event: E, payload: EventPayload<E>) => void;

/** The fake backend with an event source whose subscribers can be counted. */
function eventfulBackend(
  overrides: Parameters<typeof fakeBackend>[0] = {},
): ReturnType<typeof fakeBackend> & { listeners: Set<Listener>; emit: Listener } {
  const listeners = new Set<Listener>();
  const emit: Listener = (event, payload) => {
    for (const l of listeners) l(event, payload);
  };
  return Object.assign(fakeBackend(overrides), {
    listeners,
    emit,
    onEvent(l: Listener) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  });
}

interface Client {
  input: PassThrough;
  messages: Record<string, unknown>[];
  call: (id: number, method: string, args?: unknown) => void;
  next: (pred: (m: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
  done: Promise<void>;
}

function client(backend: EngineBackend, opts: Parameters<typeof serveAgent>[3] = {}): Client {
  const input = new PassThrough();
  const output = new PassThrough();
  const messages: Record<string, unknown>[] = [];
  const waiters: {
    pred: (m: Record<string, unknown>) => boolean;
    resolve: (m: Record<string, unknown>) => void;
  }[] = [];
  const split = new LineSplitter({
    maxLineBytes: 1 << 26,
    onLine: (l) => {
      const m = JSON.parse(l) as Record<string, unknown>;
      messages.push(m);
      for (const w of [...waiters]) {
        if (w.pred(m)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    },
    onOversize: () => undefined,
  });
  output.on('data', (d: Buffer) => split.push(d));
  const done = serveAgent(backend, input, output, { closeBackend: false, ...opts });
  return {
    input,
    messages,
    done,
    call: (id, method, args = {}) => input.write(`${JSON.stringify({ t: 'call', id, method, args })}\n`),
    next: (pred) =>
      new Promise((resolve) => {
        const found = messages.find(pred);
        if (found) resolve(found);
        else waiters.push({ pred, resolve });
      }),
  };
}

const resultOf = (id: number) => (m: Record<string, unknown>) => m.t === 'result' && m.id === id;

describe('agent line protocol under hostile input', () => {
  it('a write call with 20,000-deep arguments is refused and audited without throwing', async () => {
    const log: Record<string, unknown>[] = [];
    const c = client(fakeBackend(), { log: (e) => log.push(e) });
    const deep = '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000);
    c.input.write(`{"t":"call","id":1,"method":"mptcp:config:apply","args":${deep}}\n`);
    const r = await c.next(resultOf(1));
    expect(r.result).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ method: 'mptcp:config:apply', args: { invalid: expect.any(String) } });
    expect(JSON.stringify(log[0]).length).toBeLessThan(4096);
    c.call(2, 'mptcp:status:get');
    expect((await c.next(resultOf(2))).result).toMatchObject({ ok: true });
    c.input.end();
    await c.done;
  });

  it('a line over the limit is refused by its id, and the lines after it are served', async () => {
    const c = client(fakeBackend());
    const big = `{"t":"call","id":41,"method":"mptcp:status:get","args":{"x":"${'y'.repeat(MAX_REQUEST_LINE_BYTES)}"}}`;
    // In pieces and without a newline for a while, as a socket delivers it.
    for (let i = 0; i < big.length; i += 65536) c.input.write(big.slice(i, i + 65536));
    c.input.write('\n');
    c.call(42, 'mptcp:status:get');
    const refused = await c.next(resultOf(41));
    expect(refused.result).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST', message: /over \d+ bytes/ },
    });
    expect((await c.next(resultOf(42))).result).toMatchObject({ ok: true });
    c.input.end();
    await c.done;
  });

  it('always answers: a malformed call by its id, garbage with an error event', async () => {
    const c = client(fakeBackend());
    c.input.write('{"t":"call","id":5,"method":7}\n');
    c.input.write('not json at all\n');
    c.call(6, 'mptcp:no:such');
    expect((await c.next(resultOf(5))).result).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(
      await c.next((m) => m.t === 'event' && (m.payload as { code?: string }).code === 'BAD_REQUEST'),
    ).toMatchObject({ name: 'mptcp:engine:error' });
    expect((await c.next(resultOf(6))).result).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST', message: /unknown method/ },
    });
    c.input.end();
    await c.done;
  });

  it('every method the contract marks as writing leaves one audit line with validated arguments', async () => {
    const log: Record<string, unknown>[] = [];
    const c = client(fakeBackend(), { log: (e) => log.push(e) });
    writeMethodNames.forEach((m, i) => c.call(100 + i, m, { injected: { deep: true } }));
    c.call(999, 'mptcp:status:get');
    await Promise.all(writeMethodNames.map((_, i) => c.next(resultOf(100 + i))));
    await c.next(resultOf(999));
    expect(log.map((e) => e.method).sort()).toEqual([...writeMethodNames].sort());
    // The reason names the refused key; the value the client sent never reaches the log.
    for (const e of log) expect(JSON.stringify(e)).not.toContain('deep');
    expect(writeMethodNames).toEqual(expect.arrayContaining(['mptcp:pm:start', 'mptcp:pm:stop']));
    c.input.end();
    await c.done;
  });

  it('takes at most MAX_CALLS_IN_FLIGHT calls of one client at once; another client is served meanwhile', async () => {
    let inEngine = 0;
    let most = 0;
    const release: (() => void)[] = [];
    const backend = fakeBackend({
      'mptcp:status:get': () =>
        new Promise((resolve) => {
          inEngine++;
          most = Math.max(most, inEngine);
          release.push(() => {
            inEngine--;
            resolve(fakeBackend().handlers['mptcp:status:get']({}));
          });
        }),
    });
    const sessions = new AgentSessions();
    const flood = client(backend, { sessions });
    const other = client(backend, { sessions });
    for (let i = 0; i < 2000; i++) flood.call(i, 'mptcp:status:get');
    await new Promise((r) => setTimeout(r, 50));
    expect(inEngine).toBe(MAX_CALLS_IN_FLIGHT);
    other.call(1, 'mptcp:limits:get');
    expect((await other.next(resultOf(1))).result).toMatchObject({ ok: true });
    // Drain: every call is answered, never more than the cap at once.
    while (flood.messages.filter((m) => m.t === 'result').length < 2000) {
      for (const r of release.splice(0)) r();
      await new Promise((r) => setImmediate(r));
    }
    expect(most).toBe(MAX_CALLS_IN_FLIGHT);
    flood.input.end();
    other.input.end();
    await Promise.all([flood.done, other.done]);
  });

  it('a pending change is confirmed or reverted only by its client or its uid, and only they hear of it', async () => {
    const backend = eventfulBackend({
      'mptcp:config:apply': (a) => {
        backend.emit('mptcp:config:pending', { revertAtMs: 123 });
        return Promise.resolve({
          ok: true,
          planErrors: [],
          applied: [],
          failed: null,
          rolledBack: [],
          restored: null,
          revertAtMs: a.confirmWithinS === null ? null : 123,
        });
      },
      'mptcp:config:confirm': () => {
        backend.emit('mptcp:config:pending', { revertAtMs: null });
        return Promise.resolve({ revertAtMs: null });
      },
    });
    const sessions = new AgentSessions();
    backend.onEvent?.((n, p) => sessions.observe(n, p));
    const peer = (label: string, uid: number): AgentPeer => ({ label, uid, gid: uid, pid: 1 });
    const alice = client(backend, { sessions, peer: peer('a', 1000) });
    const alice2 = client(backend, { sessions, peer: peer('a2', 1000) });
    const bob = client(backend, { sessions, peer: peer('b', 1001) });
    alice.call(1, 'mptcp:config:apply', { config: { enabled: true }, confirmWithinS: 30 });
    await alice.next(resultOf(1));
    bob.call(2, 'mptcp:config:confirm');
    expect((await bob.next(resultOf(2))).result).toMatchObject({
      ok: false,
      error: { code: 'EPERM', message: /another client \(a, uid 1000\)/ },
    });
    bob.call(3, 'mptcp:config:revert');
    expect((await bob.next(resultOf(3))).result).toMatchObject({ ok: false, error: { code: 'EPERM' } });
    alice2.call(4, 'mptcp:config:confirm');
    expect((await alice2.next(resultOf(4))).result).toMatchObject({ ok: true });
    const pendingSeen = (c: Client) => c.messages.filter((m) => m.name === 'mptcp:config:pending').length;
    expect(pendingSeen(alice)).toBe(2);
    expect(pendingSeen(alice2)).toBe(2);
    expect(pendingSeen(bob)).toBe(0);
    for (const c of [alice, alice2, bob]) c.input.end();
    await Promise.all([alice.done, alice2.done, bob.done]);
  });
});

describe('agent on a Unix socket', () => {
  let server: Server | null = null;
  afterEach(() => {
    server?.close();
    server = null;
  });

  it('keeps one backend subscription however many clients come and go', async () => {
    const backend = eventfulBackend();
    const path = join(mkdtempSync(join(tmpdir(), 'mpst-agent-')), 'agent.sock');
    server = await serveAgentSocket(backend, { path });
    const baseline = backend.listeners.size;
    // Each connection's peer credentials are read from /proc: a few dozen are enough to show
    // that subscriptions do not grow with them.
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const s = connect(path);
          return new Promise<void>((resolve) => {
            s.on('data', () => s.end());
            s.on('close', () => resolve());
            s.write(`${JSON.stringify({ t: 'call', id: i, method: 'mptcp:status:get', args: {} })}\n`);
          });
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(backend.listeners.size).toBe(baseline);
  });

  it('answers a read before the peer is identified; an audited call waits and names the peer', async () => {
    const backend = eventfulBackend();
    const path = join(mkdtempSync(join(tmpdir(), 'mpst-agent-')), 'agent.sock');
    // Identification held back (a slow /proc scan on a busy host) until the test lets it go.
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const log: Record<string, unknown>[] = [];
    server = await serveAgentSocket(backend, {
      path,
      log: (e) => log.push(e),
      identify: async () => {
        await held;
        return { uid: 4242, gid: 4343, pid: 777 };
      },
    });
    const s = connect(path);
    const replies: Record<string, unknown>[] = [];
    const splitter = new LineSplitter({
      maxLineBytes: MAX_REQUEST_LINE_BYTES,
      onLine: (l) => replies.push(JSON.parse(l) as Record<string, unknown>),
      onOversize: () => undefined,
    });
    s.on('data', (d: Buffer) => splitter.push(d));
    const send = (id: number, method: string, args: unknown): void => {
      s.write(`${JSON.stringify({ t: 'call', id, method, args })}\n`);
    };
    send(1, 'mptcp:status:get', {});
    await expect.poll(() => replies.some((r) => r.id === 1)).toBe(true);
    send(2, 'mptcp:config:apply', { config: {}, confirmWithinS: null, allowDisruption: false });
    await new Promise((r) => setTimeout(r, 100));
    expect(replies.some((r) => r.id === 2)).toBe(false);
    release();
    await expect.poll(() => replies.some((r) => r.id === 2)).toBe(true);
    const audit = log.find((e) => e.method === 'mptcp:config:apply');
    expect(audit?.peer).toEqual({ client: 'socket client 1', uid: 4242, gid: 4343, pid: 777 });
    s.destroy();
  });
});
