import type { PskLookup } from '../dtls/handshake-server.js';
import { type CredentialStore, pskFor } from '../store/credential-store.js';

/** A PSK identity as the store keys it: UTF-8 (RFC 4279 §5.1), or undefined when it is not. */
function pskIdentityText(identity: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(identity);
  } catch {
    return undefined;
  }
}

/**
 * The DTLS server's PSK lookup from a credential store (the LwM2M server's and the
 * Bootstrap-Server's coaps:// sides). A store that fails (Redis down) fails this handshake, not
 * the server: the error goes to `onError` and the identity counts as unknown. The key is the one
 * of the identity the device named: its `psk`, or its `nextPsk` while one is being rotated in.
 */
export function credentialPskLookup(credentials: CredentialStore, onError: (e: unknown) => void): PskLookup {
  return async (identity) => {
    const name = pskIdentityText(identity);
    if (name === undefined) return undefined;
    try {
      const psk = pskFor(await credentials.getByPskIdentity(name), name);
      return psk ? Buffer.from(psk.key, 'hex') : undefined;
    } catch (e) {
      onError(e);
      return undefined;
    }
  };
}
