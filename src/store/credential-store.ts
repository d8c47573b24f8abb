import { canonicalSpkiHex } from './public-key.js';
import { CredentialConflictError } from './store-errors.js';

/** A pre-shared key: identity (UTF-8, up to 128 bytes) and key (hex, up to 64 bytes). */
export interface PskCredential {
  readonly identity: string;
  readonly key: string;
}

/**
 * A device's security information on the server: how the (D)TLS layer authenticates it, and the
 * endpoint name that identity is bound to (Core §7.1.3: a Register whose `ep` does not match the
 * authenticated identity is refused). The full shape (certificate rules, the server's own
 * identity) grows with the DTLS issue; the store interface and contract are set here.
 */
export interface SecurityInfo {
  readonly endpoint: string;
  /** Pre-shared key: identity (UTF-8, up to 128 bytes) and key (hex, up to 64 bytes). */
  readonly psk?: PskCredential;
  /**
   * A PSK being rotated in (BS-001): while set, both `psk` and `nextPsk` authenticate the
   * endpoint, so a device is never locked out between the server learning the new key and the
   * device using it. Promote with `put({ ...info, psk: info.nextPsk, nextPsk: undefined })`,
   * cancel with `put({ ...info, nextPsk: undefined })`. Same limits as `psk`.
   */
  readonly nextPsk?: PskCredential;
  /**
   * Raw public key the device must present (SubjectPublicKeyInfo, hex). Indexed by its canonical
   * form (canonicalSpkiHex): one key, one endpoint, as for a PSK identity.
   */
  readonly rpk?: { readonly publicKey: string };
  /** X.509: the certificate's subject CN must equal the endpoint name. */
  readonly x509?: true;
}

export interface CredentialStore {
  /**
   * Stores or replaces an endpoint's info (replaced PSK identities, current or next, are freed).
   * A PSK identity (`psk` or `nextPsk`) that another endpoint holds as its `psk` or `nextPsk` is
   * a CredentialConflictError (store-errors.ts), and so is one info giving the same identity as
   * both `psk` and `nextPsk` (its holder is then the endpoint itself); nothing is changed. A raw
   * public key another endpoint holds (compared in canonical form) is a PublicKeyConflictError
   * (a CredentialConflictError, public-key.ts); a replace frees the endpoint's old key.
   */
  put(info: SecurityInfo): Promise<void>;
  get(endpoint: string): Promise<SecurityInfo | undefined>;
  /**
   * The info whose `psk` or `nextPsk` identity this is (the DTLS server's lookup during a
   * handshake).
   */
  getByPskIdentity(identity: string): Promise<SecurityInfo | undefined>;
  /**
   * The info whose `rpk.publicKey` is this SubjectPublicKeyInfo (DER, hex), in any spelling of the
   * key (canonicalSpkiHex); undefined for a key no endpoint holds or no SPKI at all (the DTLS
   * server's check of a device's raw public key during a handshake).
   */
  getByPublicKey(spkiHex: string): Promise<SecurityInfo | undefined>;
  remove(endpoint: string): Promise<SecurityInfo | undefined>;
  all(): AsyncIterable<SecurityInfo>;
}

/**
 * The PSK identities an info binds (`psk`'s, then `nextPsk`'s), for a store to index. The same
 * identity as both would make the handshake's lookup ambiguous (which key?): a
 * CredentialConflictError with the endpoint itself as holder.
 */
export function pskIdentitiesOf(info: SecurityInfo): string[] {
  const current = info.psk?.identity;
  const next = info.nextPsk?.identity;
  if (current !== undefined && current === next)
    throw new CredentialConflictError(current, info.endpoint, info.endpoint);
  return [current, next].filter((i) => i !== undefined);
}

/** The key of `identity` in `info` (its `psk` or its `nextPsk`), or undefined when it has neither. */
export function pskFor(info: SecurityInfo | undefined, identity: string): PskCredential | undefined {
  if (info?.psk?.identity === identity) return info.psk;
  if (info?.nextPsk?.identity === identity) return info.nextPsk;
  return undefined;
}

/**
 * The canonical form of the raw public key an info binds, for a store to index; undefined when it
 * has none, or one that is no SubjectPublicKeyInfo (it can never match a handshake's key, so it is
 * stored as given but not indexed).
 */
export function publicKeyOf(info: SecurityInfo | undefined): string | undefined {
  return info?.rpk === undefined ? undefined : canonicalSpkiHex(info.rpk.publicKey);
}
