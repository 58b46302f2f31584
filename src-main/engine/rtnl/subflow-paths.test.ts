import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Connection, Subflow } from '../../../shared/types';
import { prng, syntheticSubflow } from '../../../shared/testing/synthetic';
import { FakeKernel } from '../../testing/fake-kernel';
import { ConnectionPoller, pollRequests } from '../diag/connections';
import { PollMemory, SnapshotBuilder } from '../diag/decode';
import { byFamily, NLMSG_HDRLEN, recordedMptcp, recordedTcp } from '../diag/fixtures/poll-batches';
import { NetlinkError, type NlSocket } from '../netlink/core';
import type { DecodedLink } from './interfaces';
import { routableAddress, type DecodedRoute, type RouteQuery } from './route';
import { SubflowPathResolver, type PathLookups } from './subflow-paths';

const ENETUNREACH = 101;

function route(oif: number): DecodedRoute {
  return {
    family: 'inet',
    type: 1,
    protocol: 0,
    scope: 0,
    table: 254,
    dst: null,
    dstLen: 32,
    src: null,
    srcLen: 32,
    oif,
    gateway: null,
    prefsrc: null,
    metric: null,
  };
}

/** Route lookups answered from a table by `src|dst`; every lookup is counted. */
class FakeRoutes implements PathLookups {
  readonly table = new Map<string, number>();
  readonly names = new Map<number, string>([
    [2, 'c0'],
    [3, 'c1'],
  ]);
  readonly asked: RouteQuery[] = [];
  linkReads = 0;
  change: (() => void) | null = null;
  route(q: RouteQuery): Promise<DecodedRoute | null> {
    this.asked.push(q);
    const oif = this.table.get(`${q.src}|${q.dst}`);
    return oif === undefined
      ? Promise.reject(new NetlinkError(ENETUNREACH, 'route lookup'))
      : Promise.resolve(route(oif));
  }
  linkNames(): Promise<ReadonlyMap<number, string>> {
    this.linkReads++;
    return Promise.resolve(new Map(this.names));
  }
}

const sf = (local: string, remote: string, port: number, over: Partial<Subflow> = {}): Subflow => ({
  ...syntheticSubflow(prng(port), 1, 0, 5201),
  localAddress: local,
  remoteAddress: remote,
  localPort: port,
  ifindex: 0,
  ifname: null,
  ...over,
});

