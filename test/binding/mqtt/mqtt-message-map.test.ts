import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CborFloat, CborMap, type CborValue } from '../../../src/content/cbor/cbor-reader.js';
import { encodeCbor } from '../../../src/content/cbor/cbor-writer.js';
import {
  BootstrapOperationCode,
  MapKey,
  MqttMessageError,
  RdOperationCode,
  codeToResult,
  decodeMqttMessage,
  encodeMqttMessage,
  resultToCode,
  tokenHex,
  tokenKey,
  type MqttMessage,
  type MqttMessageErrorReason,
} from '../../../src/binding/mqtt/mqtt-message-map.js';

const map = (entries: [CborValue, CborValue][]): Uint8Array => encodeCbor(new CborMap(entries));
const TOKEN = new Uint8Array([1, 2, 3, 4]);

function assertMessageError(fn: () => unknown, reason: MqttMessageErrorReason, key?: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MqttMessageError, `expected MqttMessageError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    if (key !== undefined) assert.equal(e.key, key);
    assert.equal(e.code, 'PETREL_ERR_MQTT_MESSAGE');
    return true;
  });
}

describe('the 1.2.2 numbering table', () => {
  it('has the 1.2.2 operation codes', () => {
    assert.deepEqual(Object.values(BootstrapOperationCode), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(RdOperationCode.REGISTER, 6);
    assert.equal(RdOperationCode.DEREGISTER, 8);
    assert.equal(RdOperationCode.READ, 9);
    assert.equal(RdOperationCode.CREATE, 17);
    assert.equal(RdOperationCode.DELETE, 18); // 1.2.2 (the 1.2-era draft had 19)
    assert.equal(RdOperationCode.OBSERVE, 20);
    assert.equal(RdOperationCode.OBSERVE_COMPOSITE, 21);
    assert.equal(RdOperationCode.CANCEL, 22);
    assert.equal(RdOperationCode.NOTIFY, 23);
    assert.equal(RdOperationCode.SEND, 24);
  });

  it('has the 1.2.2 map keys, 1..22 without gaps', () => {
    assert.equal(MapKey.uri, 5);
    assert.equal(MapKey.paths, 6);
    assert.equal(MapKey.payload, 7);
    assert.equal(MapKey.result, 18);
    assert.equal(MapKey.ct, 19);
    assert.equal(MapKey.depth, 22);
    assert.deepEqual(
      Object.values(MapKey).sort((a, b) => a - b),
      Array.from({ length: 22 }, (_, i) => i + 1),
    );
  });

  it('maps result integers to CoAP-style codes and back', () => {
    assert.equal(resultToCode(205), '2.05');
    assert.equal(resultToCode(404), '4.04');
    assert.equal(resultToCode(503), '5.03');
    assert.equal(resultToCode(301), undefined);
    assert.equal(resultToCode(199), undefined);
    assert.equal(resultToCode(600), undefined);
    assert.equal(codeToResult('2.01'), 201);
    assert.equal(codeToResult('4.15'), 415);
  });
});

describe('encodeMqttMessage / decodeMqttMessage', () => {
  it('round-trips a request with every kind of field', () => {
    const message: MqttMessage = {
      operation: RdOperationCode.WRITE_ATTRIBUTES,
      token: TOKEN,
      ep: 'dev-1',
      pct: 112,
      uri: '/3303/0/5700',
      paths: new Uint8Array([0x80]),
      payload: new Uint8Array([0xde, 0xad]),
      lifetime: 4294967295,
      version: '1.2',
      b: 'MQ',
      sms: '123456',
      pmin: 1,
      pmax: null,
      gt: -12.5,
      st: 0.25,
      epmin: 5,
      epmax: 60,
      edge: 1,
      hqmax: 3,
      ct: 11544,
      depth: 2,
    };
    const bytes = encodeMqttMessage(message);
    assert.deepEqual(decodeMqttMessage(bytes), message);
  });

  it('writes keys in ascending order with the 1.2.2 numbers', () => {
    const bytes = encodeMqttMessage({ result: 205, token: TOKEN, ct: 0, payload: new Uint8Array([0x31]) });
    // {2: h'01020304', 7: h'31', 18: 205, 19: 0}
    assert.equal(Buffer.from(bytes).toString('hex'), 'a40244010203040741311218cd1300');
  });

  it('reads text, integer and byte tokens and keeps them apart', () => {
    const t = decodeMqttMessage(
      map([
        [1, 9],
        [2, 'abc'],
      ]),
    );
    const u = decodeMqttMessage(
      map([
        [1, 9],
        [2, 7],
      ]),
    );
    const b = decodeMqttMessage(
      map([
        [1, 9],
        [2, new Uint8Array([0x61, 0x62, 0x63])],
      ]),
    );
    assert.equal(t.token, 'abc');
    assert.equal(u.token, 7);
    assert.notEqual(tokenKey(t.token), tokenKey(b.token));
    assert.equal(tokenHex(t.token), tokenHex(b.token));
    assert.equal(tokenHex(b.token), '616263');
  });

  it('takes a text payload as its UTF-8 bytes', () => {
    const m = decodeMqttMessage(
      map([
        [1, 16],
        [2, TOKEN],
        [7, "0='x'"],
      ]),
    );
    assert.deepEqual(m.payload, new TextEncoder().encode("0='x'"));
  });

  it('reads float attributes and CBOR null as unset', () => {
    const m = decodeMqttMessage(
      map([
        [1, 14],
        [2, TOKEN],
        [14, new CborFloat(1.5)],
        [12, null],
      ]),
    );
    assert.equal(m.gt, 1.5);
    assert.equal(m.pmin, null);
  });

  it('ignores unknown keys (later revisions add keys)', () => {
    const m = decodeMqttMessage(
      map([
        [1, 9],
        [2, TOKEN],
        [99, 'future'],
        ['x', 1],
        [5, '/3/0'],
      ]),
    );
    assert.deepEqual(m, { operation: 9, token: TOKEN, uri: '/3/0' });
  });

  it('refuses what is not a valid map, with a typed reason', () => {
    assertMessageError(() => decodeMqttMessage(new Uint8Array([0xff])), 'not-cbor');
    assertMessageError(() => decodeMqttMessage(new Uint8Array(0)), 'not-cbor');
    assertMessageError(() => decodeMqttMessage(encodeCbor([1, 2])), 'not-a-map');
    assertMessageError(() => decodeMqttMessage(map([[1, 9]])), 'missing-token', MapKey.token);
    assertMessageError(() => decodeMqttMessage(map([[2, TOKEN]])), 'missing-kind');
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, 9],
            [2, TOKEN],
            [1, 9],
          ]),
        ),
      'duplicate-key',
      1,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, 9],
            [2, TOKEN],
            [18, 205],
          ]),
        ),
      'bad-value',
      18,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [2, TOKEN],
            [18, 302],
          ]),
        ),
      'bad-value',
      18,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, -1],
            [2, TOKEN],
          ]),
        ),
      'bad-value',
      1,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, 9],
            [2, new Uint8Array(0)],
          ]),
        ),
      'bad-value',
      2,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, 9],
            [2, TOKEN],
            [5, 3],
          ]),
        ),
      'bad-value',
      5,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, 9],
            [2, TOKEN],
            [22, 4],
          ]),
        ),
      'bad-value',
      22,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, 9],
            [2, TOKEN],
            [20, 2],
          ]),
        ),
      'bad-value',
      20,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, 9],
            [2, TOKEN],
            [15, -1],
          ]),
        ),
      'bad-value',
      15,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, 9],
            [2, TOKEN],
            [12, 1.5],
          ]),
        ),
      'bad-value',
      12,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, 9],
            [2, TOKEN],
            [19, 70000],
          ]),
        ),
      'bad-value',
      19,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, 6],
            [2, TOKEN],
            [3, 'e'.repeat(256)],
          ]),
        ),
      'bad-value',
      3,
    );
    assertMessageError(
      () =>
        decodeMqttMessage(
          map([
            [1, 9],
            [2, TOKEN],
          ]),
          { maxBytes: 4 },
        ),
      'too-large',
    );
  });

  it('lets only a Notify carry both operation and result', () => {
    const notify = decodeMqttMessage(
      map([
        [1, 23],
        [2, TOKEN],
        [18, 205],
      ]),
    );
    assert.equal(notify.result, 205);
  });

  it('refuses to encode what it would not decode', () => {
    assertMessageError(() => encodeMqttMessage({ token: TOKEN }), 'missing-kind');
    assertMessageError(() => encodeMqttMessage({ operation: 9, token: TOKEN, depth: 7 }), 'bad-value', 22);
    assertMessageError(
      () => encodeMqttMessage({ operation: 9, token: TOKEN, gt: Infinity }),
      'bad-value',
      14,
    );
  });

  it('never throws anything but MqttMessageError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeMqttMessage(bytes);
        } catch (e) {
          if (!(e instanceof MqttMessageError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but MqttMessageError on random maps with known keys', () => {
    const value: fc.Arbitrary<CborValue> = fc.oneof(
      fc.integer({ min: -5, max: 70000 }),
      fc.double().map((d) => new CborFloat(d)),
      fc.string({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 8 }),
      fc.constantFrom<CborValue>(null, true, false, undefined),
      fc.constant<CborValue>([1]),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 24 }), value), { maxLength: 10 }),
        (entries) => {
          let decoded: MqttMessage;
          try {
            decoded = decodeMqttMessage(map(entries));
          } catch (e) {
            if (!(e instanceof MqttMessageError)) throw e;
            return;
          }
          // What it accepts, it writes back to the same message.
          assert.deepEqual(decodeMqttMessage(encodeMqttMessage(decoded)), decoded);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
