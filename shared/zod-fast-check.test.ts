import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { events } from './contract';
import { diffSnapshots } from './delta';
import { prng, steadyTick, syntheticSnapshot, type Rand } from './testing/synthetic';
import { ConnectionSchema, SubflowSchema } from './types';
import { fastCheck, parseFast } from './zod-fast-check';

/** Values near every edge the schemas here draw: types, bounds, integers, null, keys. */
const ODD: unknown[] = [
  undefined,
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 32,
  0xffffffff,
  2 ** 53,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  '',
  'ESTABLISHED',
  'MELTING',
  'x'.repeat(101),
  [],
  [1, 'a'],
  {},
  { a: true },
  { a: 1 },
];

/** `v` with one value somewhere inside replaced by an odd one, or a key added or removed. */
function mutate(r: Rand, v: unknown): unknown {
  const odd = () => ODD[Math.floor(r() * ODD.length)];
  if (Array.isArray(v)) {
    if (v.length === 0 || r() < 0.1) return [...v, odd()];
    const i = Math.floor(r() * v.length);
    const out = [...v];
    out[i] = r() < 0.3 ? odd() : mutate(r, v[i]);
    return out;
  }
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v);
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    const roll = r();
    if (keys.length === 0 || roll < 0.08) out[`extra${Math.floor(r() * 3)}`] = odd();
    else if (roll < 0.16) delete out[keys[Math.floor(r() * keys.length)] as string];
    else {
      const k = keys[Math.floor(r() * keys.length)] as string;
      out[k] = r() < 0.4 ? odd() : mutate(r, out[k]);
    }
    return out;
  }
  return odd();
}

/** parseFast must give zod's verdict and (when accepted) zod's output. */
function agrees(schema: z.ZodType, v: unknown): void {
  const want = schema.safeParse(v);
  const got = parseFast(schema, v);
  expect(got.success).toBe(want.success);
  if (want.success) expect(got.data).toEqual(want.data);
  // The compiled check itself may refuse a good value, never pass a bad one or a changed one.
  if (fastCheck(schema)?.(v))
    expect(want.success && JSON.stringify(want.data) === JSON.stringify(v)).toBe(true);
}

describe('fastCheck / parseFast', () => {
  it('compiles the connections feed, subflows and connections (no zod needed on good input)', () => {
    expect(fastCheck(events['mptcp:connections:delta'])).not.toBeNull();
    expect(fastCheck(ConnectionSchema)).not.toBeNull();
    for (const field of Object.values(SubflowSchema.shape)) expect(fastCheck(field)).not.toBeNull();
  });

  it('agrees with zod on real feed events and 3,000 mutations of them', () => {
    const r = prng(21);
    const a = syntheticSnapshot(r, 20, 1000, 2);
    const b = steadyTick(r, a, 1000, 0.2);
    const schema = events['mptcp:connections:delta'];
    const full = JSON.parse(JSON.stringify({ kind: 'full', seq: 1, snapshot: a })) as unknown;
    const delta = JSON.parse(JSON.stringify(diffSnapshots(a, b, 2, 1))) as unknown;
    agrees(schema, full);
    agrees(schema, delta);
    expect(fastCheck(schema)?.(delta)).toBe(true);
    for (let i = 0; i < 1500; i++) {
      agrees(schema, mutate(r, delta));
      agrees(schema, mutate(r, full));
    }
  });

  it('agrees with zod field by field on edge values (bounds, integers, null, defaults)', () => {
    const r = prng(22);
    const sub = syntheticSnapshot(r, 1, 0, 1).connections[0]?.subflows[0];
    for (const [name, field] of Object.entries(SubflowSchema.shape)) {
      for (const v of [...ODD, (sub as Record<string, unknown> | undefined)?.[name]]) agrees(field, v);
    }
    // Strict and stripping objects, unions, records, optional fields, literal and length checks.
    const strict = z.object({ a: z.number().int().min(0), b: z.string().max(3).optional() }).strict();
    const strip = z.object({ a: z.literal('x'), r: z.record(z.string(), z.boolean()) });
    const union = z.union([z.number().max(5), z.string().min(2), z.null()]);
    const list = z.array(z.number().int()).max(2);
    for (const v of ODD) for (const s of [strict, strip, union, list]) agrees(s, v);
    for (const v of [{ a: 1 }, { a: 1, b: 'abc' }, { a: 1, b: 'abcd' }, { a: 1, c: 1 }, { a: -1 }])
      agrees(strict, v);
    for (const v of [
      { a: 'x', r: {} },
      { a: 'x', r: { k: true }, more: 1 },
      { a: 'x', r: { k: 1 } },
    ])
      agrees(strip, v);
    for (const v of [[1, 2], [1, 2, 3], [1.5]]) agrees(list, v);
  });

  it('leaves what it does not know to zod: transforms, refinements, other formats', () => {
    expect(fastCheck(z.string().transform((s) => s.length))).toBeNull();
    expect(fastCheck(z.number().refine((n) => n % 2 === 0))).toBeNull();
    expect(fastCheck(z.email())).toBeNull();
    expect(fastCheck(z.int32())).toBeNull();
    expect(fastCheck(z.coerce.number())).toBeNull();
    for (const v of [1, 1.5, 2 ** 53, -3]) agrees(z.int().min(0), v);
    expect(fastCheck(z.object({ n: z.number().refine((n) => n > 1) }))).toBeNull();
    const even = z.object({ n: z.number().refine((n) => n % 2 === 0) });
    expect(parseFast(even, { n: 3 }).success).toBe(false);
    expect(parseFast(even, { n: 4 }).success).toBe(true);
    // A default is zod's to fill in: the output differs from the input, so zod parses it.
    const withDefault = z.object({ n: z.number().default(7) });
    expect(fastCheck(withDefault)?.({})).toBe(false);
    expect(parseFast(withDefault, {})).toEqual({ success: true, data: { n: 7 } });
  });
});
