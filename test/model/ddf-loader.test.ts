import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DdfError,
  loadDdfDirectory,
  objectUrn,
  parseDdf,
  parseRangeEnumeration,
  readDdf,
  type LoadDdfResult,
} from '../../src/model/ddf-loader.js';
import type { ObjectDefinition } from '../../src/model/object-definition.js';
import { requireShared, sharedDir } from '../support/shared.js';

/** A minimal valid DDF around the given <Item> elements. */
function ddf(items: string, head = '<ObjectID>42</ObjectID>'): string {
  return `<?xml version="1.0"?><LWM2M><Object ObjectType="MODefinition"><Name>T</Name>${head}
    <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
    <Resources>${items}</Resources></Object></LWM2M>`;
}

function item(id: number | string, ops: string, type: string, extra = ''): string {
  return `<Item ID="${id}"><Name>R${id}</Name><Operations>${ops}</Operations>
    <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory><Type>${type}</Type>${extra}</Item>`;
}

function ddfError(reason: string, pattern?: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof DdfError, `expected DdfError, got ${String(e)}`);
    assert.equal(e.code, 'PETREL_ERR_DDF');
    assert.equal(e.reason, reason);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

describe('parseDdf', () => {
  it('reads the object header and its resources', () => {
    const [def] = parseDdf(
      `<LWM2M><Object ObjectType="MODefinition"><Name>Thing</Name><ObjectID>3</ObjectID>
        <ObjectURN>urn:oma:lwm2m:oma:3:1.2</ObjectURN><LWM2MVersion>1.1</LWM2MVersion>
        <ObjectVersion>1.2</ObjectVersion><MultipleInstances>Single</MultipleInstances>
        <Mandatory>Mandatory</Mandatory><Resources>
        ${item(11, 'R', 'Integer', '<RangeEnumeration>0..32</RangeEnumeration><Units></Units>')}
        ${item(4, 'E', '')}
        </Resources><Description2>ignored</Description2></Object></LWM2M>`,
      '3.xml',
    );
    assert.ok(def);
    assert.equal(def.id, 3);
    assert.equal(def.name, 'Thing');
    assert.equal(def.version, '1.2');
    assert.equal(def.lwm2mVersion, '1.1');
    assert.equal(def.urn, 'urn:oma:lwm2m:oma:3:1.2');
    assert.equal(def.multiple, false);
    assert.equal(def.mandatory, true);
    assert.deepEqual([...def.resources.keys()], [4, 11], 'resources come in id order');
    assert.deepEqual(def.resources.get(11), {
      id: 11,
      name: 'R11',
      operations: 'R',
      multiple: false,
      mandatory: false,
      type: 'integer',
      rangeText: '0..32',
      range: { min: 0, max: 32 },
    });
    assert.equal(def.resources.get(4)?.type, 'none');
  });

  it('tolerates messy real-world spelling', () => {
    const xml =
      '\uFEFF<?xml version="1.0"?>\n<LWM2M>\n  <Object ObjectType="MODefinition">\n' +
      '    <name>  Odd\n\t  Thing  </name>\n    <objectid> 10250 </objectid>\n' +
      '    <MultipleInstances> multiple </MultipleInstances><Mandatory>MANDATORY</Mandatory>\n' +
      '    <Resources>\n' +
      '      <Item ID=" 0 "><Name>A &amp; B</Name><Operations> rw </Operations>' +
      '<MultipleInstances>multiple</MultipleInstances><Mandatory>optional</Mandatory>' +
      '<Type>Unsigned  Integer</Type><RangeEnumeration> 0..255 </RangeEnumeration>' +
      '<Units>&#37;</Units><Description><![CDATA[stray <b>prose</b>]]></Description></Item>\n' +
      '      <Item ID="1"><Name>Go</Name><Operations>E</Operations><Type>String</Type></Item>\n' +
      '      <Item ID="2"><Name>Link</Name><Operations>R</Operations><Type>corelnk</Type></Item>\n' +
      '    </Resources>\n  </Object>\n</LWM2M>\n';
    const [def] = parseDdf(xml);
    assert.ok(def);
    assert.equal(def.id, 10250);
    assert.equal(def.name, 'Odd Thing');
    assert.equal(def.version, '1.0', 'ObjectVersion defaults to 1.0');
    assert.equal(def.lwm2mVersion, '1.0', 'LWM2MVersion defaults to 1.0');
    assert.equal(def.urn, 'urn:oma:lwm2m:x:10250', 'a missing URN is built from the id');
    assert.equal(def.multiple, true);
    assert.equal(def.mandatory, true);
    const r0 = def.resources.get(0);
    assert.equal(r0?.name, 'A & B');
    assert.equal(r0?.operations, 'RW');
    assert.equal(r0?.multiple, true);
    assert.equal(r0?.type, 'unsigned');
    assert.deepEqual(r0?.range, { min: 0, max: 255 });
    assert.equal(r0?.units, '%');
    // Missing MultipleInstances/Mandatory read as Single/Optional; an executable never has a value type.
    assert.deepEqual(def.resources.get(1), {
      id: 1,
      name: 'Go',
      operations: 'E',
      multiple: false,
      mandatory: false,
      type: 'none',
    });
    assert.equal(def.resources.get(2)?.type, 'corelnk');
  });

  it('returns every <Object> of a file', () => {
    const xml = `<LWM2M>
      <Object ObjectType="MODefinition"><ObjectID>1</ObjectID><ObjectVersion>1.1</ObjectVersion><Resources/></Object>
      <Object ObjectType="MODefinition"><ObjectID>2</ObjectID><Resources>${item(0, 'R', 'Objlnk')}</Resources></Object>
    </LWM2M>`;
    const defs = parseDdf(xml);
    assert.deepEqual(
      defs.map((d) => [d.id, d.version, d.urn, d.resources.size]),
      [
        [1, '1.1', 'urn:oma:lwm2m:oma:1:1.1', 0],
        [2, '1.0', 'urn:oma:lwm2m:oma:2', 1],
      ],
    );
  });

  it('reports files that are not object definitions as such', () => {
    const common = `<LWM2M><Object ObjectType="CommonResources"><Resources>${item(4000, 'R', 'Objlnk')}</Resources></Object></LWM2M>`;
    for (const [xml, why] of [
      [common, /CommonResources/],
      ['<DDFList><Item><ObjectID>0</ObjectID></Item></DDFList>', /root element is <ddflist>/],
      ['<units><registry id="senml-units"/></units>', /root element is <units>/],
      ['<LWM2M></LWM2M>', /no <Object>/],
    ] as const) {
      const read = readDdf(xml, 'x.xml');
      assert.equal(read.kind, 'not-object-definition');
      assert.match(read.kind === 'not-object-definition' ? read.reason : '', why);
      assert.throws(
        () => parseDdf(xml, 'x.xml'),
        ddfError('not-object-definition', /^x\.xml: not an object definition/),
      );
    }
  });

  it('names the file and the place of malformed XML', () => {
    assert.throws(
      () => parseDdf('<LWM2M><Object><ObjectID>3</ObjectID></LWM2M>', 'bad.xml'),
      ddfError('malformed-xml', /^bad\.xml: .*line 1/),
    );
    assert.throws(() => parseDdf('', 'empty.xml'), ddfError('malformed-xml', /^empty\.xml: /));
    assert.throws(() => parseDdf('not xml at all'), ddfError('malformed-xml'));
    assert.throws(() => parseDdf('<a>1</a><b>2</b>'), ddfError('malformed-xml', /root/));
    // Names that would pollute prototypes, and absurd nesting, are refused rather than crash.
    assert.throws(
      () => parseDdf('<LWM2M><Object><__proto__>1</__proto__></Object></LWM2M>'),
      ddfError('malformed-xml'),
    );
    const deep = `<LWM2M>${'<a>'.repeat(3000)}${'</a>'.repeat(3000)}</LWM2M>`;
    assert.throws(() => parseDdf(deep), ddfError('malformed-xml'));
  });

  it('refuses a definition without a usable ObjectID', () => {
    assert.throws(
      () => parseDdf(ddf(item(0, 'R', 'String'), ''), 'noid.xml'),
      ddfError('missing-element', /^noid\.xml: <Object> #1: <ObjectID> is missing/),
    );
    assert.throws(() => parseDdf(ddf('', '<ObjectID></ObjectID>')), ddfError('missing-element'));
    assert.throws(
      () => parseDdf(ddf('', '<ObjectID>three</ObjectID>')),
      ddfError('invalid-value', /"three"/),
    );
    assert.throws(
      () => parseDdf(ddf('', '<ObjectID>65535</ObjectID>')),
      ddfError('invalid-value', /0\.\.65534/),
    );
    assert.throws(
      () => parseDdf(ddf('', '<ObjectID>1</ObjectID><ObjectID>2</ObjectID>')),
      ddfError('duplicate'),
    );
    assert.throws(
      () => parseDdf(ddf('', '<ObjectID><x>1</x></ObjectID>')),
      ddfError('invalid-value', /must hold text/),
    );
  });

  it('names the resource at fault for bad resource fields', () => {
    assert.throws(
      () => parseDdf(ddf(item(7, 'R', 'Double')), 'f.xml'),
      ddfError('invalid-value', /^f\.xml: object 42 resource 7: <Type> "Double"/),
    );
    assert.throws(
      () => parseDdf(ddf(item(7, 'RWX', 'String'))),
      ddfError('invalid-value', /resource 7: <Operations> "RWX"/),
    );
    assert.throws(
      () => parseDdf(ddf(item(7, 'R', 'String').replace('>Single<', '>Many<'))),
      ddfError('invalid-value', /MultipleInstances/),
    );
    assert.throws(
      () => parseDdf(ddf(item(7, 'R', 'String').replace('>Optional<', '>Maybe<'))),
      ddfError('invalid-value', /Mandatory/),
    );
    assert.throws(() => parseDdf(ddf(item('', 'R', 'String'))), ddfError('missing-element', /ID attribute/));
    assert.throws(() => parseDdf(ddf(item(70000, 'R', 'String'))), ddfError('invalid-value'));
    assert.throws(
      () => parseDdf(ddf(item(1, 'R', 'String') + item(1, 'W', 'String'))),
      ddfError('duplicate', /resource 1 is defined twice/),
    );
    assert.throws(
      () => parseDdf(ddf('', '<ObjectID>5</ObjectID><ObjectVersion>v2</ObjectVersion>')),
      ddfError('invalid-value', /ObjectVersion/),
    );
  });

  it('throws nothing but DdfError on arbitrary or mangled input', () => {
    const sample = ddf(
      item(1, 'RW', 'Integer', '<RangeEnumeration>0..10</RangeEnumeration>') + item(2, 'E', ''),
    );
    const onlyDdfErrors = (xml: string): void => {
      try {
        parseDdf(xml);
      } catch (e) {
        if (!(e instanceof DdfError)) throw e;
      }
    };
    fc.assert(fc.property(fc.string({ maxLength: 200 }), onlyDdfErrors), { numRuns: 300 });
    fc.assert(
      fc.property(fc.nat(sample.length), fc.nat(sample.length), fc.string({ maxLength: 8 }), (a, b, junk) => {
        const [from, to] = a <= b ? [a, b] : [b, a];
        onlyDdfErrors(sample.slice(0, from) + junk + sample.slice(to));
      }),
      { numRuns: 400 },
    );
  });
});

describe('parseRangeEnumeration', () => {
  it('parses the numeric forms', () => {
    const cases: [string, Parameters<typeof parseRangeEnumeration>[1], unknown][] = [
      ['0..255', 'integer', { min: 0, max: 255 }],
      ['-100..100', 'integer', { min: -100, max: 100 }],
      ['1..65534', 'unsigned', { min: 1, max: 65534 }],
      ['1...15', 'integer', { min: 1, max: 15 }],
      ['0-50', 'integer', { min: 0, max: 50 }],
      ['-100.0..100.0', 'float', { min: -100, max: 100 }],
      ['0.000001..1.0', 'float', { min: 0.000001, max: 1 }],
      ['0..18446744073709551615', 'unsigned', { min: 0, max: 18446744073709551615n }],
      ['0,1,2', 'integer', { values: [0, 1, 2] }],
      ['5, 10, 15, 20', 'unsigned', { values: [5, 10, 15, 20] }],
      ['0: OFF 1: ON 255: STUCK', 'unsigned', { values: [0, 1, 255] }],
      // For text and bytes the numbers bound the length.
      ['0..255 bytes', 'string', { min: 0, max: 255, length: true }],
      ['1..64 Bytes', 'string', { min: 1, max: 64, length: true }],
      ['0..255', 'string', { min: 0, max: 255, length: true }],
      ['16,32,48', 'opaque', { values: [16, 32, 48], length: true }],
    ];
    for (const [text, type, expected] of cases)
      assert.deepEqual(parseRangeEnumeration(text, type), expected, text);
  });

  it('leaves ambiguous or free text unparsed', () => {
    const cases: [string, Parameters<typeof parseRangeEnumeration>[1]][] = [
      ['', 'integer'],
      ['255', 'integer'], // a maximum or an exact value? the registry uses both
      ['6', 'opaque'],
      ['2 bytes', 'integer'], // a storage size, not a value range
      ['8-Bits', 'integer'],
      ['0..3, 99', 'integer'],
      ['-30..-120', 'integer'], // reversed
      ['0..65535', 'boolean'],
      ['0..10', 'time'],
      ['-100.0..100.0', 'string'], // no length is negative or fractional
      ['ON;OFF', 'float'],
      ['The possible values are those listed in the LwM2M Core Specification', 'string'],
      ['1..2'.repeat(100), 'integer'],
    ];
    for (const [text, type] of cases) assert.equal(parseRangeEnumeration(text, type), undefined, text);
  });
});

describe('objectUrn', () => {
  it('builds the URN namespace from the id range and omits :1.0', () => {
    assert.equal(objectUrn(3), 'urn:oma:lwm2m:oma:3');
    assert.equal(objectUrn(3, '1.2'), 'urn:oma:lwm2m:oma:3:1.2');
    assert.equal(objectUrn(3303, '1.1'), 'urn:oma:lwm2m:ext:3303:1.1');
    assert.equal(objectUrn(10241), 'urn:oma:lwm2m:x:10241');
  });
});

describe('loadDdfDirectory', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'petrel-ddf-'));
    writeFileSync(join(dir, 'a.xml'), ddf(item(0, 'R', 'String'), '<ObjectID>40000</ObjectID>'));
    writeFileSync(join(dir, 'notes.txt'), 'not read');
    writeFileSync(join(dir, 'list.XML'), '<DDFList/>');
    mkdirSync(join(dir, 'old'));
    writeFileSync(
      join(dir, 'old', 'b.xml'),
      ddf('', '<ObjectID>40000</ObjectID><ObjectVersion>0.9</ObjectVersion>'),
    );
    mkdirSync(join(dir, 'broken'));
    writeFileSync(join(dir, 'broken', 'c.xml'), '<LWM2M><Object>');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the folder, skipping non-definitions and sub-folders', () => {
    const result = loadDdfDirectory(dir);
    assert.deepEqual(
      result.definitions.map((d) => [d.id, d.version]),
      [[40000, '1.0']],
    );
    assert.deepEqual(
      result.skipped.map((s) => s.file),
      ['list.XML'],
    );
    assert.match(result.skipped[0]?.reason ?? '', /^not an object definition/);
  });

  it('descends into sub-folders when recursive, and stops at a broken file', () => {
    assert.throws(
      () => loadDdfDirectory(dir, { recursive: true }),
      ddfError('malformed-xml', /^broken[\\/]c\.xml: /),
    );
    const result = loadDdfDirectory(dir, { recursive: true, onInvalid: 'skip' });
    assert.deepEqual(result.definitions.map((d) => d.version).sort(), ['0.9', '1.0']);
    assert.deepEqual(result.skipped.map((s) => s.file).sort(), [join('broken', 'c.xml'), 'list.XML']);
  });

  it('gives a DdfError for a missing folder', () => {
    assert.throws(() => loadDdfDirectory(join(dir, 'nope')), ddfError('io', /nope/));
  });
});

