// The notification attributes fields (Core §5.1.2), only those that apply to the target.
import type { AttributeContext, AttributeForm, AttributeName } from '../lib/attributes-form.js';
import { ATTRIBUTES, applicableAttributes } from '../lib/attributes-form.js';

export function AttributesFields(props: {
  form: AttributeForm;
  onChange: (form: AttributeForm) => void;
  context: AttributeContext;
  /** Used in accessible names: "pmin for /3/0/9". */
  target: string;
}) {
  const { form, onChange, context } = props;
  const names = applicableAttributes(context);
  const canClear = context.operation === 'write-attributes';
  const set = (name: AttributeName, change: Partial<AttributeForm[AttributeName]>): void =>
    onChange({ ...form, [name]: { ...form[name], ...change } });
  return (
    <fieldset class="attributes">
      <legend>Notification attributes</legend>
      <div class="attr-grid">
        {names.map((name) => {
          const spec = ATTRIBUTES[name];
          const field = form[name];
          return (
            <div class="attr" key={name}>
              <label>
                <span class="attr-name">{name}</span>
                <span class="muted small-text">{spec.label}</span>
                {spec.syntax === 'bit' ? (
                  <select
                    aria-label={`${name} for ${props.target}`}
                    value={field.text}
                    disabled={field.clear}
                    onChange={(e) => set(name, { text: e.currentTarget.value })}
                  >
                    <option value="">—</option>
                    <option value="0">0</option>
                    <option value="1">1</option>
                  </select>
                ) : (
                  <input
                    type="number"
                    step={spec.syntax === 'uint' ? 1 : 'any'}
                    min={spec.syntax === 'signed-decimal' ? undefined : 0}
                    aria-label={`${name} for ${props.target}`}
                    value={field.text}
                    disabled={field.clear}
                    onInput={(e) => set(name, { text: e.currentTarget.value })}
                  />
                )}
              </label>
              {canClear && (
                <label class="clear">
                  <input
                    type="checkbox"
                    aria-label={`Clear ${name} for ${props.target}`}
                    checked={field.clear}
                    onChange={(e) => set(name, { clear: e.currentTarget.checked, text: '' })}
                  />
                  clear
                </label>
              )}
            </div>
          );
        })}
      </div>
      {names.length === 0 && <p class="muted">No attribute applies here.</p>}
    </fieldset>
  );
}
