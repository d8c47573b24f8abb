// The Bootstrap page's logic: the configuration form checked and turned into the body of
// PUT /api/bootstrap/clients/{ep} (the rules of src/bootstrap/bootstrap-config.ts, with the same
// field names, so an error can sit next to its input), a stored configuration turned back into a
// form (secrets left empty: the API never shows them), and how configurations and sessions read.
import type {
  BootstrapAccountBody,
  BootstrapConfigBody,
  BootstrapConfigView,
  BootstrapSecurityBody,
  BootstrapSecurityMode,
  BootstrapSecurityView,
  BootstrapServerAccountBody,
  BootstrapSession,
  BootstrapStep,
} from '../api-types.js';
import { formatLatency } from './format.js';
import { normalizeHex, shortHex } from './security-form.js';

// ---- form state ----

export interface SecurityForm {
  readonly mode: BootstrapSecurityMode;
  /** PSK identity (UTF-8 text). */
  readonly identity: string;
  /** PSK, hex. */
  readonly key: string;
  /** Hex DER or PEM: the device's SubjectPublicKeyInfo, its PKCS#8 key, the server's SPKI. */
  readonly publicKey: string;
  readonly privateKey: string;
  readonly serverPublicKey: string;
  /** Hex DER or PEM certificates. */
  readonly certificate: string;
  readonly serverCertificate: string;
  /** /0/x/15, `''` = not set. */
  readonly certificateUsage: string;
  /**
   * Editing a stored configuration: the byte length of the secret (PSK or private key) it holds.
   * The API never shows a secret, so the user must enter it again; nothing stands in for it.
   */
  readonly storedSecretLength?: number;
}

export interface ServerForm {
  readonly shortServerId: string;
  readonly uri: string;
  /** Text of the number inputs; `''` leaves the API's default. */
  readonly lifetime: string;
  readonly binding: string;
  readonly defaultMinPeriod: string;
  readonly defaultMaxPeriod: string;
  readonly notificationStoring: boolean;
  /** Comma- or space-separated, e.g. `1.1, 1.2`. */
  readonly supportedServerVersions: string;
  readonly security: SecurityForm;
}

export interface BootstrapAccountForm {
  /** Rewrite the device's Bootstrap-Server account (credential rotation). */
  readonly enabled: boolean;
  readonly uri: string;
  readonly clientHoldOffTime: string;
  readonly accountTimeout: string;
  readonly security: SecurityForm;
}

export interface ConfigForm {
  readonly endpoint: string;
  /** Editing the stored configuration of `endpoint` (which then cannot change). */
  readonly editing: boolean;
  readonly servers: readonly ServerForm[];
  readonly bootstrapServer: BootstrapAccountForm;
  readonly deleteFirst: boolean;
}

export const EMPTY_SECURITY: SecurityForm = {
  mode: 'nosec',
  identity: '',
  key: '',
  publicKey: '',
  privateKey: '',
  serverPublicKey: '',
  certificate: '',
  serverCertificate: '',
  certificateUsage: '',
};

/** A new server account: the next free Short Server ID, NoSec, the API's defaults elsewhere. */
export function newServerForm(taken: readonly ServerForm[] = []): ServerForm {
  const used = new Set(taken.map((s) => Number(s.shortServerId)));
  let ssid = 1;
  while (used.has(ssid)) ssid++;
  return {
    shortServerId: String(ssid),
    uri: '',
    lifetime: '',
    binding: '',
    defaultMinPeriod: '',
    defaultMaxPeriod: '',
    notificationStoring: true,
    supportedServerVersions: '',
    security: EMPTY_SECURITY,
  };
}

export const EMPTY_CONFIG_FORM: ConfigForm = {
  endpoint: '',
  editing: false,
  servers: [newServerForm()],
  bootstrapServer: {
    enabled: false,
    uri: '',
    clientHoldOffTime: '',
    accountTimeout: '',
    security: EMPTY_SECURITY,
  },
  deleteFirst: true,
};

