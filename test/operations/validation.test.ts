import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import type { DownlinkRequest } from '../../src/operations/requests.js';
import { OperationError } from '../../src/operations/result-code.js';
import type { OperationErrorReason } from '../../src/operations/result-code.js';
import {
  BOOTSTRAP_ONLY_OBJECTS,
  isBootstrapOnlyObject,
  validateDownlinkRequest,
} from '../../src/operations/validation.js';

const p = (text: string): LwM2mPath => LwM2mPath.parse(text);
const V12 = { lwm2mVersion: '1.2' };
const V11 = { lwm2mVersion: '1.1' };
const V10 = { lwm2mVersion: '1.0' };

function ok(request: DownlinkRequest, peer = V12): void {
  assert.doesNotThrow(() => validateDownlinkRequest(request, peer), `${request.kind} should pass`);
}

function rejects(
  request: DownlinkRequest,
  reason: OperationErrorReason,
  code: string,
  peer = V12,
  messagePart?: string,
): void {
  assert.throws(
    () => validateDownlinkRequest(request, peer),
    (e: unknown) => {
      assert.ok(e instanceof OperationError, `expected OperationError, got ${String(e)}`);
      assert.equal(e.reason, reason, e.message);
      assert.equal(e.resultCode, code, e.message);
      if (messagePart !== undefined) assert.ok(e.message.includes(messagePart), e.message);
      return true;
    },
  );
}

const rec = (path: string, value = Value.integer(1)): LwM2mRecord => ({ path: p(path), value });

describe('validateDownlinkRequest: target depth per operation (4.05)', () => {
  const table: [DownlinkRequest['kind'], (path: LwM2mPath) => DownlinkRequest, number[]][] = [
    ['read', (path) => ({ kind: 'read', path }), [1, 2, 3, 4]],
    ['observe', (path) => ({ kind: 'observe', path }), [1, 2, 3, 4]],
    ['cancel-observation', (path) => ({ kind: 'cancel-observation', path }), [1, 2, 3, 4]],
    ['discover', (path) => ({ kind: 'discover', path }), [1, 2, 3]],
    [
      'write',
      (path) => ({
        kind: 'write',
        path,
        mode: 'replace',
        records: [{ path: path.depth === 0 ? p('/3/0/1') : path }],
      }),
      [2, 3, 4],
    ],
    [
      'write-attributes',
      (path) => ({ kind: 'write-attributes', path, attributes: { pmin: 1 } }),
      [1, 2, 3, 4],
    ],
    ['execute', (path) => ({ kind: 'execute', path }), [3]],
    ['create', (path) => ({ kind: 'create', path, instance: { instanceId: undefined, resources: [] } }), [1]],
    ['delete', (path) => ({ kind: 'delete', path }), [2, 4]],
    ['bootstrap-discover', (path) => ({ kind: 'bootstrap-discover', path }), [0, 1]],
    ['bootstrap-delete', (path) => ({ kind: 'bootstrap-delete', path }), [0, 1, 2]],
    [
      'bootstrap-write',
      (path) => ({
        kind: 'bootstrap-write',
        path,
        records: [{ path: path.depth === 0 ? p('/1/0/1') : path }],
      }),
      [1, 2, 3],
    ],
    ['bootstrap-read', (path) => ({ kind: 'bootstrap-read', path }), [1, 2]],
  ];
  const paths = ['/', '/1', '/1/0', '/1/0/7', '/1/0/7/0'].map(p);
  for (const [kind, make, allowed] of table)
    it(`${kind} addresses depths ${allowed.join(', ')}`, () => {
      for (const path of paths) {
        const request = make(path);
        if (allowed.includes(path.depth)) ok(request);
        else rejects(request, 'bad-path', '4.05', V12, path.toString());
      }
    });

  it('write update (POST) addresses an instance or a resource, not a resource instance', () => {
    ok({ kind: 'write', path: p('/3/0'), mode: 'update', records: [rec('/3/0/14')] });
    ok({ kind: 'write', path: p('/3/0/7'), mode: 'update', records: [rec('/3/0/7/0')] });
    rejects(
      { kind: 'write', path: p('/3/0/7/0'), mode: 'update', records: [rec('/3/0/7/0')] },
      'bad-path',
      '4.05',
    );
    rejects({ kind: 'write', path: p('/3'), mode: 'update', records: [rec('/3/0/1')] }, 'bad-path', '4.05');
  });

  it('Bootstrap-Read addresses only /1 and /2', () => {
    ok({ kind: 'bootstrap-read', path: p('/2/3') });
    rejects({ kind: 'bootstrap-read', path: p('/3') }, 'bad-path', '4.05', V12, '/1 and /2');
    rejects({ kind: 'bootstrap-read', path: p('/0/1') }, 'bad-path', '4.05');
  });

  it('Bootstrap-Finish has nothing to check', () => {
    ok({ kind: 'bootstrap-finish' }, V10);
  });
});

