import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatDurationUs,
  formatRate,
  formatRttMs,
  formatTriplet,
  hostPort,
  tokenHex,
} from './format';

describe('format', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(212992)).toBe('208 KiB');
    expect(formatBytes(6291456)).toBe('6 MiB');
    expect(formatBytes(3 * 1024 ** 3 + 1024 ** 3 / 4)).toBe('3.25 GiB');
  });

  it('formats tcp_rmem triplets', () => {
    expect(formatTriplet({ minBytes: 4096, defaultBytes: 131072, maxBytes: 33554432 })).toBe(
      '4 KiB / 128 KiB / 32 MiB',
    );
  });

  it('formats RTT in ms with 1-2 decimals', () => {
    expect(formatRttMs(123)).toBe('0.12 ms');
    expect(formatRttMs(4250)).toBe('4.25 ms');
    expect(formatRttMs(45678)).toBe('45.7 ms');
    expect(formatRttMs(312_500)).toBe('312.5 ms');
  });

  it('formats rates in bits per second', () => {
    expect(formatRate(0)).toBe('0 bit/s');
    expect(formatRate(125)).toBe('1 kbit/s');
    expect(formatRate(12_500_000)).toBe('100 Mbit/s');
    expect(formatRate(1_234_567)).toBe('9.88 Mbit/s');
  });

  it('prints tokens like ss and brackets IPv6 addresses', () => {
    expect(tokenHex(0xdeadbeef)).toBe('deadbeef');
    expect(tokenHex(0x1a)).toBe('1a');
    expect(hostPort('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(hostPort('2001:db8::1', 443)).toBe('[2001:db8::1]:443');
  });

  it('formats durations', () => {
    expect(formatDurationUs(850)).toBe('850 µs');
    expect(formatDurationUs(1250)).toBe('1.3 ms');
  });
});
