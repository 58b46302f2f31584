import { describe, expect, it } from 'vitest';
import type { ChartPoint } from '../../state/monitor/samples-store';
import { niceScale, placeMarkerLabels, strokeLine } from './MetricChart';

const point = (tMs: number, rttMs: number | null): ChartPoint => ({
  tMs,
  rttMs,
  cwndPkts: null,
  sendMbitPerSec: null,
  recvMbitPerSec: null,
  health: null,
});

describe('MetricChart drawing', () => {
  it('strokes one path through the known values and breaks it at unknown ones', () => {
    const ops: string[] = [];
    const ctx = {
      beginPath: () => ops.push('begin'),
      moveTo: (x: number, y: number) => ops.push(`M${x},${y}`),
      lineTo: (x: number, y: number) => ops.push(`L${x},${y}`),
      stroke: () => ops.push('stroke'),
    };
    const drawn = strokeLine(
      ctx,
      [point(0, 1), point(1, 2), point(2, null), point(3, 4), point(4, Number.NaN), point(5, 6)],
      'rttMs',
      (t) => t * 10,
      (v) => 100 - v,
    );
    expect(drawn).toBe(4);
    expect(ops).toEqual(['begin', 'M0,99', 'L10,98', 'M30,96', 'M50,94', 'stroke']);
  });

  it('scales the y axis to a nice top above the largest value', () => {
    expect(niceScale(0)).toEqual({ top: 1, ticks: [0, 0.25, 0.5, 0.75, 1] });
    expect(niceScale(7.3).top).toBe(8);
    expect(niceScale(130).top).toBe(200);
    expect(niceScale(0.9).top).toBeCloseTo(1);
    for (const max of [0.01, 3, 42, 999, 12345]) {
      const { top, ticks } = niceScale(max);
      expect(top).toBeGreaterThanOrEqual(max);
      expect(top).toBeLessThan(max * 2.6);
      expect(ticks).toHaveLength(5);
    }
  });

  it('stacks the labels of markers close together, and reuses a row once it is clear', () => {
    const rows = placeMarkerLabels([
      { x: 300, kind: 'sub_closed' },
      { x: 300, kind: 'removed' },
      { x: 302, kind: 'sub_established' },
      { x: 500, kind: 'announced' },
      { x: 100, kind: 'sub_closed' },
    ]).map((m) => [m.x, m.kind, m.row]);
    expect(rows).toEqual([
      [100, 'sub_closed', 0],
      [300, 'sub_closed', 0],
      [300, 'removed', 1],
      [302, 'sub_established', 2],
      [500, 'announced', 0],
    ]);
  });
});
