import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AlertDescription, alertName, decodeAlert, encodeAlert } from '../../src/dtls/alert.js';
import {
  decodeCertificate,
  decodeCertificateRequest,
  decodeCertificateVerify,
  encodeCertificate,
  encodeCertificateRequest,
  encodeCertificateVerify,
} from '../../src/dtls/certificate-messages.js';
import { DtlsError } from '../../src/dtls/dtls-errors.js';
import {
  CHANGE_CIPHER_SPEC,
  decodeChangeCipherSpec,
  decodeFinished,
  decodeNewSessionTicket,
  encodeFinished,
  encodeNewSessionTicket,
} from '../../src/dtls/finished-messages.js';
import {
  decodeClientHello,
  decodeHelloVerifyRequest,
  decodeServerHello,
  decodeServerHelloDone,
  encodeClientHello,
  encodeHelloVerifyRequest,
  encodeServerHello,
} from '../../src/dtls/hello-messages.js';
import {
  decodeClientKeyExchange,
  decodeServerKeyExchange,
  encodeClientKeyExchange,
  encodeServerKeyExchange,
  encodeServerEcdhParams,
} from '../../src/dtls/key-exchange-messages.js';

const bin = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 0xff });
const rawExts = fc.uniqueArray(fc.record({ type: u16, data: bin(0, 20) }), {
  selector: (e) => e.type,
  maxLength: 5,
});

/** encode → decode → encode gives the same bytes and an equal value. */
function roundTrip<T>(
  arb: fc.Arbitrary<T>,
  encode: (v: T) => Uint8Array,
  decode: (b: Uint8Array) => T,
): void {
  fc.assert(
    fc.property(arb, (v) => {
      const wire = encode(v);
      const back = decode(wire);
      assert.deepEqual(Buffer.from(encode(back)), Buffer.from(wire));
    }),
    { numRuns: 100 },
  );
}

/**
 * Every truncation of a valid hello is refused with a DtlsError, except the one that cuts off
 * exactly the optional extensions block.
 */
function refusesTruncation(wire: Uint8Array, decode: (b: Uint8Array) => unknown): void {
  let accepted = 0;
  for (let n = 0; n < wire.length; n++) {
    try {
      decode(wire.subarray(0, n));
      accepted++;
    } catch (e) {
      assert.ok(e instanceof DtlsError, String(e));
    }
  }
  assert.ok(accepted <= 1, `${accepted} truncations accepted`);
}

