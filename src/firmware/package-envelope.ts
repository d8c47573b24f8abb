// The firmware package envelope: a fixed prefix, the (signed) manifest, then the image, so a
// client can check the manifest before the first image byte and hash the image as it streams.
// Layout (all integers big-endian; docs/firmware.md):
//   0  8  marker 89 50 46 57 0D 0A 1A 0A ("\x89PFW\r\n\x1A\n")
//   8  1  layout version, 1
//   9  1  header kind: 1 = COSE_Sign1_Tagged over the manifest, 2 = the bare manifest (unsigned)
//  10  4  header length L, 1..16384
//  14  L  header
//  14+L   the image, exactly `size` bytes (the manifest's size), to the end
import { createHash, type KeyObject } from 'node:crypto';
import { decodeSign1 } from './cose-sign1.js';
import { signManifest } from './cose-sign1.js';
import { FirmwarePackageError } from './firmware-package-error.js';
import {
  decodeManifest,
  encodeManifest,
  MANIFEST_FORMAT_VERSION,
  type FirmwareManifest,
  type ManifestFields,
} from './manifest.js';

/** The first bytes of every package: a high-bit byte, "PFW", CR LF, ^Z, LF (catches text-mode mangling). */
export const PACKAGE_MARKER: Uint8Array = Uint8Array.of(0x89, 0x50, 0x46, 0x57, 0x0d, 0x0a, 0x1a, 0x0a);
export const PACKAGE_LAYOUT_VERSION = 1;
export const HEADER_KIND_SIGNED = 1;
export const HEADER_KIND_UNSIGNED = 2;
/** Marker, layout version, header kind, header length. */
export const PACKAGE_PREFIX_BYTES = 14;
/** The largest header a client buffers; a larger one is refused. */
export const MAX_HEADER_BYTES = 16384;

/** The fixed prefix, validated: the header kind and length. */
export interface EnvelopePrefix {
  readonly signed: boolean;
  readonly headerLength: number;
}

/** True when `bytes` (at least 8 long) start with the package marker. */
export function startsWithMarker(bytes: Uint8Array): boolean {
  return bytes.length >= PACKAGE_MARKER.length && PACKAGE_MARKER.every((b, i) => bytes[i] === b);
}

/** Parses the 14-byte prefix (marker already matched). Throws FirmwarePackageError('envelope'). */
export function parsePrefix(prefix: Uint8Array): EnvelopePrefix {
  const layout = prefix[8];
  const kind = prefix[9];
  if (layout !== PACKAGE_LAYOUT_VERSION)
    throw new FirmwarePackageError(
      'envelope',
      `package layout version ${String(layout)} is not supported (this device reads ${PACKAGE_LAYOUT_VERSION})`,
    );
  if (kind !== HEADER_KIND_SIGNED && kind !== HEADER_KIND_UNSIGNED)
    throw new FirmwarePackageError('envelope', `unknown package header kind ${String(kind)}`);
  const headerLength = ((prefix[10]! << 24) >>> 0) + (prefix[11]! << 16) + (prefix[12]! << 8) + prefix[13]!;
  if (headerLength === 0 || headerLength > MAX_HEADER_BYTES)
    throw new FirmwarePackageError(
      'envelope',
      `the package header is ${headerLength} bytes; it must be 1..${MAX_HEADER_BYTES}`,
    );
  return { signed: kind === HEADER_KIND_SIGNED, headerLength };
}

function prefixBytes(signed: boolean, headerLength: number): Uint8Array {
  const out = new Uint8Array(PACKAGE_PREFIX_BYTES);
  out.set(PACKAGE_MARKER, 0);
  out[8] = PACKAGE_LAYOUT_VERSION;
  out[9] = signed ? HEADER_KIND_SIGNED : HEADER_KIND_UNSIGNED;
  new DataView(out.buffer).setUint32(10, headerLength);
  return out;
}

