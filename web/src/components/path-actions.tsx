// The operations on one node of the object tree (object, instance, resource) and their forms:
// Read, Write, Execute, Observe / Cancel, Discover, Write-Attributes, Create, Delete.
import { useState } from 'preact/hooks';
import type { JsonValue, ObjectModelInfo, ResourceModel } from '../api-types.js';
import { useClientOps } from '../client-ops.js';
import { useConsole, useServices } from '../context.js';
import { attributesBody, emptyAttributeForm, levelOfPath } from '../lib/attributes-form.js';
import type { AttributeContext, AttributeForm } from '../lib/attributes-form.js';
import { seriesKey } from '../lib/console-state.js';
import { checkExecuteArguments } from '../lib/execute-args.js';
import type { Draft, InstanceDraft } from '../lib/value-input.js';
import {
  draftFromValue,
  emptyDraft,
  instancesFromValues,
  parseDraft,
  parseInstances,
  parseRange,
} from '../lib/value-input.js';
import { AttributesFields } from './attributes-form.js';
import { OperationResult } from './operation-result.js';
import type { ResultEntry } from './operation-result.js';
import { InstancesInput, ValueInput } from './value-input.js';

type Panel = 'write' | 'execute' | 'observe' | 'discover' | 'attributes' | 'create' | 'delete';

export type NodeLevel = 'object' | 'instance' | 'resource';

const readable = (r: ResourceModel | undefined): boolean => !r || r.operations.includes('R');
const writable = (r: ResourceModel | undefined): boolean => !!r && r.operations.includes('W');
const executable = (r: ResourceModel | undefined): boolean => !!r && r.operations === 'E';

export function PathActions(props: {
  path: string;
  level: NodeLevel;
  resource?: ResourceModel;
  object?: ObjectModelInfo;
}) {
  const { path, level, resource } = props;
  const ops = useClientOps();
  const [panel, setPanel] = useState<Panel>();
  const [last, setLast] = useState<ResultEntry>();
  const toggle = (p: Panel): void => setPanel(panel === p ? undefined : p);
  const record = (p: Promise<ResultEntry>, close = false): void => {
    void p.then((entry) => {
      setLast(entry);
      if (close && !entry.error) setPanel(undefined);
    });
  };
  const { api } = useServices();
  const ep = ops.endpoint;
  const format = ops.format || undefined;

  const button = (label: string, action: string, onClick: () => void, pressed?: boolean) => (
    <button
      type="button"
      class="small"
      aria-label={`${action} ${path}`}
      aria-pressed={pressed}
      onClick={onClick}
    >
      {label}
    </button>
  );

  return (
    <div class="path-actions" data-path={path}>
      <div class="buttons">
        {readable(resource) &&
          !executable(resource) &&
          button('Read', 'Read', () => record(ops.run('read', [path], () => api.read(ep, path, { format }))))}
        {level === 'resource' &&
          writable(resource) &&
          button('Write…', 'Write', () => toggle('write'), panel === 'write')}
        {level === 'resource' &&
          executable(resource) &&
          button('Execute…', 'Execute', () => toggle('execute'), panel === 'execute')}
        {readable(resource) &&
          !executable(resource) &&
          button('Observe…', 'Observe', () => toggle('observe'), panel === 'observe')}
        {readable(resource) &&
          !executable(resource) &&
          button('Cancel obs.', 'Cancel observe', () =>
            record(
              ops.run('cancel-observation', [path], () => api.cancelObserve(ep, path), {
                observations: true,
              }),
            ),
          )}
        {button('Discover…', 'Discover', () => toggle('discover'), panel === 'discover')}
        {button('Attributes…', 'Attributes', () => toggle('attributes'), panel === 'attributes')}
        {level === 'object' &&
          button('Create…', 'Create instance', () => toggle('create'), panel === 'create')}
        {level === 'instance' && button('Delete…', 'Delete', () => toggle('delete'), panel === 'delete')}
      </div>
      {panel === 'write' && resource && (
        <WritePanel path={path} resource={resource} onDone={(p) => record(p, true)} />
      )}
      {panel === 'execute' && <ExecutePanel path={path} onDone={(p) => record(p)} />}
      {panel === 'observe' && (
        <AttributesPanel
          path={path}
          operation="observe"
          resource={resource}
          onDone={(p) => record(p, true)}
        />
      )}
      {panel === 'attributes' && (
        <AttributesPanel
          path={path}
          operation="write-attributes"
          resource={resource}
          onDone={(p) => record(p)}
        />
      )}
      {panel === 'discover' && <DiscoverPanel path={path} level={level} onDone={(p) => record(p)} />}
      {panel === 'create' && props.object && (
        <CreatePanel path={path} object={props.object} onDone={(p) => record(p, true)} />
      )}
      {panel === 'delete' && (
        <div class="form-panel">
          <p>
            Delete <code>{path}</code> on the device?
          </p>
          <button
            type="button"
            class="danger"
            aria-label={`Confirm delete ${path}`}
            onClick={() =>
              record(
                ops.run('delete', [path], () => api.delete(ep, path), { refresh: true }),
                true,
              )
            }
          >
            Delete
          </button>{' '}
          <button type="button" onClick={() => setPanel(undefined)}>
            Keep
          </button>
        </div>
      )}
      {last && <OperationResult entry={last} compact />}
    </div>
  );
}