export const SECURITY_MODE_LABELS: Readonly<Record<BootstrapSecurityMode, string>> = {
  nosec: 'NoSec',
  psk: 'PSK',
  rpk: 'RPK',
  x509: 'X.509',
};

/** The field of a mode that holds its secret (never shown by the API). */
export function secretField(mode: BootstrapSecurityMode): 'key' | 'privateKey' | undefined {
  return mode === 'psk' ? 'key' : mode === 'rpk' || mode === 'x509' ? 'privateKey' : undefined;
}

// ---- a stored configuration back into the form ----

function securityForm(view: BootstrapSecurityView): SecurityForm {
  switch (view.mode) {
    case 'nosec':
      return EMPTY_SECURITY;
    case 'psk':
      return { ...EMPTY_SECURITY, mode: 'psk', identity: view.identity, storedSecretLength: view.keyLength };
    case 'rpk':
      return {
        ...EMPTY_SECURITY,
        mode: 'rpk',
        publicKey: view.publicKey,
        serverPublicKey: view.serverPublicKey,
        storedSecretLength: view.privateKeyLength,
      };
    case 'x509':
      return {
        ...EMPTY_SECURITY,
        mode: 'x509',
        certificate: view.certificate,
        serverCertificate: view.serverCertificate,
        certificateUsage: view.certificateUsage === undefined ? '' : String(view.certificateUsage),
        storedSecretLength: view.privateKeyLength,
      };
  }
}

const text = (n: number | undefined): string => (n === undefined ? '' : String(n));

/**
 * The form to edit a stored configuration: every field as shown, secrets empty (the user enters
 * them again). An invalid stored document (`error`) gives a fresh form for its endpoint.
 */
export function formFromView(view: BootstrapConfigView): ConfigForm {
  const servers = (view.servers ?? []).map((s): ServerForm => ({
    shortServerId: String(s.shortServerId),
    uri: s.uri,
    lifetime: text(s.lifetime),
    binding: s.binding ?? '',
    defaultMinPeriod: text(s.defaultMinPeriod),
    defaultMaxPeriod: text(s.defaultMaxPeriod),
    notificationStoring: s.notificationStoring ?? true,
    supportedServerVersions: (s.supportedServerVersions ?? []).join(', '),
    security: securityForm(s.security),
  }));
  const bs = view.bootstrapServer;
  return {
    endpoint: view.endpoint,
    editing: true,
    servers: servers.length > 0 ? servers : [newServerForm()],
    bootstrapServer: bs
      ? {
          enabled: true,
          uri: bs.uri,
          clientHoldOffTime: text(bs.clientHoldOffTime),
          accountTimeout: text(bs.accountTimeout),
          security: securityForm(bs.security),
        }
      : EMPTY_CONFIG_FORM.bootstrapServer,
    deleteFirst: view.deleteFirst ?? true,
  };
}

/** Secrets the user still has to enter again (field names), after formFromView. */
export function secretsToReenter(form: ConfigForm): string[] {
  const out: string[] = [];
  const check = (security: SecurityForm, field: string): void => {
    const name = secretField(security.mode);
    if (name !== undefined && security.storedSecretLength !== undefined && security[name].trim() === '')
      out.push(`${field}.security.${name}`);
  };
  form.servers.forEach((s, i) => check(s.security, `servers[${i}]`));
  if (form.bootstrapServer.enabled) check(form.bootstrapServer.security, 'bootstrapServer');
  return out;
}

// ---- checks (src/bootstrap/bootstrap-config.ts) ----

/** A problem with one field, named as the API names it (`servers[0].security.key`). */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export type FormCheck =
  | { readonly ok: true; readonly body: BootstrapConfigBody }
  | { readonly ok: false; readonly errors: readonly FieldError[] };

