// Mutation and generation fuzzing of the DDF reader (src/model/ddf-loader.ts, readDdf: OMA object
// definition XML, LWM2M.xsd / LWM2M-v1_1.xsd). Mutation works on the real OMA registry files
// (../shared/lwm2m-registry): a few whole, most compacted (license comment dropped, descriptions
// shortened, so the edits land on structure rather than prose), with XML tokens spliced in.
// Generation builds DDFs from their elements with values drawn from valid and hostile pools
// (ids past 65535, unknown types, broken ranges, entities and character references, CDATA,
// repeated or missing elements, nested objects, any letter case). Only DdfError may escape; no
// call takes over a second. Budget: 2.5 × PETREL_FUZZ_BUDGET inputs per kind.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  fuzzGenerated,
  fuzzMutations,
  inputsPerKind,
  utf8Bytes,
  FUZZ_TIMEOUT_MS,
} from '../support/fuzz-harness.js';
import { fuzzTarget } from '../support/fuzz-targets.js';
import { requireShared } from '../support/shared.js';

const COUNT = inputsPerKind();

/** A DDF without its license comment and with every description cut to a few words. */
function compact(xml: string): string {
  return xml
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<(Description\d?)>[\s\S]*?<\/\1>/g, (_m, tag: string) => `<${tag}>d</${tag}>`)
    .replace(/\n\s*\n/g, '\n');
}

/** Registry files in name order: the 12 smallest whole, up to 120 others compacted. */
function registryCorpus(dir: string): Uint8Array[] {
  const folder = join(dir, 'lwm2m-registry');
  const files = readdirSync(folder)
    .filter((f) => f.endsWith('.xml'))
    .sort()
    .map((f) => ({ f, size: statSync(join(folder, f)).size }));
  const whole = [...files].sort((a, b) => a.size - b.size).slice(0, 12);
  const others = files.filter((x) => !whole.includes(x)).slice(0, 120);
  return [
    ...whole.map(({ f }) => readFileSync(join(folder, f))),
    ...others.map(({ f }) => utf8Bytes(compact(readFileSync(join(folder, f), 'utf8')))),
  ].map((b) => new Uint8Array(b));
}

const XML_TOKENS = [
  '<',
  '>',
  '</Item>',
  '<Item ID="',
  '</Object>',
  '<Object ObjectType="MODefinition">',
  '&amp;',
  '&#x1F600;',
  '&#1114112;',
  '&bogus;',
  '<![CDATA[',
  ']]>',
  '<!DOCTYPE x [<!ENTITY a "b">]>',
  '<?xml version="1.0"?>',
  '"',
  '=',
  '/>',
  '<Type>',
  '<ObjectID>',
  '<RangeEnumeration>',
].map(utf8Bytes);

// ---- generation ----

const text = fc.oneof(
  fc.string({ maxLength: 8 }).map((s) => s.replace(/[<&]/g, '')),
  fc.constantFrom(
    '',
    ' ',
    '&amp;',
    '&lt;',
    '&#60;',
    '&#x10FFFF;',
    '&#x110000;',
    '&#0;',
    '&bad;',
    '<![CDATA[<x>]]>',
    'é',
  ),
);
const idText = fc.oneof(
  fc.nat({ max: 70_000 }).map(String),
  fc.constantFrom('', '-1', '65535', '65536', '1e3', '0x10', ' 3 ', '3.0', '99999999999999999999'),
);
const typeText = fc.oneof(
  fc.constantFrom(
    'String',
    'Integer',
    'Unsigned Integer',
    'Float',
    'Boolean',
    'Opaque',
    'Time',
    'Objlnk',
    'Corelnk',
    '',
  ),
  fc.constantFrom('integer', 'FLOAT', 'Int', 'Unsigned', 'objlnk ', 'none'),
);
const rangeText = fc.oneof(
  fc.tuple(fc.integer(), fc.integer()).map(([a, b]) => `${a}..${b}`),
  fc.array(fc.integer({ min: -5, max: 300 }).map(String), { maxLength: 4 }).map((xs) => xs.join(',')),
  fc.constantFrom(
    '',
    '0..',
    '..5',
    '1..2..3',
    'a..b',
    '-1e400..1e400',
    '0..18446744073709551616',
    '0-255',
    '1..0',
    '0..100 bytes',
    '"a","b"',
  ),
);
/** `<tag>value</tag>`, sometimes repeated, dropped, nested or in another case. */
function element(tag: string, value: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(value, fc.nat({ max: 19 }), fc.boolean()).map(([v, roll, upper]) => {
    const t = upper ? tag.toUpperCase() : tag;
    if (roll === 0) return '';
    if (roll === 1) return `<${t}>${v}</${t}><${t}>${v}</${t}>`;
    if (roll === 2) return `<${t}><x>${v}</x></${t}>`;
    if (roll === 3) return `<${t} a="1">${v}</${t}>`;
    return `<${t}>${v}</${t}>`;
  });
}
const item = fc
  .tuple(
    idText,
    fc.array(
      fc.oneof(
        element('Name', text),
        element('Operations', fc.constantFrom('R', 'W', 'RW', 'E', '', 'X', 'rw', 'RWE')),
        element('MultipleInstances', fc.constantFrom('Single', 'Multiple', '', 'Many')),
        element('Mandatory', fc.constantFrom('Mandatory', 'Optional', '', 'Yes')),
        element('Type', typeText),
        element('RangeEnumeration', rangeText),
        element('Units', text),
        element('Description', text),
      ),
      { maxLength: 9 },
    ),
  )
  .map(([id, children]) => `<Item ID="${id}">${children.join('')}</Item>`);
