// /0 Security values → DTLS client credentials (Transport TS §Security; LWM2M-1.2.md §3.4, §4.1).
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  SecurityConfigError,
  clientSecurity,
  isFatalAlert,
  parseServerAddress,
  privateKeyOf,
  serverNameFor,
} from '../../src/client/security-credentials.js';
import type { SecurityConfigErrorReason, SecurityResources } from '../../src/client/security-credentials.js';
import { dtlsClientOptions, securityFingerprint } from '../../src/client/secure-session.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const KEY16 = new Uint8Array(16).fill(7);

/** A self-signed P-256 certificate (CN=dev-1) and its key, SEC1 DER (made once with openssl). */
const CERT_DER = Buffer.from(
  'MIIBeDCCAR2gAwIBAgIUYAasxY3hamHNFFzDMa54GdHVR+cwCgYIKoZIzj0EAwIwEDEOMAwGA1UEAwwFZGV2LTEwIBcNMjYxMTI2MDA1NTQ3WhgPMjEyNjExMDIwMDU1NDdaMBAxDjAMBgNVBAMMBWRldi0xMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC25xVE9bVFdqV74dTNPMgGEdmCyHqrhrMH2Fd/D5pXiWKiTw1EMTdCSLMBQr/KhP26WZdDSd8EfkRC3a9Mk2hqNTMFEwHQYDVR0OBBYEFD9byOFzBv6vd8yoXSjZMMcG+VM2MB8GA1UdIwQYMBaAFD9byOFzBv6vd8yoXSjZMMcG+VM2MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhANo9rCVk9zakeZg3AhJOQkZt+6Ubz3j3MjbPL8Qr8n1bAiEArkYvwBgtm6nfBuq4Q3hs0IbfQ3nui8slQES+N9YTCmA=',
  'base64',
);
const CERT_KEY_SEC1 = Buffer.from(
  'MHcCAQEEIASCLHgWg7k9BBb179wcEINdEOt0qCfZP9mj8yzdt6CUoAoGCCqGSM49AwEHoUQDQgAEC25xVE9bVFdqV74dTNPMgGEdmCyHqrhrMH2Fd/D5pXiWKiTw1EMTdCSLMBQr/KhP26WZdDSd8EfkRC3a9Mk2hg==',
  'base64',
);
const CERT_KEY_PKCS8 = createPrivateKey({ key: CERT_KEY_SEC1, format: 'der', type: 'sec1' }).export({
  format: 'der',
  type: 'pkcs8',
});

function p256(): { pkcs8: Uint8Array; spki: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    pkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }),
    spki: publicKey.export({ format: 'der', type: 'spki' }),
  };
}
const client = p256();
const server = p256();

function refused(
  uri: string,
  resources: SecurityResources,
  reason: SecurityConfigErrorReason,
  message?: RegExp,
): void {
  assert.throws(
    () => clientSecurity(uri, resources),
    (e: unknown) => {
      assert.ok(e instanceof SecurityConfigError, String(e));
      assert.equal(e.code, 'PETREL_ERR_SECURITY_CONFIG');
      assert.equal(e.reason, reason, e.message);
      if (message) assert.match(e.message, message);
      return true;
    },
  );
}

describe('parseServerAddress', () => {
  it('takes coap:// and coaps:// with their default ports, IPv6 without brackets', () => {
    assert.deepEqual(parseServerAddress('coap://example.com'), {
      scheme: 'coap',
      host: 'example.com',
      port: 5683,
    });
    assert.deepEqual(parseServerAddress('coaps://example.com'), {
      scheme: 'coaps',
      host: 'example.com',
      port: 5684,
    });
    assert.deepEqual(parseServerAddress('coaps://[::1]:6000'), { scheme: 'coaps', host: '::1', port: 6000 });
  });

  it('takes the TCP and MQTT schemes with theirs (RFC 8323 §8.1, §8.2; MQTT 1883/8883)', () => {
    const ports = Object.fromEntries(
      ['coap+tcp', 'coaps+tcp', 'mqtt', 'mqtts'].map((s) => [s, parseServerAddress(`${s}://h`).port]),
    );
    assert.deepEqual(ports, { 'coap+tcp': 5683, 'coaps+tcp': 5684, mqtt: 1883, mqtts: 8883 });
    assert.equal(parseServerAddress('coaps+tcp://h:7000').port, 7000);
  });

  it('refuses other schemes and non-URIs', () => {
    for (const uri of ['coap+ws://x', 'http://x', 'sms://x', 'not a uri', 'coaps://'])
      assert.throws(
        () => parseServerAddress(uri),
        (e: unknown) => e instanceof SecurityConfigError && e.reason === 'bad-uri',
        uri,
      );
  });
});

