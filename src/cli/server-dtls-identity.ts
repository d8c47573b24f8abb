import { X509Certificate, createPublicKey } from 'node:crypto';
import type { ServerSecurityInfo } from '../api/api-context.js';
import type { EcdsaCredentials } from '../dtls/dtls-credentials.js';
import type { ServerSettings } from './config.js';
import { CliError } from './io.js';
import { KeyFileError, readCertificates, readP256PrivateKey } from './key-files.js';

/** The coaps:// server's own identity and the CAs of device certificates, from the settings' files. */
export interface ServerDtlsIdentity {
  /** Undefined: PSK only. */
  readonly certificate: EcdsaCredentials | undefined;
  readonly trustAnchors: Uint8Array[];
  /** What GET /api/security/server shows (never the private key). */
  readonly view: ServerSecurityInfo;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Reads --coaps-key, --coaps-cert and --trust-anchors; a KeyFileError says which file and why. */
export function loadServerDtlsIdentity(
  settings: Pick<ServerSettings, 'coapsKey' | 'coapsCert' | 'trustAnchors' | 'pskHint'>,
): ServerDtlsIdentity {
  const trustAnchors = settings.trustAnchors.flatMap((file) => readCertificates(file));
  const hint = settings.pskHint === undefined ? {} : { pskHint: settings.pskHint };
  if (settings.coapsKey === undefined) {
    if (settings.coapsCert !== undefined)
      throw new KeyFileError('--coaps-cert needs --coaps-key, the private key of that certificate');
    return { certificate: undefined, trustAnchors, view: hint };
  }
  const privateKey = readP256PrivateKey(settings.coapsKey);
  if (settings.coapsCert === undefined) {
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    return { certificate: { privateKey }, trustAnchors, view: { ...hint, publicKey: hex(spki) } };
  }
  const chain = readCertificates(settings.coapsCert);
  const leaf = new X509Certificate(chain[0]!);
  if (!leaf.checkPrivateKey(privateKey))
    throw new KeyFileError(
      `the first certificate of ${settings.coapsCert} is not for the key in ${settings.coapsKey}`,
    );
  return {
    certificate: { privateKey, certificateChain: chain },
    trustAnchors,
    view: {
      ...hint,
      certificate: { subject: leaf.subject.split('\n').filter(Boolean).join(', '), der: hex(chain[0]!) },
    },
  };
}

/**
 * The DTLS identity when a coaps:// port is configured (`needed`), else undefined; a file that
 * cannot be used is a CLI error (exit 1) naming it.
 */
export function dtlsIdentityFor(
  settings: Parameters<typeof loadServerDtlsIdentity>[0],
  needed: boolean,
): ServerDtlsIdentity | undefined {
  if (!needed) return undefined;
  try {
    return loadServerDtlsIdentity(settings);
  } catch (e) {
    throw new CliError(`cannot set up coaps://: ${(e as Error).message}`, 1);
  }
}
