// Streaming verification of a firmware download (the PackageVerifier seam of package-stream.ts):
// recognise a package by its marker, buffer only its bounded header, check the signature and
// the device checks before any image byte is handed out, then hash the image as it passes.
import { createHash, type Hash, type KeyObject } from 'node:crypto';
import { verifySign1 } from './cose-sign1.js';
import { FirmwarePackageError, updateResultOf, type FirmwarePhase } from './firmware-package-error.js';
import { decodeManifest, type FirmwareManifest } from './manifest.js';
import {
  PACKAGE_MARKER,
  PACKAGE_PREFIX_BYTES,
  parsePrefix,
  type EnvelopePrefix,
} from './package-envelope.js';
import type {
  PackageFacts,
  PackageRefusal,
  PackageStream,
  PackageVerdict,
  PackageVerifier,
} from './package-stream.js';
import { compareVersions } from './version-order.js';

export interface PackageVerifierOptions {
  /** P-256 public keys a package signature must verify with (any one of them). */
  readonly trustAnchors?: readonly KeyObject[];
  /** This device's class: a package must name exactly this class. */
  readonly deviceClass?: string;
  /** This device's vendor: a package must name exactly this vendor. */
  readonly vendor?: string;
  /**
   * The firmware version the device runs (/3/0/3): no downgrades, and the manifest's minimum
   * applies. Without it no version rule is checked. A function is asked at every download (the
   * version changes with each install).
   */
  readonly currentVersion?: string | (() => string | undefined);
  /** Refuse plain images and unsigned packages (Update Result 6, phase 'unsigned'). */
  readonly requireSignature?: boolean;
}

const refusal = (phase: FirmwarePhase, reason: string): PackageRefusal => ({
  ok: false,
  updateResult: updateResultOf(phase),
  phase,
  reason,
});

const EMPTY = new Uint8Array(0);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The device checks on an authentic (or accepted unsigned) manifest; throws FirmwarePackageError. */
/** The verifier's options with the installed version known (asked at `begin()`). */
export type DeviceFacts = Omit<PackageVerifierOptions, 'currentVersion'> & {
  readonly currentVersion?: string;
};

export function checkManifestForDevice(manifest: FirmwareManifest, options: DeviceFacts): void {
  if (options.vendor !== undefined && manifest.vendor !== options.vendor)
    throw new FirmwarePackageError(
      'vendor',
      manifest.vendor === undefined
        ? `the manifest names no vendor; this device takes packages for "${options.vendor}" only`
        : `the package is for vendor "${manifest.vendor}", this device is "${options.vendor}"`,
    );
  if (options.deviceClass !== undefined && manifest.deviceClass !== options.deviceClass)
    throw new FirmwarePackageError(
      'device-class',
      manifest.deviceClass === undefined
        ? `the manifest names no device class; this device takes packages for "${options.deviceClass}" only`
        : `the package is for device class "${manifest.deviceClass}", this device is "${options.deviceClass}"`,
    );
  // Version rules need the installed version; a device that does not know it gets none of them.
  const current = options.currentVersion;
  if (current === undefined) return;
  if (manifest.minVersion !== undefined) {
    const order = compareVersions(current, manifest.minVersion);
    if (order === undefined)
      throw new FirmwarePackageError(
        'version',
        `cannot order version "${current}" against the minimum "${manifest.minVersion}" (dotted numbers only)`,
      );
    if (order < 0)
      throw new FirmwarePackageError(
        'version',
        `the package needs version ${manifest.minVersion} or later installed; this device runs ${current}`,
      );
  }
  const order = compareVersions(manifest.version, current);
  if (order === undefined)
    throw new FirmwarePackageError(
      'version',
      `cannot order package version "${manifest.version}" against the installed "${current}" (dotted numbers only)`,
    );
  if (order < 0)
    throw new FirmwarePackageError(
      'version',
      `the package (version ${manifest.version}) is older than the installed version ${current}`,
    );
}

function factsOf(m: FirmwareManifest): PackageFacts {
  return {
    version: m.version,
    digest: m.digest.slice(), // a copy: the facts outlive the header buffer
    size: m.size,
    ...(m.name === undefined ? {} : { name: m.name }),
    ...(m.vendor === undefined ? {} : { vendor: m.vendor }),
    ...(m.deviceClass === undefined ? {} : { deviceClass: m.deviceClass }),
  };
}

type State =
  | { step: 'marker'; buffered: Uint8Array }
  | { step: 'prefix'; buffered: Uint8Array }
  | { step: 'header'; prefix: EnvelopePrefix; prefixBytes: Uint8Array; buffered: Uint8Array; filled: number }
  | { step: 'image'; manifest: FirmwareManifest; envelope: Uint8Array; hash: Hash; seen: number }
  | { step: 'plain' }
  | { step: 'done'; verdict: PackageVerdict };

class VerifyingStream implements PackageStream {
  #state: State = { step: 'marker', buffered: EMPTY };
  #ended = false;

  constructor(private readonly options: DeviceFacts) {}