describe('clientSecurity: mode and scheme', () => {
  it('coap:// is NoSec (mode 3, also when /0/x/2 is absent)', () => {
    assert.deepEqual(clientSecurity('coap://h', {}), { kind: 'nosec' });
    assert.deepEqual(clientSecurity('coap://h', { securityMode: 3 }), { kind: 'nosec' });
  });

  it('refuses a mode that does not fit the scheme', () => {
    refused('coap://h', { securityMode: 0 }, 'mode-mismatch', /needs a coaps:\/\/ server URI/);
    refused('coap://h', { securityMode: 2 }, 'mode-mismatch');
    refused('coaps://h', { securityMode: 3 }, 'mode-mismatch', /not 3 \(NoSec\)/);
    refused('coaps://h', {}, 'mode-mismatch');
  });

  it('refuses EST (mode 4) with a clear message, and modes outside 0..4', () => {
    refused('coaps://h', { securityMode: 4 }, 'est-unsupported', /EST/);
    refused('coaps://h', { securityMode: 5 }, 'bad-security-mode');
    refused('coaps://h', { securityMode: -1 }, 'bad-security-mode');
  });
});

describe('clientSecurity: PSK (mode 0)', () => {
  it('takes the identity from /0/x/3 and the key from /0/x/5; SNI is the DNS name of the URI', () => {
    const psk = clientSecurity('coaps://lwm2m.example.com', {
      securityMode: 0,
      publicKeyOrIdentity: bytes('dev-1'),
      secretKey: KEY16,
    });
    assert.deepEqual(psk, {
      kind: 'dtls',
      mode: 'psk',
      psk: { identity: bytes('dev-1'), key: KEY16 },
      serverName: 'lwm2m.example.com',
    });
  });

  it('accepts the limits (128-byte identity, 64-byte key) and refuses past them or empty', () => {
    const ok = clientSecurity('coaps://10.0.0.1', {
      securityMode: 0,
      publicKeyOrIdentity: bytes('i'.repeat(128)),
      secretKey: new Uint8Array(64),
    });
    assert.equal(ok.kind, 'dtls');
    refused(
      'coaps://h',
      { securityMode: 0, publicKeyOrIdentity: bytes('i'.repeat(129)), secretKey: KEY16 },
      'bad-psk-identity',
    );
    refused('coaps://h', { securityMode: 0, secretKey: KEY16 }, 'bad-psk-identity');
    refused(
      'coaps://h',
      { securityMode: 0, publicKeyOrIdentity: new Uint8Array([0xff, 0xfe]), secretKey: KEY16 },
      'bad-psk-identity',
      /UTF-8/,
    );
    refused(
      'coaps://h',
      { securityMode: 0, publicKeyOrIdentity: bytes('a'), secretKey: new Uint8Array(65) },
      'bad-psk-key',
    );
    refused(
      'coaps://h',
      { securityMode: 0, publicKeyOrIdentity: bytes('a'), secretKey: new Uint8Array() },
      'bad-psk-key',
    );
  });

  it('checks /0/x/16: known suites that fit PSK pass (deduplicated); others are refused', () => {
    const base = { securityMode: 0, publicKeyOrIdentity: bytes('a'), secretKey: KEY16 };
    const ok = clientSecurity('coaps://10.0.0.1', { ...base, cipherSuites: [49320, 174, 49320] });
    assert.ok(ok.kind === 'dtls');
    assert.deepEqual(ok.cipherSuites, [49320, 174]);
    refused('coaps://h', { ...base, cipherSuites: [0x1301] }, 'unknown-cipher-suite', /0x1301/);
    refused('coaps://h', { ...base, cipherSuites: [49326] }, 'cipher-suite-mismatch');
  });
});

describe('serverNameFor (SNI)', () => {
  it('/0/x/14 first, else the URI host when it is a DNS name, never an IP literal', () => {
    assert.equal(serverNameFor('10.0.0.1', 'lwm2m.example.com'), 'lwm2m.example.com');
    assert.equal(serverNameFor('lwm2m.example.com', undefined), 'lwm2m.example.com');
    assert.equal(serverNameFor('lwm2m.example.com', ''), 'lwm2m.example.com');
    assert.equal(serverNameFor('10.0.0.1', undefined), undefined);
    assert.equal(serverNameFor('::1', undefined), undefined);
  });
});

