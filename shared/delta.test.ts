import { describe, expect, it } from 'vitest';
import {
  CONNECTION_FIELDS,
  SUBFLOW_FIELDS,
  ConnectionsFeedEventSchema,
  DeltaMismatchError,
  applyDelta,
  diffSnapshots,
  isEmptyDelta,
  type ConnectionsDelta,
} from './delta';
import { ConnectionsSnapshotSchema, type Connection, type ConnectionsSnapshot } from './types';
import {
  prng,
  randInt,
  steadyTick,
  syntheticConnection,
  syntheticSnapshot,
  syntheticSubflow,
  type Rand,
} from './testing/synthetic';

/** JSON round trip and schema parse: what a receiver actually gets. */
function overTheWire(d: ConnectionsDelta): ConnectionsDelta {
  const parsed = ConnectionsFeedEventSchema.parse(JSON.parse(JSON.stringify(d)));
  if (parsed.kind !== 'delta') throw new Error('not a delta');
  return parsed;
}

function shuffle<T>(r: Rand, xs: T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randInt(r, 0, i);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** A random successor of `a`: every kind of change a poll can see, in random amounts. */
function mutate(r: Rand, a: ConnectionsSnapshot): ConnectionsSnapshot {
  let conns: Connection[] = a.connections
    .filter(() => r() > 0.15)
    .map((c) => {
      if (r() < 0.4) return c; // untouched (same object)
      let subflows = c.subflows
        .filter(() => r() > 0.2)
        .map((s) =>
          r() < 0.5
            ? {
                ...s,
                rttUs: randInt(r, 1, 100_000),
                ssthreshPkts: r() < 0.5 ? null : randInt(r, 1, 100),
                flags: r() < 0.3 ? { ...s.flags, mapValid: !s.flags.mapValid } : s.flags,
                congestionControl: r() < 0.1 ? null : s.congestionControl,
              }
            : { ...s },
        );
      const extra = randInt(r, 0, 2);
      for (let i = 0; i < extra; i++) subflows.push(syntheticSubflow(r, c.token, 10 + i, c.remotePort));
      if (r() < 0.1) subflows = shuffle(r, subflows);
      // A duplicated subflow (never seen from sock_diag, but the diff must stay exact).
      if (r() < 0.03 && subflows[0]) subflows.push({ ...subflows[0] });
      return {
        ...c,
        bytesSent: r() < 0.7 ? c.bytesSent + randInt(r, 0, 1e6) : c.bytesSent,
        state: r() < 0.05 ? 'CLOSE_WAIT' : c.state,
        fallback: r() < 0.05 ? !c.fallback : c.fallback,
        subflows,
      };
    });
  const fresh = randInt(r, 0, 5);
  const used = new Set(conns.map((c) => c.token));
  for (let i = 0; i < fresh; i++) {
    const token = randInt(r, 1, 50_000);
    if (!used.has(token)) conns.push(syntheticConnection(r, token));
    used.add(token);
  }
  if (r() < 0.15) conns = shuffle(r, conns);
  if (r() < 0.03 && conns[0]) conns.push({ ...conns[0] }); // a duplicate token
  return {
    takenAtMs: a.takenAtMs + randInt(r, 1, 2000),
    pollDurationUs: randInt(r, 1, 1e5),
    connections: conns,
    orphanSubflows: randInt(r, 0, 3),
  };
}

describe('diffSnapshots / applyDelta', () => {
  it('apply(a, diff(a, b)) deep-equals b over 500 random pairs, also after a JSON round trip', () => {
    const r = prng(0x5eed);
    let kinds = { added: 0, removed: 0, changed: 0, order: 0, replace: 0, subOrder: 0, subReplace: 0 };
    for (let i = 0; i < 500; i++) {
      const a = syntheticSnapshot(r, randInt(r, 0, 40));
      const b = mutate(r, a);
      const d = diffSnapshots(a, b, i + 1, i);
      expect(applyDelta(a, d)).toEqual(b);
      const wire = overTheWire(d);
      const rebuilt = applyDelta(ConnectionsSnapshotSchema.parse(JSON.parse(JSON.stringify(a))), wire);
      expect(rebuilt).toEqual(b);
      kinds = {
        added: kinds.added + (d.added ? 1 : 0),
        removed: kinds.removed + (d.removed ? 1 : 0),
        changed: kinds.changed + (d.changed ? 1 : 0),
        order: kinds.order + (d.order ? 1 : 0),
        replace: kinds.replace + (d.replace ? 1 : 0),
        subOrder: kinds.subOrder + (d.changed?.some((c) => c.subflows?.order) ? 1 : 0),
        subReplace: kinds.subReplace + (d.changed?.some((c) => c.subflows?.replace) ? 1 : 0),
      };
    }
    // The generator really exercised every branch (a property test that never hits one proves nothing).
    for (const [k, n] of Object.entries(kinds)) expect(n, k).toBeGreaterThan(0);
  });

  it('chains: a stream of deltas applied in turn ends at the last snapshot', () => {
    const r = prng(7);
    let truth = syntheticSnapshot(r, 30);
    let held = truth;
    for (let i = 0; i < 200; i++) {
      const next = mutate(r, truth);
      held = applyDelta(held, overTheWire(diffSnapshots(truth, next, i + 1, i)));
      truth = next;
    }
    expect(held).toEqual(truth);
  });

  it('a skipped subscriber gets one delta from its last snapshot that covers everything missed', () => {
    const r = prng(11);
    const a = syntheticSnapshot(r, 50);
    let b = a;
    for (let i = 0; i < 20; i++) b = mutate(r, b);
    expect(applyDelta(a, overTheWire(diffSnapshots(a, b, 21, 1)))).toEqual(b);
  });

  it('an unchanged snapshot gives an empty delta; unchanged connections keep their identity', () => {
    const r = prng(3);
    const a = syntheticSnapshot(r, 20);
    const copy = ConnectionsSnapshotSchema.parse(JSON.parse(JSON.stringify(a)));
    const d = diffSnapshots(a, { ...copy, takenAtMs: a.takenAtMs + 1000 }, 2, 1);
    expect(isEmptyDelta(d)).toBe(true);
    expect(JSON.stringify(d).length).toBeLessThan(150);
    const one = a.connections[3] as Connection;
    const b = {
      ...a,
      connections: a.connections.map((c) => (c === one ? { ...c, bytesSent: c.bytesSent + 1 } : c)),
    };
    const d2 = diffSnapshots(a, b, 3, 2);
    // bytesSent grew by 1: sent as an increment (code -(k+1)), not as its 10-digit value.
    expect(d2.changed).toEqual([{ token: one.token, f: [-(CONNECTION_FIELDS.indexOf('bytesSent') + 1), 1] }]);
    const applied = applyDelta(a, d2);
    expect(applied.connections[0]).toBe(a.connections[0]);
    expect(applied.connections[3]).not.toBe(one);
  });

  it('sends only changed subflow fields, by base index; other values as they are', () => {
    const r = prng(5); // s1 below has a non-null ssthresh and an RTT of more than one digit
    const a = syntheticSnapshot(r, 1, 0, 3);
    const c = a.connections[0] as Connection;
    const s1 = c.subflows[1];
    if (!s1) throw new Error('fixture');
    const b = {
      ...a,
      connections: [
        {
          ...c,
          subflows: c.subflows.map((s) =>
            s === s1 ? { ...s, rttUs: s.rttUs + 5, congestionControl: 'bbr2', ssthreshPkts: null } : s,
          ),
        },
      ],
    };
    const d = diffSnapshots(a, b, 2, 1);
    expect(d.changed).toEqual([
      {
        token: c.token,
        subflows: {
          changed: [
            {
              i: 1,
              f: [
                SUBFLOW_FIELDS.indexOf('congestionControl'),
                'bbr2',
                -(SUBFLOW_FIELDS.indexOf('rttUs') + 1),
                5,
                SUBFLOW_FIELDS.indexOf('ssthreshPkts'),
                null,
              ],
            },
          ],
        },
      },
    ]);
    expect(applyDelta(a, d)).toEqual(b);
  });

  it('carries a subflow moving to another interface (ifname), and one losing its route (null)', () => {
    const r = prng(11);
    const a0 = syntheticSnapshot(r, 1, 0, 2);
    const c0 = a0.connections[0]!;
    const a = { ...a0, connections: [{ ...c0, subflows: c0.subflows.map((s) => ({ ...s, ifname: 'c1' })) }] };
    const c = a.connections[0]!;
    const b = {
      ...a,
      connections: [
        {
          ...c,
          subflows: [
            { ...c.subflows[0]!, ifname: 'c0' },
            { ...c.subflows[1]!, ifname: null },
          ],
        },
      ],
    };
    const d = overTheWire(diffSnapshots(a, b, 2, 1));
    const at = SUBFLOW_FIELDS.indexOf('ifname');
    expect(d.changed?.[0]?.subflows?.changed).toEqual([
      { i: 0, f: [at, 'c0'] },
      { i: 1, f: [at, null] },
    ]);
    expect(applyDelta(a, d)).toEqual(b);
    expect(() =>
      applyDelta(a, { ...d, changed: [{ token: c.token, subflows: { changed: [{ i: 0, f: [at, 7] }] } }] }),
    ).toThrow(DeltaMismatchError);
  });

  it('steady traffic at 1,000 connections: a delta is much smaller than the snapshot', () => {
    const r = prng(42);
    const a = syntheticSnapshot(r, 1000, 0, 2);
    const b = steadyTick(r, a, 1000);
    const d = diffSnapshots(a, b, 2, 1);
    expect(applyDelta(a, d)).toEqual(b);
    const full = JSON.stringify(b).length;
    const delta = JSON.stringify(d).length;
    expect(delta).toBeLessThan(full * 0.6);
  });

  it('applies in place the usual delta (changes only) exactly as the general case, edge cases included', () => {
    const r = prng(31);
    const head = {
      kind: 'delta',
      seq: 2,
      baseSeq: 1,
      takenAtMs: 5,
      pollDurationUs: 1,
      orphanSubflows: 0,
    } as const;
    const a = syntheticSnapshot(r, 30, 0, 2);
    const [c0, c1] = a.connections as [Connection, Connection];
    const sent = -(CONNECTION_FIELDS.indexOf('bytesSent') + 1);
    const rtt = SUBFLOW_FIELDS.indexOf('rttUs');
    // The same list with an `order` equal to its order goes the general way: the reference.
    const general = (d: ConnectionsDelta) =>
      applyDelta(a, { ...d, order: a.connections.map((c) => c.token) });
    const cases: ConnectionsDelta[] = [
      { ...head, changed: [{ token: c1.token, f: [sent, 5] }] },
      // Named twice: the last change wins, as in the general case.
      {
        ...head,
        changed: [
          { token: c0.token, f: [sent, 5] },
          { token: c0.token, f: [sent, 7] },
        ],
      },
      {
        ...head,
        changed: [
          {
            token: c0.token,
            subflows: {
              changed: [
                { i: 1, f: [rtt, 10] },
                { i: 1, f: [rtt, 20] },
              ],
            },
          },
        ],
      },
      { ...head, changed: [{ token: c1.token, subflows: { changed: [{ i: 0, f: [rtt, 99] }] } }] },
    ];
    for (const d of cases) {
      const fast = applyDelta(a, d);
      expect(fast).toEqual(general(d));
      // Unchanged connections and subflows keep their identity.
      fast.connections.forEach((c, i) => {
        const was = a.connections[i] as Connection;
        if (!d.changed?.some((ch) => ch.token === was.token)) expect(c).toBe(was);
      });
    }
    expect(applyDelta(a, cases[3] as ConnectionsDelta).connections[1]?.subflows[1]).toBe(c1.subflows[1]);
    // Unknown token or subflow: refused either way.
    for (const bad of [
      { ...head, changed: [{ token: 7, f: [sent, 1] }] },
      { ...head, changed: [{ token: c0.token, subflows: { changed: [{ i: 5, f: [rtt, 1] }] } }] },
    ])
      expect(() => applyDelta(a, bad)).toThrow(DeltaMismatchError);
    // A chain keeps applying right after the list it indexed was changed in place (a misuse).
    const b = applyDelta(a, cases[0] as ConnectionsDelta);
    const list = b.connections;
    [list[0], list[1]] = [list[1] as Connection, list[0] as Connection];
    const next = applyDelta(b, { ...head, seq: 3, baseSeq: 2, changed: [{ token: c0.token, f: [sent, 1] }] });
    expect(next.connections[1]?.bytesSent).toBe(c0.bytesSent + 1);
    expect(next.connections[0]).toBe(list[0]);
  });

  it('refuses a delta that does not fit its base', () => {
    const r = prng(9);
    const a = syntheticSnapshot(r, 5);
    const other = syntheticSnapshot(prng(10), 5);
    const b = mutate(r, a);
    const d = diffSnapshots(a, b, 2, 1);
    if (d.removed || d.changed) expect(() => applyDelta(other, d)).toThrow(DeltaMismatchError);
    expect(() =>
      applyDelta(a, {
        kind: 'delta',
        seq: 2,
        baseSeq: 1,
        takenAtMs: 0,
        pollDurationUs: 0,
        orphanSubflows: 0,
        removed: [1],
      }),
    ).toThrow(DeltaMismatchError);
    const first = a.connections[0] as Connection;
    expect(() =>
      applyDelta(a, {
        kind: 'delta',
        seq: 2,
        baseSeq: 1,
        takenAtMs: 0,
        pollDurationUs: 0,
        orphanSubflows: 0,
        added: [first],
      }),
    ).toThrow(DeltaMismatchError);
  });

  it('refuses unknown keys, field codes and values that break a field schema', () => {
    const head = { kind: 'delta', seq: 2, baseSeq: 1, takenAtMs: 0, pollDurationUs: 0, orphanSubflows: 0 };
    expect(ConnectionsFeedEventSchema.safeParse({ ...head, changed: [{ token: 1, set: {} }] }).success).toBe(
      false,
    );
    const a = syntheticSnapshot(prng(12), 2, 0, 2);
    const token = a.connections[0]?.token ?? 0;
    const bad = (f: unknown[]) =>
      applyDelta(
        a,
        ConnectionsFeedEventSchema.parse({ ...head, changed: [{ token, f }] }) as ConnectionsDelta,
      );
    expect(() => bad([999, 1])).toThrow(DeltaMismatchError);
    expect(() => bad([CONNECTION_FIELDS.indexOf('state'), 'MELTING'])).toThrow(DeltaMismatchError);
    expect(() => bad([-(CONNECTION_FIELDS.indexOf('bytesSent') + 1), -1e30])).toThrow(DeltaMismatchError);
    expect(() => bad([-(CONNECTION_FIELDS.indexOf('state') + 1), 1])).toThrow(DeltaMismatchError);
    expect(() => bad([CONNECTION_FIELDS.indexOf('retransmits')])).toThrow(DeltaMismatchError);
  });
});
