// Findings of the client review (see the review report), each as the behaviour the spec or the
// robustness rules ask for. They run the client against a raw CoAP server on a MemoryNetwork with a
// fake clock, so each scenario controls exactly what the server answers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import type { ServerConfig } from '../../src/client/lwm2m-client.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import type { CoapResponse, IncomingRequest } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, contentFormat, uriPath } from '../../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../src/coap/udp-codec.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import { seededRandom } from '../../src/random.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import type { MemoryChannel } from '../../src/transport/memory-channel.js';
import { rigInstances, rigModel } from '../support/client-rig.js';
import { settle } from '../support/coap-driver.js';

const CLIENT = { address: '10.0.0.2', port: 56830 };
const codecs = createCodecRegistry();

type Answer = (request: IncomingRequest) => CoapResponse | undefined;

/** Answers Register 2.01 (/rd/r1), Update 2.04, De-register 2.02, unless `answer` says otherwise. */
const registrar =
  (answer: Answer = () => undefined): ((request: IncomingRequest) => CoapResponse) =>
  (request) => {
    const own = answer(request);
    if (own) return own;
    const path = uriPath(request.message).join('/');
    if (request.message.code === CoapCode.POST && path === 'rd')
      return {
        code: CoapCode.CREATED,
        options: new OptionsBuilder().strings(OptionNumber.LOCATION_PATH, ['rd', 'r1']).build(),
      };
    if (request.message.code === CoapCode.POST) return { code: CoapCode.CHANGED };
    if (request.message.code === CoapCode.DELETE) return { code: CoapCode.DELETED };
    return { code: CoapCode.NOT_FOUND };
  };

/** A raw CoAP server at `address`:5683 whose inbox shows everything the client sent it. */
class RawServer {
  readonly channel: MemoryChannel;
  readonly endpoint: CoapEndpoint;
  readonly inbox: CoapMessage[] = [];
  readonly requests: CoapMessage[] = [];
  answer: Answer = () => undefined;

  constructor(network: MemoryNetwork, clock: FakeClock, address: string) {
    this.channel = network.channel(address, 5683);
    this.endpoint = new CoapEndpoint({ channel: this.channel, clock, random: seededRandom(4) });
    this.endpoint.onRequest((request) => {
      this.requests.push(request.message);
      return registrar((r) => this.answer(r))(request);
    });
    this.channel.onReceive((_peer, bytes) => this.inbox.push(decodeCoapUdp(bytes)));
  }
}

class Scene {
  readonly network = new MemoryNetwork();
  readonly clock = new FakeClock(1_000_000);
  readonly server: RawServer;
  readonly client: LwM2mClient;
  readonly errors: Error[] = [];
  #mid = 100;

  constructor(server: Partial<ServerConfig> = {}, address = '10.0.0.1') {
    this.server = new RawServer(this.network, this.clock, address);
    const { temperature, test0, test1 } = rigInstances([]);
    this.client = new LwM2mClient({
      endpoint: 'petrel-review',
      servers: [{ uri: `coap://${address}:5683`, lifetime: 3600, ...server }],
      model: rigModel,
      channel: this.network.channel(CLIENT.address, CLIENT.port),
      clock: this.clock,
      now: () => this.clock.now(),
      random: seededRandom(9),
      device: { manufacturer: 'Petrel', modelNumber: 'review-1', now: () => 1_700_000_000 },
      instances: [temperature, test0, test1],
    });
    this.client.on('error', (e) => this.errors.push(e));
  }

  static async registered(server: Partial<ServerConfig> = {}): Promise<Scene> {
    const s = new Scene(server);
    await s.client.start();
    await s.run(() => s.client.status(1)?.state === 'registered', 60_000);
    assert.equal(s.client.status(1)?.state, 'registered');
    return s;
  }

  async run(done: () => boolean, maxMs: number): Promise<void> {
    const end = this.clock.now() + maxMs;
    while (!done() && this.clock.now() <= end) {
      await settle(2);
      if (done() || this.network.pending > 0) continue;
      this.clock.advance(100);
    }
    await settle(3);
  }

