import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRegistrationPayload } from '../../src/model/registration-payload.js';
import type { RegistrationPayload } from '../../src/model/registration-payload.js';
import { OperationError } from '../../src/operations/result-code.js';
import { ProfileRegistry } from '../../src/server/profile-registry.js';

const payload = (text: string): RegistrationPayload => parseRegistrationPayload(text);

const targets = (p: RegistrationPayload | undefined): string[] => (p?.links ?? []).map((l) => l.target);

/** The object list as `/oid/iid` strings (`/oid` for an object without instances). */
function objectList(p: RegistrationPayload | undefined): string[] {
  const out: string[] = [];
  for (const o of p?.objects ?? []) {
    const base = `${o.prefix === undefined ? '' : `/${o.prefix}`}/${o.id}`;
    if (o.instances.length === 0) out.push(base);
    for (const i of o.instances) out.push(`${base}/${i}`);
  }
  return out;
}

function assertUnknownProfile(fn: () => unknown, pid: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OperationError, `expected OperationError, got ${String(e)}`);
    assert.equal(e.resultCode, '4.09');
    assert.equal(e.reason, 'unknown-profile');
    assert.match(e.message, new RegExp(pid));
    return true;
  });
}

const PROFILES = {
  'oma:basic': '</1/0>,</3/0>',
  'v:acme-sensor': '</3303/0>,</3303/1>;ver=1.1,</3304>',
};

