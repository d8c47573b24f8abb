// The captured third-party clients (client A, LwM2M 1.2; client B, 1.1), replayed as scripted
// peers against the real server: they register, answer every request the capture's server made
// (re-issued here through the server's typed API), notify, Send and de-register.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { decodeDownlinkRequest } from '../../src/binding/coap/downlink-codec.js';
import { formatCode } from '../../src/coap/message.js';
import { observe as observeOption } from '../../src/coap/options.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { OperationError } from '../../src/operations/result-code.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { seededRandom } from '../../src/random.js';
import { ServerRequestError } from '../../src/server/errors.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import type { Peer } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { settle } from '../support/coap-driver.js';
import { ScriptedClient, loadScript, type ClientScript } from '../support/scripted-client.js';
import { requireShared } from '../support/shared.js';

const SERVER: Peer = { address: '10.0.0.1', port: 5683 };
const model = createDefaultRegistry();
const codecs = createCodecRegistry();

function load(t: TestContext, file: string): ClientScript | undefined {
  const dir = requireShared(t);
  return dir ? loadScript(join(dir, 'captures', file)) : undefined;
}

type Wire = 'memory' | 'udp';

/** The server and a scripted client on an in-memory network, or on real UDP sockets on 127.0.0.1. */
async function setup(script: ClientScript, wire: Wire = 'memory') {
  let server: LwM2mServer;
  let client: ScriptedClient;
  if (wire === 'memory') {
    const network = new MemoryNetwork();
    server = new LwM2mServer({
      channel: network.channel(SERVER.address, SERVER.port),
      random: seededRandom(3),
      requestTimeout: 400,
    });
    await server.start();
    client = new ScriptedClient({ script, channel: network.channel('10.0.0.2', 56830), server: SERVER });
  } else {
    server = new LwM2mServer({ udp: { address: '127.0.0.1', port: 0 }, requestTimeout: 400 });
    await server.start();
    const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    client = new ScriptedClient({
      script,
      channel,
      server: { address: '127.0.0.1', port: server.address!.port },
    });
  }
  const keepAlive = setInterval(() => undefined, 1000);
  return {
    server,
    client,
    close: async () => {
      clearInterval(keepAlive);
      await client.stop();
      await server.stop();
    },
  };
}

/**
 * Re-issues every captured server request that is not part of an observation through the
 * server's API (decoded from the capture into a typed operation), and compares the outcome with
 * the client's captured answer. Returns how many went out and how many got no answer.
 */
async function replayRequests(server: LwM2mServer, script: ClientScript, endpoint: string) {
  let sent = 0;
  let silent = 0;
  let refused = 0;
  for (const answer of script.answers) {
    const obs = observeOption(answer.request);
    if (obs !== undefined) continue; // observations and their cancels: tested below
    const request = decodeDownlinkRequest(answer.request, { codecs, model });
    sent++;
    if (!answer.response) {
      const error = await server.request(endpoint, request).then(
        () => assert.fail(`${request.kind} was never answered in the capture`),
        (e: unknown) => e,
      );
      if (error instanceof OperationError && error.reason === 'not-supported-by-version') refused++;
      else {
        assert.ok(error instanceof ServerRequestError && error.reason === 'timeout', String(error));
        silent++;
      }
      continue;
    }
    const expected = formatCode(answer.response.code);
    let result;
    try {
      result = await server.request(endpoint, request);
    } catch (e) {
      // The server refuses locally what the client's version lacks (LwM2M CBOR to a 1.1 client);
      // the captured client refused those requests too.
      assert.ok(e instanceof OperationError && e.reason === 'not-supported-by-version', String(e));
      // A 1.1 client ignores `depth` (it answers with its default depth); the server refuses to
      // send it rather than return something other than what was asked.
      if (request.kind !== 'discover')
        assert.match(expected, /^4\./, `${request.kind} refused locally but the client accepted it`);
      refused++;
      continue;
    }
    assert.equal(
      result.code,
      expected,
      `${answer.request.code} ${request.kind} ${'path' in request ? String(request.path) : ''}`,
    );
    if (result.success && (request.kind === 'read' || request.kind === 'read-composite'))
      assert.ok(
        result.records.length > 0 || (request.kind === 'read' && request.path.toString() === '/2'),
        `${request.kind} decoded values`,
      );
    if (request.kind === 'create' && result.success) assert.match(result.location ?? '', /^\/\d+\/\d+$/);
  }
  return { sent, silent, refused };
}

