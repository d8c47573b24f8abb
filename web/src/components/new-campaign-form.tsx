// "New campaign": an image, the targets (endpoint names, a name prefix or tags, optionally only
// devices on a given version), the delivery method and the pace; checked here first
// (campaignSpec), then POST /api/firmware/campaigns, whose refusal is shown as it comes.
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { CampaignMethod, CampaignReport, FirmwareImage } from '../api-types.js';
import { useServices } from '../context.js';
import { campaignSpec, splitEndpoints } from '../lib/campaign-form.js';
import type { CampaignForm, CampaignFormErrors, TargetMode } from '../lib/campaign-form.js';
import { errorMessage } from '../lib/error-message.js';
import { formatBytes } from '../lib/format.js';
import { imageTitle } from './firmware-images.js';

function Field(props: {
  field: keyof CampaignForm;
  label: string;
  errors: CampaignFormErrors;
  grow?: boolean;
  hint?: string;
  children: (common: Record<string, unknown>) => ComponentChildren;
}) {
  const id = `fw-${props.field}`;
  const error = props.errors[props.field];
  const common = {
    id,
    'aria-invalid': error ? 'true' : undefined,
    'aria-describedby': error ? `${id}-error` : undefined,
  };
  return (
    <div class={`field${props.grow ? ' grow' : ''}`} data-field={props.field}>
      <label for={id}>{props.label}</label>
      {props.children(common)}
      {props.hint && <span class="muted small-text">{props.hint}</span>}
      {error && (
        <span class="field-error" id={`${id}-error`} data-testid="field-error">
          {error}
        </span>
      )}
    </div>
  );
}

const TARGET_MODES: readonly { mode: TargetMode; label: string }[] = [
  { mode: 'endpoints', label: 'Endpoint list' },
  { mode: 'prefix', label: 'Name prefix' },
  { mode: 'tags', label: 'Tags' },
];

export function NewCampaignForm(props: {
  images: readonly FirmwareImage[];
  form: CampaignForm;
  onForm: (form: CampaignForm) => void;
  onCreated: (report: CampaignReport) => void;
}) {
  const { api } = useServices();
  const { form, onForm } = props;
  const [errors, setErrors] = useState<CampaignFormErrors>({});
  const [failure, setFailure] = useState<string>();
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<CampaignForm>): void => onForm({ ...form, ...patch });
  const text = (field: keyof CampaignForm, type = 'text') =>
    function TextInput(common: Record<string, unknown>) {
      return (
        <input
          {...common}
          type={type}
          value={form[field]}
          spellcheck={false}
          autoComplete="off"
          onInput={(e) => set({ [field]: e.currentTarget.value })}
        />
      );
    };

  const submit = (e: Event): void => {
    e.preventDefault();
    const result = campaignSpec(form);
    setFailure(undefined);
    if (!result.ok) {
      setErrors(result.errors);
      return;
    }
    setErrors({});
    setBusy(true);
    api
      .createFirmwareCampaign(result.spec)
      .then(props.onCreated)
      .catch((err: unknown) => setFailure(errorMessage(err)))
      .finally(() => setBusy(false));
  };

  const count = form.targetMode === 'endpoints' ? splitEndpoints(form.endpoints).length : undefined;
  return (
    <section class="panel" aria-labelledby="fw-new-title">
      <div class="panel-head">
        <h2 id="fw-new-title">New campaign</h2>
      </div>
      <form class="bs-form fw-form" onSubmit={submit} aria-labelledby="fw-new-title" noValidate>
        <div class="field-row">
          <Field field="image" label="Image" errors={errors}>
            {(common) => (
              <select {...common} value={form.image} onChange={(e) => set({ image: e.currentTarget.value })}>
                <option value="">choose…</option>
                {props.images.map((i) => (
                  <option key={i.id} value={i.id}>
                    {imageTitle(i)}
                    {i.version ? ` ${i.version}` : ''} · {formatBytes(i.size)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field field="name" label="Campaign name" errors={errors} grow>
            {text('name')}
          </Field>
        </div>
        <fieldset class="fw-targets">
          <legend>Targets</legend>
          <div class="buttons" role="radiogroup" aria-label="Choose targets by">
            {TARGET_MODES.map((m) => (
              <label key={m.mode} class="inline">
                <input
                  type="radio"
                  name="fw-target-mode"
                  value={m.mode}
                  checked={form.targetMode === m.mode}
                  onChange={() => set({ targetMode: m.mode })}
                />
                {m.label}
              </label>
            ))}
          </div>
          <div class="field-row">
            {form.targetMode === 'endpoints' && (
              <Field
                field="endpoints"
                label="Endpoints"
                errors={errors}
                grow
                hint={`separated by spaces, commas or new lines${count ? ` · ${count} named` : ''}`}
              >
                {(common) => (
                  <textarea
                    {...common}
                    class="mono"
                    rows={3}
                    value={form.endpoints}
                    spellcheck={false}
                    onInput={(e) => set({ endpoints: e.currentTarget.value })}
                  />
                )}
              </Field>
            )}
            {form.targetMode === 'prefix' && (
              <Field
                field="prefix"
                label="Endpoint prefix"
                errors={errors}
                grow
                hint="registered devices whose name starts with this (empty: every registered device)"
              >
                {text('prefix')}
              </Field>
            )}
            {form.targetMode === 'tags' && (
              <Field
                field="tags"
                label="Tags"
                errors={errors}
                grow
                hint="separated by commas: devices carrying every one (registered or not)"
              >
                {text('tags')}
              </Field>
            )}
            {form.targetMode !== 'endpoints' && (
              <Field
                field="currentVersion"
                label="Only on version"
                errors={errors}
                hint="/3/0/3; other devices are skipped"
              >
                {text('currentVersion')}
              </Field>
            )}
          </div>
        </fieldset>
        <div class="field-row">
          <Field field="method" label="Method" errors={errors}>
            {(common) => (
              <select
                {...common}
                value={form.method}
                onChange={(e) => set({ method: e.currentTarget.value as CampaignMethod })}
              >
                <option value="auto">auto (pull when possible)</option>
                <option value="push">push (Write /5/0/0)</option>
                <option value="pull">pull (URI in /5/0/1)</option>
              </select>
            )}
          </Field>
          <Field field="concurrency" label="Concurrency" errors={errors} hint="default 10">
            {text('concurrency', 'number')}
          </Field>
          <Field field="rate" label="Rate (starts/s)" errors={errors} hint="default: no limit">
            {text('rate', 'number')}
          </Field>
          <Field field="retries" label="Retries" errors={errors} hint="default 2">
            {text('retries', 'number')}
          </Field>
          <Field field="pollInterval" label="Poll interval (ms)" errors={errors} hint="default 1000">
            {text('pollInterval', 'number')}
          </Field>
        </div>
        <div class="buttons">
          <button type="submit" class="primary" disabled={busy}>
            Start campaign
          </button>
        </div>
        {failure && (
          <p class="error" role="alert" data-testid="campaign-form-error">
            {failure}
          </p>
        )}
      </form>
    </section>
  );
}
