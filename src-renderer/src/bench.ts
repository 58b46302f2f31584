/**
 * Hooks for `npm run bench:renderer` only. They exist in a `vite build --mode bench` bundle; in
 * the production build `import.meta.env.MODE` is the constant "production", so every function
 * here returns undefined and the bundler drops the query parsing.
 */

/** `?detailMs=N` (bench builds only): the detail view's read interval, to replay hours in minutes. */
export function benchDetailIntervalMs(): number | undefined {
  if (import.meta.env.MODE !== 'bench') return undefined;
  const v = Number(new URLSearchParams(globalThis.location?.search ?? '').get('detailMs'));
  return Number.isFinite(v) && v > 0 ? v : undefined;
}
