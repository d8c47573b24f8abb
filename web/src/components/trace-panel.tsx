// The message trace: each command with its CoAP identity (token, message id), code and latency,
// uplinks from clients and notifications, newest first (request/response/uplink/notification events).
import { useState } from 'preact/hooks';
import { useConsole, useServices } from '../context.js';
import { traceFor } from '../lib/console-state.js';
import type { TraceRow } from '../lib/console-state.js';
import { clockTime, codeClass, formatLatency } from '../lib/format.js';

const SHOWN = 200;
const ARROWS: Readonly<Record<TraceRow['direction'], string>> = {
  down: '→',
  up: '←',
  notify: '↺',
  send: '⇐',
};
const DIRECTION_TEXT: Readonly<Record<TraceRow['direction'], string>> = {
  down: 'server to client',
  up: 'client to server',
  notify: 'notification',
  send: 'send (client to server)',
};

export function TracePanel(props: { endpoint?: string }) {
  const { store } = useServices();
  const [paused, setPaused] = useState(false);
  const [frozen, setFrozen] = useState<TraceRow[]>([]);
  const liveRows = useConsole((s) => s.trace);
  const rows = paused ? frozen : traceFor(liveRows, props.endpoint);
  const shown = rows.slice(0, SHOWN);
  // Sizes are shown when the server reports them.
  const bytes = shown.some((r) => r.bytes !== undefined);
  const columns = 9 + (props.endpoint === undefined ? 1 : 0) + (bytes ? 1 : 0);
  return (
    <section class="panel trace" aria-labelledby="trace-title">
      <div class="panel-head">
        <h2 id="trace-title">Message trace</h2>
        <span class="muted">{rows.length} messages</span>
        <span class="spacer" />
        <button
          type="button"
          class="small"
          aria-pressed={paused}
          onClick={() => {
            if (!paused) setFrozen(traceFor(liveRows, props.endpoint));
            setPaused(!paused);
          }}
        >
          {paused ? 'Resume' : 'Pause'}
        </button>
        <button type="button" class="small" onClick={() => store.dispatch({ type: 'clear-trace' })}>
          Clear
        </button>
      </div>
      <div class="table-wrap">
        <table class="trace-table" data-testid="trace-table">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col" aria-label="Direction" />
              {props.endpoint === undefined && <th scope="col">Endpoint</th>}
              <th scope="col">Operation</th>
              <th scope="col">Paths</th>
              <th scope="col">Token</th>
              <th scope="col">MID</th>
              <th scope="col">Code</th>
              <th scope="col">Latency</th>
              {bytes && <th scope="col">Bytes</th>}
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && (
              <tr>
                <td colSpan={columns} class="empty">
                  No messages yet.
                </td>
              </tr>
            )}
            {shown.map((r) => (
              <tr
                key={r.key}
                data-testid="trace-row"
                data-direction={r.direction}
                class={r.pending ? 'pending' : undefined}
              >
                <td class="mono">{clockTime(r.time)}</td>
                <td title={DIRECTION_TEXT[r.direction]} aria-label={DIRECTION_TEXT[r.direction]}>
                  {ARROWS[r.direction]}
                </td>
                {props.endpoint === undefined && <td>{r.endpoint ?? ''}</td>}
                <td>{r.operation}</td>
                <td class="mono">{r.paths.join(' ')}</td>
                <td class="mono">{r.token ?? ''}</td>
                <td class="mono">{r.messageId ?? ''}</td>
                <td>
                  {r.code ? (
                    <span class={`code code-${codeClass(r.code)}`}>{r.code}</span>
                  ) : r.pending ? (
                    <span class="muted">…</span>
                  ) : (
                    ''
                  )}
                </td>
                <td>{formatLatency(r.latencyMs)}</td>
                {bytes && <td>{r.bytes ?? ''}</td>}
                <td class="detail">{[r.error, r.detail].filter(Boolean).join(' ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
