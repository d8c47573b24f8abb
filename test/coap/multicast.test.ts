// Group communication (RFC 7252 §8) over the in-memory network: a memory channel at the group
// address fans every datagram out to each member's group channel. The netns suite
// (test/interop/coap-multicast-netns.test.ts) runs the same over real IP multicast.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { CoapEndpoint, type GroupResponse } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, uriPath } from '../../src/coap/options.js';
import { encodeCoapUdp } from '../../src/coap/udp-codec.js';
import { seededRandom } from '../../src/random.js';
import type { Channel, Peer, ReceiveHandler } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { drive, settle } from '../support/coap-driver.js';

const GROUP: Peer = { address: '224.0.1.187', port: 5683 };
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** The receiving side of a group membership: the test delivers to it. */
class FakeGroupChannel implements Channel {
  readonly kind = 'memory' as const;
  handlers: ReceiveHandler[] = [];
  closed = false;
  send(): void {
    throw new Error('a group channel only receives');
  }
  onReceive(handler: ReceiveHandler): void {
    this.handlers.push(handler);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function setup(members: number, leisure: number) {
  const clock = new FakeClock();
  const network = new MemoryNetwork();
  const groupChannels: FakeGroupChannel[] = [];
  const endpoints: CoapEndpoint[] = [];
  const handled: string[] = [];
  for (let i = 0; i < members; i++) {
    const name = `m${i}`;
    const ep = new CoapEndpoint({
      channel: network.channel(`10.0.1.${i + 1}`, 5683),
      clock,
      random: seededRandom(10 + i),
    });
    const g = new FakeGroupChannel();
    ep.addGroupChannel(g, { leisure });
    ep.onRequest(({ message, multicast }) => {
      handled.push(`${name}:${multicast ? 'group' : 'unicast'}:${uriPath(message).join('/')}`);
      return uriPath(message)[0] === 'name'
        ? { code: CoapCode.CONTENT, payload: text(name) }
        : { code: CoapCode.NOT_FOUND };
    });
    groupChannels.push(g);
    endpoints.push(ep);
  }
  const groupAddress = network.channel(GROUP.address, GROUP.port);
  groupAddress.onReceive((peer, bytes) => {
    for (const g of groupChannels) for (const h of g.handlers) h(peer, bytes);
  });
  const client = new CoapEndpoint({
    channel: network.channel('10.0.1.100', 5683),
    clock,
    random: seededRandom(1),
  });
  return { clock, network, client, endpoints, groupChannels, handled };
}

const get = (seg: string) => ({
  code: CoapCode.GET,
  options: [{ number: OptionNumber.URI_PATH, value: text(seg) }],
});

describe('group requests (RFC 7252 §8)', () => {
  it('every member answers once, from its unicast address, spread over the leisure', async () => {
    const { clock, client, endpoints, handled } = setup(4, 2000);
    const arrivals: number[] = [];
    let done = false;
    let responses: GroupResponse[] = [];
    void client
      .groupRequest(GROUP, get('name'), { timeout: 3000, onResponse: () => arrivals.push(clock.now()) })
      .then((r) => {
        responses = r;
        done = true;
      });
    await drive(clock, () => done, { stepMs: 50 });
    assert.deepEqual(responses.map((r) => str(r.message.payload)).sort(), ['m0', 'm1', 'm2', 'm3']);
    assert.deepEqual(responses.map((r) => r.peer.address).sort(), [
      '10.0.1.1',
      '10.0.1.2',
      '10.0.1.3',
      '10.0.1.4',
    ]);
    assert.ok(responses.every((r) => r.message.type === 'NON'));
    assert.ok(handled.every((h) => h.includes(':group:')));
    assert.ok(new Set(arrivals).size > 1, `responses spread over time: ${arrivals.join(',')}`);
    assert.ok(
      arrivals.every((t) => t <= 2000 + 100),
      'within the leisure',
    );
    for (const ep of endpoints) await ep.close();
    await client.close();
  });

  it('error responses are suppressed, CON group requests ignored, duplicates handled once', async () => {
    const { clock, client, endpoints, handled, network } = setup(3, 500);
    let done = false;
    let responses: GroupResponse[] = [];
    void client.groupRequest(GROUP, get('missing'), { timeout: 1000 }).then((r) => {
      responses = r;
      done = true;
    });
    await drive(clock, () => done, { stepMs: 50 });
    assert.equal(responses.length, 0, 'no member answers 4.04 to a group');
    assert.equal(handled.length, 3);
    const raw = network.channel('10.0.1.200', 5683);
    const con = encodeCoapUdp({
      type: 'CON',
      code: CoapCode.GET,
      messageId: 7,
      token: Uint8Array.of(1),
      options: get('name').options,
      payload: new Uint8Array(),
    });
    const non = encodeCoapUdp({
      type: 'NON',
      code: CoapCode.GET,
      messageId: 8,
      token: Uint8Array.of(2),
      options: get('name').options,
      payload: new Uint8Array(),
    });
    raw.send(GROUP, con);
    raw.send(GROUP, non);
    raw.send(GROUP, non);
    await settle();
    assert.equal(handled.length, 6, 'the CON is ignored and the repeated NON handled once per member');
    for (const ep of endpoints) await ep.close();
    await client.close();
  });

  it('close() closes the group channels too', async () => {
    const { client, endpoints, groupChannels } = setup(2, 100);
    for (const ep of endpoints) await ep.close();
    assert.ok(groupChannels.every((g) => g.closed));
    await client.close();
  });
});
