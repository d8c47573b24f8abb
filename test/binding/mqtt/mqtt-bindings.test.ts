import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectAsync, type MqttClient } from 'mqtt';
import type {
  DownlinkAnswer,
  DownlinkTarget,
  NotificationSink,
  ObservationEndReason,
  UplinkRefusal,
} from '../../../src/binding/binding.js';
import { BindingError } from '../../../src/binding/binding.js';
import {
  decodeUplinkRequest as coapDecodeUplink,
  encodeUplinkRequest as coapEncodeUplink,
} from '../../../src/binding/coap/uplink-codec.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../../src/binding/mqtt/embedded-broker.js';
import { MqttClientBinding } from '../../../src/binding/mqtt/mqtt-client-binding.js';
import {
  decodeMqttMessage,
  encodeMqttMessage,
  tokenHex,
} from '../../../src/binding/mqtt/mqtt-message-map.js';
import { MqttNotApplicableError } from '../../../src/binding/mqtt/mqtt-not-applicable.js';
import { MqttServerBinding } from '../../../src/binding/mqtt/mqtt-server-binding.js';
import type { CoapMessage } from '../../../src/coap/message.js';
import { createCodecRegistry } from '../../../src/content/codec-registry.js';
import { Value } from '../../../src/model/data-types.js';
import { deviceModel } from '../../support/model-device.js';
import { LwM2mPath } from '../../../src/model/path.js';
import type { LwM2mRecord } from '../../../src/model/records.js';
import { parseRegistrationPayload } from '../../../src/model/registration-payload.js';
import type {
  DownlinkRequest,
  Notification,
  RegisterRequest,
  UplinkRequest,
  UplinkResponse,
} from '../../../src/operations/requests.js';

const codecs = createCodecRegistry();
const model = deviceModel;
const PREFIX = 'petrel-test';
const EP = 'dev-mqtt-1';
const p = (text: string): LwM2mPath => LwM2mPath.parse(text);

/** The device's values, by path text. */
const VALUES: LwM2mRecord[] = [
  { path: p('/3/0/0'), value: Value.string('Petrel') },
  { path: p('/3/0/9'), value: Value.integer(87) },
  { path: p('/3303/0/5700'), value: Value.float(21.5) },
];
const recordsAt = (path: LwM2mPath): LwM2mRecord[] => VALUES.filter((r) => path.covers(r.path));

const REGISTER: RegisterRequest = {
  kind: 'register',
  endpoint: EP,
  lifetime: 300,
  lwm2mVersion: '1.2',
  binding: 'M',
  queueMode: true,
  sms: undefined,
  profileIds: [],
  objects: parseRegistrationPayload('</>;rt="oma.lwm2m";ct="112 11544",</1/0>,</3/0>,</3303/0>'),
  extraParameters: new Map(),
};

/** The typed request the CoAP binding gives for the same Register (encode then decode). */
function viaCoap(request: UplinkRequest): UplinkRequest {
  const out = coapEncodeUplink(request, { codecs, model });
  const message: CoapMessage = {
    type: 'CON',
    code: out.code,
    messageId: 1,
    token: new Uint8Array(0),
    options: out.options ?? [],
    payload: out.payload ?? new Uint8Array(0),
  };
  return coapDecodeUplink(message, { codecs, model });
}

