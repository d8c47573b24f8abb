// The Security page: the server's own DTLS identity (GET /api/security/server), the devices'
// credentials (GET/PUT/DELETE /api/security/clients/{ep}) with add, rotate and remove, and fresh
// PSKs and P-256 key pairs from the server (nothing generated is kept there; a private key is
// shown here once).
import { useEffect, useState } from 'preact/hooks';
import type { GeneratedKeyPair, SecurityView, ServerSecurity } from '../api-types.js';
import { useConsole, useServices } from '../context.js';
import {
  EMPTY_FORM,
  MODE_LABELS,
  credentialBody,
  credentialIdentity,
  rotateForm,
  shortHex,
} from '../lib/security-form.js';
import type { CredentialForm, CredentialMode } from '../lib/security-form.js';
import { nextPskText } from '../lib/bootstrap-trigger.js';
import { useConfirmedRemove } from './use-confirmed-remove.js';
import { RowActions } from './row-actions.js';
import { RowButton } from './row-button.js';
import { TableHead } from './table-head.js';
import { TableNote } from './table-note.js';
import { errorMessage } from '../lib/error-message.js';

const MODES: readonly { mode: CredentialMode; label: string }[] = [
  { mode: 'psk', label: 'Pre-shared key' },
  { mode: 'rpk', label: 'Raw public key' },
  { mode: 'x509', label: 'X.509 certificate' },
];

const PSK_SIZES = [16, 32, 64] as const;

/** Copies `text` to the clipboard; says whether it could (not in an insecure context). */
async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

function ServerIdentity() {
  const { api } = useServices();
  const [info, setInfo] = useState<ServerSecurity>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let alive = true;
    api
      .serverSecurity()
      .then((i) => alive && setInfo(i))
      .catch((e: unknown) => alive && setError(errorMessage(e)));
    return () => {
      alive = false;
    };
  }, [api]);
  const empty = info !== undefined && !info.pskHint && !info.publicKey && !info.certificate;
  return (
    <section class="panel" aria-labelledby="server-identity-title">
      <div class="panel-head">
        <h2 id="server-identity-title">Server identity</h2>
      </div>
      {error && <p class="error">{error}</p>}
      <div data-testid="server-identity" data-state={info ? (empty ? 'none' : 'configured') : 'loading'}>
        {info === undefined && !error && <p class="muted">loading…</p>}
        {empty && (
          <p class="muted">
            No DTLS identity configured: the server offers no PSK hint, raw public key or certificate.
          </p>
        )}
        {info && !empty && (
          <dl class="facts">
            {info.pskHint !== undefined && (
              <div>
                <dt>PSK identity hint</dt>
                <dd class="mono">{info.pskHint}</dd>
              </div>
            )}
            {info.publicKey !== undefined && (
              <div>
                <dt>Public key (SPKI DER)</dt>
                <dd class="mono" title={info.publicKey}>
                  {shortHex(info.publicKey, 12)}
                </dd>
              </div>
            )}
            {info.certificate && (
              <div>
                <dt>Certificate</dt>
                <dd class="mono" title={info.certificate.der}>
                  {info.certificate.subject}
                </dd>
              </div>
            )}
          </dl>
        )}
      </div>
    </section>
  );
}