function WritePanel(props: {
  path: string;
  resource: ResourceModel;
  onDone: (p: Promise<ResultEntry>) => void;
}) {
  const { path, resource } = props;
  const ops = useClientOps();
  const { api } = useServices();
  const range = parseRange(resource.range);
  const latest = useConsole((s) => s.latest);
  const [draft, setDraft] = useState<Draft>(() =>
    draftFromValue(resource.type, latest[seriesKey(ops.endpoint, path)]?.value as JsonValue | undefined),
  );
  const [rows, setRows] = useState<InstanceDraft[]>(() => {
    const values: Record<string, unknown> = {};
    const prefix = `${ops.endpoint} `;
    for (const [k, v] of Object.entries(latest))
      if (k.startsWith(prefix)) values[k.slice(prefix.length)] = v.value;
    return instancesFromValues(resource.type, path, values);
  });
  const [mode, setMode] = useState<'replace' | 'update'>('replace');
  const parsed = resource.multiple
    ? parseInstances(resource.type, path, rows, range)
    : parseDraft(resource.type, draft, range);
  const format = ops.format || undefined;
  return (
    <form
      class="form-panel"
      onSubmit={(e) => {
        e.preventDefault();
        if (!parsed.ok) return;
        const value = parsed.value;
        props.onDone(
          ops.run(mode === 'update' ? 'write-update' : 'write', [path], () =>
            resource.multiple
              ? api.write(
                  ops.endpoint,
                  path,
                  { values: value as Record<string, JsonValue> },
                  { mode, format },
                )
              : api.write(ops.endpoint, path, { value: value as JsonValue }, { format }),
          ),
        );
      }}
    >
      {resource.multiple ? (
        <>
          <InstancesInput
            type={resource.type}
            path={path}
            rows={rows}
            onChange={setRows}
            range={range}
            units={resource.units}
          />
          <label>
            Mode{' '}
            <select
              aria-label={`Write mode for ${path}`}
              value={mode}
              onChange={(e) => setMode(e.currentTarget.value as 'replace' | 'update')}
            >
              <option value="replace">replace (PUT)</option>
              <option value="update">partial update (POST)</option>
            </select>
          </label>
        </>
      ) : (
        <ValueInput
          type={resource.type}
          draft={draft}
          onChange={setDraft}
          range={range}
          units={resource.units}
          label={`Value for ${path}`}
        />
      )}
      {resource.multiple && !parsed.ok && <span class="error">{parsed.error}</span>}
      <button type="submit" class="primary" disabled={!parsed.ok} aria-label={`Send write ${path}`}>
        Write
      </button>
    </form>
  );
}

function ExecutePanel(props: { path: string; onDone: (p: Promise<ResultEntry>) => void }) {
  const ops = useClientOps();
  const { api } = useServices();
  const [args, setArgs] = useState('');
  const problem = checkExecuteArguments(args);
  return (
    <form
      class="form-panel"
      onSubmit={(e) => {
        e.preventDefault();
        if (problem) return;
        props.onDone(ops.run('execute', [props.path], () => api.execute(ops.endpoint, props.path, args)));
      }}
    >
      <label>
        Arguments <span class="muted">(optional, e.g. 0='abc',1)</span>
        <input
          type="text"
          aria-label={`Execute arguments for ${props.path}`}
          aria-invalid={problem !== undefined}
          value={args}
          onInput={(e) => setArgs(e.currentTarget.value)}
        />
      </label>
      {problem && <span class="error">{problem}</span>}
      <button
        type="submit"
        class="primary"
        disabled={problem !== undefined}
        aria-label={`Send execute ${props.path}`}
      >
        Execute
      </button>
    </form>
  );
}

function AttributesPanel(props: {
  path: string;
  operation: 'observe' | 'write-attributes';
  resource?: ResourceModel;
  onDone: (p: Promise<ResultEntry>) => void;
}) {
  const { path, operation } = props;
  const ops = useClientOps();
  const { api } = useServices();
  const [form, setForm] = useState<AttributeForm>(emptyAttributeForm);
  const context: AttributeContext = {
    operation,
    level: levelOfPath(path),
    resourceType: props.resource?.type,
    lwm2mVersion: ops.lwm2mVersion,
  };
  const body = attributesBody(form, context);
  const format = ops.format || undefined;
  const isObserve = operation === 'observe';
  return (
    <form
      class="form-panel"
      onSubmit={(e) => {
        e.preventDefault();
        if (!body.ok) return;
        const attrs = body.value;
        props.onDone(
          isObserve
            ? ops.run('observe', [path], () => api.observe(ops.endpoint, path, attrs, format), {
                chart: true,
                observations: true,
              })
            : ops.run('write-attributes', [path], () => api.writeAttributes(ops.endpoint, path, attrs)),
        );
      }}
    >
      <AttributesFields form={form} onChange={setForm} context={context} target={path} />
      {!body.ok && <span class="error">{body.error}</span>}
      <button
        type="submit"
        class="primary"
        disabled={!body.ok || (!isObserve && Object.keys(body.value).length === 0)}
        aria-label={isObserve ? `Start observe ${path}` : `Send attributes ${path}`}
      >
        {isObserve ? 'Observe' : 'Write attributes'}
      </button>
    </form>
  );
}

