import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CIPHER_SUITES, cipherSuite, keyBlockLength } from '../../src/dtls/cipher-suites.js';
import {
  extendedMasterSecret,
  keyBlock,
  masterSecret,
  prf,
  pskPremasterSecret,
  verifyData,
} from '../../src/dtls/key-schedule.js';
import { HandshakeTranscript } from '../../src/dtls/handshake-transcript.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

describe('TLS 1.2 key schedule', () => {
  it('matches the widely published TLS 1.2 PRF-SHA256 test vector', () => {
    const out = prf(
      bytes('9bbe436ba940f017b17652849a71db35'),
      'test label',
      bytes('a0ba9f936cda311827a6f796ffd5198c'),
      100,
    );
    assert.equal(
      hex(out),
      'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
    );
  });

  it('gives PRF prefixes for shorter lengths', () => {
    const s = bytes('00ff');
    const long = prf(s, 'x', Uint8Array.of(1), 70);
    for (const n of [0, 1, 31, 32, 33, 64])
      assert.equal(hex(prf(s, 'x', Uint8Array.of(1), n)), hex(long.subarray(0, n)));
  });

  it('builds the RFC 4279 PSK premaster secret, with a given other_secret too', () => {
    assert.equal(hex(pskPremasterSecret(Uint8Array.of(0xaa, 0xbb))), '0002' + '0000' + '0002' + 'aabb');
    assert.equal(
      hex(pskPremasterSecret(Uint8Array.of(0xaa), Uint8Array.of(1, 2, 3))),
      '0003010203' + '0001aa',
    );
  });

  it('derives distinct standard and extended master secrets of 48 bytes', () => {
    const pms = pskPremasterSecret(new Uint8Array(16).fill(1));
    const cr = new Uint8Array(32).fill(2);
    const sr = new Uint8Array(32).fill(3);
    const standard = masterSecret(pms, cr, sr);
    assert.equal(standard.length, 48);
    assert.equal(hex(standard), hex(prf(pms, 'master secret', Buffer.concat([cr, sr]), 48)));
    const ems = extendedMasterSecret(pms, new Uint8Array(32));
    assert.equal(ems.length, 48);
    assert.notEqual(hex(ems), hex(standard));
  });

  it('cuts the key block per suite (CBC suites have MAC keys and no fixed IV)', () => {
    const master = new Uint8Array(48).fill(9);
    const cr = new Uint8Array(32).fill(1);
    const sr = new Uint8Array(32).fill(2);
    for (const suite of CIPHER_SUITES) {
      const kb = keyBlock(master, cr, sr, suite);
      const whole = prf(master, 'key expansion', Buffer.concat([sr, cr]), keyBlockLength(suite));
      assert.equal(
        hex(
          Buffer.concat([
            kb.client.macKey,
            kb.server.macKey,
            kb.client.key,
            kb.server.key,
            kb.client.iv,
            kb.server.iv,
          ]),
        ),
        hex(whole),
      );
    }
    assert.equal(keyBlockLength(cipherSuite(0xc0a8)!), 40);
    assert.equal(keyBlockLength(cipherSuite(0x00ae)!), 96);
    assert.equal(cipherSuite(0x1234), undefined);
  });

  it('computes 12-byte verify_data for each side', () => {
    const m = new Uint8Array(48);
    const h = new HandshakeTranscript().add({ msgType: 1, messageSeq: 0, body: Uint8Array.of(1) });
    const first = h.hash();
    assert.equal(hex(h.hash()), hex(first), 'hash() does not end the transcript');
    h.addEncoded(Uint8Array.of(5));
    assert.notEqual(hex(h.hash()), hex(first));
    assert.equal(verifyData(m, 'client', first).length, 12);
    assert.notEqual(hex(verifyData(m, 'client', first)), hex(verifyData(m, 'server', first)));
  });
});
