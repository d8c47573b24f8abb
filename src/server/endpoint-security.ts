import type { UplinkContext } from '../binding/binding.js';
import { OperationError } from '../operations/result-code.js';
import { subjectCommonName } from '../dtls/peer-verification.js';
import { type CredentialStore, pskFor } from '../store/credential-store.js';
import { canonicalSpkiHex } from '../store/public-key.js';
import type { PeerIdentity } from '../transport/channel.js';
import type { RegistrationStore } from '../store/registration-store.js';

export interface EndpointSecurityOptions {
  readonly credentials: CredentialStore;
  readonly store: RegistrationStore;
  /** Let a NoSec peer register an endpoint that has credentials (default false). */
  readonly allowNoSec?: boolean;
  /** Refuse every NoSec Register (default false). */
  readonly refuseNoSec?: boolean;
}

/** Checks a Register's endpoint name against the peer's security; throws OperationError to refuse. */
export type EndpointSecurityCheck = (endpoint: string, context: UplinkContext) => Promise<void>;

/** Whether the endpoint has any credential (so NoSec must not act for it). */
export function hasCredentials(
  info: { psk?: unknown; nextPsk?: unknown; rpk?: unknown; x509?: unknown } | undefined,
): boolean {
  return (
    info !== undefined &&
    (info.psk !== undefined ||
      info.nextPsk !== undefined ||
      info.rpk !== undefined ||
      info.x509 !== undefined)
  );
}

/**
 * Endpoint binding (Core §7.1.3, Transport §Security): the endpoint name of a Register must be the
 * one the authenticated identity stands for, else 4.00 (as for an `ep` that differs from a
 * certificate's CN):
 * - PSK: the endpoint the credential store binds to the PSK identity, its `psk` or the `nextPsk`
 *   being rotated in (both stand for the endpoint until the rotation is promoted or cancelled);
 * - raw public key: an endpoint whose stored public key is this one (the DTLS layer refused keys
 *   no endpoint holds, when the server checks them there, and proved possession; only the store
 *   says whose it is);
 * - X.509: the certificate's subject CN (the chain was validated against the trust anchors), and
 *   when the store has an entry for the endpoint it must be an X.509 one.
 * A NoSec Register for an endpoint that has credentials, or one that would replace a registration
 * made over an authenticated channel, is not allowed: 4.03.
 */
export function createEndpointSecurity(options: EndpointSecurityOptions): EndpointSecurityCheck {
  return async (endpoint, context) => {
    const identity = context.peer.identity;
    if (identity !== undefined) {
      const reason = await mismatch(options.credentials, endpoint, identity);
      if (reason !== undefined)
        throw new OperationError('not-allowed', '4.00', `ep ${JSON.stringify(endpoint)} ${reason}`);
      return;
    }
    if (options.refuseNoSec)
      throw new OperationError(
        'not-allowed',
        '4.03',
        'this server takes secure registrations only: register over DTLS (coaps://)',
      );
    if (!options.allowNoSec && hasCredentials(await options.credentials.get(endpoint)))
      throw new OperationError(
        'not-allowed',
        '4.03',
        `${JSON.stringify(endpoint)} has credentials: register over DTLS (coaps://)`,
      );
    // Even where NoSec is allowed, it cannot take over a registration an authenticated peer made.
    const current = await options.store.get(endpoint);
    if (current?.peer.identity !== undefined)
      throw new OperationError(
        'not-allowed',
        '4.03',
        `${JSON.stringify(endpoint)} is registered over an authenticated channel`,
      );
  };
}

/** Why `identity` may not act as `endpoint`, or undefined when it may. */
async function mismatch(
  credentials: CredentialStore,
  endpoint: string,
  identity: PeerIdentity,
): Promise<string | undefined> {
  if ('psk' in identity) {
    const info = await credentials.getByPskIdentity(identity.psk);
    return info?.endpoint === endpoint && pskFor(info, identity.psk) !== undefined
      ? undefined
      : 'is not the endpoint bound to this PSK identity';
  }
  const info = await credentials.get(endpoint);
  if ('rpk' in identity) {
    const presented = canonicalSpkiHex(identity.rpk);
    return info?.rpk !== undefined &&
      presented !== undefined &&
      canonicalSpkiHex(info.rpk.publicKey) === presented
      ? undefined
      : 'is not the endpoint of this raw public key';
  }
  const cn = subjectCommonName(identity.x509.subject);
  if (cn !== endpoint)
    return `does not match the certificate's CN ${cn === undefined ? '(none)' : JSON.stringify(cn)}`;
  if (info !== undefined && hasCredentials(info) && info.x509 === undefined)
    return 'has PSK or raw public key credentials, not a certificate';
  return undefined;
}
