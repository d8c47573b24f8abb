// The bootstrap configuration form: endpoint, server accounts (each with its security mode and
// keys), an optional Bootstrap-Server account rewrite and deleteFirst; saved with
// PUT /api/bootstrap/clients/{ep}. Field errors (the form's own checks, or the API's 400 naming
// the field) sit next to their inputs. Secrets of a stored configuration are never shown, so
// editing one asks for them again.
import type { ComponentChildren } from 'preact';
import type { BootstrapConfigView, BootstrapSecurityMode } from '../api-types.js';
import { useServices } from '../context.js';
import {
  EMPTY_CONFIG_FORM,
  MAX_SERVERS,
  SECURITY_MODE_LABELS,
  configBody,
  newServerForm,
  secretField,
} from '../lib/bootstrap-form.js';
import type {
  BootstrapAccountForm,
  ConfigForm,
  FieldError,
  SecurityForm,
  ServerForm,
} from '../lib/bootstrap-form.js';
import { ConfigFormFooter } from './config-form-footer.js';
import { useConfigSave } from './use-config-save.js';
import { errorMessage } from '../lib/error-message.js';

const MODES: readonly BootstrapSecurityMode[] = ['nosec', 'psk', 'rpk', 'x509'];

const PSK_BYTES = 16;

/** A DOM id for a field path (`servers[0].security.key` → `bsf-servers_0__security_key`). */
const fieldId = (field: string): string => `bsf-${field.replace(/[^A-Za-z0-9-]/g, '_')}`;

function errorOf(errors: readonly FieldError[], field: string): string | undefined {
  const e = errors.find((x) => x.field === field);
  return e?.message;
}

/** One labelled input or text area, with its error below (outside the label: it is not the name). */
function Field(props: {
  field: string;
  label: string;
  value: string;
  errors: readonly FieldError[];
  onInput: (value: string) => void;
  textarea?: boolean;
  mono?: boolean;
  placeholder?: string;
  readOnly?: boolean;
  grow?: boolean;
  hint?: ComponentChildren;
}) {
  const id = fieldId(props.field);
  const error = errorOf(props.errors, props.field);
  const common = {
    id,
    value: props.value,
    class: props.mono ? 'mono' : undefined,
    placeholder: props.placeholder,
    readOnly: props.readOnly,
    spellcheck: false,
    autoComplete: 'off',
    'aria-invalid': error ? ('true' as const) : undefined,
    'aria-describedby': error ? `${id}-error` : undefined,
  };
  return (
    <div class={`field${props.grow ? ' grow' : ''}`} data-field={props.field}>
      <label for={id}>{props.label}</label>
      {props.textarea ? (
        <textarea {...common} rows={3} onInput={(e) => props.onInput(e.currentTarget.value)} />
      ) : (
        <input type="text" {...common} onInput={(e) => props.onInput(e.currentTarget.value)} />
      )}
      {props.hint}
      {error && (
        <span class="field-error" id={`${id}-error`} data-testid="field-error">
          {error}
        </span>
      )}
    </div>
  );
}