describe('clientSecurity: RPK (mode 1)', () => {
  it('takes our P-256 key from /0/x/5 and the server SPKI from /0/x/4', () => {
    const rpk = clientSecurity('coaps://[::1]', {
      securityMode: 1,
      publicKeyOrIdentity: client.spki,
      secretKey: client.pkcs8,
      serverPublicKey: server.spki,
      sni: 'server.example',
    });
    assert.ok(rpk.kind === 'dtls' && rpk.mode === 'rpk');
    assert.deepEqual(
      createPublicKey(rpk.certificate!.privateKey).export({ format: 'der', type: 'spki' }),
      Buffer.from(client.spki),
    );
    assert.equal(rpk.certificate!.certificateChain, undefined);
    assert.deepEqual(rpk.verification, { kind: 'rpk', publicKey: new Uint8Array(server.spki) });
    assert.equal(rpk.serverName, 'server.example');
  });

  it('accepts SEC1 DER and PEM private keys too', () => {
    assert.equal(privateKeyOf(CERT_KEY_SEC1).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const pem = createPrivateKey({ key: Buffer.from(client.pkcs8), format: 'der', type: 'pkcs8' }).export({
      format: 'pem',
      type: 'pkcs8',
    });
    assert.equal(privateKeyOf(bytes(String(pem))).asymmetricKeyType, 'ec');
  });

  it('refuses keys that are not P-256, keys that do not parse, and a /0/x/3 of another key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      format: 'der',
      type: 'pkcs8',
    });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const base = { securityMode: 1, serverPublicKey: server.spki };
    refused('coaps://h', { ...base, secretKey: rsa }, 'bad-private-key', /rsa key; LwM2M needs P-256/);
    refused(
      'coaps://h',
      { ...base, secretKey: p384.privateKey.export({ format: 'der', type: 'pkcs8' }) },
      'bad-private-key',
      /secp384r1/,
    );
    refused('coaps://h', { ...base, secretKey: new Uint8Array([0x30, 0x03, 1, 2, 3]) }, 'bad-private-key');
    refused('coaps://h', { ...base }, 'bad-private-key', /empty/);
    refused(
      'coaps://h',
      { ...base, secretKey: client.pkcs8, publicKeyOrIdentity: server.spki },
      'bad-public-key',
    );
    refused('coaps://h', { securityMode: 1, secretKey: client.pkcs8 }, 'bad-server-key', /empty/);
    refused(
      'coaps://h',
      {
        securityMode: 1,
        secretKey: client.pkcs8,
        serverPublicKey: p384.publicKey.export({ format: 'der', type: 'spki' }),
      },
      'bad-server-key',
    );
    refused(
      'coaps://h',
      { ...base, secretKey: client.pkcs8, cipherSuites: [49320] },
      'cipher-suite-mismatch',
    );
  });
});

