// What a firmware campaign needs from the LwM2M server: a narrow seam, so the campaign engine runs
// against LwM2mServer (serverGateway) or against simulated fleets in tests and benchmarks.
import { Value } from '../../model/data-types.js';
import type { LwM2mServer } from '../lwm2m-server.js';
import type { Registration } from '../registration.js';

/** A device's answer to one request. */
export interface DeviceAnswer {
  /** `'2.05'`, `'4.04'`, ... */
  readonly code: string;
  /** The payload in the JSON convention of `petrel codec` (`{'/5/0/3': 2}`). */
  readonly values?: Readonly<Record<string, unknown>>;
  readonly diagnostic?: string;
}

export interface CampaignGateway {
  /** The device's registration (undefined: not registered now). */
  registration(endpoint: string): Promise<{ readonly queueMode: boolean } | undefined>;
  /** Whether a queue-mode device is reachable now. */
  isAwake(endpoint: string): boolean;
  read(endpoint: string, path: string, timeout: number): Promise<DeviceAnswer>;
  /** Writes an Opaque value (a push to /5/0/0: block-wise when larger than a block). */
  writeOpaque(endpoint: string, path: string, bytes: Uint8Array, timeout: number): Promise<DeviceAnswer>;
  writeString(endpoint: string, path: string, text: string, timeout: number): Promise<DeviceAnswer>;
  execute(endpoint: string, path: string, timeout: number): Promise<DeviceAnswer>;
  /** Calls `listener` when a device registers, updates or wakes (queue mode); returns the unsubscribe. */
  onWake(listener: (endpoint: string) => void): () => void;
  /** Endpoints registered now. */
  endpoints(): Promise<string[]>;
  /**
   * Optional: observes `path` and calls `onChange` on each notification; resolves with the stop
   * function (undefined: the device refused the observation).
   */
  watch?(
    endpoint: string,
    path: string,
    onChange: () => void,
    timeout: number,
  ): Promise<(() => void) | undefined>;
}

function answer(r: {
  code: string;
  values: Readonly<Record<string, unknown>>;
  diagnostic?: string | undefined;
}): DeviceAnswer {
  return {
    code: r.code,
    values: r.values,
    ...(r.diagnostic === undefined ? {} : { diagnostic: r.diagnostic }),
  };
}

/** The gateway of a running LwM2mServer (its public API only). */
export function serverGateway(server: LwM2mServer): CampaignGateway {
  return {
    registration: (endpoint) => server.getRegistration(endpoint),
    isAwake: (endpoint) => server.isAwake(endpoint),
    read: async (endpoint, path, timeout) => answer(await server.read(endpoint, path, { timeout })),
    // Opaque (application/octet-stream) for one Opaque value: the server's block-wise layer sends a
    // body larger than a block in Block1 blocks (docs/firmware-client.md, Push).
    writeOpaque: async (endpoint, path, bytes, timeout) =>
      answer(await server.write(endpoint, path, Value.opaque(bytes), { format: 'opaque', timeout })),
    writeString: async (endpoint, path, text, timeout) =>
      answer(await server.write(endpoint, path, Value.string(text), { timeout })),
    execute: async (endpoint, path, timeout) =>
      answer(await server.execute(endpoint, path, undefined, { timeout })),
    onWake(listener) {
      const onReg = (reg: Registration): void => listener(reg.endpoint);
      server.on('registered', onReg);
      server.on('updated', onReg);
      server.on('awake', onReg);
      return () => {
        server.off('registered', onReg);
        server.off('updated', onReg);
        server.off('awake', onReg);
      };
    },
    endpoints: async () => (await server.registrations()).map((r) => r.endpoint),
    async watch(endpoint, path, onChange, timeout) {
      const observation = await server.observe(endpoint, path, { timeout });
      if (!observation.response.success) return undefined;
      observation.on('notification', () => onChange());
      // The proactive cancel is not waited for (in queue mode it waits for the next wake-up).
      return () => void observation.cancel({ timeout }).catch(() => undefined);
    },
  };
}
