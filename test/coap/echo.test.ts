import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { EchoFreshness } from '../../src/coap/echo.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, getOption } from '../../src/coap/options.js';
import { seededRandom } from '../../src/random.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';

const A = { address: '10.0.0.1', port: 5683 };
const B = { address: '10.0.0.2', port: 5683 };

describe('Echo (RFC 9175)', () => {
  it('issues values that verify for the same peer within the window only', () => {
    const clock = new FakeClock(1_000_000);
    const echo = new EchoFreshness({ clock, windowMs: 30_000 });
    const value = echo.challenge(A);
    assert.equal(value.length, 14);
    assert.equal(echo.verify(A, value), true);
    assert.equal(echo.verify(B, value), false, 'bound to the peer');
    const forged = value.slice();
    forged[13]! ^= 1;
    assert.equal(echo.verify(A, forged), false);
    assert.equal(echo.verify(A, undefined), false);
    assert.equal(echo.verify(A, value.subarray(0, 10)), false);
    clock.advance(30_001);
    assert.equal(echo.verify(A, value), false, 'stale');
    assert.equal(new EchoFreshness({ clock }).verify(A, echo.challenge(A)), false, 'another key');
  });

  it('a client repeats a request answered 4.01 + Echo with that Echo, once', async () => {
    const clock = new FakeClock(5_000);
    const network = new MemoryNetwork();
    const server = new CoapEndpoint({
      channel: network.channel(A.address, A.port),
      clock,
      random: seededRandom(1),
    });
    const client = new CoapEndpoint({
      channel: network.channel(B.address, B.port),
      clock,
      random: seededRandom(2),
    });
    const echo = new EchoFreshness({ clock });
    let seen = 0;
    server.onRequest(({ peer, message }) => {
      seen++;
      if (echo.verify(peer, getOption(message, OptionNumber.ECHO))) return { code: CoapCode.CREATED };
      return {
        code: CoapCode.UNAUTHORIZED,
        options: [{ number: OptionNumber.ECHO, value: echo.challenge(peer) }],
      };
    });
    const res = await client.request(A, { code: CoapCode.POST });
    assert.equal(res.code, CoapCode.CREATED);
    assert.equal(seen, 2);
    // A server that keeps refusing gets one repeat, not a loop.
    server.onRequest(() => ({
      code: CoapCode.UNAUTHORIZED,
      options: [{ number: OptionNumber.ECHO, value: Uint8Array.of(1) }],
    }));
    seen = 0;
    const refused = await client.request(A, { code: CoapCode.POST });
    assert.equal(refused.code, CoapCode.UNAUTHORIZED);
    await client.close();
    await server.close();
  });
});
