import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PetrelError } from '../errors.js';

/** A key or certificate file that cannot be used; the message names the file and what is wrong. */
export class KeyFileError extends PetrelError {
  constructor(message: string) {
    super('PETREL_ERR_KEY_FILE', message);
    this.name = 'KeyFileError';
  }
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new KeyFileError(
      `cannot read the ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

const isPem = (bytes: Buffer): boolean => bytes.subarray(0, 64).toString('latin1').includes('-----BEGIN');

/** A private key from a file: PEM (PKCS#8, SEC1 "EC PRIVATE KEY", …) or DER (PKCS#8 or SEC1). */
export function readPrivateKey(path: string): KeyObject {
  const bytes = read(path, 'private key');
  const attempts = isPem(bytes)
    ? [() => createPrivateKey(bytes)]
    : (['pkcs8', 'sec1'] as const).map((type) => () => createPrivateKey({ key: bytes, format: 'der', type }));
  for (const attempt of attempts) {
    try {
      return attempt();
    } catch {
      // try the next form
    }
  }
  throw new KeyFileError(`${path} is not a private key (PEM, or DER PKCS#8 / SEC1)`);
}

/**
 * A P-256 private key from a file (see readPrivateKey): the LwM2M Security object's Secret Key is
 * a PKCS#8 (RFC 5958) P-256 key for the ECDHE_ECDSA suites.
 */
export function readP256PrivateKey(path: string): KeyObject {
  const key = readPrivateKey(path);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new KeyFileError(`${path} is not an EC P-256 (prime256v1) key, which DTLS for LwM2M needs`);
  return key;
}

/** A public key from a file: PEM, SubjectPublicKeyInfo DER, or the key of a certificate (PEM). */
export function readPublicKey(path: string): KeyObject {
  const bytes = read(path, 'public key');
  try {
    if (isPem(bytes) && bytes.includes('CERTIFICATE')) return new X509Certificate(bytes).publicKey;
    return createPublicKey(isPem(bytes) ? bytes : { key: bytes, format: 'der', type: 'spki' });
  } catch {
    throw new KeyFileError(`${path} is not a public key (PEM or SubjectPublicKeyInfo DER)`);
  }
}

/** The certificates of a file, in file order (DER): PEM with one or more, or one DER certificate. */
export function readCertificates(path: string): Uint8Array[] {
  const bytes = read(path, 'certificate file');
  const ders = isPem(bytes)
    ? [
        ...bytes.toString('latin1').matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g),
      ].map((m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')))
    : [new Uint8Array(bytes)];
  if (ders.length === 0) throw new KeyFileError(`${path} has no CERTIFICATE block`);
  for (const [i, der] of ders.entries()) {
    try {
      new X509Certificate(der);
    } catch {
      throw new KeyFileError(`certificate ${i + 1} of ${path} does not parse as X.509`);
    }
  }
  return ders;
}
