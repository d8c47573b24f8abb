// One client: its registration, object tree with every operation, composite operations on the
// selected paths, observations with live charts, the results of what was run here, and its trace.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ClientDetail, ObjectModelInfo, OperationOutcome, ResourceModel } from '../api-types.js';
import { ApiError, isQueued } from '../api.js';
import { ClientOpsContext } from '../client-ops.js';
import type { ClientOps, RunOptions } from '../client-ops.js';
import { useConsole, useNow, useServices } from '../context.js';
import { pathIds } from '../lib/api-paths.js';
import type { LiveStatus } from '../lib/console-state.js';
import { formatDuration, relativeTime } from '../lib/format.js';
import { MODE_LABELS } from '../lib/security-form.js';
import { ChartsPanel } from './charts-panel.js';
import { CompositePanel } from './composite-panel.js';
import { Link } from './link.js';
import { ObjectTree } from './object-tree.js';
import { ObservationsPanel } from './observations-panel.js';
import { OperationResult } from './operation-result.js';
import type { ResultEntry } from './operation-result.js';
import { StatusBadge } from './status-badge.js';
import { TagChips, TagEditor } from './tag-editor.js';
import { TracePanel } from './trace-panel.js';

const MAX_RESULTS = 50;
const FORMATS = ['', 'text', 'opaque', 'tlv', 'senml-json', 'senml-cbor', 'lwm2m-cbor', 'lwm2m-json', 'cbor'];

