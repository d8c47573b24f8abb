// Bootstrap sessions (GET /api/bootstrap/sessions): newest first, each with its outcome and an
// expandable list of steps. There is no event stream for them, so the list is polled every 2 s
// while the page is visible, and on demand.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { BootstrapSession } from '../api-types.js';
import { ApiError } from '../api.js';
import { useNow, useServices } from '../context.js';
import { bootstrapSessions } from '../lib/bootstrap-api.js';
import { failureText, sessionStatus, sessionsNewestFirst, stepRow } from '../lib/bootstrap-form.js';
import type { SessionStatus } from '../lib/bootstrap-form.js';
import { rotationText, sessionReasonLabel } from '../lib/bootstrap-trigger.js';
import { clockTime, codeClass, relativeTime } from '../lib/format.js';
import { TableHead } from './table-head.js';
import { TableNote } from './table-note.js';
import { errorMessage } from '../lib/error-message.js';

/** Sessions have no event stream: the page polls this often while visible. */
export const POLL_MS = 2000;

export function SessionBadge(props: { status: SessionStatus }) {
  return (
    <span class={`badge bs-${props.status}`} data-testid="session-status">
      {props.status}
    </span>
  );
}

/**
 * Why a session ran (a trigger's reason; reconfigure, the usual case, stays quiet) and its
 * credential rotation state (BS-001); nothing when there is neither.
 */
export function SessionPurpose(props: { session: BootstrapSession }) {
  const reason = sessionReasonLabel(props.session);
  const rotation = rotationText(props.session);
  if (reason === undefined && rotation === undefined) return null;
  return (
    <div class="bs-purpose small-text">
      {reason !== undefined && (
        <span class="badge bs-reason" data-testid="session-reason" data-reason={props.session.reason}>
          {reason}
        </span>
      )}
      {rotation !== undefined && (
        <span
          class={props.session.rotation === 'confirmed' ? 'ok-text' : 'muted'}
          data-testid="session-rotation"
          data-rotation={props.session.rotation}
        >
          {' '}
          {rotation}
        </span>
      )}
    </div>
  );
}

