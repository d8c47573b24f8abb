import type { ContentFormatId } from '../content/content-format.js';
import { Value } from '../model/data-types.js';
import { LwM2mPath } from '../model/path.js';
import type { BootstrapWriteRequest } from '../operations/requests.js';
import type { RandomSource } from '../random.js';
import type { BootstrapConfiguration } from './bootstrap-config.js';

/**
 * PSK rotation (BS-001), the pure half. A device's credential (one PSK per endpoint, used with the
 * Bootstrap-Server and the LwM2M servers alike) is rotated in three moves, none of which can lock
 * the device out:
 *
 * 1. The operator stores the next PSK beside the current one (`SecurityInfo.nextPsk`): from then
 *    on both authenticate the endpoint, at the Bootstrap-Server and at the LwM2M server.
 * 2. A Bootstrap-Request authenticated with the current PSK gets the next one written into its
 *    Bootstrap-Server account (/0/x/3 and /0/x/5) and into every server account that used the
 *    current one, then Finish. The client applies all of it or none (its Finish is atomic), and a
 *    device that loses power before saving comes back with the current PSK, which still works: the
 *    next bootstrap writes it again.
 * 3. The first time the device authenticates with the next PSK (a Bootstrap-Request, or a Register
 *    at the LwM2M server), it has proven it holds it: the next PSK becomes the current one and the
 *    old one is retired.
 */

export interface Psk {
  readonly identity: string;
  /** Hex. */
  readonly key: string;
}

/** A configuration whose server accounts that used `current` use `next` instead. */
export function rotatedConfig(
  config: BootstrapConfiguration,
  current: Psk,
  next: Psk,
): BootstrapConfiguration {
  const swap = <T extends { readonly security: BootstrapConfiguration['servers'][number]['security'] }>(
    a: T,
  ): T =>
    a.security.mode === 'psk' && a.security.identity === current.identity
      ? { ...a, security: { mode: 'psk', identity: next.identity, key: next.key } }
      : a;
  return {
    ...config,
    servers: config.servers.map(swap),
    ...(config.bootstrapServer === undefined ? {} : { bootstrapServer: swap(config.bootstrapServer) }),
  };
}

/**
 * The Bootstrap-Writes that put `next` into the Bootstrap-Server account: /0/x/3 (identity) and
 * /0/x/5 (key), resource by resource, so the account's URI and other resources stay whatever the
 * device has (a Bootstrap-Server cannot read /0 to rewrite them).
 */
export function bootstrapAccountPskWrites(
  instanceId: number,
  next: Psk,
  format: ContentFormatId | undefined,
): BootstrapWriteRequest[] {
  const write = (rid: number, bytes: Uint8Array): BootstrapWriteRequest => {
    const path = LwM2mPath.of(0, instanceId, rid);
    return {
      kind: 'bootstrap-write',
      path,
      records: [{ path, value: Value.opaque(bytes) }],
      ...(format === undefined ? {} : { format }),
    };
  };
  return [
    write(3, new TextEncoder().encode(next.identity)),
    write(5, new Uint8Array(Buffer.from(next.key, 'hex'))),
  ];
}

/** A fresh PSK for an endpoint: identity `<endpoint>~<8 hex>` (≤ 128 bytes) and a 16-byte key. */
export function generatePsk(endpoint: string, random: RandomSource): Psk {
  const tag = Buffer.from(random.bytes(4)).toString('hex');
  let base = endpoint;
  while (Buffer.byteLength(`${base}~${tag}`) > 128) base = base.slice(0, -1);
  return { identity: `${base}~${tag}`, key: Buffer.from(random.bytes(16)).toString('hex') };
}
