// A device's configuration "from a template": pick a template, fill one input per placeholder
// (`${endpoint}` is filled in by the server; a placeholder in a key/privateKey field is a secret:
// a password input, never pre-filled), saved with PUT /api/bootstrap/clients/{ep} as
// `{template, values}`. The API's 400 (unknown template, an unfilled placeholder, a value that
// does not fit) is shown as it names the field.
import { useEffect, useState } from 'preact/hooks';
import type { BootstrapClientView, BootstrapTemplateView } from '../api-types.js';
import { useServices } from '../context.js';
import { bootstrapTemplates } from '../lib/bootstrap-api.js';
import {
  EMPTY_TEMPLATED_FORM,
  secretsToReenterOf,
  templateInputs,
  templateReferenceBody,
} from '../lib/bootstrap-templates.js';
import type { PlaceholderInput, TemplatedForm } from '../lib/bootstrap-templates.js';
import { ConfigFormFooter } from './config-form-footer.js';
import { useConfigSave } from './use-config-save.js';
import { errorMessage } from '../lib/error-message.js';

/** The most templates the choice offers (the API's page limit). */
const MAX_TEMPLATES = 1000;

const inputId = (name: string): string => `tpf-${name}`;

function PlaceholderField(props: {
  input: PlaceholderInput;
  value: string;
  storedLength: number | undefined;
  error: string | undefined;
  onInput: (value: string) => void;
}) {
  const { input } = props;
  const id = inputId(input.name);
  const common = {
    id,
    'aria-invalid': props.error ? ('true' as const) : undefined,
    'aria-describedby': props.error ? `${id}-error` : undefined,
  };
  return (
    <div class="field" data-placeholder={input.name}>
      <label for={id}>{input.name}</label>
      {input.kind === 'boolean' ? (
        <select {...common} value={props.value} onChange={(e) => props.onInput(e.currentTarget.value)}>
          <option value="">not given</option>
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      ) : (
        <input
          {...common}
          type={input.secret ? 'password' : 'text'}
          class={input.secret ? 'mono' : undefined}
          value={props.value}
          spellcheck={false}
          autoComplete={input.secret ? 'new-password' : 'off'}
          inputMode={input.kind === 'number' ? 'decimal' : undefined}
          onInput={(e) => props.onInput(e.currentTarget.value)}
        />
      )}
      {input.secret && (
        <span class="small-text muted" data-testid="secret-hint">
          secret (a key)
          {props.storedLength === undefined ? '' : `: stored, ${props.storedLength} characters, never shown`}
        </span>
      )}
      {props.error && (
        <span class="field-error" id={`${id}-error`} data-testid="field-error">
          {props.error}
        </span>
      )}
    </div>
  );
}