/** RFC 4279 §5.3 and the API's limits. */
const MAX_PSK_IDENTITY_BYTES = 128;
const MAX_PSK_KEY_BYTES = 64;
const MAX_KEY_BYTES = 8192;
/** /0/x/0 is a String of at most 255 bytes (Core Appendix E.1). */
const MAX_URI_LENGTH = 255;
export const MAX_SERVERS = 32;
const UINT32_MAX = 0xffff_ffff;
const VERSION_RE = /^[0-9]{1,4}\.[0-9]{1,4}(?:\.[0-9]{1,4})?$/;

/** Schemes of a LwM2M Server URI and whether each is secure (Transport TS). */
const URI_SCHEMES: Readonly<Record<string, boolean>> = {
  coap: false,
  coaps: true,
  'coap+tcp': false,
  'coaps+tcp': true,
};

type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

const PEM_BLOCK = /^-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----$/;

/** Hex of a PEM block's DER (any label: PUBLIC KEY, PRIVATE KEY, CERTIFICATE). */
function pemHex(body: string): Result<string> {
  let bytes: string;
  try {
    bytes = atob(body.replace(/\s/g, ''));
  } catch {
    return { ok: false, message: 'the PEM block is not valid base64' };
  }
  let hex = '';
  for (let i = 0; i < bytes.length; i++) hex += bytes.charCodeAt(i).toString(16).padStart(2, '0');
  return { ok: true, value: hex };
}

/** Key or certificate text, hex (spaces, colons, `0x` allowed) or one PEM block, as lower-case hex. */
export function keyHex(input: string, maxBytes: number): Result<string> {
  const trimmed = input.trim();
  if (trimmed === '') return { ok: false, message: 'is required' };
  const pem = PEM_BLOCK.exec(trimmed);
  let hex: string;
  if (pem) {
    const r = pemHex(pem[2]!);
    if (!r.ok) return r;
    hex = r.value;
    if (hex === '') return { ok: false, message: 'the PEM block is empty' };
  } else {
    hex = normalizeHex(trimmed);
    if (hex.length % 2 !== 0 || !/^[0-9a-f]+$/.test(hex))
      return { ok: false, message: 'must be hex with an even number of digits' };
  }
  if (hex.length / 2 > maxBytes) return { ok: false, message: `is longer than ${maxBytes} bytes` };
  return { ok: true, value: hex };
}

/** An unsigned integer typed in a field, within [min, max]; `''` is undefined. */
export function integerField(input: string, min: number, max: number): Result<number | undefined> {
  const t = input.trim();
  if (t === '') return { ok: true, value: undefined };
  if (!/^-?[0-9]+$/.test(t)) return { ok: false, message: 'must be an integer' };
  const n = Number(t);
  if (n < min || n > max) return { ok: false, message: `must be between ${min} and ${max}` };
  return { ok: true, value: n };
}

