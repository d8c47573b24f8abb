// Geometry of the console's line charts (time on x, value on y), kept pure so it is tested
// without a browser: domains, "nice" ticks, linear scales and the SVG path.

export interface Point {
  /** Wall-clock ms. */
  readonly t: number;
  readonly v: number;
}

export type Scale = (x: number) => number;

/** Smallest and largest value; an empty list gives [0, 1], a single value a range around it. */
export function extent(values: readonly number[]): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min === Infinity) return [0, 1];
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.05;
    return [min - pad, max + pad];
  }
  return [min, max];
}

/** A step of 1, 2 or 5 times a power of ten giving about `count` intervals over `span`. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0) || !(count > 0)) return 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * power;
}

/** The domain widened to whole steps, and the ticks on it (about `count`). */
export function niceTicks(
  min: number,
  max: number,
  count = 5,
): { domain: [number, number]; ticks: number[] } {
  const step = niceStep(max - min, count);
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  // Rounding to the step's precision keeps 0.1 + 0.2 from showing as 0.30000000000000004.
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  for (let i = 0; i <= Math.round((hi - lo) / step) && ticks.length < 50; i++)
    ticks.push(Number((lo + i * step).toFixed(digits)));
  return { domain: [lo, hi === lo ? lo + step : hi], ticks };
}

/** Maps [d0, d1] onto [r0, r1]; a zero-width domain maps to the middle of the range. */
export function linearScale(domain: readonly [number, number], range: readonly [number, number]): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  if (d1 === d0) return () => (r0 + r1) / 2;
  const k = (r1 - r0) / (d1 - d0);
  return (x) => r0 + (x - d0) * k;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

/** An SVG path through the points in order (`M x,y L x,y ...`); empty for no points. */
export function linePath(points: readonly Point[], x: Scale, y: Scale): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${round2(x(p.t))},${round2(y(p.v))}`).join(' ');
}

/** Time tick labels: HH:MM:SS (local time), with tenths or hundredths when ticks are closer than 1 s. */
export function formatTime(ms: number, stepMs = 1000): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  const base = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  if (stepMs >= 1000) return base;
  const digits = stepMs >= 100 ? 1 : 2;
  const fraction = String(d.getMilliseconds()).padStart(3, '0').slice(0, digits);
  return `${base}.${fraction}`;
}

/** A value label short enough for an axis. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(6)));
}

export interface ChartSize {
  readonly width: number;
  readonly height: number;
  readonly margin: {
    readonly top: number;
    readonly right: number;
    readonly bottom: number;
    readonly left: number;
  };
}

export interface ChartLayout {
  readonly path: string;
  readonly dots: readonly { readonly x: number; readonly y: number; readonly point: Point }[];
  readonly xTicks: readonly { readonly x: number; readonly label: string }[];
  readonly yTicks: readonly { readonly y: number; readonly label: string }[];
  /** Plot area in SVG units. */
  readonly plot: { readonly x0: number; readonly x1: number; readonly y0: number; readonly y1: number };
}

/** Everything a chart draws for these points (sorted by time) at this size. */
export function chartLayout(points: readonly Point[], size: ChartSize): ChartLayout {
  const sorted = [...points].sort((a, b) => a.t - b.t);
  const x0 = size.margin.left;
  const x1 = size.width - size.margin.right;
  const y0 = size.height - size.margin.bottom;
  const y1 = size.margin.top;
  const [vMin, vMax] = extent(sorted.map((p) => p.v));
  const yNice = niceTicks(vMin, vMax, 4);
  const first = sorted[0]?.t ?? 0;
  const last = sorted[sorted.length - 1]?.t ?? first;
  const tDomain: [number, number] = last > first ? [first, last] : [first - 1000, first + 1000];
  const x = linearScale(tDomain, [x0, x1]);
  const y = linearScale(yNice.domain, [y0, y1]);
  const tStep = niceStep(tDomain[1] - tDomain[0], 4);
  const xTicks: { x: number; label: string }[] = [];
  for (let t = Math.ceil(tDomain[0] / tStep) * tStep; t <= tDomain[1] && xTicks.length < 10; t += tStep)
    xTicks.push({ x: round2(x(t)), label: formatTime(t, tStep) });
  return {
    path: linePath(sorted, x, y),
    dots: sorted.map((p) => ({ x: round2(x(p.t)), y: round2(y(p.v)), point: p })),
    xTicks,
    yTicks: yNice.ticks.map((v) => ({ y: round2(y(v)), label: formatTick(v) })),
    plot: { x0, x1, y0, y1 },
  };
}

/** Appends a point, keeping at most `max` (the newest). */
export function appendPoint(points: readonly Point[], point: Point, max: number): Point[] {
  const next = [...points, point];
  return next.length > max ? next.slice(next.length - max) : next;
}