function DiscoverPanel(props: { path: string; level: NodeLevel; onDone: (p: Promise<ResultEntry>) => void }) {
  const ops = useClientOps();
  const { api } = useServices();
  const [depth, setDepth] = useState('');
  const supportsDepth = ops.lwm2mVersion !== '1.0' && ops.lwm2mVersion !== '1.1';
  return (
    <form
      class="form-panel"
      onSubmit={(e) => {
        e.preventDefault();
        props.onDone(
          ops.run('discover', [props.path], () =>
            api.discover(ops.endpoint, props.path, depth === '' ? undefined : Number(depth)),
          ),
        );
      }}
    >
      <label>
        Depth{' '}
        <select
          aria-label={`Discover depth for ${props.path}`}
          value={depth}
          disabled={!supportsDepth}
          onChange={(e) => setDepth(e.currentTarget.value)}
        >
          <option value="">default</option>
          {[0, 1, 2, 3].map((d) => (
            <option key={d} value={String(d)}>
              {d}
            </option>
          ))}
        </select>
        {!supportsDepth && <span class="muted"> (LwM2M 1.2 only)</span>}
      </label>
      <button type="submit" class="primary" aria-label={`Send discover ${props.path}`}>
        Discover
      </button>
    </form>
  );
}

function CreatePanel(props: {
  path: string;
  object: ObjectModelInfo;
  onDone: (p: Promise<ResultEntry>) => void;
}) {
  const ops = useClientOps();
  const { api } = useServices();
  const fields = props.object.resources.filter((r) => writable(r) && !r.multiple);
  const [instanceId, setInstanceId] = useState('');
  const [included, setIncluded] = useState<Record<number, boolean>>({});
  const [drafts, setDrafts] = useState<Record<number, Draft>>({});
  const idOk = instanceId === '' || (/^[0-9]{1,5}$/.test(instanceId) && Number(instanceId) <= 65534);
  const values: Record<string, JsonValue> = {};
  let error: string | undefined = idOk ? undefined : 'instance id must be 0..65534';
  for (const r of fields) {
    if (!included[r.id]) continue;
    const v = parseDraft(r.type, drafts[r.id] ?? emptyDraft(r.type), parseRange(r.range));
    if (!v.ok) error ??= `${r.name}: ${v.error}`;
    else values[String(r.id)] = v.value;
  }
  return (
    <form
      class="form-panel"
      onSubmit={(e) => {
        e.preventDefault();
        if (error) return;
        props.onDone(
          ops.run(
            'create',
            [props.path],
            () =>
              api.create(ops.endpoint, props.path, {
                ...(instanceId === '' ? {} : { instanceId: Number(instanceId) }),
                values,
              }),
            { refresh: true },
          ),
        );
      }}
    >
      <label>
        Instance id <span class="muted">(empty: the client picks)</span>
        <input
          type="number"
          min={0}
          max={65534}
          aria-label={`New instance id for ${props.path}`}
          value={instanceId}
          onInput={(e) => setInstanceId(e.currentTarget.value)}
        />
      </label>
      {fields.length > 0 && (
        <table class="create-fields">
          <tbody>
            {fields.map((r) => (
              <tr key={r.id}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Include resource ${r.id} in the new instance`}
                    checked={!!included[r.id]}
                    onChange={(e) => setIncluded({ ...included, [r.id]: e.currentTarget.checked })}
                  />
                </td>
                <th scope="row">
                  {r.id} {r.name}
                  {r.mandatory && <abbr title="mandatory">*</abbr>}
                </th>
                <td>
                  <ValueInput
                    type={r.type}
                    draft={drafts[r.id] ?? emptyDraft(r.type)}
                    range={parseRange(r.range)}
                    units={r.units}
                    label={`Value of resource ${r.id} in the new instance`}
                    onChange={(d) => {
                      setDrafts({ ...drafts, [r.id]: d });
                      setIncluded({ ...included, [r.id]: true });
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {error && <span class="error">{error}</span>}
      <button
        type="submit"
        class="primary"
        disabled={error !== undefined}
        aria-label={`Send create ${props.path}`}
      >
        Create
      </button>
    </form>
  );
}