describe('validateDownlinkRequest: bootstrap-only objects (4.01)', () => {
  it('lists /0, /21, /23, /24', () => {
    assert.deepEqual([...BOOTSTRAP_ONLY_OBJECTS], [0, 21, 23, 24]);
    assert.equal(isBootstrapOnlyObject(1), false);
    assert.equal(isBootstrapOnlyObject(undefined), false);
  });
  it('refuses every DM/IR operation on them', () => {
    for (const oid of BOOTSTRAP_ONLY_OBJECTS) {
      rejects({ kind: 'read', path: p(`/${oid}/0`) }, 'bootstrap-only', '4.01');
      rejects({ kind: 'discover', path: p(`/${oid}`) }, 'bootstrap-only', '4.01');
      rejects({ kind: 'observe', path: p(`/${oid}/0/1`) }, 'bootstrap-only', '4.01');
      rejects({ kind: 'execute', path: p(`/${oid}/0/1`) }, 'bootstrap-only', '4.01');
      rejects({ kind: 'delete', path: p(`/${oid}/0`) }, 'bootstrap-only', '4.01');
      rejects(
        { kind: 'create', path: p(`/${oid}`), instance: { instanceId: 1, resources: [] } },
        'bootstrap-only',
        '4.01',
      );
      rejects(
        { kind: 'write', path: p(`/${oid}/0/1`), mode: 'replace', records: [rec(`/${oid}/0/1`)] },
        'bootstrap-only',
        '4.01',
      );
      rejects(
        { kind: 'write-attributes', path: p(`/${oid}/0`), attributes: { pmin: 1 } },
        'bootstrap-only',
        '4.01',
      );
      rejects({ kind: 'read-composite', paths: [p('/3/0'), p(`/${oid}/0/1`)] }, 'bootstrap-only', '4.01');
      rejects({ kind: 'observe-composite', paths: [p(`/${oid}`)] }, 'bootstrap-only', '4.01');
      rejects({ kind: 'write-composite', records: [rec(`/${oid}/0/1`)] }, 'bootstrap-only', '4.01');
    }
  });
  it('lets the Bootstrap operations reach them', () => {
    ok({ kind: 'bootstrap-write', path: p('/0/1'), records: [rec('/0/1/10')] });
    ok({ kind: 'bootstrap-delete', path: p('/21') });
    ok({ kind: 'bootstrap-discover', path: p('/0') });
  });
});

