// The Bootstrap page's Templates part (docs/bootstrap.md#templates): the paged list of templates
// (name, placeholders, how many devices name each), one template as formatted JSON (fixed secrets
// as the API shows them: `*`), the JSON editor to create or replace one (the API's 400 names the
// field), and delete after a confirm (409 while devices name it: the message names them).
import { useEffect, useState } from 'preact/hooks';
import type { BootstrapTemplateView } from '../api-types.js';
import { useServices } from '../context.js';
import {
  bootstrapTemplate,
  bootstrapTemplates,
  deleteBootstrapTemplate,
  putBootstrapTemplate,
} from '../lib/bootstrap-api.js';
import {
  TEMPLATE_EXAMPLE,
  TEMPLATE_NAME_RE,
  hasRedactedSecrets,
  parseTemplateText,
  templateJson,
} from '../lib/bootstrap-templates.js';
import { useFetched } from './use-fetched.js';
import { RowActions } from './row-actions.js';
import { RowButton } from './row-button.js';
import { Pager } from './pager.js';
import { TableHead } from './table-head.js';
import { TableNote } from './table-note.js';
import { errorMessage } from '../lib/error-message.js';

const PAGE_SIZE = 25;

/** The placeholders of a template, secret ones marked. */
function Placeholders(props: { view: BootstrapTemplateView }) {
  const { view } = props;
  if (view.error !== undefined)
    return (
      <span class="err-text" data-testid="template-error">
        invalid: {view.error}
      </span>
    );
  if (view.placeholders.length === 0) return <span class="muted">none</span>;
  return (
    <span class="tpl-placeholders">
      {view.placeholders.map((p) => (
        <code key={p} data-testid="template-placeholder" data-secret={view.secretPlaceholders.includes(p)}>
          {'${'}
          {p}
          {'}'}
          {view.secretPlaceholders.includes(p) ? ' (secret)' : ''}
        </code>
      ))}
    </span>
  );
}

function TemplateDetail(props: { name: string; version: number; onClose: () => void }) {
  const { api } = useServices();
  const [view, setView] = useState<BootstrapTemplateView>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let alive = true;
    setError(undefined);
    bootstrapTemplate(api, props.name)
      .then((v) => alive && setView(v))
      .catch((e: unknown) => alive && setError(errorMessage(e)));
    return () => {
      alive = false;
    };
  }, [api, props.name, props.version]);
  return (
    <div class="tpl-detail" data-testid="template-detail" data-name={props.name}>
      <div class="panel-head">
        <h3>
          Template <span class="mono">{props.name}</span>
        </h3>
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
      {view && (
        <>
          <p class="small-text">
            Placeholders: <Placeholders view={view} /> · used by {view.clients} device
            {view.clients === 1 ? '' : 's'}.{' '}
            <span class="muted">{'${endpoint}'} is the device's endpoint name.</span>
          </p>
          <pre class="tpl-json mono" data-testid="template-json">
            {templateJson(view.template)}
          </pre>
          <p class="small-text muted">Fixed text in key and privateKey fields is never shown (`*`).</p>
        </>
      )}
    </div>
  );
}

/** What the editor works on: a new template, or the stored one of `name`. */
export interface TemplateDraft {
  readonly name: string;
  readonly editing: boolean;
  readonly text: string;
}

const NEW_DRAFT: TemplateDraft = { name: '', editing: false, text: TEMPLATE_EXAMPLE };

function TemplateEditor(props: {
  draft: TemplateDraft;
  onChange: (draft: TemplateDraft) => void;
  onSaved: (name: string, status: string) => void;
}) {
  const { api } = useServices();
  const { draft } = props;
  const [errors, setErrors] = useState<readonly string[]>([]);
  const [busy, setBusy] = useState(false);
  const redacted = draft.editing && hasRedactedSecrets(parseTemplateDoc(draft.text));
  const submit = (e: Event): void => {
    e.preventDefault();
    const name = draft.name.trim();
    const problems: string[] = [];
    if (!TEMPLATE_NAME_RE.test(name))
      problems.push('name: 1 to 64 letters, digits, ".", "_" or "-" (not starting with "." or "-")');
    const parsed = parseTemplateText(draft.text);
    if (!parsed.ok) problems.push(`template: ${parsed.error}`);
    if (problems.length > 0 || !parsed.ok) {
      setErrors(problems);
      return;
    }
    setBusy(true);
    setErrors([]);
    putBootstrapTemplate(api, name, parsed.document)
      .then((saved) => {
        const unresolved = saved.unresolved ?? [];
        props.onSaved(
          name,
          unresolved.length === 0
            ? `Saved template ${name}.`
            : `Saved template ${name}; it no longer resolves for ${unresolved
                .map((u) => `${u.endpoint} (${u.error})`)
                .join(', ')}.`,
        );
      })
      .catch((err: unknown) => setErrors([errorMessage(err)]))
      .finally(() => setBusy(false));
  };
  return (
    <form class="tpl-editor" data-testid="template-form" onSubmit={submit} noValidate>
      <h3 id="bs-tpl-form-title">{draft.editing ? `Edit template ${draft.name}` : 'New template'}</h3>
      <div class="form-panel plain">
        <div class="field">
          <label for="tpl-name">Template name</label>
          <input
            id="tpl-name"
            type="text"
            value={draft.name}
            readOnly={draft.editing}
            placeholder="sensor"
            spellcheck={false}
            autoComplete="off"
            onInput={(e) => props.onChange({ ...draft, name: e.currentTarget.value })}
          />
        </div>
      </div>
      <div class="field grow">
        <label for="tpl-json">Template (JSON)</label>
        <textarea
          id="tpl-json"
          class="mono"
          rows={16}
          spellcheck={false}
          value={draft.text}
          aria-invalid={errors.length > 0 ? 'true' : undefined}
          onInput={(e) => props.onChange({ ...draft, text: e.currentTarget.value })}
        />
        <span class="small-text muted">
          A configuration document whose strings may hold {'${placeholders}'}; a string that is exactly{' '}
          {'"${name}"'} may stand for a number or true/false. {'${endpoint}'} is the device's endpoint name.
        </span>
      </div>
      {redacted && (
        <p class="notice small-text" data-testid="template-redacted">
          Fixed keys are shown as `*` (they are never shown): enter them again, or use a placeholder, to save.
        </p>
      )}
      <div class="buttons">
        <button type="submit" class="primary" disabled={busy}>
          Save template
        </button>
        <button
          type="button"
          onClick={() => {
            setErrors([]);
            props.onChange(NEW_DRAFT);
          }}
        >
          {draft.editing ? 'Cancel' : 'Reset'}
        </button>
      </div>
      {errors.length > 0 && (
        <ul class="error bs-errors" role="alert" data-testid="template-errors">
          {errors.map((e, i) => (
            <li key={i}>{e}</li>
          ))}
        </ul>
      )}
    </form>
  );
}

