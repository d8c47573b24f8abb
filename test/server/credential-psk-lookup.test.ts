import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentialPskLookup } from '../../src/server/credential-psk-lookup.js';
import { MemoryCredentialStore } from '../../src/store/memory-credential-store.js';

const utf8 = new TextEncoder();
const hex = (bytes: Uint8Array | undefined) =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString('hex');

describe('credentialPskLookup', () => {
  async function lookup() {
    const store = new MemoryCredentialStore();
    await store.put({
      endpoint: 'dev-a',
      psk: { identity: 'id-a', key: '0a0b' },
      nextPsk: { identity: 'id-a-next', key: 'c0c1c2' },
    });
    await store.put({ endpoint: 'dev-b', psk: { identity: 'id-b', key: 'bb' } });
    await store.put({
      endpoint: 'dev-r',
      rpk: { publicKey: '30' },
      nextPsk: { identity: 'id-r-next', key: 'dd' },
    });
    const errors: unknown[] = [];
    return { store, errors, find: credentialPskLookup(store, (e) => errors.push(e)) };
  }

  it("answers each identity with its own key: the psk's, or the nextPsk's while one is rotated in", async () => {
    const { find, errors } = await lookup();
    assert.equal(hex(await find(utf8.encode('id-a'))), '0a0b');
    assert.equal(hex(await find(utf8.encode('id-a-next'))), 'c0c1c2');
    assert.equal(hex(await find(utf8.encode('id-b'))), 'bb');
    assert.equal(hex(await find(utf8.encode('id-r-next'))), 'dd', 'a nextPsk beside an RPK');
    assert.deepEqual(errors, []);
  });

  it('knows an identity no more once the rotation is promoted or cancelled', async () => {
    const { store, find } = await lookup();
    const a = await store.get('dev-a');
    assert.ok(a);
    await store.put({ ...a, psk: a.nextPsk, nextPsk: undefined });
    assert.equal(await find(utf8.encode('id-a')), undefined, 'the retired identity');
    assert.equal(hex(await find(utf8.encode('id-a-next'))), 'c0c1c2', 'the promoted one');
    const r = await store.get('dev-r');
    assert.ok(r);
    await store.put({ ...r, nextPsk: undefined });
    assert.equal(await find(utf8.encode('id-r-next')), undefined, 'the cancelled one');
  });

  it('an unknown identity, or one that is not UTF-8, has no key', async () => {
    const { find, errors } = await lookup();
    assert.equal(await find(utf8.encode('nobody')), undefined);
    assert.equal(await find(utf8.encode('ID-A')), undefined);
    assert.equal(await find(Uint8Array.of(0xff, 0xfe)), undefined);
    assert.deepEqual(errors, []);
  });

  it('a failing store fails the lookup, reported, not thrown', async () => {
    const { store, find, errors } = await lookup();
    const failure = new Error('store down');
    store.getByPskIdentity = () => Promise.reject(failure);
    assert.equal(await find(utf8.encode('id-a-next')), undefined);
    assert.deepEqual(errors, [failure]);
  });
});