function PrivateKeyNotice(props: { pair: GeneratedKeyPair; onDone: () => void }) {
  const [copied, setCopied] = useState<boolean>();
  return (
    <div class="notice key-notice" role="alert" data-testid="private-key-notice">
      <p>
        <strong>Copy the private key to the device now.</strong> The server does not keep it and this page
        will not show it again.
      </p>
      <label>
        Private key (PKCS#8 PEM)
        <textarea
          readOnly
          rows={6}
          class="mono"
          data-testid="private-key"
          value={props.pair.privateKeyPem}
          onFocus={(e) => e.currentTarget.select()}
        />
      </label>
      <details>
        <summary>As hex DER</summary>
        <code class="mono hex-block">{props.pair.privateKey}</code>
      </details>
      <div class="buttons">
        <button
          type="button"
          onClick={() => void copyText(props.pair.privateKeyPem).then(setCopied)}
          aria-label="Copy the private key"
        >
          Copy
        </button>
        <button type="button" class="primary" onClick={props.onDone}>
          I have saved it
        </button>
        {copied === true && <span class="ok-text">copied</span>}
        {copied === false && (
          <span class="muted">select the text and copy it (no clipboard access here)</span>
        )}
      </div>
    </div>
  );
}

function CredentialEditor(props: {
  form: CredentialForm;
  onChange: (form: CredentialForm) => void;
  onSaved: (view: SecurityView) => void;
}) {
  const { api } = useServices();
  const endpoints = useConsole((s) => s.clients);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [pskBytes, setPskBytes] = useState<number>(16);
  const [pair, setPair] = useState<GeneratedKeyPair>();
  const { form, onChange } = props;
  const set = (patch: Partial<CredentialForm>): void => onChange({ ...form, ...patch });
  const checked = credentialBody(form);
  const endpoint = form.endpoint.trim();

  const generatePsk = (): void => {
    setError(undefined);
    api
      .generatePsk(pskBytes)
      .then((r) => set({ key: r.key }))
      .catch((e: unknown) => setError(errorMessage(e)));
  };
  const generatePair = (): void => {
    setError(undefined);
    api
      .generateKeyPair()
      .then((p) => {
        setPair(p);
        set({ publicKey: p.publicKey });
      })
      .catch((e: unknown) => setError(errorMessage(e)));
  };

  return (
    <section class="panel" aria-labelledby="credential-form-title">
      <div class="panel-head">
        <h2 id="credential-form-title">Add or rotate credentials</h2>
      </div>
      <form
        data-testid="credential-form"
        class="credential-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!checked.ok) {
            setError(checked.error);
            return;
          }
          setBusy(true);
          setError(undefined);
          api
            .setSecurity(endpoint, checked.value)
            .then((view) => props.onSaved(view))
            .catch((err: unknown) => setError(errorMessage(err)))
            .finally(() => setBusy(false));
        }}
      >
        <label>
          Endpoint
          <input
            type="text"
            list="security-endpoints"
            value={form.endpoint}
            placeholder="urn:imei:…"
            onInput={(e) => set({ endpoint: e.currentTarget.value })}
          />
          <datalist id="security-endpoints">
            {Object.keys(endpoints).map((ep) => (
              <option key={ep} value={ep} />
            ))}
          </datalist>
        </label>
        <fieldset class="mode-choice">
          <legend>Mode</legend>
          {MODES.map((m) => (
            <label class="inline" key={m.mode}>
              <input
                type="radio"
                name="credential-mode"
                value={m.mode}
                checked={form.mode === m.mode}
                onChange={() => set({ mode: m.mode })}
              />
              {m.label}
            </label>
          ))}
        </fieldset>
        {form.mode === 'psk' && (
          <div class="form-panel">
            <label>
              PSK identity
              <input
                type="text"
                value={form.identity}
                placeholder={endpoint || 'identity'}
                onInput={(e) => set({ identity: e.currentTarget.value })}
              />
            </label>
            <label class="grow">
              Key (hex)
              <input
                type="text"
                class="mono"
                autoComplete="off"
                spellcheck={false}
                value={form.key}
                onInput={(e) => set({ key: e.currentTarget.value })}
              />
            </label>
            <label>
              Generated key length
              <select
                aria-label="Generated key length"
                value={String(pskBytes)}
                onChange={(e) => setPskBytes(Number(e.currentTarget.value))}
              >
                {PSK_SIZES.map((n) => (
                  <option key={n} value={String(n)}>
                    {n} bytes
                  </option>
                ))}
              </select>
            </label>
            <button type="button" onClick={generatePsk}>
              Generate key
            </button>
            <p class="small-text muted full">
              Give the device the same identity and key. After saving, the key is never shown again.
            </p>
          </div>
        )}
        {form.mode === 'rpk' && (
          <div class="form-panel">
            <label class="grow">
              Device public key (hex SubjectPublicKeyInfo DER, or PEM)
              <textarea
                rows={3}
                class="mono"
                spellcheck={false}
                value={form.publicKey}
                onInput={(e) => set({ publicKey: e.currentTarget.value })}
              />
            </label>
            <button type="button" onClick={generatePair}>
              Generate key pair
            </button>
            <p class="small-text muted full">An EC P-256 key; the device proves it holds the private half.</p>
          </div>
        )}
        {form.mode === 'x509' && (
          <div class="form-panel">
            <p class="full" data-testid="x509-rule">
              The device's certificate must have the subject CN <code>{endpoint || '<endpoint>'}</code>.
            </p>
          </div>
        )}
        {pair && <PrivateKeyNotice pair={pair} onDone={() => setPair(undefined)} />}
        <div class="buttons">
          <button type="submit" class="primary" disabled={busy}>
            Save credentials
          </button>
          <button
            type="button"
            onClick={() => {
              setError(undefined);
              onChange(EMPTY_FORM);
            }}
          >
            Clear
          </button>
          {!checked.ok && form.endpoint !== '' && (
            <span class="muted small-text" data-testid="form-hint">
              {checked.error}
            </span>
          )}
        </div>
        {error && (
          <p class="error" role="alert" data-testid="form-error">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}

function CredentialTable(props: {
  items: readonly SecurityView[] | undefined;
  error: string | undefined;
  onRotate: (view: SecurityView) => void;
  onRemoved: (endpoint: string) => void;
}) {
  const { api } = useServices();
  const { confirming, setConfirming, error, remove } = useConfirmedRemove(
    (endpoint) => api.removeSecurity(endpoint),
    props.onRemoved,
  );
  return (
    <section class="panel" aria-labelledby="credentials-title">
      <div class="panel-head">
        <h1 id="credentials-title">Device credentials</h1>
        <span class="muted">{props.items ? props.items.length : ''}</span>
      </div>
      {props.error && (
        <p class="error" role="alert">
          {props.error}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="table-wrap">
        <table data-testid="credential-table">
          <TableHead columns={['Endpoint', 'Mode', 'Identity']} hidden="Actions" />
          <tbody>
            {props.items?.length === 0 && <TableNote columns={4}>No device has credentials yet.</TableNote>}
            {!props.items && !props.error && <TableNote columns={4}>Loading…</TableNote>}
            {props.items?.map((v) => (
              <tr key={v.endpoint} data-testid="credential-row" data-endpoint={v.endpoint}>
                <td class="mono">{v.endpoint}</td>
                <td data-testid="credential-mode">{MODE_LABELS[v.mode]}</td>
                <td class="mono" data-testid="credential-identity" title={v.rpk?.publicKey}>
                  {credentialIdentity(v)}
                  {v.nextPsk && (
                    <div class="small-text notice" data-testid="credential-next-psk">
                      {nextPskText(v.nextPsk)}
                    </div>
                  )}
                </td>
                <td>
                  <RowActions
                    subject={`${v.endpoint}`}
                    verb="Remove"
                    confirming={confirming === v.endpoint}
                    onAsk={() => setConfirming(v.endpoint)}
                    onConfirm={() => remove(v.endpoint)}
                    onCancel={() => setConfirming(undefined)}
                  >
                    <RowButton label={`Rotate ${v.endpoint}`} onClick={() => props.onRotate(v)}>
                      Rotate
                    </RowButton>
                  </RowActions>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function SecurityPage() {
  const { api } = useServices();
  const [items, setItems] = useState<SecurityView[]>();
  const [error, setError] = useState<string>();
  const [form, setForm] = useState<CredentialForm>(EMPTY_FORM);
  const [status, setStatus] = useState<string>();
  const [reload, setReload] = useState(0);
  useEffect(() => {
    let alive = true;
    api
      .securityClients()
      .then((r) => {
        if (!alive) return;
        setItems(r.items);
        setError(undefined);
      })
      .catch((e: unknown) => alive && setError(errorMessage(e)));
    return () => {
      alive = false;
    };
  }, [api, reload]);

  return (
    <div data-testid="security-page">
      <CredentialTable
        items={items}
        error={error}
        onRotate={(v) => {
          setForm(rotateForm(v));
          setStatus(
            `Rotating ${v.endpoint}: enter or generate the new ${MODE_LABELS[v.mode]} credentials.` +
              (v.nextPsk
                ? ` Saving here ends the bootstrap rotation to ${v.nextPsk.identity} (the device may hold that PSK already).`
                : ''),
          );
          document.getElementById('credential-form-title')?.scrollIntoView();
        }}
        onRemoved={(ep) => {
          setStatus(`Removed the credentials of ${ep}.`);
          setReload((n) => n + 1);
        }}
      />
      {status && (
        <p class="status-line" role="status" data-testid="security-status">
          {status}
        </p>
      )}
      <CredentialEditor
        form={form}
        onChange={setForm}
        onSaved={(view) => {
          setStatus(`Saved ${MODE_LABELS[view.mode]} credentials for ${view.endpoint}.`);
          // The key leaves the page once stored: it is write-only.
          setForm({ ...form, key: '' });
          setReload((n) => n + 1);
        }}
      />
      <ServerIdentity />
    </div>
  );
}