describe('ProfileRegistry', () => {
  it('resolves pre-configured ids from configuration, without a payload', () => {
    const reg = new ProfileRegistry({ profiles: PROFILES });
    assert.deepEqual(
      reg.lookup('oma:basic')?.map((l) => l.target),
      ['/1/0', '/3/0'],
    );
    const resolved = reg.resolve(['oma:basic'], undefined);
    assert.deepEqual(objectList(resolved), ['/1/0', '/3/0']);
    assert.equal(resolved?.alternatePath, undefined);
    const acme = reg.resolve(['v:acme-sensor'], undefined);
    assert.deepEqual(objectList(acme), ['/3303/0', '/3303/1', '/3304']);
    assert.equal(acme?.objects.find((o) => o.id === 3303)?.version, '1.1', 'link params survive');
    assert.equal(reg.learntCount, 0);
  });

  it('strips the root link and the alternate path of a configured list', () => {
    const reg = new ProfileRegistry({
      profiles: { 'v:alt': '</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>', 'v:root': '</>;ct=110,</5>' },
    });
    assert.deepEqual(
      reg.lookup('v:alt')?.map((l) => l.target),
      ['/1/0', '/3/0'],
    );
    assert.deepEqual(
      reg.lookup('v:root')?.map((l) => l.target),
      ['/5'],
    );
  });

  it('returns the payload unchanged when there is no pid', () => {
    const reg = new ProfileRegistry();
    const p = payload('</1/0>,</3/0>');
    assert.equal(reg.resolve([], p), p);
    assert.equal(reg.resolve([], undefined), undefined);
  });

  it('learns a single dynamic pid sent with the full list, then resolves it alone', () => {
    const reg = new ProfileRegistry();
    const p = payload('</>;ct=110,</1/0>,</3/0>,</3303/0>;ver=1.1');
    assert.equal(reg.resolve(['6:1234abcd'], p), p, 'the learning Register keeps its own payload');
    assert.equal(reg.learntCount, 1);
    assert.deepEqual(
      reg.lookup('6:1234abcd')?.map((l) => l.target),
      ['/1/0', '/3/0', '/3303/0'],
      'the root link is not part of the profile',
    );
    const later = reg.resolve(['6:1234abcd'], undefined);
    assert.deepEqual(objectList(later), ['/1/0', '/3/0', '/3303/0']);
    assert.equal(later?.objects.find((o) => o.id === 3303)?.version, '1.1');
    assert.equal(later?.contentFormats, undefined, 'ct belongs to the Register, not to the profile');
  });

  it('learns from a payload with an alternate path, relative to the root', () => {
    const reg = new ProfileRegistry();
    reg.resolve(['6:00aa11bb'], payload('</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>'));
    assert.deepEqual(
      reg.lookup('6:00aa11bb')?.map((l) => l.target),
      ['/1/0', '/3/0'],
    );
    // Resolved alone, the list is relative to the root: the alternate path is the Register's, not the profile's.
    const again = reg.resolve(['6:00aa11bb'], undefined);
    assert.deepEqual(targets(again), ['/1/0', '/3/0']);
    assert.deepEqual(objectList(again), ['/1/0', '/3/0']);
  });

  it('prefixes a pre-configured list with the payload’s alternate path', () => {
    const reg = new ProfileRegistry({ profiles: PROFILES });
    const resolved = reg.resolve(['oma:basic'], payload('</dm>;rt="oma.lwm2m"'));
    assert.equal(resolved?.alternatePath, '/dm');
    assert.deepEqual(targets(resolved), ['/dm', '/dm/1/0', '/dm/3/0']);
    assert.deepEqual(objectList(resolved), ['/1/0', '/3/0']);
  });

  it('unions several pids and a payload, payload first, without duplicates', () => {
    const reg = new ProfileRegistry({ profiles: PROFILES });
    reg.resolve(['6:cafe0001'], payload('</3/0>,</5>,</6/0>'));
    const resolved = reg.resolve(['oma:basic', '6:cafe0001', 'v:acme-sensor'], payload('</3/0>,</9/0>'));
    assert.deepEqual(targets(resolved), [
      '/3/0',
      '/9/0',
      '/1/0',
      '/5',
      '/6/0',
      '/3303/0',
      '/3303/1',
      '/3304',
    ]);
    assert.deepEqual(objectList(resolved), [
      '/1/0',
      '/3/0',
      '/5',
      '/6/0',
      '/9/0',
      '/3303/0',
      '/3303/1',
      '/3304',
    ]);
    assert.equal(reg.learntCount, 1, 'nothing is learnt from a union');
  });

  it('unions several pids without a payload', () => {
    const reg = new ProfileRegistry({ profiles: PROFILES });
    const resolved = reg.resolve(['oma:basic', 'v:acme-sensor', 'oma:basic'], undefined);
    assert.deepEqual(objectList(resolved), ['/1/0', '/3/0', '/3303/0', '/3303/1', '/3304']);
  });

  it('refuses an unknown pid with 4.09, alone or among known ones', () => {
    const reg = new ProfileRegistry({ profiles: PROFILES });
    assertUnknownProfile(() => reg.resolve(['oma:unknown'], undefined), 'oma:unknown');
    assertUnknownProfile(() => reg.resolve(['6:deadbeef'], undefined), '6:deadbeef');
    assertUnknownProfile(() => reg.resolve(['oma:basic', 'v:nope'], payload('</5>')), 'v:nope');
    // Two dynamic pids with a payload: which one the payload stands for is unknown; nothing is learnt.
    assertUnknownProfile(() => reg.resolve(['6:00000001', '6:00000002'], payload('</5>')), '6:00000001');
    assert.equal(reg.learntCount, 0);
    // A pre-configured-form pid with a payload is not learnt either: it must come from configuration.
    assertUnknownProfile(() => reg.resolve(['v:other'], payload('</5>')), 'v:other');
    assert.equal(reg.lookup('v:other'), undefined);
  });

  it('never overwrites a pre-configured id by learning', () => {
    // A pre-configured id that has the dynamic form: a Register with it and a payload unions.
    const reg = new ProfileRegistry({ profiles: { ...PROFILES, '6:0badf00d': '</1/0>,</3/0>' } });
    const resolved = reg.resolve(['6:0badf00d'], payload('</5>'));
    assert.deepEqual(objectList(resolved), ['/1/0', '/3/0', '/5']);
    assert.equal(reg.learntCount, 0);
    assert.deepEqual(
      reg.lookup('6:0badf00d')?.map((l) => l.target),
      ['/1/0', '/3/0'],
    );
    assert.deepEqual(objectList(reg.resolve(['6:0badf00d'], undefined)), ['/1/0', '/3/0']);
  });

  it('bounds the learnt profiles: the oldest learnt is forgotten first', () => {
    const reg = new ProfileRegistry({ maxLearnt: 3 });
    for (const pid of ['6:0001', '6:0002', '6:0003']) reg.resolve([pid], payload('</3/0>'));
    assert.equal(reg.learntCount, 3);
    reg.resolve(['6:0004'], payload('</3/0>'));
    assert.equal(reg.learntCount, 3);
    assert.equal(reg.lookup('6:0001'), undefined, 'the oldest went');
    assertUnknownProfile(() => reg.resolve(['6:0001'], undefined), '6:0001');
    assert.ok(reg.lookup('6:0002'));
    assert.ok(reg.lookup('6:0004'));
  });

  it('a bound of many learnt ids holds memory to the bound', () => {
    const reg = new ProfileRegistry({ maxLearnt: 50 });
    const p = payload('</1/0>,</3/0>');
    for (let i = 0; i < 2000; i++) reg.resolve([`6:${i.toString(16).padStart(8, '0')}`], p);
    assert.equal(reg.learntCount, 50);
    assert.ok(reg.lookup('6:000007cf'), 'the newest stays');
  });

  describe('review findings (fail until fixed)', () => {
    it('the learnt bound is least-recently-used: a pid in use is not evicted by one-off pids', () => {
      const reg = new ProfileRegistry({ maxLearnt: 2 });
      reg.resolve(['6:f1ee7001'], payload('</1/0>,</3/0>'));
      reg.resolve(['6:0110ff01'], payload('</5>'));
      // The fleet profile is used again (a Register by reference) before a third one is learnt.
      reg.resolve(['6:f1ee7001'], undefined);
      reg.resolve(['6:0ff0ff02'], payload('</6/0>'));
      assert.ok(reg.lookup('6:f1ee7001'), 'the recently used profile stays');
      assert.equal(reg.lookup('6:0110ff01'), undefined);
    });

    it('a known dynamic pid with a payload of only the root link keeps the learnt objects', () => {
      // Core §6.2.1: pids and a payload are unioned. A client that already taught the server its
      // pid may send the pid with just `</>;ct=…` to announce formats; that must not re-learn the
      // pid as an empty list, nor register the client with no objects.
      const reg = new ProfileRegistry();
      reg.resolve(['6:abcdef01'], payload('</1/0>,</3/0>'));
      const resolved = reg.resolve(['6:abcdef01'], payload('</>;ct="110 11544"'));
      assert.deepEqual(objectList(resolved), ['/1/0', '/3/0']);
      assert.deepEqual(resolved?.contentFormats, [110, 11_544]);
      assert.deepEqual(
        reg.lookup('6:abcdef01')?.map((l) => l.target),
        ['/1/0', '/3/0'],
        'the learnt list is unchanged',
      );
    });

    it('a union whose object versions conflict is refused as an OperationError, not a crash', () => {
      // The payload says object 3 is 1.1, the profile says 1.0: parseRegistrationPayload throws
      // LinkPayloadError, which the server's uplink handler turns into 5.00 (internal error).
      const reg = new ProfileRegistry({ profiles: { 'v:old-device': '</3>;ver=1.0,</3/0>' } });
      assert.throws(
        () => reg.resolve(['v:old-device'], payload('</3/0>;ver=1.1')),
        (e: unknown) => e instanceof OperationError && /^4\./.test(e.resultCode),
      );
    });
  });
});
