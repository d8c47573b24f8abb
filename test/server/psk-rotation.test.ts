// PSK rotation end to end (BS-001): over coaps:// a device handshakes with its current PSK or with
// the PSK being rotated in (nextPsk), registers as its endpoint with either, and after promotion
// the retired identity fails the handshake.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder } from '../../src/coap/options.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import type { Peer } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';

const PLAIN: Peer = { address: '10.0.0.1', port: 5683 };
const SECURE: Peer = { address: '10.0.0.1', port: 5684 };
const OLD_KEY = '000102030405060708090a0b0c0d0e0f';
const NEW_KEY = 'f0e0d0c0b0a090807060504030201000';
const utf8 = new TextEncoder();

describe('PSK rotation over coaps:// (nextPsk)', () => {
  const network = new MemoryNetwork();
  const credentials = new MemoryCredentialStore();
  let server: LwM2mServer;
  const endpoints: CoapEndpoint[] = [];
  let n = 0;

  /** A device with one PSK; resolves with the Register's code, or 'handshake failed'. */
  async function register(ep: string, identity: string, key: string): Promise<string> {
    const channel = DtlsChannel.client({
      channel: network.channel(`10.0.1.${++n}`, 56840),
      psk: { identity, key: Buffer.from(key, 'hex') },
      random: seededRandom(500 + n),
    });
    const failed = new Promise<string>((resolve) => channel.onError(() => resolve('handshake failed')));
    const endpoint = new CoapEndpoint({ channel, random: seededRandom(600 + n) });
    endpoints.push(endpoint);
    const options = new OptionsBuilder()
      .string(OptionNumber.URI_PATH, 'rd')
      .uint(OptionNumber.CONTENT_FORMAT, 40)
      .string(OptionNumber.URI_QUERY, `ep=${ep}`)
      .string(OptionNumber.URI_QUERY, 'lt=300')
      .string(OptionNumber.URI_QUERY, 'lwm2m=1.2')
      .build();
    const registered = endpoint
      .request(SECURE, { code: CoapCode.POST, options, payload: utf8.encode('</3/0>') }, { timeout: 5000 })
      .then((res) => formatCode(res.code));
    return Promise.race([registered, failed]);
  }

  before(async () => {
    await credentials.put({ endpoint: 'dev-a', psk: { identity: 'id-a', key: OLD_KEY } });
    await credentials.put({ endpoint: 'dev-b', psk: { identity: 'id-b', key: OLD_KEY } });
    server = new LwM2mServer({
      channel: network.channel(PLAIN.address, PLAIN.port),
      coaps: { channel: network.channel(SECURE.address, SECURE.port), credentials },
      random: seededRandom(9),
      requestTimeout: 5000,
    });
    await server.start();
  });

  after(async () => {
    await server.stop();
    for (const ep of endpoints) await ep.close();
  });

  it('while a nextPsk is set both PSKs register the endpoint; after promotion only the new one', async () => {
    await credentials.put({
      endpoint: 'dev-a',
      psk: { identity: 'id-a', key: OLD_KEY },
      nextPsk: { identity: 'id-a-2', key: NEW_KEY },
    });
    assert.equal(await register('dev-a', 'id-a', OLD_KEY), '2.01', 'the current PSK');
    assert.equal(await register('dev-a', 'id-a-2', NEW_KEY), '2.01', 'the next PSK');
    assert.equal((await server.getRegistration('dev-a'))?.transport, 'dtls');
    assert.equal(await register('dev-b', 'id-a-2', NEW_KEY), '4.00', 'the next PSK is bound to dev-a only');
    assert.equal(
      await register('dev-a', 'id-a-2', OLD_KEY),
      'handshake failed',
      'each identity has its own key',
    );

    const info = await credentials.get('dev-a');
    assert.ok(info);
    await credentials.put({ ...info, psk: info.nextPsk, nextPsk: undefined });
    assert.equal(await register('dev-a', 'id-a', OLD_KEY), 'handshake failed', 'the retired PSK');
    assert.equal(await register('dev-a', 'id-a-2', NEW_KEY), '2.01', 'the promoted PSK');
  });
});
