// Bootstrap over DTLS with certificates: our client's Bootstrap-Server account in RPK mode (/0/x/2
// = 1) and X.509 mode (2), against our Bootstrap-Server with a DTLS binding that authenticates
// the device by the credential store (its raw key, or a certificate whose CN is the endpoint). An
// endpoint that is not the certificate's is refused (4.00) and the device stays unconfigured.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { createCoapServerBinding } from '../../src/binding/coap/coap-server-binding.js';
import { BootstrapServer } from '../../src/bootstrap/bootstrap-server.js';
import type { BootstrapServerConfig } from '../../src/client/lwm2m-client.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import type { EcdsaCredentials } from '../../src/dtls/dtls-credentials.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { seededRandom } from '../../src/random.js';
import { devicePeerVerifier } from '../../src/server/device-peer-verifier.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import type { SecurityInfo } from '../../src/store/credential-store.js';
import { MemoryBootstrapConfigStore } from '../../src/store/memory-bootstrap-config-store.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { certDer, chainOf, privateKey, spkiDer } from '../support/dtls-fixtures.js';

const model = createDefaultRegistry();
const pkcs8 = (name: Parameters<typeof privateKey>[0]): Uint8Array =>
  new Uint8Array(privateKey(name).export({ format: 'der', type: 'pkcs8' }));

async function rig(
  t: TestContext,
  endpoint: string,
  info: SecurityInfo,
  certificate: EcdsaCredentials,
  trustAnchors: Uint8Array[],
  account: BootstrapServerConfig,
) {
  const keepAlive = setInterval(() => undefined, 1000);
  const network = new MemoryNetwork();
  const credentials = new MemoryCredentialStore();
  await credentials.put(info);
  const configs = new MemoryBootstrapConfigStore();
  await configs.put(endpoint, {
    servers: [{ shortServerId: 3, uri: 'coap://10.0.0.1:5683', lifetime: 300, security: { mode: 'nosec' } }],
  });
  const dm = new LwM2mServer({ channel: network.channel('10.0.0.1', 5683), model, random: seededRandom(1) });
  const dtls = DtlsChannel.server({
    channel: network.channel('10.0.0.5', 5784),
    random: seededRandom(2),
    certificate,
    verifyPeer: devicePeerVerifier(trustAnchors),
  });
  const bs = new BootstrapServer({
    configs,
    credentials,
    channel: network.channel('10.0.0.5', 5783),
    bindings: [
      createCoapServerBinding({
        channel: dtls,
        codecs: createCodecRegistry(),
        model,
        random: seededRandom(3),
      }),
    ],
    requestTimeout: 3000,
  });
  let port = 43000;
  const client = new LwM2mClient({
    endpoint,
    servers: [],
    bootstrap: { server: account, retry: { initial: 60_000 } },
    model,
    channel: network.channel('10.0.0.2', 56830),
    secureTransport: () => network.channel('10.0.0.2', port++),
    random: seededRandom(4),
  });
  await dm.start();
  await bs.start();
  t.after(async () => {
    await client.stop();
    await bs.stop();
    await dm.stop();
    await dtls.close().catch(() => undefined);
    clearInterval(keepAlive);
  });
  return { dm, bs, client };
}

describe('LwM2mClient bootstrap over DTLS with certificates', () => {
  it('RPK: the device authenticated by its raw public key bootstraps and registers', async (t) => {
    const r = await rig(
      t,
      'dev-rpk-bs',
      { endpoint: 'dev-rpk-bs', rpk: { publicKey: Buffer.from(spkiDer('client-rpk')).toString('hex') } },
      { privateKey: privateKey('server-rpk') },
      [],
      {
        uri: 'coaps://10.0.0.5:5784',
        security: { securityMode: 1, secretKey: pkcs8('client-rpk'), serverPublicKey: spkiDer('server-rpk') },
      },
    );
    const registered = once(r.dm, 'registered') as Promise<[Registration]>;
    const session = once(r.bs, 'session-finished');
    await r.client.start();
    const [finished] = (await session) as [{ transport: string; outcome: { status: string } }];
    assert.equal(finished.transport, 'dtls');
    assert.equal(finished.outcome.status, 'succeeded');
    const [reg] = await registered;
    assert.equal(reg.endpoint, 'dev-rpk-bs');
  });

  it('X.509: a certificate whose CN is the endpoint bootstraps; another endpoint with it is refused (4.00)', async (t) => {
    const account: BootstrapServerConfig = {
      uri: 'coaps://10.0.0.5:5784',
      security: {
        securityMode: 2,
        publicKeyOrIdentity: certDer('client'),
        secretKey: pkcs8('client'),
        // Usage 3 (domain-issued): the server's certificate itself, pinned (no host name check).
        serverPublicKey: certDer('server'),
        certificateUsage: 3,
      },
    };
    const server = { privateKey: privateKey('server'), certificateChain: chainOf('server') };
    // The device sends its leaf only (/0/x/3): the server trusts the CA that issued it.
    const ANCHORS = [certDer('intermediate-ca')];
    // The certificate's CN is petrel-dev-1.
    const good = await rig(
      t,
      'petrel-dev-1',
      { endpoint: 'petrel-dev-1', x509: true },
      server,
      ANCHORS,
      account,
    );
    const registered = once(good.dm, 'registered') as Promise<[Registration]>;
    const failure = once(good.client, 'bootstrap-failed').then(([e]) => assert.fail(JSON.stringify(e)));
    await good.client.start();
    const [reg] = await Promise.race([registered, failure]);
    assert.equal(reg.endpoint, 'petrel-dev-1');

    const bad = await rig(
      t,
      'someone-else',
      { endpoint: 'someone-else', x509: true },
      server,
      ANCHORS,
      account,
    );
    const failed = once(bad.client, 'bootstrap-failed');
    await bad.client.start();
    const [info] = (await failed) as [{ reason: string; code?: string }];
    assert.equal(info.reason, 'rejected');
    assert.equal(info.code, '4.00');
    assert.equal(bad.client.accounts().length, 0);
  });
});
