/**
 * Numbers for people, the same on every page and in the CLI's text output: byte counts in binary
 * units, counts with the right plural, retransmission shares. JSON output keeps the raw numbers.
 */

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** Up to 3 significant digits without trailing zeros: 6 → "6", 1.5 → "1.5", 123.4 → "123". */
export function trimNumber(value: number): string {
  if (value >= 100 || Number.isInteger(value)) return String(Math.round(value));
  return String(Number(value.toPrecision(3)));
}

/** 1536 → "1.5 KiB", 6291456 → "6 MiB", 212992 → "208 KiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return String(bytes);
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  // 1023.9 KiB would print as "1024 KiB": carry it to the next unit.
  if (trimNumber(value) === '1024' && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${trimNumber(value)} ${BINARY_UNITS[unit]}`;
}

/**
 * "1 endpoint", "2 endpoints", "0 endpoints". `pluralForm` for irregular words
 * ("1 address", "3 addresses").
 */
export function countOf(n: number, singular: string, pluralForm = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : pluralForm}`;
}

/**
 * Share of `part` in `whole` as a percentage for people ("0 %", "0.42 %", "3.1 %", "12 %"), or
 * null when `whole` is 0 (nothing sent: no share to speak of).
 */
export function formatPercent(part: number, whole: number): string | null {
  if (!(whole > 0) || !Number.isFinite(part)) return null;
  const pct = (100 * Math.max(0, part)) / whole;
  if (pct === 0) return '0 %';
  if (pct < 0.01) return '<0.01 %';
  if (pct < 1) return `${pct.toFixed(2)} %`;
  if (pct < 10) return `${pct.toFixed(1)} %`;
  return `${Math.round(pct)} %`;
}

/**
 * A subflow's retransmitted share of what it sent: tcpi_bytes_retrans / tcpi_bytes_sent
 * (uapi: linux/tcp.h; bytes_sent counts retransmissions too), null before it sent anything.
 */
export function retransPercent(s: { bytesRetrans: number; bytesSent: number }): string | null {
  return formatPercent(s.bytesRetrans, s.bytesSent);
}
