// The MQTT binding through a real broker: Eclipse Mosquitto (Debian package mosquitto) on a free
// loopback port, with MQTT 3.1.1 and MQTT 5. mosquitto_sub (mosquitto-clients) listens on the
// binding's topics on the side and shows the CBOR maps really travel there.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { connectAsync } from 'mqtt';
import type { DownlinkAnswer, DownlinkTarget, NotificationSink } from '../../src/binding/binding.js';
import { BindingError } from '../../src/binding/binding.js';
import { MqttClientBinding } from '../../src/binding/mqtt/mqtt-client-binding.js';
import { decodeMqttMessage, RdOperationCode } from '../../src/binding/mqtt/mqtt-message-map.js';
import { MqttServerBinding } from '../../src/binding/mqtt/mqtt-server-binding.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { Value } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { parseRegistrationPayload } from '../../src/model/registration-payload.js';
import type { Notification, UplinkRequest, UplinkResponse } from '../../src/operations/requests.js';
import { once } from 'node:events';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { certDer, fixturePath, privateKey } from '../support/dtls-fixtures.js';
import { spawnPeer, waitUntil, type PeerProcess } from '../support/peer-process.js';
import { requirePeer } from '../support/peers.js';
import { freeTcpPort } from '../support/redis-server.js';

const codecs = createCodecRegistry();
const model = createDefaultRegistry();
const MANUFACTURER = { path: LwM2mPath.parse('/3/0/0'), value: Value.string('Petrel') };
const BATTERY = { path: LwM2mPath.parse('/3/0/9'), value: Value.integer(80) };

const plain = (r: LwM2mRecord): [string, unknown] => [r.path.toString(), r.value];

interface Broker {
  readonly url: string;
  readonly port: number;
}

/**
 * Cleanups run last-in first-out in one t.after (node:test runs after hooks in registration
 * order): the bindings go before the broker they talk to.
 */
function cleanupStack(t: TestContext): (fn: () => Promise<unknown>) => void {
  const stack: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const fn of stack.reverse()) await fn();
  });
  return (fn) => stack.push(fn);
}