describe('validateDownlinkRequest: features of the peer’s version (4.00)', () => {
  it('Discover depth needs 1.2, and must be 0..3', () => {
    ok({ kind: 'discover', path: p('/3'), depth: 3 });
    ok({ kind: 'discover', path: p('/3') }, V11);
    rejects({ kind: 'discover', path: p('/3'), depth: 1 }, 'not-supported-by-version', '4.00', V11, '1.1');
    rejects({ kind: 'discover', path: p('/3'), depth: 4 as 3 }, 'bad-parameter', '4.00');
  });

  it('observation attributes need 1.2', () => {
    ok({ kind: 'observe', path: p('/3/0/9'), attributes: { pmin: 1, gt: 50 } });
    ok({ kind: 'observe', path: p('/3/0/9'), attributes: {} }, V11);
    rejects(
      { kind: 'observe', path: p('/3/0/9'), attributes: { pmin: 1 } },
      'not-supported-by-version',
      '4.00',
      V11,
    );
  });

  it('composite operations need 1.1', () => {
    ok({ kind: 'read-composite', paths: [p('/3/0/0')] }, V11);
    rejects({ kind: 'read-composite', paths: [p('/3/0/0')] }, 'not-supported-by-version', '4.00', V10);
    rejects({ kind: 'observe-composite', paths: [p('/3/0/0')] }, 'not-supported-by-version', '4.00', V10);
    rejects(
      { kind: 'cancel-observation-composite', paths: [p('/3/0/0')] },
      'not-supported-by-version',
      '4.00',
      V10,
    );
    rejects({ kind: 'write-composite', records: [rec('/3/0/14')] }, 'not-supported-by-version', '4.00', V10);
  });

  it('Observe-Composite attributes need 1.2', () => {
    ok({ kind: 'observe-composite', paths: [p('/3/0/0')], attributes: { pmin: 1, con: 1 } });
    rejects(
      { kind: 'observe-composite', paths: [p('/3/0/0')], attributes: { pmax: 5 } },
      'not-supported-by-version',
      '4.00',
      V11,
    );
  });

  it('Write-Attributes: epmin/epmax need 1.1, edge/con/hqmax 1.2', () => {
    ok({ kind: 'write-attributes', path: p('/3/0/9'), attributes: { epmin: 1, epmax: 5 } }, V11);
    rejects(
      { kind: 'write-attributes', path: p('/3/0/9'), attributes: { epmin: 1 } },
      'not-supported-by-version',
      '4.00',
      V10,
      'epmin',
    );
    rejects(
      { kind: 'write-attributes', path: p('/3/0/9'), attributes: { epmax: null } },
      'not-supported-by-version',
      '4.00',
      V10,
    );
    for (const name of ['edge', 'con', 'hqmax'] as const)
      rejects(
        { kind: 'write-attributes', path: p('/3/0/9'), attributes: { [name]: 1 } },
        'not-supported-by-version',
        '4.00',
        V11,
        name,
      );
    ok({ kind: 'write-attributes', path: p('/3/0/9'), attributes: { edge: 1, con: 0, hqmax: 10 } });
  });

  it('content formats: LwM2M CBOR and SenML-ETCH need 1.2, SenML and CBOR 1.1', () => {
    ok({ kind: 'read', path: p('/3/0'), accept: 11544 });
    rejects(
      { kind: 'read', path: p('/3/0'), accept: 11544 },
      'not-supported-by-version',
      '4.00',
      V11,
      '11544',
    );
    rejects({ kind: 'read', path: p('/3/0'), accept: 110 }, 'not-supported-by-version', '4.00', V10);
    rejects({ kind: 'read', path: p('/3/0'), accept: 112 }, 'not-supported-by-version', '4.00', V10);
    rejects({ kind: 'read', path: p('/3/0/0'), accept: 60 }, 'not-supported-by-version', '4.00', V10);
    ok({ kind: 'read', path: p('/3/0'), accept: 11542 }, V10);
    ok({ kind: 'read', path: p('/3/0'), accept: 11543 }, V10);
    ok({ kind: 'read-composite', paths: [p('/3/0/0')], format: 110, accept: 112 }, V11);
    rejects(
      { kind: 'read-composite', paths: [p('/3/0/0')], format: 320 },
      'not-supported-by-version',
      '4.00',
      V11,
    );
    rejects(
      { kind: 'write-composite', records: [rec('/3/0/14')], format: 322 },
      'not-supported-by-version',
      '4.00',
      V11,
    );
    rejects(
      { kind: 'write', path: p('/3/0/14'), mode: 'replace', records: [rec('/3/0/14')], format: 110 },
      'not-supported-by-version',
      '4.00',
      V10,
    );
    rejects(
      { kind: 'create', path: p('/5'), instance: { instanceId: 0, resources: [] }, format: 11544 },
      'not-supported-by-version',
      '4.00',
      V11,
    );
  });

  it('resource-instance targets need 1.1', () => {
    ok({ kind: 'delete', path: p('/3/0/7/0') }, V11);
    rejects({ kind: 'delete', path: p('/3/0/7/0') }, 'not-supported-by-version', '4.00', V10);
    rejects({ kind: 'read', path: p('/3/0/7/0') }, 'not-supported-by-version', '4.00', V10);
  });

  it('Bootstrap-Read needs 1.1', () => {
    ok({ kind: 'bootstrap-read', path: p('/1') }, V11);
    rejects({ kind: 'bootstrap-read', path: p('/1') }, 'not-supported-by-version', '4.00', V10);
  });

  it('a malformed peer version is refused', () => {
    rejects({ kind: 'read', path: p('/3') }, 'bad-parameter', '4.00', { lwm2mVersion: 'x' });
  });
});

