// @vitest-environment jsdom
import { cleanup, render } from '@testing-library/react';
import { useLayoutEffect } from 'react';
import { LineChart, XAxis, YAxis, usePlotArea, useXAxisScale, useYAxisScale, type PlotArea } from 'recharts';
import { afterEach, describe, expect, it } from 'vitest';
import { pixelMaps } from './MetricChart';

afterEach(cleanup);

/**
 * The canvas lines must land where recharts puts its axes: pixelMaps, fed recharts' own scales
 * of a chart laid out like MetricChart's (relative x axis, y axis [0, top]), against the plot area.
 */
describe('pixelMaps with recharts scales', () => {
  it('puts the window start at the plot’s left, its end at the right, 0 at the bottom and the top value at the top', () => {
    const toMs = 1_700_000_060_000;
    const fromMs = toMs - 60_000;
    const seen: { maps: ReturnType<typeof pixelMaps>; area: PlotArea | undefined }[] = [];
    function Probe() {
      const xScale = useXAxisScale();
      const yScale = useYAxisScale();
      const area = usePlotArea();
      useLayoutEffect(() => {
        seen.push({ maps: pixelMaps(xScale, yScale, fromMs, toMs, 8), area });
      });
      return null;
    }
    render(
      <LineChart width={720} height={210} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
        <XAxis dataKey="tMs" type="number" domain={[-60_000, 0]} allowDataOverflow height={22} />
        <YAxis type="number" width={56} domain={[0, 8]} allowDataOverflow />
        <Probe />
      </LineChart>,
    );
    const { maps, area } = seen[seen.length - 1] ?? { maps: null, area: undefined };
    expect(area).toEqual(
      expect.objectContaining({ x: 56, y: 8, width: 720 - 56 - 16, height: 210 - 8 - 22 }),
    );
    expect(maps).not.toBeNull();
    const a = area!;
    expect(maps!.x(fromMs)).toBeCloseTo(a.x);
    expect(maps!.x(toMs)).toBeCloseTo(a.x + a.width);
    expect(maps!.x(fromMs + 15_000)).toBeCloseTo(a.x + a.width / 4);
    expect(maps!.y(0)).toBeCloseTo(a.y + a.height);
    expect(maps!.y(8)).toBeCloseTo(a.y);
    expect(maps!.y(2)).toBeCloseTo(a.y + (a.height * 3) / 4);
  });

  it('is null until recharts has scales', () => {
    expect(pixelMaps(undefined, undefined, 0, 1000, 1)).toBeNull();
  });
});
