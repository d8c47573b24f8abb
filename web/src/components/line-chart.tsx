// A small SVG line chart of one numeric series over time (no chart library).
import type { Point } from '../lib/chart-scale.js';
import { chartLayout } from '../lib/chart-scale.js';

const SIZE = { width: 480, height: 170, margin: { top: 10, right: 30, bottom: 24, left: 52 } } as const;
/** Dots drawn for the newest points only; the line shows them all. */
const MAX_DOTS = 120;

export function LineChart(props: { points: readonly Point[]; label: string; units?: string; path: string }) {
  const layout = chartLayout(props.points, SIZE);
  const { plot } = layout;
  const dots = layout.dots.slice(-MAX_DOTS);
  return (
    <svg
      class="chart"
      viewBox={`0 0 ${SIZE.width} ${SIZE.height}`}
      role="img"
      aria-label={`${props.label}: ${props.points.length} points`}
      data-testid="chart"
      data-path={props.path}
      data-points={props.points.length}
    >
      <title>{props.label}</title>
      <g class="grid">
        {layout.yTicks.map((t) => (
          <g key={`y${t.label}`}>
            <line x1={plot.x0} x2={plot.x1} y1={t.y} y2={t.y} />
            <text x={plot.x0 - 6} y={t.y} dy="0.32em" text-anchor="end">
              {t.label}
            </text>
          </g>
        ))}
        {layout.xTicks.map((t) => (
          <g key={`x${t.x}`}>
            <line x1={t.x} x2={t.x} y1={plot.y1} y2={plot.y0} />
            <text x={t.x} y={plot.y0 + 16} text-anchor="middle">
              {t.label}
            </text>
          </g>
        ))}
      </g>
      <line class="axis" x1={plot.x0} x2={plot.x1} y1={plot.y0} y2={plot.y0} />
      <line class="axis" x1={plot.x0} x2={plot.x0} y1={plot.y1} y2={plot.y0} />
      {props.units && (
        <text class="units-label" x={4} y={plot.y1 + 2} dy="0.7em">
          {props.units}
        </text>
      )}
      <path class="line" d={layout.path} />
      {dots.map((d) => (
        <circle key={d.point.t} class="dot" cx={d.x} cy={d.y} r={2.5} data-testid="chart-point">
          <title>{`${new Date(d.point.t).toLocaleTimeString()}: ${d.point.v}`}</title>
        </circle>
      ))}
    </svg>
  );
}
