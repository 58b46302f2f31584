/** Display formatting. Raw numbers stay in data-* attributes; these are for people. */
import type { BufferTriplet } from '../../shared/types';
import { formatBytes, trimNumber } from '../../shared/units';

export { countOf, formatBytes, formatPercent, retransPercent } from '../../shared/units';

/** "4 KiB / 128 KiB / 6 MiB" (min / default / max). */
export function formatTriplet(t: BufferTriplet): string {
  return `${formatBytes(t.minBytes)} / ${formatBytes(t.defaultBytes)} / ${formatBytes(t.maxBytes)}`;
}

/** RTT from µs: "0.12 ms", "4.25 ms", "45.7 ms", "312.5 ms". */
export function formatRttMs(rttUs: number): string {
  const ms = rttUs / 1000;
  return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
}

const RATE_UNITS = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'] as const;

/** Bytes per second as decimal bits per second, like `ss`: 12_500_000 → "100 Mbit/s". */
export function formatRate(bytesPerSec: number): string {
  let value = bytesPerSec * 8;
  let unit = 0;
  while (value >= 1000 && unit < RATE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${trimNumber(value)} ${RATE_UNITS[unit]}`;
}

/** The token as `ss` prints it (`%x`). */
export function tokenHex(token: number): string {
  return token.toString(16);
}

/** "10.0.0.1:443", "[2001:db8::1]:443". */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Wall-clock time with seconds, in the user's locale. */
export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

/** "1.2 ms", "850 µs". */
export function formatDurationUs(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${Math.round(us)} µs`;
}
