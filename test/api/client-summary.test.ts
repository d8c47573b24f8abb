import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clientDetails,
  clientSecurity,
  clientSummary,
  formatAddress,
  matchesClient,
} from '../../src/api/client-summary.js';
import type { Registration } from '../../src/server/registration.js';

const REG: Registration = {
  id: 'abc123',
  endpoint: 'urn:imei:1234',
  lwm2mVersion: '1.2',
  binding: 'UT',
  queueMode: true,
  lifetime: 300,
  sms: undefined,
  profileIds: ['oma:meter'],
  objectLinks: [{ target: '/3303', params: [{ name: 'ver', value: '1.1' }] }],
  objects: [
    { id: 3303, version: '1.1', instances: [0, 1] },
    { id: 3, version: undefined, instances: [0], prefix: 'dev1' },
  ],
  alternatePath: undefined,
  contentFormats: [110, 112],
  peer: { address: '2001:db8::1', port: 5683 },
  transport: 'udp',
  registeredAt: Date.UTC(2025, 0, 1),
  lastUpdateAt: Date.UTC(2025, 0, 1, 0, 1),
  expiresAt: Date.UTC(2025, 0, 1, 0, 6),
  extraParameters: { fw: '1.0' },
};

describe('clientSummary', () => {
  it('summarises a registration', () => {
    assert.deepEqual(clientSummary(REG, { awake: false, tags: ['site:paris'] }), {
      endpoint: 'urn:imei:1234',
      registrationId: 'abc123',
      lwm2mVersion: '1.2',
      binding: 'UT',
      queueMode: true,
      lifetime: 300,
      status: 'sleeping',
      registeredAt: '2025-01-01T00:00:00.000Z',
      lastSeen: '2025-01-01T00:01:00.000Z',
      expiresAt: '2025-01-01T00:06:00.000Z',
      address: '[2001:db8::1]:5683',
      transport: 'udp',
      tags: ['site:paris'],
      security: { mode: 'nosec' },
    });
  });

  it('takes the later of the last Update and the last activity, and null for no expiry', () => {
    const s = clientSummary(
      { ...REG, queueMode: false, expiresAt: Infinity },
      { awake: false, tags: [], lastActivity: Date.UTC(2025, 0, 1, 0, 2) },
    );
    assert.equal(s.lastSeen, '2025-01-01T00:02:00.000Z');
    assert.equal(s.expiresAt, null);
    assert.equal(s.status, 'awake', 'only a queue-mode client sleeps');
  });

  it('details the Register contents', () => {
    const d = clientDetails(REG, { awake: true, tags: [] }, 2);
    assert.equal(d.sms, null);
    assert.deepEqual(d.profileIds, ['oma:meter']);
    assert.equal(d.alternatePath, null);
    assert.deepEqual(d.contentFormats, [110, 112]);
    assert.deepEqual(d.objectLinks, [{ target: '/3303', params: { ver: '1.1' } }]);
    assert.deepEqual(d.objects, [
      { id: 3303, version: '1.1', instances: [0, 1] },
      { id: 3, version: null, instances: [0], prefix: 'dev1' },
    ]);
    assert.deepEqual(d.extraParameters, { fw: '1.0' });
    assert.equal(d.observations, 2);
  });

  it('formats IPv4 and IPv6 addresses', () => {
    assert.equal(formatAddress({ address: '10.0.0.2', port: 56830 }), '10.0.0.2:56830');
    assert.equal(formatAddress({ address: '::1', port: 5683 }), '[::1]:5683');
  });
});

describe('clientSecurity', () => {
  it('names the mode and identity the (D)TLS handshake proved, nosec without one', () => {
    assert.deepEqual(clientSecurity(undefined), { mode: 'nosec' });
    assert.deepEqual(clientSecurity({ psk: 'dev-1-id' }), { mode: 'psk', identity: 'dev-1-id' });
    assert.deepEqual(clientSecurity({ rpk: Uint8Array.of(0x30, 0x59, 0xab) }), {
      mode: 'rpk',
      identity: '3059ab',
    });
    assert.deepEqual(clientSecurity({ x509: { subject: 'CN=dev-1', der: Uint8Array.of(1) } }), {
      mode: 'x509',
      identity: 'CN=dev-1',
    });
  });

  it('goes into summaries and details from the registration peer', () => {
    const reg = { ...REG, peer: { ...REG.peer, identity: { psk: 'id-7' } }, transport: 'dtls' };
    assert.deepEqual(clientSummary(reg, { awake: true, tags: [] }).security, {
      mode: 'psk',
      identity: 'id-7',
    });
    assert.deepEqual(clientDetails(reg, { awake: true, tags: [] }, 0).security, {
      mode: 'psk',
      identity: 'id-7',
    });
  });
});

describe('matchesClient', () => {
  const s = clientSummary(REG, { awake: true, tags: ['a', 'b'] });
  it('filters by search, tags, status, version and binding letters', () => {
    assert.equal(matchesClient(s, {}), true);
    assert.equal(matchesClient(s, { search: 'IMEI' }), true);
    assert.equal(matchesClient(s, { search: 'imsi' }), false);
    assert.equal(matchesClient(s, { tags: ['a', 'b'] }), true);
    assert.equal(matchesClient(s, { tags: ['a', 'c'] }), false);
    assert.equal(matchesClient(s, { status: 'awake' }), true);
    assert.equal(matchesClient(s, { status: 'sleeping' }), false);
    assert.equal(matchesClient(s, { version: '1.2' }), true);
    assert.equal(matchesClient(s, { version: '1.1' }), false);
    assert.equal(matchesClient(s, { binding: 'T' }), true);
    assert.equal(matchesClient(s, { binding: 'TU' }), true);
    assert.equal(matchesClient(s, { binding: 'S' }), false);
  });
});