export function BootstrapTemplatedForm(props: {
  form: TemplatedForm;
  /** Reloads the template choice when templates change. */
  templatesVersion: number;
  onChange: (form: TemplatedForm) => void;
  onSaved: (view: BootstrapClientView) => void;
}) {
  const { api } = useServices();
  const { form, onChange } = props;
  const [templates, setTemplates] = useState<readonly BootstrapTemplateView[]>();
  const [loadError, setLoadError] = useState<string>();
  const { errors, setErrors, busy, save } = useConfigSave(props.onSaved);
  useEffect(() => {
    let alive = true;
    bootstrapTemplates(api, { limit: MAX_TEMPLATES })
      .then((p) => {
        if (!alive) return;
        setTemplates(p.items);
        setLoadError(undefined);
      })
      .catch((e: unknown) => alive && setLoadError(errorMessage(e)));
    return () => {
      alive = false;
    };
  }, [api, props.templatesVersion]);

  const chosen = templates?.find((t) => t.name === form.template);
  const inputs = chosen ? templateInputs(chosen) : [];
  const reenter = secretsToReenterOf(form, inputs);
  const errorOf = (field: string): string | undefined => errors.find((e) => e.field === field)?.message;
  // A value's own error (`values.lifetime: …`) or a template field's that names its placeholder.
  const placeholderError = (name: string): string | undefined =>
    errorOf(`values.${name}`) ??
    errors.find((e) => e.field !== '' && e.message.includes(`\${${name}}`))?.message;

  const submit = (e: Event): void => {
    e.preventDefault();
    save(templateReferenceBody(form, inputs));
  };

  return (
    <section class="panel" aria-labelledby="bs-tform-title">
      <div class="panel-head">
        <h2 id="bs-tform-title">
          {form.editing ? `Edit the configuration of ${form.endpoint}` : 'New configuration from a template'}
        </h2>
      </div>
      <form data-testid="templated-form" class="credential-form bs-form" onSubmit={submit} noValidate>
        <div class="form-panel plain">
          <div class="field" data-field="endpoint">
            <label for="tpf-endpoint">Endpoint</label>
            <input
              id="tpf-endpoint"
              type="text"
              value={form.endpoint}
              placeholder="urn:imei:…"
              readOnly={form.editing}
              spellcheck={false}
              autoComplete="off"
              aria-invalid={errorOf('endpoint') ? 'true' : undefined}
              onInput={(e) => onChange({ ...form, endpoint: e.currentTarget.value })}
            />
            {errorOf('endpoint') && (
              <span class="field-error" data-testid="field-error">
                {errorOf('endpoint')}
              </span>
            )}
          </div>
          <div class="field" data-field="template">
            <label for="tpf-template">Template</label>
            <select
              id="tpf-template"
              value={form.template}
              aria-invalid={errorOf('template') ? 'true' : undefined}
              onChange={(e) => onChange({ ...form, template: e.currentTarget.value })}
            >
              <option value="">choose…</option>
              {templates?.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name}
                </option>
              ))}
              {/* A stored device may name a template that is gone: keep it choosable. */}
              {form.template !== '' && templates && !chosen && (
                <option value={form.template}>{form.template} (not found)</option>
              )}
            </select>
            {errorOf('template') && (
              <span class="field-error" data-testid="field-error">
                {errorOf('template')}
              </span>
            )}
          </div>
        </div>
        {loadError && (
          <p class="error" role="alert">
            {loadError}
          </p>
        )}
        {templates?.length === 0 && (
          <p class="muted small-text">No template yet: create one under Templates first.</p>
        )}
        {chosen?.error !== undefined && <p class="error">This template is not valid: {chosen.error}</p>}
        {chosen && (
          <fieldset class="bs-account" aria-label="Placeholder values" data-testid="placeholder-values">
            <legend>Values of {chosen.name}</legend>
            {inputs.length === 0 ? (
              <p class="muted small-text">This template has no placeholder to fill in.</p>
            ) : (
              <div class="form-panel plain">
                {inputs.map((input) => (
                  <PlaceholderField
                    key={input.name}
                    input={input}
                    value={form.values[input.name] ?? ''}
                    storedLength={form.storedSecrets[input.name]}
                    error={placeholderError(input.name)}
                    onInput={(v) => onChange({ ...form, values: { ...form.values, [input.name]: v } })}
                  />
                ))}
              </div>
            )}
            <p class="small-text muted">
              {'${endpoint}'} is the device's endpoint name. Numbers and true/false go as such where a
              placeholder stands alone in a number or yes/no field.
            </p>
          </fieldset>
        )}
        {reenter.length > 0 && (
          <p class="notice small-text" data-testid="reenter-secret">
            Stored secret values are never shown: enter {reenter.join(', ')} again to save.
          </p>
        )}
        <ConfigFormFooter
          busy={busy}
          editing={form.editing}
          errors={errors}
          onReset={() => {
            setErrors([]);
            onChange(EMPTY_TEMPLATED_FORM);
          }}
        />
      </form>
    </section>
  );
}