/** The manifest of `image` with the release engineer's fields. */
export function manifestFor(image: Uint8Array, fields: ManifestFields): FirmwareManifest {
  return {
    ...fields,
    formatVersion: MANIFEST_FORMAT_VERSION,
    digestAlgorithm: 'sha-256',
    digest: new Uint8Array(createHash('sha256').update(image).digest()),
    size: image.length,
  };
}

export interface BuildPackageOptions {
  /** COSE kid (unprotected header 4) naming the signing key. */
  readonly kid?: Uint8Array;
}

/**
 * The package for `image`: signed with `privateKey` (ES256, P-256), or unsigned (bare manifest)
 * without one. Throws FirmwarePackageError for invalid fields, a wrong key, or an oversize header.
 */
export function buildPackage(
  image: Uint8Array,
  fields: ManifestFields,
  privateKey?: KeyObject,
  options: BuildPackageOptions = {},
): Uint8Array {
  const manifest = encodeManifest(manifestFor(image, fields));
  const header = privateKey === undefined ? manifest : signManifest(manifest, privateKey, options.kid);
  if (header.length > MAX_HEADER_BYTES)
    throw new FirmwarePackageError(
      'envelope',
      `the package header would be ${header.length} bytes (max ${MAX_HEADER_BYTES})`,
    );
  const out = new Uint8Array(PACKAGE_PREFIX_BYTES + header.length + image.length);
  out.set(prefixBytes(privateKey !== undefined, header.length), 0);
  out.set(header, PACKAGE_PREFIX_BYTES);
  out.set(image, PACKAGE_PREFIX_BYTES + header.length);
  return out;
}

/** What a package says about itself, read without trusting it (`petrel firmware inspect`). */
export type PackageInspection =
  | { readonly kind: 'plain'; readonly imageBytes: number }
  | {
      readonly kind: 'package';
      readonly signed: boolean;
      readonly layoutVersion: number;
      /** Bytes of the COSE_Sign1 (signed) or the bare manifest (unsigned). */
      readonly headerBytes: number;
      readonly manifestBytes: number;
      readonly imageOffset: number;
      /** Bytes after the header (the image, if the package is intact). */
      readonly imageBytes: number;
      readonly alg?: number;
      readonly kid?: Uint8Array;
      readonly manifest: FirmwareManifest;
      /** SHA-256 of the bytes after the header. */
      readonly imageDigest: Uint8Array;
      readonly digestMatches: boolean;
      readonly sizeMatches: boolean;
    };

/**
 * Parses a whole package (or recognises a plain image) without checking the signature. Throws
 * FirmwarePackageError for a package that cannot be read.
 */
export function inspectPackage(bytes: Uint8Array): PackageInspection {
  if (!startsWithMarker(bytes)) return { kind: 'plain', imageBytes: bytes.length };
  if (bytes.length < PACKAGE_PREFIX_BYTES)
    throw new FirmwarePackageError('envelope', 'the package ends inside its prefix');
  const { signed, headerLength } = parsePrefix(bytes);
  const imageOffset = PACKAGE_PREFIX_BYTES + headerLength;
  if (bytes.length < imageOffset)
    throw new FirmwarePackageError('envelope', 'the package ends inside its header');
  const header = bytes.subarray(PACKAGE_PREFIX_BYTES, imageOffset);
  const sign1 = signed ? decodeSign1(header) : undefined;
  const manifestBytes = sign1?.payload ?? header;
  const manifest = decodeManifest(manifestBytes);
  const image = bytes.subarray(imageOffset);
  const imageDigest = new Uint8Array(createHash('sha256').update(image).digest());
  return {
    kind: 'package',
    signed,
    layoutVersion: PACKAGE_LAYOUT_VERSION,
    headerBytes: headerLength,
    manifestBytes: manifestBytes.length,
    imageOffset,
    imageBytes: image.length,
    ...(sign1 === undefined ? {} : { alg: sign1.alg }),
    ...(sign1?.kid === undefined ? {} : { kid: sign1.kid }),
    manifest,
    imageDigest,
    digestMatches: Buffer.from(imageDigest).equals(manifest.digest),
    sizeMatches: image.length === manifest.size,
  };
}
