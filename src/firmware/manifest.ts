// The firmware manifest (Sw-Mgmt-002, FW-001, FW-002): a small deterministic CBOR map in the
// spirit of SUIT (RFC 9019 / draft-ietf-suit-manifest) that names the image by digest and size and
// says which devices may install it. The client reports /5/0/6 PkgName and /5/0/7 PkgVersion from
// it instead of the server repeating them (FW-002). Keys are small integers; see docs/firmware.md.
import { decode, encode, rfc8949EncodeOptions } from 'cborg';
import { FirmwarePackageError } from './firmware-package-error.js';

/** The integer keys of the manifest map. */
export const MANIFEST_KEYS = {
  formatVersion: 1,
  digest: 2,
  size: 3,
  version: 4,
  vendor: 5,
  deviceClass: 6,
  minVersion: 7,
  name: 8,
  installHints: 9,
} as const;

/** The only manifest layout this code knows (key 1). */
export const MANIFEST_FORMAT_VERSION = 1;

/** COSE algorithm identifiers for hashes (IANA COSE Algorithms; SUIT_Digest uses them too). */
export const COSE_SHA256 = -16;
const KNOWN_DIGESTS = new Map<number, string>([
  [-16, 'SHA-256'],
  [-43, 'SHA-384'],
  [-44, 'SHA-512'],
  [-18, 'SHAKE128'],
  [-45, 'SHAKE256'],
]);

/** Text fields are short: /5/0/6 and /5/0/7 are strings of at most 255 bytes. */
export const MAX_TEXT_BYTES = 255;
export const MAX_HINTS = 32;
export const MAX_HINT_KEY_BYTES = 64;
export const MAX_HINT_VALUE_BYTES = 255;

/** A small value for the installer; the manifest does not interpret it. */
export type InstallHint = string | number | boolean | Uint8Array;

/** What the release engineer states about an image; digest and size are computed from it. */
export interface ManifestFields {
  /** The firmware version the image installs (/5/0/7 PkgVersion), e.g. "2.4.1". */
  readonly version: string;
  readonly vendor?: string;
  readonly deviceClass?: string;
  /** The device must already run at least this version to install the image. */
  readonly minVersion?: string;
  /** /5/0/6 PkgName. */
  readonly name?: string;
  readonly installHints?: Readonly<Record<string, InstallHint>>;
}

export interface FirmwareManifest extends ManifestFields {
  readonly formatVersion: number;
  readonly digestAlgorithm: 'sha-256';
  /** SHA-256 of the image, 32 bytes. */
  readonly digest: Uint8Array;
  /** Length of the image in bytes. */
  readonly size: number;
}

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

function checkText(field: string, value: unknown, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string')
    throw new FirmwarePackageError('manifest', `manifest field ${field} must be a text string`);
  if (value.length === 0) throw new FirmwarePackageError('manifest', `manifest field ${field} is empty`);
  if (utf8Length(value) > MAX_TEXT_BYTES)
    throw new FirmwarePackageError(
      'manifest',
      `manifest field ${field} is longer than ${MAX_TEXT_BYTES} bytes`,
    );
  return value;
}

function checkHints(value: unknown): Record<string, InstallHint> {
  const entries: [unknown, unknown][] =
    value instanceof Map ? [...(value as Map<unknown, unknown>)] : Object.entries(value as object);
  if (entries.length > MAX_HINTS)
    throw new FirmwarePackageError('manifest', `more than ${MAX_HINTS} install hints`);
  const out: Record<string, InstallHint> = {};
  for (const [k, v] of entries) {
    if (typeof k !== 'string' || k.length === 0 || utf8Length(k) > MAX_HINT_KEY_BYTES)
      throw new FirmwarePackageError(
        'manifest',
        `install hint keys are text of 1..${MAX_HINT_KEY_BYTES} bytes`,
      );
    const small =
      typeof v === 'boolean' ||
      (typeof v === 'number' && Number.isSafeInteger(v)) ||
      (typeof v === 'string' && utf8Length(v) <= MAX_HINT_VALUE_BYTES) ||
      (v instanceof Uint8Array && v.length <= MAX_HINT_VALUE_BYTES);
    if (!small)
      throw new FirmwarePackageError(
        'manifest',
        `install hint "${k}" must be a boolean, a safe integer, or text/bytes of at most ${MAX_HINT_VALUE_BYTES} bytes`,
      );
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: false, configurable: false });
  }
  return out;
}

function checkSize(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new FirmwarePackageError('manifest', 'manifest field size must be an unsigned integer below 2^53');
  return value;
}

