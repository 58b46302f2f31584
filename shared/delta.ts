/**
 * Connections deltas: what crosses from a host to a renderer instead of whole snapshots.
 *
 * A subscriber first gets a `full` event (the whole snapshot), then `delta` events, each computed
 * against the snapshot that subscriber last received (`baseSeq`), so a subscriber that was skipped
 * for a while (slow socket, unacknowledged IPC) gets one delta covering everything it missed:
 * nothing is lost and nothing piles up. A delta carries removed tokens, added connections, and for
 * changed connections only the fields that changed; subflows likewise, matched by their 4-tuple
 * and named on the wire by their index in the base's list.
 *
 * Changed fields are packed, because under steady traffic every subflow's counters move on every
 * poll and field names would outweigh the values: `f` is [code, value, code, value, …] where code
 * k >= 0 sets field k (of the schema's field order) to value, and code -(k+1) adds value to
 * field k's number (byte counters grow by far fewer digits than they hold). Every value is checked
 * against its field's zod schema when applied.
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
import { fastCheck, type FastCheck } from './zod-fast-check';

const u32 = z.number().int().min(0).max(0xffffffff);
const seqSchema = z.number().int().min(0);

/** A packed field list: [code, value, code, value, …] (see the header). */
const PackedSchema = z.array(
  z.union([z.number(), z.string(), z.boolean(), z.null(), z.record(z.string(), z.boolean())]),
);
export type Packed = z.infer<typeof PackedSchema>;

export const SubflowsDeltaSchema = z
  .object({
    /** Indexes (in the base's list) of subflows gone since the base. */
    removed: z.array(z.number().int().min(0)).optional(),
    /** New subflows, appended after the base's remaining ones. */
    added: z.array(SubflowSchema).optional(),
    /** Changed fields of subflows present in both: base index and packed fields. */
    changed: z.array(z.object({ i: z.number().int().min(0), f: PackedSchema }).strict()).optional(),
    /** The final order as 4-tuple keys (subflowKey), only when it is not "base order, then added". */
    order: z.array(z.string()).optional(),
    /** The whole list (4-tuples not unique in the base or the target). */
    replace: z.array(SubflowSchema).optional(),
  })
  .strict();
export type SubflowsDelta = z.infer<typeof SubflowsDeltaSchema>;