  /** Sends a CON request from the server's address; resolves with the client's answer. */
  async request(
    code: number,
    path: string,
    options: {
      observe?: number;
      format?: number;
      query?: string[];
      payload?: string;
      token?: Uint8Array;
    } = {},
  ): Promise<CoapMessage | undefined> {
    const mid = this.#mid++;
    const opts = new OptionsBuilder();
    if (options.observe !== undefined) opts.uint(OptionNumber.OBSERVE, options.observe);
    opts.uriPath(path === '/' ? [] : path.slice(1).split('/'));
    if (options.format !== undefined) opts.uint(OptionNumber.CONTENT_FORMAT, options.format);
    if (options.query) opts.uriQuery(options.query);
    const token = options.token ?? Uint8Array.of(0x5e, mid & 0xff);
    const from = this.server.inbox.length;
    this.server.channel.send(
      CLIENT,
      encodeCoapUdp({
        type: 'CON',
        code,
        messageId: mid,
        token,
        options: opts.build(),
        payload: new TextEncoder().encode(options.payload ?? ''),
      }),
    );
    const answer = (): CoapMessage | undefined =>
      this.server.inbox
        .slice(from)
        .find((m) => m.messageId === mid && (m.type === 'ACK' || m.type === 'RST'));
    await this.run(() => answer() !== undefined, 5000);
    return answer();
  }

  /** Notifications (2.05 outside an ACK) the server received since `from`. */
  notifications(from: number): CoapMessage[] {
    return this.server.inbox.slice(from).filter((m) => m.type !== 'ACK' && m.code === CoapCode.CONTENT);
  }

  async close(): Promise<void> {
    const stopping = this.client.stop().catch(() => undefined);
    await this.run(() => this.network.pending === 0, 10_000);
    this.clock.advance(300_000);
    await settle(5);
    await stopping;
    await this.server.endpoint.close();
  }
}

