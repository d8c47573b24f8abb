// The client's object tree: the objects and instances it registered, each resource as its model
// (/api/models/{id}) defines it, with its last known value and its operations.
import { useEffect, useState } from 'preact/hooks';
import type { ObjectModelInfo, RegisteredObject, ResourceModel } from '../api-types.js';
import { useClientOps } from '../client-ops.js';
import { useConsole, useServices } from '../context.js';
import { seriesKey } from '../lib/console-state.js';
import { formatValue } from '../lib/value-input.js';
import { PathActions } from './path-actions.js';

const OPERATION_TEXT: Readonly<Record<string, string>> = {
  R: 'read',
  W: 'write',
  RW: 'read/write',
  E: 'execute',
  '': 'none',
};

export function useObjectModel(id: number, version?: string): ObjectModelInfo | null | undefined {
  const { model } = useServices();
  const [info, setInfo] = useState<ObjectModelInfo | null>();
  useEffect(() => {
    let alive = true;
    void model(id, version).then((m) => alive && setInfo(m));
    return () => {
      alive = false;
    };
  }, [model, id, version]);
  return info;
}

export function ObjectTree(props: { objects: readonly RegisteredObject[] }) {
  if (props.objects.length === 0) return <p class="muted">The client registered no objects.</p>;
  return (
    <ul class="tree" aria-label="Object tree">
      {props.objects.map((o) => (
        <ObjectNode key={`${o.prefix ?? ''}/${o.id}`} object={o} />
      ))}
    </ul>
  );
}

function Expander(props: { path: string; open: boolean; onToggle: () => void }) {
  return (
    <button
      type="button"
      class="expander"
      aria-expanded={props.open}
      aria-label={`${props.open ? 'Collapse' : 'Expand'} ${props.path}`}
      onClick={props.onToggle}
    >
      {props.open ? '▾' : '▸'}
    </button>
  );
}

function ObjectNode(props: { object: RegisteredObject }) {
  const { object } = props;
  const model = useObjectModel(object.id, object.version ?? undefined);
  const [open, setOpen] = useState(false);
  const prefix = object.prefix?.replace(/^\/+|\/+$/g, '');
  const path = prefix ? `/${prefix}/${object.id}` : `/${object.id}`;
  return (
    <li class="object-node" data-testid="object-node" data-path={path}>
      <div class="node-head">
        <Expander path={path} open={open} onToggle={() => setOpen(!open)} />
        <span class="node-title">
          <code>{path}</code> <strong>{model?.name ?? (model === null ? 'Unknown object' : '…')}</strong>
          {object.version && <span class="muted"> v{object.version}</span>}
          <span class="muted">
            {' '}
            · {object.instances.length} instance{object.instances.length === 1 ? '' : 's'}
            {model?.multiple === false ? ' · single' : ''}
          </span>
        </span>
      </div>
      {open && (
        <div class="node-body">
          {model?.description && <p class="description">{model.description}</p>}
          <PathActions path={path} level="object" object={model ?? undefined} />
          <ul class="tree">
            {object.instances.map((iid) => (
              <InstanceNode key={iid} path={`${path}/${iid}`} model={model} />
            ))}
            {object.instances.length === 0 && <li class="muted">no instances</li>}
          </ul>
        </div>
      )}
    </li>
  );
}

function InstanceNode(props: { path: string; model: ObjectModelInfo | null | undefined }) {
  const ops = useClientOps();
  const [open, setOpen] = useState(true);
  const { path, model } = props;
  return (
    <li class="instance-node" data-testid="instance-node" data-path={path}>
      <div class="node-head">
        <Expander path={path} open={open} onToggle={() => setOpen(!open)} />
        <input
          type="checkbox"
          aria-label={`Select ${path}`}
          checked={ops.selected.has(path)}
          onChange={() => ops.toggle(path)}
        />
        <code class="node-title">{path}</code>
      </div>
      {open && (
        <div class="node-body">
          <PathActions path={path} level="instance" />
          {model ? (
            <div class="resources" role="list" aria-label={`Resources of ${path}`}>
              {model.resources.map((r) => (
                <ResourceRow key={r.id} path={`${path}/${r.id}`} resource={r} />
              ))}
            </div>
          ) : (
            <p class="muted">
              {model === null ? 'No model for this object: read it to see its values.' : 'Loading model…'}
            </p>
          )}
        </div>
      )}
    </li>
  );
}

function ResourceValue(props: { path: string; resource: ResourceModel }) {
  const ops = useClientOps();
  const { path, resource } = props;
  const single = useConsole((s) => s.latest[seriesKey(ops.endpoint, path)]);
  const latest = useConsole((s) => (resource.multiple ? s.latest : undefined));
  if (resource.multiple) {
    const prefix = seriesKey(ops.endpoint, `${path}/`);
    const entries = Object.entries(latest ?? {})
      .filter(([k]) => k.startsWith(prefix) && /^[0-9]+$/.test(k.slice(prefix.length)))
      .sort(([a], [b]) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)));
    if (entries.length === 0) return <span class="value muted" data-testid="resource-value" />;
    return (
      <ul class="value multi" data-testid="resource-value">
        {entries.map(([k, v]) => (
          <li key={k}>
            <span class="muted">{k.slice(prefix.length)}:</span> {formatValue(resource.type, v.value)}
          </li>
        ))}
      </ul>
    );
  }
  return (
    <span
      class="value"
      data-testid="resource-value"
      title={single ? new Date(single.time).toISOString() : undefined}
    >
      {single ? formatValue(resource.type, single.value) : ''}
    </span>
  );
}

function ResourceRow(props: { path: string; resource: ResourceModel }) {
  const ops = useClientOps();
  const { path, resource: r } = props;
  return (
    <div class="resource" role="listitem" data-testid="resource-row" data-path={path}>
      <div class="resource-head">
        <input
          type="checkbox"
          aria-label={`Select ${path}`}
          checked={ops.selected.has(path)}
          onChange={() => ops.toggle(path)}
        />
        <span class="rid mono">{r.id}</span>
        <span class="rname" title={r.description}>
          {r.name}
          {r.mandatory && (
            <abbr title="mandatory" class="mandatory">
              *
            </abbr>
          )}
        </span>
        <span
          class="rtype"
          title={`${OPERATION_TEXT[r.operations] ?? r.operations}${r.multiple ? ', multiple instances' : ''}`}
        >
          {r.type}
          {r.multiple ? '[]' : ''} · {r.operations || '–'}
          {r.units ? ` · ${r.units}` : ''}
        </span>
      </div>
      <div class="resource-value">
        <ResourceValue path={path} resource={r} />
      </div>
      <PathActions path={path} level="resource" resource={r} />
    </div>
  );
}
