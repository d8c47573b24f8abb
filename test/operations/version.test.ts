import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OperationError } from '../../src/operations/result-code.js';
import {
  compareLwM2mVersions,
  parseLwM2mVersion,
  resolveLwM2mVersion,
  SUPPORTED_LWM2M_VERSIONS,
  versionFeatures,
} from '../../src/operations/version.js';

function rejects(fn: () => unknown, reason: string, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OperationError, `expected OperationError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.resultCode, code);
    return true;
  });
}

describe('parseLwM2mVersion', () => {
  it('reads major.minor and the optional patch level', () => {
    assert.deepEqual(parseLwM2mVersion('1.2'), { major: 1, minor: 2, patch: undefined, enabler: '1.2' });
    assert.deepEqual(parseLwM2mVersion('1.2.1'), { major: 1, minor: 2, patch: 1, enabler: '1.2' });
    assert.deepEqual(parseLwM2mVersion('10.0'), { major: 10, minor: 0, patch: undefined, enabler: '10.0' });
  });

  it('refuses anything else with bad-parameter 4.00', () => {
    for (const bad of [
      '',
      '1',
      '1.',
      '.2',
      '1.2.',
      '1.2.3.4',
      'v1.2',
      '01.2',
      '1.02',
      '1.2 ',
      'a.b',
      '12345.0',
    ])
      rejects(() => parseLwM2mVersion(bad), 'bad-parameter', '4.00');
  });
});

describe('compareLwM2mVersions', () => {
  it('orders numerically, patch counting as 0 when absent', () => {
    assert.ok(compareLwM2mVersions('1.0', '1.1') < 0);
    assert.ok(compareLwM2mVersions('1.10', '1.9') > 0);
    assert.ok(compareLwM2mVersions('2.0', '1.2') > 0);
    assert.equal(compareLwM2mVersions('1.2', '1.2.0'), 0);
    assert.ok(compareLwM2mVersions('1.2.1', '1.2') > 0);
  });
});

describe('resolveLwM2mVersion', () => {
  it('maps served versions (with a patch level) to major.minor', () => {
    assert.deepEqual([...SUPPORTED_LWM2M_VERSIONS], ['1.0', '1.1', '1.2']);
    assert.equal(resolveLwM2mVersion('1.1'), '1.1');
    assert.equal(resolveLwM2mVersion('1.2.2'), '1.2');
  });
  it('is undefined for a well-formed version not served, and honours a narrower set', () => {
    assert.equal(resolveLwM2mVersion('1.3'), undefined);
    assert.equal(resolveLwM2mVersion('2.0'), undefined);
    assert.equal(resolveLwM2mVersion('1.0', ['1.1', '1.2']), undefined);
    rejects(() => resolveLwM2mVersion('x'), 'bad-parameter', '4.00');
  });
});

describe('versionFeatures', () => {
  it('1.0 has none of the 1.1/1.2 features', () => {
    const f = versionFeatures('1.0');
    assert.equal(f.version, '1.0');
    for (const k of [
      'depth',
      'observeAttributes',
      'compositeOperations',
      'send',
      'senml',
      'cbor',
      'lwm2mCbor',
      'senmlEtch',
      'profileId',
      'bootstrapRead',
      'bootstrapPack',
      'queueModeFlag',
      'mandatoryRegisterParameters',
      'resourceInstancePaths',
    ] as const)
      assert.equal(f[k], false, k);
    assert.deepEqual(f.attributes, ['pmin', 'pmax', 'gt', 'lt', 'st']);
    assert.deepEqual(
      [...f.contentFormats].sort((a, b) => a - b),
      [0, 40, 42, 11542, 11543],
    );
  });

  it('1.1 adds composites, Send, SenML, the Q flag, epmin/epmax', () => {
    const f = versionFeatures('1.1');
    assert.equal(f.compositeOperations, true);
    assert.equal(f.send, true);
    assert.equal(f.senml, true);
    assert.equal(f.queueModeFlag, true);
    assert.equal(f.bootstrapRead, true);
    assert.equal(f.depth, false);
    assert.equal(f.lwm2mCbor, false);
    assert.equal(f.senmlEtch, false);
    assert.equal(f.profileId, false);
    assert.equal(f.bootstrapPack, false);
    assert.deepEqual(f.attributes, ['pmin', 'pmax', 'gt', 'lt', 'st', 'epmin', 'epmax']);
    assert.ok(
      f.contentFormats.includes(110) && f.contentFormats.includes(60) && !f.contentFormats.includes(11544),
    );
  });

  it('1.2 (and 1.2.1, and later versions) has everything', () => {
    for (const v of ['1.2', '1.2.1', '1.3']) {
      const f = versionFeatures(v);
      assert.equal(f.depth && f.observeAttributes && f.lwm2mCbor && f.senmlEtch && f.profileId, true, v);
      assert.equal(f.bootstrapPack && f.observeCompositeAttributes, true, v);
      assert.equal(f.attributes.length, 10);
      assert.ok(
        f.contentFormats.includes(11544) && f.contentFormats.includes(320) && f.contentFormats.includes(322),
      );
    }
    assert.equal(versionFeatures('1.2.1').version, '1.2');
  });
});
