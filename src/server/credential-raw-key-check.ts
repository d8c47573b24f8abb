import type { CredentialStore } from '../store/credential-store.js';

/**
 * The DTLS server's check of a device's raw public key against a credential store (the LwM2M
 * server's and the Bootstrap-Server's coaps:// sides): known when an endpoint's `rpk` is this key,
 * in any DER spelling (the store compares canonical forms). A store that fails (Redis down) fails
 * this handshake, not the server: the error goes to `onError` and the key counts as unknown.
 */
export function credentialRawKeyCheck(
  credentials: CredentialStore,
  onError: (e: unknown) => void,
): (spki: Uint8Array) => Promise<boolean> {
  return async (spki) => {
    try {
      return (await credentials.getByPublicKey(Buffer.from(spki).toString('hex'))) !== undefined;
    } catch (e) {
      onError(e);
      return false;
    }
  };
}
