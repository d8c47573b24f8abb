// The LwM2M server's coaps:// side against libcoap (Debian libcoap3-bin) over real UDP on
// 127.0.0.1: coap-client-openssl does a PSK handshake with our DTLS server and registers, with the
// endpoint the credential store binds to its identity (2.01) and with another one (4.00).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { requirePeer, run } from '../support/peers.js';

// libcoap takes -k as text: an ASCII key, stored in hex.
const KEY_TEXT = 'petrel-secret-16';
const IDENTITY = 'libcoap-id';

/** libcoap prints a non-2.xx response code on stderr/stdout as e.g. "4.00 Bad Request". */
function responseCode(output: string): string | undefined {
  return /\b([45]\.\d\d)\b/.exec(output)?.[1];
}

describe('libcoap coap-client-openssl registering over coaps:// (PSK)', () => {
  it('registers with the bound ep (2.01) and is refused another one (4.00)', async (t) => {
    const client = requirePeer(t, 'coap-client-openssl', 'libcoap3-bin');
    if (!client) return;
    const credentials = new MemoryCredentialStore();
    await credentials.put({
      endpoint: 'libcoap-dev',
      psk: { identity: IDENTITY, key: Buffer.from(KEY_TEXT, 'utf8').toString('hex') },
    });
    const server = new LwM2mServer({
      udp: { address: '127.0.0.1', port: 0 },
      coaps: { address: '127.0.0.1', port: 0, credentials, hint: 'petrel' },
      requestTimeout: 5000,
    });
    await server.start();
    const port = server.secureAddress!.port;
    const register = (ep: string): Promise<{ stdout: string; stderr: string }> =>
      run(client, [
        '-B',
        '5',
        '-k',
        KEY_TEXT,
        '-u',
        IDENTITY,
        '-m',
        'post',
        '-t',
        '40',
        '-e',
        '</3/0>',
        `coaps://127.0.0.1:${port}/rd?ep=${ep}&lt=60&lwm2m=1.2`,
      ]);
    try {
      const ok = await register('libcoap-dev');
      const output = ok.stdout + ok.stderr;
      assert.equal(responseCode(output), undefined, output);
      const reg = await server.getRegistration('libcoap-dev');
      assert.ok(reg, output);
      assert.equal(reg.transport, 'dtls');
      assert.deepEqual(reg.peer.identity, { psk: IDENTITY });

      const refused = await register('someone-else');
      assert.equal(responseCode(refused.stdout + refused.stderr), '4.00', refused.stdout + refused.stderr);
      assert.equal(await server.getRegistration('someone-else'), undefined);
    } finally {
      await server.stop();
    }
  });
});