describe('validateDownlinkRequest: formats an operation never uses', () => {
  it('a payload format is 4.15, an Accept 4.06', () => {
    rejects({ kind: 'read', path: p('/3/0'), accept: 40 }, 'unsupported-format', '4.06');
    rejects({ kind: 'read', path: p('/3/0'), accept: 320 }, 'unsupported-format', '4.06');
    rejects({ kind: 'observe', path: p('/3/0'), accept: 9999 as 0 }, 'unsupported-format', '4.06');
    rejects(
      { kind: 'write', path: p('/3/0/14'), mode: 'replace', records: [rec('/3/0/14')], format: 320 },
      'unsupported-format',
      '4.15',
    );
    rejects(
      { kind: 'create', path: p('/5'), instance: { instanceId: 0, resources: [] }, format: 0 },
      'unsupported-format',
      '4.15',
    );
    rejects({ kind: 'read-composite', paths: [p('/3/0/0')], format: 11542 }, 'unsupported-format', '4.15');
    rejects({ kind: 'read-composite', paths: [p('/3/0/0')], accept: 11542 }, 'unsupported-format', '4.06');
    rejects(
      { kind: 'write-composite', records: [rec('/3/0/14')], format: 11542 },
      'unsupported-format',
      '4.15',
    );
    rejects({ kind: 'bootstrap-read', path: p('/1'), accept: 0 }, 'unsupported-format', '4.06');
    ok({ kind: 'write-composite', records: [rec('/3/0/14')], format: 11544 });
  });
});

describe('validateDownlinkRequest: attributes (4.00)', () => {
  it('Observe-Composite takes only pmin, pmax, epmin, epmax, con', () => {
    rejects(
      { kind: 'observe-composite', paths: [p('/3/0/9')], attributes: { gt: 5 } },
      'bad-attributes',
      '4.00',
      V12,
      'gt',
    );
    rejects(
      { kind: 'observe-composite', paths: [p('/3/0/9')], attributes: { epmin: 5, epmax: 5 } },
      'bad-attributes',
      '4.00',
    );
  });

  it('Write-Attributes checks levels, values and consistency', () => {
    ok({ kind: 'write-attributes', path: p('/3/0/9'), attributes: { pmin: 1, pmax: 5, gt: 50 } });
    ok({ kind: 'write-attributes', path: p('/3/0/9'), attributes: { pmin: null, gt: null } });
    rejects(
      { kind: 'write-attributes', path: p('/3/0'), attributes: { gt: 50 } },
      'bad-attributes',
      '4.00',
      V12,
      'gt',
    );
    rejects(
      { kind: 'write-attributes', path: p('/3'), attributes: { st: null } },
      'bad-attributes',
      '4.00',
      V12,
      'st',
    );
    rejects(
      { kind: 'write-attributes', path: p('/3/0/9'), attributes: { lt: 50, gt: 10 } },
      'bad-attributes',
      '4.00',
    );
    rejects(
      { kind: 'write-attributes', path: p('/3/0/9'), attributes: { lt: 0, gt: 10, st: 5 } },
      'bad-attributes',
      '4.00',
    );
    rejects(
      { kind: 'write-attributes', path: p('/3/0/9'), attributes: { pmin: -1 } },
      'bad-attributes',
      '4.00',
    );
    rejects(
      { kind: 'write-attributes', path: p('/3/0/9'), attributes: { edge: 2 } },
      'bad-attributes',
      '4.00',
    );
    rejects(
      { kind: 'write-attributes', path: p('/3/0/9'), attributes: {} },
      'bad-attributes',
      '4.00',
      V12,
      'nothing',
    );
  });

  it('Observe attributes are checked at the target’s level', () => {
    rejects({ kind: 'observe', path: p('/3/0'), attributes: { st: 1 } }, 'bad-attributes', '4.00');
    rejects(
      { kind: 'observe', path: p('/3/0/9'), attributes: { epmin: 9, epmax: 3 } },
      'bad-attributes',
      '4.00',
    );
  });
});