describe('handshake message codecs', () => {
  const clientHello = fc.record({
    clientVersion: fc.constant(0xfefd),
    random: bin(32, 32),
    sessionId: bin(0, 32),
    cookie: bin(0, 255),
    cipherSuites: fc.array(u16, { minLength: 1, maxLength: 20 }),
    compressionMethods: fc.array(u8, { minLength: 1, maxLength: 3 }),
    extensions: rawExts,
  });
  const serverHello = fc.record({
    serverVersion: fc.constant(0xfefd),
    random: bin(32, 32),
    sessionId: bin(0, 32),
    cipherSuite: u16,
    compressionMethod: u8,
    extensions: rawExts,
  });

  it('ClientHello round-trips, and refuses truncations and trailing bytes', () => {
    roundTrip(clientHello, encodeClientHello, decodeClientHello);
    const wire = encodeClientHello(fc.sample(clientHello, { numRuns: 1, seed: 3 })[0]!);
    refusesTruncation(wire, decodeClientHello);
    assert.throws(() => decodeClientHello(Buffer.concat([wire, Buffer.from([0])])), DtlsError);
  });

  it('ClientHello refuses a session_id over 32 bytes and an odd cipher_suites length', () => {
    const h = {
      clientVersion: 0xfefd,
      random: new Uint8Array(32),
      sessionId: new Uint8Array(0),
      cookie: new Uint8Array(0),
      cipherSuites: [0xc0a8],
      compressionMethods: [0],
      extensions: [],
    };
    const wire = Buffer.from(encodeClientHello(h));
    const longSid = Buffer.from(wire);
    longSid[34] = 33;
    assert.throws(() => decodeClientHello(longSid), { reason: 'malformed' });
    const odd = Buffer.from(wire);
    odd[37] = 3; // cipher_suites length
    assert.throws(() => decodeClientHello(odd), DtlsError);
    assert.equal(decodeClientHello(wire).extensions.length, 0);
  });

  it('ServerHello and HelloVerifyRequest round-trip; ServerHelloDone must be empty', () => {
    roundTrip(serverHello, encodeServerHello, decodeServerHello);
    roundTrip(
      fc.record({ serverVersion: u16, cookie: bin(0, 255) }),
      encodeHelloVerifyRequest,
      decodeHelloVerifyRequest,
    );
    decodeServerHelloDone(new Uint8Array(0));
    assert.throws(() => decodeServerHelloDone(new Uint8Array(1)), { reason: 'malformed' });
  });

  it('key exchange messages round-trip for PSK and ECDHE', () => {
    roundTrip(
      fc.record({ keyExchange: fc.constant('psk' as const), identity: bin(0, 128) }),
      encodeClientKeyExchange,
      (b) => decodeClientKeyExchange(b, 'psk'),
    );
    roundTrip(
      fc.record({ keyExchange: fc.constant('ecdhe_ecdsa' as const), publicKey: bin(1, 65) }),
      encodeClientKeyExchange,
      (b) => decodeClientKeyExchange(b, 'ecdhe_ecdsa'),
    );
    roundTrip(
      fc.record({ keyExchange: fc.constant('psk' as const), identityHint: bin(0, 64) }),
      encodeServerKeyExchange,
      (b) => decodeServerKeyExchange(b, 'psk'),
    );
    roundTrip(
      fc.record({
        keyExchange: fc.constant('ecdhe_ecdsa' as const),
        params: fc.record({ namedCurve: fc.constant(23), publicKey: bin(65, 65) }),
        signed: fc.record({ scheme: fc.constant(0x0403), signature: bin(70, 72) }),
      }),
      encodeServerKeyExchange,
      (b) => decodeServerKeyExchange(b, 'ecdhe_ecdsa'),
    );
    const params = encodeServerEcdhParams({ namedCurve: 23, publicKey: Uint8Array.of(4, 1, 2) });
    assert.equal(Buffer.from(params).toString('hex'), '030017' + '03040102');
    const explicitCurve = Uint8Array.of(1, 0, 23, 1, 4, 4, 3, 0, 0);
    assert.throws(() => decodeServerKeyExchange(explicitCurve, 'ecdhe_ecdsa'), { reason: 'unsupported' });
    assert.throws(() => decodeClientKeyExchange(Uint8Array.of(0), 'ecdhe_ecdsa'), { reason: 'malformed' });
  });

  it('Certificate (X.509 chain and RFC 7250 raw public key), CertificateRequest and CertificateVerify round-trip', () => {
    roundTrip(
      fc.record({ type: fc.constant('x509' as const), chain: fc.array(bin(1, 50), { maxLength: 4 }) }),
      encodeCertificate,
      (b) => decodeCertificate(b, 'x509'),
    );
    roundTrip(
      fc.record({ type: fc.constant('raw_public_key' as const), subjectPublicKeyInfo: bin(1, 91) }),
      encodeCertificate,
      (b) => decodeCertificate(b, 'raw_public_key'),
    );
    roundTrip(
      fc.record({
        certificateTypes: fc.array(u8, { minLength: 1, maxLength: 3 }),
        signatureSchemes: fc.array(u16, { minLength: 1, maxLength: 4 }),
        certificateAuthorities: fc.array(bin(1, 30), { maxLength: 3 }),
      }),
      encodeCertificateRequest,
      decodeCertificateRequest,
    );
    roundTrip(
      fc.record({ scheme: u16, signature: bin(0, 72) }),
      encodeCertificateVerify,
      decodeCertificateVerify,
    );
    assert.equal(
      Buffer.from(
        encodeCertificate({ type: 'raw_public_key', subjectPublicKeyInfo: Uint8Array.of(0x30) }),
      ).toString('hex'),
      '00000130',
    );
    assert.equal(
      Buffer.from(encodeCertificate({ type: 'x509', chain: [Uint8Array.of(0x30)] })).toString('hex'),
      '000004' + '00000130',
    );
    // An empty ASN.1Cert is not allowed (<1..2^24-1>).
    assert.throws(() => decodeCertificate(Buffer.from('000003000000', 'hex'), 'x509'), {
      reason: 'malformed',
    });
    const long = Buffer.concat([
      Buffer.from('000044', 'hex'),
      ...Array.from({ length: 17 }, () => Buffer.from('00000130', 'hex')),
    ]);
    assert.throws(() => decodeCertificate(long, 'x509'), DtlsError);
  });

  it('Finished, NewSessionTicket, ChangeCipherSpec and Alert', () => {
    assert.equal(decodeFinished(new Uint8Array(12)).length, 12);
    assert.throws(() => decodeFinished(new Uint8Array(11)), { reason: 'malformed' });
    assert.throws(() => encodeFinished(new Uint8Array(13)), { reason: 'malformed' });
    roundTrip(
      fc.record({ lifetimeHint: fc.integer({ min: 0, max: 2 ** 32 - 1 }), ticket: bin(0, 100) }),
      encodeNewSessionTicket,
      decodeNewSessionTicket,
    );
    decodeChangeCipherSpec(CHANGE_CIPHER_SPEC);
    assert.throws(() => decodeChangeCipherSpec(Uint8Array.of(2)), { reason: 'malformed' });
    assert.deepEqual(decodeAlert(encodeAlert({ level: 2, description: AlertDescription.bad_record_mac })), {
      level: 2,
      description: 20,
    });
    assert.throws(() => decodeAlert(Uint8Array.of(1)), { reason: 'malformed' });
    assert.equal(alertName(115), 'unknown_psk_identity');
    assert.equal(alertName(200), 'alert_200');
  });
});