describe('SubflowPathResolver', () => {
  it('names the interface holding the source address when the kernel has no route (link down)', async () => {
    const k = new FakeRoutes();
    k.table.set('10.0.1.1|10.0.9.9', 2);
    // 10.0.2.1's interface is down: ip route get answers ENETUNREACH.
    const owners = new Map([['10.0.2.1', 'c1']]);
    const withOwner = Object.assign(k, {
      addressOwner: (a: string) => Promise.resolve(owners.get(a) ?? null),
    });
    const r = new SubflowPathResolver(withOwner);
    const subs = [
      sf('10.0.1.1', '10.0.9.9', 1000),
      sf('10.0.2.1', '10.0.9.9', 1001),
      sf('::ffff:10.0.2.1', '::ffff:10.0.9.9', 1002, { family: 'inet6' }),
      sf('10.0.3.1', '10.0.9.9', 1003),
    ];
    await r.resolve(subs);
    expect(subs.map((s) => s.ifname)).toEqual(['c0', 'c1', 'c1', null]);
  });

  it('a pair that loses its route keeps the interface it was last routed out of (not its source address)', async () => {
    const k = new FakeRoutes();
    // Fullmesh: c0's address to a peer address behind c1 leaves by c1.
    k.table.set('10.0.1.1|10.0.2.9', 3);
    const owners = new Map([['10.0.1.1', 'c0']]);
    const r = new SubflowPathResolver(
      Object.assign(k, { addressOwner: (a: string) => Promise.resolve(owners.get(a) ?? null) }),
    );
    const before = [sf('10.0.1.1', '10.0.2.9', 1000)];
    await r.resolve(before);
    expect(before[0]!.ifname).toBe('c1');
    // c1 goes down: no route any more; the cache is invalidated by the link change.
    k.table.delete('10.0.1.1|10.0.2.9');
    r.invalidate();
    const after = [sf('10.0.1.1', '10.0.2.9', 1000)];
    await r.resolve(after);
    expect(after[0]!.ifname).toBe('c1');
  });

  it('looks each distinct pair up once, names bound devices without a lookup, null without a route', async () => {
    const k = new FakeRoutes();
    k.table.set('10.0.1.1|10.0.9.9', 2);
    k.table.set('10.0.2.1|10.0.9.9', 3);
    const r = new SubflowPathResolver(k);
    const subs = [
      sf('10.0.1.1', '10.0.9.9', 1000),
      sf('10.0.1.1', '10.0.9.9', 1001),
      sf('::ffff:10.0.2.1', '::ffff:10.0.9.9', 1002, { family: 'inet6' }),
      sf('10.0.2.1', '10.0.9.9', 1003, { ifindex: 2 }),
      sf('10.0.3.1', '192.0.2.1', 1004),
    ];
    await r.resolve(subs);
    expect(subs.map((s) => s.ifname)).toEqual(['c0', 'c0', 'c1', 'c0', null]);
    expect(k.asked.map((q) => `${q.src}|${q.dst}`).sort()).toEqual([
      '10.0.1.1|10.0.9.9',
      '10.0.2.1|10.0.9.9',
      '10.0.3.1|192.0.2.1',
    ]);
    // Cached: a later poll's new objects for the same pairs ask nothing.
    const later = [sf('10.0.1.1', '10.0.9.9', 2000), sf('10.0.3.1', '192.0.2.1', 2001)];
    await r.resolve(later);
    expect(later.map((s) => s.ifname)).toEqual(['c0', null]);
    expect(k.asked).toHaveLength(3);
  });

  it('a route, rule, link or address change empties the cache and bumps the generation', async () => {
    const k = new FakeRoutes();
    k.table.set('10.0.2.1|10.0.9.9', 3);
    const r = new SubflowPathResolver({
      route: (q) => k.route(q),
      linkNames: () => k.linkNames(),
      watch: (onChange) => {
        k.change = onChange;
        return () => (k.change = null);
      },
    });
    const a = [sf('10.0.2.1', '10.0.9.9', 1)];
    await r.resolve(a);
    expect(a[0]!.ifname).toBe('c1');
    expect(r.generation).toBe(0);
    k.table.set('10.0.2.1|10.0.9.9', 2); // ip rule del: the pair now leaves by c0
    k.change!();
    expect(r.generation).toBe(1);
    const b = [sf('10.0.2.1', '10.0.9.9', 1)];
    await r.resolve(b);
    expect(b[0]!.ifname).toBe('c0');
    expect(k.asked).toHaveLength(2);
    r.close();
    expect(k.change).toBeNull();
  });

  it('without a watch, answers expire after ttlMs; a changed answer bumps the generation', async () => {
    const k = new FakeRoutes();
    k.table.set('10.0.2.1|10.0.9.9', 3);
    let now = 0;
    const r = new SubflowPathResolver(k, { ttlMs: 1000, now: () => now });
    await r.resolve([sf('10.0.2.1', '10.0.9.9', 1)]);
    now = 500;
    await r.resolve([sf('10.0.2.1', '10.0.9.9', 2)]);
    expect(k.asked).toHaveLength(1);
    now = 1500; // expired, same answer: nothing to rebuild
    await r.resolve([sf('10.0.2.1', '10.0.9.9', 3)]);
    expect(k.asked).toHaveLength(2);
    expect(r.generation).toBe(0);
    k.table.set('10.0.2.1|10.0.9.9', 2);
    now = 3000;
    const c = [sf('10.0.2.1', '10.0.9.9', 4)];
    await r.resolve(c);
    expect(r.generation).toBe(1);
    expect(c[0]!.ifname).toBe('c0');
  });

  it('names a bound subflow even when a change arrives while the link names are read', async () => {
    const k = new FakeRoutes();
    const r = new SubflowPathResolver({
      route: (q) => k.route(q),
      linkNames: async () => {
        const names = await k.linkNames();
        k.change?.(); // an address or route change lands during the read
        return names;
      },
      watch: (onChange) => {
        k.change = onChange;
        return () => (k.change = null);
      },
    });
    const s = [sf('10.0.2.1', '10.0.9.9', 1, { ifindex: 3 })];
    await r.resolve(s);
    expect(s[0]!.ifname).toBe('c1');
    expect(r.generation).toBe(1);
    r.close();
  });

  it('a route out of a link it does not know yet reads the link names again', async () => {
    const k = new FakeRoutes();
    k.table.set('10.0.5.1|10.0.9.9', 5);
    const r = new SubflowPathResolver(k);
    await r.resolve([sf('10.0.1.1', '10.0.9.9', 1)]); // loads the names once
    k.names.set(5, 'wwan0');
    const s = [sf('10.0.5.1', '10.0.9.9', 2)];
    await r.resolve(s);
    expect(s[0]!.ifname).toBe('wwan0');
    expect(k.linkReads).toBe(2);
  });
});