export function ClientView(props: { endpoint: string }) {
  const { endpoint } = props;
  const { api, store, model } = useServices();
  const now = useNow();
  const live = useConsole((s) => s.clients[endpoint]);
  const [detail, setDetail] = useState<ClientDetail>();
  const [fetchedAt, setFetchedAt] = useState(0);
  const [error, setError] = useState<ApiError>();
  const [reload, setReload] = useState(0);
  const [models, setModels] = useState<ReadonlyMap<number, ObjectModelInfo>>(new Map());
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [format, setFormat] = useState('');
  const [results, setResults] = useState<ResultEntry[]>([]);
  const [observationsKey, setObservationsKey] = useState(0);
  const [editingTags, setEditingTags] = useState(false);
  const counter = useRef(0);

  useEffect(() => {
    let alive = true;
    const started = Date.now();
    api
      .client(endpoint)
      .then((d) => {
        if (!alive) return;
        setDetail(d);
        setFetchedAt(started);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (!alive) return;
        setError(e instanceof ApiError ? e : new ApiError(0, 'ERROR', String(e)));
      });
    return () => {
      alive = false;
    };
  }, [api, endpoint, live?.lastEventAt, reload]);

  // Models of the registered objects, for typing values and composite writes.
  useEffect(() => {
    let alive = true;
    for (const o of detail?.objects ?? [])
      void model(o.id, o.version ?? undefined).then((m) => {
        if (!alive || !m) return;
        setModels((old) => (old.get(o.id) === m ? old : new Map(old).set(o.id, m)));
      });
    return () => {
      alive = false;
    };
  }, [detail, model]);

  const run = useCallback(
    async (
      operation: string,
      paths: readonly string[],
      call: () => Promise<OperationOutcome>,
      options: RunOptions = {},
    ): Promise<ResultEntry> => {
      const id = ++counter.current;
      const pending: ResultEntry = { id, time: Date.now(), operation, paths, pending: true };
      const put = (entry: ResultEntry): void =>
        setResults((old) => {
          const i = old.findIndex((e) => e.id === id);
          const next = i < 0 ? [entry, ...old] : old.map((e) => (e.id === id ? entry : e));
          return next.slice(0, MAX_RESULTS);
        });
      put(pending);
      let entry: ResultEntry;
      try {
        const outcome = await call();
        entry = { ...pending, pending: false, outcome };
        if (!isQueued(outcome) && outcome.success && outcome.values)
          store.dispatch({
            type: 'values',
            endpoint,
            values: outcome.values,
            time: Date.now(),
            chart: options.chart === true,
          });
        if (options.refresh && !isQueued(outcome) && outcome.success) setReload((n) => n + 1);
      } catch (e) {
        const err =
          e instanceof ApiError
            ? { code: e.code, message: e.message, status: e.status }
            : { code: 'ERROR', message: e instanceof Error ? e.message : String(e) };
        entry = { ...pending, pending: false, error: err };
      }
      if (options.observations) setObservationsKey((n) => n + 1);
      put(entry);
      return entry;
    },
    [endpoint, store],
  );

  const resource = useCallback(
    (path: string): ResourceModel | undefined => {
      const ids = pathIds(path);
      if (!ids || ids.length < 3) return undefined;
      return models.get(ids[0]!)?.resources.find((r) => r.id === ids[2]);
    },
    [models],
  );

  const ops: ClientOps = useMemo(
    () => ({
      endpoint,
      lwm2mVersion: detail?.lwm2mVersion ?? '1.2',
      format,
      run,
      selected,
      toggle: (path: string) =>
        setSelected((old) => {
          const next = new Set(old);
          if (next.has(path)) next.delete(path);
          else next.add(path);
          return next;
        }),
      resource,
    }),
    [endpoint, detail?.lwm2mVersion, format, run, selected, resource],
  );

  const fresh = live !== undefined && live.lastEventAt > fetchedAt;
  const status: LiveStatus | undefined = fresh ? live.status : (detail?.status ?? live?.status);
  const tags = (fresh ? live.tags : undefined) ?? detail?.tags ?? live?.tags ?? [];
  const notRegistered = error?.status === 404;

  return (
    <ClientOpsContext.Provider value={ops}>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link to={{ page: 'clients' }}>Clients</Link> / <span aria-current="page">{endpoint}</span>
      </nav>
      <section class="panel client-summary" aria-labelledby="client-title" data-testid="client-summary">
        <div class="panel-head">
          <h1 id="client-title">{endpoint}</h1>
          {status && <StatusBadge status={notRegistered && status !== 'expired' ? 'deregistered' : status} />}
          <span class="spacer" />
          <label class="inline">
            Content format{' '}
            <select
              aria-label="Content format"
              value={format}
              onChange={(e) => setFormat(e.currentTarget.value)}
            >
              {FORMATS.map((f) => (
                <option key={f} value={f}>
                  {f === '' ? 'auto' : f}
                </option>
              ))}
            </select>
          </label>
          <button type="button" class="small" onClick={() => setReload((n) => n + 1)}>
            Refresh
          </button>
        </div>
        {error && (
          <p class={notRegistered ? 'notice' : 'error'} role="alert">
            {notRegistered ? `${endpoint} is not registered now.` : `${error.code}: ${error.message}`}
          </p>
        )}
        {detail && (
          <dl class="facts">
            <div>
              <dt>LwM2M</dt>
              <dd data-testid="client-version">{detail.lwm2mVersion}</dd>
            </div>
            <div>
              <dt>Binding</dt>
              <dd>
                {detail.binding}
                {detail.queueMode ? ' · queue mode' : ''}
              </dd>
            </div>
            <div>
              <dt>Lifetime</dt>
              <dd>{detail.lifetime === 0 ? 'never expires' : formatDuration(detail.lifetime)}</dd>
            </div>
            <div>
              <dt>Registered</dt>
              <dd title={detail.registeredAt}>{relativeTime(Date.parse(detail.registeredAt), now)}</dd>
            </div>
            <div>
              <dt>Last seen</dt>
              <dd title={detail.lastSeen}>{relativeTime(Date.parse(detail.lastSeen), now)}</dd>
            </div>
            <div>
              <dt>Expires</dt>
              <dd title={detail.expiresAt ?? undefined}>
                {detail.expiresAt ? relativeTime(Date.parse(detail.expiresAt), now) : 'never'}
              </dd>
            </div>
            <div>
              <dt>Address</dt>
              <dd class="mono">
                {detail.address} ({detail.transport})
              </dd>
            </div>
            {detail.security && (
              <div>
                <dt>Security</dt>
                <dd data-testid="client-security" data-mode={detail.security.mode}>
                  {MODE_LABELS[detail.security.mode]}
                  {detail.security.identity !== undefined && (
                    <>
                      {' '}
                      <span class="mono" data-testid="client-identity">
                        {detail.security.identity}
                      </span>
                    </>
                  )}
                </dd>
              </div>
            )}
            <div>
              <dt>Registration</dt>
              <dd class="mono">{detail.registrationId}</dd>
            </div>
            {detail.sms && (
              <div>
                <dt>SMS</dt>
                <dd class="mono">{detail.sms}</dd>
              </div>
            )}
            {detail.profileIds && detail.profileIds.length > 0 && (
              <div>
                <dt>Profile IDs</dt>
                <dd class="mono">{detail.profileIds.join(' ')}</dd>
              </div>
            )}
            {detail.contentFormats && detail.contentFormats.length > 0 && (
              <div>
                <dt>Content formats</dt>
                <dd class="mono">{detail.contentFormats.join(' ')}</dd>
              </div>
            )}
            {detail.alternatePath && detail.alternatePath !== '/' && (
              <div>
                <dt>Alternate path</dt>
                <dd class="mono">{detail.alternatePath}</dd>
              </div>
            )}
            <div>
              <dt>Observations</dt>
              <dd>{detail.observations}</dd>
            </div>
          </dl>
        )}
        <div class="tags-line">
          <span class="label">Tags</span>
          {editingTags ? (
            <TagEditor
              endpoint={endpoint}
              tags={tags}
              onSaved={() => setReload((n) => n + 1)}
              onClose={() => setEditingTags(false)}
            />
          ) : (
            <>
              <TagChips tags={tags} />
              <button
                type="button"
                class="link"
                aria-label={`Edit tags of ${endpoint}`}
                onClick={() => setEditingTags(true)}
              >
                edit
              </button>
            </>
          )}
        </div>
      </section>

      <div class="client-grid">
        <div class="col-main">
          <section class="panel" aria-labelledby="tree-title">
            <div class="panel-head">
              <h2 id="tree-title">Objects</h2>
              <span class="muted">tick resources to run composite operations</span>
            </div>
            {detail ? <ObjectTree objects={detail.objects} /> : !error && <p class="muted">Loading…</p>}
          </section>
        </div>
        <div class="col-side">
          <CompositePanel onClear={() => setSelected(new Set())} />
          <ChartsPanel />
          <ObservationsPanel refreshKey={observationsKey} />
          <section class="panel" aria-labelledby="results-title">
            <div class="panel-head">
              <h2 id="results-title">Results</h2>
              <span class="spacer" />
              {results.length > 0 && (
                <button type="button" class="small" onClick={() => setResults([])}>
                  Clear
                </button>
              )}
            </div>
            {results.length === 0 && <p class="muted">Operations run here show their answer here.</p>}
            <ol class="results" data-testid="results">
              {results.map((r) => (
                <li key={r.id} data-testid="result-entry" data-operation={r.operation}>
                  <div class="result-title">
                    <strong>{r.operation}</strong> <code>{r.paths.join(' ')}</code>
                    <span class="muted"> {new Date(r.time).toLocaleTimeString()}</span>
                  </div>
                  <OperationResult entry={r} />
                </li>
              ))}
            </ol>
          </section>
        </div>
      </div>
      <TracePanel endpoint={endpoint} />
    </ClientOpsContext.Provider>
  );
}
