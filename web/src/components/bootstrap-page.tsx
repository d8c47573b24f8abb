// The Bootstrap page: the per-endpoint bootstrap configurations (GET/PUT/DELETE
// /api/bootstrap/clients, secrets never shown; a device may name a template with values), one
// configuration's details and its latest session, the create/edit form (a full configuration or
// from a template), the templates, and the Bootstrap-Server's recent sessions (polled).
import { useEffect, useState } from 'preact/hooks';
import type {
  BootstrapClientView,
  BootstrapConfigPage,
  BootstrapConfigView,
  BootstrapSession,
  BootstrapSecurityView,
  BootstrapTemplatedView,
} from '../api-types.js';
import { ApiError } from '../api.js';
import { useServices } from '../context.js';
import {
  bootstrapConfig,
  bootstrapConfigs,
  deleteBootstrapConfig,
  latestBootstrapSession,
} from '../lib/bootstrap-api.js';
import {
  EMPTY_CONFIG_FORM,
  SECURITY_MODE_LABELS,
  failureText,
  formFromView,
  secretsToReenter,
  securitySummary,
  serverLines,
  sessionStatus,
} from '../lib/bootstrap-form.js';
import type { ConfigForm } from '../lib/bootstrap-form.js';
import {
  EMPTY_TEMPLATED_FORM,
  describeValue,
  describeValues,
  isTemplated,
  templatedFormFromView,
} from '../lib/bootstrap-templates.js';
import type { TemplatedForm } from '../lib/bootstrap-templates.js';
import { clockTime } from '../lib/format.js';
import { shortHex } from '../lib/security-form.js';
import { BootstrapConfigForm } from './bootstrap-config-form.js';
import {
  BootstrapSessions,
  POLL_MS,
  SessionBadge,
  SessionPurpose,
  SessionSteps,
  useVisible,
} from './bootstrap-sessions.js';
import { BootstrapTemplatedForm } from './bootstrap-templated-form.js';
import { BootstrapTemplates } from './bootstrap-templates.js';
import { BootstrapTrigger } from './bootstrap-trigger.js';
import { useConfirmedRemove } from './use-confirmed-remove.js';
import { useFetched } from './use-fetched.js';
import { RowActions } from './row-actions.js';
import { RowButton } from './row-button.js';
import { Pager } from './pager.js';
import { TableHead } from './table-head.js';
import { TableNote } from './table-note.js';
import { errorMessage } from '../lib/error-message.js';

const PAGE_SIZE = 25;