/** Starts mosquitto with a minimal config in a temp dir, stopped and removed by `defer`. */
async function startMosquitto(
  defer: (fn: () => Promise<unknown>) => void,
  program: string,
  tls?: {
    readonly ca: string;
    readonly cert: string;
    readonly key: string;
    /** Clients must present a certificate chaining to `ca` (mosquitto require_certificate). */
    readonly requireCertificate?: boolean;
  },
): Promise<Broker> {
  const port = await freeTcpPort();
  const dir = mkdtempSync(join(tmpdir(), 'petrel-mosquitto-'));
  const config = join(dir, 'mosquitto.conf');
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    'log_dest stdout',
  ];
  // As root, mosquitto would drop to its own user, which cannot read the root-only test keys.
  if (process.getuid?.() === 0) lines.push('user root');
  if (tls) lines.push(`cafile ${tls.ca}`, `certfile ${tls.cert}`, `keyfile ${tls.key}`);
  if (tls?.requireCertificate) lines.push('require_certificate true');
  writeFileSync(config, [...lines, ''].join('\n'));
  const daemon = spawnPeer(program, ['-c', config], 60_000);
  defer(async () => {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `${tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const probe = await connectAsync(url, {
        reconnectPeriod: 0,
        connectTimeout: 1000,
        ...(tls ? { ca: readFileSync(tls.ca) } : {}),
        ...(tls?.requireCertificate
          ? {
              cert: readFileSync(fixturePath('client-chain.pem')),
              key: readFileSync(fixturePath('client.key.pem')),
            }
          : {}),
      });
      await probe.endAsync();
      return { url, port };
    } catch (e) {
      if (Date.now() > deadline) assert.fail(`mosquitto did not start: ${daemon.output()} (${String(e)})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** mosquitto_sub printing `<topic> <hex payload>` for `count` messages under the prefix. */
async function sniff(
  defer: (fn: () => Promise<unknown>) => void,
  program: string,
  broker: Broker,
  prefix: string,
  version: 4 | 5,
  count: number,
): Promise<PeerProcess> {
  // stdbuf: mosquitto_sub block-buffers a pipe, and the test must see SUBACK before publishing.
  const sub = spawnPeer(
    'stdbuf',
    [
      '-oL',
      program,
      '-h',
      '127.0.0.1',
      '-p',
      String(broker.port),
      '-V',
      version === 5 ? 'mqttv5' : 'mqttv311',
      '-q',
      '1',
      '-d',
      '-t',
      `${prefix}/lwm2m/rd/#`,
      '-C',
      String(count),
      '-F',
      'MSG %t %x',
    ],
    20_000,
  );
  defer(() => sub.stop());
  await sub.waitFor(/SUBACK/);
  return sub;
}

function captured(sub: PeerProcess): { topic: string; hex: string }[] {
  return [...sub.output().matchAll(/^MSG (\S+) ([0-9a-f]+)$/gm)].map((m) => ({ topic: m[1]!, hex: m[2]! }));
}

for (const version of [4, 5] as const) {
  describe(`LwM2M over mosquitto, MQTT ${version === 4 ? '3.1.1' : '5'}`, () => {
    it('Register, Read and Observe/Notify travel as CBOR maps on the binding topics', async (t) => {
      const mosquitto = requirePeer(t, 'mosquitto', 'mosquitto');
      const mosquittoSub = requirePeer(t, 'mosquitto_sub', 'mosquitto-clients');
      if (mosquitto === undefined || mosquittoSub === undefined) return;
      const defer = cleanupStack(t);
      const broker = await startMosquitto(defer, mosquitto);
      const prefix = `petrel-interop-v${version}`;
      const ep = `urn:dev:mqtt-${version}`;
      const topic = `${prefix}/lwm2m/rd/${ep}`;

      const server = await MqttServerBinding.start({
        url: broker.url,
        prefix,
        protocolVersion: version,
        codecs,
        model,
        requestTimeout: 5000,
        reconnectPeriod: 0,
      });
      defer(() => server.close());
      const client = await MqttClientBinding.start({
        url: broker.url,
        prefix,
        endpoint: ep,
        clientId: `petrel-c${version}`,
        protocolVersion: version,
        codecs,
        model,
        reconnectPeriod: 0,
      });
      defer(() => client.close());

      const uplinks: UplinkRequest[] = [];
      server.onUplink((request) =>
        Promise.resolve(
          ((): UplinkResponse => {
            uplinks.push(request);
            return request.kind === 'register' ? { code: '2.01', registrationId: 'r1' } : { code: '2.04' };
          })(),
        ),
      );
      let sink: NotificationSink | undefined;
      client.onDownlink((request) =>
        Promise.resolve(
          ((): DownlinkAnswer => {
            if (request.kind === 'read') return { response: { code: '2.05', records: [MANUFACTURER] } };
            if (request.kind === 'observe')
              return { response: { code: '2.05', records: [BATTERY] }, observe: (s) => (sink = s) };
            return { response: { code: '4.05' } };
          })(),
        ),
      );

      const sub = await sniff(defer, mosquittoSub, broker, prefix, version, 2);
      const registered = await client.sendUplink(
        { peer: client.peer(), lwm2mVersion: '1.2' },
        {
          kind: 'register',
          endpoint: ep,
          lifetime: 120,
          lwm2mVersion: '1.2',
          binding: 'M',
          queueMode: false,
          sms: undefined,
          profileIds: [],
          objects: parseRegistrationPayload('</1/0>,</3/0>'),
          extraParameters: new Map(),
        },
        { timeout: 5000 },
      );
      assert.equal(registered.code, '2.01');
      assert.equal(registered.registrationId, 'r1');
      assert.equal(uplinks[0]?.kind, 'register');
      assert.equal(uplinks[0]?.kind === 'register' && uplinks[0].endpoint, ep);

      // What mosquitto_sub saw: the Register map and the server's 2.01 on the same topic.
      await sub.exited();
      const seen = captured(sub);
      assert.equal(seen.length, 2, sub.output());
      assert.deepEqual(
        seen.map((s) => s.topic),
        [topic, topic],
      );
      const [request, response] = seen.map((s) => decodeMqttMessage(Buffer.from(s.hex, 'hex')));
      assert.equal(request?.operation, RdOperationCode.REGISTER);
      assert.equal(request?.ep, ep);
      assert.equal(request?.lifetime, 120);
      assert.equal(request?.version, '1.2');
      assert.equal(request?.b, 'M');
      assert.equal(request?.ct, 40);
      assert.equal(new TextDecoder().decode(request?.payload), '</1/0>,</3/0>');
      assert.equal(response?.result, 201);
      assert.equal(response?.uri, 'r1');
      assert.deepEqual(response?.token, request?.token);

      const target: DownlinkTarget = {
        peer: server.peerFor(ep)!,
        lwm2mVersion: '1.2',
        contentFormats: undefined,
        alternatePath: undefined,
        objectVersions: new Map(),
      };
      const read = await server.send(target, { kind: 'read', path: LwM2mPath.parse('/3/0/0') });
      assert.equal(read.code, '2.05');
      assert.deepEqual(read.records?.map(plain), [plain(MANUFACTURER)]);

      const notifications: Notification[] = [];
      const observation = await server.observe(
        target,
        { kind: 'observe', path: LwM2mPath.parse('/3/0/9') },
        { onNotification: (n) => notifications.push(n) },
      );
      assert.equal(observation.established, true);
      assert.deepEqual(observation.response.records?.map(plain), [plain(BATTERY)]);
      sink?.notify({ records: [{ path: BATTERY.path, value: Value.integer(79) }] }, true);
      await waitUntil(
        () => notifications.length === 1,
        5000,
        () => 'the Notify',
      );
      assert.deepEqual(notifications[0]?.records?.[0]?.value, Value.integer(79));
      assert.equal(notifications[0]?.confirmable, true);
      const cancelled = await observation.cancel();
      assert.equal(cancelled.code, '4.05'); // this device answers a cancel with 4.05
      assert.equal(sink?.active, false);
    });
  });
}

describe('LwM2M over mosquitto with TLS (mqtts://)', () => {
  it('an uplink crosses a TLS listener checked against the test CA; another CA is refused', async (t) => {
    const mosquitto = requirePeer(t, 'mosquitto', 'mosquitto');
    if (mosquitto === undefined) return;
    const defer = cleanupStack(t);
    const broker = await startMosquitto(defer, mosquitto, {
      ca: fixturePath('root-ca.pem'),
      cert: fixturePath('server-chain.pem'),
      key: fixturePath('server.key.pem'),
    });
    assert.match(broker.url, /^mqtts:/);
    const ca = readFileSync(fixturePath('root-ca.pem'));
    const server = await MqttServerBinding.start({
      url: broker.url,
      tls: { ca },
      codecs,
      model,
      reconnectPeriod: 0,
    });
    defer(() => server.close());
    const seen: UplinkRequest[] = [];
    server.onUplink((request) => {
      seen.push(request);
      return Promise.resolve({ code: '2.02' });
    });
    const client = await MqttClientBinding.start({
      url: broker.url,
      tls: { ca },
      endpoint: 'tls-dev',
      codecs,
      model,
      reconnectPeriod: 0,
    });
    defer(() => client.close());
    const answer = await client.sendUplink(
      { peer: client.peer(), lwm2mVersion: '1.2' },
      { kind: 'deregister', registrationId: 'r-tls' },
      { timeout: 5000 },
    );
    assert.equal(answer.code, '2.02');
    assert.deepEqual(seen, [{ kind: 'deregister', registrationId: 'r-tls' }]);

    await assert.rejects(
      MqttClientBinding.start({
        url: broker.url,
        tls: { ca: readFileSync(fixturePath('other-ca.pem')) },
        endpoint: 'tls-dev-2',
        codecs,
        model,
        reconnectPeriod: 0,
        connectTimeout: 3000,
      }),
      (e: unknown) => e instanceof BindingError && e.reason === 'closed',
    );
  });
});

describe('LwM2mClient and LwM2mServer over mosquitto with mutual TLS (mqtts://, Security Mode 2)', () => {
  it('the device presents its certificate from /0 and checks the broker against /0/x/4; registers and is read', async (t) => {
    const mosquitto = requirePeer(t, 'mosquitto', 'mosquitto');
    if (mosquitto === undefined) return;
    const defer = cleanupStack(t);
    // The CA file holds the root and the intermediate: the device sends only its leaf (/0/x/3).
    const dir = mkdtempSync(join(tmpdir(), 'petrel-mqtts-'));
    defer(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    const bundle = join(dir, 'ca-bundle.pem');
    writeFileSync(
      bundle,
      readFileSync(fixturePath('root-ca.pem'), 'utf8') +
        readFileSync(fixturePath('intermediate-ca.pem'), 'utf8'),
    );
    const broker = await startMosquitto(defer, mosquitto, {
      ca: bundle,
      cert: fixturePath('server-chain.pem'),
      key: fixturePath('server.key.pem'),
      requireCertificate: true,
    });
    const lwm2m = new LwM2mServer({
      udp: { address: '127.0.0.1', port: 0 },
      mqtt: {
        url: broker.url,
        reconnectPeriod: 0,
        // A broker client too: any certificate of the CA (the test PKI's client one, clientAuth).
        tls: {
          ca: readFileSync(fixturePath('root-ca.pem')),
          cert: readFileSync(fixturePath('client-chain.pem')),
          key: readFileSync(fixturePath('client.key.pem')),
        },
      },
    });
    await lwm2m.start();
    defer(() => lwm2m.stop());
    const device = new LwM2mClient({
      endpoint: 'petrel-dev-1',
      servers: [
        {
          uri: broker.url,
          lifetime: 60,
          security: {
            securityMode: 2,
            publicKeyOrIdentity: certDer('client'),
            secretKey: new Uint8Array(privateKey('client').export({ format: 'der', type: 'pkcs8' })),
            serverPublicKey: certDer('root-ca'),
            certificateUsage: 2,
          },
        },
      ],
    });
    defer(() => device.stop());
    const registered = once(lwm2m, 'registered', { signal: AbortSignal.timeout(10_000) }) as Promise<
      [Registration]
    >;
    await device.start();
    const [registration] = await registered;
    assert.equal(registration.transport, 'mqtt');
    assert.equal((await lwm2m.read('petrel-dev-1', '/3/0/0')).code, '2.05');
  });
});