/** Validates the fields and returns the manifest with only known, well-typed members. */
function checkManifest(m: FirmwareManifest): FirmwareManifest {
  if (m.formatVersion !== MANIFEST_FORMAT_VERSION)
    throw new FirmwarePackageError(
      'manifest',
      `manifest format version ${String(m.formatVersion)} is not supported (this device reads ${MANIFEST_FORMAT_VERSION})`,
    );
  if (m.digestAlgorithm !== 'sha-256')
    throw new FirmwarePackageError('algorithm', 'only SHA-256 image digests are supported');
  if (!(m.digest instanceof Uint8Array) || m.digest.length !== 32)
    throw new FirmwarePackageError('manifest', 'a SHA-256 digest is 32 bytes');
  const out: Record<string, unknown> = {
    formatVersion: m.formatVersion,
    digestAlgorithm: m.digestAlgorithm,
    digest: m.digest,
    size: checkSize(m.size),
    version: checkText('version', m.version, true),
  };
  const optional = { vendor: m.vendor, deviceClass: m.deviceClass, minVersion: m.minVersion, name: m.name };
  for (const [field, value] of Object.entries(optional)) {
    const text = checkText(field, value, false);
    if (text !== undefined) out[field] = text;
  }
  if (m.installHints !== undefined) out.installHints = checkHints(m.installHints);
  return out as unknown as FirmwareManifest;
}

/**
 * The manifest as deterministic CBOR (RFC 8949 §4.2.1: preferred lengths, sorted keys), so the
 * same fields always give the same signed bytes. Throws FirmwarePackageError on invalid fields.
 */
export function encodeManifest(manifest: FirmwareManifest): Uint8Array {
  const m = checkManifest(manifest);
  const map = new Map<number, unknown>([
    [MANIFEST_KEYS.formatVersion, m.formatVersion],
    [MANIFEST_KEYS.digest, [COSE_SHA256, m.digest]],
    [MANIFEST_KEYS.size, m.size],
    [MANIFEST_KEYS.version, m.version],
  ]);
  if (m.vendor !== undefined) map.set(MANIFEST_KEYS.vendor, m.vendor);
  if (m.deviceClass !== undefined) map.set(MANIFEST_KEYS.deviceClass, m.deviceClass);
  if (m.minVersion !== undefined) map.set(MANIFEST_KEYS.minVersion, m.minVersion);
  if (m.name !== undefined) map.set(MANIFEST_KEYS.name, m.name);
  if (m.installHints !== undefined)
    map.set(MANIFEST_KEYS.installHints, new Map(Object.entries(m.installHints)));
  return encode(map, rfc8949EncodeOptions);
}

/** Strict CBOR decoding for everything we parse: definite lengths, preferred encodings, no duplicates. */
export const STRICT_CBOR = {
  useMaps: true,
  strict: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
} as const;

/**
 * Parses manifest bytes. Unknown keys are refused (a device must not half-apply a manifest whose
 * meaning has grown; new fields come with a new format version). Throws FirmwarePackageError
 * ('manifest' or 'algorithm') and nothing else.
 */
export function decodeManifest(bytes: Uint8Array): FirmwareManifest {
  let map: unknown;
  try {
    map = decode(bytes, STRICT_CBOR);
  } catch (e) {
    throw new FirmwarePackageError(
      'manifest',
      `the manifest is not well-formed CBOR: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  if (!(map instanceof Map)) throw new FirmwarePackageError('manifest', 'the manifest is not a CBOR map');
  const known = new Set<unknown>(Object.values(MANIFEST_KEYS));
  for (const key of (map as Map<unknown, unknown>).keys())
    if (!known.has(key)) throw new FirmwarePackageError('manifest', `unknown manifest key ${String(key)}`);
  const get = (k: number): unknown => (map as Map<unknown, unknown>).get(k);
  for (const k of [
    MANIFEST_KEYS.formatVersion,
    MANIFEST_KEYS.digest,
    MANIFEST_KEYS.size,
    MANIFEST_KEYS.version,
  ])
    if (get(k) === undefined) throw new FirmwarePackageError('manifest', `the manifest lacks key ${k}`);
  const digest = get(MANIFEST_KEYS.digest);
  if (!Array.isArray(digest) || digest.length !== 2 || !(digest[1] instanceof Uint8Array))
    throw new FirmwarePackageError('manifest', 'the manifest digest is not [algorithm, bytes]');
  const alg: unknown = digest[0];
  if (alg !== COSE_SHA256) {
    const named = typeof alg === 'number' ? KNOWN_DIGESTS.get(alg) : undefined;
    throw new FirmwarePackageError(
      'algorithm',
      `the image digest uses ${named ?? `algorithm ${String(alg)}`}; this device checks SHA-256 (-16) only`,
    );
  }
  const hints = get(MANIFEST_KEYS.installHints);
  if (hints !== undefined && !(hints instanceof Map))
    throw new FirmwarePackageError('manifest', 'manifest install hints must be a map');
  const formatVersion = get(MANIFEST_KEYS.formatVersion);
  return checkManifest({
    formatVersion: typeof formatVersion === 'number' ? formatVersion : NaN,
    digestAlgorithm: 'sha-256',
    digest: digest[1],
    size: get(MANIFEST_KEYS.size) as number,
    version: get(MANIFEST_KEYS.version) as string,
    vendor: get(MANIFEST_KEYS.vendor) as string | undefined,
    deviceClass: get(MANIFEST_KEYS.deviceClass) as string | undefined,
    minVersion: get(MANIFEST_KEYS.minVersion) as string | undefined,
    name: get(MANIFEST_KEYS.name) as string | undefined,
    installHints: hints as Record<string, InstallHint> | undefined,
  });
}
