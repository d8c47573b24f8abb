// Secrets a device's resources may hold, kept out of API answers and the event log (the threat
// model is in docs/security.md): the download token in a Package URI (/5/x/1, /9/x/3; the
// firmware download service puts `?t=<token>` there), a password in a URI's user info, and /9's
// Password (/9/x/15).
import type { RecordsJson } from '../model/records-json.js';
import type { JsonValue } from '../model/value-json.js';

export const REDACTED = '[redacted]';

/** Query parameters that carry credentials in the URIs devices are given. */
const SECRET_QUERY = /([?&](?:t|token|access_token|key|sig|signature|password)=)[^&#]*/gi;
/** `scheme://user:password@host`: the password. */
const USERINFO_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/@:?#]*:)[^/@?#]*@/i;

/** A URI with its credentials replaced by [redacted]. */
export function redactUri(uri: string): string {
  return uri.replace(SECRET_QUERY, `$1${REDACTED}`).replace(USERINFO_PASSWORD, `$1${REDACTED}@`);
}

type Kind = 'uri' | 'secret';

/** What a resource path holds, by object and resource id (instances and indexes do not matter). */
function secretKind(path: string): Kind | undefined {
  const ids = path.split('/');
  // ['', oid, iid, rid, riid?]
  if (ids.length < 4) return undefined;
  const oid = ids[1];
  const rid = ids[3];
  if ((oid === '5' && rid === '1') || (oid === '9' && rid === '3')) return 'uri';
  if (oid === '9' && rid === '15') return 'secret';
  return undefined;
}

function redactValue(kind: Kind, value: JsonValue): JsonValue {
  if (kind === 'secret') return value === '' ? value : REDACTED;
  return typeof value === 'string' ? redactUri(value) : value;
}

/** `values` (path → value, or timestamped values) with secrets redacted; the same object when none. */
export function redactValues(values: RecordsJson): RecordsJson {
  let out: Record<string, RecordsJson[string]> | undefined;
  for (const [path, v] of Object.entries(values)) {
    const kind = secretKind(path);
    if (!kind) continue;
    out ??= { ...values };
    out[path] = Array.isArray(v)
      ? v.map((x) => ({ t: x.t, v: redactValue(kind, x.v) }))
      : redactValue(kind, v);
  }
  return out ?? values;
}

/** One record's value, redacted when its path holds a secret. */
export function redactRecordValue(path: string, value: JsonValue): JsonValue {
  const kind = secretKind(path);
  return kind ? redactValue(kind, value) : value;
}
