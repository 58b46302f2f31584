/**
 * Test support for the fuzz tests (*.fuzz.test.ts): a seeded PRNG and mutators for bytes and text.
 * Never imported by the app. Every run with the same seed feeds the same inputs, so a failure
 * names its seed and iteration and reproduces.
 */
import { ApiFailure } from '../result';

/** A PRNG: the next number in [0, 1). */
export type Rand = () => number;

/** mulberry32: tiny, fast and plenty for test inputs; the same seed gives the same stream. */
export function mulberry32(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n). */
export const below = (r: Rand, n: number): number => Math.floor(r() * n);

export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[below(r, xs.length)] as T;

/** Values that sit on the edges decoders check: lengths, signs, sizes of headers. */
const EDGE_U8 = [0, 1, 2, 3, 4, 7, 8, 15, 16, 0x7f, 0x80, 0xfe, 0xff];
const EDGE_U16 = [0, 1, 2, 3, 4, 5, 8, 12, 15, 16, 17, 20, 0x7fff, 0x8000, 0xfffe, 0xffff];
const EDGE_U32 = [0, 1, 4, 16, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff];

export function randomBytes(r: Rand, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = below(r, 256);
  return out;
}

/**
 * `src` with 1..maxEdits random edits: bit flips, edge values written as u8/u16/u32 (little-endian,
 * like netlink's lengths and types), truncation, random bytes appended, a slice repeated or cut.
 */
export function mutateBytes(r: Rand, src: Uint8Array, maxEdits = 6): Uint8Array {
  let b = Uint8Array.from(src);
  const edits = 1 + below(r, maxEdits);
  for (let e = 0; e < edits; e++) {
    const at = b.length > 0 ? below(r, b.length) : 0;
    switch (below(r, 9)) {
      case 0:
        if (b.length > 0) b[at] = b[at]! ^ (1 << below(r, 8));
        break;
      case 1:
        if (b.length > 0) b[at] = pick(r, EDGE_U8);
        break;
      case 2: {
        const v = pick(r, EDGE_U16);
        if (at + 2 <= b.length) {
          b[at] = v & 0xff;
          b[at + 1] = v >>> 8;
        }
        break;
      }
      case 3: {
        const v = pick(r, EDGE_U32);
        if (at + 4 <= b.length) for (let k = 0; k < 4; k++) b[at + k] = (v >>> (8 * k)) & 0xff;
        break;
      }
      case 4:
        b = b.slice(0, at);
        break;
      case 5: {
        const tail = randomBytes(r, 1 + below(r, 16));
        const grown = new Uint8Array(b.length + tail.length);
        grown.set(b);
        grown.set(tail, b.length);
        b = grown;
        break;
      }
      case 6: {
        // Repeat a slice (a duplicated attribute, a message twice).
        const end = Math.min(b.length, at + 1 + below(r, 32));
        const piece = b.slice(at, end);
        const grown = new Uint8Array(b.length + piece.length);
        grown.set(b.subarray(0, end));
        grown.set(piece, end);
        grown.set(b.subarray(end), end + piece.length);
        b = grown;
        break;
      }
      case 7: {
        // Cut a slice out of the middle.
        const end = Math.min(b.length, at + 1 + below(r, 16));
        const shrunk = new Uint8Array(b.length - (end - at));
        shrunk.set(b.subarray(0, at));
        shrunk.set(b.subarray(end), at);
        b = shrunk;
        break;
      }
      default:
        // A little-endian u16 length at a 4-byte boundary: where nlmsghdr and nlattr lengths live.
        if (b.length >= 4) {
          const al = at & ~3;
          const v = pick(r, EDGE_U16);
          b[al] = v & 0xff;
          b[al + 1] = v >>> 8;
        }
    }
  }
  return b;
}

const TEXT_PIECES = [
  '{',
  '}',
  '[',
  ']',
  '"',
  ',',
  ':',
  '\n',
  'null',
  '-1',
  '1e400',
  '"__proto__"',
  '{"__proto__":{}}',
  '""',
  '0',
  'true',
  '\\u0000',
  '\uFFFD',
];

/** `src` with 1..maxEdits edits of characters and JSON tokens (insert, delete, replace, cut). */
export function mutateText(r: Rand, src: string, maxEdits = 6): string {
  let s = src;
  const edits = 1 + below(r, maxEdits);
  for (let e = 0; e < edits; e++) {
    const at = below(r, s.length + 1);
    switch (below(r, 5)) {
      case 0:
        s = s.slice(0, at) + pick(r, TEXT_PIECES) + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + below(r, 8));
        break;
      case 2:
        s = s.slice(0, at) + String.fromCharCode(below(r, 128)) + s.slice(at + 1);
        break;
      case 3:
        s = s.slice(0, at);
        break;
      default: {
        // Swap a number for an edge value.
        const m = /-?\d+(\.\d+)?/.exec(s.slice(at));
        if (m) {
          const i = at + m.index;
          s =
            s.slice(0, i) +
            pick(r, ['0', '-1', '1e308', '4294967296', '0.5', 'NaN']) +
            s.slice(i + m[0].length);
        }
      }
    }
  }
  return s;
}

/**
 * Runs `step(i)` for i = 0 .. iterations-1, every time: the same seed feeds the same inputs on a
 * loaded machine too, so a run cannot pass or fail by how busy the machine was. `budgetMs` is
 * what the loop takes on an idle machine (the test's timeout leaves room for a loaded one); it
 * does not cut the run. Returns how many ran.
 */
export function fuzzLoop(iterations: number, _budgetMs: number, step: (i: number) => void): number {
  for (let i = 0; i < iterations; i++) step(i);
  return iterations;
}

/** Hex of bytes, for a failure message that lets the input be replayed. */
export function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/**
 * Calls `fn` on a fuzzed input: it may return anything or refuse with an ApiFailure (a coded
 * error the hosts report as such); anything else thrown (RangeError, TypeError, ...) fails the test
 * with `what()` naming the input.
 */
export function wellDefined<T>(
  fn: () => T,
  what: () => string,
): { ok: true; value: T } | { ok: false; error: ApiFailure } {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof ApiFailure) return { ok: false, error: e };
    const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new Error(`${what()}: threw ${why}`, { cause: e });
  }
}
