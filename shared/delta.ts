/**
 * Connections deltas: what crosses from a host to a renderer instead of whole snapshots.
 *
 * A subscriber first gets a `full` event (the whole snapshot), then `delta` events, each computed
 * against the snapshot that subscriber last received (`baseSeq`), so a subscriber that was skipped
 * for a while (slow socket, unacknowledged IPC) gets one delta covering everything it missed:
 * nothing is lost and nothing piles up. A delta carries removed tokens, added connections, and for
 * changed connections only the fields that changed (subflows likewise, keyed by their 4-tuple).
 *
 * `diff` and `apply` are pure and exact: `apply(a, diff(a, b))` deep-equals `b`, connection and
 * subflow order included (the tests check it over random snapshots). Connections or subflows whose
 * keys are not unique (which sock_diag should never produce) are sent whole rather than guessed at.
 */
import { z } from 'zod';
import {
  ConnectionSchema,
  ConnectionsSnapshotSchema,
  SubflowSchema,
  type Connection,
  type ConnectionsSnapshot,
  type Subflow,
} from './types';

const u32 = z.number().int().min(0).max(0xffffffff);
const seqSchema = z.number().int().min(0);

const ConnectionFieldsPatchSchema = ConnectionSchema.omit({ token: true, subflows: true }).partial().strict();
const SubflowFieldsPatchSchema = SubflowSchema.partial().strict();

export const SubflowsDeltaSchema = z
  .object({
    /** Keys (see subflowKey) of subflows gone since the base. */
    removed: z.array(z.string()).optional(),
    /** New subflows, appended after the base's remaining ones. */
    added: z.array(SubflowSchema).optional(),
    /** Changed fields of subflows present in both. */
    changed: z.array(z.object({ key: z.string(), set: SubflowFieldsPatchSchema }).strict()).optional(),
    /** The final order of keys, only when it is not "base order, then added". */
    order: z.array(z.string()).optional(),
    /** The whole list (keys not unique in the base or the target). */
    replace: z.array(SubflowSchema).optional(),
  })
  .strict();
export type SubflowsDelta = z.infer<typeof SubflowsDeltaSchema>;

export const ConnectionChangeSchema = z
  .object({
    token: u32,
    set: ConnectionFieldsPatchSchema.optional(),
    subflows: SubflowsDeltaSchema.optional(),
  })
  .strict();
export type ConnectionChange = z.infer<typeof ConnectionChangeSchema>;

export const ConnectionsFullSchema = z
  .object({
    kind: z.literal('full'),
    /** This subscriber's sequence number; the next delta has baseSeq = seq. */
    seq: seqSchema,
    snapshot: ConnectionsSnapshotSchema,
  })
  .strict();

export const ConnectionsDeltaSchema = z
  .object({
    kind: z.literal('delta'),
    seq: seqSchema,
    /** The seq of the snapshot this delta applies to; any other base means a gap: resync. */
    baseSeq: seqSchema,
    takenAtMs: z.number(),
    pollDurationUs: z.number().min(0),
    orphanSubflows: z.number().int().min(0),
    removed: z.array(u32).optional(),
    added: z.array(ConnectionSchema).optional(),
    changed: z.array(ConnectionChangeSchema).optional(),
    /** Final token order, only when it is not "base order, then added". */
    order: z.array(u32).optional(),
    /** The whole list (tokens not unique in the base or the target). */
    replace: z.array(ConnectionSchema).optional(),
  })
  .strict();
export type ConnectionsDelta = z.infer<typeof ConnectionsDeltaSchema>;

/** The `mptcp:connections:delta` event payload. */
export const ConnectionsFeedEventSchema = z.discriminatedUnion('kind', [
  ConnectionsFullSchema,
  ConnectionsDeltaSchema,
]);
export type ConnectionsFeedEvent = z.infer<typeof ConnectionsFeedEventSchema>;

/** A delta that does not fit its base (a bug or a mixed-up stream): the receiver must resync. */
export class DeltaMismatchError extends Error {
  override readonly name = 'DeltaMismatchError';
}

/** A subflow's identity inside its connection: its 4-tuple (addresses cannot contain '|'). */
export function subflowKey(
  s: Pick<Subflow, 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort'>,
): string {
  return `${s.localAddress}|${s.localPort}|${s.remoteAddress}|${s.remotePort}`;
}