const object = fc
  .tuple(
    fc.constantFrom('MODefinition', 'modefinition', 'CommonResources', ''),
    fc.array(
      fc.oneof(
        element('Name', text),
        element('ObjectID', idText),
        element('ObjectURN', fc.constantFrom('urn:oma:lwm2m:oma:3', 'urn:oma:lwm2m:ext:3303:1.1', '', 'x')),
        element('LWM2MVersion', fc.constantFrom('1.0', '1.1', '1.2', '', '2', 'x')),
        element('ObjectVersion', fc.constantFrom('1.0', '1.1', '2.0', '', '1', 'v')),
        element('MultipleInstances', fc.constantFrom('Single', 'Multiple', '')),
        element('Mandatory', fc.constantFrom('Mandatory', 'Optional', '')),
      ),
      { maxLength: 8 },
    ),
    fc.array(item, { maxLength: 5 }),
    fc.boolean(),
  )
  .map(
    ([type, fields, items, withResources]) =>
      `<Object${type ? ` ObjectType="${type}"` : ''}>${fields.join('')}${withResources ? `<Resources>${items.join('')}</Resources>` : items.join('')}</Object>`,
  );
const ddf = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.boolean(),
        fc.constantFrom('LWM2M', 'lwm2m', 'LwM2M', 'Other'),
        fc.array(object, { minLength: 0, maxLength: 3 }),
      )
      .map(
        ([decl, root, objects]) =>
          `${decl ? '<?xml version="1.0" encoding="UTF-8"?>\n' : ''}<${root}>${objects.join('')}</${root}>`,
      ),
  },
  fc.string({ maxLength: 40 }),
);

describe(`DDF XML fuzzing (${COUNT} mutated + ${COUNT} generated files)`, () => {
  it('ddf-xml: mutated registry files', { timeout: FUZZ_TIMEOUT_MS }, (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const corpus = registryCorpus(dir);
    for (const seed of corpus) fuzzTarget('ddf-xml').call(seed);
    const tally = fuzzMutations({
      target: fuzzTarget('ddf-xml'),
      corpus,
      count: COUNT,
      seed: 0xdd01,
      mutate: {
        maxEdits: 4,
        interesting: [0x3c, 0x3e, 0x2f, 0x22, 0x26, 0x3d, 0x00, 0xff, 0x20, 0x30, 0x39],
        tokens: XML_TOKENS,
      },
    });
    t.diagnostic(`ddf-xml mutation (${corpus.length} files): ${tally.summary()}`);
    assert.equal(tally.inputs, COUNT);
    assert.ok(tally.accepted > 0 && tally.refused > 0);
  });

  it('ddf-xml: generated definitions', { timeout: FUZZ_TIMEOUT_MS }, (t) => {
    const tally = fuzzGenerated({
      target: fuzzTarget('ddf-xml'),
      arb: ddf.map(utf8Bytes),
      count: COUNT,
      seed: 0xdd02,
    });
    t.diagnostic(`ddf-xml generation: ${tally.summary()}`);
    assert.ok(tally.accepted > 0 && tally.refused > 0);
  });
});
