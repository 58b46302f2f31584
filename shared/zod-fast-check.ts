/**
 * A cheaper first look at data that a zod schema would parse, compiled once from the schema
 * itself: `fastCheck(schema)` returns a predicate that is true only for values the schema accepts
 * unchanged (zod's output would deep-equal the input), or null when the schema uses anything this
 * compiler does not know (transforms, refinements, lazy, formats other than safe integers…).
 *
 * It never decides a rejection: a value the predicate refuses (an unknown key that zod would strip,
 * a missing field zod would fill with its default, or a wrong value) goes to zod's `safeParse`, which
 * gives the answer and the error message. So `parseFast` accepts and refuses exactly what zod does,
 * and is as fast as a hand-written check on the usual input. Why: the connections feed at 10,000
 * connections validates tens of thousands of values per second on the renderer's main thread
 * (docs/performance.md, renderer section), where zod's general machinery cost more than the rest of
 * the delta.
 */
import type { z } from 'zod';

/** True only when `schema.safeParse(v)` succeeds with an output equal to `v`. */
export type FastCheck = (v: unknown) => boolean;

interface Def {
  type: string;
  coerce?: boolean;
  format?: string;
  checks?: { _zod: { def: Record<string, unknown> } }[];
  innerType?: z.ZodType;
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, unknown>;
  values?: unknown[];
  keyType?: z.ZodType;
  valueType?: z.ZodType;
}

const compiled = new WeakMap<z.ZodType, FastCheck | null>();

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Number checks: finite always (zod refuses NaN and ±Infinity), then each known check. */
function numberCheck(def: Def): FastCheck | null {
  const parts: ((n: number) => boolean)[] = [];
  for (const c of def.checks ?? []) {
    const d = c._zod.def;
    if (d.check === 'number_format' && d.format === 'safeint') parts.push(Number.isSafeInteger);
    else if (d.check === 'greater_than' && typeof d.value === 'number') {
      const min = d.value;
      parts.push(d.inclusive ? (n) => n >= min : (n) => n > min);
    } else if (d.check === 'less_than' && typeof d.value === 'number') {
      const max = d.value;
      parts.push(d.inclusive ? (n) => n <= max : (n) => n < max);
    } else return null;
  }
  return (v) => typeof v === 'number' && Number.isFinite(v) && parts.every((p) => p(v));
}

/** Length checks of strings and arrays. */
function lengthChecks(def: Def): ((n: number) => boolean)[] | null {
  const parts: ((n: number) => boolean)[] = [];
  for (const c of def.checks ?? []) {
    const d = c._zod.def;
    if (typeof d.minimum === 'number' && d.check === 'min_length') {
      const min = d.minimum;
      parts.push((n) => n >= min);
    } else if (typeof d.maximum === 'number' && d.check === 'max_length') {
      const max = d.maximum;
      parts.push((n) => n <= max);
    } else if (typeof d.length === 'number' && d.check === 'length_equals') {
      const len = d.length;
      parts.push((n) => n === len);
    } else return null;
  }
  return parts;
}

function compile(schema: z.ZodType): FastCheck | null {
  const def = defOf(schema);
  // Coercion changes the value; a format (z.email(), z.int32(), z.iso.date(), …) is a check of the
  // schema itself rather than in `checks`. Only z.int()'s safe-integer format is known here.
  if (def.coerce) return null;
  if (def.format !== undefined) {
    if (def.type !== 'number' || def.format !== 'safeint') return null;
    const rest = numberCheck(def);
    return rest && ((v) => rest(v) && Number.isSafeInteger(v));
  }
  switch (def.type) {
    case 'unknown':
    case 'any':
      return () => true;
    case 'number':
      return numberCheck(def);
    case 'boolean':
      return def.checks?.length ? null : (v) => typeof v === 'boolean';
    case 'null':
      return (v) => v === null;
    case 'string': {
      const parts = lengthChecks(def);
      return parts && ((v) => typeof v === 'string' && parts.every((p) => p(v.length)));
    }
    case 'enum': {
      const allowed = new Set(Object.values(def.entries ?? {}));
      return (v) => allowed.has(v);
    }
    case 'literal': {
      const allowed = new Set(def.values ?? []);
      return (v) => allowed.has(v);
    }
    case 'nullable': {
      const inner = def.innerType && fastCheck(def.innerType);
      return inner ? (v) => v === null || inner(v) : null;
    }
    case 'optional': {
      const inner = def.innerType && fastCheck(def.innerType);
      return inner ? (v) => v === undefined || inner(v) : null;
    }
    case 'default': {
      // A present value is parsed by the inner schema; an absent one would be filled (not equal).
      const inner = def.innerType && fastCheck(def.innerType);
      return inner ? (v) => v !== undefined && inner(v) : null;
    }
    case 'array': {
      const element = def.element && fastCheck(def.element);
      const parts = lengthChecks(def);
      if (!element || !parts) return null;
      return (v) => {
        if (!Array.isArray(v) || !parts.every((p) => p(v.length))) return false;
        for (let i = 0; i < v.length; i++) if (!element(v[i])) return false;
        return true;
      };
    }
    case 'union': {
      // Plain and discriminated unions: zod returns the first option that accepts the value.
      const options = (def.options ?? []).map((o) => fastCheck(o));
      if (options.some((o) => o === null)) return null;
      const all = options as FastCheck[];
      return (v) => all.some((o) => o(v));
    }
    case 'record': {
      const key = def.keyType && fastCheck(def.keyType);
      const value = def.valueType && fastCheck(def.valueType);
      if (!key || !value || defOf(def.keyType as z.ZodType).type !== 'string') return null;
      return (v) => {
        if (!isPlainObject(v)) return false;
        for (const k of Object.keys(v)) if (k === '__proto__' || !key(k) || !value(v[k])) return false;
        return true;
      };
    }
    case 'object': {
      if (def.checks?.length) return null;
      // Strict (catchall never) or strip: either way a key outside the shape is not passed here.
      if (def.catchall && defOf(def.catchall).type !== 'never') return null;
      const keys = Object.keys(def.shape ?? {});
      const checks: FastCheck[] = [];
      for (const k of keys) {
        const c = fastCheck((def.shape ?? {})[k] as z.ZodType);
        if (!c) return null;
        checks.push(c);
      }
      const known = new Set(keys);
      return (v) => {
        if (!isPlainObject(v)) return false;
        // A field left out reads as undefined: only an optional one accepts it (a default's
        // would be filled in by zod, so not equal).
        for (let i = 0; i < keys.length; i++)
          if (!(checks[i] as FastCheck)(v[keys[i] as string])) return false;
        for (const k in v) if (!Object.prototype.hasOwnProperty.call(v, k) || !known.has(k)) return false;
        return true;
      };
    }
    default:
      return null;
  }
}

/** The predicate for `schema` (compiled once per schema object), or null when it cannot be built. */
export function fastCheck(schema: z.ZodType): FastCheck | null {
  if (compiled.has(schema)) return compiled.get(schema) ?? null;
  compiled.set(schema, null); // a recursive schema meets itself: not compiled
  const check = compile(schema);
  compiled.set(schema, check);
  return check;
}

/**
 * `schema.safeParse(v)`, with the compiled check first: a value it passes is returned as it is
 * (zod's output would be equal to it), anything else is zod's answer.
 */
export function parseFast<T extends z.ZodType>(schema: T, v: unknown): z.ZodSafeParseResult<z.output<T>> {
  const check = fastCheck(schema);
  if (check?.(v)) return { success: true, data: v as z.output<T> };
  return schema.safeParse(v);
}
