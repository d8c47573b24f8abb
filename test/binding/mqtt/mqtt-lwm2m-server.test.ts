// LwM2mServer with the MQTT binding in place of CoAP: the server code is unchanged, and a client
// speaking through MqttClientBinding registers, is read and observed.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { DownlinkAnswer, NotificationSink } from '../../../src/binding/binding.js';
import { startEmbeddedBroker } from '../../../src/binding/mqtt/embedded-broker.js';
import { MqttClientBinding } from '../../../src/binding/mqtt/mqtt-client-binding.js';
import { MqttServerBinding } from '../../../src/binding/mqtt/mqtt-server-binding.js';
import { createCodecRegistry } from '../../../src/content/codec-registry.js';
import { Value } from '../../../src/model/data-types.js';
import { createDefaultRegistry } from '../../../src/model/object-registry.js';
import { LwM2mPath } from '../../../src/model/path.js';
import { parseRegistrationPayload } from '../../../src/model/registration-payload.js';
import { LwM2mServer } from '../../../src/server/lwm2m-server.js';

const codecs = createCodecRegistry();
const model = createDefaultRegistry();
const EP = 'mqtt-dev-7';

describe('LwM2mServer over the MQTT binding', () => {
  it('registers, reads and observes a client through the broker', async (t) => {
    const broker = await startEmbeddedBroker();
    const binding = await MqttServerBinding.start({ url: broker.url, codecs, model, requestTimeout: 3000 });
    const server = new LwM2mServer({ binding, model });
    await server.start();
    const client = await MqttClientBinding.start({ url: broker.url, endpoint: EP, codecs, model });
    t.after(async () => {
      await client.close();
      await server.stop();
      await broker.close();
    });

    let battery = 80;
    let sink: NotificationSink | undefined;
    const batteryRecord = () => ({ path: LwM2mPath.parse('/3/0/9'), value: Value.integer(battery) });
    client.onDownlink((request) =>
      Promise.resolve(
        ((): DownlinkAnswer => {
          if (request.kind === 'read' && request.path.toString() === '/3/0/9')
            return { response: { code: '2.05', records: [batteryRecord()] } };
          if (request.kind === 'observe')
            return { response: { code: '2.05', records: [batteryRecord()] }, observe: (s) => (sink = s) };
          if (request.kind === 'cancel-observation')
            return { response: { code: '2.05', records: [batteryRecord()] } };
          return { response: { code: '4.04' } };
        })(),
      ),
    );

    const registered = once(server, 'registered');
    const answer = await client.sendUplink(
      { peer: client.peer(), lwm2mVersion: '1.2' },
      {
        kind: 'register',
        endpoint: EP,
        lifetime: 300,
        lwm2mVersion: '1.2',
        binding: 'M',
        queueMode: false,
        sms: undefined,
        profileIds: [],
        objects: parseRegistrationPayload('</1/0>,</3/0>'),
        extraParameters: new Map(),
      },
    );
    assert.equal(answer.code, '2.01');
    await registered;
    const registration = await server.getRegistration(EP);
    assert.equal(registration?.transport, 'mqtt');
    assert.equal(registration?.id, answer.registrationId);
    assert.equal(registration?.peer.address, `lwm2m/rd/${EP}`);

    const read = await server.read(EP, '/3/0/9');
    assert.equal(read.code, '2.05');
    assert.deepEqual(read.records[0]?.value, Value.integer(80));

    const observation = await server.observe(EP, '/3/0/9');
    const notified = once(observation, 'notification');
    battery = 79;
    sink?.notify({ records: [batteryRecord()] }, false);
    const [event] = (await notified) as [{ result: { records: readonly { value?: unknown }[] } }];
    assert.deepEqual(event.result.records[0]?.value, Value.integer(79));
    await observation.cancel();
    assert.equal(sink?.active, false);

    const update = await client.sendUplink(
      { peer: client.peer(), lwm2mVersion: '1.2' },
      { kind: 'update', registrationId: answer.registrationId!, lifetime: 600 },
    );
    assert.equal(update.code, '2.04');
    assert.equal((await server.getRegistration(EP))?.lifetime, 600);
  });
});