// Field lists come from the schemas, so a field added to a type is diffed without touching this file.
const CONNECTION_FIELDS = Object.keys(ConnectionSchema.shape).filter(
  (k) => k !== 'token' && k !== 'subflows',
) as (keyof Omit<Connection, 'token' | 'subflows'>)[];
const SUBFLOW_FIELDS = Object.keys(SubflowSchema.shape) as (keyof Subflow)[];

/** Equality for the JSON values in a snapshot (numbers, strings, booleans, null, flat objects). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => same(x, b[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function fieldsPatch<T extends object>(prev: T, next: T, fields: readonly (keyof T)[]): Partial<T> | null {
  let patch: Partial<T> | null = null;
  for (const f of fields) {
    if (!same(prev[f], next[f])) {
      patch ??= {} as Partial<T>;
      patch[f] = next[f];
    }
  }
  return patch;
}

function unique<T>(items: readonly T[], key: (t: T) => string | number): boolean {
  return new Set(items.map(key)).size === items.length;
}

function sameOrder<K>(a: readonly K[], b: readonly K[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

function diffSubflows(prev: readonly Subflow[], next: readonly Subflow[]): SubflowsDelta | null {
  if (!unique(prev, subflowKey) || !unique(next, subflowKey)) {
    return same(prev, next) ? null : { replace: [...next] };
  }
  const before = new Map(prev.map((s) => [subflowKey(s), s]));
  const nextKeys = new Set(next.map(subflowKey));
  const out: SubflowsDelta = {};
  const removed = prev.map(subflowKey).filter((k) => !nextKeys.has(k));
  if (removed.length) out.removed = removed;
  const added: Subflow[] = [];
  const changed: { key: string; set: Partial<Subflow> }[] = [];
  for (const s of next) {
    const key = subflowKey(s);
    const old = before.get(key);
    if (!old) added.push(s);
    else {
      const set = fieldsPatch(old, s, SUBFLOW_FIELDS);
      if (set) changed.push({ key, set });
    }
  }
  if (added.length) out.added = added;
  if (changed.length) out.changed = changed;
  const removedSet = new Set(removed);
  const expected = [...prev.map(subflowKey).filter((k) => !removedSet.has(k)), ...added.map(subflowKey)];
  const actual = next.map(subflowKey);
  if (!sameOrder(expected, actual)) out.order = actual;
  return Object.keys(out).length ? out : null;
}

function diffConnection(prev: Connection, next: Connection): ConnectionChange | null {
  const set = fieldsPatch(prev, next, CONNECTION_FIELDS);
  const subflows = diffSubflows(prev.subflows, next.subflows);
  if (!set && !subflows) return null;
  return { token: next.token, ...(set ? { set } : {}), ...(subflows ? { subflows } : {}) };
}

/** What turns `base` into `next`, as a delta numbered `seq` on top of `baseSeq`. */
export function diffSnapshots(
  base: ConnectionsSnapshot,
  next: ConnectionsSnapshot,
  seq: number,
  baseSeq: number,
): ConnectionsDelta {
  const delta: ConnectionsDelta = {
    kind: 'delta',
    seq,
    baseSeq,
    takenAtMs: next.takenAtMs,
    pollDurationUs: next.pollDurationUs,
    orphanSubflows: next.orphanSubflows,
  };
  const tokenOf = (c: Connection): number => c.token;
  if (!unique(base.connections, tokenOf) || !unique(next.connections, tokenOf)) {
    if (!same(base.connections, next.connections)) delta.replace = [...next.connections];
    return delta;
  }
  const before = new Map(base.connections.map((c) => [c.token, c]));
  const nextTokens = new Set(next.connections.map(tokenOf));
  const removed = base.connections.map(tokenOf).filter((t) => !nextTokens.has(t));
  const added: Connection[] = [];
  const changed: ConnectionChange[] = [];
  for (const c of next.connections) {
    const old = before.get(c.token);
    if (!old) added.push(c);
    else if (old !== c) {
      const change = diffConnection(old, c);
      if (change) changed.push(change);
    }
  }
  if (removed.length) delta.removed = removed;
  if (added.length) delta.added = added;
  if (changed.length) delta.changed = changed;
  const removedSet = new Set(removed);
  const expected = [
    ...base.connections.map(tokenOf).filter((t) => !removedSet.has(t)),
    ...added.map(tokenOf),
  ];
  const actual = next.connections.map(tokenOf);
  if (!sameOrder(expected, actual)) delta.order = actual;
  return delta;
}

