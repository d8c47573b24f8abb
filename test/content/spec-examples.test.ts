// The examples of LWM2M-1.2.md §2 (and the §1 payload examples), decoded to what the text says,
// and the ENC-1 payload-size figures of REQUIREMENTS.md reproduced under stated assumptions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { decodeCreatePayload } from '../../src/content/create-payload.js';
import { CborWriter } from '../../src/content/cbor/cbor-writer.js';
import { Value } from '../../src/model/data-types.js';
import { parseLinkFormat } from '../../src/model/link-format.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import { recordsToJson } from '../../src/model/records-json.js';
import { parseDiscoverPayload, parseRegistrationPayload } from '../../src/model/registration-payload.js';

const codecs = createCodecRegistry();
const model = createDefaultRegistry();
const at = (path: string) => ({ path: LwM2mPath.parse(path), model });
const utf8 = (s: string) => new TextEncoder().encode(s);
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** CBOR bytes built item by item, so each example is written as the spec shows it. */
function cbor(build: (w: CborWriter) => void): Uint8Array {
  const w = new CborWriter();
  build(w);
  return w.finish();
}

describe('LWM2M-1.2.md §2 examples', () => {
  it('§2.3 TLV: C8 00 14 "Open Mobile Alliance" is resource 0, a string', () => {
    const bytes = unhex('c80014' + Buffer.from('Open Mobile Alliance').toString('hex'));
    assert.deepEqual(recordsToJson(codecs.decode('tlv', bytes, at('/3/0'))), {
      '/3/0/0': 'Open Mobile Alliance',
    });
    assert.deepEqual(recordsToJson(codecs.decode('tlv', bytes, at('/3/0/0'))), {
      '/3/0/0': 'Open Mobile Alliance',
    });
  });

  it('§2.4 SenML: Read-Composite bodies and the base-name form', () => {
    const plain = codecs.decode(
      'senml-etch-json',
      utf8('[{"n":"/3/0/0"},{"n":"/3/0/9"},{"n":"/1/0/1"}]'),
      at('/'),
    );
    assert.deepEqual(
      plain.map((r) => [r.path.toString(), r.value]),
      [
        ['/3/0/0', undefined],
        ['/3/0/9', undefined],
        ['/1/0/1', undefined],
      ],
    );
    const based = codecs.decode(
      'senml-etch-json',
      utf8('[{"bn":"/4/0/","n":"0"},{"n":"1"},{"bn":"/6/","n":"0"}]'),
      at('/'),
    );
    assert.deepEqual(
      based.map((r) => r.path.toString()),
      ['/4/0/0', '/4/0/1', '/6/0'],
    );
    const all = codecs.decode('senml-etch-json', utf8('[{"n":"/"}]'), at('/'));
    assert.ok(all.length === 1 && all[0]!.path.isRoot());
  });

  it('§1.4 Send example', () => {
    const body = '[{"n":"/6/0/0","v":43.61092},{"n":"/6/0/1","v":3.87723},{"n":"/4/0/2","v":-49}]';
    assert.deepEqual(recordsToJson(codecs.decode('senml-json', utf8(body), at('/'))), {
      '/6/0/0': 43.61092,
      '/6/0/1': 3.87723,
      '/4/0/2': -49,
    });
  });

  it('§2.4 historical notification: same name, two times', () => {
    // /72 is not a core object: its values are typed from the payload.
    const body = '[{"bn":"/72/","bt":25462634,"n":"1/2","v":22.4,"t":-5},{"n":"1/2","v":22.9,"t":-30}]';
    const records = codecs.decode('senml-json', utf8(body), at('/'));
    assert.deepEqual(recordsToJson(records), {
      '/72/1/2': [
        { t: 25462629, v: 22.4 },
        { t: 25462604, v: 22.9 },
      ],
    });
    // The same history survives SenML CBOR.
    const again = codecs.decode('senml-cbor', codecs.encode('senml-cbor', records, at('/')), at('/'));
    assert.deepEqual(recordsToJson(again), recordsToJson(records));
  });

  it('§2.5 LwM2M CBOR: nested and array keys are equivalent', () => {
    const flat = cbor((w) => w.mapHeader(1).arrayHeader(3).int(3).int(0).int(0).text('Open Mobile Alliance'));
    const nested = cbor((w) =>
      w.mapHeader(1).int(3).mapHeader(1).int(0).mapHeader(1).int(0).text('Open Mobile Alliance'),
    );
    for (const bytes of [flat, nested])
      assert.deepEqual(recordsToJson(codecs.decode('lwm2m-cbor', bytes, at('/3/0/0'))), {
        '/3/0/0': 'Open Mobile Alliance',
      });
  });

  it('§2.5 LwM2M CBOR: multiple resource, instance (118 bytes), mixed-depth composite', () => {
    const multi = cbor((w) =>
      w.mapHeader(1).arrayHeader(3).int(3).int(0).int(6).mapHeader(2).int(0).int(1).int(1).int(5),
    );
    assert.deepEqual(recordsToJson(codecs.decode('lwm2m-cbor', multi, at('/3/0/6'))), {
      '/3/0/6/0': 1,
      '/3/0/6/1': 5,
    });
    const instance = {
      '/3/0/0': 'Open Mobile Alliance',
      '/3/0/1': 'Lightweight M2M Client',
      '/3/0/2': '345000123',
      '/3/0/3': '1.0',
      '/3/0/6/0': 1,
      '/3/0/6/1': 5,
      '/3/0/7/0': 3800,
      '/3/0/7/1': 5000,
      '/3/0/8/0': 125,
      '/3/0/8/1': 900,
      '/3/0/9': 100,
      '/3/0/10': 15,
      '/3/0/11/0': 0,
      '/3/0/13': 1367491215,
      '/3/0/14': '+02:00',
      '/3/0/16': 'U',
    };
    const records = Object.entries(instance).map(([p, v]) => {
      const path = LwM2mPath.parse(p);
      const type = model.resource(3, path.resourceId!)!.type;
      return {
        path,
        value:
          type === 'string'
            ? Value.string(v as string)
            : type === 'time'
              ? Value.time(v as number)
              : Value.integer(v as number),
      };
    });
    const bytes = codecs.encode('lwm2m-cbor', records, at('/3/0'));
    assert.equal(bytes.length, 118, 'the size the spec gives for this instance');
    assert.deepEqual(recordsToJson(codecs.decode('lwm2m-cbor', bytes, at('/3/0'))), instance);
    const composite = cbor((w) =>
      w
        .mapHeader(2)
        .arrayHeader(2)
        .int(3)
        .int(0)
        .mapHeader(2)
        .int(0)
        .text('Open Mobile Alliance')
        .int(9)
        .int(100)
        .arrayHeader(3)
        .int(1)
        .int(0)
        .int(1)
        .int(86400),
    );
    assert.deepEqual(recordsToJson(codecs.decode('lwm2m-cbor', composite, at('/'))), {
      '/3/0/0': 'Open Mobile Alliance',
      '/3/0/9': 100,
      '/1/0/1': 86400,
    });
  });

  it('§2.5 LwM2M CBOR: a whole /1 object, Create with instance key 65535, gateway prefix', () => {
    const object = cbor((w) => {
      w.mapHeader(1).int(1).mapHeader(1).int(0).mapHeader(7);
      w.int(0)
        .int(101)
        .int(1)
        .int(86400)
        .int(2)
        .int(300)
        .int(3)
        .int(6000)
        .int(5)
        .int(86400)
        .int(6)
        .bool(true)
        .int(7)
        .text('U');
    });
    assert.deepEqual(recordsToJson(codecs.decode('lwm2m-cbor', object, at('/1'))), {
      '/1/0/0': 101,
      '/1/0/1': 86400,
      '/1/0/2': 300,
      '/1/0/3': 6000,
      '/1/0/5': 86400,
      '/1/0/6': true,
      '/1/0/7': 'U',
    });
    const create = cbor((w) =>
      w.mapHeader(1).arrayHeader(2).int(1).int(65535).mapHeader(2).int(0).int(7).int(1).int(60),
    );
    const [instance] = decodeCreatePayload(codecs, 'lwm2m-cbor', create, at('/1'));
    assert.equal(instance!.instanceId, undefined, '65535: the client assigns the id');
    assert.deepEqual(recordsToJson(instance!.resources), { '/0': 7, '/1': 60 });
    const gateway = cbor((w) =>
      w
        .mapHeader(1)
        .arrayHeader(3)
        .text('d01')
        .int(3)
        .int(0)
        .mapHeader(2)
        .int(0)
        .text('Company A')
        .int(9)
        .int(100),
    );
    assert.deepEqual(recordsToJson(codecs.decode('lwm2m-cbor', gateway, at('/'))), {
      '/d01/3/0/0': 'Company A',
      '/d01/3/0/9': 100,
    });
  });

  it('§1.2 Register payloads: object list, root ct, alternate path, versions', () => {
    const list = parseRegistrationPayload('</1/0>,</1/1>,</2/0>,</3/0>,</4/0>,</5>');
    assert.deepEqual(
      list.objects.map((o) => [o.id, [...o.instances]]),
      [
        [1, [0, 1]],
        [2, [0]],
        [3, [0]],
        [4, [0]],
        [5, []],
      ],
    );
    assert.deepEqual(
      parseRegistrationPayload('</>;ct="110 112 11544",</1/0>').contentFormats,
      [110, 112, 11544],
    );
    const alt = parseRegistrationPayload('</lwm2m>;rt="oma.lwm2m",</lwm2m/1/0>,</lwm2m/3/0>');
    assert.equal(alt.alternatePath, '/lwm2m');
    assert.deepEqual(
      alt.objects.map((o) => o.id),
      [1, 3],
    );
    const versions = parseRegistrationPayload('</1>;ver=1.0,</1/0>,</3/0>,</44/0>;ver=2.2');
    assert.deepEqual(
      versions.objects.map((o) => [o.id, o.version]),
      [
        [1, '1.0'],
        [3, undefined],
        [44, '2.2'],
      ],
    );
  });

  it('§1.3 Discover and §1.1 Bootstrap-Discover examples', () => {
    const discover = parseDiscoverPayload(
      '</3/0/7>;dim=2;pmin=10;pmax=60;gt=50;lt=42.2,</3/0/7/0>,</3/0/7/1>;lt=45',
    );
    assert.equal(discover[0]!.path.toString(), '/3/0/7');
    assert.equal(discover[0]!.dim, 2);
    assert.deepEqual(discover[0]!.attributes, { pmin: 10, pmax: 60, gt: 50, lt: 42.2 });
    assert.deepEqual(discover[2]!.attributes, { lt: 45 });
    const bs = parseDiscoverPayload(
      '</>;lwm2m=1.2,</0/0>;ssid=101;uri="coaps://s1.example.com",</0/1>,</1/0>;ssid=101,</3/0>,</5>,</55>;ver=1.9,</55/0>',
    );
    assert.equal(bs[0]!.lwm2m, '1.2');
    assert.equal(bs[1]!.ssid, 101);
    assert.equal(bs[1]!.uri, 'coaps://s1.example.com');
    assert.equal(bs.find((e) => e.path.toString() === '/55')!.version, '1.9');
    assert.equal(parseLinkFormat('</0/0>;uri="coap://a,b;c"')[0]!.params[0]!.value, 'coap://a,b;c');
  });
});

