// Fuzzing of the CoRE link format parsers (RFC 6690; LwM2M Core §6.2.1 Register/Update payloads,
// §5.4.2 and §6.2 Discover payloads) and of the attribute query parser (Write-Attributes, Core
// §5.4.4): parseLinkFormat, parseRegistrationPayload, parseDiscoverPayload, parseAttributeQuery.
// Mutation of a corpus of valid payloads (the real Register and Discover payloads of the captures,
// plus synthetic ones with quoting, escapes, alternate paths and the 1.0 form) and generation from
// a link-format grammar. Only LinkFormatError / LinkPayloadError / AttributeError may escape, no
// call takes over a second. Budget: 2.5 × PETREL_FUZZ_BUDGET inputs per kind and parser.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatLinkFormat, type Link } from '../../src/model/link-format.js';
import { readAllCaptures } from '../support/captures.js';
import {
  fuzzGenerated,
  fuzzMutations,
  inputsPerKind,
  utf8Bytes,
  FUZZ_TIMEOUT_MS,
} from '../support/fuzz-harness.js';
import { fuzzTarget } from '../support/fuzz-targets.js';
import { sharedDir } from '../support/shared.js';

const COUNT = inputsPerKind();

const SYNTHETIC_LINKS = [
  '</>;rt="oma.lwm2m";ct=110,</1>;ver=1.1,</1/0>,</3/0>,</3303/0>,</3303/1>',
  '</lwm2m>;rt="oma.lwm2m";ct="60 110 112 11542 11543 11544",</lwm2m/1/0>,</lwm2m/3/0>',
  'lwm2m="1.0",</0/0>,</1/0>;ssid=101,</3/0>',
  '</>;lwm2m=1.2,</0/1>;ssid=1;uri="coaps://[2001:db8::1]:5684",</1/1>;ssid=1',
  '</3/0/9>;pmin=1;pmax=5;gt=50.5;lt=-3.25;st=0.5;epmin=2;epmax=60;edge=1;con=0;hqmax=8',
  '</3/0/7>;dim=2,</3/0/7/0>,</3/0/7/1>',
  '<coap://h/x%20y>;title="a \\"quoted\\" \\\\ value";rel="a b";anchor="/x";if=core.s',
  '</3303/0>;obs,</3303/1>;ct=0;sz=1234',
  '</1>;ver=1.1,</1/0>,</1/1>,</42769/65534>',
];
const SYNTHETIC_QUERIES = [
  'pmin=1&pmax=5&gt=50',
  'pmin&pmax&gt&lt&st',
  'lt=-1.5&gt=10&st=0.25&epmin=1&epmax=90&edge=0&con=1&hqmax=32',
  'depth=2&pmin=0',
  'pmax=4294967295&pmin=0.0',
];

/** The Register, Update and Discover payloads of the captures, and the Uri-Query sets of Write-Attributes. */
function captured(): { links: string[]; queries: string[] } {
  const dir = sharedDir();
  if (!dir) return { links: [], queries: [] };
  const links = new Set<string>();
  const queries = new Set<string>();
  for (const { line } of readAllCaptures(dir)) {
    if (line.contentFormat === 40 && line.payloadLength && line.payloadText) links.add(line.payloadText);
    const query = (line.options ?? []).filter((o) => o.number === 15).map((o) => String(o.value));
    if (query.length > 0 && line.code === '0.03') queries.add(query.join('&'));
  }
  return { links: [...links], queries: [...queries] };
}

// ---- generation: the link-format grammar, with faults at every level ----

const digits = fc.nat({ max: 70_000 }).map(String);
const segment = fc.oneof(
  { weight: 6, arbitrary: digits },
  fc.constantFrom(
    '',
    'lwm2m',
    'rd',
    '..',
    '%20',
    '%zz',
    '%',
    '-1',
    '00',
    'x'.repeat(300),
    'é',
    '65535',
    '65536',
  ),
);
const target = fc.oneof(
  { weight: 6, arbitrary: fc.array(segment, { maxLength: 5 }).map((s) => `/${s.join('/')}`) },
  fc.constantFrom('', '/', '//', 'coap://h/x', '/lwm2m', '/lwm2m/3/0', '/3/0/>', '/3/"', '/\u0000'),
  fc.string({ maxLength: 12 }),
);
const paramName = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'ver',
      'ct',
      'rt',
      'lwm2m',
      'dim',
      'ssid',
      'uri',
      'pmin',
      'pmax',
      'gt',
      'lt',
      'st',
      'epmin',
      'epmax',
      'edge',
      'con',
      'hqmax',
      'obs',
      'title',
      'anchor',
    ),
  },
  fc.constantFrom('', 'x-y', '__proto__', 'constructor', 'title*', 'a.b', ' '),
  fc.string({ maxLength: 6 }),
);
const quoted = fc
  .oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom('oma.lwm2m', '60 110 112', 'coap://[::1]:5683', '\\"', '\\', '1.0', '1.2'),
  )
  .map((s) => `"${s}"`);
