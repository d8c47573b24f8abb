import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { ContentFormatError } from '../../src/content/content-format-error.js';
import {
  decodeCreatePayload,
  encodeCreatePayload,
  placeCreateInstance,
} from '../../src/content/create-payload.js';
import { Value } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import { recordsToJson } from '../../src/model/records-json.js';

const codecs = createCodecRegistry();
const model = createDefaultRegistry();
const SERVER = LwM2mPath.of(1);
const ctx = { path: SERVER, model };
// /1 LwM2M Server: 0 Short Server ID, 1 Lifetime, 6 Notification Storing, 7 Binding.
const resources = [
  { path: LwM2mPath.of(0), value: Value.integer(123) },
  { path: LwM2mPath.of(1), value: Value.integer(300) },
  { path: LwM2mPath.of(6), value: Value.boolean(true) },
  { path: LwM2mPath.of(7), value: Value.string('U') },
];
const expectedJson = { '/1/4/0': 123, '/1/4/1': 300, '/1/4/6': true, '/1/4/7': 'U' };

describe('Create payloads', () => {
  it('round-trips an instance with an id in every format that can carry one', () => {
    for (const format of ['tlv', 'senml-json', 'senml-cbor', 'lwm2m-cbor', 'lwm2m-json']) {
      const bytes = encodeCreatePayload(codecs, format, { instanceId: 4, resources }, ctx);
      const [inst, ...rest] = decodeCreatePayload(codecs, format, bytes, ctx);
      assert.equal(rest.length, 0, format);
      assert.equal(inst!.instanceId, 4, format);
      assert.deepEqual(recordsToJson(placeCreateInstance(SERVER, 4, inst!.resources)), expectedJson, format);
    }
  });

  it('keeps the id of an instance created without values (1.2); LwM2M JSON cannot say it', () => {
    assert.throws(
      () => encodeCreatePayload(codecs, 'lwm2m-json', { instanceId: 9, resources: [] }, ctx),
      (e: unknown) => e instanceof ContentFormatError && e.reason === 'not-encodable',
    );
    for (const format of ['tlv', 'senml-json', 'senml-cbor', 'lwm2m-cbor']) {
      const bytes = encodeCreatePayload(codecs, format, { instanceId: 9, resources: [] }, ctx);
      assert.ok(bytes.length > 0, format);
      const [inst, ...rest] = decodeCreatePayload(codecs, format, bytes, ctx);
      assert.equal(rest.length, 0, format);
      assert.equal(inst!.instanceId, 9, format);
      assert.deepEqual(inst!.resources, [], format);
    }
  });

  it('leaves the id to the client: TLV without wrapper, LwM2M CBOR key 65535', () => {
    const tlv = encodeCreatePayload(codecs, 'tlv', { instanceId: undefined, resources }, ctx);
    assert.notEqual(tlv[0]! >> 6, 0, 'no Object Instance TLV wrapper');
    const cbor = encodeCreatePayload(codecs, 'lwm2m-cbor', { instanceId: undefined, resources }, ctx);
    assert.ok(Buffer.from(cbor).includes(Buffer.from('19ffff', 'hex')), 'instance key 65535');
    for (const [format, bytes] of [
      ['tlv', tlv],
      ['lwm2m-cbor', cbor],
    ] as const) {
      const [inst] = decodeCreatePayload(codecs, format, bytes, ctx);
      assert.equal(inst!.instanceId, undefined, format);
      assert.deepEqual(recordsToJson(placeCreateInstance(SERVER, 4, inst!.resources)), expectedJson, format);
    }
    assert.throws(
      () => encodeCreatePayload(codecs, 'senml-json', { instanceId: undefined, resources }, ctx),
      (e: unknown) => e instanceof ContentFormatError && e.reason === 'not-encodable',
    );
  });

  it('accepts an empty payload and refuses a non-object target', () => {
    assert.deepEqual(decodeCreatePayload(codecs, 'tlv', new Uint8Array(), ctx), [
      { instanceId: undefined, resources: [] },
    ]);
    assert.throws(
      () =>
        decodeCreatePayload(codecs, 'tlv', Uint8Array.of(0xc1, 0x00, 0x7b), {
          path: LwM2mPath.of(1, 0),
          model,
        }),
      (e: unknown) => e instanceof ContentFormatError && e.reason === 'invalid-path',
    );
  });
});
