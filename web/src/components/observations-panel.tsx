// The client's observations (GET /api/clients/{ep}/observations), each cancellable.
import { useEffect, useState } from 'preact/hooks';
import type { ObservationInfo } from '../api-types.js';
import { useClientOps } from '../client-ops.js';
import { useConsole, useNow, useServices, useThrottled } from '../context.js';
import { formatAttributes } from '../lib/attributes-form.js';
import { relativeTime } from '../lib/format.js';

/** Notifications bump the observation counters often; re-list at most this often. */
const MIN_REFRESH_MS = 2000;

export function ObservationsPanel(props: { refreshKey: number }) {
  const ops = useClientOps();
  const { api } = useServices();
  const now = useNow(2000);
  const bumped = useConsole((s) => s.observationVersion[ops.endpoint] ?? 0);
  const tick = useThrottled(bumped, MIN_REFRESH_MS);
  const [list, setList] = useState<ObservationInfo[]>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    let alive = true;
    api
      .observations(ops.endpoint)
      .then((l) => {
        if (!alive) return;
        setList(l);
        setError(undefined);
      })
      .catch((e: unknown) => alive && setError(e instanceof Error ? e.message : String(e)));
    return () => {
      alive = false;
    };
  }, [api, ops.endpoint, props.refreshKey, tick]);

  return (
    <section class="panel" aria-labelledby="observations-title" data-testid="observations-panel">
      <div class="panel-head">
        <h2 id="observations-title">Observations</h2>
        <span class="muted">{list ? list.length : ''}</span>
      </div>
      {error && <p class="error">{error}</p>}
      {list && list.length === 0 && <p class="muted">None.</p>}
      {list && list.length > 0 && (
        <ul class="observations">
          {list.map((o) => (
            <li key={o.id} data-testid="observation" data-paths={o.paths.join(' ')}>
              <div>
                <code>{o.paths.join(' ')}</code>
                {o.composite && <span class="badge">composite</span>}{' '}
                <span class="muted">{formatAttributes(o.attributes)}</span>
              </div>
              <div class="muted small-text">
                {o.notifications} notification{o.notifications === 1 ? '' : 's'}
                {o.lastNotificationAt
                  ? `, last ${relativeTime(Date.parse(o.lastNotificationAt), now)}`
                  : ''}{' '}
                · since {relativeTime(Date.parse(o.createdAt), now)}
              </div>
              <button
                type="button"
                class="small"
                aria-label={`Cancel observation ${o.paths.join(' ')}`}
                onClick={() =>
                  void ops.run(
                    'cancel-observation',
                    o.paths,
                    () => api.cancelObservation(ops.endpoint, o.id),
                    {
                      observations: true,
                    },
                  )
                }
              >
                Cancel
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
