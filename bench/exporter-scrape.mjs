// Scrapes each URL given, in turn, N times, WAIT ms apart, and prints one JSON line with every
// scrape's wall time (ms, request to last byte) and size. Run inside a lab namespace by
// bench/exporter.mjs (the exporters listen on that namespace's loopback).
//
//   node bench/exporter-scrape.mjs N WAIT_MS URL...
const [n, waitMs, ...urls] = process.argv.slice(2);
/** @type {Map<string, { ms: number[], bytes: number, series: number }>} */
const out = new Map(urls.map((u) => [u, { ms: [], bytes: 0, series: 0 }]));
for (let i = 0; i < Number(n); i++) {
  for (const u of urls) {
    const t0 = performance.now();
    const res = await fetch(u);
    const text = await res.text();
    const ms = performance.now() - t0;
    if (!res.ok) throw new Error(`${u}: HTTP ${res.status}`);
    const row = out.get(u);
    if (!row) continue;
    row.ms.push(ms);
    row.bytes = text.length;
    row.series = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
  }
  await new Promise((r) => setTimeout(r, Number(waitMs)));
}
process.stdout.write(`${JSON.stringify(Object.fromEntries(out))}\n`);
