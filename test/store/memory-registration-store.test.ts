import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryRegistrationStore } from '../../src/store/memory-registration-store.js';
import { registrationStoreContract, simpleRegistration } from './registration-store-contract.js';

registrationStoreContract('MemoryRegistrationStore', () =>
  Promise.resolve({ store: new MemoryRegistrationStore(), close: () => Promise.resolve() }),
);

describe('MemoryRegistrationStore', () => {
  it('stays consistent when a caller reuses another endpoint’s id', async () => {
    const store = new MemoryRegistrationStore();
    await store.put(simpleRegistration('ep-a', 'shared'));
    await store.put(simpleRegistration('ep-b', 'shared'));
    // The id now belongs to ep-b alone; ep-a is not left pointing at a foreign id.
    assert.equal((await store.getById('shared'))?.endpoint, 'ep-b');
    assert.equal(await store.get('ep-a'), undefined);
    assert.equal(await store.size, 1);
  });

  it('iterates a snapshot: removing during all() neither skips nor throws', async () => {
    const store = new MemoryRegistrationStore();
    for (const ep of ['a', 'b', 'c']) await store.put(simpleRegistration(ep, `id-${ep}`));
    const seen: string[] = [];
    for await (const reg of store.all()) {
      seen.push(reg.endpoint);
      await store.remove(reg.endpoint);
    }
    assert.deepEqual(seen.sort(), ['a', 'b', 'c']);
    assert.equal(await store.size, 0);
  });
});
