// The Security page's logic: the credential form checked and turned into a PUT body (the same
// rules the API applies, so most mistakes are caught before the request), and how credentials
// and client identities are shown.
import type { ClientSecurity, SecurityBody, SecurityView } from '../api-types.js';

export type CredentialMode = 'psk' | 'rpk' | 'x509';

export interface CredentialForm {
  readonly endpoint: string;
  readonly mode: CredentialMode;
  readonly identity: string;
  readonly key: string;
  readonly publicKey: string;
}

export const EMPTY_FORM: CredentialForm = { endpoint: '', mode: 'psk', identity: '', key: '', publicKey: '' };

/** RFC 4279 §5.3 and the API's limits (docs/rest-api.md, Security). */
export const MAX_PSK_IDENTITY_BYTES = 128;
export const MAX_PSK_KEY_BYTES = 64;
export const MAX_SPKI_BYTES = 512;

export type Checked<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** Hex as people paste it (spaces, colons, `0x`, upper case) in the API's form: lower-case digits. */
export function normalizeHex(text: string): string {
  return text.trim().replace(/^0x/i, '').replace(/[\s:]/g, '').toLowerCase();
}

function checkHex(text: string, what: string, maxBytes: number): Checked<string> {
  const hex = normalizeHex(text);
  if (hex === '') return { ok: false, error: `${what} is empty` };
  if (!/^[0-9a-f]*$/.test(hex)) return { ok: false, error: `${what} must be hex digits` };
  if (hex.length % 2 !== 0) return { ok: false, error: `${what} has an odd number of hex digits` };
  if (hex.length / 2 > maxBytes) return { ok: false, error: `${what} is longer than ${maxBytes} bytes` };
  return { ok: true, value: hex };
}

const PEM_PUBLIC_KEY = /^-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----\s*$/;

/** A public key pasted as hex SPKI DER or as a PEM `PUBLIC KEY` block: hex SPKI DER. */
export function publicKeyHex(text: string): Checked<string> {
  const pem = PEM_PUBLIC_KEY.exec(text.trim());
  if (pem) {
    const body = pem[1]!.replace(/\s/g, '');
    let bytes: string;
    try {
      bytes = atob(body);
    } catch {
      return { ok: false, error: 'the PEM block is not valid base64' };
    }
    if (bytes.length === 0) return { ok: false, error: 'the PEM block is empty' };
    if (bytes.length > MAX_SPKI_BYTES)
      return { ok: false, error: `the public key is longer than ${MAX_SPKI_BYTES} bytes` };
    let hex = '';
    for (let i = 0; i < bytes.length; i++) hex += bytes.charCodeAt(i).toString(16).padStart(2, '0');
    return { ok: true, value: hex };
  }
  return checkHex(text, 'the public key', MAX_SPKI_BYTES);
}

/** The form as the body of PUT /api/security/clients/{ep}, or what is wrong with it. */
export function credentialBody(form: CredentialForm): Checked<SecurityBody> {
  if (form.endpoint.trim() === '') return { ok: false, error: 'the endpoint name is empty' };
  switch (form.mode) {
    case 'psk': {
      const bytes = new TextEncoder().encode(form.identity).length;
      if (bytes === 0) return { ok: false, error: 'the PSK identity is empty' };
      if (bytes > MAX_PSK_IDENTITY_BYTES)
        return { ok: false, error: `the PSK identity is longer than ${MAX_PSK_IDENTITY_BYTES} bytes` };
      const key = checkHex(form.key, 'the key', MAX_PSK_KEY_BYTES);
      if (!key.ok) return key;
      return { ok: true, value: { psk: { identity: form.identity, key: key.value } } };
    }
    case 'rpk': {
      const publicKey = publicKeyHex(form.publicKey);
      if (!publicKey.ok) return publicKey;
      return { ok: true, value: { rpk: { publicKey: publicKey.value } } };
    }
    case 'x509':
      return { ok: true, value: { x509: {} } };
  }
}

/** The form to rotate an existing entry: same endpoint and mode, the PSK identity kept, no key. */
export function rotateForm(view: SecurityView): CredentialForm {
  const mode: CredentialMode = view.mode === 'none' ? 'psk' : view.mode;
  return { ...EMPTY_FORM, endpoint: view.endpoint, mode, identity: view.psk?.identity ?? view.endpoint };
}

/** A long hex string cut to its ends: `3059301306072a86…8bccf9b3374f4`. */
export function shortHex(hex: string, keep = 8): string {
  return hex.length <= keep * 2 + 1 ? hex : `${hex.slice(0, keep)}…${hex.slice(-keep)}`;
}

export const MODE_LABELS: Readonly<Record<ClientSecurity['mode'] | SecurityView['mode'], string>> = {
  psk: 'PSK',
  rpk: 'RPK',
  x509: 'X.509',
  nosec: 'NoSec',
  none: 'none',
};

/** What identifies a credential entry, for the list: never a key. */
export function credentialIdentity(view: SecurityView): string {
  if (view.psk) return `${view.psk.identity} (${view.psk.keyLength}-byte key)`;
  if (view.rpk) return shortHex(view.rpk.publicKey);
  if (view.x509) return `CN=${view.x509.commonName}`;
  return '';
}

/** A client's security in one line: `PSK dev-1-id`, `RPK 3059…`, `NoSec`. */
export function clientSecurityText(security: ClientSecurity | undefined): string {
  if (!security) return '';
  const label = MODE_LABELS[security.mode];
  if (security.identity === undefined) return label;
  const identity = security.mode === 'rpk' ? shortHex(security.identity) : security.identity;
  return `${label} ${identity}`;
}
