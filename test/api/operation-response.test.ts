import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  linkToJson,
  operationResponse,
  recordsToApiJson,
  roundMs,
} from '../../src/api/operation-response.js';
import { UINT64_MAX, Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import { OperationResult } from '../../src/server/operation-result.js';

const p = (text: string): LwM2mPath => LwM2mPath.parse(text);

describe('operationResponse', () => {
  it('gives values, typed records, format, identity and latency of a read', () => {
    const result = new OperationResult(
      'c0ffee0000000001',
      'dev-1',
      'read',
      {
        code: '2.05',
        format: 112,
        records: [
          { path: p('/3/0/0'), value: Value.string('Acme') },
          { path: p('/3/0/9'), value: Value.integer(95) },
          { path: p('/42769/0/3'), value: Value.opaque(Uint8Array.of(0xca, 0xfe)) },
          { path: p('/42769/0/4'), value: Value.unsigned(UINT64_MAX) },
          { path: p('/3303/0/5700'), value: Value.float(21.5), time: 1_700_000_000 },
        ],
      },
      { token: 'a1b2c3d4', messageId: 12345 },
    );
    const json = operationResponse(result, { operation: 'read', paths: ['/3/0'], latencyMs: 3.14159 });
    assert.deepEqual(json, {
      endpoint: 'dev-1',
      operation: 'read',
      paths: ['/3/0'],
      code: '2.05',
      success: true,
      format: 'senml-cbor',
      values: {
        '/3/0/0': 'Acme',
        '/3/0/9': 95,
        '/42769/0/3': { hex: 'cafe' },
        '/42769/0/4': '18446744073709551615',
        '/3303/0/5700': [{ t: 1_700_000_000, v: 21.5 }],
      },
      records: [
        { path: '/3/0/0', type: 'string', value: 'Acme' },
        { path: '/3/0/9', type: 'integer', value: 95 },
        { path: '/42769/0/3', type: 'opaque', value: { hex: 'cafe' } },
        { path: '/42769/0/4', type: 'unsigned', value: '18446744073709551615' },
        { path: '/3303/0/5700', type: 'float', value: 21.5, time: 1_700_000_000 },
      ],
      identity: { commandId: 'c0ffee0000000001', token: 'a1b2c3d4', messageId: 12345 },
      latencyMs: 3.1,
    });
    assert.doesNotThrow(() => JSON.stringify(json));
  });

  it('reports an error answer as success false with its diagnostic, without values', () => {
    const result = new OperationResult('01', 'dev-1', 'read', {
      code: '4.04',
      diagnostic: 'no such instance',
    });
    const json = operationResponse(result, { operation: 'read', paths: ['/3303/9'] });
    assert.equal(json.success, false);
    assert.equal(json.code, '4.04');
    assert.equal(json.diagnostic, 'no such instance');
    assert.equal('values' in json, false);
    assert.equal('latencyMs' in json, false);
    assert.deepEqual(json.identity, { commandId: '01' });
  });

  it('carries links (params as an object), location and observationId', () => {
    const discover = new OperationResult('02', 'd', 'discover', {
      code: '2.05',
      links: [
        {
          target: '/3/0/7',
          params: [
            { name: 'dim', value: 2 },
            { name: 'dim', value: 9 },
            { name: 'pmin', value: 10 },
          ],
        },
      ],
    });
    assert.deepEqual(operationResponse(discover, { operation: 'discover', paths: ['/3'] }).links, [
      { target: '/3/0/7', params: { dim: 2, pmin: 10 } },
    ]);
    const create = new OperationResult('03', 'd', 'create', { code: '2.01', location: p('/3303/1') });
    assert.equal(operationResponse(create, { operation: 'create', paths: ['/3303'] }).location, '/3303/1');
    const observe = new OperationResult('04', 'd', 'observe', { code: '2.05' });
    assert.equal(
      operationResponse(observe, { operation: 'observe', paths: ['/3/0/9'], observationId: '04' })
        .observationId,
      '04',
    );
  });
});

describe('recordsToApiJson and helpers', () => {
  it('leaves type and value out of a record without a value', () => {
    assert.deepEqual(recordsToApiJson([{ path: p('/3303/0') }]), [{ path: '/3303/0' }]);
    assert.deepEqual(recordsToApiJson([{ path: p('/1/0/1'), value: Value.objlnk(3, 0) }]), [
      { path: '/1/0/1', type: 'objlnk', value: '3:0' },
    ]);
  });

  it('keeps link params of every kind', () => {
    assert.deepEqual(
      linkToJson({
        target: '/',
        params: [
          { name: 'ct', value: [60, 110] },
          { name: 'obs', value: true },
        ],
      }),
      {
        target: '/',
        params: { ct: [60, 110], obs: true },
      },
    );
  });

  it('rounds milliseconds to a tenth', () => {
    assert.equal(roundMs(0.04), 0);
    assert.equal(roundMs(12.36), 12.4);
  });
});
