import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Registration } from '../../src/server/registration.js';
import type { RegistrationStore } from '../../src/store/registration-store.js';

/*
 * The contract every RegistrationStore meets (memory now; SQLite and Redis later). It speaks only
 * through the RegistrationStore interface, so a persistent store runs it unchanged. Values are
 * compared by content: a store that serialises may hand back a Buffer for a Uint8Array, or a new
 * object, but never a different value.
 */

export interface StoreUnderTest {
  readonly store: RegistrationStore;
  close(): Promise<void>;
}

const BASE: Registration = {
  id: 'aaaaaaaaaa',
  endpoint: 'urn:dev:ops:petrel-1',
  lwm2mVersion: '1.2',
  binding: 'U',
  queueMode: false,
  lifetime: 300,
  sms: undefined,
  profileIds: [],
  objectLinks: [{ target: '/1/0', params: [] }],
  objects: [{ id: 1, version: undefined, instances: [0] }],
  alternatePath: undefined,
  contentFormats: undefined,
  peer: { address: '192.0.2.1', port: 40001 },
  transport: 'udp',
  registeredAt: 1_700_000_000_000,
  lastUpdateAt: 1_700_000_000_000,
  expiresAt: 1_700_000_300_000,
  extraParameters: {},
};

/** A registration with everything a store must carry: identity bytes, links, params, extras. */
export function fullRegistration(overrides: Partial<Registration> = {}): Registration {
  return {
    ...BASE,
    id: 'k3j7qz2m4x',
    endpoint: 'urn:imei:490154203237518',
    lwm2mVersion: '1.1',
    binding: 'UT',
    queueMode: true,
    lifetime: 86_400,
    sms: '447700900123',
    profileIds: ['6:1234abcd', 'oma:basic-1'],
    objectLinks: [
      { target: '/lwm2m/1/0', params: [] },
      { target: '/lwm2m/3', params: [{ name: 'ver', value: '1.2' }] },
      { target: '/lwm2m/3/0', params: [{ name: 'obs', value: true }] },
      { target: '/lwm2m/3303/1', params: [{ name: 'pmin', value: 10 }] },
      { target: '/lwm2m/d01/3303/0', params: [{ name: 'ct', value: [110, 11_544] }] },
    ],
    objects: [
      { id: 1, version: undefined, instances: [0] },
      { id: 3, version: '1.2', instances: [0] },
      { id: 3303, version: undefined, instances: [1] },
      { id: 3303, version: undefined, instances: [0], prefix: 'd01' },
    ],
    alternatePath: '/lwm2m',
    contentFormats: [110, 112, 11_544],
    peer: {
      address: '2001:db8::17',
      port: 5684,
      identity: { rpk: Uint8Array.from([0x30, 0x59, 0x00, 0xff, 0x80, 0x01]) },
      connectionId: Uint8Array.from([0xde, 0xad, 0x00]),
    },
    transport: 'dtls',
    registeredAt: 1_700_000_000_123,
    lastUpdateAt: 1_700_000_050_456,
    expiresAt: 1_700_086_450_456,
    extraParameters: { apn: 'iot.example', flag: true, empty: '' },
    ...overrides,
  };
}

/** A plain registration for `endpoint`, with its own id. */
export function simpleRegistration(endpoint: string, id: string, expiresAt = BASE.expiresAt): Registration {
  return { ...BASE, endpoint, id, expiresAt };
}

/**
 * The value of a registration with bytes written as hex and undefined members dropped, so a
 * Buffer and a Uint8Array with the same bytes compare equal, and so do `{a: undefined}` and `{}`.
 */
export function canonical(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v);
    }
    return out;
  }
  return value;
}

function assertSame(actual: Registration | undefined, expected: Registration, label: string): void {
  assert.ok(actual, `${label}: expected a registration, got undefined`);
  assert.deepEqual(canonical(actual), canonical(expected), label);
}

async function collect(iterable: AsyncIterable<Registration>): Promise<Registration[]> {
  const out: Registration[] = [];
  for await (const reg of iterable) out.push(reg);
  return out;
}

function ids(regs: readonly Registration[]): string[] {
  return regs.map((r) => r.id).sort();
}

