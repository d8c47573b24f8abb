import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chooseCompositeAccept,
  chooseCompositeRequestFormat,
  chooseResponseFormat,
  chooseWriteFormat,
  type PeerFormats,
} from '../../../src/binding/coap/format-choice.js';
import { Value } from '../../../src/model/data-types.js';
import { LwM2mPath } from '../../../src/model/path.js';
import type {
  BootstrapWriteRequest,
  CreateRequest,
  WriteCompositeRequest,
  WriteRequest,
} from '../../../src/operations/requests.js';
import { rec } from '../../support/records.js';
import { TEST_OBJECT, UNKNOWN_OBJECT, testModel } from '../../support/test-model.js';

const peer = (lwm2mVersion: string, contentFormats?: number[]): PeerFormats => ({
  lwm2mVersion,
  contentFormats,
});

const instanceWrite = (mode: 'replace' | 'update' = 'replace'): WriteRequest => ({
  kind: 'write',
  path: LwM2mPath.of(1, 0),
  mode,
  records: [rec('/1/0/1', Value.integer(300)), rec('/1/0/2', Value.integer(1))],
});

describe('chooseWriteFormat', () => {
  it('uses the request format when it has one', () => {
    assert.equal(chooseWriteFormat({ ...instanceWrite(), format: 11543 }, peer('1.2'), testModel), 11543);
  });

  it('writes one value of a single resource as text/plain, opaque ones as opaque', () => {
    const one = (path: string, value: ReturnType<typeof Value.integer>): WriteRequest => ({
      kind: 'write',
      path: LwM2mPath.parse(path),
      mode: 'replace',
      records: [rec(path, value)],
    });
    for (const p of [peer('1.0'), peer('1.1', [110]), peer('1.2', [11544])]) {
      assert.equal(chooseWriteFormat(one('/1/0/1', Value.integer(300)), p, testModel), 0);
      // /3/0/7 is multiple: one resource instance is a single value too.
      assert.equal(chooseWriteFormat(one('/3/0/7/0', Value.integer(3800)), p, testModel), 0);
      // The model says Opaque even though the value was given as a string.
      assert.equal(chooseWriteFormat(one(`/${TEST_OBJECT}/0/3`, Value.string('AQI=')), p, testModel), 42);
      // An unknown resource: the value's own type decides.
      assert.equal(
        chooseWriteFormat(one(`/${UNKNOWN_OBJECT}/0/1`, Value.opaque(new Uint8Array([1]))), p, testModel),
        42,
      );
      assert.equal(chooseWriteFormat(one(`/${UNKNOWN_OBJECT}/0/1`, Value.boolean(true)), p, testModel), 0);
    }
  });

  it('never uses text for a partial update, a multiple resource or a timed value', () => {
    const update: WriteRequest = {
      kind: 'write',
      path: LwM2mPath.of(3, 0, 7),
      mode: 'update',
      records: [rec('/3/0/7/0', Value.integer(1))],
    };
    assert.equal(chooseWriteFormat(update, peer('1.0'), testModel), 11542);
    const multiple: WriteRequest = {
      kind: 'write',
      path: LwM2mPath.of(3, 0, 7),
      mode: 'replace',
      records: [rec('/3/0/7/0', Value.integer(1))],
    };
    assert.equal(chooseWriteFormat(multiple, peer('1.2'), testModel), 112);
    const timed: WriteRequest = {
      kind: 'write',
      path: LwM2mPath.of(1, 0, 1),
      mode: 'replace',
      records: [rec('/1/0/1', Value.integer(1), 5)],
    };
    assert.equal(chooseWriteFormat(timed, peer('1.1', [110]), testModel), 110);
  });

  it('picks multi-value formats by version and announced ct', () => {
    const cases: [PeerFormats, number][] = [
      [peer('1.0'), 11542],
      [peer('1.0', [110, 112]), 11542],
      [peer('1.1'), 11542],
      [peer('1.1', [110]), 110],
      [peer('1.1', [110, 112]), 112],
      [peer('1.1', [11544]), 11542], // 1.1 has no LwM2M CBOR
      [peer('1.2'), 112],
      [peer('1.2', []), 112],
      [peer('1.2', [110]), 110],
      [peer('1.2', [110, 112]), 112],
      [peer('1.2', [110, 112, 11544]), 11544],
      [peer('1.2.1', [11544]), 11544],
      [peer('garbage', [110]), 11542],
    ];
    for (const [p, expected] of cases) {
      const label = `${p.lwm2mVersion} ${JSON.stringify(p.contentFormats)}`;
      assert.equal(chooseWriteFormat(instanceWrite(), p, testModel), expected, label);
      assert.equal(chooseWriteFormat(instanceWrite('update'), p, testModel), expected, label);
      const bs: BootstrapWriteRequest = { kind: 'bootstrap-write', path: LwM2mPath.of(1, 0), records: [] };
      assert.equal(chooseWriteFormat(bs, p, testModel), expected, label);
    }
  });

  it('Create without an instance id uses TLV unless LwM2M CBOR is chosen', () => {
    const create = (instanceId: number | undefined): CreateRequest => ({
      kind: 'create',
      path: LwM2mPath.of(TEST_OBJECT),
      instance: { instanceId, resources: [rec('/4', Value.unsigned(1))] },
    });
    assert.equal(chooseWriteFormat(create(3), peer('1.2'), testModel), 112);
    assert.equal(chooseWriteFormat(create(undefined), peer('1.2'), testModel), 11542);
    assert.equal(chooseWriteFormat(create(undefined), peer('1.2', [11544]), testModel), 11544);
    assert.equal(chooseWriteFormat(create(undefined), peer('1.1', [110]), testModel), 11542);
    assert.equal(chooseWriteFormat(create(2), peer('1.1', [110]), testModel), 110);
  });

  it('Write-Composite never uses TLV, and deletions use SenML-ETCH', () => {
    const wc = (withDelete: boolean): WriteCompositeRequest => ({
      kind: 'write-composite',
      records: [rec('/1/0/1', Value.integer(300)), ...(withDelete ? [rec('/3/0/7/1')] : [])],
    });
    const cases: [PeerFormats, number, number][] = [
      [peer('1.0'), 110, 320],
      [peer('1.1'), 110, 320],
      [peer('1.1', [110]), 110, 320],
      [peer('1.1', [112]), 112, 322],
      [peer('1.2'), 112, 322],
      [peer('1.2', [110]), 110, 320],
      [peer('1.2', [11544]), 11544, 322],
    ];
    for (const [p, plain, etch] of cases) {
      const label = `${p.lwm2mVersion} ${JSON.stringify(p.contentFormats)}`;
      assert.equal(chooseWriteFormat(wc(false), p, testModel), plain, label);
      assert.equal(chooseWriteFormat(wc(true), p, testModel), etch, label);
    }
  });
});

