import { describe, expect, it } from 'vitest';
import { SampleRing, type Sample } from './ring-buffer';

const sample = (tMs: number): Sample => ({
  tMs,
  rttUs: tMs * 10,
  cwndPkts: 10,
  sendBytesPerSec: 1,
  recvBytesPerSec: 2,
  retransPkts: 0,
  health: 3,
});

describe('SampleRing', () => {
  it('keeps samples in order while growing', () => {
    const ring = new SampleRing(1000);
    for (let t = 0; t < 200; t++) ring.push(sample(t));
    expect(ring.size).toBe(200);
    expect(ring.at(0)?.tMs).toBe(0);
    expect(ring.at(199)).toEqual(sample(199));
    expect(ring.at(200)).toBeNull();
  });

  it('wraps around at capacity, dropping the oldest', () => {
    const ring = new SampleRing(100);
    for (let t = 0; t < 250; t++) ring.push(sample(t));
    expect(ring.size).toBe(100);
    expect(ring.at(0)?.tMs).toBe(150);
    expect(ring.last()?.tMs).toBe(249);
    expect(ring.field('rttUs', 99)).toBe(2490);
    const times = Array.from({ length: ring.size }, (_, i) => ring.field('tMs', i));
    expect(times).toEqual(Array.from({ length: 100 }, (_, i) => 150 + i));
  });

  it('finds time bounds after wrapping', () => {
    const ring = new SampleRing(64);
    for (let t = 0; t < 100; t++) ring.push(sample(t * 100));
    // Kept: t = 3600 … 9900
    expect(ring.lowerBound(0)).toBe(0);
    expect(ring.lowerBound(3650)).toBe(1);
    expect(ring.upperBound(3700)).toBe(2);
    expect(ring.upperBound(1e9)).toBe(64);
  });

  it('never allocates more than its capacity', () => {
    const ring = new SampleRing(600);
    for (let t = 0; t < 10_000; t++) ring.push(sample(t));
    expect(ring.size).toBe(600);
    expect(ring.allocatedBytes).toBe(600 * 7 * 8);
    expect(new SampleRing(600).allocatedBytes).toBeLessThan(600 * 7 * 8);
  });
});
