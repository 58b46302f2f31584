import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeKernel } from '../../testing/fake-kernel';
import { emptyEvent, type PmEvent } from '../mptcp-pm/events';
import {
  RECREATE_DEFAULTS,
  retryDelayFor,
  UserspacePm,
  type PmLogEntry,
  type UserspacePmOptions,
} from './userspace-pm';

const TOKEN = 0x1234;

function ev(kind: PmEvent['kind'], p: Partial<PmEvent> = {}): PmEvent {
  return { ...emptyEvent(0), kind, token: TOKEN, family: 'inet', ...p };
}
const established = (p: Partial<PmEvent> = {}): PmEvent =>
  ev('established', {
    localAddress: '10.0.1.1',
    localPort: 40000,
    remoteAddress: '10.0.1.2',
    remotePort: 5201,
    localId: 0,
    remoteId: 0,
    ...p,
  });

function setup(o: Partial<UserspacePmOptions> = {}) {
  const kernel = new FakeKernel();
  const { creates, destroys, announces, removes } = kernel.sent;
  const log: PmLogEntry[] = [];
  const pm = new UserspacePm({
    mode: 'fullmesh',
    role: 'client',
    subflows: 16,
    commands: kernel.pm,
    log: (e) => log.push(e),
    ...o,
  });
  pm.setLocalAddresses([
    { address: '10.0.1.1', family: 'inet', ifindex: 2 },
    { address: '10.0.2.1', family: 'inet', ifindex: 3 },
  ]);
  return { pm, kernel, creates, destroys, announces, removes, log };
}

describe('UserspacePm ndiffports', () => {
  it('opens N-1 extra subflows over the initial pair with ephemeral ports and id 0', () => {
    const t = setup({ mode: 'ndiffports', subflows: 4 });
    t.pm.handleEvent(ev('created', { ...established(), kind: 'created' }));
    expect(t.creates).toHaveLength(0); // not before ESTABLISHED
    t.pm.handleEvent(established());
    expect(t.creates).toHaveLength(3);
    for (const c of t.creates) {
      expect(c).toEqual({
        token: TOKEN,
        local: { address: '10.0.1.1' },
        remote: { address: '10.0.1.2', port: 5201 },
      });
    }
    // Duplicate events do not create more.
    t.pm.handleEvent(established());
    expect(t.creates).toHaveLength(3);
  });

  it('never creates subflows as a server or on a server-side connection', () => {
    const s = setup({ mode: 'ndiffports', subflows: 4, role: 'server' });
    s.pm.handleEvent(established({ serverSide: true }));
    expect(s.creates).toHaveLength(0);
    const c = setup({ mode: 'ndiffports', subflows: 4 });
    c.pm.handleEvent(established({ serverSide: true }));
    expect(c.creates).toHaveLength(0);
  });
});

describe('UserspacePm recreate policy', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('recreates a closed subflow with backoff and gives up after maxRetries (no storm)', () => {
    const t = setup({ mode: 'ndiffports', subflows: 2, maxRetries: 2, retryDelayMs: 100 });
    t.pm.handleEvent(established());
    expect(t.creates).toHaveLength(1);
    const fail = (): void =>
      t.pm.handleEvent(
        ev('sub_closed', {
          localAddress: '10.0.1.1',
          localPort: 41000,
          remoteAddress: '10.0.1.2',
          remotePort: 5201,
          error: 111,
        }),
      );
    fail();
    expect(t.creates).toHaveLength(1);
    vi.advanceTimersByTime(100);
    expect(t.creates).toHaveLength(2);
    fail();
    vi.advanceTimersByTime(150);
    expect(t.creates).toHaveLength(2); // second delay is 200 ms
    vi.advanceTimersByTime(50);
    expect(t.creates).toHaveLength(3);
    fail();
    vi.advanceTimersByTime(10_000);
    expect(t.creates).toHaveLength(3);
    expect(t.log.some((e) => e.what === 'give-up')).toBe(true);
  });

  it('does not recreate with recreate off, and drops timers on CLOSED', () => {
    const t = setup({ mode: 'ndiffports', subflows: 2, recreate: false });
    t.pm.handleEvent(established());
    t.pm.handleEvent(
      ev('sub_established', {
        localAddress: '10.0.1.1',
        localPort: 41000,
        remoteAddress: '10.0.1.2',
        remotePort: 5201,
      }),
    );
    t.pm.handleEvent(
      ev('sub_closed', {
        localAddress: '10.0.1.1',
        localPort: 41000,
        remoteAddress: '10.0.1.2',
        remotePort: 5201,
      }),
    );
    vi.advanceTimersByTime(10_000);
    expect(t.creates).toHaveLength(1);
    t.pm.handleEvent(ev('closed'));
    expect(t.pm.connections()).toHaveLength(0);
  });
});

