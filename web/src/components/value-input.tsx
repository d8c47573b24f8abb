// Type-aware inputs for one LwM2M value (Core TS Appendix C) and for the instances of a multiple
// resource. Each shows why its content is not a valid value of the type.
import type { ResourceType } from '../api-types.js';
import type { Draft, InstanceDraft, NumericRange } from '../lib/value-input.js';
import {
  base64ToHex,
  describeRange,
  emptyDraft,
  hexToBase64,
  normalizeHex,
  parseDraft,
  parseTimeInput,
  secondsToDateTimeInput,
} from '../lib/value-input.js';
import { RowButton } from './row-button.js';

let idCounter = 0;
const uid = (): string => `vi-${++idCounter}`;

export function ValueInput(props: {
  type: ResourceType;
  draft: Draft;
  onChange: (draft: Draft) => void;
  /** Accessible name, e.g. "Value for /3/0/14". */
  label: string;
  range?: NumericRange;
  units?: string;
  /** Hide the validation message (a parent shows it). */
  quiet?: boolean;
}) {
  const { type, draft, onChange, label, range } = props;
  const parsed = parseDraft(type, draft, range);
  const errorId = uid();
  const showError = !props.quiet && !parsed.ok && !isBlank(draft);
  const invalid = !parsed.ok && !isBlank(draft);
  const common = {
    'aria-invalid': invalid,
    'aria-describedby': showError ? errorId : undefined,
  };
  let control;
  switch (draft.kind) {
    case 'text': {
      const numeric = type === 'integer' || type === 'unsigned' || type === 'float';
      control = numeric ? (
        <input
          {...common}
          type="number"
          inputMode={type === 'float' ? 'decimal' : 'numeric'}
          step={type === 'float' ? 'any' : '1'}
          min={range?.min ?? (type === 'unsigned' ? 0 : undefined)}
          max={range?.max}
          aria-label={label}
          data-type={type}
          value={draft.text}
          onInput={(e) => onChange({ kind: 'text', text: e.currentTarget.value })}
        />
      ) : (
        <input
          {...common}
          type="text"
          aria-label={label}
          data-type={type}
          value={draft.text}
          onInput={(e) => onChange({ kind: 'text', text: e.currentTarget.value })}
        />
      );
      break;
    }
    case 'bool':
      control = (
        <label class="switch">
          <input
            type="checkbox"
            role="switch"
            aria-label={label}
            data-type={type}
            checked={draft.value}
            onChange={(e) => onChange({ kind: 'bool', value: e.currentTarget.checked })}
          />
          <span>{draft.value ? 'true' : 'false'}</span>
        </label>
      );
      break;
    case 'opaque':
      control = (
        <span class="opaque-input">
          <textarea
            {...common}
            rows={2}
            aria-label={label}
            data-type={type}
            placeholder={draft.encoding === 'hex' ? 'ca fe 00' : 'yv4A'}
            value={draft.text}
            onInput={(e) => onChange({ ...draft, text: e.currentTarget.value })}
          />
          <select
            aria-label={`Encoding of ${label}`}
            value={draft.encoding}
            onChange={(e) => {
              const encoding = e.currentTarget.value as 'hex' | 'base64';
              if (encoding === draft.encoding) return;
              // Convert what is typed when it is valid, so switching does not lose it.
              const hex = draft.encoding === 'hex' ? normalizeHex(draft.text) : base64ToHex(draft.text);
              const text = hex.ok ? (encoding === 'hex' ? hex.value : hexToBase64(hex.value)) : draft.text;
              onChange({ kind: 'opaque', text, encoding });
            }}
          >
            <option value="hex">hex</option>
            <option value="base64">base64</option>
          </select>
        </span>
      );
      break;
    case 'objlnk':
      control = (
        <span class="objlnk-input" role="group" aria-label={label}>
          <input
            {...common}
            type="number"
            min={0}
            max={65535}
            step={1}
            aria-label={`${label}: object id`}
            value={draft.oid}
            onInput={(e) => onChange({ ...draft, oid: e.currentTarget.value })}
          />
          <span aria-hidden="true">:</span>
          <input
            {...common}
            type="number"
            min={0}
            max={65535}
            step={1}
            aria-label={`${label}: instance id`}
            value={draft.iid}
            onInput={(e) => onChange({ ...draft, iid: e.currentTarget.value })}
          />
        </span>
      );
      break;
    case 'time': {
      const seconds = parseTimeInput(draft.text);
      control = (
        <span class="time-input">
          <input
            {...common}
            type="datetime-local"
            step={1}
            aria-label={label}
            data-type={type}
            value={draft.text}
            onInput={(e) => onChange({ kind: 'time', text: e.currentTarget.value })}
          />
          <span class="muted">UTC{seconds.ok ? ` = ${seconds.value}` : ''}</span>
          <button
            type="button"
            class="small"
            onClick={() =>
              onChange({ kind: 'time', text: secondsToDateTimeInput(Math.floor(Date.now() / 1000)) })
            }
          >
            now
          </button>
        </span>
      );
      break;
    }
    case 'none':
      control = <span class="muted">no value</span>;
      break;
  }
  const hint = describeRange(range);
  return (
    <span class="value-input">
      {control}
      {props.units && <span class="units">{props.units}</span>}
      {hint && <span class="muted">({hint})</span>}
      {showError && !parsed.ok && (
        <span class="error" id={errorId}>
          {parsed.error}
        </span>
      )}
    </span>
  );
}

function isBlank(draft: Draft): boolean {
  switch (draft.kind) {
    case 'text':
    case 'time':
    case 'opaque':
      return draft.text === '';
    case 'objlnk':
      return draft.oid === '' && draft.iid === '';
    default:
      return false;
  }
}

/** The instances of a multiple resource: id + value per row, add and remove. */
export function InstancesInput(props: {
  type: ResourceType;
  path: string;
  rows: readonly InstanceDraft[];
  onChange: (rows: InstanceDraft[]) => void;
  range?: NumericRange;
  units?: string;
}) {
  const { rows, onChange } = props;
  const nextId = rows.reduce((m, r) => Math.max(m, /^[0-9]+$/.test(r.id) ? Number(r.id) + 1 : m), 0);
  return (
    <div class="instances-input" role="group" aria-label={`Instances of ${props.path}`}>
      {rows.length === 0 && <p class="muted">No instances: writing replaces the resource with none.</p>}
      {rows.map((row, i) => (
        <div class="instance-row" key={i}>
          <input
            type="number"
            min={0}
            max={65535}
            step={1}
            class="id-input"
            aria-label={`Instance id ${i + 1} of ${props.path}`}
            value={row.id}
            onInput={(e) => onChange(rows.map((r, j) => (j === i ? { ...r, id: e.currentTarget.value } : r)))}
          />
          <ValueInput
            type={props.type}
            draft={row.draft}
            range={props.range}
            units={props.units}
            label={`Value of instance ${row.id || i + 1} of ${props.path}`}
            onChange={(draft) => onChange(rows.map((r, j) => (j === i ? { ...r, draft } : r)))}
          />
          <RowButton
            label={`Remove instance ${row.id || i + 1} of ${props.path}`}
            onClick={() => onChange(rows.filter((_, j) => j !== i))}
          >
            remove
          </RowButton>
        </div>
      ))}
      <RowButton
        label={`Add instance to ${props.path}`}
        onClick={() => onChange([...rows, { id: String(nextId), draft: emptyDraft(props.type) }])}
      >
        + instance
      </RowButton>
    </div>
  );
}
