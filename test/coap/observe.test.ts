import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import {
  CoapEndpoint,
  isFresher,
  type EndpointOptions,
  type ObserveEndReason,
  type ObserveRelation,
} from '../../src/coap/endpoint.js';
import { CoapCode, type CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, encodeUint, observe } from '../../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../src/coap/udp-codec.js';
import { seededRandom } from '../../src/random.js';
import type { Peer } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { drive, settle } from '../support/coap-driver.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);
const SERVER: Peer = { address: '10.0.0.1', port: 5683 };
const CLIENT: Peer = { address: '10.0.0.2', port: 5683 };
const GET_TEMP = { code: CoapCode.GET, options: [{ number: OptionNumber.URI_PATH, value: text('temp') }] };

function setup(opts: Partial<EndpointOptions> = {}) {
  const clock = new FakeClock();
  const network = new MemoryNetwork();
  const server = new CoapEndpoint({
    channel: network.channel(SERVER.address, SERVER.port),
    clock,
    random: seededRandom(1),
    ...opts,
  });
  const client = new CoapEndpoint({
    channel: network.channel(CLIENT.address, CLIENT.port),
    clock,
    random: seededRandom(2),
    ...opts,
  });
  // The server keeps the relations it accepted and why each ended.
  const relations: ObserveRelation[] = [];
  const ended: ObserveEndReason[] = [];
  let value = 20;
  server.onRequest(() => ({
    code: CoapCode.CONTENT,
    payload: text(String(value)),
    observe: (relation) => {
      relations.push(relation);
      relation.onEnd((reason) => ended.push(reason));
    },
  }));
  const notifyAll = (confirmable = false) => {
    value++;
    for (const r of relations)
      r.notify({ code: CoapCode.CONTENT, payload: text(String(value)) }, { confirmable });
  };
  return { clock, network, server, client, relations, ended, notifyAll };
}