describe('REQUIREMENTS.md ENC-1 payload sizes', () => {
  // The figures: plain text 3 or 5 bytes; SenML JSON 24 or 26; SenML CBOR 7 or 14; TLV 3 or 6, for
  // the values 123 and 12.34. Assumptions that reproduce them, and what our encoders write.
  const int = { path: LwM2mPath.of(3, 0, 9), value: Value.integer(123) }; // an Integer, 8-bit resource id
  const flt = { path: LwM2mPath.of(6, 0, 0), value: Value.float(12.34) }; // a Float, 8-bit resource id
  const size = (format: string, r: typeof int) => codecs.encode(format, [r], at(r.path.toString())).length;

  it('plain text: 3 and 5 bytes, as stated', () => {
    assert.equal(size('text', int), 3);
    assert.equal(size('text', flt), 5);
  });

  it('SenML JSON: 24 and 26 bytes with the record name "/3/0/9" (or any 6-character name)', () => {
    assert.equal(size('senml-json', int), 24);
    assert.equal(size('senml-json', flt), 26);
  });

  it('SenML CBOR: 7 and 14 bytes with an empty record name and a double; our packs carry the name', () => {
    // Ours: 13 and 20 bytes, i.e. the figures plus the 6 bytes of "/3/0/9". 12.34 has no exact
    // half or single float, so it is a 9-byte double either way.
    assert.equal(size('senml-cbor', int), 13);
    assert.equal(size('senml-cbor', flt), 20);
    const emptyName = (v: (w: CborWriter) => void) =>
      cbor((w) => v(w.arrayHeader(1).mapHeader(2).int(0).text('').int(2))).length;
    assert.equal(
      emptyName((w) => w.int(123)),
      7,
    );
    assert.equal(
      emptyName((w) => w.float(12.34)),
      14,
    );
  });

  it('TLV: 3 bytes for 123; 6 bytes for 12.34 as a 32-bit float, 11 as the exact 64-bit one', () => {
    assert.equal(size('tlv', int), 3);
    // Our encoder keeps 12.34 exact: a 64-bit float needs an 8-bit length field (1 + 1 + 1 + 8).
    assert.equal(size('tlv', flt), 11);
    // The figure 6 assumes a device that stores Float as 32 bits: type byte, id, 4 bytes.
    const f32 = { path: flt.path, value: Value.float(Math.fround(12.34)) };
    assert.equal(size('tlv', f32), 6);
    const back = codecs.decode('tlv', codecs.encode('tlv', [f32], at('/6/0/0')), at('/6/0/0'));
    assert.equal(back[0]!.value!.value, Math.fround(12.34));
  });

  it('and the 1.2 formats: CBOR (60) 2 and 9 bytes, LwM2M CBOR 7 and 14 bytes', () => {
    assert.equal(size('cbor', int), 2);
    assert.equal(size('cbor', flt), 9);
    assert.equal(size('lwm2m-cbor', int), 7); // a1 83 03 00 09 18 7b
    assert.equal(size('lwm2m-cbor', flt), 14);
  });
});
