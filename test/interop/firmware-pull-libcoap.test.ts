// Firmware pull (/5/0/1) from libcoap's coap-server-notls 4.3 (Debian libcoap3-bin) as the file
// server: our LwM2mServer writes the URI, our LwM2mClient downloads the package with Block2 over
// real loopback sockets, by coap:// (UDP) and by coap+tcp:// (RFC 8323; libcoap listens on both at
// -p), and from coap-server-openssl by coaps:// (DTLS PSK) and coaps+tcp:// (TLS PSK) at -p + 1,
// with the PSK of the LwM2M server account that wrote the URI. The daemons hold no files: the test
// PUTs the package first over plain CoAP (their -d allows dynamic resources).
// Every process is stopped in `finally`; every wait is bounded.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { FirmwareApplication } from '../../src/client/firmware/firmware-update-instance.js';
import { MemoryFirmwareStore } from '../../src/client/firmware/firmware-store.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { BlockwiseLayer } from '../../src/coap/blockwise.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber } from '../../src/coap/options.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import type { Peer } from '../../src/transport/channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { freeUdpPort, requirePeer, startDaemon } from '../support/peers.js';

const PACKAGE = Uint8Array.from({ length: 48 * 1024 + 123 }, (_, i) => (i * 17 + 5) & 0xff);

