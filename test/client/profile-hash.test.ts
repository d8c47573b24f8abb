import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { dynamicProfileId, PROFILE_HASH_SUITE, profileHashInput } from '../../src/client/profile-hash.js';
import { LinkPayloadError } from '../../src/model/registration-payload.js';
import { parseProfileId } from '../../src/operations/profile-id.js';

const OBJECTS = [
  { id: 1, version: '1.2', instances: [0] },
  { id: 3, instances: [0] },
  { id: 3303, version: '1.1', instances: [0, 1] },
  { id: 5 },
];

describe('profileHashInput', () => {
  it('is the object part of the Register payload, with versions and without a root link', () => {
    assert.equal(
      profileHashInput(OBJECTS),
      '</1>;ver=1.2,</1/0>,</3/0>,</5>,</3303>;ver=1.1,</3303/0>,</3303/1>',
    );
  });
});

describe('dynamicProfileId', () => {
  it('is suite 6: the first 32 bits of sha-256 over the documented input, lowercase hex', () => {
    const expected = createHash('sha256')
      .update('</1>;ver=1.2,</1/0>,</3/0>,</5>,</3303>;ver=1.1,</3303/0>,</3303/1>')
      .digest('hex')
      .slice(0, 8);
    const pid = dynamicProfileId(OBJECTS);
    assert.equal(pid, `6:${expected}`);
    assert.equal(PROFILE_HASH_SUITE, 6);
    assert.deepEqual(parseProfileId(pid), { kind: 'dynamic', text: pid, suite: 6, hash: expected });
  });

  it('ignores the order of objects and instances and repeated instances', () => {
    const shuffled = [
      { id: 5 },
      { id: 3303, version: '1.1', instances: [1, 0, 1] },
      { id: 3, instances: [0] },
      { id: 1, version: '1.2', instances: [0] },
    ];
    assert.equal(dynamicProfileId(shuffled), dynamicProfileId(OBJECTS));
  });

  it('changes with an instance, an object or an object version (1.2.2: versions are hashed)', () => {
    const base = dynamicProfileId(OBJECTS);
    const variants = [
      OBJECTS.map((o) => (o.id === 3303 ? { ...o, instances: [0] } : o)),
      OBJECTS.map((o) => (o.id === 3303 ? { ...o, version: '1.0' } : o)),
      OBJECTS.map((o) => (o.id === 1 ? { id: 1, instances: [0] } : o)),
      [...OBJECTS, { id: 4, instances: [0] }],
      OBJECTS.filter((o) => o.id !== 5),
    ];
    const ids = variants.map(dynamicProfileId);
    for (const id of ids) assert.notEqual(id, base);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('refuses an invalid object id with a LinkPayloadError', () => {
    assert.throws(() => dynamicProfileId([{ id: 70000 }]), LinkPayloadError);
  });

  it('always yields a well-formed dynamic id, stable under permutation (property)', () => {
    const object = fc.record({
      id: fc.integer({ min: 1, max: 40000 }),
      instances: fc.uniqueArray(fc.integer({ min: 0, max: 65534 }), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(object, { selector: (o) => o.id, maxLength: 8 }), (objects) => {
        const pid = dynamicProfileId(objects);
        assert.match(pid, /^6:[0-9a-f]{8}$/);
        assert.equal(dynamicProfileId([...objects].reverse()), pid);
      }),
      { numRuns: 200 },
    );
  });
});
