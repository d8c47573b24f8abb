// The server: identity, endpoints, store, counts and rates (/api/server), the object models it
// knows (/api/models), and the trace of every client.
import { useEffect, useState } from 'preact/hooks';
import type { ObjectSummary } from '../api-types.js';
import { useServices } from '../context.js';
import { formatDuration, formatRate } from '../lib/format.js';
import { useServerInfo } from './header.js';
import { TracePanel } from './trace-panel.js';
import { TableHead } from './table-head.js';

export function ServerView() {
  const { api } = useServices();
  const { info, error } = useServerInfo();
  const [models, setModels] = useState<ObjectSummary[]>();
  useEffect(() => {
    let alive = true;
    api
      .models()
      .then((m) => alive && setModels(m))
      .catch(() => undefined);
    return () => {
      alive = false;
    };
  }, [api]);
  return (
    <>
      <section class="panel" aria-labelledby="server-title" data-testid="server-view">
        <div class="panel-head">
          <h1 id="server-title">Server</h1>
          {info && (
            <span class="muted">
              {info.name} {info.version}
            </span>
          )}
        </div>
        {error && <p class="error">{error}</p>}
        {info && (
          <>
            <div class="cards">
              <div class="card">
                <div class="big" data-testid="server-registrations">
                  {info.counts.registrations}
                </div>
                <div>registrations</div>
              </div>
              <div class="card">
                <div class="big">{info.counts.awake}</div>
                <div>awake</div>
              </div>
              <div class="card">
                <div class="big">{info.counts.sleeping}</div>
                <div>sleeping</div>
              </div>
              <div class="card">
                <div class="big">{info.counts.observations}</div>
                <div>observations</div>
              </div>
              <div class="card">
                <div class="big">{formatRate(info.rates.requestsPerS)}</div>
                <div>requests/s</div>
              </div>
              <div class="card">
                <div class="big">{formatRate(info.rates.uplinksPerS)}</div>
                <div>uplinks/s</div>
              </div>
              <div class="card">
                <div class="big">{formatRate(info.rates.notificationsPerS)}</div>
                <div>notifications/s</div>
              </div>
            </div>
            <dl class="facts">
              <div>
                <dt>LwM2M versions</dt>
                <dd>{info.lwm2mVersions.join(', ')}</dd>
              </div>
              <div>
                <dt>Started</dt>
                <dd title={info.startedAt}>
                  {new Date(info.startedAt).toLocaleString()} (up {formatDuration(info.uptimeS)})
                </dd>
              </div>
              <div>
                <dt>CoAP</dt>
                <dd class="mono">
                  {info.endpoints.coap
                    ? `${info.endpoints.coap.address}:${info.endpoints.coap.port}`
                    : 'not listening'}
                </dd>
              </div>
              <div>
                <dt>HTTP</dt>
                <dd class="mono">
                  {info.endpoints.http ? `${info.endpoints.http.address}:${info.endpoints.http.port}` : ''}
                </dd>
              </div>
              <div>
                <dt>Store</dt>
                <dd>{info.store}</dd>
              </div>
              <div>
                <dt>API reference</dt>
                <dd>
                  <a href="/api/docs">/api/docs</a> · <a href="/api/openapi.json">openapi.json</a>
                </dd>
              </div>
            </dl>
          </>
        )}
      </section>
      <section class="panel" aria-labelledby="models-title">
        <div class="panel-head">
          <h2 id="models-title">Object models</h2>
          <span class="muted">{models ? models.length : ''}</span>
        </div>
        {models && (
          <div class="table-wrap">
            <table>
              <TableHead columns={['Id', 'Name', 'Version', 'Instances', 'Mandatory']} />
              <tbody>
                {models.map((m) => (
                  <tr key={`${m.id}@${m.version}`}>
                    <td class="mono">{m.id}</td>
                    <td>{m.name}</td>
                    <td title={m.versions ? `known: ${m.versions.join(', ')}` : undefined}>
                      {m.version}
                      {m.versions && m.versions.length > 1 && (
                        <span class="muted"> ({m.versions.length} versions)</span>
                      )}
                    </td>
                    <td>{m.multiple ? 'multiple' : 'single'}</td>
                    <td>{m.mandatory ? 'yes' : 'no'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <TracePanel />
    </>
  );
}