function parseTemplateDoc(text: string): unknown {
  const parsed = parseTemplateText(text);
  return parsed.ok ? parsed.document : undefined;
}

/** The Templates part; `version` reloads it, `onChanged` tells the page a template changed. */
export function BootstrapTemplates(props: { version: number; onChanged: () => void }) {
  const { api } = useServices();
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<string>();
  const [confirming, setConfirming] = useState<string>();
  const [deleteError, setDeleteError] = useState<string>();
  const [draft, setDraft] = useState<TemplateDraft>(NEW_DRAFT);
  const [status, setStatus] = useState<string>();
  const { value: page, error } = useFetched(
    () => bootstrapTemplates(api, { offset, limit: PAGE_SIZE }),
    [api, offset, props.version],
  );

  const remove = (name: string): void => {
    deleteBootstrapTemplate(api, name)
      .then(() => {
        setConfirming(undefined);
        setDeleteError(undefined);
        setStatus(`Deleted template ${name}.`);
        if (selected === name) setSelected(undefined);
        if (draft.editing && draft.name === name) setDraft(NEW_DRAFT);
        props.onChanged();
      })
      .catch((e: unknown) => {
        setConfirming(undefined);
        setDeleteError(errorMessage(e));
      });
  };

  return (
    <section class="panel" aria-labelledby="bs-templates-title" data-testid="templates">
      <div class="panel-head">
        <h2 id="bs-templates-title">Templates</h2>
        <span class="muted">{page ? page.total : ''}</span>
      </div>
      <p class="small-text muted">
        One configuration for a device type; a device's configuration may name a template and give the values
        of its placeholders.
      </p>
      {(error ?? deleteError) && (
        <p class="error" role="alert" data-testid="template-alert">
          {error ?? deleteError}
        </p>
      )}
      {status && (
        <p class="status-line" role="status" data-testid="template-status">
          {status}
        </p>
      )}
      <div class="table-wrap">
        <table data-testid="template-table">
          <TableHead columns={['Name', 'Placeholders', 'Devices']} hidden="Actions" />
          <tbody>
            {page?.items.length === 0 && <TableNote columns={4}>No template yet.</TableNote>}
            {!page && !error && <TableNote columns={4}>Loading…</TableNote>}
            {page?.items.map((t) => (
              <tr
                key={t.name}
                data-testid="template-row"
                data-name={t.name}
                class={selected === t.name ? 'selected' : undefined}
              >
                <td class="mono">
                  <button
                    type="button"
                    class="link mono"
                    aria-label={`Show template ${t.name}`}
                    onClick={() => setSelected(t.name)}
                  >
                    {t.name}
                  </button>
                </td>
                <td data-testid="template-placeholders">
                  <Placeholders view={t} />
                </td>
                <td data-testid="template-clients">{t.clients}</td>
                <td>
                  <RowActions
                    subject={`template ${t.name}`}
                    verb="Delete"
                    confirming={confirming === t.name}
                    onAsk={() => {
                      setDeleteError(undefined);
                      setConfirming(t.name);
                    }}
                    onConfirm={() => remove(t.name)}
                    onCancel={() => setConfirming(undefined)}
                  >
                    <RowButton
                      label={`Edit template ${t.name}`}
                      onClick={() => {
                        setDraft({ name: t.name, editing: true, text: templateJson(t.template) });
                        setStatus(undefined);
                        setDeleteError(undefined);
                        document.getElementById('bs-tpl-form-title')?.scrollIntoView();
                      }}
                    >
                      Edit
                    </RowButton>
                  </RowActions>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {page && <Pager offset={page.offset} limit={page.limit} total={page.total} onOffset={setOffset} />}
      {selected !== undefined && (
        <TemplateDetail
          key={selected}
          name={selected}
          version={props.version}
          onClose={() => setSelected(undefined)}
        />
      )}
      <TemplateEditor
        key={draft.editing ? `edit:${draft.name}` : 'new'}
        draft={draft}
        onChange={setDraft}
        onSaved={(name, text) => {
          setStatus(text);
          setDeleteError(undefined);
          setDraft(NEW_DRAFT);
          setSelected(name);
          props.onChanged();
        }}
      />
    </section>
  );
}
