import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AttributeStore } from '../../src/client/attribute-store.js';
import { AttributeError } from '../../src/model/attributes.js';
import { LwM2mPath } from '../../src/model/path.js';

const P = (s: string): LwM2mPath => LwM2mPath.parse(s);

describe('AttributeStore', () => {
  it('keeps attributes per server and per level', () => {
    const store = new AttributeStore();
    store.apply(1, P('/3303'), { pmin: 10 });
    store.apply(1, P('/3303/0/5700'), { gt: 30, pmax: 60 });
    store.apply(2, P('/3303'), { pmin: 99 });
    assert.deepEqual(store.attached(1, P('/3303')), { pmin: 10 });
    assert.deepEqual(store.attached(1, P('/3303/0/5700')), { gt: 30, pmax: 60 });
    assert.deepEqual(store.attached(1, P('/3303/0')), {}, 'nothing attached at the instance itself');
    assert.deepEqual(store.attached(2, P('/3303')), { pmin: 99 });
    assert.deepEqual(store.attached(3, P('/3303')), {});
  });

  it('successive writes merge; null unsets; an empty level disappears', () => {
    const store = new AttributeStore();
    store.apply(1, P('/3/0'), { pmin: 1, pmax: 5 });
    store.apply(1, P('/3/0'), { pmax: 9, epmax: 20 });
    assert.deepEqual(store.attached(1, P('/3/0')), { pmin: 1, pmax: 9, epmax: 20 });
    store.apply(1, P('/3/0'), { pmin: null, epmax: null });
    assert.deepEqual(store.attached(1, P('/3/0')), { pmax: 9 });
    store.apply(1, P('/3/0'), { pmax: null });
    assert.deepEqual(store.entries(1, LwM2mPath.ROOT), []);
  });

  it('refuses invalid writes with AttributeError (4.00) and keeps the previous set', () => {
    const store = new AttributeStore();
    store.apply(1, P('/3303/0/5700'), { lt: 10, gt: 50 });
    assert.throws(
      () => store.apply(1, P('/3303/0/5700'), { st: 30 }),
      (e: unknown) => e instanceof AttributeError && e.reason === 'inconsistent' && e.coapCode === '4.00',
    );
    assert.deepEqual(store.attached(1, P('/3303/0/5700')), { lt: 10, gt: 50 });
    assert.throws(
      () => store.apply(1, P('/3303/0'), { gt: 5 }),
      (e: unknown) => e instanceof AttributeError && e.reason === 'bad-level',
    );
    assert.throws(
      () => store.apply(1, P('/3303/0/5700'), { edge: 1 }, 'float'),
      (e: unknown) => e instanceof AttributeError && e.reason === 'bad-type',
    );
    assert.throws(
      () => store.apply(1, LwM2mPath.ROOT, { pmin: 1 }),
      (e: unknown) => e instanceof AttributeError && e.reason === 'bad-level',
    );
    assert.throws(
      () => store.apply(1, P('/1/0'), { epmin: 10, epmax: 10 }),
      (e: unknown) => e instanceof AttributeError && e.reason === 'inconsistent',
    );
    assert.deepEqual(
      store.entries(1, P('/3303/0')).map((e) => [e.path.toString(), e.attributes]),
      [['/3303/0/5700', { lt: 10, gt: 50 }]],
    );
  });

  it('effective: resource instance > resource > instance > object, then /1/x/2 and /1/x/3 defaults', () => {
    const store = new AttributeStore();
    store.apply(1, P('/3/0/7/1'), { pmin: 1 });
    store.apply(1, P('/3/0/7'), { pmin: 2, pmax: 20 });
    store.apply(1, P('/3/0'), { pmin: 3, pmax: 30, epmax: 300 });
    store.apply(1, P('/3'), { pmin: 4, pmax: 40, epmax: 400, con: 1 });
    const defaults = { pmin: 5, pmax: 50 };
    assert.deepEqual(store.effective(1, P('/3/0/7/1'), defaults), { pmin: 1, pmax: 20, epmax: 300, con: 1 });
    assert.deepEqual(store.effective(1, P('/3/0/7/0'), defaults), { pmin: 2, pmax: 20, epmax: 300, con: 1 });
    assert.deepEqual(store.effective(1, P('/3/0/9'), defaults), { pmin: 3, pmax: 30, epmax: 300, con: 1 });
    assert.deepEqual(store.effective(1, P('/3/0'), defaults), { pmin: 3, pmax: 30, epmax: 300, con: 1 });
    assert.deepEqual(store.effective(1, P('/3/1'), defaults), { pmin: 4, pmax: 40, epmax: 400, con: 1 });
    assert.deepEqual(store.effective(1, P('/4/0/1'), defaults), { pmin: 5, pmax: 50 });
    assert.deepEqual(store.effective(2, P('/3/0/7/1')), {}, 'another server sees none of it');
  });

  it('levels lists what each ancestor level has attached', () => {
    const store = new AttributeStore();
    store.apply(1, P('/3'), { pmin: 4 });
    store.apply(1, P('/3/0/7'), { pmax: 7 });
    assert.deepEqual(store.levels(1, P('/3/0/7/2')), {
      object: { pmin: 4 },
      objectInstance: undefined,
      resource: { pmax: 7 },
      resourceInstance: undefined,
    });
    assert.deepEqual(store.levels(1, P('/3')).resource, undefined);
  });

  it('keeps gateway-prefixed paths apart from the gateway’s own', () => {
    const store = new AttributeStore();
    store.apply(1, P('/d01/3303'), { pmin: 7 });
    assert.deepEqual(store.effective(1, P('/d01/3303/0/5700')), { pmin: 7 });
    assert.deepEqual(store.effective(1, P('/3303/0/5700')), {});
  });

  it('entries lists attached paths under a path in tree order (for Discover)', () => {
    const store = new AttributeStore();
    store.apply(1, P('/3/0/7'), { pmax: 7 });
    store.apply(1, P('/3'), { pmin: 1 });
    store.apply(1, P('/3/0'), { pmin: 2 });
    store.apply(1, P('/4/0'), { pmin: 3 });
    assert.deepEqual(
      store.entries(1, P('/3')).map((e) => e.path.toString()),
      ['/3', '/3/0', '/3/0/7'],
    );
    assert.deepEqual(
      store.entries(1, P('/3/0')).map((e) => e.path.toString()),
      ['/3/0', '/3/0/7'],
    );
  });

  it('clear forgets one server; removeBelow drops a deleted instance for every server', () => {
    const store = new AttributeStore();
    store.apply(1, P('/3303/0'), { pmin: 1 });
    store.apply(1, P('/3303/0/5700'), { gt: 5 });
    store.apply(1, P('/3303/1'), { pmin: 2 });
    store.apply(2, P('/3303/0'), { pmin: 3 });
    store.apply(2, P('/3303'), { pmin: 4 });
    store.removeBelow(P('/3303/0'));
    assert.deepEqual(store.attached(1, P('/3303/0')), {});
    assert.deepEqual(store.attached(1, P('/3303/0/5700')), {});
    assert.deepEqual(store.attached(2, P('/3303/0')), {});
    assert.deepEqual(store.attached(1, P('/3303/1')), { pmin: 2 });
    assert.deepEqual(store.attached(2, P('/3303')), { pmin: 4 });
    store.clear(1);
    assert.deepEqual(store.attached(1, P('/3303/1')), {});
    assert.deepEqual(store.attached(2, P('/3303')), { pmin: 4 });
  });

  it('returned attribute sets cannot be changed from outside', () => {
    const store = new AttributeStore();
    store.apply(1, P('/3'), { pmin: 1 });
    const attached = store.attached(1, P('/3')) as { pmin?: number };
    assert.throws(() => {
      attached.pmin = 9;
    }, TypeError);
    assert.deepEqual(store.attached(1, P('/3')), { pmin: 1 });
  });
});
