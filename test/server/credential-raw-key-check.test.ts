import assert from 'node:assert/strict';
import { ECDH } from 'node:crypto';
import { describe, it } from 'node:test';
import { credentialRawKeyCheck } from '../../src/server/credential-raw-key-check.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';
import { spkiDer } from '../support/dtls-fixtures.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('credentialRawKeyCheck', () => {
  it('knows the keys the store holds, in any DER spelling, and no others', async () => {
    const store = new MemoryCredentialStore();
    await store.put({ endpoint: 'dev-r', rpk: { publicKey: hex(spkiDer('client-rpk')) } });
    await store.put({ endpoint: 'dev-p', psk: { identity: 'id-p', key: '01' } });
    const errors: unknown[] = [];
    const known = credentialRawKeyCheck(store, (e) => errors.push(e));
    assert.equal(await known(spkiDer('client-rpk')), true);
    const point = hex(spkiDer('client-rpk')).slice(-130);
    const compressed = Buffer.from(
      '3039301306072a8648ce3d020106082a8648ce3d030107032200' +
        (ECDH.convertKey(point, 'prime256v1', 'hex', 'hex', 'compressed') as string),
      'hex',
    );
    assert.equal(await known(compressed), true, 'the same key, point compressed');
    assert.equal(await known(spkiDer('server')), false, 'a key no endpoint holds');
    assert.equal(await known(new Uint8Array([0x30, 0x00])), false, 'no SubjectPublicKeyInfo');
    await store.remove('dev-r');
    assert.equal(await known(spkiDer('client-rpk')), false, 'forgotten with its endpoint');
    assert.deepEqual(errors, []);
  });

  it('counts a key as unknown when the store fails, and reports the failure', async () => {
    const store = new MemoryCredentialStore();
    store.getByPublicKey = () => Promise.reject(new Error('store down'));
    const errors: unknown[] = [];
    assert.equal(await credentialRawKeyCheck(store, (e) => errors.push(e))(spkiDer('client-rpk')), false);
    assert.deepEqual(
      errors.map((e) => (e as Error).message),
      ['store down'],
    );
  });
});