describe('MQTT server and client bindings over an embedded broker', () => {
  let broker: EmbeddedBroker;
  let server: MqttServerBinding;
  let bootstrapServer: MqttServerBinding;
  let client: MqttClientBinding;
  let raw: MqttClient;
  const uplinks: UplinkRequest[] = [];
  const refusals: UplinkRefusal[] = [];
  const activity: string[] = [];
  const downlinks: DownlinkRequest[] = [];
  const sinks: NotificationSink[] = [];
  const sinkEnds: ObservationEndReason[] = [];
  let target: DownlinkTarget;

  before(async () => {
    broker = await startEmbeddedBroker();
    server = await MqttServerBinding.start({
      url: broker.url,
      prefix: PREFIX,
      codecs,
      model,
      requestTimeout: 3000,
    });
    bootstrapServer = await MqttServerBinding.start({
      url: broker.url,
      prefix: PREFIX,
      iface: 'bs',
      codecs,
      model,
      requestTimeout: 3000,
    });
    client = await MqttClientBinding.start({ url: broker.url, prefix: PREFIX, endpoint: EP, codecs, model });
    raw = await connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    server.onActivity((peer) => activity.push(peer.address));
    server.onRefused((r) => refusals.push(r));
    server.onUplink((request) =>
      Promise.resolve(
        ((): UplinkResponse => {
          uplinks.push(request);
          switch (request.kind) {
            case 'register':
              return { code: '2.01', registrationId: 'reg-42' };
            case 'update':
              return { code: '2.04' };
            case 'deregister':
              return { code: '2.02' };
            case 'send':
              return { code: '2.04' };
            default:
              return { code: '4.00', diagnostic: 'not here' };
          }
        })(),
      ),
    );
    bootstrapServer.onUplink((request) =>
      Promise.resolve(
        ((): UplinkResponse => {
          uplinks.push(request);
          return request.kind === 'bootstrap-request' ? { code: '2.04' } : { code: '4.00' };
        })(),
      ),
    );
    client.onDownlink((request) =>
      Promise.resolve(
        ((): DownlinkAnswer => {
          downlinks.push(request);
          switch (request.kind) {
            case 'read':
            case 'cancel-observation':
            case 'bootstrap-read':
              return { response: { code: '2.05', records: recordsAt(request.path) } };
            case 'read-composite':
            case 'cancel-observation-composite':
              return { response: { code: '2.05', records: request.paths.flatMap(recordsAt) } };
            case 'discover':
              return {
                response: {
                  code: '2.05',
                  links: [
                    { target: '/3/0', params: [] },
                    { target: '/3/0/0', params: [] },
                  ],
                },
              };
            case 'create':
              return { response: { code: '2.01', location: request.path.append(7) } };
            case 'delete':
            case 'bootstrap-delete':
              return { response: { code: '2.02' } };
            case 'observe':
            case 'observe-composite': {
              const records =
                request.kind === 'observe' ? recordsAt(request.path) : request.paths.flatMap(recordsAt);
              return {
                response: { code: '2.05', records },
                observe: (sink) => {
                  sinks.push(sink);
                  sink.onEnd((reason) => sinkEnds.push(reason));
                },
              };
            }
            case 'execute':
              return request.path.equals(p('/3/0/4'))
                ? { response: { code: '2.04' } }
                : { response: { code: '4.05' } };
            default:
              return { response: { code: '2.04' } };
          }
        })(),
      ),
    );
    target = {
      peer: server.peerFor(EP)!,
      lwm2mVersion: '1.2',
      contentFormats: [112, 11544],
      alternatePath: undefined,
      objectVersions: new Map(),
    };
  });

  after(async () => {
    await client.close();
    await server.close();
    await bootstrapServer.close();
    await raw.endAsync();
    await broker.close();
  });

  it('Register reaches the server as the same typed request the CoAP binding gives', async () => {
    const response = await client.sendUplink({ peer: client.peer(), lwm2mVersion: '1.2' }, REGISTER, {
      timeout: 3000,
    });
    assert.equal(response.code, '2.01');
    assert.equal(response.registrationId, 'reg-42');
    const seen = uplinks.at(-1);
    assert.deepEqual(seen, viaCoap(REGISTER));
    assert.equal(activity.at(-1), `${PREFIX}/lwm2m/rd/${EP}`);
  });

  it('Update and Send carry the registration id and the values', async () => {
    const update = await client.sendUplink(
      { peer: client.peer(), lwm2mVersion: '1.2' },
      { kind: 'update', registrationId: 'reg-42', lifetime: 600 },
    );
    assert.equal(update.code, '2.04');
    assert.deepEqual(uplinks.at(-1), { kind: 'update', registrationId: 'reg-42', lifetime: 600 });
    const send = await client.sendUplink(
      { peer: client.peer(), lwm2mVersion: '1.2' },
      { kind: 'send', format: 112, records: VALUES },
    );
    assert.equal(send.code, '2.04');
    const seen = uplinks.at(-1);
    assert.equal(seen?.kind, 'send');
    assert.deepEqual(seen.kind === 'send' ? seen.records.map((r) => r.path.toString()) : [], [
      '/3/0/0',
      '/3/0/9',
      '/3303/0/5700',
    ]);
  });

  it('Read, Discover, Write, Execute, Create, Delete and Write-Attributes round-trip', async () => {
    const read = await server.send(target, { kind: 'read', path: p('/3/0/0') });
    assert.equal(read.code, '2.05');
    assert.equal(read.format, 0); // one value at a single resource: text/plain, as over CoAP
    assert.deepEqual(read.records, [VALUES[0]]);

    const instance = await server.send(target, { kind: 'read', path: p('/3/0'), accept: 11544 });
    assert.equal(instance.format, 11544);
    assert.deepEqual(
      instance.records?.map((r) => r.path.toString()),
      ['/3/0/0', '/3/0/9'],
    );

    const discover = await server.send(target, { kind: 'discover', path: p('/3'), depth: 2 });
    assert.deepEqual(
      discover.links?.map((l) => l.target),
      ['/3/0', '/3/0/0'],
    );
    assert.deepEqual(downlinks.at(-1), { kind: 'discover', path: p('/3'), depth: 2 });

    const write = await server.send(target, {
      kind: 'write',
      path: p('/3/0'),
      mode: 'update',
      records: [{ path: p('/3/0/14'), value: Value.string('+02:00') }],
    });
    assert.equal(write.code, '2.04');
    const seenWrite = downlinks.at(-1);
    assert.equal(seenWrite?.kind, 'write');
    assert.equal(seenWrite.kind === 'write' && seenWrite.mode, 'update');
    assert.equal(seenWrite.kind === 'write' && seenWrite.format, 11544); // 1.2 peer announcing 11544

    const execute = await server.send(target, {
      kind: 'execute',
      path: p('/3/0/4'),
      arguments: [{ digit: 0, value: 'now' }],
    });
    assert.equal(execute.code, '2.04');
    assert.deepEqual(downlinks.at(-1), {
      kind: 'execute',
      path: p('/3/0/4'),
      arguments: [{ digit: 0, value: 'now' }],
    });
    assert.equal((await server.send(target, { kind: 'execute', path: p('/3/0/9') })).code, '4.05');

    const create = await server.send(target, {
      kind: 'create',
      path: p('/3303'),
      instance: { instanceId: undefined, resources: [{ path: p('/5700'), value: Value.float(1.5) }] },
    });
    assert.equal(create.code, '2.01');
    assert.deepEqual(create.location, p('/3303/7'));

    assert.equal((await server.send(target, { kind: 'delete', path: p('/3303/7') })).code, '2.02');

    const attrs = await server.send(target, {
      kind: 'write-attributes',
      path: p('/3303/0/5700'),
      attributes: { pmin: 5, pmax: null, gt: 30.5, st: 0.5, edge: 1 },
    });
    assert.equal(attrs.code, '2.04');
    assert.deepEqual(downlinks.at(-1), {
      kind: 'write-attributes',
      path: p('/3303/0/5700'),
      attributes: { pmin: 5, pmax: null, gt: 30.5, st: 0.5, edge: 1 },
    });
  });

  it('refuses attributes the map has no key for, before publishing', async () => {
    const before = downlinks.length;
    await assert.rejects(
      server.send(target, { kind: 'write-attributes', path: p('/3303/0/5700'), attributes: { lt: 3 } }),
      (e: unknown) => e instanceof MqttNotApplicableError && e.feature === 'lt' && e.resultCode === '4.00',
    );
    await assert.rejects(
      server.observe(
        target,
        { kind: 'observe', path: p('/3/0/9'), attributes: { con: 1 } },
        { onNotification() {} },
      ),
      MqttNotApplicableError,
    );
    assert.equal(downlinks.length, before);
  });

  it('Read-Composite and Write-Composite carry SenML CBOR paths and values', async () => {
    const read = await server.send(target, {
      kind: 'read-composite',
      paths: [p('/3/0/9'), p('/3303/0/5700')],
    });
    assert.equal(read.code, '2.05');
    assert.deepEqual(read.records, [VALUES[1], VALUES[2]]);
    const seen = downlinks.at(-1);
    assert.equal(seen?.kind, 'read-composite');
    assert.deepEqual(seen.kind === 'read-composite' ? seen.paths.map(String) : [], [
      '/3/0/9',
      '/3303/0/5700',
    ]);
    assert.deepEqual(seen.kind === 'read-composite' ? [seen.format, seen.accept] : [], [112, 112]);
    const write = await server.send(target, {
      kind: 'write-composite',
      records: [{ path: p('/3/0/14'), value: Value.string('Z') }],
    });
    assert.equal(write.code, '2.04');
    assert.equal(downlinks.at(-1)?.kind, 'write-composite');
  });

  it('Observe, Notify and Cancel', async () => {
    const notifications: Notification[] = [];
    const ends: string[] = [];
    const observation = await server.observe(
      target,
      { kind: 'observe', path: p('/3303/0/5700'), attributes: { pmin: 1, pmax: 10 } },
      { onNotification: (n) => notifications.push(n), onEnd: (r) => ends.push(r) },
    );
    assert.equal(observation.established, true);
    assert.deepEqual(observation.response.records, [VALUES[2]]);
    assert.match(observation.identity.token, /^[0-9a-f]{16}$/);
    const sink = sinks.at(-1)!;
    assert.equal(sink.active, true);
    sink.notify({ records: [{ path: p('/3303/0/5700'), value: Value.float(22.5) }] }, false);
    sink.notify({ records: [{ path: p('/3303/0/5700'), value: Value.float(23.5) }] }, true);
    await waitFor(() => notifications.length === 2);
    assert.deepEqual(
      notifications.map((n) => [n.sequence, n.code, n.records?.[0]?.value]),
      [
        [1, '2.05', Value.float(22.5)],
        [2, '2.05', Value.float(23.5)],
      ],
    );
    const cancelled = await observation.cancel();
    assert.equal(cancelled.code, '2.05');
    assert.deepEqual(ends, ['cancelled']);
    assert.equal(sink.active, false);
    assert.equal(sinkEnds.at(-1), 'cancelled');
    assert.deepEqual(downlinks.at(-1), { kind: 'cancel-observation', path: p('/3303/0/5700') });
    // After the cancel, a late Notify is not delivered.
    sink.notify({ records: [{ path: p('/3303/0/5700'), value: Value.float(1) }] }, false);
    await delay(100);
    assert.equal(notifications.length, 2);
  });

  it('Observe-Composite and its Cancel (22 with paths)', async () => {
    const notifications: Notification[] = [];
    const observation = await server.observe(
      target,
      { kind: 'observe-composite', paths: [p('/3/0/9'), p('/3303/0/5700')], attributes: { pmax: 30 } },
      { onNotification: (n) => notifications.push(n) },
    );
    assert.equal(observation.established, true);
    assert.equal(observation.response.records?.length, 2);
    sinks.at(-1)!.notify({ records: [VALUES[1]!, VALUES[2]!] }, false);
    await waitFor(() => notifications.length === 1);
    assert.deepEqual(notifications[0]?.records, [VALUES[1], VALUES[2]]);
    const cancelled = await observation.cancel();
    assert.equal(cancelled.code, '2.05');
    assert.equal(downlinks.at(-1)?.kind, 'cancel-observation-composite');
  });

  it('keeps a Notify that arrives right behind the Observe answer', async () => {
    // A scripted device on the raw connection: answers an Observe with 2.05 and a Notify in the
    // same breath (one TCP segment, handled before the answer's promise continues).
    const topic = `${PREFIX}/lwm2m/rd/raw-dev`;
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== topic) return;
      const m = decodeMqttMessage(payload);
      if (m.operation !== 20) return;
      const value = new TextEncoder().encode('42');
      raw.publish(
        topic,
        Buffer.from(encodeMqttMessage({ result: 205, token: m.token, ct: 0, payload: value })),
        { qos: 1 },
      );
      raw.publish(
        topic,
        Buffer.from(encodeMqttMessage({ operation: 23, token: m.token, ct: 0, payload: value })),
        { qos: 1 },
      );
    };
    raw.on('message', onMessage);
    await raw.subscribeAsync(topic, { qos: 1 });
    const notifications: Notification[] = [];
    const observation = await server.observe(
      { ...target, peer: server.peerFor('raw-dev')! },
      { kind: 'observe', path: p('/3/0/9') },
      { onNotification: (n) => notifications.push(n) },
    );
    assert.equal(observation.established, true);
    await waitFor(() => notifications.length === 1);
    assert.deepEqual(notifications[0]?.records?.[0]?.value, Value.integer(42));
    observation.forget();
    raw.off('message', onMessage);
    await raw.unsubscribeAsync(topic);
  });

  it('restoreObservation takes an observation back after a restart', async () => {
    const request = { kind: 'observe', path: p('/3/0/9') } as const;
    const first = await server.observe(target, request, { onNotification: () => assert.fail('forgotten') });
    first.forget(); // the process "ends"; the device keeps its observation
    const sink = sinks.at(-1)!;
    const restarted = await MqttServerBinding.start({ url: broker.url, prefix: PREFIX, codecs, model });
    try {
      const notifications: Notification[] = [];
      const restored = restarted.restoreObservation(
        { ...target, peer: restarted.peerFor(EP)! },
        request,
        first.identity,
        { onNotification: (n) => notifications.push(n) },
      );
      assert.equal(restored.identity.token, first.identity.token);
      sink.notify({ records: [{ path: p('/3/0/9'), value: Value.integer(12) }] }, false);
      await waitFor(() => notifications.length === 1);
      assert.deepEqual(notifications[0]?.records?.[0]?.value, Value.integer(12));
      restored.forget();
      sink.end();
    } finally {
      await restarted.close();
    }
  });

  it('times out a downlink nobody answers', async () => {
    const ghost = { ...target, peer: server.peerFor('nobody-here')! };
    await assert.rejects(
      server.send(ghost, { kind: 'read', path: p('/3/0') }, { timeout: 200 }),
      (e: unknown) => e instanceof BindingError && e.reason === 'timeout',
    );
  });

  it('refuses a target outside its topics', async () => {
    await assert.rejects(
      server.send(
        { ...target, peer: { address: '10.0.0.1', port: 5683 } },
        { kind: 'read', path: p('/3/0') },
      ),
      (e: unknown) => e instanceof BindingError && e.reason === 'rejected',
    );
    await assert.rejects(
      server.send(target, { kind: 'bootstrap-finish' }),
      (e: unknown) => e instanceof BindingError && e.reason === 'rejected',
    );
  });

  it('reports a malformed map without crashing, and keeps working', async () => {
    const before = refusals.length;
    await raw.publishAsync(`${PREFIX}/lwm2m/rd/${EP}`, Buffer.from([0xa1, 0x01]), { qos: 1 });
    await waitFor(() => refusals.length > before);
    const refusal = refusals.at(-1)!;
    assert.equal(refusal.code, '4.00');
    assert.match(refusal.diagnostic, /malformed/);
    assert.equal(refusal.context.peer.address, `${PREFIX}/lwm2m/rd/${EP}`);
    assert.equal((await server.send(target, { kind: 'read', path: p('/3/0/9') })).code, '2.05');
  });

  it('answers a map with an unknown operation with an error on the same token', async () => {
    const topic = `${PREFIX}/lwm2m/rd/${EP}`;
    const answers: Buffer[] = [];
    raw.on('message', (t, payload) => {
      if (t === topic) answers.push(payload);
    });
    await raw.subscribeAsync(topic, { qos: 1 });
    // operation 9 (Read) sent *to the server*: not an uplink. Token h'0909'.
    await raw.publishAsync(topic, Buffer.from('a2010902420909', 'hex'), { qos: 1 });
    await waitFor(() =>
      answers.some((a) => a.toString('hex').includes('420909') && decodeMqttMessage(a).result === 405),
    );
    const refusal = refusals.at(-1)!;
    assert.equal(refusal.code, '4.05');
    await raw.unsubscribeAsync(topic);
  });

  it('answers a duplicated request (QoS 1 redelivery) again without handling it twice', async () => {
    const topic = `${PREFIX}/lwm2m/rd/${EP}`;
    // The client answers 2.02; the server, on the same topic, refuses the Delete (4.05) as well.
    const answers: number[] = [];
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== topic) return;
      const m = decodeMqttMessage(payload);
      if (m.result !== undefined && tokenHex(m.token) === '0a0a') answers.push(m.result);
    };
    raw.on('message', onMessage);
    await raw.subscribeAsync(topic, { qos: 1 });
    const before = downlinks.length;
    const request = Buffer.from(
      encodeMqttMessage({ operation: 18, token: new Uint8Array([10, 10]), uri: '/3303/9' }),
    );
    // Back to back (one TCP segment): the second arrives while the first is being handled.
    await Promise.all([
      raw.publishAsync(topic, request, { qos: 1 }),
      raw.publishAsync(topic, request, { qos: 1 }),
    ]);
    await waitFor(() => answers.filter((r) => r === 202).length === 2);
    assert.equal(downlinks.length, before + 1);
    assert.deepEqual(downlinks.at(-1), { kind: 'delete', path: p('/3303/9') });
    raw.off('message', onMessage);
    await raw.unsubscribeAsync(topic);
  });

  it('drops its own echoes: neither side handled a message it published', () => {
    // Every uplink the server saw was sent by the client, every downlink the client saw by the
    // server: an echo taken for a request would have shown up as an extra entry or a refusal.
    assert.deepEqual(
      uplinks.map((u) => u.kind),
      ['register', 'update', 'send'],
    );
    assert.ok(
      downlinks.every((d) => !['register', 'update', 'send'].includes(d.kind)),
      'no uplink kinds among the downlinks',
    );
    // The malformed map, the Read sent to the server, the Delete sent to both (answered once).
    assert.deepEqual(
      refusals.map((r) => r.code),
      ['4.00', '4.05', '4.05'],
    );
  });

  it('De-register', async () => {
    const response = await client.sendUplink(
      { peer: client.peer(), lwm2mVersion: '1.2' },
      { kind: 'deregister', registrationId: 'reg-42' },
    );
    assert.equal(response.code, '2.02');
    assert.deepEqual(uplinks.at(-1), { kind: 'deregister', registrationId: 'reg-42' });
  });

  it('Bootstrap on the bs topic: Request (0), Write (1), Read (2), Delete (3), Finish (5)', async () => {
    const response = await client.sendUplink(
      { peer: client.peer('bs'), lwm2mVersion: '1.2' },
      { kind: 'bootstrap-request', endpoint: EP, preferredFormat: 112 },
    );
    assert.equal(response.code, '2.04');
    assert.deepEqual(uplinks.at(-1), { kind: 'bootstrap-request', endpoint: EP, preferredFormat: 112 });
    const bsTarget = { ...target, peer: bootstrapServer.peerFor(EP)! };
    const write = await bootstrapServer.send(bsTarget, {
      kind: 'bootstrap-write',
      path: p('/1/0'),
      records: [
        { path: p('/1/0/0'), value: Value.integer(101) },
        { path: p('/1/0/1'), value: Value.integer(300) },
      ],
    });
    assert.equal(write.code, '2.04');
    assert.equal(downlinks.at(-1)?.kind, 'bootstrap-write');
    const read = await bootstrapServer.send(bsTarget, { kind: 'bootstrap-read', path: p('/3/0/0') });
    assert.deepEqual(read.records, [VALUES[0]]);
    assert.equal(
      (await bootstrapServer.send(bsTarget, { kind: 'bootstrap-delete', path: p('/1/0') })).code,
      '2.02',
    );
    assert.equal((await bootstrapServer.send(bsTarget, { kind: 'bootstrap-finish' })).code, '2.04');
    assert.deepEqual(downlinks.at(-1), { kind: 'bootstrap-finish' });
    // The rd server did not see the bs traffic.
    assert.equal(uplinks.filter((u) => u.kind === 'bootstrap-request').length, 1);
  });
});

describe('MQTT binding start-up failures', () => {
  it('rejects a URL that is not mqtt:// or mqtts://', async () => {
    await assert.rejects(
      MqttServerBinding.start({ url: 'coap://127.0.0.1:5683', codecs, model }),
      (e: unknown) => e instanceof BindingError && e.reason === 'rejected',
    );
  });

  it('rejects with closed when no broker answers', async () => {
    await assert.rejects(
      MqttClientBinding.start({
        url: 'mqtt://127.0.0.1:1',
        endpoint: 'x',
        codecs,
        model,
        connectTimeout: 500,
        reconnectPeriod: 0,
      }),
      (e: unknown) => e instanceof BindingError && e.reason === 'closed',
    );
  });

  it('refuses an endpoint or prefix that would break the topic', async () => {
    await assert.rejects(
      MqttClientBinding.start({ url: 'mqtt://127.0.0.1:1', endpoint: 'a/b', codecs, model }),
      /cannot be a topic level/,
    );
    await assert.rejects(
      MqttServerBinding.start({ url: 'mqtt://127.0.0.1:1', prefix: 'a/#', codecs, model }),
      /wildcard/,
    );
  });
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(check: () => boolean, timeout = 3000): Promise<void> {
  const until = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await delay(10);
  }
}
