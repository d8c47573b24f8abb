import type { UplinkContext } from '../binding/binding.js';
import { OperationError } from '../operations/result-code.js';
import type { CredentialStore } from '../store/credential-store.js';
import type { RegistrationStore } from '../store/registration-store.js';

export interface EndpointSecurityOptions {
  readonly credentials: CredentialStore;
  readonly store: RegistrationStore;
  /** Let a NoSec peer register an endpoint that has credentials (default false). */
  readonly allowNoSec?: boolean;
}

/** Checks a Register's endpoint name against the peer's security; throws OperationError to refuse. */
export type EndpointSecurityCheck = (endpoint: string, context: UplinkContext) => Promise<void>;

function hasCredentials(info: { psk?: unknown; rpk?: unknown; x509?: unknown } | undefined): boolean {
  return info !== undefined && (info.psk !== undefined || info.rpk !== undefined || info.x509 !== undefined);
}

/**
 * Endpoint binding (Core §7.1.3, Transport §Security): the endpoint name of a Register must be the
 * one the credential store binds to the authenticated identity, else 4.00 (as for an `ep` that
 * differs from a certificate's CN). A NoSec Register for an endpoint that has credentials, or one
 * that would replace a registration made over an authenticated channel, is not allowed: 4.03.
 */
export function createEndpointSecurity(options: EndpointSecurityOptions): EndpointSecurityCheck {
  return async (endpoint, context) => {
    const identity = context.peer.identity;
    if (identity !== undefined && 'psk' in identity) {
      const info = await options.credentials.getByPskIdentity(identity.psk);
      if (info?.endpoint !== endpoint)
        throw new OperationError(
          'not-allowed',
          '4.00',
          `ep ${JSON.stringify(endpoint)} is not the endpoint bound to this PSK identity`,
        );
      return;
    }
    if (identity !== undefined) return;
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
