// The client against a raw CoAP server of our own making (not our LwM2M server): what it puts on
// the wire for Register, Update and De-register, byte for byte where the spec fixes it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryInstance } from '../../src/client/instance.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, contentFormat, uriPath, uriQuery } from '../../src/coap/options.js';
import { parseLinkFormat } from '../../src/model/link-format.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { seededRandom } from '../../src/random.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { TEMPERATURE_DEFINITION } from '../support/model-device.js';

const text = (m: CoapMessage): string => new TextDecoder().decode(m.payload);

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('LwM2mClient on the wire', () => {
  it('sends Register, Update and De-register as the spec writes them', async () => {
    const network = new MemoryNetwork();
    const server = new CoapEndpoint({ channel: network.channel('10.0.0.1', 5683), random: seededRandom(1) });
    const received: CoapMessage[] = [];
    server.onRequest(({ message }) => {
      received.push(message);
      if (message.code === CoapCode.POST && uriPath(message).join('/') === 'rd')
        return {
          code: CoapCode.CREATED,
          options: new OptionsBuilder().strings(OptionNumber.LOCATION_PATH, ['rd', 'k7']).build(),
        };
      if (message.code === CoapCode.POST) return { code: CoapCode.CHANGED };
      if (message.code === CoapCode.DELETE) return { code: CoapCode.DELETED };
      return { code: CoapCode.NOT_FOUND };
    });
    const model = createDefaultRegistry().add(TEMPERATURE_DEFINITION);
    const client = new LwM2mClient({
      endpoint: 'urn:dev:ops:petrel-raw',
      servers: [{ uri: 'coap://10.0.0.1:5683', lifetime: 120, shortServerId: 7 }],
      model,
      channel: network.channel('10.0.0.2', 56830),
      random: seededRandom(2),
      contentFormats: [112, 11544],
      instances: [new MemoryInstance(TEMPERATURE_DEFINITION, 3303, 0).set(5700, 1)],
    });
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      await client.start();
      await waitFor(() => client.status(7)?.state === 'registered');
      const register = received[0]!;
      assert.equal(register.type, 'CON');
      assert.deepEqual(uriPath(register), ['rd']);
      assert.equal(contentFormat(register), 40);
      const query = uriQuery(register);
      assert.ok(query.includes('ep=urn:dev:ops:petrel-raw'), query.join('&'));
      assert.ok(query.includes('lt=120'));
      assert.ok(query.includes('lwm2m=1.2'));
      const links = parseLinkFormat(text(register));
      assert.equal(links[0]?.target, '/');
      assert.deepEqual(links[0]?.params.find((p) => p.name === 'ct')?.value, [112, 11544]);
      const targets = links.slice(1).map((l) => l.target);
      assert.ok(
        targets.includes('/1/0') && targets.includes('/3/0') && targets.includes('/3303/0'),
        targets.join(','),
      );
      assert.ok(!targets.some((t) => t.startsWith('/0')), 'no Security object');
      assert.equal(
        links.find((l) => l.target === '/3303')?.params.find((p) => p.name === 'ver')?.value,
        '1.1',
        '3303 1.1 is not the 1.0 default: ver= is sent',
      );

      // A new instance changes the object list: an Update to the Location with the full list.
      client.tree.addInstance(new MemoryInstance(TEMPERATURE_DEFINITION, 3303, 1).set(5700, 2));
      await waitFor(() => received.length >= 2);
      const update = received[1]!;
      assert.deepEqual(uriPath(update), ['rd', 'k7']);
      assert.deepEqual(uriQuery(update), [], 'nothing else changed');
      assert.ok(text(update).includes('</3303/1>'), text(update));

      // A parameter-less Update refreshes the lifetime.
      await client.update(7);
      const refresh = received.at(-1)!;
      assert.deepEqual(uriPath(refresh), ['rd', 'k7']);
      assert.equal(refresh.payload.length, 0);

      await client.stop();
      const deregister = received.at(-1)!;
      assert.equal(deregister.code, CoapCode.DELETE);
      assert.deepEqual(uriPath(deregister), ['rd', 'k7']);
    } finally {
      clearInterval(keepAlive);
      await client.stop();
      await server.close();
    }
  });
});
