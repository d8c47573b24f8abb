// Big hostile inputs for every byte parser: deep nesting, thousands of items, long strings and
// numbers, lengths at the edges of the limits. Random mutation and generation stay small, so the
// inputs whose cost grows with their size come from here: each must be refused with the parser's
// typed error or parsed, within the hang guard (1 s). This is how the LwM2M JSON deep-nesting
// slowdown (test/fuzz/regressions/lwm2m-json-deep-nesting.json) was found.
import { describe, it } from 'node:test';
import { FuzzTally, fuzzOne, utf8Bytes } from '../support/fuzz-harness.js';
import { fuzzTarget } from '../support/fuzz-targets.js';

const text = (s: string): Uint8Array => utf8Bytes(s);
const fill = (n: number, byte: number): Uint8Array => new Uint8Array(n).fill(byte);
const nested = (open: string, close: string, n: number, head = '', tail = ''): Uint8Array =>
  text(`${head}${open.repeat(n)}${close.repeat(n)}${tail}`);

/** [target, description, input, arg] */
const CASES: [string, string, () => Uint8Array, string?][] = [
  ['content:lwm2m-json', '10^6 nested arrays in "e"', () => nested('[', ']', 1_000_000, '{"e":', '}'), '/'],
  ['content:lwm2m-json', '10^6 nested objects', () => nested('{"a":', '}', 200_000), '/'],
  [
    'content:lwm2m-json',
    '20 000 entries',
    () =>
      text(
        `{"bn":"/3/0/","e":[${Array.from({ length: 20_000 }, (_, i) => `{"n":"7/${i}","v":${i}}`).join(',')}]}`,
      ),
    '/3/0',
  ],
  [
    'content:lwm2m-json',
    'a 1 MB string value',
    () => text(`{"e":[{"n":"/3/0/0","sv":"${'x'.repeat(1_000_000)}"}]}`),
    '/',
  ],
  ['content:senml-json', '10^6 nested arrays', () => nested('[', ']', 1_000_000), '/'],
  [
    'content:senml-json',
    '30 000 records',
    () => text(`[${Array.from({ length: 30_000 }, (_, i) => `{"n":"/3/0/7/${i}","v":${i}}`).join(',')}]`),
    '/',
  ],
  ['content:senml-json', 'a 1 MB number', () => text(`[{"n":"/3/0/9","v":${'9'.repeat(1_000_000)}}]`), '/'],
  ['content:senml-etch-json', '10^6 nested objects', () => nested('{"n":', '}', 300_000, '[', ']'), '/'],
  ['content:senml-cbor', '10^6 nested arrays', () => fill(1_000_000, 0x81), '/'],
  [
    'content:senml-cbor',
    'an array announcing 2^64-1 items',
    () => Uint8Array.of(0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
    '/',
  ],
  ['content:senml-cbor', '10^5 indefinite arrays', () => fill(100_000, 0x9f), '/'],
  ['content:lwm2m-cbor', '10^6 nested maps', () => fill(1_000_000, 0xa1), '/'],
  [
    'content:lwm2m-cbor',
    'a map announcing 2^32 pairs',
    () => Uint8Array.of(0xba, 0xff, 0xff, 0xff, 0xff),
    '/',
  ],
  [
    'content:cbor',
    'a text announcing 2^63 bytes',
    () => Uint8Array.of(0x7b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
    '/3/0/0',
  ],
  [
    'content:tlv',
    '60 000 zero-length resources',
    () => fill(120_000, 0xc0).map((b, i) => (i % 2 === 0 ? b : i & 0xff)),
    '/3/0',
  ],
  [
    'content:tlv',
    'a 24-bit length past the input',
    () => Uint8Array.of(0xd8, 0x00, 0xff, 0xff, 0xff),
    '/3/0',
  ],
  [
    'content:tlv',
    '10^4 nested instances',
    () => {
      // Each level an object instance (0x08 id, 16-bit length) holding the next.
      const out: number[] = [];
      for (let d = 0; d < 10_000; d++) out.push(0x10, 0, 0xff, 0xff);
      return Uint8Array.from(out);
    },
    '/3',
  ],
  ['link-format', '4096 links', () => text('</3/0>,'.repeat(4096).slice(0, -1))],
  ['link-format', '16 000 params on one link', () => text(`</3>${';a=1'.repeat(16_000)}`)],
  ['link-format', 'a 65 KB target', () => text(`<${'/'.repeat(65_000)}>`)],
  ['link-format', '30 000 escapes in a quoted value', () => text(`</3>;t="${'\\"'.repeat(30_000)}"`)],
  ['link-format', '10^6 bytes (past the 64 KiB limit)', () => text('</3/0>,'.repeat(150_000))],
  [
    'registration-payload',
    '4096 instance links',
    () => text(Array.from({ length: 4096 }, (_, i) => `</3303/${i}>`).join(',')),
  ],
  [
    'discover-payload',
    '4000 resource links with attributes',
    () => text(Array.from({ length: 4000 }, (_, i) => `</3/0/${i}>;dim=2;pmin=1;gt=5.5`).join(',')),
  ],
  ['attribute-query', 'a 100 000-digit value', () => text(`pmin=${'9'.repeat(100_000)}`)],
  [
    'attribute-query',
    '10 000 items',
    () => text(Array.from({ length: 10_000 }, (_, i) => `x${i}=1`).join('&')),
  ],
  [
    'coap-udp',
    '70 000 bytes of option headers',
    () => fill(70_000, 0xd0).map((b, i) => (i < 4 ? [0x40, 1, 0, 1][i]! : b)),
  ],
  [
    'coap-udp',
    '20 000 one-byte options',
    () => Uint8Array.from([0x40, 1, 0, 1, ...new Array<number>(20_000).fill(0x01).flatMap((b) => [0x01, b])]),
  ],
  ['coap-tcp', 'a frame announcing 4 GiB', () => Uint8Array.of(0xf0, 0xff, 0xff, 0xff, 0xff, 0x01)],
  ['coap-tcp-stream', '10^5 empty frames', () => fill(200_000, 0x00).map((b, i) => (i % 2 === 1 ? 0xe2 : b))],
  [
    'dtls-datagram',
    '5000 empty records',
    () =>
      Uint8Array.from(
        new Array(5000).fill([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]).flat() as number[],
      ),
  ],
  [
    'dtls-datagram',
    '1500 one-byte handshake fragments of a 16 MB message',
    () => {
      const frags: number[] = [];
      for (let i = 0; i < 1500; i++)
        frags.push(1, 0xff, 0xff, 0xff, 0, 0, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0, 0, 1, 0x41);
      return Uint8Array.from([
        22,
        0xfe,
        0xfd,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        (frags.length >> 8) & 0xff,
        frags.length & 0xff,
        ...frags,
      ]);
    },
  ],
  ['mqtt-map', '10^6 nested arrays', () => fill(1_000_000, 0x81)],
  [
    'mqtt-map',
    'a map of 200 000 pairs',
    () => Uint8Array.from([0xba, 0, 3, 0x0d, 0x40, ...new Array<number>(400_000).fill(0)]),
  ],
  [
    'ddf-xml',
    '200 000 nested elements',
    () => nested('<a>', '</a>', 200_000, '<LWM2M><Object ObjectType="MODefinition">', '</Object></LWM2M>'),
  ],
  [
    'ddf-xml',
    '6000 resources (250 KB, the size of the registry DDF.xml index)',
    () =>
      text(
        `<LWM2M><Object ObjectType="MODefinition"><Name>x</Name><ObjectID>42769</ObjectID><Resources>${Array.from({ length: 6000 }, (_, i) => `<Item ID="${i}"><Name>r</Name><Type>Integer</Type></Item>`).join('')}</Resources></Object></LWM2M>`,
      ),
  ],
  [
    'ddf-xml',
    '20 000 character references',
    () =>
      text(
        `<LWM2M><Object><Name>${'&#x1F600;'.repeat(20_000)}</Name><ObjectID>5</ObjectID></Object></LWM2M>`,
      ),
  ],
];

describe(`large inputs (${CASES.length} cases, each within the 1 s hang guard)`, () => {
  for (const [name, what, build, arg] of CASES)
    it(`${name}: ${what}`, (t) => {
      const tally = new FuzzTally();
      const input = build();
      fuzzOne(fuzzTarget(name), tally, input, arg, `(${what})`);
      t.diagnostic(
        `${input.length} bytes: ${tally.accepted === 1 ? 'parsed' : `refused (${[...tally.reasons.keys()].join()})`} in ${tally.slowestMs.toFixed(1)} ms`,
      );
    });
});
