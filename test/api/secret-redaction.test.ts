// No secret a device's resources hold reaches an API answer or the event log (docs/security.md).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactToken } from '../../src/api/api-server.js';
import { valuesData } from '../../src/api/event-recorder.js';
import { operationResponse } from '../../src/api/operation-response.js';
import { REDACTED, redactUri, redactValues } from '../../src/api/secret-redaction.js';
import { Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { OperationResult } from '../../src/server/operation-result.js';

const TOKEN = 'Zk3JrQ0v9yX8mHh2aLdC1w';
const URI = `coap://10.0.0.1:5685/fw/abc123?t=${TOKEN}`;

describe('secret redaction', () => {
  it('redacts download tokens and URI passwords, and nothing else', () => {
    assert.equal(redactUri(URI), `coap://10.0.0.1:5685/fw/abc123?t=${REDACTED}`);
    assert.equal(
      redactUri('https://ops:hunter2@repo.example/pkg.bin?x=1&token=abc#frag'),
      `https://ops:${REDACTED}@repo.example/pkg.bin?x=1&token=${REDACTED}#frag`,
    );
    assert.equal(redactUri('coap://10.0.0.1/fw/abc?type=full'), 'coap://10.0.0.1/fw/abc?type=full');
    assert.equal(
      redactToken(`/api/firmware/images/ab/content?t=${TOKEN}&x=1`),
      '/api/firmware/images/ab/content?t=[redacted]&x=1',
    );
  });

  it('applies to Package URIs (/5/x/1, /9/x/3) and /9/x/15 Password only', () => {
    const values = {
      '/5/0/1': URI,
      '/9/2/3': `http://u:pw@h/p?t=${TOKEN}`,
      '/9/2/15': 'secret-password',
      '/9/2/14': 'ops',
      '/3/0/0': `looks like a URI?t=${TOKEN}`,
    };
    assert.deepEqual(redactValues(values), {
      '/5/0/1': `coap://10.0.0.1:5685/fw/abc123?t=${REDACTED}`,
      '/9/2/3': `http://u:${REDACTED}@h/p?t=${REDACTED}`,
      '/9/2/15': REDACTED,
      '/9/2/14': 'ops',
      '/3/0/0': `looks like a URI?t=${TOKEN}`,
    });
    const clean = { '/3/0/0': 'Petrel' };
    assert.equal(redactValues(clean), clean, 'nothing to redact: the same object');
  });

  it('holds in operation answers and in the event log', () => {
    const records = [
      { path: LwM2mPath.parse('/5/0/1'), value: Value.string(URI) },
      { path: LwM2mPath.parse('/5/0/3'), value: Value.integer(1) },
    ];
    const result = {
      id: 'c1',
      endpoint: 'dev-1',
      code: '2.05',
      success: true,
      records,
      values: { '/5/0/1': URI, '/5/0/3': 1 },
    } as unknown as OperationResult;
    const json = JSON.stringify(operationResponse(result, { operation: 'read', paths: ['/5/0'] }));
    assert.ok(!json.includes(TOKEN), json);
    assert.ok(json.includes('"/5/0/3":1'));
    const logged = JSON.stringify(valuesData(result, 16 * 1024));
    assert.ok(!logged.includes(TOKEN), logged);
    assert.ok(logged.includes(REDACTED));
  });
});
