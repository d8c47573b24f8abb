// Live charts of the numeric values observed on this client (notifications, observe answers).
import { useClientOps } from '../client-ops.js';
import { useConsole, useServices } from '../context.js';
import { seriesFor } from '../lib/console-state.js';
import { formatValue } from '../lib/value-input.js';
import { LineChart } from './line-chart.js';

export function ChartsPanel() {
  const ops = useClientOps();
  const { store } = useServices();
  const series = useConsole((s) => s.series);
  const entries = seriesFor(series, ops.endpoint);
  return (
    <section class="panel" aria-labelledby="charts-title" data-testid="charts-panel">
      <div class="panel-head">
        <h2 id="charts-title">Live charts</h2>
      </div>
      {entries.length === 0 && <p class="muted">Observe a numeric resource to chart it here.</p>}
      {entries.map(([path, points]) => {
        const r = ops.resource(path);
        const last = points[points.length - 1];
        const label = `${path}${r ? ` ${r.name}` : ''}`;
        return (
          <figure class="chart-box" key={path}>
            <figcaption>
              <code>{path}</code> {r?.name}{' '}
              <span class="muted">
                {last ? `${formatValue(r?.type, last.v)}${r?.units ? ` ${r.units}` : ''}` : ''} ·{' '}
                {points.length} points
              </span>
              <button
                type="button"
                class="link"
                aria-label={`Clear chart ${path}`}
                onClick={() => store.dispatch({ type: 'clear-series', endpoint: ops.endpoint, path })}
              >
                clear
              </button>
            </figcaption>
            <LineChart points={points} label={label} units={r?.units} path={path} />
          </figure>
        );
      })}
    </section>
  );
}
