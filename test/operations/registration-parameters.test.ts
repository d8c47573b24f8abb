import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseRegistrationPayload } from '../../src/model/registration-payload.js';
import {
  BINDING_LETTERS,
  checkEndpointName,
  checkSmsNumber,
  formatLegacyBinding,
  formatRegisterQuery,
  formatUpdateQuery,
  parseBinding,
  parseRegisterParameters,
  parseUpdateParameters,
} from '../../src/operations/registration-parameters.js';
import type { RegisterRequest, UpdateRequest } from '../../src/operations/requests.js';
import { OperationError } from '../../src/operations/result-code.js';
import type { OperationErrorReason } from '../../src/operations/result-code.js';

function rejects(fn: () => unknown, reason: OperationErrorReason, code = '4.00', messagePart?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OperationError, `expected OperationError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.resultCode, code, e.message);
    if (messagePart !== undefined) assert.ok(e.message.includes(messagePart), e.message);
    return true;
  });
}

const register = (query: string[], options?: Parameters<typeof parseRegisterParameters>[2]) =>
  parseRegisterParameters(query, undefined, options);

describe('parseRegisterParameters', () => {
  it('reads client A’s Register (no b: U by default)', () => {
    const payload = parseRegistrationPayload('</1/1>,</3/0>');
    const req = parseRegisterParameters(['lwm2m=1.2', 'ep=urn:dev:client-a-001', 'lt=300'], payload);
    assert.deepEqual(req, {
      kind: 'register',
      endpoint: 'urn:dev:client-a-001',
      lifetime: 300,
      lwm2mVersion: '1.2',
      binding: 'U',
      queueMode: false,
      sms: undefined,
      profileIds: [],
      objects: payload,
      extraParameters: new Map(),
    });
  });

  it('reads every parameter', () => {
    const req = register([
      'ep=dev',
      'lt=60',
      'lwm2m=1.2',
      'b=UT',
      'Q',
      'sms=447700900123',
      'pid="oma:a,6:1234abcd"',
    ]);
    assert.equal(req.binding, 'UT');
    assert.equal(req.queueMode, true);
    assert.equal(req.sms, '447700900123');
    assert.deepEqual(req.profileIds, ['oma:a', '6:1234abcd']);
  });

  it('ep is optional (the security identity names the client)', () => {
    assert.equal(register(['lt=60', 'lwm2m=1.1']).endpoint, undefined);
  });

  it('lwm2m absent means 1.0, where lt defaults to 86400', () => {
    const req = register(['ep=old']);
    assert.equal(req.lwm2mVersion, '1.0');
    assert.equal(req.lifetime, 86400);
  });

  it('lt is mandatory from 1.1', () => {
    rejects(() => register(['ep=x', 'lwm2m=1.1']), 'missing-parameter', '4.00', 'lt');
    rejects(() => register(['ep=x', 'lwm2m=1.2']), 'missing-parameter');
  });

  it('lt: 0 (infinite) .. 2^32-1, leading zeros tolerated', () => {
    assert.equal(register(['lt=0', 'lwm2m=1.2']).lifetime, 0);
    assert.equal(register(['lt=4294967295', 'lwm2m=1.2']).lifetime, 4294967295);
    assert.equal(register(['lt=0300', 'lwm2m=1.2']).lifetime, 300);
    for (const bad of ['lt=4294967296', 'lt=-1', 'lt=1.5', 'lt=', 'lt', 'lt=12345678901', 'lt=1e3', 'lt= 5'])
      rejects(() => register([bad, 'lwm2m=1.2']), 'bad-parameter');
  });

  it('lwm2m: a version not served is 4.12, a malformed one 4.00; 1.2.1 stands for 1.2', () => {
    rejects(() => register(['lt=1', 'lwm2m=1.3']), 'unsupported-version', '4.12');
    rejects(() => register(['lt=1', 'lwm2m=2.0']), 'unsupported-version', '4.12');
    rejects(() => register(['lt=1', 'lwm2m=abc']), 'bad-parameter', '4.00');
    rejects(() => register(['lt=1', 'lwm2m=']), 'bad-parameter', '4.00');
    assert.equal(register(['lt=1', 'lwm2m=1.2.1']).lwm2mVersion, '1.2');
    rejects(
      () => register(['lt=1', 'lwm2m=1.0'], { supportedVersions: ['1.1', '1.2'] }),
      'unsupported-version',
      '4.12',
    );
    rejects(() => register(['lt=1'], { supportedVersions: ['1.2'] }), 'unsupported-version', '4.12');
  });

  it('b: letters U T S N M H, once each, in the order given', () => {
    assert.equal(register(['lt=1', 'lwm2m=1.2', 'b=TU']).binding, 'TU');
    assert.equal(register(['lt=1', 'lwm2m=1.2', 'b=UTSNMH']).binding, 'UTSNMH');
    for (const bad of ['b=', 'b', 'b=UU', 'b=X', 'b=u', 'b=Q', 'b=UQQ', 'b=U T'])
      rejects(() => register(['lt=1', 'lwm2m=1.2', bad]), 'bad-parameter');
  });

  it('b: the 1.0 forms UQ, S, SQ, US, UQS give binding + queue mode', () => {
    const cases: [string, string, boolean][] = [
      ['U', 'U', false],
      ['UQ', 'U', true],
      ['S', 'S', false],
      ['SQ', 'S', true],
      ['US', 'US', false],
      ['UQS', 'US', true],
    ];
    for (const [b, binding, queueMode] of cases) {
      const req = register([`b=${b}`]);
      assert.equal(req.binding, binding, b);
      assert.equal(req.queueMode, queueMode, b);
    }
  });

  it('Q is a value-less flag', () => {
    assert.equal(register(['lt=1', 'lwm2m=1.1', 'Q']).queueMode, true);
    rejects(() => register(['lt=1', 'lwm2m=1.1', 'Q=1']), 'bad-parameter', '4.00', 'flag');
    rejects(() => register(['lt=1', 'lwm2m=1.1', 'Q=']), 'bad-parameter');
  });

  it('sms: MSISDN without "+" or an External Identifier', () => {
    assert.equal(register(['lt=1', 'lwm2m=1.2', 'sms=123456789012345']).sms, '123456789012345');
    assert.equal(
      register(['lt=1', 'lwm2m=1.2', 'sms=meter-1@iot.example.net']).sms,
      'meter-1@iot.example.net',
    );
    for (const bad of [
      'sms=+4477',
      'sms=1234567890123456',
      'sms=12 34',
      'sms=a@',
      'sms=@b',
      'sms=a@b@c',
      'sms=',
    ])
      rejects(() => register(['lt=1', 'lwm2m=1.2', bad]), 'bad-parameter');
  });

  it('ep: non-empty, at most 255 UTF-8 bytes, no control characters', () => {
    assert.equal(register(['lt=1', 'lwm2m=1.2', 'ep=Zähler-7=a']).endpoint, 'Zähler-7=a');
    assert.equal(register(['lt=1', 'lwm2m=1.2', `ep=${'x'.repeat(255)}`]).endpoint?.length, 255);
    for (const bad of [
      'ep=',
      'ep',
      `ep=${'x'.repeat(256)}`,
      `ep=${'é'.repeat(128)}`,
      'ep=a\nb',
      'ep=a\u0000',
      'ep=\ud800',
    ])
      rejects(() => register(['lt=1', 'lwm2m=1.2', bad]), 'bad-parameter');
  });

  it('pid: bad values are 4.00', () => {
    rejects(() => register(['lt=1', 'lwm2m=1.2', 'pid=6:12']), 'bad-parameter');
    rejects(() => register(['lt=1', 'lwm2m=1.2', 'pid=']), 'bad-parameter');
  });

  it('a parameter twice is 4.00', () => {
    rejects(() => register(['lt=1', 'lwm2m=1.2', 'lt=2']), 'bad-parameter', '4.00', 'twice');
    rejects(() => register(['lt=1', 'lwm2m=1.2', 'Q', 'Q']), 'bad-parameter', '4.00', 'twice');
    rejects(
      () => register(['lt=1', 'lwm2m=1.2', 'x=1', 'x=2'], { allowUnknownParameters: true }),
      'bad-parameter',
    );
    rejects(() => register(['=1', 'lt=1', 'lwm2m=1.2']), 'bad-parameter');
  });

  it('unknown parameters are 4.00 unless allowed, then kept', () => {
    rejects(() => register(['lt=1', 'lwm2m=1.2', 'apn=internet']), 'unknown-parameter', '4.00', 'apn');
    rejects(() => register(['lt=1', 'lwm2m=1.2', 'B=U']), 'unknown-parameter');
    const req = register(['lt=1', 'lwm2m=1.2', 'apn=internet', 'flag'], { allowUnknownParameters: true });
    assert.deepEqual(
      req.extraParameters,
      new Map<string, string | true>([
        ['apn', 'internet'],
        ['flag', true],
      ]),
    );
  });
});

describe('parseUpdateParameters', () => {
  it('an empty query is a lifetime refresh', () => {
    assert.deepEqual(parseUpdateParameters('0', [], undefined), { kind: 'update', registrationId: '0' });
  });

  it('reads lt, b, Q, sms, pid and the object list', () => {
    const objects = parseRegistrationPayload('</3/0>');
    assert.deepEqual(parseUpdateParameters('5a', ['lt=90', 'b=T', 'Q', 'sms=123', 'pid=v:x'], objects), {
      kind: 'update',
      registrationId: '5a',
      lifetime: 90,
      binding: 'T',
      queueMode: true,
      sms: '123',
      profileIds: ['v:x'],
      objects,
    });
  });

  it('queue mode: unchanged from 1.1 without Q; for 1.0 a b without Q turns it off', () => {
    assert.equal(parseUpdateParameters('1', ['b=U'], undefined).queueMode, undefined);
    assert.equal(
      parseUpdateParameters('1', ['b=U'], undefined, { lwm2mVersion: '1.1' }).queueMode,
      undefined,
    );
    assert.equal(parseUpdateParameters('1', ['b=U'], undefined, { lwm2mVersion: '1.0' }).queueMode, false);
    assert.equal(parseUpdateParameters('1', ['b=UQ'], undefined, { lwm2mVersion: '1.0' }).queueMode, true);
    assert.equal(
      parseUpdateParameters('1', ['b=U', 'Q'], undefined, { lwm2mVersion: '1.0' }).queueMode,
      true,
    );
    assert.equal(
      parseUpdateParameters('1', ['Q', 'b=U'], undefined, { lwm2mVersion: '1.0' }).queueMode,
      true,
    );
  });

  it('ep and lwm2m cannot change in an Update; unknown parameters are 4.00 unless allowed (then dropped)', () => {
    rejects(() => parseUpdateParameters('1', ['ep=x'], undefined), 'unknown-parameter', '4.00', 'Register');
    rejects(() => parseUpdateParameters('1', ['lwm2m=1.2'], undefined), 'unknown-parameter');
    rejects(() => parseUpdateParameters('1', ['foo=1'], undefined), 'unknown-parameter');
    assert.deepEqual(
      parseUpdateParameters('1', ['ep=x', 'lt=5'], undefined, { allowUnknownParameters: true }),
      { kind: 'update', registrationId: '1', lifetime: 5 },
    );
  });

  it('applies the value rules of Register', () => {
    rejects(() => parseUpdateParameters('1', ['lt=x'], undefined), 'bad-parameter');
    rejects(() => parseUpdateParameters('1', ['b=Z'], undefined), 'bad-parameter');
    rejects(() => parseUpdateParameters('1', ['Q=0'], undefined), 'bad-parameter');
    rejects(() => parseUpdateParameters('1', ['lt=1', 'lt=1'], undefined), 'bad-parameter');
    rejects(() => parseUpdateParameters('1', ['sms=+1'], undefined), 'bad-parameter');
  });
});

describe('binding helpers', () => {
  it('formatLegacyBinding writes the 1.0 forms', () => {
    assert.equal(formatLegacyBinding('U', true), 'UQ');
    assert.equal(formatLegacyBinding('S', true), 'SQ');
    assert.equal(formatLegacyBinding('US', true), 'UQS');
    assert.equal(formatLegacyBinding('US', false), 'US');
    assert.deepEqual(parseBinding(formatLegacyBinding('SU', true)), { binding: 'SU', queueMode: true });
  });
  it('checkEndpointName and checkSmsNumber return valid input', () => {
    assert.equal(checkEndpointName('urn:imei:490154203237518'), 'urn:imei:490154203237518');
    assert.equal(checkSmsNumber('4915112345678'), '4915112345678');
  });
});

describe('formatRegisterQuery / formatUpdateQuery', () => {
  const base: RegisterRequest = {
    kind: 'register',
    endpoint: 'urn:dev:x',
    lifetime: 300,
    lwm2mVersion: '1.2',
    binding: 'U',
    queueMode: true,
    sms: undefined,
    profileIds: [],
    objects: undefined,
    extraParameters: new Map(),
  };

  it('writes the parameters, Q as a flag from 1.1 and inside b for 1.0', () => {
    assert.deepEqual(formatRegisterQuery(base), ['ep=urn:dev:x', 'lt=300', 'lwm2m=1.2', 'b=U', 'Q']);
    assert.deepEqual(formatRegisterQuery({ ...base, lwm2mVersion: '1.0', binding: 'US' }), [
      'ep=urn:dev:x',
      'lt=300',
      'lwm2m=1.0',
      'b=UQS',
    ]);
    assert.deepEqual(
      formatRegisterQuery({
        ...base,
        endpoint: undefined,
        queueMode: false,
        sms: '123',
        profileIds: ['oma:a', 'v:b'],
        extraParameters: new Map<string, string | true>([
          ['apn', 'x'],
          ['f', true],
        ]),
      }),
      ['lt=300', 'lwm2m=1.2', 'b=U', 'sms=123', 'pid="oma:a,v:b"', 'apn=x', 'f'],
    );
  });

  it('refuses what it cannot write', () => {
    rejects(() => formatRegisterQuery({ ...base, lifetime: -1 }), 'bad-parameter');
    rejects(() => formatRegisterQuery({ ...base, lifetime: 2 ** 32 }), 'bad-parameter');
    rejects(() => formatRegisterQuery({ ...base, binding: 'UQ' }), 'bad-parameter');
    rejects(() => formatRegisterQuery({ ...base, binding: 'UX' }), 'bad-parameter');
    rejects(() => formatRegisterQuery({ ...base, endpoint: '' }), 'bad-parameter');
    rejects(() => formatRegisterQuery({ ...base, lwm2mVersion: 'one' }), 'bad-parameter');
    rejects(() => formatRegisterQuery({ ...base, sms: '+1' }), 'bad-parameter');
    rejects(() => formatRegisterQuery({ ...base, extraParameters: new Map([['lt', '5']]) }), 'bad-parameter');
  });

  it('formatUpdateQuery writes only what is set', () => {
    const upd: UpdateRequest = { kind: 'update', registrationId: '0' };
    assert.deepEqual(formatUpdateQuery(upd), []);
    assert.deepEqual(
      formatUpdateQuery({
        ...upd,
        lifetime: 60,
        binding: 'T',
        queueMode: true,
        sms: '1',
        profileIds: ['v:a'],
      }),
      ['lt=60', 'b=T', 'Q', 'sms=1', 'pid=v:a'],
    );
    assert.deepEqual(formatUpdateQuery({ ...upd, binding: 'U', queueMode: true }, { lwm2mVersion: '1.0' }), [
      'b=UQ',
    ]);
    rejects(() => formatUpdateQuery({ ...upd, queueMode: true }, { lwm2mVersion: '1.0' }), 'bad-parameter');
  });

  const letters = fc
    .uniqueArray(fc.constantFrom(...BINDING_LETTERS), { minLength: 1, maxLength: 6 })
    .map((ls) => ls.join(''));
  const registerArb: fc.Arbitrary<RegisterRequest> = fc.record({
    kind: fc.constant('register' as const),
    endpoint: fc.option(fc.stringMatching(/^[\x21-\x7e]{1,40}$/), { nil: undefined }),
    lifetime: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    lwm2mVersion: fc.constantFrom('1.0', '1.1', '1.2'),
    binding: letters,
    queueMode: fc.boolean(),
    sms: fc.option(fc.stringMatching(/^[0-9]{1,15}$/), { nil: undefined }),
    profileIds: fc.uniqueArray(fc.stringMatching(/^(oma|v):[a-z0-9-]{1,8}$/), { maxLength: 3 }),
    objects: fc.constant(undefined),
    extraParameters: fc
      .uniqueArray(
        fc.tuple(
          fc.stringMatching(/^x[a-z]{0,5}$/),
          fc.oneof(fc.constant(true as const), fc.stringMatching(/^[a-z0-9]{0,8}$/)),
        ),
        { maxLength: 3, selector: ([name]) => name },
      )
      .map((entries) => new Map<string, string | true>(entries)),
  });

  it('Register round-trips: parse(format(req)) = req', () => {
    fc.assert(
      fc.property(registerArb, (req) => {
        assert.deepEqual(
          parseRegisterParameters(formatRegisterQuery(req), undefined, { allowUnknownParameters: true }),
          { ...req },
        );
      }),
    );
  });

  it('Update round-trips for 1.1+ (queue mode only switched on)', () => {
    const updateArb = fc.record(
      {
        lifetime: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        binding: letters,
        queueMode: fc.constant(true),
        sms: fc.stringMatching(/^[0-9]{1,15}$/),
        profileIds: fc.uniqueArray(fc.stringMatching(/^[0-9]{1,2}:[0-9a-f]{8,12}$/), {
          minLength: 1,
          maxLength: 3,
        }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(updateArb, (fields) => {
        const req: UpdateRequest = { kind: 'update', registrationId: 'r', ...fields };
        const back = parseUpdateParameters('r', formatUpdateQuery(req), undefined);
        assert.deepEqual(back, {
          ...req,
          ...(req.profileIds ? { profileIds: req.profileIds.map((p) => p.replace(/^0+(?=\d)/, '')) } : {}),
        });
      }),
    );
  });

  it('parsing arbitrary query items throws only OperationError', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 12 }), { maxLength: 6 }), (query) => {
        try {
          parseRegisterParameters(query, undefined, { allowUnknownParameters: true });
        } catch (e) {
          assert.ok(e instanceof OperationError, String(e));
        }
      }),
    );
  });
});
