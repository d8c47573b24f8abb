import { FakeClock } from '../../src/clock.js';
import type { Clock } from '../../src/clock.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import type { CoapResponse, IncomingRequest, OutgoingRequest } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode, parseCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, locationPath } from '../../src/coap/options.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../../src/server/lwm2m-server.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import type { Peer } from '../../src/transport/channel.js';

export const SERVER: Peer = { address: '10.0.0.1', port: 5683 };
const utf8 = new TextEncoder();

export type DeviceHandler = (request: IncomingRequest) => CoapResponse | Promise<CoapResponse>;

/** A raw CoAP device: sends what a test writes byte for byte and answers with `handler`. */
export class RawDevice {
  readonly endpoint: CoapEndpoint;
  readonly received: CoapMessage[] = [];
  handler: DeviceHandler = () => ({ code: CoapCode.NOT_FOUND });
  location: string[] = [];

  constructor(endpoint: CoapEndpoint) {
    this.endpoint = endpoint;
    endpoint.onRequest((request) => {
      this.received.push(request.message);
      return this.handler(request);
    });
  }

  request(
    code: number,
    path: string[],
    query: string[],
    payload?: string,
    contentFormat?: number,
  ): Promise<CoapMessage> {
    const b = new OptionsBuilder();
    for (const seg of path) b.string(OptionNumber.URI_PATH, seg);
    if (contentFormat !== undefined) b.uint(OptionNumber.CONTENT_FORMAT, contentFormat);
    for (const q of query) b.string(OptionNumber.URI_QUERY, q);
    const request: OutgoingRequest = {
      code,
      options: b.build(),
      ...(payload === undefined ? {} : { payload: utf8.encode(payload) }),
    };
    return this.endpoint.request(SERVER, request, { timeout: 5000 });
  }

  /** POST /rd with the query and link payload; remembers the Location for update/deregister. */
  async register(query: string[], links = '</1/0>,</3/0>'): Promise<CoapMessage> {
    const res = await this.request(CoapCode.POST, ['rd'], query, links, 40);
    if (res.code === CoapCode.CREATED) this.location = locationPath(res);
    return res;
  }

  update(query: string[] = [], links?: string): Promise<CoapMessage> {
    return this.request(CoapCode.POST, this.location, query, links, links === undefined ? undefined : 40);
  }

  deregister(): Promise<CoapMessage> {
    return this.request(CoapCode.DELETE, this.location, []);
  }
}

export interface Harness {
  readonly network: MemoryNetwork;
  readonly server: LwM2mServer;
  readonly device: RawDevice;
  readonly clock: Clock;
  /** A second device on another address. */
  newDevice(address: string): RawDevice;
  close(): Promise<void>;
}

/** A server and a raw device on an in-memory network. */
export async function startHarness(
  options: Partial<LwM2mServerOptions> = {},
  clock: Clock | undefined = undefined,
): Promise<Harness> {
  const network = new MemoryNetwork();
  const c = clock ?? new FakeClock(0);
  const server = new LwM2mServer({
    channel: network.channel(SERVER.address, SERVER.port),
    random: seededRandom(7),
    ...(clock ? { clock, now: () => clock.now() } : {}),
    requestTimeout: 5000,
    ...options,
  });
  await server.start();
  const endpoints: CoapEndpoint[] = [];
  const newDevice = (address: string): RawDevice => {
    const ep = new CoapEndpoint({
      channel: network.channel(address, 56830),
      random: seededRandom(endpoints.length + 11),
      ...(clock ? { clock } : {}),
    });
    endpoints.push(ep);
    return new RawDevice(ep);
  };
  const device = newDevice('10.0.0.2');
  // The system clock's timers are unref'd and a memory network holds no socket: keep the event
  // loop alive while the harness runs, as a real socket would.
  const keepAlive = setInterval(() => undefined, 1000);
  return {
    network,
    server,
    device,
    clock: c,
    newDevice,
    async close() {
      clearInterval(keepAlive);
      await server.stop();
      for (const ep of endpoints) await ep.close();
    },
  };
}

export const code = (m: CoapMessage): string => formatCode(m.code);
export const text = (m: CoapMessage): string => new TextDecoder().decode(m.payload);
export const coapCode = (c: string): number => parseCode(c)!;
