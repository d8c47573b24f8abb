import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { describe, it } from 'node:test';
import { connectAsync } from 'mqtt';
import { startEmbeddedBroker } from '../../../src/binding/mqtt/embedded-broker.js';

describe('startEmbeddedBroker', () => {
  it('listens on an ephemeral port and relays publishes', async (t) => {
    const broker = await startEmbeddedBroker();
    t.after(() => broker.close());
    assert.ok(broker.port > 0);
    assert.equal(broker.url, `mqtt://127.0.0.1:${broker.port}`);
    const a = await connectAsync(broker.url, { reconnectPeriod: 0 });
    const b = await connectAsync(broker.url, { reconnectPeriod: 0 });
    t.after(() => Promise.all([a.endAsync(), b.endAsync()]));
    const got = new Promise<string>((resolve) =>
      b.on('message', (_t, payload) => resolve(payload.toString())),
    );
    await b.subscribeAsync('x/+', { qos: 1 });
    await a.publishAsync('x/y', 'hello', { qos: 1 });
    assert.equal(await got, 'hello');
  });

  it('closes connections past maxClients', async (t) => {
    const broker = await startEmbeddedBroker({ maxClients: 1 });
    t.after(() => broker.close());
    const first = await connectAsync(broker.url, { reconnectPeriod: 0 });
    t.after(() => first.endAsync());
    // The second TCP connection is closed by the broker before any MQTT is spoken.
    const second = createConnection(broker.port, '127.0.0.1');
    await once(second, 'close');
    assert.equal(first.connected, true);
  });

  it('close() is idempotent and disconnects clients', async () => {
    const broker = await startEmbeddedBroker();
    const c = await connectAsync(broker.url, { reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    await Promise.all([broker.close(), broker.close()]);
    await closed;
    await c.endAsync(true);
    const late = createConnection(broker.port, '127.0.0.1');
    const [error] = (await once(late, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');
  });
});
