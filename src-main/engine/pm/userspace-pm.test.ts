import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeKernel } from '../../testing/fake-kernel';
import { emptyEvent, type MptcpEvent } from '../mptcp-pm/events';
import { UserspacePm, type PmLogEntry, type UserspacePmOptions } from './userspace-pm';

const TOKEN = 0x1234;

function ev(kind: MptcpEvent['kind'], p: Partial<MptcpEvent> = {}): MptcpEvent {
  return { ...emptyEvent(0), kind, token: TOKEN, family: 'inet', ...p };
}
const established = (p: Partial<MptcpEvent> = {}): MptcpEvent =>
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
  const secondEvent: Partial<MptcpEvent> = {
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