  push(chunk: Uint8Array): Uint8Array {
    if (this.#ended) return EMPTY;
    try {
      return this.#push(chunk);
    } catch (e) {
      this.#refuse(e);
      return EMPTY;
    }
  }

  end(): PackageVerdict {
    if (!this.#ended) {
      this.#ended = true;
      try {
        this.#state = { step: 'done', verdict: this.#finish() };
      } catch (e) {
        this.#refuse(e);
      }
    }
    return (this.#state as { verdict: PackageVerdict }).verdict;
  }

  checkpoint(): Uint8Array | undefined {
    const s = this.#state;
    if (s.step === 'plain') return EMPTY;
    return s.step === 'image' ? s.envelope.slice() : undefined;
  }

  #refuse(e: unknown): void {
    this.#state = {
      step: 'done',
      verdict:
        e instanceof FirmwarePackageError
          ? refusal(e.reason, e.message)
          : refusal(
              'envelope',
              `the package could not be read: ${e instanceof Error ? e.message : String(e)}`,
            ),
    };
  }

  #push(chunk: Uint8Array): Uint8Array {
    const s = this.#state;
    switch (s.step) {
      case 'done':
        return EMPTY;
      case 'plain':
        return chunk;
      case 'marker': {
        // Decide plain vs package on the first byte that differs from the marker.
        const bytes = s.buffered.length === 0 ? chunk : concat(s.buffered, chunk);
        const n = Math.min(bytes.length, PACKAGE_MARKER.length);
        for (let i = 0; i < n; i++) if (bytes[i] !== PACKAGE_MARKER[i]) return this.#plain(bytes);
        if (bytes.length < PACKAGE_MARKER.length) {
          this.#state = { step: 'marker', buffered: new Uint8Array(bytes) };
          return EMPTY;
        }
        this.#state = { step: 'prefix', buffered: EMPTY };
        return this.#push(bytes);
      }
      case 'prefix': {
        const bytes = s.buffered.length === 0 ? chunk : concat(s.buffered, chunk);
        if (bytes.length < PACKAGE_PREFIX_BYTES) {
          this.#state = { step: 'prefix', buffered: new Uint8Array(bytes) };
          return EMPTY;
        }
        const prefixBytes = bytes.slice(0, PACKAGE_PREFIX_BYTES);
        const prefix = parsePrefix(prefixBytes);
        this.#state = {
          step: 'header',
          prefix,
          prefixBytes,
          buffered: new Uint8Array(prefix.headerLength),
          filled: 0,
        };
        return this.#push(bytes.subarray(PACKAGE_PREFIX_BYTES));
      }
      case 'header': {
        const take = Math.min(chunk.length, s.buffered.length - s.filled);
        s.buffered.set(chunk.subarray(0, take), s.filled);
        s.filled += take;
        if (s.filled < s.buffered.length) return EMPTY;
        const manifest = this.#acceptHeader(s.prefix, s.buffered);
        const envelope = concat(s.prefixBytes, s.buffered);
        this.#state = { step: 'image', manifest, envelope, hash: createHash('sha256'), seen: 0 };
        return this.#push(chunk.subarray(take));
      }
      case 'image': {
        if (chunk.length === 0) return EMPTY;
        s.seen += chunk.length;
        if (s.seen > s.manifest.size)
          throw new FirmwarePackageError(
            'size',
            `the image is longer than the ${s.manifest.size} bytes the manifest states`,
          );
        s.hash.update(chunk);
        return chunk;
      }
    }
  }

  #plain(bytes: Uint8Array): Uint8Array {
    if (this.options.requireSignature === true)
      throw new FirmwarePackageError(
        'unsigned',
        'this device installs signed firmware packages only; the download is a plain image',
      );
    this.#state = { step: 'plain' };
    return bytes;
  }

  /** Signature first, then the manifest, then the device checks: nothing unauthenticated is acted on. */
  #acceptHeader(prefix: EnvelopePrefix, header: Uint8Array): FirmwareManifest {
    if (!prefix.signed && this.options.requireSignature === true)
      throw new FirmwarePackageError(
        'unsigned',
        'this device installs signed firmware packages only; the package is unsigned',
      );
    const manifestBytes = prefix.signed
      ? verifySign1(header, this.options.trustAnchors ?? []).payload
      : header;
    const manifest = decodeManifest(manifestBytes);
    checkManifestForDevice(manifest, this.options);
    return manifest;
  }

  #finish(): PackageVerdict {
    const s = this.#state;
    switch (s.step) {
      case 'done':
        return s.verdict;
      case 'plain':
        return { ok: true, facts: {} };
      case 'marker':
        if (s.buffered.length === 0)
          return this.options.requireSignature === true
            ? refusal('unsigned', 'this device installs signed firmware packages only; the download is empty')
            : { ok: true, facts: {} };
        return refusal('envelope', 'the download ends inside the package marker');
      case 'prefix':
        return refusal('envelope', 'the package ends inside its prefix');
      case 'header':
        return refusal(
          'envelope',
          `the package ends inside its header (${s.filled} of ${s.buffered.length} bytes)`,
        );
      case 'image': {
        if (s.seen !== s.manifest.size)
          return refusal('size', `the image is ${s.seen} bytes; the manifest states ${s.manifest.size}`);
        const digest = s.hash.digest();
        if (!digest.equals(s.manifest.digest))
          return refusal('digest', 'the SHA-256 of the image is not the digest the manifest states');
        return { ok: true, facts: factsOf(s.manifest) };
      }
    }
  }
}

/** A PackageVerifier with these trust anchors and device facts; `begin()` once per download. */
export function packageVerifier(options: PackageVerifierOptions = {}): PackageVerifier {
  const { currentVersion, ...rest } = options;
  return {
    begin: () => {
      const version = typeof currentVersion === 'function' ? currentVersion() : currentVersion;
      return new VerifyingStream(version === undefined ? rest : { ...rest, currentVersion: version });
    },
  };
}