function SecurityEditor(props: {
  field: string;
  /** Distinguishes the radio groups of several accounts. */
  name: string;
  security: SecurityForm;
  errors: readonly FieldError[];
  onChange: (security: SecurityForm) => void;
  onError: (error: string) => void;
}) {
  const { api } = useServices();
  const s = props.security;
  const set = (patch: Partial<SecurityForm>): void => props.onChange({ ...s, ...patch });
  const at = (name: string): string => `${props.field}.${name}`;
  const secret = secretField(s.mode);
  const mustReenter = secret !== undefined && s.storedSecretLength !== undefined && s[secret].trim() === '';
  type HexName = 'publicKey' | 'privateKey' | 'serverPublicKey' | 'certificate' | 'serverCertificate';
  const hexField = (name: HexName, label: string) => (
    <Field
      field={at(name)}
      label={label}
      value={s[name]}
      errors={props.errors}
      onInput={(v) => set({ [name]: v })}
      textarea
      mono
      grow
    />
  );
  return (
    <div class="bs-security">
      <fieldset class="mode-choice">
        <legend>Security mode</legend>
        {MODES.map((mode) => (
          <label class="inline" key={mode}>
            <input
              type="radio"
              name={`${props.name}-mode`}
              value={mode}
              checked={s.mode === mode}
              onChange={() => {
                // Another mode needs other secrets: the stored one's length no longer applies.
                const { storedSecretLength: _, ...rest } = s;
                props.onChange({ ...rest, mode });
              }}
            />
            {SECURITY_MODE_LABELS[mode]}
          </label>
        ))}
      </fieldset>
      {mustReenter && (
        <p class="notice small-text" data-testid="reenter-secret">
          The stored {secret === 'key' ? 'key' : 'private key'} ({s.storedSecretLength} bytes) is never shown:
          enter it again{secret === 'key' ? ' or generate a new one' : ''} to save.
        </p>
      )}
      {s.mode === 'psk' && (
        <div class="form-panel">
          <Field
            field={at('identity')}
            label="PSK identity"
            value={s.identity}
            errors={props.errors}
            onInput={(identity) => set({ identity })}
          />
          <Field
            field={at('key')}
            label="Key (hex)"
            value={s.key}
            errors={props.errors}
            onInput={(key) => set({ key })}
            mono
            grow
          />
          <button
            type="button"
            onClick={() =>
              void api
                .generatePsk(PSK_BYTES)
                .then((r) => set({ key: r.key }))
                .catch((e: unknown) => props.onError(errorMessage(e)))
            }
          >
            Generate key
          </button>
        </div>
      )}
      {s.mode === 'rpk' && (
        <div class="form-panel">
          {hexField('publicKey', 'Device public key (hex DER or PEM)')}
          {hexField('privateKey', 'Device private key (hex DER or PEM)')}
          {hexField('serverPublicKey', 'Server public key (hex DER or PEM)')}
          <button
            type="button"
            onClick={() =>
              void api
                .generateKeyPair()
                .then((p) => set({ publicKey: p.publicKey, privateKey: p.privateKey }))
                .catch((e: unknown) => props.onError(errorMessage(e)))
            }
          >
            Generate device key pair
          </button>
        </div>
      )}
      {s.mode === 'x509' && (
        <div class="form-panel">
          {hexField('certificate', 'Device certificate (hex DER or PEM)')}
          {hexField('privateKey', 'Device private key (hex DER or PEM)')}
          {hexField('serverCertificate', 'Server certificate (hex DER or PEM)')}
          <div class="field">
            <label for={fieldId(at('certificateUsage'))}>Certificate usage</label>
            <select
              id={fieldId(at('certificateUsage'))}
              value={s.certificateUsage}
              onChange={(e) => set({ certificateUsage: e.currentTarget.value })}
            >
              <option value="">not set</option>
              <option value="0">0: CA constraint</option>
              <option value="1">1: service certificate constraint</option>
              <option value="2">2: trust anchor assertion</option>
              <option value="3">3: domain-issued certificate</option>
            </select>
            {errorOf(props.errors, at('certificateUsage')) && (
              <span class="field-error" data-testid="field-error">
                {errorOf(props.errors, at('certificateUsage'))}
              </span>
            )}
          </div>
        </div>
      )}
    </div>
  );
}

function ServerEditor(props: {
  index: number;
  server: ServerForm;
  errors: readonly FieldError[];
  canRemove: boolean;
  onChange: (server: ServerForm) => void;
  onRemove: () => void;
  onError: (error: string) => void;
}) {
  const s = props.server;
  const field = `servers[${props.index}]`;
  const at = (name: string): string => `${field}.${name}`;
  const set = (patch: Partial<ServerForm>): void => props.onChange({ ...s, ...patch });
  const title = `Server account ${props.index + 1}`;
  const moreHasError = ['defaultMinPeriod', 'defaultMaxPeriod', 'supportedServerVersions'].some(
    (n) => errorOf(props.errors, at(n)) !== undefined,
  );
  return (
    <fieldset class="bs-account" aria-label={title} data-testid="server-account">
      <legend>{title}</legend>
      <div class="form-panel plain">
        <Field
          field={at('shortServerId')}
          label="Short Server ID"
          value={s.shortServerId}
          errors={props.errors}
          onInput={(shortServerId) => set({ shortServerId })}
        />
        <Field
          field={at('uri')}
          label="Server URI"
          value={s.uri}
          placeholder={s.security.mode === 'nosec' ? 'coap://host:5683' : 'coaps://host:5684'}
          errors={props.errors}
          onInput={(uri) => set({ uri })}
          grow
        />
        <Field
          field={at('lifetime')}
          label="Lifetime (s)"
          value={s.lifetime}
          placeholder="86400"
          errors={props.errors}
          onInput={(lifetime) => set({ lifetime })}
        />
        <Field
          field={at('binding')}
          label="Binding"
          value={s.binding}
          placeholder="U"
          errors={props.errors}
          onInput={(binding) => set({ binding: binding.toUpperCase() })}
        />
        {props.canRemove && (
          <button type="button" class="small" onClick={props.onRemove} aria-label={`Remove ${title}`}>
            Remove
          </button>
        )}
      </div>
      <details open={moreHasError || undefined}>
        <summary>More server settings</summary>
        <div class="form-panel plain">
          <Field
            field={at('defaultMinPeriod')}
            label="Default minimum period (s)"
            value={s.defaultMinPeriod}
            errors={props.errors}
            onInput={(defaultMinPeriod) => set({ defaultMinPeriod })}
          />
          <Field
            field={at('defaultMaxPeriod')}
            label="Default maximum period (s)"
            value={s.defaultMaxPeriod}
            errors={props.errors}
            onInput={(defaultMaxPeriod) => set({ defaultMaxPeriod })}
          />
          <Field
            field={at('supportedServerVersions')}
            label="Supported server versions"
            value={s.supportedServerVersions}
            placeholder="1.1, 1.2"
            errors={props.errors}
            onInput={(supportedServerVersions) => set({ supportedServerVersions })}
          />
          <label class="inline">
            <input
              type="checkbox"
              checked={s.notificationStoring}
              onChange={(e) => set({ notificationStoring: e.currentTarget.checked })}
            />
            Notification storing
          </label>
        </div>
      </details>
      <SecurityEditor
        field={at('security')}
        name={`bs-server-${props.index}`}
        security={s.security}
        errors={props.errors}
        onChange={(security) => set({ security })}
        onError={props.onError}
      />
    </fieldset>
  );
}