describe('UserspacePm fullmesh', () => {
  it('creates every local x remote pair, with stable non-zero ids for extra addresses', () => {
    const t = setup();
    t.pm.handleEvent(established());
    // 2 locals x 1 remote: the initial pair exists, one more.
    expect(t.creates).toEqual([
      { token: TOKEN, local: { address: '10.0.2.1', id: 1 }, remote: { address: '10.0.1.2', port: 5201 } },
    ]);
    t.pm.handleEvent(ev('announced', { remoteId: 1, remoteAddress: '10.0.2.2', remotePort: 5201 }));
    expect(t.creates.slice(1)).toEqual([
      { token: TOKEN, local: { address: '10.0.1.1' }, remote: { address: '10.0.2.2', port: 5201 } },
      { token: TOKEN, local: { address: '10.0.2.1', id: 1 }, remote: { address: '10.0.2.2', port: 5201 } },
    ]);
    // A second connection reuses the id of 10.0.2.1.
    t.pm.handleEvent(established({ token: 99, localPort: 40001 }));
    expect(t.creates[3]?.local).toEqual({ address: '10.0.2.1', id: 1 });
  });

  it('respects the per-connection cap', () => {
    const t = setup({ subflows: 2 });
    t.pm.handleEvent(established());
    t.pm.handleEvent(ev('announced', { remoteId: 1, remoteAddress: '10.0.2.2', remotePort: 5201 }));
    expect(t.creates).toHaveLength(1);
  });

  it('destroys the subflows of an address that left and recreates when it returns', () => {
    const t = setup();
    t.pm.handleEvent(established());
    t.pm.handleEvent(
      ev('sub_established', {
        localAddress: '10.0.2.1',
        localPort: 42000,
        remoteAddress: '10.0.1.2',
        remotePort: 5201,
        localId: 1,
      }),
    );
    t.pm.setLocalAddresses([{ address: '10.0.1.1', family: 'inet', ifindex: 2 }]);
    expect(t.destroys).toEqual([
      {
        token: TOKEN,
        local: { address: '10.0.2.1', port: 42000 },
        remote: { address: '10.0.1.2', port: 5201 },
      },
    ]);
    t.pm.handleEvent(
      ev('sub_closed', {
        localAddress: '10.0.2.1',
        localPort: 42000,
        remoteAddress: '10.0.1.2',
        remotePort: 5201,
      }),
    );
    expect(t.log.some((e) => e.what === 'retry-scheduled' || e.what === 'give-up')).toBe(false);
    t.pm.setLocalAddresses([
      { address: '10.0.1.1', family: 'inet', ifindex: 2 },
      { address: '10.0.2.1', family: 'inet', ifindex: 3 },
    ]);
    expect(t.creates).toHaveLength(2);
    expect(t.creates[1]?.local).toEqual({ address: '10.0.2.1', id: 1 });
  });

  it('a server announces its other addresses and withdraws them, never creating subflows', () => {
    const t = setup({ role: 'server' });
    t.pm.handleEvent(established({ serverSide: true }));
    expect(t.announces).toEqual([{ token: TOKEN, local: { address: '10.0.2.1', id: 1 } }]);
    t.pm.setLocalAddresses([{ address: '10.0.1.1', family: 'inet', ifindex: 2 }]);
    expect(t.removes).toEqual([{ token: TOKEN, localId: 1 }]);
    expect(t.creates).toHaveLength(0);
  });

  it('adopts an existing connection without duplicating its subflows', () => {
    const t = setup();
    t.pm.adopt({
      token: 7,
      family: 'inet',
      localAddress: '10.0.1.1',
      localPort: 40000,
      remoteAddress: '10.0.1.2',
      remotePort: 5201,
      serverSide: false,
      subflows: [
        {
          local: '10.0.1.1',
          localPort: 40000,
          remote: '10.0.1.2',
          remotePort: 5201,
          localId: 0,
          remoteId: 0,
        },
        {
          local: '10.0.2.1',
          localPort: 40100,
          remote: '10.0.1.2',
          remotePort: 5201,
          localId: 5,
          remoteId: 0,
        },
      ],
      localIds: [
        { address: '10.0.1.1', id: 0 },
        { address: '10.0.2.1', id: 5 },
      ],
    });
    expect(t.creates).toHaveLength(0);
    t.pm.handleEvent(ev('announced', { token: 7, remoteId: 1, remoteAddress: '10.0.2.2', remotePort: 5201 }));
    expect(t.creates.map((c) => c.local)).toEqual([{ address: '10.0.1.1' }, { address: '10.0.2.1', id: 5 }]);
  });
});

