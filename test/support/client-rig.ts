// Our LwM2mClient against our LwM2mServer on an in-memory network, for the client's end-to-end
// suites: one place that builds the tree (core objects, /3303 Temperature, TEST_OBJECT with every
// data type), starts both sides, and reads the client's tree in the JSON convention the server's
// results use, so a server result and the client's state compare with one deepEqual.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { FakeClock } from '../../src/clock.js';
import { MemoryInstance } from '../../src/client/instance.js';
import type { ExecuteArgumentInput } from '../../src/client/instance.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { LwM2mClientOptions } from '../../src/client/lwm2m-client.js';
import { INT64_MIN, UINT64_MAX, Value } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import { recordsToJson } from '../../src/model/records-json.js';
import type { RecordsJson } from '../../src/model/records-json.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { drive } from './coap-driver.js';
import { TEMPERATURE_DEFINITION } from './model-device.js';
import { TEST_OBJECT, TEST_OBJECT_DEFINITION } from './test-model.js';

/** Core objects, /3303 and TEST_OBJECT: what both sides know. */
export const rigModel = createDefaultRegistry().add(TEMPERATURE_DEFINITION).add(TEST_OBJECT_DEFINITION);

export const RIG_ENDPOINT = 'petrel-rig';
export const SERVER_ADDRESS = '10.0.0.1';
export const SECOND_SERVER_ADDRESS = '10.0.0.3';
export const CLIENT_ADDRESS = '10.0.0.2';

/** One Execute the application saw. */
export interface ExecuteCall {
  readonly path: string;
  readonly args: readonly ExecuteArgumentInput[];
}

/**
 * The application instances of the rig: /3303/0 (5700 = 21.5, 5701 = 'Cel', 5605 executable),
 * TEST_OBJECT /0 (opaque 3, string 5, multiple string 15 = Red, Green; 9 executable) and /1 (one
 * value of every type, the 64-bit ones at their limits).
 */
export function rigInstances(executed: ExecuteCall[]): {
  temperature: MemoryInstance;
  test0: MemoryInstance;
  test1: MemoryInstance;
} {
  const record =
    (path: string) =>
    (args: readonly ExecuteArgumentInput[]): void => {
      executed.push({ path, args: [...args] });
    };
  const temperature = new MemoryInstance(TEMPERATURE_DEFINITION, 3303, 0)
    .set(5700, 21.5)
    .set(5701, 'Cel')
    .onExecute(5605, record('/3303/0/5605'));
  const test0 = new MemoryInstance(TEST_OBJECT_DEFINITION, TEST_OBJECT, 0)
    .set(3, Uint8Array.of(0xca, 0xfe))
    .set(5, 'hello')
    .set(15, ['Red', 'Green'])
    .onExecute(9, record(`/${TEST_OBJECT}/0/9`));
  const test1 = new MemoryInstance(TEST_OBJECT_DEFINITION, TEST_OBJECT, 1)
    .set(0, Value.float(-1.5e300))
    .set(1, Value.objlnk(3, 0))
    .set(2, true)
    .set(4, Value.unsigned(UINT64_MAX))
    .set(5, 'every type')
    .set(6, Value.integer(INT64_MIN))
    .set(7, Value.time(4_102_444_800))
    .set(8, Value.corelnk('</3/0>'));
  return { temperature, test0, test1 };
}

export interface ClientRigOptions {
  readonly client?: Partial<LwM2mClientOptions>;
  readonly server?: Partial<LwM2mServerOptions>;
  /** Time for both sides; with it, `start` drives the fake clock until the client registered. */
  readonly clock?: FakeClock;
  readonly endpoint?: string;
  /** Leave the client stopped (the test starts it). */
  readonly noStart?: boolean;
}

export interface ClientRig {
  readonly network: MemoryNetwork;
  readonly server: LwM2mServer;
  readonly client: LwM2mClient;
  readonly ep: string;
  readonly clock: FakeClock | undefined;
  readonly executed: ExecuteCall[];
  readonly temperature: MemoryInstance;
  readonly test0: MemoryInstance;
  readonly test1: MemoryInstance;
  /** The server's registration, once started. */
  reg: Registration | undefined;
  /** Starts the client; resolves once both sides consider it registered. */
  readonly start: () => Promise<Registration>;
  /** The client's tree at `path` (what the application sees), in the JSON convention. */
  readonly values: (path?: string) => RecordsJson;
  readonly close: () => Promise<void>;
}

/** A started server and (unless `noStart`) a registered client. Close it in `finally`. */
export async function clientRig(options: ClientRigOptions = {}): Promise<ClientRig> {
  const network = new MemoryNetwork();
  const clock = options.clock;
  const timing = clock ? { clock, now: () => clock.now() } : {};
  const server = new LwM2mServer({
    channel: network.channel(SERVER_ADDRESS, 5683),
    model: rigModel,
    random: seededRandom(5),
    requestTimeout: 3000,
    ...timing,
    ...options.server,
  });
  await server.start();
  const executed: ExecuteCall[] = [];
  const { temperature, test0, test1 } = rigInstances(executed);
  const ep = options.endpoint ?? RIG_ENDPOINT;
  const client = new LwM2mClient({
    endpoint: ep,
    servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 300 }],
    model: rigModel,
    channel: network.channel(CLIENT_ADDRESS, 56830),
    random: seededRandom(9),
    device: { manufacturer: 'Petrel', modelNumber: 'sim-1', now: () => 1_700_000_000 },
    instances: [temperature, test0, test1],
    ...timing,
    ...options.client,
  });
  // Timers of the system clock are unref'd and a memory network holds no socket.
  const keepAlive = setInterval(() => undefined, 1000);
  const rig: ClientRig = {
    network,
    server,
    client,
    ep,
    clock,
    executed,
    temperature,
    test0,
    test1,
    reg: undefined,
    start: async () => {
      const serverSide = once(server, 'registered') as Promise<[Registration]>;
      if (clock) {
        let reg: Registration | undefined;
        void serverSide.then(([r]) => (reg = r));
        await client.start();
        await drive(clock, () => reg !== undefined && client.status(1)?.state === 'registered', { network });
        assert.ok(reg, 'the client registered');
        rig.reg = reg;
        return reg;
      }
      const clientSide = once(client, 'registered');
      await client.start();
      await clientSide;
      rig.reg = (await serverSide)[0];
      return rig.reg;
    },
    values: (path = '/') => {
      return recordsToJson(client.read(LwM2mPath.parse(path)));
    },
    close: async () => {
      clearInterval(keepAlive);
      await client.stop().catch(() => undefined);
      await server.stop();
    },
  };
  if (!options.noStart) {
    try {
      await rig.start();
    } catch (e) {
      await rig.close();
      throw e;
    }
  }
  return rig;
}

/** Runs `body` with a rig and closes it whatever happens. */
export async function withClientRig(
  options: ClientRigOptions,
  body: (rig: ClientRig) => Promise<void>,
): Promise<void> {
  const rig = await clientRig(options);
  try {
    await body(rig);
  } finally {
    await rig.close();
  }
}
