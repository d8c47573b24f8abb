// The test PKI of scripts/make-test-certs.sh (test/fixtures/dtls), loaded for DTLS tests.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../fixtures/dtls/', import.meta.url));

export type FixtureName =
  | 'root-ca'
  | 'intermediate-ca'
  | 'server'
  | 'client'
  | 'expired'
  | 'by-leaf'
  | 'other-ca'
  | 'other-server'
  | 'server-rpk'
  | 'client-rpk';

/** A fixture file's path (for external programs). */
export function fixturePath(file: string): string {
  return FIXTURES + file;
}

/** The DER certificate. */
export function certDer(name: FixtureName): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(`${name}.der`)));
}

/** The DER SubjectPublicKeyInfo of the key pair. */
export function spkiDer(name: FixtureName): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(`${name}.spki.der`)));
}

/** The private key. */
export function privateKey(name: FixtureName): KeyObject {
  return createPrivateKey(readFileSync(fixturePath(`${name}.key.pem`)));
}

/** A leaf's chain as peers send it: leaf, then the intermediate. */
export function chainOf(name: 'server' | 'client' | 'expired'): Uint8Array[] {
  return [certDer(name), certDer('intermediate-ca')];
}