describe('captured client A (LwM2M 1.2) against the server', () => {
  for (const wire of ['memory', 'udp'] as const)
    it(`registers, answers every request in every format, notifies, sends and de-registers (${wire})`, async (t) => {
      const script = load(t, 'lwm2m-1.2-client-udp.jsonl');
      if (!script) return;
      const { server, client, close } = await setup(script, wire);
      try {
        const registered = once(server, 'registered') as Promise<[Registration]>;
        await client.register();
        const [reg] = await registered;
        assert.equal(reg.endpoint, 'urn:dev:client-a-001');
        assert.equal(reg.lwm2mVersion, '1.2');
        assert.equal(reg.binding, 'U', 'no b= means U');
        assert.ok(
          reg.objects.some((o) => o.id === 1 && o.instances.includes(1)),
          'Server instance /1/1',
        );

        const updates: Registration[] = [];
        server.on('updated', (r) => updates.push(r));
        const { sent, silent, refused } = await replayRequests(server, script, reg.endpoint);
        assert.ok(sent > 60, `${sent} requests replayed`);
        assert.equal(silent, 0);
        assert.equal(refused, 0);
        assert.deepEqual(
          client.received.filter((r) => r.matched === 'none').map((r) => formatCode(r.request.code)),
          [],
          'every request the server made is one the client knows',
        );
        await client.idle();
        await settle(5);
        assert.ok(updates.length >= 8, `the writes to /1/1 triggered Updates (${updates.length})`);

        // Observe /3/0/13 (single resource) and /3/0 in SenML CBOR, then the composite.
        const single = await server.observe(reg.endpoint, '/3/0/13');
        assert.equal(single.response.code, '2.05');
        const seen: unknown[] = [];
        single.on('notification', (n) => seen.push(n.result.values));
        const played = await client.playNotifications('/3/0/13');
        await settle(5);
        assert.equal(seen.length, played);
        assert.ok(played >= 3);
        assert.equal((await single.cancel())?.code, '2.05');

        const instance = await server.observe(reg.endpoint, '/3/0', { format: 'senml-cbor' });
        const inst: number[] = [];
        instance.on('notification', (n) => inst.push(n.result.records.length));
        await client.playNotifications('/3/0');
        await settle(5);
        assert.ok(inst.length >= 3 && inst.every((n) => n > 5), 'whole-instance notifications decode');

        const composite = await server.observeComposite(reg.endpoint, ['/3/0/0', '/1/1/1'], {
          format: 'senml-cbor',
          requestFormat: 'senml-etch-json',
        });
        assert.equal(composite.response.code, '2.05');
        const comp: unknown[] = [];
        composite.on('notification', (n) => comp.push(n.result.values));
        await client.playNotifications('/');
        await settle(5);
        assert.ok(comp.length >= 2);

        // Send (SenML CBOR), then De-register.
        const sendEvent = once(server, 'send') as Promise<[{ result: { values: Record<string, unknown> } }]>;
        const sendRes = await client.send();
        assert.equal(formatCode(sendRes.code), '2.04');
        const [event] = await sendEvent;
        assert.ok('/3/0/0' in event.result.values && '/3/0/9' in event.result.values);
        const gone = once(server, 'deregistered');
        assert.equal(formatCode((await client.deregister()).code), '2.02');
        await gone;
        assert.equal(instance.active, false);
        assert.equal(composite.active, false);
      } finally {
        await close();
      }
    });
});

describe('captured client B (LwM2M 1.1) against the server', () => {
  it('registers with its root link, answers what it supports, and never answers FETCH/iPATCH', async (t) => {
    const script = load(t, 'lwm2m-1.1-client-udp.jsonl');
    if (!script) return;
    const { server, client, close } = await setup(script);
    try {
      const registered = once(server, 'registered') as Promise<[Registration]>;
      await client.register();
      const [reg] = await registered;
      assert.equal(reg.endpoint, 'client-b-001');
      assert.equal(reg.lwm2mVersion, '1.1');
      assert.deepEqual(reg.contentFormats, [110]);
      assert.equal(reg.objects.find((o) => o.id === 1)?.version, '1.1');

      const { sent, silent, refused } = await replayRequests(server, script, reg.endpoint);
      assert.ok(sent > 50, `${sent} requests replayed`);
      assert.ok(refused > 0, 'LwM2M CBOR requests are refused before they reach a 1.1 client');
      assert.ok(silent >= 1, 'a Write-Composite the client never answers times out, it does not hang');
      assert.deepEqual(
        client.received.filter((r) => r.matched === 'none').map((r) => formatCode(r.request.code)),
        [],
      );

      // 1.1 peers get no 1.2 features: refused locally, nothing sent.
      const before = client.received.length;
      await assert.rejects(server.discover(reg.endpoint, '/3', { depth: 1 }), /1\.2|depth/);
      await assert.rejects(
        server.observe(reg.endpoint, '/3/0/13', { attributes: { pmin: 1 } }),
        /1\.2|attribute/,
      );
      await assert.rejects(
        server.read(reg.endpoint, '/3/0', { format: 'lwm2m-cbor' }),
        /1\.2|11544|lwm2m-cbor/i,
      );
      assert.equal(client.received.length, before);

      const single = await server.observe(reg.endpoint, '/3/0/13');
      const seen: unknown[] = [];
      single.on('notification', (n) => seen.push(n.result.values));
      const played = await client.playNotifications('/3/0/13');
      await settle(5);
      assert.equal(seen.length, played);

      // Its Send has a zero-length token and SenML JSON.
      const sendEvent = once(server, 'send') as Promise<[{ result: { values: Record<string, unknown> } }]>;
      assert.equal(formatCode((await client.send()).code), '2.04');
      const [event] = await sendEvent;
      assert.deepEqual(event.result.values, { '/3/0/9': 100 });
      await client.deregister();
    } finally {
      await close();
    }
  });
});
