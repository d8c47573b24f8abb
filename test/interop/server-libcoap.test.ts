// The LwM2M server against libcoap (Debian libcoap3-bin) over real UDP on 127.0.0.1:
// coap-client-notls sends Registers, good and broken, and gets the codes the spec names; then a
// coap-server-notls plays a device (dynamic resources) that registered from its port, and the
// server writes, reads and deletes on it through its CoAP binding.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { freeUdpPort, requirePeer, run, startDaemon } from '../support/peers.js';

async function startServer(): Promise<{ server: LwM2mServer; uri: (q: string) => string }> {
  const server = new LwM2mServer({ udp: { address: '127.0.0.1', port: 0 }, requestTimeout: 5000 });
  await server.start();
  const port = server.address!.port;
  return { server, uri: (q) => `coap://127.0.0.1:${port}/rd?${q}` };
}

/** libcoap prints a non-2.xx response code on stderr/stdout as e.g. "4.00 Bad Request". */
function responseCode(output: string): string | undefined {
  return /\b([245]\.\d\d)\b/.exec(output)?.[1];
}

describe('libcoap coap-client-notls registering with our server', () => {
  for (const [name, query, payload, expected] of [
    ['a missing lt', 'ep=lc&lwm2m=1.2', '</3/0>', '4.00'],
    ['an unknown version', 'ep=lc&lt=60&lwm2m=2.0', '</3/0>', '4.12'],
    ['a bad link payload', 'ep=lc&lt=60&lwm2m=1.2', '<3/0', '4.00'],
    ['an unknown Profile ID only', 'ep=lc&lt=60&lwm2m=1.2&pid=6:0badc0de', undefined, '4.09'],
  ] as const) {
    it(`gets ${expected} for ${name}`, async (t) => {
      const client = requirePeer(t, 'coap-client-notls', 'libcoap3-bin');
      if (!client) return;
      const { server, uri } = await startServer();
      try {
        const args = [
          '-B',
          '5',
          '-m',
          'post',
          ...(payload === undefined ? [] : ['-t', '40', '-e', payload]),
          uri(query),
        ];
        const res = await run(client, args);
        assert.equal(responseCode(res.stdout + res.stderr), expected, res.stdout + res.stderr);
        assert.equal(await server.store.size, 0);
      } finally {
        await server.stop();
      }
    });
  }

  it('registers, and the server then manages a libcoap device that registered from its port', async (t) => {
    const client = requirePeer(t, 'coap-client-notls', 'libcoap3-bin');
    const serverBin = requirePeer(t, 'coap-server-notls', 'libcoap3-bin');
    if (!client || !serverBin) return;
    const { server, uri } = await startServer();
    const devicePort = await freeUdpPort();
    let device: ReturnType<typeof startDaemon> | undefined;
    try {
      const registered = once(server, 'registered') as Promise<[Registration]>;
      // -p binds coap-client to the port the device will listen on: the registration's source.
      const reg = await run(client, [
        '-B',
        '5',
        '-p',
        String(devicePort),
        '-m',
        'post',
        '-t',
        '40',
        '-e',
        '</3/0>,</3303/0>',
        uri('ep=libcoap-dev&lt=120&lwm2m=1.1&b=U'),
      ]);
      assert.equal(reg.code, 0, reg.stderr);
      const [registration] = await registered;
      assert.equal(registration.endpoint, 'libcoap-dev');
      assert.equal(registration.lwm2mVersion, '1.1');
      assert.equal(registration.peer.port, devicePort);

      device = startDaemon(serverBin, ['-A', '127.0.0.1', '-p', String(devicePort), '-d', '10']);
      await new Promise((r) => setTimeout(r, 300));
      // A resource instance of the multiple resource /3/0/7 (Power Source Voltage, integer): a
      // target both Write and Delete accept.
      const written = await server.write('libcoap-dev', '/3/0/7/0', 3800);
      // libcoap creates the dynamic resource on its first PUT (2.01), then changes it (2.04).
      assert.ok(['2.01', '2.04'].includes(written.code), written.code);
      const read = await server.read('libcoap-dev', '/3/0/7/0');
      assert.equal(read.code, '2.05');
      assert.deepEqual(read.values, { '/3/0/7/0': 3800 });
      assert.equal((await server.delete('libcoap-dev', '/3/0/7/0')).code, '2.02');
      assert.equal((await server.read('libcoap-dev', '/3/0/7/0')).code, '4.04');
    } finally {
      await device?.stop();
      await server.stop();
    }
  });
});
