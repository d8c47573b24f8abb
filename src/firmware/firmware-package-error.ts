import { PetrelError } from '../errors.js';

/**
 * The step at which a firmware package was refused. Stable values; each maps to the /5 Update
 * Result the client reports (LwM2M 1.2 /5/0/5: 5 integrity check failure, 6 unsupported package
 * type), so a server sees the number and an operator sees the phase and sentence (FW-003).
 */
export type FirmwarePhase =
  | 'envelope' // 6: the marker is followed by an unknown layout, or the header is cut short or too large
  | 'manifest' // 6: the COSE_Sign1 or the manifest is not well formed, or has fields we do not know
  | 'algorithm' // 6: a signature or digest algorithm other than ES256 / SHA-256
  | 'unsigned' // 6: the device requires a signature and the download has none
  | 'vendor' // 6: the manifest is for another vendor
  | 'device-class' // 6: the manifest is for another class of device
  | 'version' // 6: older than the device's version, or the device is older than the minimum
  | 'signature' // 5: no trust anchor verifies the signature
  | 'digest' // 5: the image's SHA-256 is not the manifest's
  | 'size'; // 5: the image is longer or shorter than the manifest says

const INTEGRITY: ReadonlySet<FirmwarePhase> = new Set(['signature', 'digest', 'size']);

/** The /5 Update Result for a refusal at `phase`: 5 integrity failures, 6 everything else. */
export function updateResultOf(phase: FirmwarePhase): 5 | 6 {
  return INTEGRITY.has(phase) ? 5 : 6;
}

/**
 * A firmware package (or one of its parts) that cannot be built, parsed or trusted. `reason` is
 * the stable phase; `message` is a sentence a person can act on.
 */
export class FirmwarePackageError extends PetrelError {
  readonly reason: FirmwarePhase;
  constructor(reason: FirmwarePhase, message: string, options?: { cause?: unknown }) {
    super('PETREL_ERR_FIRMWARE_PACKAGE', message, options);
    this.reason = reason;
  }

  /** The /5 Update Result a client reports for this refusal (5 or 6). */
  get updateResult(): 5 | 6 {
    return updateResultOf(this.reason);
  }
}