function reorder<T, K>(items: T[], order: readonly K[], key: (t: T) => K, what: string): T[] {
  if (order.length !== items.length) {
    throw new DeltaMismatchError(`${what} order lists ${order.length} items, the result has ${items.length}`);
  }
  const byKey = new Map(items.map((t) => [key(t), t]));
  return order.map((k) => {
    const t = byKey.get(k);
    if (t === undefined) throw new DeltaMismatchError(`${what} order names unknown ${String(k)}`);
    return t;
  });
}

function applySubflows(prev: readonly Subflow[], d: SubflowsDelta, token: number): Subflow[] {
  if (d.replace) return [...d.replace];
  const removed = new Set(d.removed ?? []);
  const changes = new Map((d.changed ?? []).map((c) => [c.key, c.set]));
  const known = new Set(prev.map(subflowKey));
  for (const k of removed) {
    if (!known.has(k)) throw new DeltaMismatchError(`connection ${token}: no subflow ${k} to remove`);
  }
  for (const k of changes.keys()) {
    if (!known.has(k) || removed.has(k))
      throw new DeltaMismatchError(`connection ${token}: no subflow ${k} to change`);
  }
  const out: Subflow[] = [];
  for (const s of prev) {
    const key = subflowKey(s);
    if (removed.has(key)) continue;
    const set = changes.get(key);
    out.push(set ? { ...s, ...set } : s);
  }
  for (const s of d.added ?? []) {
    if (known.has(subflowKey(s)) && !removed.has(subflowKey(s)))
      throw new DeltaMismatchError(`connection ${token}: subflow ${subflowKey(s)} added twice`);
    out.push(s);
  }
  return d.order ? reorder(out, d.order, subflowKey, `connection ${token} subflow`) : out;
}

/**
 * `base` with `delta` applied. Unchanged connections keep their object identity (cheap
 * re-renders). Throws DeltaMismatchError when the delta names something the base lacks.
 */
export function applyDelta(base: ConnectionsSnapshot, delta: ConnectionsDelta): ConnectionsSnapshot {
  const meta = {
    takenAtMs: delta.takenAtMs,
    pollDurationUs: delta.pollDurationUs,
    orphanSubflows: delta.orphanSubflows,
  };
  if (delta.replace) return { ...meta, connections: [...delta.replace] };
  const removed = new Set(delta.removed ?? []);
  const changes = new Map((delta.changed ?? []).map((c) => [c.token, c]));
  const known = new Set(base.connections.map((c) => c.token));
  for (const t of removed) {
    if (!known.has(t)) throw new DeltaMismatchError(`no connection ${t} to remove`);
  }
  for (const t of changes.keys()) {
    if (!known.has(t) || removed.has(t)) throw new DeltaMismatchError(`no connection ${t} to change`);
  }
  const connections: Connection[] = [];
  for (const c of base.connections) {
    if (removed.has(c.token)) continue;
    const change = changes.get(c.token);
    if (!change) {
      connections.push(c);
      continue;
    }
    connections.push({
      ...c,
      ...change.set,
      subflows: change.subflows ? applySubflows(c.subflows, change.subflows, c.token) : c.subflows,
    });
  }
  for (const c of delta.added ?? []) {
    if (known.has(c.token) && !removed.has(c.token))
      throw new DeltaMismatchError(`connection ${c.token} added twice`);
    connections.push(c);
  }
  return {
    ...meta,
    connections: delta.order ? reorder(connections, delta.order, (c) => c.token, 'connection') : connections,
  };
}

/** Whether a delta changes nothing but the snapshot's time and poll figures. */
export function isEmptyDelta(d: ConnectionsDelta): boolean {
  return !d.removed && !d.added && !d.changed && !d.order && !d.replace;
}