describe('client review findings', () => {
  it('F1: an Observe-Composite with an empty path list is refused, not an uncaught exception', async () => {
    const caught: unknown[] = [];
    const onError = (e: unknown): void => void caught.push(e);
    process.on('uncaughtException', onError);
    const s = await Scene.registered();
    try {
      const answer = await s.request(CoapCode.FETCH, '/', { observe: 0, format: 110, payload: '[]' });
      assert.ok(answer, 'answered');
      await s.run(() => false, 500);
      assert.deepEqual(caught.map(String), [], 'no uncaught exception');
      assert.equal(formatCode(answer.code), '4.00', 'an observation needs a path (Core §6.4.1)');
      assert.equal(s.client.notifications.size, 0);
    } finally {
      await s.close();
      process.off('uncaughtException', onError);
    }
  });

  it('F2: observations end when the client de-registers, whatever the De-register got back', async () => {
    const s = await Scene.registered();
    try {
      const observe = await s.request(CoapCode.GET, '/3303/0/5700', { observe: 0 });
      assert.equal(formatCode(observe!.code), '2.05');
      assert.equal(s.client.notifications.size, 1);
      // The server has lost the registration already: De-register gets 4.04.
      s.server.answer = (r) =>
        r.message.code === CoapCode.DELETE ? { code: CoapCode.NOT_FOUND } : undefined;
      await s.client.deregister(1).catch(() => undefined);
      await s.run(() => s.network.pending === 0, 2000);
      assert.equal(s.client.status(1)?.state, 'idle');
      const from = s.server.inbox.length;
      s.client.set('/3303/0/5700', 30.5);
      await s.run(() => s.network.pending === 0, 2000);
      assert.deepEqual(s.notifications(from), [], 'no notification to a server we de-registered from');
      assert.equal(
        s.client.notifications.size,
        0,
        'Observations are void after De-register (LWM2M-1.2.md §1.4)',
      );
    } finally {
      await s.close();
    }
  });

  it('F2b: Disable with an unanswered De-register leaves the client silent', async () => {
    const s = await Scene.registered({ values: { 5: 600 } });
    try {
      await s.request(CoapCode.GET, '/3303/0/5700', { observe: 0 });
      assert.equal(s.client.notifications.size, 1);
      s.server.answer = (r) =>
        r.message.code === CoapCode.DELETE ? { code: CoapCode.NOT_FOUND } : undefined;
      const exec = await s.request(CoapCode.POST, '/1/0/4');
      assert.equal(formatCode(exec!.code), '2.04');
      await s.run(() => s.client.status(1)?.state === 'disabled', 5000);
      assert.equal(s.client.status(1)?.state, 'disabled');
      const from = s.server.inbox.length;
      s.client.set('/3303/0/5700', 31.5);
      await s.run(() => s.network.pending === 0, 2000);
      assert.deepEqual(s.notifications(from), [], 'Disable: the client stays silent for /1/x/5 seconds');
    } finally {
      await s.close();
    }
  });

  it('F3: observations are void after a re-Register (Update answered 4.04)', async () => {
    const s = await Scene.registered();
    try {
      await s.request(CoapCode.GET, '/3303/0/5700', { observe: 0 });
      assert.equal(s.client.notifications.size, 1);
      s.server.answer = (r) =>
        r.message.code === CoapCode.POST && uriPath(r.message).join('/') === 'rd/r1'
          ? { code: CoapCode.NOT_FOUND }
          : undefined;
      const registers = s.server.requests.length;
      await s.client.update(1).catch(() => undefined);
      await s.run(
        () =>
          s.server.requests.slice(registers).some((m) => uriPath(m).join('/') === 'rd') &&
          s.client.status(1)?.state === 'registered',
        10_000,
      );
      assert.equal(s.client.status(1)?.state, 'registered', 'registered again');
      assert.equal(
        s.client.notifications.size,
        0,
        'Observations are void after re-Register (LWM2M-1.2.md §1.4)',
      );
    } finally {
      await s.close();
    }
  });

  it('F4: /1/x/6 Notification Storing = false discards notifications while offline', async () => {
    const s = await Scene.registered({ queueMode: true, values: { 6: false } });
    try {
      const observe = await s.request(CoapCode.GET, '/3303/0/5700', { observe: 0, query: ['hqmax=5'] });
      assert.equal(formatCode(observe!.code), '2.05');
      s.client.sleep();
      for (const v of [40.5, 41.5, 42.5]) {
        s.client.set('/3303/0/5700', v);
        s.clock.advance(1000);
        await settle(2);
      }
      const from = s.server.inbox.length;
      await s.client.wake();
      await s.run(() => s.network.pending === 0, 2000);
      const timed = s.notifications(from).filter((m) => {
        const format = contentFormat(m);
        if (format !== 110 && format !== 112) return false;
        const records = codecs.decode(format, m.payload, { path: LwM2mPath.ROOT, model: rigModel });
        return records.some((r) => r.time !== undefined);
      });
      assert.deepEqual(timed, [], 'no stored (timed) notifications: /1/x/6 is false');
    } finally {
      await s.close();
    }
  });

  it('F5: a new Server URI in /0 (same port) moves the registration to the new server', async () => {
    const s = await Scene.registered();
    const next = new RawServer(s.network, s.clock, '10.0.0.5');
    try {
      s.client.tree.write(
        LwM2mPath.of(0, 0, 0),
        [{ path: LwM2mPath.of(0, 0, 0), value: Value.string('coap://10.0.0.5:5683') }],
        'replace',
        { bootstrap: true },
      );
      await s.run(() => next.requests.length > 0, 10_000);
      assert.ok(
        next.requests.some((m) => uriPath(m).join('/') === 'rd'),
        'the Register goes to the new URI (the old peer is cached by port only, and /0 writes are not followed)',
      );
    } finally {
      await s.close();
      await next.endpoint.close();
    }
  });

  it('F6: requests that overtake the registration do not pile up listeners', async () => {
    const s = new Scene();
    // The server sits on the Register: the client stays 'registering'.
    s.server.answer = (r) =>
      uriPath(r.message).join('/') === 'rd' ? (new Promise(() => undefined) as never) : undefined;
    try {
      await s.client.start();
      await s.run(() => s.client.status(1)?.state === 'registering', 1000);
      const baseline = s.client.registration.listenerCount('state');
      for (let i = 0; i < 40; i++)
        s.server.channel.send(
          CLIENT,
          encodeCoapUdp({
            type: 'NON',
            code: CoapCode.GET,
            messageId: 500 + i,
            token: Uint8Array.of(i),
            options: new OptionsBuilder().uriPath(['3', '0']).build(),
            payload: new Uint8Array(0),
          }),
        );
      await settle(10);
      assert.ok(
        s.client.registration.listenerCount('state') <= baseline + 1,
        `${s.client.registration.listenerCount('state') - baseline} 'state' listeners for 40 early requests`,
      );
    } finally {
      await s.close();
    }
  });

  it('F7: Registration Update Trigger with a binding the account lacks still Updates, or is refused', async () => {
    const s = await Scene.registered();
    try {
      const from = s.server.requests.length;
      const exec = await s.request(CoapCode.POST, '/1/0/8', { format: 0, payload: "0='T'" });
      await s.run(() => s.server.requests.length > from, 3000);
      const updated = s.server.requests.slice(from).some((m) => uriPath(m).join('/') === 'rd/r1');
      assert.ok(
        formatCode(exec!.code) === '4.00' || updated,
        `answered ${formatCode(exec!.code)} and ${updated ? 'sent' : 'sent no'} Update (/1/x/8: the client MUST send an Update)`,
      );
      assert.deepEqual(s.errors.map(String), [], 'no error event for a server-side mistake');
    } finally {
      await s.close();
    }
  });
});