describe('validateDownlinkRequest: payloads (4.00)', () => {
  it('a Write or Bootstrap-Write carries values at or below its target', () => {
    rejects(
      { kind: 'write', path: p('/3/0'), mode: 'replace', records: [] },
      'bad-payload',
      '4.00',
      V12,
      'no values',
    );
    rejects(
      { kind: 'write', path: p('/3/0'), mode: 'update', records: [rec('/3/1/14')] },
      'bad-payload',
      '4.00',
      V12,
      'outside',
    );
    rejects(
      { kind: 'write', path: p('/3/0/7'), mode: 'replace', records: [rec('/3/0/8/0')] },
      'bad-payload',
      '4.00',
    );
    rejects(
      { kind: 'write', path: p('/3/0'), mode: 'replace', records: [rec('/3/0/14'), rec('/3/0/14')] },
      'bad-payload',
      '4.00',
      V12,
      'twice',
    );
    rejects({ kind: 'bootstrap-write', path: p('/1/0'), records: [] }, 'bad-payload', '4.00');
    rejects({ kind: 'bootstrap-write', path: p('/1/0'), records: [rec('/0/0/1')] }, 'bad-payload', '4.00');
    ok({ kind: 'write', path: p('/3/0/7'), mode: 'replace', records: [{ path: p('/3/0/7') }] });
  });

  it('composites need a non-empty list', () => {
    rejects({ kind: 'read-composite', paths: [] }, 'bad-payload', '4.00');
    rejects({ kind: 'observe-composite', paths: [] }, 'bad-payload', '4.00');
    rejects({ kind: 'cancel-observation-composite', paths: [] }, 'bad-payload', '4.00');
    rejects({ kind: 'write-composite', records: [] }, 'bad-payload', '4.00');
    ok({ kind: 'read-composite', paths: [LwM2mPath.ROOT] });
  });

  it('Write-Composite values live at resources; a value-less record deletes a resource instance', () => {
    ok({ kind: 'write-composite', records: [rec('/3/0/14'), { path: p('/3/0/7/1') }], format: 320 });
    rejects({ kind: 'write-composite', records: [rec('/3/0')] }, 'bad-payload', '4.00');
    rejects(
      { kind: 'write-composite', records: [{ path: p('/3/0/14') }] },
      'bad-payload',
      '4.00',
      V12,
      'no value',
    );
    rejects({ kind: 'write-composite', records: [rec('/3/0/14'), rec('/3/0/14')] }, 'bad-payload', '4.00');
  });

  it('Create: a valid instance id, resources relative to the instance', () => {
    ok({
      kind: 'create',
      path: p('/3303'),
      instance: { instanceId: 2, resources: [rec('/5700'), rec('/5701/0')] },
    });
    rejects(
      { kind: 'create', path: p('/3303'), instance: { instanceId: 65535, resources: [] } },
      'bad-payload',
      '4.00',
    );
    rejects(
      { kind: 'create', path: p('/3303'), instance: { instanceId: 0, resources: [rec('/0/5700/0')] } },
      'bad-payload',
      '4.00',
    );
    rejects(
      {
        kind: 'create',
        path: p('/3303'),
        instance: { instanceId: 0, resources: [rec('/5700'), rec('/5700')] },
      },
      'bad-payload',
      '4.00',
    );
  });

  it('Execute arguments follow the grammar', () => {
    ok({ kind: 'execute', path: p('/1/0/8'), arguments: [{ digit: 0, value: 'U' }] });
    rejects(
      { kind: 'execute', path: p('/1/0/8'), arguments: [{ digit: 0 }, { digit: 0 }] },
      'bad-arguments',
      '4.00',
    );
    rejects(
      { kind: 'execute', path: p('/1/0/8'), arguments: [{ digit: 0, value: 'a b' }] },
      'bad-arguments',
      '4.00',
    );
  });
});
