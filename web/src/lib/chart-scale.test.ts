import { describe, expect, it } from 'vitest';
import {
  appendPoint,
  chartLayout,
  extent,
  formatTick,
  formatTime,
  linePath,
  linearScale,
  niceStep,
  niceTicks,
} from './chart-scale.js';

describe('scales', () => {
  it('finds the extent, widening a single value and ignoring non-finite ones', () => {
    expect(extent([3, 1, 2])).toEqual([1, 3]);
    expect(extent([])).toEqual([0, 1]);
    expect(extent([20])).toEqual([19, 21]);
    expect(extent([0])).toEqual([-1, 1]);
    expect(extent([Number.NaN, 5, Infinity, 7])).toEqual([5, 7]);
  });

  it('picks steps of 1, 2 or 5 times a power of ten', () => {
    expect(niceStep(10, 5)).toBe(2);
    expect(niceStep(1, 4)).toBe(0.5);
    expect(niceStep(0.3, 3)).toBeCloseTo(0.1);
    expect(niceStep(700, 4)).toBe(200);
    expect(niceStep(0, 4)).toBe(1);
  });

  it('widens the domain to whole ticks without float noise', () => {
    expect(niceTicks(21.13, 22.87, 4)).toEqual({ domain: [21, 23], ticks: [21, 21.5, 22, 22.5, 23] });
    expect(niceTicks(0.1, 0.3, 2).ticks).toEqual([0.1, 0.2, 0.3]);
    expect(niceTicks(0, 0.7, 7).ticks).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);
    expect(niceTicks(-40, 85, 4)).toEqual({ domain: [-50, 100], ticks: [-50, 0, 50, 100] });
  });

  it('maps linearly, flipping when the range is inverted (SVG y)', () => {
    const y = linearScale([0, 10], [100, 0]);
    expect(y(0)).toBe(100);
    expect(y(10)).toBe(0);
    expect(y(2.5)).toBe(75);
    expect(linearScale([5, 5], [0, 10])(5)).toBe(5);
  });

  it('draws a path through the points', () => {
    const x = linearScale([0, 2], [0, 100]);
    const y = linearScale([0, 1], [50, 0]);
    expect(
      linePath(
        [
          { t: 0, v: 0 },
          { t: 1, v: 1 },
          { t: 2, v: 0.5 },
        ],
        x,
        y,
      ),
    ).toBe('M0,50 L50,0 L100,25');
    expect(linePath([], x, y)).toBe('');
  });
});

describe('chartLayout', () => {
  const size = { width: 200, height: 100, margin: { top: 10, right: 10, bottom: 20, left: 30 } };

  it('spans the plot area from the first to the last point, in time order', () => {
    const layout = chartLayout(
      [
        { t: 2000, v: 22 },
        { t: 0, v: 21 },
        { t: 1000, v: 23 },
      ],
      size,
    );
    expect(layout.dots.map((d) => d.point.t)).toEqual([0, 1000, 2000]);
    expect(layout.dots[0]!.x).toBe(30);
    expect(layout.dots[2]!.x).toBe(190);
    // Values 21..23 on ticks 21..23: 21 sits on the bottom, 23 on the top.
    expect(layout.dots[0]!.y).toBe(80);
    expect(layout.dots[1]!.y).toBe(10);
    expect(layout.path.startsWith('M30,80 L110,10')).toBe(true);
    expect(layout.yTicks.map((t) => t.label)).toEqual(['21', '21.5', '22', '22.5', '23']);
    expect(layout.xTicks.length).toBeGreaterThan(0);
    for (const t of layout.xTicks) expect(t.x >= 30 && t.x <= 190).toBe(true);
  });

  it('draws one point in the middle and nothing for none', () => {
    const one = chartLayout([{ t: 5000, v: 1 }], size);
    expect(one.dots[0]!.x).toBe(110);
    expect(chartLayout([], size).path).toBe('');
  });

  it('keeps only the newest points', () => {
    let pts = [{ t: 0, v: 0 }];
    for (let i = 1; i < 10; i++) pts = appendPoint(pts, { t: i, v: i }, 5);
    expect(pts.map((p) => p.t)).toEqual([5, 6, 7, 8, 9]);
  });

  it('labels time ticks with fractions of a second only when ticks are that close', () => {
    const t = new Date(2024, 0, 1, 13, 5, 9, 250).getTime();
    expect(formatTime(t)).toBe('13:05:09');
    expect(formatTime(t, 200)).toBe('13:05:09.2');
    expect(formatTime(t, 50)).toBe('13:05:09.25');
    const close = chartLayout(
      [
        { t, v: 1 },
        { t: t + 800, v: 2 },
      ],
      size,
    );
    expect(new Set(close.xTicks.map((x) => x.label)).size).toBe(close.xTicks.length);
  });

  it('labels ticks briefly', () => {
    expect(formatTick(0)).toBe('0');
    expect(formatTick(21.5)).toBe('21.5');
    expect(formatTick(0.1 + 0.2)).toBe('0.3');
    expect(formatTick(12_345_678)).toBe('1.2e+7');
  });
});