describe('the OMA registry', () => {
  let loaded: LoadDdfResult | undefined;
  let registry = '';
  const registryDefs = (): ObjectDefinition[] => loaded?.definitions ?? [];
  before(() => {
    const shared = sharedDir();
    if (!shared) return;
    registry = join(shared, 'lwm2m-registry');
    loaded = loadDdfDirectory(registry, { recursive: true });
  });
  const find = (id: number, version: string): ObjectDefinition => {
    const def = registryDefs().find((d) => d.id === id && d.version === version);
    assert.ok(def, `/${id} v${version} not loaded`);
    return def;
  };

  it('loads every file, version_history included', (t) => {
    if (!requireShared(t) || !loaded) return;
    const top = readdirSync(registry).filter((f) => f.endsWith('.xml'));
    const history = readdirSync(join(registry, 'version_history')).filter((f) => f.endsWith('.xml'));
    assert.deepEqual(loaded.skipped.map((s) => s.file).sort(), [
      'Common.xml',
      'DDF.xml',
      'LWM2M_senml_units.xml',
    ]);
    for (const s of loaded.skipped) assert.match(s.reason, /^not an object definition/);
    // One <Object> per file in this registry snapshot (commit b62ffc2c, 2024-02-22): 327 + 424.
    assert.equal(top.length, 330);
    assert.equal(history.length, 424);
    assert.equal(loaded.definitions.length, top.length - 3 + history.length);
    assert.equal(loaded.definitions.length, 751);
    // version_history/N-M_m.xml holds object N at version M.m.
    const fromNames = history.map((f) => f.replace(/^(\d+)-(\d+)_(\d+)\.xml$/, '$1@$2.$3')).sort();
    const historyDefs = loadDdfDirectory(join(registry, 'version_history')).definitions;
    assert.deepEqual(historyDefs.map((d) => `${d.id}@${d.version}`).sort(), fromNames);
  });

  it('holds the spot-checked facts', (t) => {
    if (!requireShared(t) || !loaded) return;
    const device = find(3, '1.2');
    assert.equal(device.multiple, false);
    assert.equal(device.mandatory, true);
    assert.deepEqual(
      (({ name, operations, multiple, mandatory, type }) => ({
        name,
        operations,
        multiple,
        mandatory,
        type,
      }))(device.resources.get(11)!),
      { name: 'Error Code', operations: 'R', multiple: true, mandatory: true, type: 'integer' },
    );
    assert.equal(device.resources.get(4)?.type, 'none');
    assert.equal(device.resources.get(4)?.operations, 'E');

    const server = find(1, '1.2');
    assert.deepEqual(
      [...server.resources.keys()],
      Array.from({ length: 28 }, (_, i) => i),
    );
    assert.equal(server.resources.get(13)?.type, 'unsigned');
    assert.equal(server.resources.get(13)?.operations, 'R');
    assert.equal(server.lwm2mVersion, '1.2');

    const security = find(0, '1.2');
    assert.equal(security.resources.get(5)?.type, 'opaque');
    assert.equal(security.resources.get(0)?.type, 'string');
    assert.deepEqual(security.resources.get(0)?.range, { min: 0, max: 255, length: true });
    assert.deepEqual(security.resources.get(10)?.range, { min: 1, max: 65534 });

    const firmware = find(5, '1.2');
    assert.equal(firmware.resources.get(3)?.rangeText, '0..3');
    assert.deepEqual(firmware.resources.get(3)?.range, { min: 0, max: 3 });
    assert.equal(firmware.resources.get(14)?.type, 'boolean');

    assert.equal(find(25, '2.0').resources.get(3)?.type, 'corelnk');
  });

  it('types every executable resource as none', (t) => {
    if (!requireShared(t) || !loaded) return;
    let executables = 0;
    for (const def of registryDefs()) {
      for (const r of def.resources.values()) {
        if (r.operations !== 'E') continue;
        executables++;
        assert.equal(r.type, 'none', `/${def.id} v${def.version} resource ${r.id}`);
      }
    }
    assert.ok(executables > 600, `only ${executables} executables`);
  });
});