/** The steps of one session as a table. */
export function SessionSteps(props: { session: BootstrapSession }) {
  const steps = props.session.steps;
  if (steps.length === 0) return <p class="muted small-text">No steps yet.</p>;
  return (
    <table class="bs-steps" data-testid="session-steps">
      <TableHead columns={['#', 'Operation', 'Path', 'Code', 'Format', 'Latency', 'Error']} />
      <tbody>
        {steps.map((step, i) => {
          const r = stepRow(step);
          return (
            <tr key={i} data-testid="session-step" data-operation={step.operation}>
              <td class="muted">{i + 1}</td>
              <td data-testid="step-operation">{r.operation}</td>
              <td class="mono" data-testid="step-path">
                {r.path}
              </td>
              <td>
                {r.code === '' ? (
                  <span class="code code-none">–</span>
                ) : (
                  <span class={`code code-${codeClass(r.code)}`} data-testid="step-code">
                    {r.code}
                  </span>
                )}
              </td>
              <td class="small-text">{r.format}</td>
              <td class="small-text">{r.latency}</td>
              <td class="err-text small-text">{r.error}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** True while the document is shown (a hidden tab does not poll). */
export function useVisible(): boolean {
  const [visible, setVisible] = useState(() => document.visibilityState !== 'hidden');
  useEffect(() => {
    const on = (): void => setVisible(document.visibilityState !== 'hidden');
    document.addEventListener('visibilitychange', on);
    return () => document.removeEventListener('visibilitychange', on);
  }, []);
  return visible;
}

export function BootstrapSessions() {
  const { api } = useServices();
  const now = useNow(5000);
  const visible = useVisible();
  const [items, setItems] = useState<BootstrapSession[]>();
  const [error, setError] = useState<string>();
  const [unavailable, setUnavailable] = useState(false);
  const [filter, setFilter] = useState('');
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const [loadedAt, setLoadedAt] = useState<number>();
  const alive = useRef(true);
  const seq = useRef(0);
  useEffect(
    () => () => {
      alive.current = false;
    },
    [],
  );

  const load = useCallback(() => {
    const mine = ++seq.current;
    const endpoint = filter.trim();
    bootstrapSessions(api, endpoint === '' ? undefined : endpoint)
      .then((r) => {
        // Only the newest request may update the list (the filter may have changed meanwhile).
        if (!alive.current || mine !== seq.current) return;
        setItems(sessionsNewestFirst(r.items));
        setError(undefined);
        setUnavailable(false);
        setLoadedAt(Date.now());
      })
      .catch((e: unknown) => {
        if (!alive.current || mine !== seq.current) return;
        setError(errorMessage(e));
        // No Bootstrap-Server in this process (503): polling would only repeat that.
        setUnavailable(e instanceof ApiError && e.status === 503);
      });
  }, [api, filter]);

  useEffect(() => {
    if (!visible || unavailable) return;
    load();
    const id = window.setInterval(load, POLL_MS);
    return () => window.clearInterval(id);
  }, [load, visible, unavailable]);

  const toggle = (id: string): void => {
    const next = new Set(open);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setOpen(next);
  };

  return (
    <section class="panel" aria-labelledby="bs-sessions-title" data-testid="bootstrap-sessions">
      <div class="panel-head">
        <h2 id="bs-sessions-title">Bootstrap sessions</h2>
        <span class="muted small-text">
          {items ? `${items.length} recent` : ''}
          {loadedAt !== undefined && !unavailable && visible ? ' · refreshed every 2 s' : ''}
        </span>
        <span class="spacer" />
        <label class="inline">
          Session endpoint
          <input
            type="search"
            value={filter}
            placeholder="all endpoints"
            onInput={(e) => setFilter(e.currentTarget.value)}
          />
        </label>
        <button type="button" onClick={() => (unavailable ? setUnavailable(false) : load())}>
          Refresh sessions
        </button>
      </div>
      {error && (
        <p class="error" role="alert" data-testid="sessions-error">
          {error}
        </p>
      )}
      <div class="table-wrap">
        <table data-testid="session-table">
          <TableHead
            columns={['Endpoint', 'Started', 'Kind / reason', 'Peer', 'Version', 'Outcome']}
            hidden="Steps"
          />
          <tbody>
            {items?.length === 0 && <TableNote columns={7}>No bootstrap sessions yet.</TableNote>}
            {!items && !error && <TableNote columns={7}>Loading…</TableNote>}
            {items?.map((s) => {
              const status = sessionStatus(s);
              const failure = failureText(s);
              const expanded = open.has(s.id);
              return [
                <tr
                  key={s.id}
                  data-testid="session-row"
                  data-endpoint={s.endpoint}
                  data-session={s.id}
                  data-status={status}
                >
                  <td class="mono">{s.endpoint}</td>
                  <td title={new Date(s.startedAt).toISOString()}>
                    {clockTime(s.startedAt)}{' '}
                    <span class="muted small-text">{relativeTime(s.startedAt, now)}</span>
                  </td>
                  <td>
                    {s.kind === 'pack' ? 'Pack' : 'Request'}
                    <SessionPurpose session={s} />
                  </td>
                  <td class="mono small-text">
                    {s.peer} <span class="muted">({s.transport})</span>
                  </td>
                  <td>{s.lwm2mVersion ?? ''}</td>
                  <td>
                    <SessionBadge status={status} />
                    {failure && (
                      <div class="err-text small-text" data-testid="session-failure">
                        {failure}
                      </div>
                    )}
                  </td>
                  <td>
                    <button
                      type="button"
                      class="small"
                      aria-expanded={expanded}
                      aria-controls={`bs-steps-${s.id}`}
                      aria-label={`Steps of ${s.endpoint} at ${clockTime(s.startedAt)}`}
                      onClick={() => toggle(s.id)}
                    >
                      {expanded ? 'Hide' : 'Steps'} ({s.steps.length})
                    </button>
                  </td>
                </tr>,
                expanded && (
                  <tr key={`${s.id}-steps`} id={`bs-steps-${s.id}`} class="bs-steps-row">
                    <td colSpan={7}>
                      <SessionSteps session={s} />
                    </td>
                  </tr>
                ),
              ];
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
