import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { CookieJar } from '../../src/dtls/cookie.js';
import type { ClientHello } from '../../src/dtls/hello-messages.js';
import { seededRandom } from '../../src/random.js';

const hello = (over: Partial<ClientHello> = {}): ClientHello => ({
  clientVersion: 0xfefd,
  random: new Uint8Array(32).fill(7),
  sessionId: new Uint8Array(0),
  cookie: new Uint8Array(0),
  cipherSuites: [0xc0a8],
  compressionMethods: [0],
  extensions: [],
  ...over,
});
const peer = { address: '192.0.2.1', port: 5000 };

describe('CookieJar', () => {
  it('accepts its own cookie for the same address and hello, 16 bytes by default', () => {
    const jar = new CookieJar({ clock: new FakeClock(), random: seededRandom(1) });
    const cookie = jar.cookieFor(peer, hello());
    assert.equal(cookie.length, 16);
    assert.equal(jar.verify(peer, hello({ cookie })), true);
    // Extensions may change between the hellos; the RFC 6347 §4.2.1 parameters may not.
    assert.equal(
      jar.verify(peer, hello({ cookie, extensions: [{ type: 23, data: new Uint8Array(0) }] })),
      true,
    );
  });

  it('refuses the cookie from another address, port or with other hello parameters', () => {
    const jar = new CookieJar({ clock: new FakeClock(), random: seededRandom(1) });
    const cookie = jar.cookieFor(peer, hello());
    assert.equal(jar.verify({ ...peer, port: 5001 }, hello({ cookie })), false);
    assert.equal(jar.verify({ ...peer, address: '192.0.2.2' }, hello({ cookie })), false);
    assert.equal(jar.verify(peer, hello({ cookie, random: new Uint8Array(32).fill(8) })), false);
    assert.equal(jar.verify(peer, hello({ cookie, cipherSuites: [0xc0a8, 0xc0ae] })), false);
    assert.equal(jar.verify(peer, hello({ cookie, clientVersion: 0xfeff })), false);
    assert.equal(jar.verify(peer, hello({ cookie: cookie.subarray(0, 15) })), false);
    const flipped = cookie.slice();
    flipped[0]! ^= 1;
    assert.equal(jar.verify(peer, hello({ cookie: flipped })), false);
  });

  it('keeps the previous secret across one rotation, not two', () => {
    const clock = new FakeClock();
    const jar = new CookieJar({ clock, random: seededRandom(2), rotateAfterMs: 1000, length: 20 });
    const cookie = jar.cookieFor(peer, hello());
    assert.equal(cookie.length, 20);
    clock.advance(1000);
    assert.equal(jar.verify(peer, hello({ cookie })), true);
    clock.advance(1000);
    assert.equal(jar.verify(peer, hello({ cookie })), false);
  });
});