/** Defines the RegistrationStore contract suite for the store `make` builds (fresh per test). */
export function registrationStoreContract(name: string, make: () => Promise<StoreUnderTest>): void {
  describe(`RegistrationStore contract: ${name}`, () => {
    let sut: StoreUnderTest;
    let store: RegistrationStore;

    beforeEach(async () => {
      sut = await make();
      store = sut.store;
    });
    afterEach(async () => {
      await sut.close();
    });

    it('starts empty', async () => {
      assert.equal(await store.size, 0);
      assert.equal(await store.get(BASE.endpoint), undefined);
      assert.equal(await store.getById(BASE.id), undefined);
      assert.equal(await store.remove(BASE.endpoint), undefined);
      assert.deepEqual(await collect(store.all()), []);
      assert.deepEqual(await collect(store.expiring(Infinity)), []);
    });

    it('stores a new registration, found by endpoint and by id', async () => {
      const reg = simpleRegistration('ep-a', 'id00000001');
      const { previous } = await store.put(reg);
      assert.equal(previous, undefined);
      assertSame(await store.get('ep-a'), reg, 'get');
      assertSame(await store.getById('id00000001'), reg, 'getById');
      assert.equal(await store.size, 1);
      assert.equal(await store.get('ep-b'), undefined);
      assert.equal(await store.getById('id00000002'), undefined);
    });

    it('keeps registrations of different endpoints apart', async () => {
      await store.put(simpleRegistration('ep-a', 'id-a'));
      await store.put(simpleRegistration('ep-b', 'id-b'));
      await store.put(simpleRegistration('ep-c', 'id-c'));
      assert.equal(await store.size, 3);
      assert.equal((await store.get('ep-b'))?.id, 'id-b');
      assert.equal((await store.getById('id-c'))?.endpoint, 'ep-c');
      assert.deepEqual(ids(await collect(store.all())), ['id-a', 'id-b', 'id-c']);
    });

    it('replaces the registration of an endpoint: returns the previous one and frees its id', async () => {
      const first = simpleRegistration('ep-a', 'old-id');
      const second = { ...simpleRegistration('ep-a', 'new-id'), lifetime: 600 };
      await store.put(first);
      const { previous } = await store.put(second);
      assertSame(previous, first, 'previous');
      assertSame(await store.get('ep-a'), second, 'get after replace');
      assertSame(await store.getById('new-id'), second, 'getById new');
      assert.equal(await store.getById('old-id'), undefined, 'the old id no longer resolves');
      assert.equal(await store.size, 1);
      assert.deepEqual(ids(await collect(store.all())), ['new-id']);
    });

    it('stores an updated value under the same id (Update), returning the one before', async () => {
      const before = simpleRegistration('ep-a', 'same-id');
      const after: Registration = { ...before, lifetime: 42, lastUpdateAt: before.lastUpdateAt + 1000 };
      await store.put(before);
      const { previous } = await store.put(after);
      assertSame(previous, before, 'previous');
      assertSame(await store.getById('same-id'), after, 'getById');
      assert.equal(await store.size, 1);
    });

    it('removes by endpoint, returning what it removed; both lookups forget it', async () => {
      const reg = simpleRegistration('ep-a', 'id-a');
      await store.put(reg);
      await store.put(simpleRegistration('ep-b', 'id-b'));
      assertSame(await store.remove('ep-a'), reg, 'removed');
      assert.equal(await store.get('ep-a'), undefined);
      assert.equal(await store.getById('id-a'), undefined);
      assert.equal(await store.size, 1);
      assert.equal(await store.remove('ep-a'), undefined, 'a second remove finds nothing');
      assert.equal((await store.get('ep-b'))?.id, 'id-b', 'others stay');
    });

    it('removes with an id only when the stored registration has that id', async () => {
      await store.put(simpleRegistration('ep-a', 'old-id'));
      const current = simpleRegistration('ep-a', 'new-id');
      await store.put(current);
      assert.equal(await store.remove('ep-a', 'old-id'), undefined, 'a stale id removes nothing');
      assertSame(await store.get('ep-a'), current, 'the current registration stays');
      assertSame(await store.getById('new-id'), current, 'and keeps its id');
      assert.equal(await store.size, 1);
      assertSame(await store.remove('ep-a', 'new-id'), current, 'the current id removes it');
      assert.equal(await store.size, 0);
      assert.equal(await store.getById('new-id'), undefined);
    });

    it('lists registrations expiring strictly before a time; Infinity never expires', async () => {
      await store.put(simpleRegistration('ep-early', 'id-early', 1000));
      await store.put(simpleRegistration('ep-edge', 'id-edge', 2000));
      await store.put(simpleRegistration('ep-late', 'id-late', 3000));
      await store.put(simpleRegistration('ep-never', 'id-never', Infinity));
      assert.deepEqual(ids(await collect(store.expiring(1000))), []);
      assert.deepEqual(ids(await collect(store.expiring(1001))), ['id-early']);
      assert.deepEqual(
        ids(await collect(store.expiring(2000))),
        ['id-early'],
        'expiresAt == time is not before',
      );
      assert.deepEqual(ids(await collect(store.expiring(10_000))), ['id-early', 'id-edge', 'id-late']);
      assert.deepEqual(
        ids(await collect(store.expiring(Number.MAX_VALUE))),
        ['id-early', 'id-edge', 'id-late'],
        'lifetime 0 (Infinity) is never expiring',
      );
      assert.deepEqual(ids(await collect(store.expiring(Infinity))), ['id-early', 'id-edge', 'id-late']);
      assertSame(
        await store.get('ep-never'),
        simpleRegistration('ep-never', 'id-never', Infinity),
        'Infinity kept',
      );
    });

    it('expiring() follows replacement and removal', async () => {
      await store.put(simpleRegistration('ep-a', 'id-1', 1000));
      await store.put(simpleRegistration('ep-a', 'id-2', 5000));
      await store.put(simpleRegistration('ep-b', 'id-b', 500));
      await store.remove('ep-b');
      assert.deepEqual(ids(await collect(store.expiring(2000))), []);
      assert.deepEqual(ids(await collect(store.expiring(6000))), ['id-2']);
    });

    it('round-trips every field exactly: identity bytes, objects, links, parameters', async () => {
      const reg = fullRegistration();
      await store.put(reg);
      for (const [label, got] of [
        ['get', await store.get(reg.endpoint)],
        ['getById', await store.getById(reg.id)],
        ['all', (await collect(store.all()))[0]],
        ['expiring', (await collect(store.expiring(Infinity)))[0]],
      ] as const) {
        assertSame(got, reg, label);
        const identity = got?.peer.identity;
        assert.ok(identity && 'rpk' in identity && identity.rpk instanceof Uint8Array, `${label}: rpk bytes`);
        assert.ok(got?.peer.connectionId instanceof Uint8Array, `${label}: connection id bytes`);
      }
      assertSame(await store.remove(reg.endpoint), reg, 'remove');
    });

    it('round-trips x509 and PSK identities and a registration that never expires', async () => {
      const x509 = fullRegistration({
        id: 'x509000001',
        endpoint: 'dev-x509',
        peer: {
          address: '198.51.100.7',
          port: 61_000,
          identity: {
            x509: { subject: 'C=FR, O=Petrel, CN=dev-x509', der: Uint8Array.from([0x30, 0x82, 0x01, 0x00]) },
          },
        },
      });
      const psk = fullRegistration({
        id: 'psk0000001',
        endpoint: 'dev-psk',
        peer: { address: '198.51.100.8', port: 61_001, identity: { psk: 'dev-psk-identity' } },
        lifetime: 0,
        expiresAt: Infinity,
        sms: undefined,
        alternatePath: undefined,
        contentFormats: undefined,
        extraParameters: {},
        profileIds: [],
      });
      await store.put(x509);
      await store.put(psk);
      assertSame(await store.getById('x509000001'), x509, 'x509');
      assertSame(await store.getById('psk0000001'), psk, 'psk');
      const got = await store.get('dev-x509');
      const identity = got?.peer.identity;
      assert.ok(identity && 'x509' in identity && identity.x509.der instanceof Uint8Array);
      assert.equal((await store.get('dev-psk'))?.expiresAt, Infinity);
    });

    it("what a restarting server reads (summaries(), else all()) gives each registration's endpoint, id, peer and expiry exactly", async () => {
      const withBytes = fullRegistration({});
      const forever = {
        ...simpleRegistration('dev-forever', 'id-forever'),
        lifetime: 0,
        expiresAt: Infinity,
      };
      const many = Array.from({ length: 25 }, (_, i) => simpleRegistration(`dev-${i}`, `id-${i}`));
      for (const reg of [withBytes, forever, ...many]) await store.put(reg);
      await store.remove('dev-3');
      const summaries = [];
      for await (const s of store.summaries ? store.summaries() : store.all())
        summaries.push({ endpoint: s.endpoint, id: s.id, peer: s.peer, expiresAt: s.expiresAt });
      const expected = [withBytes, forever, ...many.filter((r) => r.endpoint !== 'dev-3')];
      const byEndpoint = (a: { endpoint: string }, b: { endpoint: string }) =>
        a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0;
      assert.deepEqual(
        summaries.sort(byEndpoint).map((s) => canonical(s)),
        expected
          .sort(byEndpoint)
          .map((r) => canonical({ endpoint: r.endpoint, id: r.id, peer: r.peer, expiresAt: r.expiresAt })),
      );
      const peer = summaries.find((s) => s.endpoint === withBytes.endpoint)?.peer;
      assert.ok(peer?.connectionId instanceof Uint8Array, 'connection id bytes come back as bytes');
    });

    it('keeps an endpoint name byte for byte (case, Unicode)', async () => {
      await store.put(simpleRegistration('Dev-Ä', 'id-upper'));
      await store.put(simpleRegistration('dev-ä', 'id-lower'));
      assert.equal((await store.get('Dev-Ä'))?.id, 'id-upper');
      assert.equal((await store.get('dev-ä'))?.id, 'id-lower');
      assert.equal(await store.get('DEV-Ä'), undefined);
      assert.equal(await store.size, 2);
    });

    it('counts endpoints, not puts', async () => {
      for (let i = 0; i < 20; i++) await store.put(simpleRegistration(`ep-${i % 5}`, `id-${i}`));
      assert.equal(await store.size, 5);
      assert.deepEqual(ids(await collect(store.all())), ['id-15', 'id-16', 'id-17', 'id-18', 'id-19']);
      for (let i = 15; i < 20; i++) assert.equal((await store.getById(`id-${i}`))?.endpoint, `ep-${i % 5}`);
      for (let i = 0; i < 15; i++) assert.equal(await store.getById(`id-${i}`), undefined, `id-${i} freed`);
    });
  });
}