describe('UserspacePm resync after lost events (ENOBUFS)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const initial = {
    local: '10.0.1.1',
    localPort: 40000,
    remote: '10.0.1.2',
    remotePort: 5201,
    localId: 0,
    remoteId: 0,
  };
  const second = { ...initial, local: '10.0.2.1', localPort: 40100, localId: 1 };
  const secondEvent: Partial<PmEvent> = {
    localAddress: second.local,
    localPort: second.localPort,
    remoteAddress: second.remote,
    remotePort: second.remotePort,
    localId: second.localId,
    remoteId: second.remoteId,
  };

  it('a subflow whose SUB_ESTABLISHED was lost settles its create: nothing is duplicated', async () => {
    const t = setup();
    t.pm.handleEvent(established());
    expect(t.creates).toHaveLength(1); // 10.0.2.1 → 10.0.1.2
    await Promise.resolve(); // the kernel acknowledged the create
    t.pm.resync(TOKEN, { subflows: [initial, second] });
    expect(t.creates).toHaveLength(1);
    expect(t.pm.connections()[0]?.pending).toBe(0);
    expect(t.pm.connections()[0]?.subflows).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.creates).toHaveLength(1);
    expect(t.log.some((e) => e.what === 'retry-scheduled')).toBe(false);
  });

  it('an acknowledged create with no subflow in the kernel (its SUB_CLOSED lost) is retried later, not at once', async () => {
    const t = setup({ retryDelayMs: 1000 });
    t.pm.handleEvent(established());
    await Promise.resolve();
    t.pm.resync(TOKEN, { subflows: [initial] });
    expect(t.creates).toHaveLength(1); // no immediate duplicate: the join may still be in its handshake
    expect(t.log.find((e) => e.what === 'retry-scheduled')?.message).toMatch(/events lost/);
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.creates).toHaveLength(2);
  });

  it('events during the resync win over its older read of the kernel: no subflow dropped and created again', async () => {
    const t = setup();
    t.pm.handleEvent(established());
    await Promise.resolve();
    t.pm.beginResync(); // the kernel is read now: only the initial subflow
    t.pm.handleEvent(ev('sub_established', secondEvent));
    t.pm.resync(TOKEN, { subflows: [initial] });
    t.pm.endResync();
    expect(t.pm.connections()[0]?.subflows).toHaveLength(2);
    expect(t.creates).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.creates).toHaveLength(1);
  });

  it('a subflow closed by an event during the resync stays closed though the older read lists it', async () => {
    const t = setup();
    t.pm.handleEvent(established());
    await Promise.resolve();
    t.pm.handleEvent(ev('sub_established', secondEvent));
    t.pm.beginResync(); // the read lists both subflows
    t.pm.handleEvent(ev('sub_closed', secondEvent));
    t.pm.resync(TOKEN, { subflows: [initial, second] });
    t.pm.endResync();
    expect(t.pm.connections()[0]?.subflows).toHaveLength(1);
  });

  it('a join a resync saw in its handshake settles one create: its SUB_ESTABLISHED later settles no other', async () => {
    const t = setup({ mode: 'ndiffports', subflows: 4, retryDelayMs: 1000 });
    t.pm.handleEvent(established());
    expect(t.creates).toHaveLength(3); // three joins on the initial pair
    await Promise.resolve(); // acknowledged
    const join = { ...initial, localPort: 40001, localId: null, remoteId: null };
    t.pm.resync(TOKEN, { subflows: [initial, join] }); // one join seen (SYN_SENT), two missing
    await vi.advanceTimersByTimeAsync(1000); // the two missing are created again
    expect(t.creates).toHaveLength(5);
    expect(t.pm.connections()[0]?.pending).toBe(2);
    t.pm.handleEvent(
      ev('sub_established', {
        localAddress: join.local,
        localPort: join.localPort,
        remoteAddress: join.remote,
        remotePort: join.remotePort,
      }),
    );
    // Still two creates in flight: the seen join's create was settled by the resync.
    expect(t.pm.connections()[0]?.pending).toBe(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.creates).toHaveLength(5);
  });

  it('a connection adopted during a resync keeps the subflow events since the kernel was read', async () => {
    const t = setup();
    const token = 7;
    const adoptIt = (subflows: (typeof initial)[]) =>
      t.pm.adopt({
        token,
        family: 'inet',
        localAddress: initial.local,
        localPort: initial.localPort,
        remoteAddress: initial.remote,
        remotePort: initial.remotePort,
        serverSide: false,
        subflows,
        localIds: [],
      });
    t.pm.beginResync(); // the kernel is read now: token 7 has only its initial subflow
    t.pm.handleEvent(ev('sub_established', { ...secondEvent, token })); // not tracked yet
    adoptIt([initial]);
    t.pm.resync(token, { subflows: [initial] });
    t.pm.endResync();
    expect(t.pm.connections()[0]?.subflows).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.creates).toHaveLength(0); // fullmesh over two addresses: nothing missing

    // And a close during a resync: the older read's subflow is not taken in.
    const u = setup();
    u.pm.handleEvent(established());
    u.pm.beginResync();
    u.pm.handleEvent(ev('sub_closed', { ...secondEvent, token: 9 }));
    u.pm.adopt({
      token: 9,
      family: 'inet',
      localAddress: initial.local,
      localPort: 40009,
      remoteAddress: initial.remote,
      remotePort: initial.remotePort,
      serverSide: false,
      subflows: [{ ...initial, localPort: 40009 }, second],
      localIds: [],
    });
    u.pm.endResync();
    expect(u.pm.connections().find((c) => c.token === 9)?.subflows).toHaveLength(1);
  });

  it('a create not yet acknowledged stays pending', () => {
    const t = setup();
    t.pm.handleEvent(established());
    t.pm.resync(TOKEN, { subflows: [initial] }); // before the ACK: the create is in flight
    expect(t.pm.connections()[0]?.pending).toBe(1);
    expect(t.creates).toHaveLength(1);
  });

  it('a lost ESTABLISHED event: resync marks the connection established and meshes it', () => {
    const t = setup();
    t.pm.handleEvent(ev('created', { ...established(), kind: 'created' }));
    expect(t.creates).toHaveLength(0);
    t.pm.resync(TOKEN, { subflows: [initial] });
    expect(t.creates.map((c) => c.local)).toEqual([{ address: '10.0.2.1', id: 1 }]);
  });

  it('forget drops a connection whose CLOSED was lost, with its retry timers', async () => {
    const t = setup({ retryDelayMs: 1000 });
    t.pm.handleEvent(established());
    await Promise.resolve();
    t.pm.resync(TOKEN, { subflows: [initial] }); // schedules a retry
    t.pm.forget(TOKEN);
    expect(t.pm.has(TOKEN)).toBe(false);
    await vi.advanceTimersByTimeAsync(5000);
    expect(t.creates).toHaveLength(1);
  });
});