describe('the poll resolves only the subflows it built anew', () => {
  beforeEach(() => {
    vi.spyOn(Date, 'now').mockReturnValue(1_800_000_000_000);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const poll = (tcp: Buffer[], prev: PollMemory | null) => {
    const b = new SnapshotBuilder({ prev, into: new PollMemory() });
    for (const m of recordedMptcp) b.onMptcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
    for (const m of tcp) b.onTcp(m, NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
    const connections: Connection[] = b.finish();
    return { connections, fresh: b.fresh, mem: b.memory() };
  };

  it('first poll: every subflow; next poll: none for unchanged sockets, and a changed one keeps its ifname', () => {
    const a = poll(recordedTcp, null);
    const all = a.connections.flatMap((c) => c.subflows);
    expect(all.length).toBeGreaterThan(0);
    expect(a.fresh).toHaveLength(all.length);
    for (const s of a.fresh) s.ifname = `if-${s.localAddress}`; // what resolve() does before hand-out

    const b = poll(
      recordedTcp.map((m) => Buffer.from(m)),
      a.mem,
    );
    expect(b.fresh).toHaveLength(0);
    expect(b.connections.flatMap((c) => c.subflows).map((s) => s.ifname)).toEqual(all.map((s) => s.ifname));

    // tcpi_snd_cwnd of the first subflow changes: a new object, same socket and addresses.
    const first = a.connections[0]!.subflows[0]!;
    const tcp = recordedTcp.map((m) => Buffer.from(m));
    const m = tcp.find(
      (x) =>
        x.readUInt16BE(NLMSG_HDRLEN + 4) === first.localPort &&
        x.readUInt16BE(NLMSG_HDRLEN + 6) === first.remotePort,
    )!;
    let at = NLMSG_HDRLEN + 72;
    while (at < m.length && m.readUInt16LE(at + 2) !== 2) at += (m.readUInt16LE(at) + 3) & ~3;
    m.writeUInt32LE(first.cwndPkts + 7, at + 4 + 80);
    const c = poll(tcp, b.mem);
    const changed = c.connections[0]!.subflows[0]!;
    expect(changed).not.toBe(first);
    expect(changed.cwndPkts).toBe(first.cwndPkts + 7);
    expect(changed.ifname).toBe(first.ifname);
    expect(c.fresh).toHaveLength(0);
  });
});

describe('the poll without a route watch', () => {
  beforeEach(() => {
    vi.spyOn(Date, 'now').mockReturnValue(1_800_000_000_000);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** A sock_diag socket that answers every poll with the recorded dumps (same sockets each time). */
  const recordedDiag = {
    dump: (
      _type: number,
      req: Buffer,
      _what: string,
      onMsg: (buf: Buffer, type: number, off: number, len: number) => void,
    ) => {
      const mptcp = pollRequests.mptcp.includes(req);
      for (const m of byFamily(mptcp ? recordedMptcp : recordedTcp, req[0]!))
        onMsg(m, m.readUInt16LE(4), NLMSG_HDRLEN, m.length - NLMSG_HDRLEN);
      return Promise.resolve();
    },
  } as unknown as NlSocket;

  it('renames reused subflows after a route change once their answer expired, and asks nothing before', async () => {
    const link = (index: number, name: string): DecodedLink => ({ index, name }) as DecodedLink;
    const kernel = new FakeKernel({ links: [link(2, 'c0'), link(3, 'c1')] });
    const lookups: PathLookups = {
      route: (q) => kernel.reads.route(q),
      linkNames: () => Promise.resolve(new Map(kernel.state.links.map((l) => [l.index, l.name]))),
      // no watch: as when the rtnetlink subscription cannot be opened
    };
    let nowMs = 0;
    const paths = new SubflowPathResolver(lookups, { ttlMs: 5000, now: () => nowMs });
    const poller = new ConnectionPoller({ paths });
    const every = (snap: { connections: Connection[] }): Subflow[] =>
      snap.connections.flatMap((c) => c.subflows);

    // Every pair of the recorded poll leaves by c1.
    const first = await poller.read(recordedDiag, { inThread: true });
    const pairs = new Set(
      every(first).map((s) => `${routableAddress(s.localAddress)}|${routableAddress(s.remoteAddress)}`),
    );
    expect(pairs.size).toBeGreaterThan(0);
    for (const p of pairs) kernel.state.routes.set(p, route(3));
    paths.invalidate();
    const second = await poller.read(recordedDiag, { inThread: true });
    expect(every(second).map((s) => s.ifname)).toEqual(every(second).map(() => 'c1'));
    const asked = paths.lookups;

    // Unchanged sockets, answers still fresh: the objects are reused and no route is asked.
    nowMs = 4000;
    const third = await poller.read(recordedDiag, { inThread: true });
    expect(every(third)[0]).toBe(every(second)[0]);
    expect(paths.lookups).toBe(asked);

    // The routes change (ip rule del, say) and nobody tells us: once the answers expire the next
    // poll asks again, sees c0, and rebuilds its objects, though no socket changed.
    for (const p of pairs) kernel.state.routes.set(p, route(2));
    nowMs = 5500;
    const fourth = await poller.read(recordedDiag, { inThread: true });
    // The sweep asks each pair once; after the change the cache starts over, so the rebuilt
    // objects ask once more.
    expect(paths.lookups).toBe(asked + 2 * pairs.size);
    expect(every(fourth)[0]).not.toBe(every(third)[0]);
    expect(every(fourth).map((s) => s.ifname)).toEqual(every(fourth).map(() => 'c0'));
  });
});