/** A LwM2M Server URI: a CoAP scheme, secure exactly when the mode has credentials. */
export function checkServerUri(input: string, mode: BootstrapSecurityMode): Result<string> {
  const uri = input.trim();
  if (uri === '') return { ok: false, message: 'is required' };
  if (uri.length > MAX_URI_LENGTH)
    return { ok: false, message: `is longer than ${MAX_URI_LENGTH} characters` };
  const m = /^([a-z][a-z0-9+.-]*):\/\/[^\s/?#]+(?:[/?#]\S*)?$/i.exec(uri);
  const scheme = m?.[1]?.toLowerCase();
  if (scheme === undefined || !(scheme in URI_SCHEMES))
    return { ok: false, message: 'must be a coap://, coaps://, coap+tcp:// or coaps+tcp:// URI' };
  const secure = URI_SCHEMES[scheme] === true;
  if (secure !== (mode !== 'nosec'))
    return {
      ok: false,
      message: secure
        ? `a ${scheme}:// server needs credentials, but the security mode is nosec`
        : `security mode ${mode} needs a secure scheme (coaps://), not ${scheme}://`,
    };
  return { ok: true, value: uri };
}

/** Collects field errors while a body is built. */
class Checker {
  readonly errors: FieldError[] = [];

  take<T>(field: string, r: Result<T>): T | undefined {
    if (r.ok) return r.value;
    this.errors.push({ field, message: r.message });
    return undefined;
  }

  fail(field: string, message: string): void {
    this.errors.push({ field, message });
  }
}

function checkSecurity(c: Checker, s: SecurityForm, field: string): BootstrapSecurityBody | undefined {
  const at = (name: string): string => `${field}.${name}`;
  const secret = (name: 'key' | 'privateKey', maxBytes: number): string | undefined => {
    if (s[name].trim() === '' && s.storedSecretLength !== undefined) {
      c.fail(at(name), 'enter it again: the stored one is never shown');
      return undefined;
    }
    return c.take(at(name), keyHex(s[name], maxBytes));
  };
  switch (s.mode) {
    case 'nosec':
      return { mode: 'nosec' };
    case 'psk': {
      const bytes = new TextEncoder().encode(s.identity).length;
      if (bytes === 0) c.fail(at('identity'), 'is required');
      else if (bytes > MAX_PSK_IDENTITY_BYTES)
        c.fail(at('identity'), `is longer than ${MAX_PSK_IDENTITY_BYTES} bytes`);
      const key = secret('key', MAX_PSK_KEY_BYTES);
      return key === undefined || bytes === 0 || bytes > MAX_PSK_IDENTITY_BYTES
        ? undefined
        : { mode: 'psk', identity: s.identity, key };
    }
    case 'rpk': {
      const publicKey = c.take(at('publicKey'), keyHex(s.publicKey, MAX_KEY_BYTES));
      const privateKey = secret('privateKey', MAX_KEY_BYTES);
      const serverPublicKey = c.take(at('serverPublicKey'), keyHex(s.serverPublicKey, MAX_KEY_BYTES));
      return publicKey === undefined || privateKey === undefined || serverPublicKey === undefined
        ? undefined
        : { mode: 'rpk', publicKey, privateKey, serverPublicKey };
    }
    case 'x509': {
      const certificate = c.take(at('certificate'), keyHex(s.certificate, MAX_KEY_BYTES));
      const privateKey = secret('privateKey', MAX_KEY_BYTES);
      const serverCertificate = c.take(at('serverCertificate'), keyHex(s.serverCertificate, MAX_KEY_BYTES));
      const usage = integerField(s.certificateUsage, 0, 3);
      const certificateUsage = c.take(at('certificateUsage'), usage);
      return certificate === undefined ||
        privateKey === undefined ||
        serverCertificate === undefined ||
        !usage.ok
        ? undefined
        : {
            mode: 'x509',
            certificate,
            privateKey,
            serverCertificate,
            ...(certificateUsage === undefined ? {} : { certificateUsage }),
          };
    }
  }
}

function checkServer(c: Checker, s: ServerForm, field: string): BootstrapServerAccountBody | undefined {
  const at = (name: string): string => `${field}.${name}`;
  const before = c.errors.length;
  const security = checkSecurity(c, s.security, at('security'));
  const ssidText = s.shortServerId.trim();
  const shortServerId =
    ssidText === ''
      ? (c.fail(at('shortServerId'), 'is required'), undefined)
      : c.take(at('shortServerId'), integerField(ssidText, 1, 65534));
  const uri = c.take(at('uri'), checkServerUri(s.uri, s.security.mode));
  const lifetime = c.take(at('lifetime'), integerField(s.lifetime, 0, UINT32_MAX));
  const pmin = c.take(at('defaultMinPeriod'), integerField(s.defaultMinPeriod, 0, UINT32_MAX));
  const pmax = c.take(at('defaultMaxPeriod'), integerField(s.defaultMaxPeriod, 0, UINT32_MAX));
  if (pmin !== undefined && pmax !== undefined && pmax !== 0 && pmax < pmin)
    c.fail(at('defaultMaxPeriod'), 'must not be below defaultMinPeriod');
  const binding = s.binding.trim();
  if (binding !== '' && (!/^[UMHTSNQ]+$/.test(binding) || new Set(binding).size !== binding.length))
    c.fail(at('binding'), 'must be distinct letters of U, M, H, T, S, N, Q');
  const versions = s.supportedServerVersions.split(/[\s,]+/).filter((v) => v !== '');
  if (versions.length > 16) c.fail(at('supportedServerVersions'), 'has more than 16 entries');
  const badVersion = versions.find((v) => !VERSION_RE.test(v));
  if (badVersion !== undefined)
    c.fail(at('supportedServerVersions'), `${JSON.stringify(badVersion)} does not look like 1.2 or 1.2.1`);
  if (c.errors.length > before || security === undefined || shortServerId === undefined || uri === undefined)
    return undefined;
  return {
    shortServerId,
    uri,
    ...(lifetime === undefined ? {} : { lifetime }),
    ...(binding === '' ? {} : { binding }),
    ...(pmin === undefined ? {} : { defaultMinPeriod: pmin }),
    ...(pmax === undefined ? {} : { defaultMaxPeriod: pmax }),
    // true is the default: sent only when it differs.
    ...(s.notificationStoring ? {} : { notificationStoring: false }),
    ...(versions.length === 0 ? {} : { supportedServerVersions: versions }),
    security,
  };
}

function checkBootstrapAccount(
  c: Checker,
  a: BootstrapAccountForm,
  field: string,
): BootstrapAccountBody | undefined {
  const at = (name: string): string => `${field}.${name}`;
  const before = c.errors.length;
  const security = checkSecurity(c, a.security, at('security'));
  const uri = c.take(at('uri'), checkServerUri(a.uri, a.security.mode));
  const holdOff = c.take(at('clientHoldOffTime'), integerField(a.clientHoldOffTime, 0, UINT32_MAX));
  const timeout = c.take(at('accountTimeout'), integerField(a.accountTimeout, 0, UINT32_MAX));
  if (c.errors.length > before || security === undefined || uri === undefined) return undefined;
  return {
    uri,
    security,
    ...(holdOff === undefined ? {} : { clientHoldOffTime: holdOff }),
    ...(timeout === undefined ? {} : { accountTimeout: timeout }),
  };
}

/** The form as the body of PUT /api/bootstrap/clients/{ep}, or every field that is wrong. */
export function configBody(form: ConfigForm): FormCheck {
  const c = new Checker();
  if (form.endpoint.trim() === '') c.fail('endpoint', 'is required');
  if (form.servers.length === 0) c.fail('servers', 'needs at least one server');
  if (form.servers.length > MAX_SERVERS) c.fail('servers', `has more than ${MAX_SERVERS} servers`);
  const servers = form.servers.map((s, i) => checkServer(c, s, `servers[${i}]`));
  const seen = new Map<string, number>();
  form.servers.forEach((s, i) => {
    const id = s.shortServerId.trim();
    const first = seen.get(id);
    if (first !== undefined && id !== '')
      c.fail(`servers[${i}].shortServerId`, `${id} is already used by servers[${first}]`);
    else seen.set(id, i);
  });
  const bootstrapServer = form.bootstrapServer.enabled
    ? checkBootstrapAccount(c, form.bootstrapServer, 'bootstrapServer')
    : undefined;
  if (c.errors.length > 0) return { ok: false, errors: c.errors };
  return {
    ok: true,
    body: {
      servers: servers as BootstrapServerAccountBody[],
      ...(bootstrapServer === undefined ? {} : { bootstrapServer }),
      deleteFirst: form.deleteFirst,
    },
  };
}

/** An API error message (`servers[0].security.key: must be hex …`) split into field and message. */
export function splitFieldError(message: string): FieldError {
  const m = /^((?:[A-Za-z][A-Za-z0-9]*(?:\[\d+\])?)(?:\.[A-Za-z][A-Za-z0-9]*(?:\[\d+\])?)*): ([\s\S]+)$/.exec(
    message,
  );
  return m ? { field: m[1]!, message: m[2]! } : { field: '', message };
}

// ---- how configurations read ----

/** A security view in one line, never a secret: `PSK dev-1 (16-byte key)`. */
export function securitySummary(view: BootstrapSecurityView): string {
  switch (view.mode) {
    case 'nosec':
      return 'NoSec';
    case 'psk':
      return `PSK ${view.identity} (${view.keyLength}-byte key)`;
    case 'rpk':
      return `RPK ${shortHex(view.publicKey)} (${view.privateKeyLength}-byte private key)`;
    case 'x509':
      return `X.509${view.certificateUsage === undefined ? '' : ` usage ${view.certificateUsage}`} (${view.privateKeyLength}-byte private key)`;
  }
}

/** One line per server account: `101 → coap://host:5683 · NoSec`. */
export function serverLines(view: BootstrapConfigView): string[] {
  return (view.servers ?? []).map(
    (s) => `${s.shortServerId} → ${s.uri} · ${SECURITY_MODE_LABELS[s.security.mode]}`,
  );
}

// ---- how sessions read ----

export type SessionStatus = 'running' | 'succeeded' | 'failed';

export function sessionStatus(session: BootstrapSession): SessionStatus {
  return session.outcome?.status ?? 'running';
}

/** Newest first (the API lists oldest first); ties by id, newest first. */
export function sessionsNewestFirst(items: readonly BootstrapSession[]): BootstrapSession[] {
  return [...items].sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** Why a session failed, in one line: `error-code: bootstrap-write /0/1 → 4.00 (…)`. */
export function failureText(session: BootstrapSession): string | undefined {
  const o = session.outcome;
  if (o?.status !== 'failed') return undefined;
  const where = [o.operation, o.path].filter((x) => x !== undefined).join(' ');
  const code = o.code === undefined ? '' : ` → ${o.code}`;
  const head = `${o.reason ?? 'failed'}${where === '' ? '' : `: ${where}${code}`}`;
  return o.message === undefined || o.message === '' ? head : `${head} (${o.message})`;
}

const OPERATION_LABELS: Readonly<Record<string, string>> = {
  'bootstrap-discover': 'Discover',
  'bootstrap-delete': 'Delete',
  'bootstrap-write': 'Write',
  'bootstrap-read': 'Read',
  'bootstrap-finish': 'Finish',
};

/** Content-Format names (Core §5.1.2 / CoRE registry) of what a Bootstrap-Server writes. */
const FORMAT_NAMES: Readonly<Record<number, string>> = {
  0: 'text',
  40: 'link-format',
  42: 'opaque',
  60: 'CBOR',
  110: 'SenML JSON',
  112: 'SenML CBOR',
  11542: 'TLV',
  11543: 'LwM2M JSON',
  11544: 'LwM2M CBOR',
};

export function formatName(format: number | undefined): string {
  if (format === undefined) return '';
  const name = FORMAT_NAMES[format];
  return name === undefined ? String(format) : `${name} (${format})`;
}

export interface StepRow {
  readonly operation: string;
  readonly path: string;
  readonly code: string;
  readonly format: string;
  readonly latency: string;
  readonly error: string;
}

/** A step as table cells. */
export function stepRow(step: BootstrapStep): StepRow {
  return {
    operation: OPERATION_LABELS[step.operation] ?? step.operation,
    path: step.path ?? '',
    code: step.code ?? '',
    format: formatName(step.format),
    latency: formatLatency(step.latencyMs),
    error: step.error ?? '',
  };
}
