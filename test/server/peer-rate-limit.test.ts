import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber, getUint } from '../../src/coap/options.js';
import { PeerRateLimiter } from '../../src/server/peer-rate-limit.js';
import type { UplinkEvent } from '../../src/server/lwm2m-server.js';
import { code, startHarness, text } from './server-harness.js';

const A = { address: '10.0.0.2', port: 1000 };
const A2 = { address: '10.0.0.2', port: 1001 };
const B = { address: '10.0.0.3', port: 1000 };

describe('PeerRateLimiter', () => {
  it('takes a burst, then `rate` per second; a refusal says how many seconds until a token is back', () => {
    const clock = new FakeClock(0);
    const l = new PeerRateLimiter({ rate: 2, burst: 4 }, clock);
    assert.deepEqual(
      Array.from({ length: 5 }, () => l.take(A).allowed),
      [true, true, true, true, false],
    );
    assert.deepEqual(l.take(A), { allowed: false, retryAfter: 1 });
    assert.equal(l.take(B).allowed, true, 'another peer has its own bucket');
    clock.advance(1000); // two tokens back
    assert.deepEqual([l.take(A).allowed, l.take(A).allowed, l.take(A).allowed], [true, true, false]);
    assert.deepEqual(l.stats, { allowed: 7, refused: 3, tracked: 2 });
    const slow = new PeerRateLimiter({ rate: 0.1, burst: 1 }, clock);
    slow.take(A);
    assert.deepEqual(slow.take(A), { allowed: false, retryAfter: 10 });
  });

  it("keys by address and port, or by address alone with key: 'address'", () => {
    const clock = new FakeClock(0);
    const byPeer = new PeerRateLimiter({ rate: 1, burst: 1 }, clock);
    assert.deepEqual([byPeer.take(A).allowed, byPeer.take(A2).allowed], [true, true]);
    const byAddress = new PeerRateLimiter({ rate: 1, burst: 1, key: 'address' }, clock);
    assert.deepEqual([byAddress.take(A).allowed, byAddress.take(A2).allowed], [true, false]);
  });

  it('holds at most maxPeers buckets, dropping full ones first, then the oldest', () => {
    const clock = new FakeClock(0);
    const l = new PeerRateLimiter({ rate: 1, burst: 2, maxPeers: 3 }, clock);
    const peer = (port: number) => ({ address: '10.0.0.9', port });
    l.take(peer(1));
    l.take(peer(2));
    l.take(peer(2));
    l.take(peer(3));
    l.take(peer(3));
    clock.advance(1000); // peer 1's bucket is full again; 2 and 3 are not
    l.take(peer(4));
    assert.equal(l.stats.tracked, 3);
    // Peer 2 kept its (empty after two more) bucket: it was not the one dropped.
    clock.advance(0);
    assert.deepEqual([l.take(peer(2)).allowed, l.take(peer(2)).allowed], [true, false]);
    // With no full bucket left, the oldest goes, and memory stays bounded whatever comes.
    for (let p = 10; p < 1000; p++) l.take(peer(p));
    assert.equal(l.stats.tracked, 3);
  });

  it('refuses settings that make no sense, saying which', () => {
    const clock = new FakeClock(0);
    assert.throws(
      () => new PeerRateLimiter({ rate: 0 }, clock),
      /peerRateLimit\.rate must be a number above 0/,
    );
    assert.throws(
      () => new PeerRateLimiter({ rate: 1, burst: 0.5 }, clock),
      /peerRateLimit\.burst must be a number of at least 1/,
    );
    assert.throws(() => new PeerRateLimiter({ rate: 1, maxPeers: 0 }, clock), /peerRateLimit\.maxPeers/);
    assert.throws(
      () => new PeerRateLimiter({ rate: 1, key: 'port' as 'peer' }, clock),
      /peerRateLimit\.key must be 'peer' or 'address'/,
    );
  });
});

describe('LwM2mServer with peerRateLimit', () => {
  it('answers 4.29 with Max-Age past the limit, before decoding; other peers and later requests are served', async () => {
    const clock = new FakeClock(0);
    const h = await startHarness({ peerRateLimit: { rate: 1, burst: 3 } }, clock);
    try {
      const refused: UplinkEvent[] = [];
      h.server.on('uplink', (e) => {
        if (e.code === '4.29') refused.push(e);
      });
      const reg = await h.device.register(['ep=dev-1', 'lt=300', 'lwm2m=1.2']);
      assert.equal(code(reg), '2.01');
      assert.equal(code(await h.device.update()), '2.04');
      assert.equal(code(await h.device.update()), '2.04');
      const over = await h.device.update();
      assert.equal(over.code, CoapCode.TOO_MANY_REQUESTS);
      assert.equal(getUint(over, OptionNumber.MAX_AGE), 1);
      assert.match(text(over), /too many requests from this peer; retry in 1 s/);
      // Garbage is refused the same way, without being parsed.
      assert.equal(code(await h.device.request(CoapCode.POST, ['rd'], ['lt=x'])), '4.29');
      assert.equal(refused.length, 2);
      assert.equal(refused[0]!.operation, 'update');
      const other = h.newDevice('10.0.0.3');
      assert.equal(code(await other.register(['ep=dev-2', 'lt=300', 'lwm2m=1.2'])), '2.01');
      clock.advance(1000);
      assert.equal(code(await h.device.update()), '2.04');
      assert.deepEqual(h.server.peerRateLimitStats, { allowed: 5, refused: 2, tracked: 2 });
      assert.ok(await h.server.getRegistration('dev-1'), 'the limited device is still registered');
    } finally {
      await h.close();
    }
  });
});