function BootstrapAccountEditor(props: {
  account: BootstrapAccountForm;
  errors: readonly FieldError[];
  onChange: (account: BootstrapAccountForm) => void;
  onError: (error: string) => void;
}) {
  const a = props.account;
  const set = (patch: Partial<BootstrapAccountForm>): void => props.onChange({ ...a, ...patch });
  return (
    <div class="bs-account-rewrite">
      <label class="inline">
        <input
          type="checkbox"
          checked={a.enabled}
          onChange={(e) => set({ enabled: e.currentTarget.checked })}
        />
        Rewrite the Bootstrap-Server account
      </label>
      {a.enabled && (
        <fieldset class="bs-account" aria-label="Bootstrap-Server account">
          <legend>Bootstrap-Server account</legend>
          <div class="form-panel plain">
            <Field
              field="bootstrapServer.uri"
              label="Bootstrap-Server URI"
              value={a.uri}
              errors={props.errors}
              onInput={(uri) => set({ uri })}
              grow
            />
            <Field
              field="bootstrapServer.clientHoldOffTime"
              label="Client hold off time (s)"
              value={a.clientHoldOffTime}
              errors={props.errors}
              onInput={(clientHoldOffTime) => set({ clientHoldOffTime })}
            />
            <Field
              field="bootstrapServer.accountTimeout"
              label="Account timeout (s)"
              value={a.accountTimeout}
              errors={props.errors}
              onInput={(accountTimeout) => set({ accountTimeout })}
            />
          </div>
          <SecurityEditor
            field="bootstrapServer.security"
            name="bs-account"
            security={a.security}
            errors={props.errors}
            onChange={(security) => set({ security })}
            onError={props.onError}
          />
        </fieldset>
      )}
    </div>
  );
}

export function BootstrapConfigForm(props: {
  form: ConfigForm;
  onChange: (form: ConfigForm) => void;
  onSaved: (view: BootstrapConfigView) => void;
}) {
  const { form, onChange } = props;
  const { errors, setErrors, busy, save } = useConfigSave(props.onSaved);
  const set = (patch: Partial<ConfigForm>): void => onChange({ ...form, ...patch });
  const setServer = (i: number, server: ServerForm): void =>
    set({ servers: form.servers.map((s, j) => (j === i ? server : s)) });
  const generalError = (error: string): void => setErrors([{ field: '', message: error }]);

  const submit = (e: Event): void => {
    e.preventDefault();
    const checked = configBody(form);
    save(checked.ok ? { ...checked, endpoint: form.endpoint.trim() } : checked);
  };

  return (
    <section class="panel" aria-labelledby="bs-form-title">
      <div class="panel-head">
        <h2 id="bs-form-title">
          {form.editing ? `Edit the configuration of ${form.endpoint}` : 'New configuration'}
        </h2>
      </div>
      <form data-testid="bootstrap-form" class="credential-form bs-form" onSubmit={submit} noValidate>
        <div class="form-panel plain">
          <Field
            field="endpoint"
            label="Endpoint"
            value={form.endpoint}
            placeholder="urn:imei:…"
            readOnly={form.editing}
            errors={errors}
            onInput={(endpoint) => set({ endpoint })}
          />
          <label class="inline">
            <input
              type="checkbox"
              checked={form.deleteFirst}
              onChange={(e) => set({ deleteFirst: e.currentTarget.checked })}
            />
            Delete the device's server accounts first
          </label>
        </div>
        {form.editing && (
          <p class="small-text muted">
            Keys and certificates are shown as stored; pre-shared keys and private keys never are, and must be
            entered again to save.
          </p>
        )}
        {form.servers.map((server, i) => (
          <ServerEditor
            key={i}
            index={i}
            server={server}
            errors={errors}
            canRemove={form.servers.length > 1}
            onChange={(s) => setServer(i, s)}
            onRemove={() => set({ servers: form.servers.filter((_, j) => j !== i) })}
            onError={generalError}
          />
        ))}
        <button
          type="button"
          disabled={form.servers.length >= MAX_SERVERS}
          onClick={() => set({ servers: [...form.servers, newServerForm(form.servers)] })}
        >
          Add server account
        </button>
        <BootstrapAccountEditor
          account={form.bootstrapServer}
          errors={errors}
          onChange={(bootstrapServer) => set({ bootstrapServer })}
          onError={generalError}
        />
        <ConfigFormFooter
          busy={busy}
          editing={form.editing}
          errors={errors}
          onReset={() => {
            setErrors([]);
            onChange(EMPTY_CONFIG_FORM);
          }}
        />
      </form>
    </section>
  );
}
