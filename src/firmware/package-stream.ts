// The seam between the client's firmware download (/5, /9) and package verification: the
// download feeds the bytes it receives, in order and in any chunking, and gets back the image
// bytes to store; at the end it asks for the verdict. A plain image (no manifest) passes through
// unchanged; a signed package (manifest + image envelope) yields only its image and is verified
// (signature, digest, size, device class, version) before the client may declare Downloaded.

/** The facts a verified manifest states (what /5/0/6 PkgName and /5/0/7 PkgVersion report). */
export interface PackageFacts {
  readonly name?: string;
  readonly version?: string;
  readonly vendor?: string;
  readonly deviceClass?: string;
  /** SHA-256 of the image, when a manifest named it. */
  readonly digest?: Uint8Array;
  readonly size?: number;
}

/**
 * Why a package was refused, in /5 Update Result terms: 5 integrity check failure (signature,
 * digest, size), 6 unsupported package type (malformed envelope, unknown algorithm, wrong device
 * class or vendor, version too old for the device).
 */
export interface PackageRefusal {
  readonly ok: false;
  readonly updateResult: 5 | 6;
  /** The step that failed, e.g. 'envelope', 'signature', 'digest', 'size', 'device-class', 'version'. */
  readonly phase: string;
  /** A sentence a person can act on. */
  readonly reason: string;
}

export type PackageVerdict = { readonly ok: true; readonly facts: PackageFacts } | PackageRefusal;

export interface PackageStream {
  /**
   * Takes the next bytes of the download and returns the image bytes among them (possibly
   * empty). Once the stream has refused the package it returns empty arrays; `end()` says why.
   * Never throws on bad input and buffers at most a bounded amount (the manifest).
   */
  push(chunk: Uint8Array): Uint8Array;
  /** The download is complete: the verdict on everything pushed. */
  end(): PackageVerdict;
  /**
   * What a download that stops here needs to resume in another process: the bytes pushed so far
   * that are not image (a signed package's marker, prefix and header, at most 16 KiB + 14; empty
   * for a plain image), once the stream has reached the image; undefined before that, or after a
   * refusal. To resume, push these bytes into a fresh stream from `begin()`, then the image bytes
   * already stored (their output is dropped), then the rest of the download. The fresh stream
   * checks the header again, with the trust anchors and device facts of the new process.
   */
  checkpoint?(): Uint8Array | undefined;
}

/** Starts one verification per download. */
export interface PackageVerifier {
  begin(): PackageStream;
}
