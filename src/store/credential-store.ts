/**
 * A device's security information on the server: how the (D)TLS layer authenticates it, and the
 * endpoint name that identity is bound to (Core §7.1.3: a Register whose `ep` does not match the
 * authenticated identity is refused). The full shape (certificate rules, the server's own
 * identity) grows with the DTLS issue; the store interface and contract are set here.
 */
export interface SecurityInfo {
  readonly endpoint: string;
  /** Pre-shared key: identity (UTF-8, up to 128 bytes) and key (hex, up to 64 bytes). */
  readonly psk?: { readonly identity: string; readonly key: string };
  /** Raw public key the device must present (SubjectPublicKeyInfo, hex). */
  readonly rpk?: { readonly publicKey: string };
  /** X.509: the certificate's subject CN must equal the endpoint name. */
  readonly x509?: true;
}

export interface CredentialStore {
  /**
   * Stores or replaces an endpoint's info (a replaced PSK identity is freed); a PSK identity
   * already bound to another endpoint is a CredentialConflictError (store-errors.ts).
   */
  put(info: SecurityInfo): Promise<void>;
  get(endpoint: string): Promise<SecurityInfo | undefined>;
  /** The info whose PSK identity this is (the DTLS server's lookup during a handshake). */
  getByPskIdentity(identity: string): Promise<SecurityInfo | undefined>;
  remove(endpoint: string): Promise<SecurityInfo | undefined>;
  all(): AsyncIterable<SecurityInfo>;
}
