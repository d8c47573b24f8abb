import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PetrelError } from '../../src/errors.js';
import {
  ChannelClosedError,
  ChannelError,
  ChannelEvents,
  ChannelHandlerError,
  ChannelSendError,
  isMulticastAddress,
  normalizeAddress,
  peerKey,
  type Peer,
} from '../../src/transport/channel.js';

describe('normalizeAddress', () => {
  it('turns IPv4-mapped IPv6 into plain IPv4, in dotted and hex forms', () => {
    assert.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeAddress('::FFFF:192.168.1.20'), '192.168.1.20');
    assert.equal(normalizeAddress('::ffff:7f00:1'), '127.0.0.1');
    assert.equal(normalizeAddress('0:0:0:0:0:ffff:c0a8:0114'), '192.168.1.20');
  });

  it('gives IPv6 its RFC 5952 form', () => {
    assert.equal(normalizeAddress('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(normalizeAddress('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(normalizeAddress('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1'); // first of two equal runs
    assert.equal(normalizeAddress('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1'); // a single 0 stays
    assert.equal(normalizeAddress('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1'); // the longest run wins
    assert.equal(normalizeAddress('FF02:0:0:0:0:0:0:FD'), 'ff02::fd');
    assert.equal(normalizeAddress('::'), '::');
    assert.equal(normalizeAddress('fe80:0::1%eth0'), 'fe80::1%eth0');
    assert.equal(normalizeAddress('::1.2.3.4'), '::102:304'); // IPv4-compatible is not IPv4-mapped
  });

  it('leaves IPv4 literals and non-addresses as they are', () => {
    assert.equal(normalizeAddress('10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeAddress('example.org'), 'example.org');
    assert.equal(normalizeAddress('not:an:address'), 'not:an:address');
    assert.equal(normalizeAddress(''), '');
  });
});

describe('peerKey', () => {
  it('keys IPv4 as address:port and IPv6 in brackets', () => {
    assert.equal(peerKey({ address: '127.0.0.1', port: 5683 }), '127.0.0.1:5683');
    assert.equal(peerKey({ address: '::1', port: 5684 }), '[::1]:5684');
  });

  it('keys one host the same whatever its spelling', () => {
    assert.equal(peerKey({ address: '::ffff:127.0.0.1', port: 5683 }), '127.0.0.1:5683');
    assert.equal(peerKey({ address: '0000:0000::0001', port: 1 }), peerKey({ address: '::1', port: 1 }));
    assert.equal(peerKey({ address: '2001:DB8::A', port: 9 }), '[2001:db8::a]:9');
  });

  it('ignores identity, keys a DTLS Connection ID session by its CID, and separates ports', () => {
    const a: Peer = { address: '10.0.0.1', port: 5684, identity: { psk: 'dev1' } };
    assert.equal(peerKey(a), '10.0.0.1:5684');
    const withCid = { ...a, connectionId: new Uint8Array([0xab, 1]) };
    assert.equal(peerKey(withCid), 'cid:ab01');
    // The same session after NAT rebinding: same key.
    assert.equal(peerKey({ ...withCid, address: '10.9.9.9', port: 40000 }), 'cid:ab01');
    assert.equal(peerKey({ ...a, connectionId: new Uint8Array(0) }), '10.0.0.1:5684');
    assert.notEqual(
      peerKey({ address: '10.0.0.1', port: 5683 }),
      peerKey({ address: '10.0.0.1', port: 5684 }),
    );
  });

  it('stays correct past the bounded cache', () => {
    for (let i = 1; i <= 3000; i++) {
      const hex = i.toString(16);
      assert.equal(peerKey({ address: `2001:db8:0:0:0:0:0:${hex}`, port: 1 }), `[2001:db8::${hex}]:1`);
    }
  });
});

describe('isMulticastAddress', () => {
  it('recognises 224.0.0.0/4 and ff00::/8 only', () => {
    for (const a of ['224.0.1.187', '239.255.255.255', 'ff02::fd', 'ff05::fd', 'FF05:0::FD'])
      assert.ok(isMulticastAddress(a), a);
    for (const a of ['223.255.255.255', '240.0.0.1', '127.0.0.1', '::1', 'ff::1', 'fe80::1', 'host', '']) {
      assert.ok(!isMulticastAddress(a), a);
    }
  });
});

describe('errors', () => {
  it('are PetrelErrors with stable codes', () => {
    const closed = new ChannelClosedError('udp');
    assert.ok(closed instanceof ChannelError && closed instanceof PetrelError);
    assert.equal(closed.code, 'PETREL_ERR_CHANNEL_CLOSED');
    assert.equal(closed.name, 'ChannelClosedError');
    const send = new ChannelSendError('too-large', { address: '::1', port: 5 }, 'EMSGSIZE', {
      systemCode: 'EMSGSIZE',
    });
    assert.equal(send.code, 'PETREL_ERR_CHANNEL_SEND');
    assert.equal(send.failure, 'too-large');
    assert.equal(send.systemCode, 'EMSGSIZE');
    assert.match(send.message, /\[::1\]:5/);
  });
});

describe('ChannelEvents', () => {
  const peer: Peer = { address: '10.0.0.1', port: 1 };

  it('delivers to every handler in order, even when one throws', () => {
    const events = new ChannelEvents();
    const seen: string[] = [];
    const errors: ChannelError[] = [];
    events.onReceive(() => {
      seen.push('a');
      throw new Error('boom');
    });
    events.onReceive(() => seen.push('b'));
    events.onError((e) => errors.push(e));
    events.deliver(peer, new Uint8Array([1]));
    assert.deepEqual(seen, ['a', 'b']);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof ChannelHandlerError);
    assert.equal(errors[0]?.peer, peer);
    assert.equal((errors[0]?.cause as Error).message, 'boom');
  });

  it('rethrows a handler error when nobody listens for errors', () => {
    const events = new ChannelEvents();
    events.onReceive(() => {
      throw new Error('unheard');
    });
    assert.throws(() => events.deliver(peer, new Uint8Array()), /unheard/);
  });

  it('reports errorLater asynchronously', async () => {
    const events = new ChannelEvents();
    const errors: ChannelError[] = [];
    events.onError((e) => errors.push(e));
    events.errorLater(new ChannelClosedError('memory'));
    assert.equal(errors.length, 0);
    await Promise.resolve();
    assert.equal(errors.length, 1);
  });
});