describe('clientSecurity: Certificate (mode 2)', () => {
  const base = { securityMode: 2, publicKeyOrIdentity: CERT_DER, secretKey: CERT_KEY_PKCS8 };

  it('takes our certificate from /0/x/3 and the trust (a certificate) from /0/x/4; usage defaults to 3, matching to 0', () => {
    const x509 = clientSecurity('coaps://lwm2m.example.com', { ...base, serverPublicKey: CERT_DER });
    assert.ok(x509.kind === 'dtls' && x509.mode === 'x509');
    assert.deepEqual(x509.certificate!.certificateChain, [new Uint8Array(CERT_DER)]);
    assert.deepEqual(x509.verification, {
      kind: 'x509',
      trust: new Uint8Array(CERT_DER),
      certificateUsage: 3,
      matchingType: 0,
    });
    assert.equal(x509.serverName, 'lwm2m.example.com');
  });

  it('takes a hash in /0/x/4 with matching types 1..3, of the right length only', () => {
    const sha256 = createHash('sha256').update(CERT_DER).digest();
    const x509 = clientSecurity('coaps://h', {
      ...base,
      serverPublicKey: sha256,
      matchingType: 1,
      certificateUsage: 1,
    });
    assert.ok(x509.kind === 'dtls');
    assert.deepEqual(x509.verification, {
      kind: 'x509',
      trust: sha256,
      certificateUsage: 1,
      matchingType: 1,
    });
    refused('coaps://h', { ...base, serverPublicKey: sha256, matchingType: 2 }, 'bad-server-key', /48-byte/);
    refused('coaps://h', { ...base, serverPublicKey: CERT_DER, matchingType: 4 }, 'bad-matching-type');
    refused(
      'coaps://h',
      { ...base, serverPublicKey: CERT_DER, certificateUsage: 7 },
      'bad-certificate-usage',
    );
  });

  it('accepts a PEM certificate (1.2.1) and refuses one that does not parse or is not for our key', () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${CERT_DER.toString('base64')}\n-----END CERTIFICATE-----\n`;
    const x509 = clientSecurity('coaps://h', {
      ...base,
      publicKeyOrIdentity: bytes(pem),
      serverPublicKey: bytes(pem),
    });
    assert.ok(x509.kind === 'dtls');
    assert.deepEqual(x509.certificate!.certificateChain, [new Uint8Array(CERT_DER)], 'handed on as DER');
    refused(
      'coaps://h',
      { ...base, publicKeyOrIdentity: CERT_DER.subarray(0, 40), serverPublicKey: CERT_DER },
      'bad-certificate',
    );
    refused(
      'coaps://h',
      { ...base, secretKey: client.pkcs8, serverPublicKey: CERT_DER },
      'bad-certificate',
      /not for the Secret Key/,
    );
    refused('coaps://h', { ...base, serverPublicKey: bytes('garbage') }, 'bad-server-key');
  });
});

describe('dtlsClientOptions and the session fingerprint', () => {
  it('gives the PSK options, and for RPK and X.509 our key and a verifier of the server', () => {
    const psk = clientSecurity('coaps://h.example', {
      securityMode: 0,
      publicKeyOrIdentity: bytes('a'),
      secretKey: KEY16,
      cipherSuites: [49320],
    });
    assert.ok(psk.kind === 'dtls');
    assert.deepEqual(dtlsClientOptions(psk), {
      psk: { identity: bytes('a'), key: KEY16 },
      cipherSuites: [49320],
      serverName: 'h.example',
    });
    const rpk = clientSecurity('coaps://h', {
      securityMode: 1,
      secretKey: client.pkcs8,
      serverPublicKey: server.spki,
    });
    assert.ok(rpk.kind === 'dtls');
    const options = dtlsClientOptions(rpk);
    assert.equal(options.psk, undefined);
    assert.equal(options.certificate, rpk.certificate);
    const verify = options.verifyPeer!;
    assert.deepEqual(verify({ type: 'rpk', publicKey: server.spki }, {}), { rpk: server.spki });
    assert.throws(() => verify({ type: 'rpk', publicKey: client.spki }, {}), /not the configured one/);
    const x509 = clientSecurity('coaps://h', {
      securityMode: 2,
      publicKeyOrIdentity: CERT_DER,
      secretKey: CERT_KEY_PKCS8,
      serverPublicKey: CERT_DER,
    });
    assert.ok(x509.kind === 'dtls');
    const check = dtlsClientOptions(x509).verifyPeer!;
    const identity = check({ type: 'x509', chain: [CERT_DER] }, {});
    assert.ok(identity !== undefined && 'x509' in identity);
    assert.equal(identity.x509.subject, 'CN=dev-1');
    assert.throws(() => check({ type: 'x509', chain: [bytes('x')] }, {}));
  });

  it('changes when the URI, the address or any credential changes', () => {
    const peer = { address: '10.0.0.1', port: 5684 };
    const s = { securityMode: 0, publicKeyOrIdentity: bytes('a'), secretKey: KEY16 };
    const f = securityFingerprint('coaps://h', peer, s);
    assert.equal(securityFingerprint('coaps://h', { ...peer }, { ...s }), f);
    assert.notEqual(securityFingerprint('coaps://h', peer, { ...s, secretKey: new Uint8Array(16) }), f);
    assert.notEqual(securityFingerprint('coaps://h', { ...peer, port: 1 }, s), f);
    assert.notEqual(securityFingerprint('coaps://g', peer, s), f);
  });
});

describe('isFatalAlert (Transport TS: alerts to fail on)', () => {
  it('fails on certificate, access and PSK alerts; retries on the others', () => {
    for (const a of [42, 43, 44, 45, 46, 48, 49, 112, 113, 114, 115])
      assert.equal(isFatalAlert(a), true, String(a));
    for (const a of [0, 10, 20, 21, 22, 40, 47, 50, 51, 70, 71, 80, 86, 90, 100, 111])
      assert.equal(isFatalAlert(a), false, String(a));
    assert.equal(isFatalAlert(undefined), false);
  });
});