describe('UserspacePm resync: peer addresses of a lost ADD_ADDR', () => {
  it('borrows the announced addresses of other connections to the same peer', () => {
    const t = setup();
    const other = 0x99;
    t.pm.handleEvent(established({ token: other, localPort: 40001 }));
    t.pm.handleEvent(
      ev('announced', { token: other, remoteId: 1, remoteAddress: '10.0.2.2', remotePort: 5201 }),
    );
    t.pm.handleEvent(established()); // TOKEN: its ADD_ADDR was lost
    const before = t.creates.filter((c) => c.token === TOKEN).length;
    expect(before).toBe(1); // 10.0.2.1 → 10.0.1.2 only
    t.pm.resync(TOKEN, {
      subflows: [
        {
          local: '10.0.1.1',
          localPort: 40000,
          remote: '10.0.1.2',
          remotePort: 5201,
          localId: 0,
          remoteId: 0,
        },
      ],
    });
    const remotes = t.creates.filter((c) => c.token === TOKEN).map((c) => c.remote.address);
    expect(remotes.filter((r) => r === '10.0.2.2')).toHaveLength(2); // from both local addresses
    expect(t.pm.connections().find((c) => c.token === TOKEN)?.remotes).toContainEqual({
      id: 1,
      address: '10.0.2.2',
      port: 5201,
    });
  });
});

