import assert from 'node:assert/strict';
import { ECDH, generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type {
  BootstrapConfig,
  BootstrapConfigStore,
  PendingBootstrapRecord,
} from '../../src/store/bootstrap-config-store.js';
import type { CredentialStore, SecurityInfo } from '../../src/store/credential-store.js';
import { PublicKeyConflictError } from '../../src/store/public-key.js';
import type { EventLog, LoggedEvent, StoredEvent } from '../../src/store/event-log.js';
import type { ObservationStore, PersistedObservation } from '../../src/store/observation-store.js';
import { CredentialConflictError, TagError } from '../../src/store/store-errors.js';
import { MAX_TAGS, type TagStore } from '../../src/store/tag-store.js';
import { canonical } from './registration-store-contract.js';

/*
 * The contracts every ObservationStore, CredentialStore, BootstrapConfigStore, TagStore and
 * EventLog meets (memory, SQLite, Redis). They speak only through the interfaces; values are
 * compared by content (canonical: bytes as hex, undefined members dropped), since a store that
 * serialises hands back new objects. Live event delivery may be asynchronous (Redis pub/sub), so
 * the subscription tests wait for what they expect, then a little longer for what must not come.
 */

export interface Subject<T> {
  readonly store: T;
  close(): Promise<void>;
}

/** Builds a fresh, empty store for each test. */
export type Factory<T> = () => Promise<Subject<T>>;

/** Builds a fresh, empty event log for each test, with the capacity asked for (default when absent). */
export type EventLogFactory = (options: { readonly capacity?: number }) => Promise<Subject<EventLog>>;

function assertSame(actual: unknown, expected: unknown, label: string): void {
  assert.ok(actual !== undefined, `${label}: expected a value, got undefined`);
  assert.deepEqual(canonical(actual), canonical(expected), label);
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds (live delivery may go through a server), failing after 3 s. */
export async function waitFor(condition: () => boolean, label: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${label}`);
    await sleep(5);
  }
}

/** Runs `body` with a fresh store from `make`, closing it afterwards. */
function withStore<T>(make: Factory<T>): { get: () => T } {
  let sut: Subject<T> | undefined;
  beforeEach(async () => {
    sut = await make();
  });
  afterEach(async () => {
    await sut?.close();
    sut = undefined;
  });
  return {
    get: () => {
      assert.ok(sut, 'store not opened');
      return sut.store;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Observations

export function observation(overrides: Partial<PersistedObservation> = {}): PersistedObservation {
  return {
    id: 'obs-1',
    endpoint: 'urn:imei:490154203237518',
    registrationId: 'k3j7qz2m4x',
    token: '0a1b2c3d4e5f6071',
    paths: ['/3/0/9'],
    composite: false,
    resume: true,
    createdAt: 1_700_000_000_123,
    ...overrides,
  };
}

/** An Observe-Composite with everything set: attributes (nested, fractional), formats, many paths. */
export function fullObservation(overrides: Partial<PersistedObservation> = {}): PersistedObservation {
  return observation({
    id: 'obs-full',
    paths: ['/3/0/9', '/3303/0/5700', '/lwm2m/d01/3303/1'],
    composite: true,
    attributes: { pmin: 10, pmax: 60, gt: 25.5, lt: -3.25, st: 0.5, epmin: 1, edge: 1, con: 1, hqmax: 0 },
    accept: 112,
    format: 11_544,
    resume: false,
    createdAt: 1_700_000_050_456,
    ...overrides,
  });
}

export function observationStoreContract(name: string, make: Factory<ObservationStore>): void {
  describe(`ObservationStore contract: ${name}`, () => {
    const sut = withStore(make);

    it('starts empty', async () => {
      const store = sut.get();
      assert.equal(await store.get('obs-1'), undefined);
      assert.equal(await store.remove('obs-1'), undefined);
      assert.deepEqual(await store.byEndpoint('ep'), []);
      assert.equal(await store.removeByEndpoint('ep'), 0);
      assert.deepEqual(await collect(store.all()), []);
    });

    it('round-trips every field exactly, through get, byEndpoint, all and remove', async () => {
      const store = sut.get();
      const obs = fullObservation();
      await store.put(obs);
      assertSame(await store.get(obs.id), obs, 'get');
      assertSame((await store.byEndpoint(obs.endpoint))[0], obs, 'byEndpoint');
      assertSame((await collect(store.all()))[0], obs, 'all');
      const got = await store.get(obs.id);
      assert.equal(got?.attributes?.gt, 25.5);
      assert.equal(got?.composite, true);
      assertSame(await store.remove(obs.id), obs, 'remove');
      assert.equal(await store.get(obs.id), undefined);
    });

    it('keeps absent optional members absent (no attributes, no formats)', async () => {
      const store = sut.get();
      const obs = observation();
      await store.put(obs);
      const got = await store.get(obs.id);
      assertSame(got, obs, 'get');
      assert.ok(got && !('attributes' in got) && !('accept' in got) && !('format' in got));
      assert.equal(got.resume, true);
      assert.equal(got.composite, false);
    });

    it('replaces by id: the new value wins, the endpoint lists it once', async () => {
      const store = sut.get();
      await store.put(observation({ token: 'aa', paths: ['/3/0/9'] }));
      const second = observation({ token: 'bb', paths: ['/3/0/13'], attributes: { pmax: 30 } });
      await store.put(second);
      assertSame(await store.get('obs-1'), second, 'get');
      const listed = await store.byEndpoint(second.endpoint);
      assert.equal(listed.length, 1);
      assertSame(listed[0], second, 'byEndpoint');
      assert.equal((await collect(store.all())).length, 1);
    });

    it('a replacement under another endpoint moves the observation there', async () => {
      const store = sut.get();
      await store.put(observation({ endpoint: 'ep-old' }));
      await store.put(observation({ endpoint: 'ep-new' }));
      assert.deepEqual(await store.byEndpoint('ep-old'), []);
      assert.deepEqual(
        (await store.byEndpoint('ep-new')).map((o) => o.id),
        ['obs-1'],
      );
      assert.equal(await store.removeByEndpoint('ep-old'), 0, 'nothing left under the old endpoint');
      assert.equal(await store.removeByEndpoint('ep-new'), 1);
      assert.equal(await store.get('obs-1'), undefined);
    });

    it('lists an endpoint’s observations oldest first (createdAt, then id), and only its own', async () => {
      const store = sut.get();
      await store.put(observation({ id: 'late', endpoint: 'ep', createdAt: 3000 }));
      await store.put(observation({ id: 'early', endpoint: 'ep', createdAt: 1000 }));
      await store.put(observation({ id: 'mid-b', endpoint: 'ep', createdAt: 2000 }));
      await store.put(observation({ id: 'mid-a', endpoint: 'ep', createdAt: 2000 }));
      await store.put(observation({ id: 'other', endpoint: 'ep-2', createdAt: 1500 }));
      assert.deepEqual(
        (await store.byEndpoint('ep')).map((o) => o.id),
        ['early', 'mid-a', 'mid-b', 'late'],
      );
      assert.deepEqual(
        (await store.byEndpoint('ep-2')).map((o) => o.id),
        ['other'],
      );
      assert.deepEqual(await store.byEndpoint('EP'), [], 'endpoint names are exact');
    });

    it('removeByEndpoint removes that endpoint’s observations only and counts them', async () => {
      const store = sut.get();
      for (const id of ['a1', 'a2', 'a3']) await store.put(observation({ id, endpoint: 'ep-a' }));
      for (const id of ['b1', 'b2']) await store.put(observation({ id, endpoint: 'ep-b' }));
      assert.equal(await store.removeByEndpoint('ep-a'), 3);
      for (const id of ['a1', 'a2', 'a3']) assert.equal(await store.get(id), undefined, id);
      assert.deepEqual(await store.byEndpoint('ep-a'), []);
      assert.equal(await store.removeByEndpoint('ep-a'), 0, 'a second call finds none');
      assert.deepEqual((await store.byEndpoint('ep-b')).map((o) => o.id).sort(), ['b1', 'b2']);
      assert.deepEqual((await collect(store.all())).map((o) => o.id).sort(), ['b1', 'b2']);
    });

    it('remove takes one observation out of every view', async () => {
      const store = sut.get();
      await store.put(observation({ id: 'x', endpoint: 'ep' }));
      await store.put(observation({ id: 'y', endpoint: 'ep' }));
      assert.equal((await store.remove('x'))?.id, 'x');
      assert.equal(await store.remove('x'), undefined, 'a second remove finds nothing');
      assert.deepEqual(
        (await store.byEndpoint('ep')).map((o) => o.id),
        ['y'],
      );
      assert.equal(await store.removeByEndpoint('ep'), 1);
    });

    it('all() is a snapshot: removing while iterating neither skips nor throws', async () => {
      const store = sut.get();
      for (const id of ['o1', 'o2', 'o3', 'o4']) await store.put(observation({ id, endpoint: `ep-${id}` }));
      const seen: string[] = [];
      for await (const obs of store.all()) {
        seen.push(obs.id);
        await store.remove(obs.id);
      }
      assert.deepEqual(seen.sort(), ['o1', 'o2', 'o3', 'o4']);
      assert.deepEqual(await collect(store.all()), []);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Credentials

const PSK_A: SecurityInfo = {
  endpoint: 'dev-a',
  psk: { identity: 'identity-a', key: '000102030405060708090a0b0c0d0e0f' },
};

/** Another endpoint with a PSK, beside an RPK endpoint. */
const PSK_A_ELSEWHERE: SecurityInfo = { ...PSK_A, endpoint: 'dev-p' };

/** PSK_A with a PSK being rotated in. */
const ROTATING_A: SecurityInfo = {
  ...PSK_A,
  nextPsk: { identity: 'identity-a-next', key: 'a0a1a2a3' },
};

/** A fresh P-256 raw public key: SubjectPublicKeyInfo DER hex (uncompressed point) and the point. */
function p256Key(): { spki: string; compressed: string } {
  const spki = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    .publicKey.export({ format: 'der', type: 'spki' })
    .toString('hex');
  // The same key with its point compressed (SEC 1 §2.3.3): another DER spelling of one key.
  const point = spki.slice(-130);
  const compressed =
    '3039301306072a8648ce3d020106082a8648ce3d030107032200' +
    (ECDH.convertKey(point, 'prime256v1', 'hex', 'hex', 'compressed') as string);
  return { spki, compressed };
}

const KEY_A = p256Key();
const KEY_B = p256Key();
const RPK_A: SecurityInfo = { endpoint: 'dev-a', rpk: { publicKey: KEY_A.spki } };

export function credentialStoreContract(name: string, make: Factory<CredentialStore>): void {
  describe(`CredentialStore contract: ${name}`, () => {
    const sut = withStore(make);

    it('starts empty', async () => {
      const store = sut.get();
      assert.equal(await store.get('dev-a'), undefined);
      assert.equal(await store.getByPskIdentity('identity-a'), undefined);
      assert.equal(await store.getByPublicKey(KEY_A.spki), undefined);
      assert.equal(await store.remove('dev-a'), undefined);
      assert.deepEqual(await collect(store.all()), []);
    });

    it('round-trips PSK, RPK and X.509 information exactly', async () => {
      const store = sut.get();
      const rpk: SecurityInfo = { endpoint: 'dev-rpk', rpk: { publicKey: '3059301306072a8648ce3d0201' } };
      const x509: SecurityInfo = { endpoint: 'dev-x509', x509: true };
      for (const info of [PSK_A, rpk, x509]) await store.put(info);
      assertSame(await store.get('dev-a'), PSK_A, 'psk');
      assertSame(await store.get('dev-rpk'), rpk, 'rpk');
      assertSame(await store.get('dev-x509'), x509, 'x509');
      assertSame(await store.getByPskIdentity('identity-a'), PSK_A, 'by identity');
      assert.deepEqual((await collect(store.all())).map((i) => i.endpoint).sort(), [
        'dev-a',
        'dev-rpk',
        'dev-x509',
      ]);
      assert.equal(await store.getByPskIdentity('dev-rpk'), undefined, 'only PSK identities are looked up');
    });

    it('refuses a PSK identity another endpoint holds, changing nothing', async () => {
      const store = sut.get();
      await store.put(PSK_A);
      const thief: SecurityInfo = { endpoint: 'dev-b', psk: { identity: 'identity-a', key: 'ffff' } };
      await assert.rejects(store.put(thief), (e: unknown) => {
        assert.ok(e instanceof CredentialConflictError, `got ${String(e)}`);
        assert.equal(e.code, 'PETREL_ERR_CREDENTIAL_CONFLICT');
        assert.equal(e.identity, 'identity-a');
        assert.equal(e.holder, 'dev-a');
        assert.match(e.message, /identity-a/);
        return true;
      });
      assert.equal(await store.get('dev-b'), undefined, 'the refused info is not stored');
      assertSame(await store.getByPskIdentity('identity-a'), PSK_A, 'the holder keeps it');
    });

    it('refuses the conflict even when the other endpoint already has info of its own', async () => {
      const store = sut.get();
      await store.put(PSK_A);
      const b: SecurityInfo = { endpoint: 'dev-b', psk: { identity: 'identity-b', key: '01' } };
      await store.put(b);
      await assert.rejects(
        store.put({ endpoint: 'dev-b', psk: { identity: 'identity-a', key: '02' } }),
        CredentialConflictError,
      );
      assertSame(await store.get('dev-b'), b, 'dev-b keeps its info');
      assertSame(await store.getByPskIdentity('identity-b'), b, 'and its identity');
    });

    it('replacing an endpoint’s info with the same identity is not a conflict', async () => {
      const store = sut.get();
      await store.put(PSK_A);
      const rekeyed: SecurityInfo = { endpoint: 'dev-a', psk: { identity: 'identity-a', key: 'aabbcc' } };
      await store.put(rekeyed);
      assertSame(await store.get('dev-a'), rekeyed, 'get');
      assertSame(await store.getByPskIdentity('identity-a'), rekeyed, 'by identity');
    });

    it('a replace with a new identity frees the old one', async () => {
      const store = sut.get();
      await store.put(PSK_A);
      const renamed: SecurityInfo = { endpoint: 'dev-a', psk: { identity: 'identity-a2', key: '01' } };
      await store.put(renamed);
      assert.equal(await store.getByPskIdentity('identity-a'), undefined, 'old identity forgotten');
      assertSame(await store.getByPskIdentity('identity-a2'), renamed, 'new identity found');
      const b: SecurityInfo = { endpoint: 'dev-b', psk: { identity: 'identity-a', key: '02' } };
      await store.put(b);
      assertSame(await store.getByPskIdentity('identity-a'), b, 'another endpoint may take it now');
    });

    it('a replace without PSK (RPK now) frees the identity', async () => {
      const store = sut.get();
      await store.put(PSK_A);
      const rpk: SecurityInfo = { endpoint: 'dev-a', rpk: { publicKey: '30' } };
      await store.put(rpk);
      assert.equal(await store.getByPskIdentity('identity-a'), undefined);
      assertSame(await store.get('dev-a'), rpk, 'get');
      await store.put({ endpoint: 'dev-b', psk: { identity: 'identity-a', key: '02' } });
      assert.equal((await store.getByPskIdentity('identity-a'))?.endpoint, 'dev-b');
    });

    it('remove returns the info and frees its identity', async () => {
      const store = sut.get();
      await store.put(PSK_A);
      assertSame(await store.remove('dev-a'), PSK_A, 'remove');
      assert.equal(await store.get('dev-a'), undefined);
      assert.equal(await store.getByPskIdentity('identity-a'), undefined);
      assert.equal(await store.remove('dev-a'), undefined, 'a second remove finds nothing');
      await store.put({ endpoint: 'dev-b', psk: { identity: 'identity-a', key: '02' } });
      assert.equal((await store.getByPskIdentity('identity-a'))?.endpoint, 'dev-b');
    });

    it('matches identities and endpoints exactly (case, Unicode)', async () => {
      const store = sut.get();
      await store.put({ endpoint: 'dev-ä', psk: { identity: 'Ident', key: '01' } });
      await store.put({ endpoint: 'Dev-Ä', psk: { identity: 'ident', key: '02' } });
      assert.equal((await store.getByPskIdentity('Ident'))?.endpoint, 'dev-ä');
      assert.equal((await store.getByPskIdentity('ident'))?.endpoint, 'Dev-Ä');
      assert.equal(await store.getByPskIdentity('IDENT'), undefined);
      assert.equal((await store.get('Dev-Ä'))?.psk?.key, '02');
    });

    // PSK rotation (BS-001): a nextPsk is indexed beside psk, in the same identity namespace.

    it('round-trips a nextPsk and finds the info by either identity', async () => {
      const store = sut.get();
      await store.put(ROTATING_A);
      assertSame(await store.get('dev-a'), ROTATING_A, 'get');
      assertSame(await store.getByPskIdentity('identity-a'), ROTATING_A, 'by the current identity');
      assertSame(await store.getByPskIdentity('identity-a-next'), ROTATING_A, 'by the next identity');
      assertSame((await collect(store.all()))[0], ROTATING_A, 'all');
      const rpkThenPsk: SecurityInfo = {
        endpoint: 'dev-r',
        rpk: { publicKey: '3059' },
        nextPsk: { identity: 'identity-r-next', key: '01' },
      };
      await store.put(rpkThenPsk);
      assertSame(await store.getByPskIdentity('identity-r-next'), rpkThenPsk, 'a nextPsk beside an RPK');
    });

    it('refuses a psk or nextPsk identity another endpoint holds as psk or nextPsk, changing nothing', async () => {
      const store = sut.get();
      await store.put(ROTATING_A);
      const b: SecurityInfo = { endpoint: 'dev-b', psk: { identity: 'identity-b', key: '01' } };
      await store.put(b);
      const attempts: [SecurityInfo, string][] = [
        [{ endpoint: 'dev-b', psk: { identity: 'identity-a-next', key: '02' } }, 'identity-a-next'],
        [{ ...b, nextPsk: { identity: 'identity-a', key: '02' } }, 'identity-a'],
        [{ ...b, nextPsk: { identity: 'identity-a-next', key: '02' } }, 'identity-a-next'],
        [{ endpoint: 'dev-c', nextPsk: { identity: 'identity-a-next', key: '02' } }, 'identity-a-next'],
      ];
      for (const [info, identity] of attempts)
        await assert.rejects(store.put(info), (e: unknown) => {
          assert.ok(e instanceof CredentialConflictError, `got ${String(e)}`);
          assert.equal(e.identity, identity);
          assert.equal(e.holder, 'dev-a');
          return true;
        });
      await assert.rejects(
        store.put({ ...ROTATING_A, endpoint: 'dev-a2' }),
        CredentialConflictError,
        'both identities held',
      );
      assertSame(await store.get('dev-b'), b, 'dev-b keeps its info');
      assert.equal(await store.get('dev-c'), undefined, 'a refused new info is not stored');
      assertSame(
        await store.getByPskIdentity('identity-a-next'),
        ROTATING_A,
        'the holder keeps its next identity',
      );
      assertSame(await store.getByPskIdentity('identity-b'), b, 'dev-b keeps its identity');
      // And the other way round: an endpoint's psk is out of reach of another's nextPsk.
      await assert.rejects(
        store.put({
          endpoint: 'dev-d',
          psk: { identity: 'identity-d', key: '03' },
          nextPsk: { identity: 'identity-b', key: '04' },
        }),
        (e: unknown) => e instanceof CredentialConflictError && e.holder === 'dev-b',
      );
      assert.equal(await store.getByPskIdentity('identity-d'), undefined, 'no half-stored info');
    });

    it('refuses one info with the same identity as psk and nextPsk (a conflict with itself)', async () => {
      const store = sut.get();
      const twice: SecurityInfo = {
        endpoint: 'dev-a',
        psk: { identity: 'same', key: '01' },
        nextPsk: { identity: 'same', key: '02' },
      };
      await assert.rejects(store.put(twice), (e: unknown) => {
        assert.ok(e instanceof CredentialConflictError, `got ${String(e)}`);
        assert.equal(e.identity, 'same');
        assert.equal(e.holder, 'dev-a');
        return true;
      });
      assert.equal(await store.get('dev-a'), undefined);
      assert.equal(await store.getByPskIdentity('same'), undefined);
      await store.put(PSK_A);
      await assert.rejects(
        store.put({ ...PSK_A, nextPsk: { identity: 'identity-a', key: '02' } }),
        CredentialConflictError,
      );
      assertSame(await store.get('dev-a'), PSK_A, 'the stored info is unchanged');
    });

    it('rotates with no state in which the device is locked out: add, promote, and the old identity is freed', async () => {
      const store = sut.get();
      await store.put(PSK_A);
      await store.put(ROTATING_A);
      assert.equal(
        (await store.getByPskIdentity('identity-a'))?.psk?.key,
        PSK_A.psk?.key,
        'old key still works',
      );
      assert.equal(
        (await store.getByPskIdentity('identity-a-next'))?.nextPsk?.key,
        'a0a1a2a3',
        'new key works',
      );
      const promoted: SecurityInfo = { ...ROTATING_A, psk: ROTATING_A.nextPsk, nextPsk: undefined };
      await store.put(promoted);
      const stored = await store.get('dev-a');
      assertSame(
        stored,
        { endpoint: 'dev-a', psk: { identity: 'identity-a-next', key: 'a0a1a2a3' } },
        'promoted',
      );
      assert.equal(stored?.nextPsk, undefined, 'no nextPsk left');
      assert.equal(await store.getByPskIdentity('identity-a'), undefined, 'the old identity is retired');
      assertSame(await store.getByPskIdentity('identity-a-next'), promoted, 'the new one is the psk now');
      await store.put({ endpoint: 'dev-b', psk: { identity: 'identity-a', key: '02' } });
      assert.equal(
        (await store.getByPskIdentity('identity-a'))?.endpoint,
        'dev-b',
        'another endpoint may take it',
      );
    });

    it('psk and nextPsk may swap places in one put (no conflict with itself)', async () => {
      const store = sut.get();
      await store.put(ROTATING_A);
      const swapped: SecurityInfo = { endpoint: 'dev-a', psk: ROTATING_A.nextPsk, nextPsk: ROTATING_A.psk };
      await store.put(swapped);
      assertSame(await store.getByPskIdentity('identity-a'), swapped, 'old identity, now next');
      assertSame(await store.getByPskIdentity('identity-a-next'), swapped, 'next identity, now current');
    });

    it('cancelling frees the next identity and keeps the current one', async () => {
      const store = sut.get();
      await store.put(ROTATING_A);
      await store.put({ ...ROTATING_A, nextPsk: undefined });
      assertSame(await store.get('dev-a'), PSK_A, 'back to the current PSK only');
      assert.equal(await store.getByPskIdentity('identity-a-next'), undefined, 'next identity freed');
      assertSame(await store.getByPskIdentity('identity-a'), PSK_A, 'current identity kept');
      await store.put({ endpoint: 'dev-b', psk: { identity: 'identity-a-next', key: '02' } });
      assert.equal((await store.getByPskIdentity('identity-a-next'))?.endpoint, 'dev-b');
    });

    it('a replace with other identities, or a remove, frees both identities', async () => {
      const store = sut.get();
      await store.put(ROTATING_A);
      await store.put({ endpoint: 'dev-a', rpk: { publicKey: '30' } });
      assert.equal(await store.getByPskIdentity('identity-a'), undefined, 'current freed by the replace');
      assert.equal(await store.getByPskIdentity('identity-a-next'), undefined, 'next freed by the replace');
      await store.put(ROTATING_A);
      assertSame(await store.remove('dev-a'), ROTATING_A, 'remove');
      assert.equal(await store.getByPskIdentity('identity-a'), undefined, 'current freed by the remove');
      assert.equal(await store.getByPskIdentity('identity-a-next'), undefined, 'next freed by the remove');
      await store.put({
        endpoint: 'dev-b',
        psk: { identity: 'identity-a-next', key: '01' },
        nextPsk: { identity: 'identity-a', key: '02' },
      });
      assert.equal((await store.getByPskIdentity('identity-a'))?.endpoint, 'dev-b');
      assert.equal((await store.getByPskIdentity('identity-a-next'))?.endpoint, 'dev-b');
    });

    // Raw public keys (RFC 7250): indexed like PSK identities, by canonical SPKI (one key, one endpoint).

    it('finds an info by its raw public key in any spelling of the key', async () => {
      const store = sut.get();
      await store.put(RPK_A);
      await store.put(PSK_A_ELSEWHERE);
      assertSame(await store.getByPublicKey(KEY_A.spki), RPK_A, 'as stored');
      assertSame(await store.getByPublicKey(KEY_A.spki.toUpperCase()), RPK_A, 'upper-case hex');
      assertSame(await store.getByPublicKey(KEY_A.compressed), RPK_A, 'compressed point');
      assert.equal(await store.getByPublicKey(KEY_B.spki), undefined, 'a key no endpoint holds');
      assert.equal(await store.getByPublicKey('3059'), undefined, 'no SubjectPublicKeyInfo');
      assert.equal(await store.getByPublicKey('not hex'), undefined, 'not hex');
      assert.equal(await store.getByPublicKey(''), undefined, 'empty');
      const stored: SecurityInfo = { endpoint: 'dev-c', rpk: { publicKey: KEY_B.compressed } };
      await store.put(stored);
      assertSame(await store.getByPublicKey(KEY_B.spki), stored, 'stored compressed, found uncompressed');
      assertSame(await store.get('dev-c'), stored, 'the info keeps the spelling it was given');
    });

    it('refuses a raw public key another endpoint holds, in any spelling, changing nothing', async () => {
      const store = sut.get();
      await store.put(RPK_A);
      const b: SecurityInfo = { endpoint: 'dev-b', psk: { identity: 'identity-b', key: '01' } };
      await store.put(b);
      for (const publicKey of [KEY_A.spki, KEY_A.compressed, KEY_A.spki.toUpperCase()])
        await assert.rejects(store.put({ endpoint: 'dev-b', rpk: { publicKey } }), (e: unknown) => {
          assert.ok(e instanceof PublicKeyConflictError, `got ${String(e)}`);
          assert.ok(e instanceof CredentialConflictError, 'a CredentialConflictError');
          assert.equal(e.code, 'PETREL_ERR_CREDENTIAL_CONFLICT');
          assert.equal(e.holder, 'dev-a');
          assert.equal(e.identity, KEY_A.spki, 'the key, canonical');
          assert.match(
            e.message,
            /raw public key .* of endpoint "dev-b" is already bound to endpoint "dev-a"/,
          );
          return true;
        });
      await assert.rejects(
        store.put({ endpoint: 'dev-new', rpk: { publicKey: KEY_A.compressed } }),
        PublicKeyConflictError,
      );
      assertSame(await store.get('dev-b'), b, 'dev-b keeps its info');
      assertSame(await store.getByPskIdentity('identity-b'), b, 'and its identity');
      assert.equal(await store.get('dev-new'), undefined, 'a refused new info is not stored');
      assertSame(await store.getByPublicKey(KEY_A.spki), RPK_A, 'the holder keeps its key');
    });

    it('a key conflict changes nothing even when the PSK part is free', async () => {
      const store = sut.get();
      await store.put(RPK_A);
      await assert.rejects(
        store.put({
          endpoint: 'dev-b',
          rpk: { publicKey: KEY_A.spki },
          nextPsk: { identity: 'identity-b-next', key: '01' },
        }),
        PublicKeyConflictError,
      );
      assert.equal(await store.getByPskIdentity('identity-b-next'), undefined, 'no half-stored info');
    });

    it('re-putting an endpoint with its own key (another spelling) is not a conflict', async () => {
      const store = sut.get();
      await store.put(RPK_A);
      const respelled: SecurityInfo = {
        endpoint: 'dev-a',
        rpk: { publicKey: KEY_A.compressed },
        nextPsk: { identity: 'identity-a-next', key: '01' },
      };
      await store.put(respelled);
      assertSame(await store.getByPublicKey(KEY_A.spki), respelled, 'found with the new info');
    });

    it('a replace with another key or a PSK, or a remove, frees the key', async () => {
      const store = sut.get();
      await store.put(RPK_A);
      await store.put({ endpoint: 'dev-a', rpk: { publicKey: KEY_B.spki } });
      assert.equal(await store.getByPublicKey(KEY_A.spki), undefined, 'old key freed by a new key');
      assert.equal((await store.getByPublicKey(KEY_B.spki))?.endpoint, 'dev-a', 'new key found');
      await store.put(PSK_A);
      assert.equal(await store.getByPublicKey(KEY_B.spki), undefined, 'freed by a PSK');
      await store.put(RPK_A);
      assertSame(await store.remove('dev-a'), RPK_A, 'remove');
      assert.equal(await store.getByPublicKey(KEY_A.spki), undefined, 'freed by the remove');
      await store.put({ endpoint: 'dev-b', rpk: { publicKey: KEY_A.compressed } });
      assert.equal((await store.getByPublicKey(KEY_A.spki))?.endpoint, 'dev-b', 'another may take it');
      await store.put({ endpoint: 'dev-c', rpk: { publicKey: KEY_B.spki } });
      assert.equal((await store.getByPublicKey(KEY_B.spki))?.endpoint, 'dev-c', 'and the other one');
    });

    it('stores a publicKey that is no SubjectPublicKeyInfo as given, without indexing it', async () => {
      const store = sut.get();
      const odd: SecurityInfo = { endpoint: 'dev-a', rpk: { publicKey: '3059' } };
      const same: SecurityInfo = { endpoint: 'dev-b', rpk: { publicKey: '3059' } };
      await store.put(odd);
      await store.put(same);
      assertSame(await store.get('dev-a'), odd, 'kept');
      assertSame(await store.get('dev-b'), same, 'no conflict: it can match no handshake key');
      assert.equal(await store.getByPublicKey('3059'), undefined);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Bootstrap configurations

/** A configuration with every JSON shape and byte arrays (keys, certificates). */
export function bootstrapConfig(): BootstrapConfig {
  return {
    servers: [
      { shortServerId: 101, lifetime: 300, binding: 'U', notifyStoring: true, defaultPmin: 0.5 },
      { shortServerId: 102, lifetime: 86_400, binding: 'UQ', disabled: null },
    ],
    security: {
      '/0/0': {
        uri: 'coaps://bs.example:5684',
        bootstrap: true,
        mode: 0,
        identity: Uint8Array.from([0x70, 0, 0xff]),
      },
      '/0/1': { uri: 'coap://lwm2m.example', bootstrap: false, mode: 3, secretKey: Uint8Array.from([]) },
    },
    acl: [],
    note: 'Überwachung — ✓',
    empty: {},
  };
}

/** A bootstrap store under test, with what only a persistent one offers (both absent for memory). */
export interface BootstrapSubject extends Subject<BootstrapConfigStore> {
  /** Another store on the same data, as a restarted server opens it (called after close()). */
  readonly reopen?: () => Promise<Subject<BootstrapConfigStore>>;
  /** Stores `text` as `endpoint`'s pending record, as a hand edit of the row or field would. */
  readonly writeRawPending?: (endpoint: string, text: string) => Promise<void>;
}

export function bootstrapConfigStoreContract(name: string, make: () => Promise<BootstrapSubject>): void {
  describe(`BootstrapConfigStore contract: ${name}`, () => {
    const sut = withStore(make);

    it('starts empty', async () => {
      const store = sut.get();
      assert.equal(await store.get('dev'), undefined);
      assert.equal(await store.remove('dev'), undefined);
      assert.deepEqual(await collect(store.all()), []);
    });

    it('round-trips a configuration exactly: nesting, numbers, null, Unicode, byte arrays', async () => {
      const store = sut.get();
      const config = bootstrapConfig();
      await store.put('dev', config);
      const got = await store.get('dev');
      assertSame(got, config, 'get');
      const security = got?.security as Record<string, Record<string, unknown>> | undefined;
      assert.ok(security?.['/0/0']?.identity instanceof Uint8Array, 'bytes come back as bytes');
      assert.equal((got?.servers as { disabled?: unknown }[] | undefined)?.[1]?.disabled, null);
      const [entry] = await collect(store.all());
      assert.equal(entry?.endpoint, 'dev');
      assertSame(entry?.config, config, 'all');
    });

    it('keeps what was stored when the caller changes its object afterwards', async () => {
      const store = sut.get();
      const config = { servers: [{ shortServerId: 1 }] };
      await store.put('dev', config);
      config.servers.push({ shortServerId: 2 });
      assertSame(await store.get('dev'), { servers: [{ shortServerId: 1 }] }, 'stored copy');
      const got = (await store.get('dev')) as { servers: unknown[] };
      got.servers.length = 0;
      assert.equal(((await store.get('dev')) as { servers: unknown[] }).servers.length, 1, 'returned copy');
    });

    it('replaces per endpoint; remove returns the configuration; endpoints stay apart', async () => {
      const store = sut.get();
      await store.put('dev-a', { v: 1 });
      await store.put('dev-b', { v: 2 });
      await store.put('dev-a', { v: 3 });
      assertSame(await store.get('dev-a'), { v: 3 }, 'replaced');
      assert.deepEqual(
        (await collect(store.all())).map((e) => `${e.endpoint}=${String(e.config.v)}`).sort(),
        ['dev-a=3', 'dev-b=2'],
      );
      assertSame(await store.remove('dev-a'), { v: 3 }, 'remove');
      assert.equal(await store.get('dev-a'), undefined);
      assert.equal(await store.remove('dev-a'), undefined);
      assertSame(await store.get('dev-b'), { v: 2 }, 'other stays');
    });

    it('keeps templates by name, apart from the configurations: round trip, replace, remove, list', async () => {
      const store = sut.get();
      assert.equal(await store.getTemplate('sensor'), undefined);
      assert.equal(await store.removeTemplate('sensor'), undefined);
      assert.deepEqual(await collect(store.templates()), []);
      const template = {
        servers: [{ shortServerId: '${ssid}', uri: 'coaps://${host}:5684', security: { key: '${psk}' } }],
        note: 'Überwachung — ✓',
        bytes: Uint8Array.from([0, 0xff]),
      };
      await store.putTemplate('sensor', template);
      await store.put('sensor', { v: 'a configuration of the same name' });
      const got = await store.getTemplate('sensor');
      assertSame(got, template, 'getTemplate');
      assert.ok(got?.bytes instanceof Uint8Array, 'bytes come back as bytes');
      assertSame(await store.get('sensor'), { v: 'a configuration of the same name' }, 'config apart');
      assert.deepEqual(
        (await collect(store.all())).map((e) => e.endpoint),
        ['sensor'],
      );
      template.servers.length = 0;
      assert.equal(
        ((await store.getTemplate('sensor')) as { servers: unknown[] }).servers.length,
        1,
        'copy in',
      );
      await store.putTemplate('meter', { v: 1 });
      await store.putTemplate('meter', { v: 2 });
      assert.deepEqual(
        (await collect(store.templates()))
          .map((e) => `${e.name}=${JSON.stringify(e.template.v ?? null)}`)
          .sort(),
        ['meter=2', 'sensor=null'],
      );
      assertSame(await store.removeTemplate('meter'), { v: 2 }, 'removeTemplate');
      assert.equal(await store.getTemplate('meter'), undefined);
      assert.equal(await store.removeTemplate('meter'), undefined);
      assert.ok(await store.getTemplate('sensor'), 'other template stays');
      assertSame(await store.remove('sensor'), { v: 'a configuration of the same name' }, 'remove config');
      assert.ok(await store.getTemplate('sensor'), 'removing a configuration leaves the template');
    });

    it('has no pending bootstrap record until one is set', async () => {
      const store = sut.get();
      assert.equal(await store.getPending('dev'), undefined);
      assert.equal(await store.removePending('dev'), false);
    });

    it('sets, replaces and removes pending records per endpoint, every reason exactly', async () => {
      const store = sut.get();
      const reasons: PendingBootstrapRecord['reason'][] = ['reconfigure', 'rotate', 'unbootstrap'];
      for (const [i, reason] of reasons.entries()) {
        const record = { reason, requestedAt: 1_764_000_000_000 + i };
        await store.setPending(`dev-${reason}`, record);
        assert.deepEqual(await store.getPending(`dev-${reason}`), record, reason);
      }
      await store.setPending('dev-rotate', { reason: 'unbootstrap', requestedAt: 5 });
      assert.deepEqual(
        await store.getPending('dev-rotate'),
        { reason: 'unbootstrap', requestedAt: 5 },
        'replaced',
      );
      assert.equal(await store.removePending('dev-rotate'), true);
      assert.equal(await store.getPending('dev-rotate'), undefined, 'removed');
      assert.equal(await store.removePending('dev-rotate'), false, 'removed once');
      assert.deepEqual(
        await store.getPending('dev-reconfigure'),
        { reason: 'reconfigure', requestedAt: 1_764_000_000_000 },
        'other endpoints stay',
      );
      assert.equal(await store.getPending('dev-unknown'), undefined);
    });

    it('hands out copies of pending records', async () => {
      const store = sut.get();
      const record = { reason: 'rotate' as const, requestedAt: 10 };
      await store.setPending('dev', record);
      (record as { requestedAt: number }).requestedAt = 11;
      const got = await store.getPending('dev');
      assert.deepEqual(got, { reason: 'rotate', requestedAt: 10 }, 'stored copy');
      (got as { requestedAt: number }).requestedAt = 12;
      assert.deepEqual(await store.getPending('dev'), { reason: 'rotate', requestedAt: 10 }, 'returned copy');
    });

    it('keeps pending records apart from configurations: removing one leaves the other', async () => {
      const store = sut.get();
      await store.setPending('dev-bare', { reason: 'unbootstrap', requestedAt: 1 });
      assert.deepEqual(
        await store.getPending('dev-bare'),
        { reason: 'unbootstrap', requestedAt: 1 },
        'no configuration needed',
      );
      assert.deepEqual(await collect(store.all()), [], 'a pending record is no configuration');
      await store.put('dev', { v: 1 });
      await store.setPending('dev', { reason: 'reconfigure', requestedAt: 2 });
      assertSame(await store.remove('dev'), { v: 1 }, 'remove');
      assert.deepEqual(
        await store.getPending('dev'),
        { reason: 'reconfigure', requestedAt: 2 },
        'removing the configuration leaves the pending record',
      );
      await store.put('dev', { v: 2 });
      assert.equal(await store.removePending('dev'), true);
      assertSame(await store.get('dev'), { v: 2 }, 'removing the pending record leaves the configuration');
    });
  });

  describe(`BootstrapConfigStore pending records across stores: ${name}`, () => {
    it('keeps pending records across a close and reopen (a server restart)', async (t) => {
      const first = await make();
      const { reopen } = first;
      if (reopen === undefined) {
        await first.close();
        t.skip('a store without persistence: nothing to reopen');
        return;
      }
      await first.store.setPending('dev-a', { reason: 'reconfigure', requestedAt: 100 });
      await first.store.setPending('dev-b', { reason: 'rotate', requestedAt: 200 });
      await first.store.setPending('dev-c', { reason: 'rotate', requestedAt: 300 });
      await first.store.setPending('dev-b', { reason: 'unbootstrap', requestedAt: 250 });
      assert.equal(await first.store.removePending('dev-c'), true);
      await first.close();

      const second = await reopen();
      try {
        assert.deepEqual(await second.store.getPending('dev-a'), { reason: 'reconfigure', requestedAt: 100 });
        assert.deepEqual(await second.store.getPending('dev-b'), { reason: 'unbootstrap', requestedAt: 250 });
        assert.equal(await second.store.getPending('dev-c'), undefined, 'a removed record stays removed');
        assert.equal(await second.store.removePending('dev-a'), true);
      } finally {
        await second.close();
      }
    });

    it('reads a stored pending record that does not parse (hand-edited) as none, without throwing', async (t) => {
      const subject = await make();
      try {
        const { writeRawPending } = subject;
        if (writeRawPending === undefined) {
          t.skip('a store that keeps records as objects: no stored text to edit');
          return;
        }
        const store = subject.store;
        const broken = [
          'not json {',
          '',
          'null',
          '42',
          '[]',
          '"rotate"',
          '{}',
          '{"reason":"explode","requestedAt":1}',
          '{"reason":"rotate"}',
          '{"reason":"rotate","requestedAt":"1"}',
          '{"reason":"rotate","requestedAt":null}',
          '{"reason":["rotate"],"requestedAt":1}',
        ];
        for (const text of broken) {
          await writeRawPending('dev', text);
          assert.equal(await store.getPending('dev'), undefined, JSON.stringify(text));
        }
        assert.equal(await store.removePending('dev'), true, 'the unreadable record was there to remove');
        await writeRawPending('dev', '{"reason":"rotate","requestedAt":7}');
        assert.deepEqual(await store.getPending('dev'), { reason: 'rotate', requestedAt: 7 }, 'raw form');
        await writeRawPending('dev', 'garbage');
        await store.setPending('dev', { reason: 'reconfigure', requestedAt: 8 });
        assert.deepEqual(
          await store.getPending('dev'),
          { reason: 'reconfigure', requestedAt: 8 },
          'overwritten',
        );
      } finally {
        await subject.close();
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Tags

async function rejectsWithTagError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof TagError, `expected a TagError, got ${String(e)}`);
    assert.equal(e.code, 'PETREL_ERR_TAG');
    assert.match(e.message, pattern);
    return true;
  });
}

export function tagStoreContract(name: string, make: Factory<TagStore>): void {
  describe(`TagStore contract: ${name}`, () => {
    const sut = withStore(make);

    it('starts empty', async () => {
      const store = sut.get();
      assert.deepEqual(await store.get('dev'), []);
      assert.deepEqual(await store.endpointsWith('site:paris'), []);
      assert.equal((await store.all()).size, 0);
    });

    it('drops duplicates, keeping first places, and returns what it stored', async () => {
      const store = sut.get();
      const stored = await store.set('dev', ['zeta', 'alpha', 'zeta', 'mid', 'alpha']);
      assert.deepEqual([...stored], ['zeta', 'alpha', 'mid']);
      assert.deepEqual([...(await store.get('dev'))], ['zeta', 'alpha', 'mid']);
    });

    it('replaces the whole list: old tags no longer find the endpoint', async () => {
      const store = sut.get();
      await store.set('dev', ['site:paris', 'fw-beta']);
      await store.set('dev', ['fw-beta', 'site:lyon']);
      assert.deepEqual([...(await store.get('dev'))], ['fw-beta', 'site:lyon']);
      assert.deepEqual(await store.endpointsWith('site:paris'), []);
      assert.deepEqual(await store.endpointsWith('site:lyon'), ['dev']);
      assert.deepEqual(await store.endpointsWith('fw-beta'), ['dev']);
    });

    it('an empty list removes the endpoint’s tags entirely', async () => {
      const store = sut.get();
      await store.set('dev', ['a', 'b']);
      await store.set('other', ['a']);
      assert.deepEqual([...(await store.set('dev', []))], []);
      assert.deepEqual([...(await store.get('dev'))], []);
      assert.deepEqual(await store.endpointsWith('a'), ['other']);
      assert.deepEqual(await store.endpointsWith('b'), []);
      assert.deepEqual([...(await store.all()).keys()], ['other']);
    });

    it('lists the endpoints with a tag sorted, and all() every tagged endpoint with its tags', async () => {
      const store = sut.get();
      for (const ep of ['ep-c', 'ep-a', 'Ep-B', 'ep-b']) await store.set(ep, ['fleet', `own:${ep}`]);
      await store.set('ep-x', ['other']);
      assert.deepEqual(await store.endpointsWith('fleet'), ['Ep-B', 'ep-a', 'ep-b', 'ep-c']);
      assert.deepEqual(await store.endpointsWith('own:ep-a'), ['ep-a']);
      assert.deepEqual(await store.endpointsWith('FLEET'), [], 'tags are case-sensitive');
      const all = await store.all();
      assert.deepEqual([...all.keys()], ['Ep-B', 'ep-a', 'ep-b', 'ep-c', 'ep-x']);
      assert.deepEqual([...(all.get('ep-c') ?? [])], ['fleet', 'own:ep-c']);
      assert.deepEqual([...(all.get('ep-x') ?? [])], ['other']);
    });

    it('accepts every printable character but space and comma, up to 64 of them', async () => {
      const store = sut.get();
      const edge = ['!', '~', 'a'.repeat(64), 'k=v;x|y/z', '"quoted"', '#+-'];
      assert.deepEqual([...(await store.set('dev', edge))], edge);
    });

    for (const [label, tag, why] of [
      ['an empty tag', '', /"" is empty/],
      ['a space', 'site paris', /"site paris" contains a space or a comma/],
      ['a comma', 'a,b', /"a,b" contains a space or a comma/],
      ['65 characters', 'x'.repeat(65), /is 65 characters long, at most 64/],
      ['a tab', 'tab\there', /"tab\\there" contains a character outside printable ASCII/],
      ['a non-ASCII letter', 'café', /"café" contains a character outside printable ASCII/],
    ] as const)
      it(`refuses ${label}, naming the tag and why, and keeps the old tags`, async () => {
        const store = sut.get();
        await store.set('dev', ['keep']);
        await rejectsWithTagError(store.set('dev', ['ok', tag]), why);
        assert.deepEqual([...(await store.get('dev'))], ['keep']);
        assert.deepEqual(await store.endpointsWith('ok'), []);
      });

    it(`allows ${MAX_TAGS} distinct tags (duplicates do not count), refuses ${MAX_TAGS + 1}`, async () => {
      const store = sut.get();
      const max = Array.from({ length: MAX_TAGS }, (_, i) => `t${i}`);
      assert.equal((await store.set('dev', [...max, ...max])).length, MAX_TAGS);
      await rejectsWithTagError(store.set('dev', [...max, 'one-more']), new RegExp(`more than ${MAX_TAGS}`));
      assert.equal((await store.get('dev')).length, MAX_TAGS, 'unchanged');
      assert.deepEqual(await store.endpointsWith('one-more'), []);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Event log

function event(type: string, endpoint: string | undefined, n: number): LoggedEvent {
  return endpoint === undefined
    ? { type, time: 1_700_000_000_000 + n, data: { n } }
    : { type, time: 1_700_000_000_000 + n, endpoint, data: { n } };
}

export function eventLogContract(name: string, make: EventLogFactory): void {
  describe(`EventLog contract: ${name}`, () => {
    const opened: Subject<EventLog>[] = [];
    const open = async (capacity?: number): Promise<EventLog> => {
      const sut = await make(capacity === undefined ? {} : { capacity });
      opened.push(sut);
      return sut.store;
    };
    afterEach(async () => {
      for (const sut of opened.splice(0)) await sut.close();
    });

    it('starts empty, with the default capacity of 10 000', async () => {
      const log = await open();
      assert.equal(log.capacity, 10_000);
      assert.deepEqual(await log.recent(), []);
    });

    it('round-trips an event exactly; one without endpoint has none', async () => {
      const log = await open();
      const full: LoggedEvent = {
        type: 'notification',
        time: 1_700_000_000_123,
        endpoint: 'urn:imei:490154203237518',
        data: {
          path: '/3303/0/5700',
          value: 21.5,
          ok: true,
          none: null,
          list: [1, 'two', { three: 3 }],
          text: 'é✓',
        },
      };
      const bare: LoggedEvent = { type: 'started', time: 1_700_000_000_124, data: {} };
      const a = await log.append(full);
      const b = await log.append(bare);
      assertSame(a, { ...full, seq: a.seq }, 'append result');
      const [ra, rb] = await log.recent();
      assertSame(ra, { ...full, seq: a.seq }, 'recent');
      assertSame(rb, { ...bare, seq: b.seq }, 'recent without endpoint');
      assert.ok(rb && !('endpoint' in rb), 'no endpoint member');
    });

    it('hands out strictly increasing seq numbers, which recent() returns oldest first', async () => {
      const log = await open();
      const seqs: number[] = [];
      for (let i = 0; i < 25; i++) seqs.push((await log.append(event('t', 'ep', i))).seq);
      for (let i = 1; i < seqs.length; i++)
        assert.ok((seqs[i] ?? 0) > (seqs[i - 1] ?? 0), `seq ${i} increases`);
      assert.ok(seqs.every(Number.isSafeInteger));
      assert.deepEqual(
        (await log.recent()).map((e) => e.seq),
        seqs,
      );
    });

    it('returns the newest 100 by default, oldest first', async () => {
      const log = await open();
      const seqs: number[] = [];
      for (let i = 0; i < 130; i++) seqs.push((await log.append(event('t', undefined, i))).seq);
      const recent = await log.recent();
      assert.equal(recent.length, 100);
      assert.deepEqual(
        recent.map((e) => e.seq),
        seqs.slice(30),
      );
      assert.equal(recent[0]?.data.n, 30);
    });

    it('keeps at most `capacity` events: the oldest go, the newest stay', async () => {
      const log = await open(5);
      assert.equal(log.capacity, 5);
      const seqs: number[] = [];
      for (let i = 0; i < 12; i++) seqs.push((await log.append(event(`e${i}`, 'ep', i))).seq);
      const kept = await log.recent({ limit: 1000 });
      assert.deepEqual(
        kept.map((e) => e.type),
        ['e7', 'e8', 'e9', 'e10', 'e11'],
      );
      assert.deepEqual(
        kept.map((e) => e.seq),
        seqs.slice(7),
      );
      assert.deepEqual(await log.recent({ after: seqs[3] }), kept, 'trimmed events do not come back');
      const next = await log.append(event('e12', 'ep', 12));
      assert.ok(next.seq > (seqs[11] ?? 0), 'seq keeps increasing after trimming');
      assert.deepEqual(
        (await log.recent()).map((e) => e.type),
        ['e8', 'e9', 'e10', 'e11', 'e12'],
      );
    });

    it('limit: the newest matching events, oldest first; 0 gives none', async () => {
      const log = await open();
      for (let i = 0; i < 10; i++) await log.append(event(`e${i}`, 'ep', i));
      assert.deepEqual(
        (await log.recent({ limit: 3 })).map((e) => e.type),
        ['e7', 'e8', 'e9'],
      );
      assert.deepEqual(await log.recent({ limit: 0 }), []);
      assert.equal((await log.recent({ limit: 50 })).length, 10);
    });

    it('filters by endpoint, types and after, alone and together, before applying the limit', async () => {
      const log = await open();
      const stored: StoredEvent[] = [];
      const plan: [string, string | undefined][] = [
        ['registered', 'ep-a'],
        ['registered', 'ep-b'],
        ['notification', 'ep-a'],
        ['request', 'ep-a'],
        ['notification', 'ep-b'],
        ['notification', 'ep-a'],
        ['started', undefined],
        ['updated', 'ep-a'],
        ['notification', 'ep-a'],
      ];
      for (const [i, [type, ep]] of plan.entries()) stored.push(await log.append(event(type, ep, i)));
      const ns = (events: StoredEvent[]): number[] => events.map((e) => e.data.n as number);

      assert.deepEqual(ns(await log.recent({ endpoint: 'ep-a' })), [0, 2, 3, 5, 7, 8]);
      assert.deepEqual(ns(await log.recent({ endpoint: 'ep-c' })), []);
      assert.deepEqual(ns(await log.recent({ types: ['notification'] })), [2, 4, 5, 8]);
      assert.deepEqual(ns(await log.recent({ types: ['registered', 'started'] })), [0, 1, 6]);
      assert.deepEqual(ns(await log.recent({ types: ['nope'] })), []);
      assert.deepEqual(ns(await log.recent({ after: stored[5]?.seq })), [6, 7, 8]);
      assert.deepEqual(ns(await log.recent({ after: stored[8]?.seq })), [], 'nothing after the newest');
      assert.equal((await log.recent({ after: 0 })).length, 9, 'after 0: everything');
      assert.deepEqual(
        ns(await log.recent({ endpoint: 'ep-a', types: ['notification', 'request'], after: stored[2]?.seq })),
        [3, 5, 8],
      );
      assert.deepEqual(
        ns(await log.recent({ endpoint: 'ep-a', types: ['notification'], limit: 2 })),
        [5, 8],
        'the limit applies to matches, not to the scan',
      );
      assert.deepEqual(
        ns(await log.recent({ after: stored[1]?.seq, limit: 2 })),
        [7, 8],
        'after and limit: the newest of what follows',
      );
    });

    it('finds matches spread over hundreds of events, and returns all of them when asked', async () => {
      const log = await open();
      for (let i = 0; i < 450; i++) await log.append(event(i % 150 === 0 ? 'rare' : 'common', 'ep', i));
      const ns = (events: StoredEvent[]): number[] => events.map((e) => e.data.n as number);
      assert.deepEqual(ns(await log.recent({ types: ['rare'] })), [0, 150, 300]);
      assert.deepEqual(ns(await log.recent({ types: ['rare'], limit: 2 })), [150, 300]);
      const all = await log.recent({ limit: 1000 });
      assert.equal(all.length, 450);
      assert.deepEqual(ns(all), [...Array(450).keys()]);
    });

    it('delivers each appended event to a subscriber exactly once, as stored', async () => {
      const log = await open();
      const got: StoredEvent[] = [];
      const unsubscribe = log.subscribe((e) => got.push(e));
      const a = await log.append(event('registered', 'ep', 1));
      const b = await log.append(event('updated', 'ep', 2));
      await waitFor(() => got.some((e) => e.seq === b.seq), 'the second event');
      await sleep(100); // room for a duplicate to show up
      assert.deepEqual(
        got.map((e) => e.seq),
        [a.seq, b.seq],
      );
      assertSame(got[0], a, 'delivered as stored');
      unsubscribe();
    });

    it('unsubscribe stops delivery to that listener only; calling it twice is harmless', async () => {
      const log = await open();
      const first: number[] = [];
      const second: number[] = [];
      const off1 = log.subscribe((e) => first.push(e.seq));
      const off2 = log.subscribe((e) => second.push(e.seq));
      const a = await log.append(event('t', 'ep', 1));
      await waitFor(() => first.length === 1 && second.length === 1, 'both listeners');
      off1();
      off1();
      const b = await log.append(event('t', 'ep', 2));
      await waitFor(() => second.includes(b.seq), 'the remaining listener');
      await sleep(50);
      assert.deepEqual(first, [a.seq]);
      assert.deepEqual(second, [a.seq, b.seq]);
      off2();
      await log.append(event('t', 'ep', 3));
      await sleep(50);
      assert.deepEqual(second, [a.seq, b.seq], 'nothing after the last unsubscribe');
      const third: number[] = [];
      const off3 = log.subscribe((e) => third.push(e.seq));
      const d = await log.append(event('t', 'ep', 4));
      await waitFor(() => third.includes(d.seq), 'a listener subscribed again');
      assert.deepEqual(third, [d.seq]);
      off3();
    });

    it('a throwing listener breaks neither append nor the other listeners', async () => {
      const log = await open();
      const got: number[] = [];
      const offBad = log.subscribe(() => {
        throw new Error('listener failure');
      });
      const offGood = log.subscribe((e) => got.push(e.seq));
      const a = await log.append(event('t', 'ep', 1));
      const b = await log.append(event('t', 'ep', 2));
      await waitFor(() => got.includes(b.seq), 'the good listener');
      assert.deepEqual(got, [a.seq, b.seq]);
      assert.equal((await log.recent()).length, 2);
      offBad();
      offGood();
    });
  });
}
