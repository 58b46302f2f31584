import { describe, expect, it } from 'vitest';
import { countOf, formatBytes, formatPercent, retransPercent } from './units';

describe('units for people', () => {
  it('prints byte counts in binary units, carrying 1024 to the next unit', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(52_428_800)).toBe('50 MiB');
    expect(formatBytes(1024 * 1024 - 1)).toBe('1 MiB');
    expect(formatBytes(3.25 * 1024 ** 3)).toBe('3.25 GiB');
    expect(formatBytes(-1)).toBe('-1');
  });

  it('says "1 endpoint" and "2 endpoints"', () => {
    expect(countOf(1, 'endpoint')).toBe('1 endpoint');
    expect(countOf(0, 'endpoint')).toBe('0 endpoints');
    expect(countOf(2, 'address', 'addresses')).toBe('2 addresses');
    expect(countOf(1, 'address', 'addresses')).toBe('1 address');
  });

  it('gives a retransmission share only when something was sent', () => {
    expect(formatPercent(0, 100)).toBe('0 %');
    expect(formatPercent(1, 1_000_000)).toBe('<0.01 %');
    expect(formatPercent(5_000, 1_000_000)).toBe('0.50 %');
    expect(formatPercent(31, 1000)).toBe('3.1 %');
    expect(formatPercent(250, 1000)).toBe('25 %');
    expect(formatPercent(5, 0)).toBeNull();
    expect(retransPercent({ bytesRetrans: 100, bytesSent: 1000 })).toBe('10 %');
    expect(retransPercent({ bytesRetrans: 0, bytesSent: 0 })).toBeNull();
  });
});