export const ConnectionChangeSchema = z
  .object({
    token: u32,
    /** Packed changed fields of the connection itself. */
    f: PackedSchema.optional(),
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

// Field lists come from the schemas, so a field added to a type is diffed without touching this
// file. Both ends run this same code, so a code means the same field on both.
export const CONNECTION_FIELDS = Object.keys(ConnectionSchema.shape).filter(
  (k) => k !== 'token' && k !== 'subflows',
) as (keyof Omit<Connection, 'token' | 'subflows'>)[];
export const SUBFLOW_FIELDS = Object.keys(SubflowSchema.shape) as (keyof Subflow)[];
/** Each field's schema compiled to a cheap check (shared/zod-fast-check.ts), by field code. */
const checksOf = (fields: readonly string[], shape: Record<string, z.ZodType>): (FastCheck | null)[] =>
  fields.map((f) => (shape[f] ? fastCheck(shape[f]) : null));
const CONNECTION_CHECKS = checksOf(CONNECTION_FIELDS, ConnectionSchema.shape);
const SUBFLOW_CHECKS = checksOf(SUBFLOW_FIELDS, SubflowSchema.shape);

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

/** Changed fields of `next` against `prev`, packed; null when none changed. */
function pack<T extends object>(prev: T, next: T, fields: readonly (keyof T)[]): Packed | null {
  let out: Packed | null = null;
  for (let k = 0; k < fields.length; k++) {
    const f = fields[k] as keyof T;
    const was = prev[f];
    const now = next[f];
    if (was === now || same(was, now)) continue;
    out ??= [];
    if (typeof was === 'number' && typeof now === 'number' && Number.isSafeInteger(now - was)) {
      const inc = now - was;
      // An increment when it has fewer digits than the value (counters); exact for safe integers.
      if (Math.abs(inc) * 10 < Math.abs(now)) {
        out.push(-(k + 1), inc);
        continue;
      }
    }
    out.push(k, now as Packed[number]);
  }
  return out;
}

/** `base` with packed fields applied, each value checked against its field's schema. */
function unpack<T extends object>(
  base: T,
  packed: Packed,
  fields: readonly (keyof T)[],
  shape: Record<string, z.ZodType>,
  checks: readonly (FastCheck | null)[],
  what: string,
): T {
  if (packed.length % 2 !== 0) throw new DeltaMismatchError(`${what}: odd packed field list`);
  const out = { ...base };
  for (let j = 0; j < packed.length; j += 2) {
    const code = packed[j];
    if (typeof code !== 'number' || !Number.isInteger(code)) {
      throw new DeltaMismatchError(`${what}: bad field code ${JSON.stringify(code)}`);
    }
    const k = code >= 0 ? code : -code - 1;
    const field = fields[k];
    if (field === undefined) throw new DeltaMismatchError(`${what}: unknown field code ${code}`);
    let value: unknown = packed[j + 1];
    if (code < 0) {
      const was = out[field];
      if (typeof was !== 'number' || typeof value !== 'number') {
        throw new DeltaMismatchError(`${what}: increment of non-number ${String(field)}`);
      }
      value = was + value;
    }
    // The compiled check passes only values zod would return unchanged; zod decides the rest.
    if (checks[k]?.(value)) {
      out[field] = value as T[keyof T];
      continue;
    }
    const checked = shape[field as string]?.safeParse(value);
    if (!checked?.success) throw new DeltaMismatchError(`${what}: bad value for ${String(field)}`);
    out[field] = checked.data as T[keyof T];
  }
  return out;
}

function unique<T>(items: readonly T[], key: (t: T) => string | number): boolean {
  return new Set(items.map(key)).size === items.length;
}

function sameOrder<K>(a: readonly K[], b: readonly K[]): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

function sameTuple(a: Subflow, b: Subflow): boolean {
  return (
    a.localPort === b.localPort &&
    a.remotePort === b.remotePort &&
    a.localAddress === b.localAddress &&
    a.remoteAddress === b.remoteAddress
  );
}

function diffSubflows(prev: readonly Subflow[], next: readonly Subflow[]): SubflowsDelta | null {
  // The usual poll: the same subflows in the same order. Position matches position, exactly.
  if (prev.length === next.length && prev.every((s, i) => sameTuple(s, next[i] as Subflow))) {
    const changed: { i: number; f: Packed }[] = [];
    prev.forEach((s, i) => {
      const n = next[i] as Subflow;
      const f = s === n ? null : pack(s, n, SUBFLOW_FIELDS);
      if (f) changed.push({ i, f });
    });
    return changed.length ? { changed } : null;
  }
  if (!unique(prev, subflowKey) || !unique(next, subflowKey)) {
    return same(prev, next) ? null : { replace: [...next] };
  }
  const before = new Map(prev.map((s, i) => [subflowKey(s), i]));
  const nextKeys = new Set(next.map(subflowKey));
  const out: SubflowsDelta = {};
  const removed: number[] = [];
  prev.forEach((s, i) => {
    if (!nextKeys.has(subflowKey(s))) removed.push(i);
  });
  if (removed.length) out.removed = removed;
  const added: Subflow[] = [];
  const changed: { i: number; f: Packed }[] = [];
  for (const s of next) {
    const i = before.get(subflowKey(s));
    const old = i === undefined ? undefined : prev[i];
    if (i === undefined || old === undefined) added.push(s);
    else if (old !== s) {
      const f = pack(old, s, SUBFLOW_FIELDS);
      if (f) changed.push({ i, f });
    }
  }
  if (added.length) out.added = added;
  if (changed.length) out.changed = changed;
  const removedSet = new Set(removed);
  const expected = [...prev.filter((_, i) => !removedSet.has(i)), ...added].map(subflowKey);
  const actual = next.map(subflowKey);
  if (!sameOrder(expected, actual)) out.order = actual;
  return Object.keys(out).length ? out : null;
}

function diffConnection(prev: Connection, next: Connection): ConnectionChange | null {
  const f = pack(prev, next, CONNECTION_FIELDS);
  const subflows = prev.subflows === next.subflows ? null : diffSubflows(prev.subflows, next.subflows);
  if (!f && !subflows) return null;
  return { token: next.token, ...(f ? { f } : {}), ...(subflows ? { subflows } : {}) };
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

/**
 * The usual subflows delta (only changed fields, no subflow added, removed or moved) applied by
 * position, without the keys and sets of the general case; null when it is not that case or
 * names a subflow twice (then the general case decides, with its exact semantics).
 */
function applySubflowChanges(prev: readonly Subflow[], d: SubflowsDelta, token: number): Subflow[] | null {
  if (d.replace || d.removed || d.added || d.order) return null;
  const out = prev.slice();
  for (const { i, f } of d.changed ?? []) {
    const s = prev[i];
    if (s === undefined) throw new DeltaMismatchError(`connection ${token}: no subflow #${i}`);
    if (out[i] !== s) return null; // named twice
    out[i] = unpack(
      s,
      f,
      SUBFLOW_FIELDS,
      SubflowSchema.shape,
      SUBFLOW_CHECKS,
      `connection ${token} subflow #${i}`,
    );
  }
  return out;
}

function applySubflows(prev: readonly Subflow[], d: SubflowsDelta, token: number): Subflow[] {
  if (d.replace) return [...d.replace];
  const fast = applySubflowChanges(prev, d, token);
  if (fast) return fast;
  const removed = new Set(d.removed ?? []);
  const changes = new Map((d.changed ?? []).map((c) => [c.i, c.f]));
  for (const i of [...removed, ...changes.keys()]) {
    if (i >= prev.length) throw new DeltaMismatchError(`connection ${token}: no subflow #${i}`);
  }
  const out: Subflow[] = [];
  prev.forEach((s, i) => {
    if (removed.has(i)) return;
    const f = changes.get(i);
    out.push(
      f
        ? unpack(
            s,
            f,
            SUBFLOW_FIELDS,
            SubflowSchema.shape,
            SUBFLOW_CHECKS,
            `connection ${token} subflow #${i}`,
          )
        : s,
    );
  });
  const keys = new Set(out.map(subflowKey));
  for (const s of d.added ?? []) {
    if (keys.has(subflowKey(s)))
      throw new DeltaMismatchError(`connection ${token}: subflow ${subflowKey(s)} added twice`);
    out.push(s);
  }
  return d.order ? reorder(out, d.order, subflowKey, `connection ${token} subflow`) : out;
}

/**
 * Token -> position of every connection list applyDelta has met, so that a poll where the same
 * connections stay in place (the usual one under traffic: only fields change) costs the changed
 * connections and one array copy, not a pass with sets over all of them. The list it returns has
 * the same tokens at the same positions, so it shares the index.
 */
const positions = new WeakMap<readonly Connection[], Map<number, number>>();

function positionsOf(connections: readonly Connection[]): Map<number, number> {
  let index = positions.get(connections);
  if (!index) {
    index = new Map();
    for (let i = 0; i < connections.length; i++) index.set((connections[i] as Connection).token, i);
    // Tokens not unique show as index.size < length: applyChanges then leaves it to the general case.
    positions.set(connections, index);
  }
  return index;
}

/**
 * The usual delta (only changes, no connection added, removed or moved) applied by position;
 * null when it is not that case, or tokens repeat, or a connection is named twice (then the
 * general case decides, with its exact semantics).
 */
function applyChanges(base: readonly Connection[], delta: ConnectionsDelta): Connection[] | null {
  if (delta.removed || delta.added || delta.order) return null;
  const index = positionsOf(base);
  if (index.size !== base.length) return null;
  const out = base.slice();
  for (const change of delta.changed ?? []) {
    const i = index.get(change.token);
    const c = i === undefined ? undefined : base[i];
    // Unknown: the general case throws. Elsewhere: the list was changed in place after it was
    // indexed (snapshots are meant to be immutable), so index it again.
    if (i === undefined || c === undefined) return null;
    if (c.token !== change.token) {
      positions.delete(base);
      return null;
    }
    if (out[i] !== c) return null; // named twice
    const fields = change.f
      ? unpack(
          c,
          change.f,
          CONNECTION_FIELDS,
          ConnectionSchema.shape,
          CONNECTION_CHECKS,
          `connection ${c.token}`,
        )
      : c;
    out[i] = {
      ...fields,
      subflows: change.subflows ? applySubflows(c.subflows, change.subflows, c.token) : c.subflows,
    };
  }
  positions.set(out, index);
  return out;
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
  const fast = applyChanges(base.connections, delta);
  if (fast) return { ...meta, connections: fast };
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
    const fields = change.f
      ? unpack(
          c,
          change.f,
          CONNECTION_FIELDS,
          ConnectionSchema.shape,
          CONNECTION_CHECKS,
          `connection ${c.token}`,
        )
      : c;
    connections.push({
      ...fields,
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