const paramValue = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(fc.integer().map(String), fc.double().map(String), digits) },
  { weight: 2, arbitrary: quoted },
  fc.constantFrom(
    '',
    '1.1',
    '1.2',
    '1.0',
    '9.9',
    '1e400',
    '-0',
    'NaN',
    'Infinity',
    '0x10',
    '"',
    '"unterminated',
  ),
  fc.string({ maxLength: 8 }),
);
const param = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(paramName, paramValue).map(([n, v]) => `;${n}=${v}`) },
  paramName.map((n) => `;${n}`),
);
const link = fc.tuple(target, fc.array(param, { maxLength: 5 })).map(([t, ps]) => `<${t}>${ps.join('')}`);
const separator = fc.oneof(
  { weight: 10, arbitrary: fc.constant(',') },
  fc.constantFrom('', ',,', ' , ', ';', '\n'),
);
const linkFormatText = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .tuple(fc.array(link, { maxLength: 12 }), fc.array(separator, { minLength: 12, maxLength: 12 }))
      .map(([links, seps]) => links.map((l, i) => (i === 0 ? l : `${seps[i]!}${l}`)).join('')),
  },
  fc.constantFrom('lwm2m="1.0",</0/0>', ';ver=1', ',', '<', '<>', '</>;', '</>;rt='),
  fc.string({ maxLength: 40 }),
);
const linkFormatBytes = fc.oneof(
  { weight: 9, arbitrary: linkFormatText.map(utf8Bytes) },
  fc.uint8Array({ maxLength: 64 }),
);

const queryItem = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(paramName, paramValue).map(([n, v]) => `${n}=${v}`) },
  paramName,
  fc.constantFrom('depth=3', '=', '==1', 'pmin=', 'pmin==1', 'gt=1=2'),
);
const queryBytes = fc.array(queryItem, { maxLength: 8 }).map((items) => utf8Bytes(items.join('&')));

// ---- the runs ----

describe(`link format and attribute query fuzzing (${COUNT} mutated + ${COUNT} generated inputs per parser)`, () => {
  const { links: capturedLinks, queries: capturedQueries } = captured();
  const linkCorpus = [...SYNTHETIC_LINKS, ...capturedLinks].map(utf8Bytes);
  const queryCorpus = [...SYNTHETIC_QUERIES, ...capturedQueries].map(utf8Bytes);
  const interesting = [0x3c, 0x3e, 0x3b, 0x2c, 0x3d, 0x22, 0x5c, 0x2f, 0x25, 0x00, 0x7f, 0xff, 0x20];

  const parsers = [
    { name: 'link-format', seed: 0x11f1 },
    { name: 'registration-payload', seed: 0x11f2 },
    { name: 'discover-payload', seed: 0x11f3 },
  ];
  for (const { name, seed } of parsers) {
    it(
      `${name}: mutated real and synthetic payloads (${linkCorpus.length} seeds)`,
      { timeout: FUZZ_TIMEOUT_MS },
      (t) => {
        const tally = fuzzMutations({
          target: fuzzTarget(name),
          corpus: linkCorpus,
          count: COUNT,
          seed,
          mutate: { interesting },
        });
        t.diagnostic(`${name} mutation: ${tally.summary()}`);
        assert.equal(tally.inputs, COUNT);
        assert.ok(tally.refused > 0 && tally.accepted > 0, 'mutants both pass and fail');
      },
    );
    it(`${name}: generated from the grammar`, { timeout: FUZZ_TIMEOUT_MS }, (t) => {
      const tally = fuzzGenerated({ target: fuzzTarget(name), arb: linkFormatBytes, count: COUNT, seed });
      t.diagnostic(`${name} generation: ${tally.summary()}`);
      assert.ok(tally.inputs >= COUNT);
      assert.ok(tally.accepted > 0, 'some generated payloads parse');
    });
  }

  it(
    'link-format: what parses formats back to text that parses to the same links',
    { timeout: FUZZ_TIMEOUT_MS },
    (t) => {
      const tally = fuzzGenerated({
        target: fuzzTarget('link-format'),
        arb: linkFormatText.map(utf8Bytes),
        count: Math.ceil(COUNT / 5),
        seed: 0x11f4,
        check: (result) => {
          const links = result as Link[];
          const again = fuzzTarget('link-format').call(utf8Bytes(formatLinkFormat(links))) as Link[];
          // Compared as JSON: a param value -0 (`gt=-0`) is written as 0, the same number.
          assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(links)));
        },
      });
      t.diagnostic(`link-format round trip: ${tally.summary()}`);
    },
  );

  it(`attribute-query: mutated queries (${queryCorpus.length} seeds)`, { timeout: FUZZ_TIMEOUT_MS }, (t) => {
    const tally = fuzzMutations({
      target: fuzzTarget('attribute-query'),
      corpus: queryCorpus,
      count: COUNT,
      seed: 0x11f5,
      mutate: { interesting: [0x26, 0x3d, 0x2e, 0x2d, 0x65, 0x30, 0x39, 0x00, 0xff] },
    });
    t.diagnostic(`attribute-query mutation: ${tally.summary()}`);
    assert.ok(tally.refused > 0 && tally.accepted > 0);
  });

  it('attribute-query: generated queries', { timeout: FUZZ_TIMEOUT_MS }, (t) => {
    const tally = fuzzGenerated({
      target: fuzzTarget('attribute-query'),
      arb: queryBytes,
      count: COUNT,
      seed: 0x11f6,
    });
    t.diagnostic(`attribute-query generation: ${tally.summary()}`);
    assert.ok(tally.refused > 0 && tally.accepted > 0);
  });
});
