/**
 * Test support for the netlink decoders' fuzz tests (*.fuzz.test.ts): recorded bodies from the
 * fixtures, mutated (shared/testing/fuzz.ts) and placed in a buffer so that any read past the
 * message's end is a read past the buffer's end too. Never imported by the app.
 */
import { readFileSync } from 'node:fs';
import { below, mutateBytes, randomBytes, type Rand } from '../../shared/testing/fuzz';

export * from '../../shared/testing/fuzz';

/** A recorded fixture (JSON next to the test, under fixtures/). */
export function readFixture<T>(dir: string, name: string): T {
  return JSON.parse(readFileSync(`${dir}/fixtures/${name}`, 'utf8')) as T;
}

export const fromHex = (hex: string): Buffer => Buffer.from(hex, 'hex');

export interface Placed {
  buf: Buffer;
  off: number;
  len: number;
}

/**
 * `body` at the very end of a fresh buffer after 0..15 random bytes, as (buf, off, len) views are
 * handed to the decoders: a decoder that reads past `off + len` reads past the buffer (a
 * RangeError, or `undefined` from an index) instead of into a neighbour's bytes.
 */
export function placeAtEnd(r: Rand, body: Uint8Array): Placed {
  const pad = below(r, 16);
  const buf = Buffer.alloc(pad + body.length);
  buf.set(randomBytes(r, pad), 0);
  buf.set(body, pad);
  return { buf, off: pad, len: body.length };
}

/** A mutated copy of one of `seeds`, placed at the end of a buffer. */
export function mutatedMessage(r: Rand, seeds: readonly Uint8Array[]): Placed {
  return placeAtEnd(r, mutateBytes(r, seeds[below(r, seeds.length)]!));
}

/**
 * What a decoded value must never hold, whatever the bytes: NaN or infinite numbers, or text
 * built from bytes that were not there ("undefined", "NaN"). Returns the path of the first
 * offence, or null.
 */
export function badValue(v: unknown, path = '$', seen = new Set<unknown>()): string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? null : `${path} = ${v}`;
  if (typeof v === 'string') return /undefined|NaN/.test(v) ? `${path} = ${JSON.stringify(v)}` : null;
  if (v === null || typeof v !== 'object' || seen.has(v)) return null;
  seen.add(v);
  const entries: [string, unknown][] =
    v instanceof Map ? [...v.entries()].map(([k, x]) => [String(k), x]) : Object.entries(v);
  if (v instanceof Map)
    for (const k of v.keys()) if (typeof k === 'string' && /undefined|NaN/.test(k)) return `${path} key ${k}`;
  for (const [k, x] of entries) {
    const bad = badValue(x, `${path}.${k}`, seen);
    if (bad) return bad;
  }
  return null;
}
