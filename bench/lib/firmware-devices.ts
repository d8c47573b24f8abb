// The devices of the firmware benchmark, run as a child process (the LwM2M server keeps its own
// process and core): real Petrel LwM2mClients with the `firmware` option, each on its own UDP
// socket, keeping images in a DigestFirmwareStore (size and SHA-256 only) and installing at once
// when the digest matches. It also runs the device side of the plain CoAP baselines. Driven over
// the IPC channel, one command at a time:
//   {cmd:'start', ...}      starts `devices` clients registering with `server`; replies when all are.
//   {cmd:'expect', ...}     the image installs are checked against from now on; replies with the
//                           installs (and digest mismatches) counted since the last 'expect'.
//   {cmd:'raw' | 'node-coap', ...}  a baseline transfer (bench/lib/firmware-baselines.ts).
//   {cmd:'cpu'}             this process's process.cpuUsage() (µs of user and system time) and rss.
//   {cmd:'stop'}            de-registers and stops the clients.
//   {cmd:'close'}           exits.
import type { StoredImage } from '../../src/client/firmware/firmware-store.js';
import type { InstallOutcome } from '../../src/client/firmware/firmware-update-instance.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { Address, TransferCommand } from './firmware-baselines.js';
import { deviceAddress, nodeCoapBlock2Fetch, rawBlock2Fetch } from './firmware-baselines.js';
import type { DigestedImage } from './firmware-digest-store.js';
import { DigestFirmwareStore } from './firmware-digest-store.js';

export interface ImageFacts {
  readonly size: number;
  readonly sha256: string;
}

export type DeviceCommand =
  | {
      readonly cmd: 'start';
      readonly server: Address;
      readonly devices: number;
      readonly prefix: string;
      /** Clients starting at once. */
      readonly inFlight: number;
    }
  | {
      readonly cmd: 'expect';
      readonly image: ImageFacts;
      /** The /3/0/3 Firmware Version a device reports after installing it. */
      readonly version: string;
    }
  | ({ readonly cmd: 'raw' | 'node-coap' } & TransferCommand)
  | { readonly cmd: 'cpu' }
  | { readonly cmd: 'stop' }
  | { readonly cmd: 'close' };

export interface StartReport {
  readonly registered: number;
  readonly elapsedMs: number;
}

export interface InstallCounts {
  readonly installs: number;
  readonly mismatches: number;
  readonly errors: number;
}

let clients: LwM2mClient[] = [];
let expected: (ImageFacts & { readonly version: string }) | undefined;
let counts = { installs: 0, mismatches: 0, errors: 0 };

function install(image: StoredImage): Promise<InstallOutcome> {
  const { size, sha256 } = image as DigestedImage;
  if (expected === undefined || size !== expected.size || sha256 !== expected.sha256) {
    counts.mismatches++;
    return Promise.resolve({
      ok: false,
      updateResult: 5,
      reason: `got ${size} bytes with SHA-256 ${sha256}, not the image sent`,
    });
  }
  counts.installs++;
  return Promise.resolve({ ok: true, version: expected.version });
}

function newClient(i: number, command: Extract<DeviceCommand, { cmd: 'start' }>): LwM2mClient {
  const client = new LwM2mClient({
    endpoint: `${command.prefix}${i}`,
    servers: [{ uri: `coap://${command.server.address}:${command.server.port}`, lifetime: 86_400 }],
    udp: { address: deviceAddress(i) },
    device: { firmwareVersion: '1.0.0' },
    firmware: {
      application: { store: new DigestFirmwareStore({ maxSize: 4 << 20 }), install },
    },
  });
  client.on('error', () => counts.errors++);
  return client;
}

async function start(command: Extract<DeviceCommand, { cmd: 'start' }>): Promise<StartReport> {
  const began = performance.now();
  let next = 0;
  let registered = 0;
  await Promise.all(
    Array.from({ length: command.inFlight }, async () => {
      while (next < command.devices) {
        const client = newClient(next++, command);
        clients.push(client);
        const done = new Promise<boolean>((resolve) => {
          client.once('registered', () => resolve(true));
          client.once('registration-failed', () => resolve(false));
        });
        await client.start();
        if (await done) registered++;
      }
    }),
  );
  return { registered, elapsedMs: performance.now() - began };
}

async function stop(): Promise<void> {
  const all = clients;
  clients = [];
  for (let i = 0; i < all.length; i += 100)
    await Promise.all(all.slice(i, i + 100).map((c) => c.stop().catch(() => undefined)));
}

async function handle(command: DeviceCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'start':
      return start(command);
    case 'expect': {
      const before: InstallCounts = counts;
      counts = { installs: 0, mismatches: 0, errors: 0 };
      expected = { ...command.image, version: command.version };
      return before;
    }
    case 'raw':
      return rawBlock2Fetch(command);
    case 'node-coap':
      return nodeCoapBlock2Fetch(command);
    case 'cpu':
      return { ...process.cpuUsage(), rss: process.memoryUsage().rss };
    case 'stop':
      await stop();
      return { stopped: true };
    case 'close':
      await stop();
      process.send!({ closed: true }, () => process.exit(0));
      return undefined;
  }
}

process.on('message', (command: DeviceCommand) => {
  handle(command).then(
    (reply) => {
      if (reply !== undefined) process.send!(reply);
    },
    (e: unknown) => process.send!({ error: String(e instanceof Error ? e.stack : e) }),
  );
});
process.send!({ ready: true });