function ConfigTable(props: {
  page: BootstrapConfigPage | undefined;
  error: string | undefined;
  selected: string | undefined;
  onOffset: (offset: number) => void;
  onSelect: (endpoint: string) => void;
  onEdit: (view: BootstrapClientView) => void;
  onRemoved: (endpoint: string) => void;
}) {
  const { api } = useServices();
  const { confirming, setConfirming, error, remove } = useConfirmedRemove(
    (endpoint) => deleteBootstrapConfig(api, endpoint),
    props.onRemoved,
  );
  const { page } = props;
  return (
    <section class="panel" aria-labelledby="bs-configs-title">
      <div class="panel-head">
        <h1 id="bs-configs-title">Bootstrap configurations</h1>
        <span class="muted">{page ? page.total : ''}</span>
      </div>
      {(props.error ?? error) && (
        <p class="error" role="alert">
          {props.error ?? error}
        </p>
      )}
      <div class="table-wrap">
        <table data-testid="config-table">
          <TableHead
            columns={['Endpoint', 'Servers (SSID → URI · security)', 'BS account rewrite', 'Delete first']}
            hidden="Actions"
          />
          <tbody>
            {page?.items.length === 0 && <TableNote columns={5}>No bootstrap configuration yet.</TableNote>}
            {!page && !props.error && <TableNote columns={5}>Loading…</TableNote>}
            {page?.items.map((item) => {
              // A device of a template: its row shows what the template gives it.
              const v = isTemplated(item) ? item.resolved : item;
              return (
                <tr
                  key={v.endpoint}
                  data-testid="config-row"
                  data-endpoint={v.endpoint}
                  data-template={isTemplated(item) ? item.template : undefined}
                  class={props.selected === v.endpoint ? 'selected' : undefined}
                  aria-selected={props.selected === v.endpoint}
                >
                  <td class="mono">
                    <button
                      type="button"
                      class="link mono"
                      aria-label={`Show ${v.endpoint}`}
                      onClick={() => props.onSelect(v.endpoint)}
                    >
                      {v.endpoint}
                    </button>
                  </td>
                  <td data-testid="config-servers">
                    {isTemplated(item) && <TemplateFacts view={item} />}
                    {v.error !== undefined ? (
                      <span class="err-text" data-testid="config-error">
                        {isTemplated(item) ? 'no configuration' : 'invalid'}: {v.error}
                      </span>
                    ) : (
                      serverLines(v).map((line) => (
                        <div key={line} class="mono small-text">
                          {line}
                        </div>
                      ))
                    )}
                  </td>
                  <td data-testid="config-bs-rewrite">
                    {v.error !== undefined ? '' : v.bootstrapServer ? 'yes' : 'no'}
                  </td>
                  <td>{v.error !== undefined ? '' : v.deleteFirst === false ? 'no' : 'yes'}</td>
                  <td>
                    <RowActions
                      subject={`${v.endpoint}`}
                      verb="Delete"
                      confirming={confirming === v.endpoint}
                      onAsk={() => setConfirming(v.endpoint)}
                      onConfirm={() => remove(v.endpoint)}
                      onCancel={() => setConfirming(undefined)}
                    >
                      <RowButton label={`Edit ${v.endpoint}`} onClick={() => props.onEdit(item)}>
                        {v.error !== undefined && !isTemplated(item) ? 'Replace' : 'Edit'}
                      </RowButton>
                    </RowActions>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {page && <Pager offset={page.offset} limit={page.limit} total={page.total} onOffset={props.onOffset} />}
    </section>
  );
}

/** A device's template and its values (secrets by length only), in the configuration list. */
function TemplateFacts(props: { view: BootstrapTemplatedView }) {
  const { view } = props;
  return (
    <>
      <div class="small-text" data-testid="config-template">
        template <span class="mono">{view.template}</span>
      </div>
      {Object.keys(view.values).length > 0 && (
        <div class="small-text muted" data-testid="config-values">
          {describeValues(view.values)}
        </div>
      )}
    </>
  );
}

/** A security view as facts: identities, keys and certificates shortened, secrets by length. */
function SecurityFacts(props: { security: BootstrapSecurityView }) {
  const s = props.security;
  const hex = (label: string, value: string) => (
    <div>
      <dt>{label}</dt>
      <dd class="mono" title={value}>
        {shortHex(value, 12)}
      </dd>
    </div>
  );
  return (
    <dl class="facts" data-testid="security-facts" data-mode={s.mode}>
      <div>
        <dt>Security</dt>
        <dd>{SECURITY_MODE_LABELS[s.mode]}</dd>
      </div>
      {s.mode === 'psk' && (
        <>
          <div>
            <dt>PSK identity</dt>
            <dd class="mono">{s.identity}</dd>
          </div>
          <div>
            <dt>Key</dt>
            <dd data-testid="secret-length">{s.keyLength} bytes (not shown)</dd>
          </div>
        </>
      )}
      {s.mode === 'rpk' && (
        <>
          {hex('Public key', s.publicKey)}
          {hex('Server public key', s.serverPublicKey)}
          <div>
            <dt>Private key</dt>
            <dd data-testid="secret-length">{s.privateKeyLength} bytes (not shown)</dd>
          </div>
        </>
      )}
      {s.mode === 'x509' && (
        <>
          {hex('Certificate', s.certificate)}
          {hex('Server certificate', s.serverCertificate)}
          {s.certificateUsage !== undefined && (
            <div>
              <dt>Certificate usage</dt>
              <dd>{s.certificateUsage}</dd>
            </div>
          )}
          <div>
            <dt>Private key</dt>
            <dd data-testid="secret-length">{s.privateKeyLength} bytes (not shown)</dd>
          </div>
        </>
      )}
    </dl>
  );
}

const optional = (label: string, value: string | number | boolean | undefined) =>
  value === undefined ? null : (
    <div>
      <dt>{label}</dt>
      <dd>{typeof value === 'boolean' ? (value ? 'yes' : 'no') : value}</dd>
    </div>
  );

/** A device's template and values in its detail: secrets by length only. */
function TemplateValues(props: { view: BootstrapTemplatedView }) {
  const { view } = props;
  const names = Object.keys(view.values).sort();
  return (
    <div class="bs-detail-account" data-testid="detail-template" data-template={view.template}>
      <h3>
        From template <span class="mono">{view.template}</span>
      </h3>
      {names.length === 0 ? (
        <p class="muted small-text">No values.</p>
      ) : (
        <dl class="facts">
          {names.map((name) => (
            <div key={name} data-testid="template-value" data-name={name}>
              <dt class="mono">{name}</dt>
              <dd>{describeValue(view.values[name]!)}</dd>
            </div>
          ))}
        </dl>
      )}
      <p class="small-text muted">The configuration it gives the device:</p>
    </div>
  );
}

function ConfigDetail(props: { endpoint: string; version: number; onClose: () => void }) {
  const { api } = useServices();
  const [view, setView] = useState<BootstrapClientView>();
  const [session, setSession] = useState<BootstrapSession | null>();
  const [error, setError] = useState<string>();
  const visible = useVisible();
  // A device of a template: what the template gives it (or why it gives none).
  const config: BootstrapConfigView | undefined = view && (isTemplated(view) ? view.resolved : view);
  useEffect(() => {
    let alive = true;
    setError(undefined);
    bootstrapConfig(api, props.endpoint)
      .then((v) => alive && setView(v))
      .catch((e: unknown) => alive && setError(errorMessage(e)));
    return () => {
      alive = false;
    };
  }, [api, props.endpoint, props.version]);
  // The latest session, polled like the session list.
  useEffect(() => {
    if (!visible) return;
    let alive = true;
    const load = (): void => {
      latestBootstrapSession(api, props.endpoint)
        .then((s) => alive && setSession(s))
        .catch((e: unknown) => {
          // 404: no session yet; 503: no Bootstrap-Server here. Either way there is none to show.
          if (!alive || !(e instanceof ApiError)) return;
          if (e.status === 404 || e.status === 503) setSession(null);
          if (e.status === 503) window.clearInterval(id);
        });
    };
    const id = window.setInterval(load, POLL_MS);
    load();
    return () => {
      alive = false;
      window.clearInterval(id);
    };
  }, [api, props.endpoint, visible]);
  return (
    <section
      class="panel bs-detail"
      aria-labelledby="bs-detail-title"
      data-testid="config-detail"
      data-endpoint={props.endpoint}
    >
      <div class="panel-head">
        <h2 id="bs-detail-title">
          Configuration of <span class="mono">{props.endpoint}</span>
        </h2>
        <span class="spacer" />
        <button type="button" class="small" onClick={props.onClose}>
          Close
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {view && isTemplated(view) && <TemplateValues view={view} />}
      {config?.error !== undefined && (
        <p class="error" data-testid="detail-error">
          {view && isTemplated(view)
            ? `The template gives this device no configuration: ${config.error}`
            : `This stored document is not a valid configuration: ${config.error}`}
        </p>
      )}
      {config?.servers?.map((s) => (
        <div
          class="bs-detail-account"
          key={s.shortServerId}
          data-testid="detail-server"
          data-ssid={s.shortServerId}
        >
          <h3>
            Server {s.shortServerId} <span class="mono small-text">{s.uri}</span>
          </h3>
          <dl class="facts">
            {optional('Lifetime (s)', s.lifetime)}
            {optional('Binding', s.binding)}
            {optional('Default minimum period (s)', s.defaultMinPeriod)}
            {optional('Default maximum period (s)', s.defaultMaxPeriod)}
            {optional('Notification storing', s.notificationStoring)}
            {optional('Supported server versions', s.supportedServerVersions?.join(', '))}
          </dl>
          <SecurityFacts security={s.security} />
        </div>
      ))}
      {config?.bootstrapServer && (
        <div class="bs-detail-account" data-testid="detail-bootstrap-account">
          <h3>
            Bootstrap-Server account <span class="mono small-text">{config.bootstrapServer.uri}</span>
          </h3>
          <dl class="facts">
            {optional('Client hold off time (s)', config.bootstrapServer.clientHoldOffTime)}
            {optional('Account timeout (s)', config.bootstrapServer.accountTimeout)}
          </dl>
          <SecurityFacts security={config.bootstrapServer.security} />
        </div>
      )}
      {config?.servers && (
        <p class="small-text muted">
          {config.deleteFirst === false
            ? 'The device keeps its other server accounts.'
            : "The device's server accounts are deleted before these are written."}{' '}
          {config.servers.map((s) => `${s.shortServerId}: ${securitySummary(s.security)}`).join('; ')}
        </p>
      )}
      <BootstrapTrigger endpoint={props.endpoint} />
      <h3>Latest session</h3>
      {session === undefined && <p class="muted">loading…</p>}
      {session === null && <p class="muted">This device has not bootstrapped yet.</p>}
      {session && (
        <div data-testid="latest-session" data-status={sessionStatus(session)}>
          <p>
            <SessionBadge status={sessionStatus(session)} /> started {clockTime(session.startedAt)} from{' '}
            <span class="mono">{session.peer}</span>
            {failureText(session) && <span class="err-text"> · {failureText(session)}</span>}
          </p>
          <SessionPurpose session={session} />
          <SessionSteps session={session} />
        </div>
      )}
    </section>
  );
}

/** Which form makes a device's configuration. */
type FormSource = 'full' | 'template';

export function BootstrapPage() {
  const { api } = useServices();
  const [offset, setOffset] = useState(0);
  const [reload, setReload] = useState(0);
  const [templatesVersion, setTemplatesVersion] = useState(0);
  const [selected, setSelected] = useState<string>();
  const [source, setSource] = useState<FormSource>('full');
  const [form, setForm] = useState<ConfigForm>(EMPTY_CONFIG_FORM);
  const [tform, setTform] = useState<TemplatedForm>(EMPTY_TEMPLATED_FORM);
  const [status, setStatus] = useState<string>();
  const { value: page, error } = useFetched(
    () => bootstrapConfigs(api, { offset, limit: PAGE_SIZE }),
    [api, offset, reload],
  );

  const saved = (view: BootstrapClientView): void => {
    setStatus(`Saved the bootstrap configuration of ${view.endpoint}.`);
    // Secrets leave the page once stored.
    setForm(EMPTY_CONFIG_FORM);
    setTform(EMPTY_TEMPLATED_FORM);
    setSelected(view.endpoint);
    setReload((n) => n + 1);
  };

  return (
    <div data-testid="bootstrap-page">
      <ConfigTable
        page={page}
        error={error}
        selected={selected}
        onOffset={setOffset}
        onSelect={(ep) => setSelected(ep)}
        onEdit={(v) => {
          if (isTemplated(v)) {
            const next = templatedFormFromView(v);
            setTform(next);
            setSource('template');
            setStatus(
              Object.keys(next.storedSecrets).length > 0
                ? `Editing ${v.endpoint}: enter its secret values again (they are never shown).`
                : `Editing ${v.endpoint}.`,
            );
            document.getElementById('bs-tform-title')?.scrollIntoView();
            return;
          }
          const next = formFromView(v);
          setForm(next);
          setSource('full');
          setStatus(
            v.error !== undefined
              ? `Replacing the invalid configuration of ${v.endpoint}.`
              : secretsToReenter(next).length > 0
                ? `Editing ${v.endpoint}: enter its pre-shared and private keys again (they are never shown).`
                : `Editing ${v.endpoint}.`,
          );
          document.getElementById('bs-form-title')?.scrollIntoView();
        }}
        onRemoved={(ep) => {
          setStatus(`Deleted the bootstrap configuration of ${ep}.`);
          if (selected === ep) setSelected(undefined);
          if (form.editing && form.endpoint === ep) setForm(EMPTY_CONFIG_FORM);
          if (tform.editing && tform.endpoint === ep) setTform(EMPTY_TEMPLATED_FORM);
          setReload((n) => n + 1);
          // A template's device count changed.
          setTemplatesVersion((n) => n + 1);
        }}
      />
      {status && (
        <p class="status-line" role="status" data-testid="bootstrap-status">
          {status}
        </p>
      )}
      {selected !== undefined && (
        <ConfigDetail
          key={selected}
          endpoint={selected}
          version={reload}
          onClose={() => setSelected(undefined)}
        />
      )}
      <fieldset class="mode-choice bs-source" data-testid="config-source">
        <legend>Configure a device</legend>
        <label class="inline">
          <input
            type="radio"
            name="bs-source"
            value="full"
            checked={source === 'full'}
            onChange={() => setSource('full')}
          />
          Full configuration
        </label>
        <label class="inline">
          <input
            type="radio"
            name="bs-source"
            value="template"
            checked={source === 'template'}
            onChange={() => setSource('template')}
          />
          From a template
        </label>
      </fieldset>
      {source === 'full' ? (
        <BootstrapConfigForm
          key={form.editing ? `edit:${form.endpoint}` : 'new'}
          form={form}
          onChange={setForm}
          onSaved={saved}
        />
      ) : (
        <BootstrapTemplatedForm
          key={tform.editing ? `edit:${tform.endpoint}` : 'new'}
          form={tform}
          templatesVersion={templatesVersion}
          onChange={setTform}
          onSaved={(view) => {
            saved(view);
            setTemplatesVersion((n) => n + 1);
          }}
        />
      )}
      <BootstrapTemplates
        version={templatesVersion}
        onChanged={() => {
          setTemplatesVersion((n) => n + 1);
          // A changed template changes what its devices resolve to.
          setReload((n) => n + 1);
        }}
      />
      <BootstrapSessions />
    </div>
  );
}
