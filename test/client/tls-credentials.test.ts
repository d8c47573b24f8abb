// /0 credentials → node:tls options for coaps+tcp://: PSK and X.509, /0/x/16 suites, /0/x/18-24,
// and what TLS cannot do, refused with a reason.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientSecurity, SecurityConfigError } from '../../src/client/security-credentials.js';
import type { SecurityResources } from '../../src/client/security-credentials.js';
import { tlsClientOptions } from '../../src/client/tls-credentials.js';
import { certDer, privateKey, spkiDer } from '../support/dtls-fixtures.js';

const PSK: SecurityResources = {
  securityMode: 0,
  publicKeyOrIdentity: new TextEncoder().encode('dev-1'),
  secretKey: new Uint8Array(16).fill(7),
};
const X509: SecurityResources = {
  securityMode: 2,
  publicKeyOrIdentity: certDer('client'),
  secretKey: new Uint8Array(privateKey('client').export({ format: 'der', type: 'pkcs8' })),
  serverPublicKey: certDer('root-ca'),
  certificateUsage: 2,
};

function options(uri: string, resources: SecurityResources) {
  const security = clientSecurity(uri, resources);
  assert.equal(security.kind, 'dtls');
  return tlsClientOptions(security);
}

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(
    fn,
    (e: unknown) =>
      e instanceof SecurityConfigError && e.reason === 'tls-unsupported' && pattern.test(e.message),
  );
}

describe('tlsClientOptions', () => {
  it('PSK: the identity as text, the key, SNI from a DNS name only', () => {
    const dns = options('coaps+tcp://lwm2m.example.com', PSK);
    assert.deepEqual(dns.psk, { identity: 'dev-1', key: new Uint8Array(16).fill(7) });
    assert.equal(dns.servername, 'lwm2m.example.com');
    assert.equal(options('coaps+tcp://127.0.0.1', PSK).servername, undefined);
  });

  it('X.509: our key and certificate, /0/x/4 as the trust anchor, partial chains allowed (usage 1/3 pin a leaf)', () => {
    const o = options('coaps+tcp://127.0.0.1', X509);
    assert.deepEqual(o.ca, [certDer('root-ca')]);
    assert.deepEqual(o.cert, [certDer('client')]);
    assert.equal(o.allowPartialTrustChain, true);
  });

  it('maps /0/x/16 suites to OpenSSL names and keeps TLS 1.3 on SHA-256 suites', () => {
    const o = options('coaps+tcp://127.0.0.1', { ...PSK, cipherSuites: [0xc0a8, 0x00ae] });
    assert.equal(
      o.ciphers,
      'PSK-AES128-CCM8:PSK-AES128-CBC-SHA256:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256',
    );
  });

  it('takes the groups (/0/x/18) and signature algorithms (/0/x/20) in order', () => {
    const o = options('coaps+tcp://127.0.0.1', {
      ...X509,
      groups: [0x001d, 0x0017],
      signatureAlgorithms: [0x0403, 0x0804],
    });
    assert.equal(o.groups, 'X25519:P-256');
    assert.equal(o.signatureAlgorithms, 'ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256');
    refused(
      () => options('coaps+tcp://127.0.0.1', { ...X509, groups: [0x0100] }),
      /group \(\/0\/x\/18\) 0x0100/,
    );
    refused(
      () => options('coaps+tcp://127.0.0.1', { ...X509, signatureAlgorithms: [0x0203] }),
      /signature algorithm \(\/0\/x\/20\) 0x0203/,
    );
  });

  it('TLS 1.3 Features (/0/x/22) must allow the mode; SNI (/0/x/24 bit 0) is sent only when allowed', () => {
    assert.ok(options('coaps+tcp://h.example', { ...PSK, tls13Features: 0b0100 }).psk, 'PSK with (EC)DHE');
    refused(() => options('coaps+tcp://h.example', { ...PSK, tls13Features: 0b1000 }), /do not allow PSK/);
    refused(
      () => options('coaps+tcp://h.example', { ...X509, tls13Features: 0b0011 }),
      /do not allow certificate/,
    );
    assert.equal(options('coaps+tcp://h.example', { ...PSK, tlsExtensions: 0 }).servername, undefined);
    assert.equal(
      options('coaps+tcp://h.example', { ...PSK, tlsExtensions: 1 | (1 << 12) }).servername,
      'h.example',
    );
  });

  it('refuses what node:tls cannot do: raw public keys, binary PSK identities, certificates by hash', () => {
    const rpk: SecurityResources = {
      securityMode: 1,
      secretKey: new Uint8Array(privateKey('client-rpk').export({ format: 'der', type: 'pkcs8' })),
      serverPublicKey: spkiDer('server-rpk'),
    };
    refused(() => options('coaps+tcp://127.0.0.1', rpk), /raw public keys/);
    assert.throws(
      () => options('coaps+tcp://127.0.0.1', { ...PSK, publicKeyOrIdentity: new Uint8Array([0xff, 0xfe]) }),
      (e: unknown) => e instanceof SecurityConfigError && /not UTF-8/.test(e.message),
    );
    refused(
      () =>
        options('coaps+tcp://127.0.0.1', { ...X509, matchingType: 1, serverPublicKey: new Uint8Array(32) }),
      /by hash/,
    );
  });
});
