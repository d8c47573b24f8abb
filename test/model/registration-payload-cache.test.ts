import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkFormatError } from '../../src/model/link-format.js';
import {
  RegistrationPayloadCache,
  registeredObjectLinks,
} from '../../src/model/registration-payload-cache.js';
import { parseRegistrationPayload } from '../../src/model/registration-payload.js';

const text = (s: string) => new TextEncoder().encode(s);
const DEVICE =
  '</lwm2m>;rt="oma.lwm2m";ct=11543,</lwm2m/1/0>,</lwm2m/3/0>,</lwm2m/3303>;ver=1.1,</lwm2m/3303/0>';

describe('RegistrationPayloadCache', () => {
  it('parses like parseRegistrationPayload and hands out one frozen object per distinct payload', () => {
    const cache = new RegistrationPayloadCache();
    const a = cache.parse(text(DEVICE));
    // Another buffer with the same bytes (as every device of one type sends).
    const b = cache.parse(Uint8Array.from(text(DEVICE)));
    assert.equal(a, b);
    assert.deepEqual(a, parseRegistrationPayload(DEVICE));
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.objects) && Object.isFrozen(a.objects[0]));
    assert.ok(Object.isFrozen(a.links[1]!.params));
    assert.throws(() => (a.objects as unknown[]).push({}), TypeError);
    const other = cache.parse(text('</1/0>,</3/0>'));
    assert.notEqual(other, a);
    assert.deepEqual(
      other.objects.map((o) => o.id),
      [1, 3],
    );
    assert.equal(cache.size, 2);
  });

  it('keeps at most maxEntries payloads, dropping the least recently used', () => {
    const cache = new RegistrationPayloadCache(2);
    const one = cache.parse(text('</1/0>'));
    cache.parse(text('</2/0>'));
    assert.equal(cache.parse(text('</1/0>')), one); // used again: now the most recent
    cache.parse(text('</3/0>')); // evicts </2/0>
    assert.equal(cache.size, 2);
    assert.equal(cache.parse(text('</1/0>')), one);
    const two = cache.parse(text('</2/0>'));
    assert.deepEqual(
      two.objects.map((o) => o.id),
      [2],
    );
  });

  it('throws the parser error on every bad payload and caches none of them', () => {
    const cache = new RegistrationPayloadCache();
    for (let i = 0; i < 3; i++) assert.throws(() => cache.parse(text('</1/0')), LinkFormatError);
    assert.equal(cache.size, 0);
  });

  it('parses long payloads without caching them', () => {
    const cache = new RegistrationPayloadCache();
    const long = Array.from({ length: 400 }, (_, i) => `</${3300 + i}/0>`).join(',');
    const a = cache.parse(text(long));
    assert.equal(a.objects.length, 400);
    assert.notEqual(cache.parse(text(long)), a);
    assert.equal(cache.size, 0);
  });
});

describe('registeredObjectLinks', () => {
  it('leaves out the root and alternate-path links, once per payload', () => {
    const payload = new RegistrationPayloadCache().parse(text(DEVICE));
    const links = registeredObjectLinks(payload);
    assert.deepEqual(
      links.map((l) => l.target),
      ['/lwm2m/1/0', '/lwm2m/3/0', '/lwm2m/3303', '/lwm2m/3303/0'],
    );
    assert.equal(registeredObjectLinks(payload), links);
    assert.deepEqual(registeredObjectLinks(undefined), []);
    const plain = parseRegistrationPayload('</>;rt="oma.lwm2m",</1/0>');
    assert.deepEqual(
      registeredObjectLinks(plain).map((l) => l.target),
      ['/1/0'],
    );
  });
});