describe('self-healing: recreating subflows that closed on an error', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const second = { localAddress: '10.0.2.1', localPort: 41000, remoteAddress: '10.0.1.2', remotePort: 5201 };
  /** fullmesh over 10.0.1.1 and 10.0.2.1 to one peer address, both subflows up. */
  async function meshed(o: Partial<UserspacePmOptions> = {}) {
    const t = setup({ retryDelayMs: 1000, maxRetryDelayMs: 8000, maxRetries: 6, ...o });
    t.pm.handleEvent(established());
    expect(t.creates).toHaveLength(1);
    await Promise.resolve();
    t.pm.handleEvent(ev('sub_established', { ...second, localId: 1, remoteId: 0 }));
    return t;
  }
  const closeSecond = (t: ReturnType<typeof setup>, p: Partial<PmEvent> = {}): void =>
    t.pm.handleEvent(ev('sub_closed', { ...second, error: 110, ...p }));
  const joinFails = (t: ReturnType<typeof setup>): void =>
    t.pm.handleEvent(ev('sub_closed', { ...second, localPort: 42000 + t.creates.length, error: 110 }));

  it('the back-off doubles from the first delay up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => retryDelayFor(a, 1000, 30_000))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
    ]);
    expect(RECREATE_DEFAULTS).toEqual({ maxRetries: 8, retryDelayMs: 1000, maxRetryDelayMs: 30_000 });
  });

  it('a subflow that timed out is recreated on that schedule, each attempt a visible action, until one holds', async () => {
    const t = await meshed();
    closeSecond(t); // ETIMEDOUT: the path stopped answering
    const scheduled = () => t.log.filter((e) => e.what === 'retry-scheduled');
    expect(scheduled()[0]).toMatchObject({
      message: 'closed with ETIMEDOUT; recreate attempt 1 of 6 in 1.0 s',
      detail: { local: '10.0.2.1', remote: '10.0.1.2', attempt: 1, delayMs: 1000 },
    });
    // Attempts at +1, +2, +4, +8 and +8 s (capped): each join fails in turn.
    const delays = [1000, 2000, 4000, 8000, 8000];
    for (const [i, d] of delays.entries()) {
      await vi.advanceTimersByTimeAsync(d - 1);
      expect(t.creates).toHaveLength(1 + i);
      await vi.advanceTimersByTimeAsync(1);
      expect(t.creates).toHaveLength(2 + i);
      expect(t.creates.at(-1)).toEqual({
        token: TOKEN,
        local: { address: '10.0.2.1', id: 1 },
        remote: { address: '10.0.1.2', port: 5201 },
      });
      if (i < delays.length - 1) joinFails(t);
    }
    const attempts = t.log.filter((e) => e.what === 'subflow-recreate');
    expect(attempts.map((e) => e.detail?.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(attempts[0]?.message).toBe('attempt 1: closed with ETIMEDOUT');
    expect(attempts[1]?.message).toBe('attempt 2: join failed with ETIMEDOUT');
    expect(scheduled().map((e) => e.detail?.delayMs)).toEqual(delays);
    // The fifth attempt holds: the pair has its subflow back, and its next loss starts afresh.
    t.pm.handleEvent(ev('sub_established', { ...second, localPort: 43000, localId: 1, remoteId: 0 }));
    expect(t.log.at(-1)).toMatchObject({
      what: 'subflow-recreated',
      result: 'ok',
      message: 'subflow back (join failed with ETIMEDOUT; after 5 attempts)',
    });
    // Lost again at once: the backoff goes on (a peer that accepts and resets gets no storm).
    closeSecond(t, { localPort: 43000, error: 104 });
    expect(scheduled().at(-1)).toMatchObject({
      message: 'closed with ECONNRESET; recreate attempt 6 of 6 in 8.0 s',
    });
    await vi.advanceTimersByTimeAsync(8000);
    t.pm.handleEvent(ev('sub_established', { ...second, localPort: 43001, localId: 1, remoteId: 0 }));
    // Up for as long as the longest wait (8 s here): its next loss starts afresh.
    await vi.advanceTimersByTimeAsync(8000);
    closeSecond(t, { localPort: 43001, error: 104 });
    expect(scheduled().at(-1)).toMatchObject({
      message: 'closed with ECONNRESET; recreate attempt 1 of 6 in 1.0 s',
    });
  });

  it('gives up after maxRetries, once', async () => {
    const t = await meshed({ maxRetries: 2 });
    closeSecond(t);
    await vi.advanceTimersByTimeAsync(1000);
    joinFails(t);
    await vi.advanceTimersByTimeAsync(2000);
    joinFails(t);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.creates).toHaveLength(3);
    expect(t.log.filter((e) => e.what === 'give-up')).toHaveLength(1);
  });

  it('a subflow the peer closed without an error is not recreated', async () => {
    const t = await meshed();
    closeSecond(t, { error: null });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.creates).toHaveLength(1);
    expect(t.log.at(-1)).toMatchObject({ what: 'subflow-closed', result: 'info' });
    // A reset with a reason (MP_TCPRST) is a failure, even without sk_err.
    const u = await meshed();
    closeSecond(u, { error: null, resetReason: 1, resetReasonName: 'MPTCP_RST_EMPTCP' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(u.creates).toHaveLength(2);
  });

  it('stops when the connection closes or the address goes away; retries at once when it comes back', async () => {
    const t = await meshed();
    closeSecond(t);
    t.pm.handleEvent(ev('closed'));
    expect(t.log.at(-1)).toMatchObject({ what: 'retry-cancelled', message: 'the connection closed' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.creates).toHaveLength(1);

    const u = await meshed();
    closeSecond(u);
    u.pm.setLocalAddresses([{ address: '10.0.1.1', family: 'inet', ifindex: 2 }]); // 10.0.2.1 left
    expect(u.log.find((e) => e.what === 'retry-cancelled')).toMatchObject({
      message: '10.0.2.1 went away',
      detail: { local: '10.0.2.1', attempt: 1 },
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(u.creates).toHaveLength(1);
    // Back (the link is up again): recreated at once, shown as a recreate.
    u.pm.setLocalAddresses([
      { address: '10.0.1.1', family: 'inet', ifindex: 2 },
      { address: '10.0.2.1', family: 'inet', ifindex: 3 },
    ]);
    expect(u.creates).toHaveLength(2);
    await Promise.resolve();
    expect(u.log.at(-1)).toMatchObject({
      what: 'subflow-recreate',
      result: 'ok',
      message: '10.0.2.1 is back',
      detail: { attempt: 0 },
    });
  });

  it('an interface coming up runs the retries waiting on other addresses at once (their route may be back)', async () => {
    const t = await meshed();
    closeSecond(t); // a retry waits 1 s
    t.pm.setLocalAddresses([
      { address: '10.0.1.1', family: 'inet', ifindex: 2 },
      { address: '10.0.2.1', family: 'inet', ifindex: 3 },
      { address: '10.0.3.1', family: 'inet', ifindex: 4 },
    ]);
    // 10.0.3.1's new pair, and the waiting 10.0.2.1 pair without waiting for its timer.
    expect(t.creates.slice(1).map((c) => c.local.address)).toEqual(['10.0.2.1', '10.0.3.1']);
    await Promise.resolve();
    expect(t.log.find((e) => e.what === 'subflow-recreate')).toMatchObject({ detail: { attempt: 1 } });
    await vi.advanceTimersByTimeAsync(60_000); // the cancelled timer creates nothing more
    expect(t.creates).toHaveLength(3);
  });

  it('a link flap: the path manager destroys the subflow of the address that left and recreates it when it is back', async () => {
    const t = await meshed();
    t.pm.setLocalAddresses([{ address: '10.0.1.1', family: 'inet', ifindex: 2 }]);
    expect(t.destroys).toHaveLength(1);
    closeSecond(t, { error: null }); // our own destroy: no retry
    await vi.advanceTimersByTimeAsync(60_000);
    expect(t.creates).toHaveLength(1);
    t.pm.setLocalAddresses([
      { address: '10.0.1.1', family: 'inet', ifindex: 2 },
      { address: '10.0.2.1', family: 'inet', ifindex: 3 },
    ]);
    expect(t.creates).toHaveLength(2);
    await Promise.resolve();
    expect(t.log.at(-1)).toMatchObject({ what: 'subflow-recreate', message: '10.0.2.1 is back' });
    t.pm.handleEvent(ev('sub_established', { ...second, localPort: 44000, localId: 1, remoteId: 0 }));
    expect(t.log.at(-1)).toMatchObject({
      what: 'subflow-recreated',
      message: 'subflow back (10.0.2.1 is back)',
    });
  });
});
