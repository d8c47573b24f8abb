import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Extension, HelloSide } from '../../src/dtls/extensions.js';
import {
  ExtensionType,
  decodeExtension,
  decodeExtensions,
  encodeExtension,
  encodeExtensions,
  findExtension,
  parseExtensions,
} from '../../src/dtls/extensions.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const norm = (e: Extension) =>
  JSON.parse(JSON.stringify(e, (_k, v: unknown) => (v instanceof Uint8Array ? hex(v) : v))) as unknown;

const cases: [Extension, HelloSide, string][] = [
  [
    { type: 'server_name', hostNames: ['lwm2m.example'] },
    'client',
    '0000' + '0012' + '0010' + '00' + '000d' + hex(Buffer.from('lwm2m.example')),
  ],
  [{ type: 'server_name', hostNames: [] }, 'server', '0000' + '0000'],
  [{ type: 'max_fragment_length', code: 2 }, 'client', '0001000102'],
  [{ type: 'supported_groups', groups: [23] }, 'client', '000a' + '0004' + '0002' + '0017'],
  [{ type: 'ec_point_formats', formats: [0] }, 'server', '000b' + '0002' + '0100'],
  [
    { type: 'signature_algorithms', schemes: [0x0403, 0x0804] },
    'client',
    '000d' + '0006' + '0004' + '04030804',
  ],
  [{ type: 'client_certificate_type', types: [2, 0] }, 'client', '0013' + '0003' + '02' + '0200'],
  [{ type: 'server_certificate_type', types: [2] }, 'server', '0014' + '0001' + '02'],
  [{ type: 'extended_master_secret' }, 'client', '0017' + '0000'],
  [{ type: 'record_size_limit', limit: 1024 }, 'client', '001c' + '0002' + '0400'],
  [{ type: 'session_ticket', ticket: Uint8Array.of(1, 2) }, 'client', '0023' + '0002' + '0102'],
  [{ type: 'connection_id', cid: Uint8Array.of(0xaa, 0xbb) }, 'server', '0036' + '0003' + '02aabb'],
  [{ type: 'connection_id', cid: new Uint8Array(0) }, 'client', '0036' + '0001' + '00'],
  [
    { type: 'renegotiation_info', renegotiatedConnection: new Uint8Array(0) },
    'server',
    'ff01' + '0001' + '00',
  ],
  [{ type: 'unknown', code: 0x1234, data: Uint8Array.of(9) }, 'client', '1234' + '0001' + '09'],
];

describe('hello extensions', () => {
  for (const [ext, side, wire] of cases)
    it(`${ext.type} (${side}) encodes to ${wire} and back`, () => {
      const raw = encodeExtension(ext, side);
      assert.equal(hex(encodeExtensions([raw])), wire);
      const [parsed] = parseExtensions(Uint8Array.from(Buffer.from(wire, 'hex')));
      assert.deepEqual(norm(decodeExtension(parsed!, side)), norm(ext));
    });

  it('refuses duplicate extensions, bad lengths and record_size_limit below 64', () => {
    assert.throws(() => parseExtensions(Buffer.from('00170000' + '00170000', 'hex')), {
      reason: 'duplicate-extension',
    });
    assert.throws(() => parseExtensions(Buffer.from('001700', 'hex')), { reason: 'truncated' });
    const bad =
      (type: number, data: string, side: HelloSide = 'client') =>
      () =>
        decodeExtension({ type, data: Buffer.from(data, 'hex') }, side);
    assert.throws(bad(ExtensionType.record_size_limit, '003f'), { reason: 'malformed' });
    assert.throws(bad(ExtensionType.supported_groups, '0003001700'), { reason: 'malformed' });
    assert.throws(bad(ExtensionType.extended_master_secret, '00'), { reason: 'malformed' });
    assert.throws(bad(ExtensionType.connection_id, '05aa'), { reason: 'truncated' });
    assert.throws(bad(ExtensionType.ec_point_formats, '00'), { reason: 'malformed' });
    const many = Buffer.concat(Array.from({ length: 65 }, (_, i) => Buffer.from([0x10, i, 0, 0])));
    assert.throws(() => parseExtensions(many), { reason: 'too-many' });
  });

  it('finds a typed extension in a decoded list', () => {
    const list = decodeExtensions(
      [
        { type: 23, data: new Uint8Array(0) },
        { type: 54, data: Uint8Array.of(1, 7) },
      ],
      'client',
    );
    assert.equal(hex(findExtension(list, 'connection_id')!.cid), '07');
    assert.equal(findExtension(list, 'server_name'), undefined);
  });
});