describe('observe (RFC 7641)', () => {
  it('registers, delivers rising notifications, and cancels with Observe=1', async () => {
    const { clock, server, client, relations, ended, notifyAll } = setup();
    const seen: CoapMessage[] = [];
    const obs = await client.observe(SERVER, GET_TEMP, { onNotification: (m) => seen.push(m) });
    assert.equal(obs.established, true);
    assert.equal(str(obs.response.payload), '20');
    assert.notEqual(observe(obs.response), undefined);
    await settle();
    assert.equal(relations.length, 1);
    for (let i = 0; i < 5; i++) {
      notifyAll();
      await settle();
    }
    assert.deepEqual(
      seen.map((m) => str(m.payload)),
      ['21', '22', '23', '24', '25'],
    );
    const seqs = seen.map((m) => observe(m)!);
    for (let i = 1; i < seqs.length; i++) assert.ok(isFresher(seqs[i - 1]!, seqs[i]!, 0));
    assert.ok(seen.every((m) => m.type === 'NON'));
    const p = obs.cancel();
    await drive(clock, () => ended.length > 0);
    const final = await p;
    assert.equal(final.code, CoapCode.CONTENT);
    assert.equal(observe(final), undefined, 'the cancel is answered as a plain GET');
    assert.deepEqual(ended, ['deregistered']);
    assert.equal(server.observeRelations, 0);
    await client.close();
    await server.close();
  });

  it('a forgotten observation answers the next notification with RST, which ends the relation', async () => {
    const { server, client, relations, ended, notifyAll } = setup();
    const seen: string[] = [];
    const obs = await client.observe(SERVER, GET_TEMP, { onNotification: (m) => seen.push(str(m.payload)) });
    await settle();
    obs.forget();
    notifyAll();
    await settle();
    assert.deepEqual(seen, []);
    assert.deepEqual(ended, ['reset']);
    assert.equal(relations[0]!.active, false);
    assert.equal(server.tableSizes().relations, 0);
    await client.close();
    await server.close();
  });

  it('CON notifications are acknowledged; unacknowledged ones end the relation with timeout', async () => {
    const { clock, server, client, ended, notifyAll } = setup();
    const seen: string[] = [];
    await client.observe(SERVER, GET_TEMP, {
      onNotification: (m) => seen.push(`${m.type}:${str(m.payload)}`),
    });
    await settle();
    notifyAll(true);
    await drive(clock, () => server.tableSizes().pendingCon === 0);
    assert.deepEqual(seen, ['CON:21']);
    await client.close(); // the client goes away without a word
    notifyAll(true);
    await drive(clock, () => ended.length > 0, { stepMs: 1000 });
    assert.deepEqual(ended, ['timeout']);
    await server.close();
  });

  it('drops stale and reordered notifications (the client keeps the newest)', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork();
    const client = new CoapEndpoint({
      channel: network.channel(CLIENT.address, CLIENT.port),
      clock,
      random: seededRandom(3),
    });
    const raw = network.channel(SERVER.address, SERVER.port);
    let token = new Uint8Array();
    let mid = 100;
    const send = (
      type: 'ACK' | 'NON',
      seq: number | undefined,
      payload: string,
      messageId = mid++,
      code: number = CoapCode.CONTENT,
    ) =>
      raw.send(
        CLIENT,
        encodeCoapUdp({
          type,
          code,
          messageId,
          token,
          options: seq === undefined ? [] : [{ number: OptionNumber.OBSERVE, value: encodeUint(seq) }],
          payload: text(payload),
        }),
      );
    raw.onReceive((_p, bytes) => {
      const m = decodeCoapUdp(bytes);
      if (m.code === CoapCode.GET) {
        token = m.token.slice();
        send('ACK', 10, 'first', m.messageId);
      }
    });
    const seen: string[] = [];
    const ends: string[] = [];
    const obs = await client.observe(SERVER, GET_TEMP, {
      onNotification: (m) => seen.push(str(m.payload)),
      onEnd: (r) => ends.push(r),
    });
    assert.equal(str(obs.response.payload), 'first');
    send('NON', 12, 'twelve');
    send('NON', 11, 'eleven (late)');
    send('NON', 13, 'thirteen');
    await settle();
    // 24-bit wrap-around: 2^24 - 1 then 0 is newer.
    send('NON', 0xfffffe, 'far back (stale)');
    await settle();
    clock.advance(129_000); // more than 128 s later any number is fresh
    send('NON', 5, 'after a long gap');
    await settle();
    send('NON', undefined, 'final', undefined, CoapCode.NOT_FOUND);
    await settle();
    assert.deepEqual(seen, ['twelve', 'thirteen', 'after a long gap']);
    assert.deepEqual(ends, ['final-response']);
    assert.equal(client.tableSizes().exchanges, 0);
    await client.close();
  });

  it('isFresher follows RFC 7641 §3.4 at the wrap-around', () => {
    assert.equal(isFresher(1, 2, 0), true);
    assert.equal(isFresher(2, 1, 0), false);
    assert.equal(isFresher(0xffffff, 0, 0), true);
    assert.equal(isFresher(0, 0xffffff, 0), false);
    assert.equal(isFresher(0, 2 ** 23, 0), false);
    assert.equal(isFresher(0, 2 ** 23 - 1, 0), true);
    assert.equal(isFresher(5, 3, 128_001), true);
  });

  it('a server that does not accept the registration answers without Observe', async () => {
    const { server, client } = setup();
    server.onRequest(() => ({ code: CoapCode.CONTENT, payload: text('plain') }));
    const obs = await client.observe(SERVER, GET_TEMP, {
      onNotification: () => assert.fail('no notifications'),
    });
    assert.equal(obs.established, false);
    assert.equal(client.tableSizes().exchanges, 0);
    await client.close();
    await server.close();
  });

  it('a final error notification ends both sides', async () => {
    const { server, client, relations, ended } = setup();
    const ends: string[] = [];
    await client.observe(SERVER, GET_TEMP, {
      onNotification: () => {},
      onEnd: (r, m) => ends.push(`${r}:${m?.code}`),
    });
    await settle();
    relations[0]!.notify({ code: CoapCode.NOT_FOUND });
    await settle();
    assert.deepEqual(ends, [`final-response:${CoapCode.NOT_FOUND}`]);
    assert.deepEqual(ended, ['cancelled']);
    await client.close();
    await server.close();
  });

  it('bounds relations: registrations beyond maxObserveRelations are served without Observe', async () => {
    const { server, client } = setup({ limits: { maxObserveRelations: 2 } });
    const results = [];
    for (let i = 0; i < 4; i++)
      results.push(await client.observe(SERVER, GET_TEMP, { onNotification: () => {} }));
    assert.deepEqual(
      results.map((r) => r.established),
      [true, true, false, false],
    );
    assert.equal(server.observeRelations, 2);
    await client.close();
    await server.close();
  });

  it("a flood of registrations from one peer evicts that peer's oldest relations", async () => {
    const { server, client, ended } = setup({ limits: { maxObserveRelationsPerPeer: 3 } });
    for (let i = 0; i < 10; i++) await client.observe(SERVER, GET_TEMP, { onNotification: () => {} });
    await settle();
    assert.equal(server.observeRelations, 3);
    assert.deepEqual(ended, Array(7).fill('evicted'));
    await client.close();
    await server.close();
  });

  it('close() ends every relation and observation', async () => {
    const { server, client, ended } = setup();
    const ends: string[] = [];
    await client.observe(SERVER, GET_TEMP, { onNotification: () => {}, onEnd: (r) => ends.push(r) });
    await settle();
    await client.close();
    await server.close();
    assert.deepEqual(ends, ['closed']);
    assert.deepEqual(ended, ['closed']);
  });
});
