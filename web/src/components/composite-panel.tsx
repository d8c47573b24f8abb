// Composite operations (Core §6.3 Read-Composite / Write-Composite, §6.4 Observe-Composite,
// LwM2M 1.1+) on the paths ticked in the tree, across objects.
import { useState } from 'preact/hooks';
import type { JsonValue } from '../api-types.js';
import { useClientOps } from '../client-ops.js';
import { useServices } from '../context.js';
import { attributesBody, emptyAttributeForm } from '../lib/attributes-form.js';
import type { AttributeContext, AttributeForm } from '../lib/attributes-form.js';
import type { Draft } from '../lib/value-input.js';
import { emptyDraft, parseDraft, parseRange } from '../lib/value-input.js';
import { AttributesFields } from './attributes-form.js';
import { OperationResult } from './operation-result.js';
import type { ResultEntry } from './operation-result.js';
import { ValueInput } from './value-input.js';

export function CompositePanel(props: { onClear: () => void }) {
  const ops = useClientOps();
  const { api } = useServices();
  const [panel, setPanel] = useState<'observe' | 'write'>();
  const [form, setForm] = useState<AttributeForm>(emptyAttributeForm);
  const [drafts, setDrafts] = useState<Record<string, Draft>>({});
  const [last, setLast] = useState<ResultEntry>();
  const paths = [...ops.selected].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const supported = ops.lwm2mVersion !== '1.0';
  const format = ops.format || undefined;
  const record = (p: Promise<ResultEntry>): void => void p.then(setLast);

  const context: AttributeContext = { operation: 'observe-composite', lwm2mVersion: ops.lwm2mVersion };
  const attrs = attributesBody(form, context);

  // Write-Composite: the selected single-instance writable resources.
  const writable = paths
    .map((p) => ({ path: p, r: ops.resource(p) }))
    .filter((x) => x.r !== undefined && x.r.operations.includes('W') && !x.r.multiple && p3(x.path));
  const values: Record<string, JsonValue> = {};
  let writeError: string | undefined = writable.length === 0 ? 'select writable resources' : undefined;
  for (const { path, r } of writable) {
    const v = parseDraft(r!.type, drafts[path] ?? emptyDraft(r!.type), parseRange(r!.range));
    if (!v.ok) writeError ??= `${path}: ${v.error}`;
    else values[path] = v.value;
  }

  return (
    <section class="panel composite" aria-labelledby="composite-title" data-testid="composite-panel">
      <div class="panel-head">
        <h2 id="composite-title">Composite</h2>
        <span class="muted" data-testid="selected-count">
          {paths.length} selected
        </span>
        <span class="spacer" />
        {paths.length > 0 && (
          <button type="button" class="small" onClick={props.onClear}>
            Clear
          </button>
        )}
      </div>
      {!supported && <p class="muted">Composite operations need LwM2M 1.1 or later.</p>}
      {paths.length > 0 && (
        <ul class="selected-paths">
          {paths.map((p) => (
            <li key={p}>
              <code>{p}</code>{' '}
              <button type="button" class="link" aria-label={`Unselect ${p}`} onClick={() => ops.toggle(p)}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <div class="buttons">
        <button
          type="button"
          class="small"
          disabled={paths.length === 0 || !supported}
          aria-label="Read selected"
          onClick={() =>
            record(ops.run('read-composite', paths, () => api.readComposite(ops.endpoint, paths, format)))
          }
        >
          Read
        </button>
        <button
          type="button"
          class="small"
          disabled={paths.length === 0 || !supported}
          aria-pressed={panel === 'observe'}
          aria-label="Observe selected"
          onClick={() => setPanel(panel === 'observe' ? undefined : 'observe')}
        >
          Observe…
        </button>
        <button
          type="button"
          class="small"
          disabled={paths.length === 0 || !supported}
          aria-pressed={panel === 'write'}
          aria-label="Write selected"
          onClick={() => setPanel(panel === 'write' ? undefined : 'write')}
        >
          Write…
        </button>
      </div>
      {panel === 'observe' && paths.length > 0 && (
        <form
          class="form-panel"
          onSubmit={(e) => {
            e.preventDefault();
            if (!attrs.ok) return;
            const a = attrs.value;
            record(
              ops.run(
                'observe-composite',
                paths,
                () => api.observeComposite(ops.endpoint, paths, a, format),
                {
                  chart: true,
                  observations: true,
                },
              ),
            );
            setPanel(undefined);
          }}
        >
          <AttributesFields form={form} onChange={setForm} context={context} target="the selected paths" />
          {!attrs.ok && <span class="error">{attrs.error}</span>}
          <button type="submit" class="primary" disabled={!attrs.ok} aria-label="Start composite observe">
            Observe
          </button>
        </form>
      )}
      {panel === 'write' && paths.length > 0 && (
        <form
          class="form-panel"
          onSubmit={(e) => {
            e.preventDefault();
            if (writeError) return;
            record(
              ops.run('write-composite', Object.keys(values), () =>
                api.writeComposite(ops.endpoint, values, format),
              ),
            );
          }}
        >
          {writable.map(({ path, r }) => (
            <div class="field-row" key={path}>
              <code>{path}</code> <span class="muted">{r!.name}</span>
              <ValueInput
                type={r!.type}
                draft={drafts[path] ?? emptyDraft(r!.type)}
                range={parseRange(r!.range)}
                units={r!.units}
                label={`Composite value for ${path}`}
                onChange={(d) => setDrafts({ ...drafts, [path]: d })}
              />
            </div>
          ))}
          {writeError && <span class="error">{writeError}</span>}
          <button
            type="submit"
            class="primary"
            disabled={writeError !== undefined}
            aria-label="Send composite write"
          >
            Write
          </button>
        </form>
      )}
      {last && <OperationResult entry={last} compact />}
    </section>
  );
}

/** A resource path (three ids): only those take a value in this form. */
function p3(path: string): boolean {
  return path.split('/').filter((p) => p !== '').length === 3;
}