describe('composite formats', () => {
  it('path lists: SenML-ETCH for 1.2, SenML for 1.1', () => {
    assert.equal(chooseCompositeRequestFormat(peer('1.2')), 320);
    assert.equal(chooseCompositeRequestFormat(peer('1.2', [112, 322])), 322);
    assert.equal(chooseCompositeRequestFormat(peer('1.2', [112])), 320);
    assert.equal(chooseCompositeRequestFormat(peer('1.1')), 110);
    assert.equal(chooseCompositeRequestFormat(peer('1.1', [110])), 110);
    assert.equal(chooseCompositeRequestFormat(peer('1.1', [112])), 112);
    assert.equal(chooseCompositeRequestFormat(peer('1.1', [110, 112])), 110);
  });

  it('Accept: SenML CBOR unless ct says otherwise', () => {
    assert.equal(chooseCompositeAccept(peer('1.2')), 112);
    assert.equal(chooseCompositeAccept(peer('1.2', [110, 112, 11544])), 112);
    assert.equal(chooseCompositeAccept(peer('1.2', [11544])), 11544);
    assert.equal(chooseCompositeAccept(peer('1.2', [110])), 110);
    assert.equal(chooseCompositeAccept(peer('1.1')), 112);
    assert.equal(chooseCompositeAccept(peer('1.1', [110])), 110);
    assert.equal(chooseCompositeAccept(peer('1.1', [11544])), 112);
  });
});

describe('chooseResponseFormat (client side)', () => {
  it('text/opaque for one value at a resource, SenML CBOR otherwise, Accept first', () => {
    const read = (path: string, accept?: 110) =>
      accept === undefined
        ? { kind: 'read' as const, path: LwM2mPath.parse(path) }
        : { kind: 'read' as const, path: LwM2mPath.parse(path), accept };
    assert.equal(chooseResponseFormat(read('/3/0/0'), [rec('/3/0/0', Value.string('x'))], testModel), 0);
    assert.equal(
      chooseResponseFormat(read('/3/0/0', 110), [rec('/3/0/0', Value.string('x'))], testModel),
      110,
    );
    assert.equal(
      chooseResponseFormat(
        read(`/${TEST_OBJECT}/0/3`),
        [rec(`/${TEST_OBJECT}/0/3`, Value.opaque(new Uint8Array(2)))],
        testModel,
      ),
      42,
    );
    assert.equal(chooseResponseFormat(read('/3/0/7'), [rec('/3/0/7/0', Value.integer(1))], testModel), 112);
    assert.equal(chooseResponseFormat(read('/3/0'), [rec('/3/0/0', Value.string('x'))], testModel), 112);
    assert.equal(
      chooseResponseFormat({ kind: 'read-composite', paths: [LwM2mPath.of(3, 0, 0)] }, [], testModel),
      112,
    );
  });
});
