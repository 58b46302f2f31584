/**
 * Interface-name globs (`eth*`, `wlan?`, `eth[01]`, `enp[0-9]s*`) without regular expressions.
 *
 * A glob is parsed once into tokens and matched with the classic two-pointer wildcard algorithm:
 * on a mismatch after a `*`, only the most recent `*` is retried one character further on. Earlier
 * stars never need to be revisited (whatever they would absorb, the latest star can absorb), so a
 * match costs at most O(n·m) steps for a glob of n tokens and a name of m characters, whatever
 * the glob. (A backtracking regex built from `*a*a*a…` retries every star's every split.)
 *
 * Syntax, as in glob(7) minus what interface names cannot hold:
 * - `*` any run of characters, the empty one included;
 * - `?` one character;
 * - `[...]` one character of a class: single characters and ranges `a-z` (`-` first or last is a
 *   plain `-`); no negation.
 * Anything else matches itself. A class left open (`eth[`), an empty class (`[]`), a reversed range
 * (`[z-a]`) and a `]` outside a class are errors, reported by globError and refused by the profile
 * schema; globMatch treats a glob with an error as matching nothing.
 */

type Token =
  | { kind: 'char'; c: string }
  | { kind: 'any' }
  | { kind: 'star' }
  | { kind: 'class'; ranges: [lo: number, hi: number][] };

type Parsed = { ok: true; tokens: Token[] } | { ok: false; error: string };

function parse(glob: string): Parsed {
  const chars = Array.from(glob);
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') {
      // A run of stars is one star.
      if (tokens[tokens.length - 1]?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') {
      tokens.push({ kind: 'any' });
    } else if (c === ']') {
      return { ok: false, error: `"]" at position ${i + 1} closes no "["` };
    } else if (c === '[') {
      const close = chars.indexOf(']', i + 1);
      if (close < 0) return { ok: false, error: `"[" at position ${i + 1} has no closing "]"` };
      const body = chars.slice(i + 1, close);
      if (body.length === 0) return { ok: false, error: `"[]" at position ${i + 1} is an empty class` };
      const ranges: [number, number][] = [];
      for (let k = 0; k < body.length; k++) {
        const lo = body[k]!;
        // `a-z` is a range unless the `-` is the class's last character.
        if (body[k + 1] === '-' && k + 2 < body.length) {
          const hi = body[k + 2]!;
          const loCode = lo.codePointAt(0)!;
          const hiCode = hi.codePointAt(0)!;
          if (loCode > hiCode) {
            return { ok: false, error: `the range "${lo}-${hi}" at position ${i + 2 + k} is reversed` };
          }
          ranges.push([loCode, hiCode]);
          k += 2;
        } else {
          const code = lo.codePointAt(0)!;
          ranges.push([code, code]);
        }
      }
      tokens.push({ kind: 'class', ranges });
      i = close;
    } else {
      tokens.push({ kind: 'char', c });
    }
  }
  return { ok: true, tokens };
}

/** Why `glob` is not a valid glob, or null when it is. */
export function globError(glob: string): string | null {
  const p = parse(glob);
  return p.ok ? null : p.error;
}

function matchOne(t: Token, c: string): boolean {
  switch (t.kind) {
    case 'char':
      return t.c === c;
    case 'any':
      return true;
    case 'star':
      return false;
    case 'class': {
      const code = c.codePointAt(0)!;
      return t.ranges.some(([lo, hi]) => code >= lo && code <= hi);
    }
  }
}

function matchTokens(tokens: Token[], name: string[]): boolean {
  let t = 0;
  let n = 0;
  // The most recent star and the name position it is currently assumed to end at.
  let starT = -1;
  let starN = 0;
  while (n < name.length) {
    const tok = tokens[t];
    if (tok !== undefined && tok.kind === 'star') {
      starT = t++;
      starN = n;
    } else if (tok !== undefined && matchOne(tok, name[n]!)) {
      t++;
      n++;
    } else if (starT >= 0) {
      // Let the last star absorb one more character and retry what follows it.
      t = starT + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === 'star') t++;
  return t === tokens.length;
}

/** A matcher for `glob`, parsed once; null when the glob has an error (see globError). */
export function compileGlob(glob: string): ((name: string) => boolean) | null {
  const p = parse(glob);
  if (!p.ok) return null;
  const tokens = p.tokens;
  return (name) => matchTokens(tokens, Array.from(name));
}

/** Whether the whole of `name` matches `glob`; false for a glob with an error. */
export function globMatch(glob: string, name: string): boolean {
  const p = parse(glob);
  return p.ok && matchTokens(p.tokens, Array.from(name));
}
