// A notification whose payload does not decode (docs/server.md, Events): the server's `error`
// event gets a NotificationDecodeError naming the device and the path, the notification is
// dropped, the observation goes on and the next good notification is delivered.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BindingError } from '../../src/binding/binding.js';
import { FakeClock } from '../../src/clock.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder } from '../../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../src/coap/udp-codec.js';
import { seededRandom } from '../../src/random.js';
import { NotificationDecodeError } from '../../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../../src/server/lwm2m-server.js';
import type { ObservationEndReason } from '../../src/server/observation.js';
import { settle } from '../support/coap-driver.js';
import { RawDevice, SERVER, startHarness } from './server-harness.js';

const utf8 = new TextEncoder();
const TEXT = 0;
const SENML_CBOR = 112;
/** Not SenML CBOR: a map header announcing 20 pairs that never come, then a break. */
const GARBAGE = new Uint8Array([0xb4, 0x21, 0xff, 0x00]);

async function run(options: Partial<LwM2mServerOptions>): Promise<void> {
  const clock = new FakeClock(0);
  const h = await startHarness(options, clock);
  const channel = h.network.channel('10.0.0.12', 56830);
  const inbox: CoapMessage[] = [];
  channel.onReceive((_peer, bytes) => inbox.push(decodeCoapUdp(bytes)));
  const endpoint = new CoapEndpoint({ channel, clock, random: seededRandom(3) });
  try {
    const device = new RawDevice(endpoint);
    assert.equal((await device.register(['ep=dev-bad', 'lt=300', 'lwm2m=1.2'])).code, CoapCode.CREATED);
    device.handler = () => ({
      code: CoapCode.CONTENT,
      options: new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, TEXT).build(),
      payload: utf8.encode('50'),
      observe: () => undefined,
    });
    const errors: Error[] = [];
    h.server.on('error', (e) => errors.push(e));
    const observation = await h.server.observe('dev-bad', '/3/0/9');
    const ended: ObservationEndReason[] = [];
    observation.on('end', (reason) => ended.push(reason));
    const delivered: unknown[] = [];
    observation.on('notification', (n) => delivered.push(n.result.values['/3/0/9']));
    const token = device.received.at(-1)!.token;
    const notify = (seq: number, messageId: number, format: number, payload: Uint8Array): void =>
      channel.send(
        SERVER,
        encodeCoapUdp({
          type: 'CON',
          code: CoapCode.CONTENT,
          messageId,
          token,
          options: new OptionsBuilder()
            .uint(OptionNumber.OBSERVE, 0x2000 + seq)
            .uint(OptionNumber.CONTENT_FORMAT, format)
            .build(),
          payload,
        }),
      );

    notify(1, 41_001, SENML_CBOR, GARBAGE);
    await settle(10);
    assert.equal(errors.length, 1, errors.map((e) => e.message).join('; '));
    const error = errors[0]!;
    assert.ok(error instanceof NotificationDecodeError, String(error));
    assert.equal(error.code, 'PETREL_ERR_NOTIFICATION_DECODE');
    assert.equal(error.endpoint, 'dev-bad');
    assert.deepEqual(
      error.paths.map((p) => p.toString()),
      ['/3/0/9'],
    );
    assert.match(error.message, /^a notification from dev-bad on \/3\/0\/9 could not be decoded/);
    assert.ok(error.cause instanceof BindingError && error.cause.reason === 'decode', String(error.cause));
    assert.deepEqual(delivered, [], 'nothing delivered');
    assert.ok(
      inbox.some((m) => m.type === 'ACK' && m.messageId === 41_001),
      'the CON notification is acknowledged all the same',
    );
    assert.equal(observation.active, true, 'the observation stays');
    assert.deepEqual(ended, []);

    notify(2, 41_002, TEXT, utf8.encode('42'));
    await settle(10);
    assert.deepEqual(delivered, [42], 'the next good notification is delivered');
    assert.equal(errors.length, 1, 'no further error');
    assert.ok(!inbox.some((m) => m.type === 'RST'), 'no notification was refused');
  } finally {
    await h.close();
    await endpoint.close();
  }
}

describe('LwM2mServer and an undecodable notification', () => {
  it('reports it on `error` with the endpoint and path, keeps the observation, delivers the next one', () =>
    run({}));

  it('does the same behind the notification rate limit', () => run({ notificationRateLimit: { rate: 10 } }));
});