/** Waits until the daemon answers, then PUTs the package to /fw.bin over plain CoAP. */
async function upload(uploader: CoapEndpoint, repository: Peer, output: () => string): Promise<void> {
  let up = false;
  for (let i = 0; i < 50 && !up; i++) {
    try {
      await uploader.request(repository, { code: CoapCode.GET }, { timeout: 300 });
      up = true;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.ok(up, `the daemon did not answer: ${output()}`);
  const put = await new BlockwiseLayer(uploader, { blockSize: 1024 }).request(repository, {
    code: CoapCode.PUT,
    options: [{ number: OptionNumber.URI_PATH, value: new TextEncoder().encode('fw.bin') }],
    payload: PACKAGE,
  });
  assert.equal(put.code, CoapCode.CREATED, output());
}

async function until(read: () => Promise<unknown[]>, want: unknown[], what: string): Promise<void> {
  let last: unknown[] = [];
  for (let i = 0; i < 300; i++) {
    last = await read();
    if (JSON.stringify(last) === JSON.stringify(want)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`${what}: ${JSON.stringify(last)}, wanted ${JSON.stringify(want)}`);
}

describe('firmware pull from libcoap coap-server (notls, openssl)', () => {
  it('downloads a package with Block2 over coap:// and coap+tcp://', { timeout: 30_000 }, async (t) => {
    const serverBin = requirePeer(t, 'coap-server-notls', 'libcoap3-bin');
    if (!serverBin) return;
    const port = await freeUdpPort();
    const daemon = startDaemon(serverBin, ['-A', '127.0.0.1', '-p', String(port), '-d', '10']);
    const uploader = new CoapEndpoint({ channel: await UdpChannel.open({ address: '127.0.0.1', port: 0 }) });
    const repository: Peer = { address: '127.0.0.1', port };
    const serverChannel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    const server = new LwM2mServer({ channel: serverChannel });
    const store = new MemoryFirmwareStore();
    const application: FirmwareApplication = { store, install: () => Promise.resolve({ ok: true }) };
    const client = new LwM2mClient({
      endpoint: 'fw-libcoap',
      servers: [{ uri: `coap://127.0.0.1:${serverChannel.local.port}` }],
      udp: { address: '127.0.0.1' },
      firmware: { application, pull: { blockSize: 512, retryDelay: 100, timeout: 2000 } },
    });
    try {
      // The daemon needs a moment to bind: retry the first request briefly.
      let up = false;
      for (let i = 0; i < 50 && !up; i++) {
        try {
          await uploader.request(repository, { code: CoapCode.GET }, { timeout: 300 });
          up = true;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(up, `coap-server-notls did not answer: ${daemon.output()}`);
      const put = await new BlockwiseLayer(uploader, { blockSize: 1024 }).request(repository, {
        code: CoapCode.PUT,
        options: [{ number: OptionNumber.URI_PATH, value: new TextEncoder().encode('fw.bin') }],
        payload: PACKAGE,
      });
      assert.equal(put.code, CoapCode.CREATED, daemon.output());

      await server.start();
      const registered = once(server, 'registered');
      await client.start();
      await registered;
      const status = async () => {
        const r = await server.read('fw-libcoap', '/5/0');
        const get = (rid: number) => r.records.find((x) => x.path.resourceId === rid)?.value?.value;
        return [get(3), get(5)];
      };

      for (const scheme of ['coap', 'coap+tcp']) {
        const uri = `${scheme}://127.0.0.1:${port}/fw.bin`;
        assert.equal((await server.write('fw-libcoap', '/5/0/1', uri)).code, '2.04');
        await until(status, [2, 0], `${scheme} download (${JSON.stringify(client.firmware?.lastError)})`);
        assert.deepEqual(store.bytes(), PACKAGE, scheme);
        assert.equal((await server.write('fw-libcoap', '/5/0/1', '')).code, '2.04');
        await until(status, [0, 0], 'reset');
      }
    } finally {
      await client.stop().catch(() => undefined);
      await server.stop().catch(() => undefined);
      await uploader.close();
      await daemon.stop();
    }
  });

  it(
    'downloads over coaps:// and coaps+tcp:// with the PSK of the writing server',
    { timeout: 30_000 },
    async (t) => {
      const serverBin = requirePeer(t, 'coap-server-openssl', 'libcoap3-bin');
      if (!serverBin) return;
      const KEY_TEXT = 'petrel-secret-16';
      const key = new TextEncoder().encode(KEY_TEXT);
      const port = await freeUdpPort();
      // -k: the PSK for any identity; DTLS and TLS on -p + 1.
      const daemon = startDaemon(serverBin, [
        '-A',
        '127.0.0.1',
        '-p',
        String(port),
        '-d',
        '10',
        '-k',
        KEY_TEXT,
      ]);
      const uploader = new CoapEndpoint({
        channel: await UdpChannel.open({ address: '127.0.0.1', port: 0 }),
      });
      const credentials = new MemoryCredentialStore();
      await credentials.put({
        endpoint: 'fw-psk',
        psk: { identity: 'fw-psk-id', key: Buffer.from(key).toString('hex') },
      });
      const server = new LwM2mServer({
        udp: { address: '127.0.0.1', port: 0 },
        coaps: { address: '127.0.0.1', port: 0, credentials },
      });
      const store = new MemoryFirmwareStore();
      let client: LwM2mClient | undefined;
      try {
        await upload(uploader, { address: '127.0.0.1', port }, daemon.output);
        await server.start();
        client = new LwM2mClient({
          endpoint: 'fw-psk',
          servers: [
            {
              uri: `coaps://127.0.0.1:${server.listening('dtls')?.port}`,
              security: { securityMode: 0, publicKeyOrIdentity: 'fw-psk-id', secretKey: key },
            },
          ],
          udp: { address: '127.0.0.1' },
          firmware: {
            application: { store, install: () => Promise.resolve({ ok: true }) },
            pull: { blockSize: 1024, retryDelay: 100, timeout: 3000 },
          },
        });
        const registered = once(server, 'registered');
        await client.start();
        await registered;
        const status = async () => {
          const r = await server.read('fw-psk', '/5/0');
          const get = (rid: number) => r.records.find((x) => x.path.resourceId === rid)?.value?.value;
          return [get(3), get(5)];
        };
        for (const scheme of ['coaps', 'coaps+tcp']) {
          const uri = `${scheme}://127.0.0.1:${port + 1}/fw.bin`;
          assert.equal((await server.write('fw-psk', '/5/0/1', uri)).code, '2.04');
          await until(status, [2, 0], `${scheme} download (${JSON.stringify(client.firmware?.lastError)})`);
          assert.deepEqual(store.bytes(), PACKAGE, scheme);
          assert.equal((await server.write('fw-psk', '/5/0/1', '')).code, '2.04');
          await until(status, [0, 0], 'reset');
        }
      } finally {
        await client?.stop().catch(() => undefined);
        await server.stop().catch(() => undefined);
        await uploader.close();
        await daemon.stop();
      }
    },
  );
});
