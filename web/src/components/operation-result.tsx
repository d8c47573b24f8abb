// The outcome of one operation the console ran: LwM2M code, latency, message identity, values,
// links; a queued request (sleeping client) shows its result when the `queued-result` event comes.
import type { OperationOutcome, OperationResponse, ResourceType } from '../api-types.js';
import { isQueued } from '../api.js';
import { useConsole } from '../context.js';
import { codeClass, formatLatency } from '../lib/format.js';
import { formatValue } from '../lib/value-input.js';

export interface ResultEntry {
  readonly id: number;
  readonly time: number;
  readonly operation: string;
  readonly paths: readonly string[];
  readonly pending: boolean;
  readonly outcome?: OperationOutcome;
  readonly error?: { readonly code: string; readonly message: string; readonly status?: number };
}

export function CodeBadge(props: { code: string | null | undefined; label?: string }) {
  return (
    <span
      class={`code code-${codeClass(props.code ?? undefined)}`}
      data-testid="result-code"
      title={props.label}
    >
      {props.code ?? 'none'}
    </span>
  );
}

/** One link-format param as written in a Discover answer (`;dim=2`, `;pmin=10`, `;obs`). */
export function linkParam(name: string, value: unknown): string {
  if (value === null || value === undefined || value === true) return `;${name}`;
  if (Array.isArray(value)) return `;${name}=${value.map(String).join(' ')}`;
  if (typeof value === 'object') return `;${name}=${JSON.stringify(value)}`;
  return `;${name}=${typeof value === 'string' || typeof value === 'number' ? value : JSON.stringify(value)}`;
}

function ResponseView(props: { response: OperationResponse; compact?: boolean }) {
  const r = props.response;
  const types = new Map<string, ResourceType>();
  for (const rec of r.records ?? []) if (rec.type) types.set(rec.path, rec.type);
  const values = Object.entries(r.values ?? {});
  return (
    <div class="response">
      <div class="response-head">
        <CodeBadge code={r.code} />
        <span class={r.success ? 'ok-text' : 'err-text'}>{r.success ? 'success' : 'failed'}</span>
        {r.latencyMs !== undefined && (
          <span class="latency" data-testid="result-latency">
            {formatLatency(r.latencyMs)}
          </span>
        )}
        {r.format !== undefined && <span class="muted">{r.format}</span>}
        {r.identity?.token && (
          <span class="mono muted" title="CoAP token">
            tkn {r.identity.token}
          </span>
        )}
        {r.identity?.messageId !== undefined && (
          <span class="mono muted" title="CoAP message id">
            mid {r.identity.messageId}
          </span>
        )}
      </div>
      {r.diagnostic && <p class="diagnostic">{r.diagnostic}</p>}
      {r.location && (
        <p>
          created <code data-testid="result-location">{r.location}</code>
        </p>
      )}
      {r.cancelled !== undefined && (
        <p class="muted">
          {r.cancelled} observation{r.cancelled === 1 ? '' : 's'} cancelled
        </p>
      )}
      {r.observationId && (
        <p class="muted">
          observation <code>{r.observationId}</code>
        </p>
      )}
      {values.length > 0 && (
        <table class="values" data-testid="result-values">
          <tbody>
            {values.slice(0, props.compact ? 12 : 200).map(([path, v]) => (
              <tr key={path}>
                <th scope="row" class="mono">
                  {path}
                </th>
                <td>{formatValue(types.get(path), v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {values.length > 12 && props.compact && <p class="muted">… {values.length - 12} more</p>}
      {r.links && r.links.length > 0 && (
        <ul class="links" data-testid="result-links">
          {r.links.map((l, i) => (
            <li key={i} class="mono">
              &lt;{l.target}&gt;
              {Object.entries(l.params ?? {})
                .map(([k, v]) => linkParam(k, v))
                .join('')}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function OperationResult(props: { entry: ResultEntry; compact?: boolean }) {
  const { entry } = props;
  const queuedId = entry.outcome && isQueued(entry.outcome) ? entry.outcome.requestId : undefined;
  const queued = useConsole((s) => (queuedId === undefined ? undefined : s.queued[queuedId]));
  return (
    <div
      class="op-result"
      data-testid="op-result"
      data-operation={entry.operation}
      data-state={entry.pending ? 'pending' : entry.error ? 'error' : 'done'}
      aria-live="polite"
    >
      {entry.pending && <span class="muted">{entry.operation}… waiting for the client</span>}
      {entry.error && (
        <div class="response">
          <div class="response-head">
            <span class="code code-err" data-testid="result-code">
              {entry.error.status ? `HTTP ${entry.error.status}` : 'error'}
            </span>
            <span class="err-text">{entry.error.code}</span>
          </div>
          <p class="error">{entry.error.message}</p>
        </div>
      )}
      {entry.outcome && !isQueued(entry.outcome) && (
        <ResponseView response={entry.outcome} compact={props.compact} />
      )}
      {entry.outcome && isQueued(entry.outcome) && (
        <div class="response">
          {queued?.result ? (
            <ResponseView response={queued.result} compact={props.compact} />
          ) : queued?.error ? (
            <p class="error">
              {queued.error.code}: {queued.error.message}
            </p>
          ) : (
            <p class="muted" data-testid="result-queued">
              queued ({entry.outcome.requestId}): the client sleeps; it runs when the client wakes
            </p>
          )}
        </div>
      )}
    </div>
  );
}
