import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PetrelError } from '../../src/errors.js';
import {
  formatLinkFormat,
  LinkFormatError,
  linkParamValue,
  parseLinkFormat,
} from '../../src/model/link-format.js';
import type { Link, LinkFormatErrorReason, LinkParam } from '../../src/model/link-format.js';

// fast-check records have a null prototype by default; deepEqual compares prototypes.
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> =>
  fc.record(model, { noNullPrototype: true });

function fails(
  payload: string | Uint8Array,
  reason: LinkFormatErrorReason,
  offset?: number,
  opts = {},
): void {
  assert.throws(
    () => parseLinkFormat(payload, opts),
    (e: unknown) => {
      assert.ok(e instanceof LinkFormatError, `expected LinkFormatError, got ${String(e)}`);
      assert.ok(e instanceof PetrelError);
      assert.equal(e.code, 'PETREL_ERR_LINK_FORMAT');
      assert.equal(e.reason, reason, e.message);
      assert.equal(e.coapCode, '4.00');
      if (offset !== undefined) assert.equal(e.offset, offset, e.message);
      else assert.equal(typeof e.offset, 'number');
      return true;
    },
  );
}

describe('parseLinkFormat', () => {
  it('parses targets and typed LwM2M params', () => {
    const links = parseLinkFormat('</3/0>;ver=1.1;ct="110 112",</>;rt="oma.lwm2m"');
    assert.deepEqual(links, [
      {
        target: '/3/0',
        params: [
          { name: 'ver', value: '1.1' },
          { name: 'ct', value: [110, 112] },
        ],
      },
      { target: '/', params: [{ name: 'rt', value: 'oma.lwm2m' }] },
    ]);
  });

  it('types dim, ssid, uri, lwm2m, ct and the notification attributes', () => {
    const [a, b, c] = parseLinkFormat(
      '</3/0/7>;dim=2;pmin=10;pmax=60;gt=50;lt=-42.2;st=0.5;epmin=1;epmax=9;edge=1;con=0;hqmax=3,' +
        '</0/1>;ssid=1;uri="coap://127.0.0.1:5683",</>;lwm2m=1.2;ct=40',
    );
    assert.deepEqual(a?.params, [
      { name: 'dim', value: 2 },
      { name: 'pmin', value: 10 },
      { name: 'pmax', value: 60 },
      { name: 'gt', value: 50 },
      { name: 'lt', value: -42.2 },
      { name: 'st', value: 0.5 },
      { name: 'epmin', value: 1 },
      { name: 'epmax', value: 9 },
      { name: 'edge', value: 1 },
      { name: 'con', value: 0 },
      { name: 'hqmax', value: 3 },
    ]);
    assert.equal(linkParamValue(b!, 'ssid'), 1);
    assert.equal(linkParamValue(b!, 'uri'), 'coap://127.0.0.1:5683');
    assert.equal(linkParamValue(c!, 'lwm2m'), '1.2');
    assert.deepEqual(linkParamValue(c!, 'ct'), [40]);
    assert.equal(linkParamValue(c!, 'nope'), undefined);
  });

  it('accepts known params quoted as well as bare', () => {
    const [l] = parseLinkFormat('</1>;ver="1.1";ct="40";dim="3";pmin="5";rt=oma.lwm2m');
    assert.deepEqual(l?.params, [
      { name: 'ver', value: '1.1' },
      { name: 'ct', value: [40] },
      { name: 'dim', value: 3 },
      { name: 'pmin', value: 5 },
      { name: 'rt', value: 'oma.lwm2m' },
    ]);
  });

  it('keeps unknown params: value-less, tokens and unescaped quoted strings', () => {
    const [l] = parseLinkFormat(
      '</a>;obs;foo=bar;title="a, \\"b\\"; c\\\\d";x-y=1.5;title*=UTF-8\'\'%e2%82%ac',
    );
    assert.deepEqual(l?.params, [
      { name: 'obs', value: true },
      { name: 'foo', value: 'bar' },
      { name: 'title', value: 'a, "b"; c\\d' },
      { name: 'x-y', value: '1.5' },
      { name: 'title*', value: "UTF-8''%e2%82%ac" },
    ]);
  });

  it('treats names of Object.prototype members as plain unknown params', () => {
    const [l] = parseLinkFormat('</a>;constructor;toString=x;__proto__="y";hasOwnProperty');
    assert.deepEqual(l?.params, [
      { name: 'constructor', value: true },
      { name: 'toString', value: 'x' },
      { name: '__proto__', value: 'y' },
      { name: 'hasOwnProperty', value: true },
    ]);
  });

  it('handles commas and semicolons inside quoted strings', () => {
    const links = parseLinkFormat('</0/1>;uri="coap://h/x;y,z";ssid=2,</1/1>;ssid=2');
    assert.equal(links.length, 2);
    assert.equal(linkParamValue(links[0]!, 'uri'), 'coap://h/x;y,z');
    assert.equal(linkParamValue(links[0]!, 'ssid'), 2);
  });

  it('allows whitespace and newlines between links and params', () => {
    const links = parseLinkFormat('\r\n  </1/0> ;ver=1.1 ,\n\t</3/0>\n,</5>  \n');
    assert.deepEqual(
      links.map((l) => l.target),
      ['/1/0', '/3/0', '/5'],
    );
    assert.deepEqual(links[0]?.params, [{ name: 'ver', value: '1.1' }]);
  });

  it('returns no links for an empty or blank payload', () => {
    assert.deepEqual(parseLinkFormat(''), []);
    assert.deepEqual(parseLinkFormat(' \n'), []);
    assert.deepEqual(parseLinkFormat(new Uint8Array(0)), []);
  });

  it('reads UTF-8 bytes and refuses invalid UTF-8', () => {
    const bytes = new TextEncoder().encode('</a>;title="caf\u00e9"');
    assert.deepEqual(parseLinkFormat(bytes), [
      { target: '/a', params: [{ name: 'title', value: 'caf\u00e9' }] },
    ]);
    fails(new Uint8Array([0x3c, 0x2f, 0xff, 0x3e]), 'bad-utf8', 0);
  });

  it('keeps target percent-escapes and URI characters as they are', () => {
    assert.equal(
      parseLinkFormat('<coap://[::1]:5683/a%20b?x=1#f>')[0]?.target,
      'coap://[::1]:5683/a%20b?x=1#f',
    );
    assert.equal(parseLinkFormat('<>')[0]?.target, '');
  });

  it('reads the LwM2M 1.0 Bootstrap-Discover root form only when asked', () => {
    const links = parseLinkFormat('lwm2m="1.0",</0/0>', { legacyRootParams: true });
    assert.deepEqual(links, [
      { target: '/', params: [{ name: 'lwm2m', value: '1.0' }] },
      { target: '/0/0', params: [] },
    ]);
    fails('lwm2m="1.0",</0/0>', 'expected-link', 0);
    fails('lwm2m=1.0 x', 'unexpected-character', 10, { legacyRootParams: true });
  });

  it('names each syntax fault with its offset', () => {
    fails('</3/0', 'unterminated-target', 0);
    fails('</1>,</3/0', 'unterminated-target', 5);
    fails('</1>;title="abc', 'unterminated-quote', 11);
    fails('</1>;title="abc\\', 'unterminated-quote', 11);
    fails('</1>;title="a\u0001"', 'bad-character', 13);
    fails('</1>;title="a\\\n"', 'bad-character', 14);
    fails('</a b>', 'bad-target', 3);
    fails('</a"b>', 'bad-target', 3);
    fails('</a<b>', 'bad-target', 3);
    fails('</a%2>', 'bad-target', 3);
    fails('</a%zz>', 'bad-target', 3);
    fails('/3/0', 'expected-link', 0);
    fails('</1>,', 'expected-link', 5);
    fails('</1>,,</2>', 'expected-link', 5);
    fails('</1></2>', 'unexpected-character', 4);
    fails('</1>;', 'bad-param-name', 5);
    fails('</1>;=3', 'bad-param-name', 5);
    fails('</1>;a@b=3', 'unexpected-character', 6);
    fails('</1>;foo=', 'bad-param-value', 9);
    fails('</1>;foo=,</2>', 'bad-param-value', 9);
    fails('</1>;foo=a b', 'unexpected-character', 11);
    fails('</1>;foo="a"b', 'unexpected-character', 12);
  });

  it('refuses known params whose values do not fit their type', () => {
    const bad = [
      'ver=1',
      'ver=v1.1',
      'ver',
      'lwm2m=1.x',
      'dim=-1',
      'dim=65536',
      'dim=1.5',
      'ssid=0',
      'ssid=65535',
      'ct=abc',
      'ct=""',
      'ct="110,112"',
      'ct=70000',
      'pmin=-1',
      'pmin=1.5',
      'pmin',
      'gt=1e3',
      'gt=abc',
      'st=-1',
      'edge=2',
      'con=true',
      'rt',
    ];
    for (const p of bad)
      fails(`</3/0/5>;${p}`, 'bad-attribute-value', p.includes('=') ? 10 + p.indexOf('=') : 9);
    // The boundaries themselves are fine.
    const ok = parseLinkFormat('</3/0/5>;dim=0;ssid=1,</1>;dim=65535;ssid=65534;ct=65535');
    assert.equal(linkParamValue(ok[1]!, 'ssid'), 65534);
  });

  it('enforces the size and link-count limits', () => {
    fails('</1>,</2>,</3>', 'too-many-links', 10, { limits: { maxLinks: 2 } });
    assert.equal(parseLinkFormat('</1>,</2>', { limits: { maxLinks: 2 } }).length, 2);
    fails('</1>,</2>', 'too-large', 8, { limits: { maxLength: 8 } });
    fails(new Uint8Array(9).fill(0x20), 'too-large', 8, { limits: { maxLength: 8 } });
    assert.equal(parseLinkFormat('</1>,</22>', { limits: { maxLength: 10 } }).length, 2);
    // The default limit: 64 KiB.
    fails(' '.repeat(65537), 'too-large');
  });

  it('never throws anything but LinkFormatError on arbitrary input', () => {
    const alphabet = fc.constantFrom(...'<>/;,="\\ \n\t0123456789abcdegmptvrx.%-*\u0001\u00e9'.split(''));
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 60 }).map((a) => a.join('')),
        (text) => {
          try {
            const links = parseLinkFormat(text, { legacyRootParams: text.length % 2 === 0 });
            // Whatever parses, formats and parses back to the same links.
            assert.deepEqual(parseLinkFormat(formatLinkFormat(links)), links);
          } catch (e) {
            if (!(e instanceof LinkFormatError)) throw e;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('formatLinkFormat', () => {
  it('writes the canonical form', () => {
    const links: Link[] = [
      {
        target: '/',
        params: [
          { name: 'rt', value: 'oma.lwm2m' },
          { name: 'ct', value: [110, 112] },
        ],
      },
      { target: '/1', params: [{ name: 'ver', value: '1.1' }] },
      {
        target: '/0/1',
        params: [
          { name: 'ssid', value: 1 },
          { name: 'uri', value: 'coap://127.0.0.1:5683' },
        ],
      },
      {
        target: '/3/0/9',
        params: [
          { name: 'pmin', value: 1 },
          { name: 'gt', value: 50 },
          { name: 'lt', value: -0.5 },
          { name: 'ct', value: [40] },
        ],
      },
      {
        target: '/x',
        params: [
          { name: 'obs', value: true },
          { name: 'foo', value: 'bar' },
          { name: 'sp', value: 'a b' },
          { name: 'q', value: 'say "hi"\\' },
          { name: 'e', value: '' },
          { name: 'n', value: 1e21 },
        ],
      },
    ];
    assert.equal(
      formatLinkFormat(links),
      '</>;rt="oma.lwm2m";ct="110 112",</1>;ver=1.1,</0/1>;ssid=1;uri="coap://127.0.0.1:5683",' +
        '</3/0/9>;pmin=1;gt=50;lt=-0.5;ct=40,' +
        '</x>;obs;foo=bar;sp="a b";q="say \\"hi\\"\\\\";e="";n=1000000000000000000000',
    );
    assert.equal(formatLinkFormat([]), '');
  });

  it('refuses links it cannot write', () => {
    const bad: [Link, LinkFormatErrorReason][] = [
      [{ target: '/a b', params: [] }, 'bad-target'],
      [{ target: '/a>', params: [] }, 'bad-target'],
      [{ target: '/a%4', params: [] }, 'bad-target'],
      [{ target: '/a', params: [{ name: 'a b', value: true }] }, 'bad-param-name'],
      [{ target: '/a', params: [{ name: '', value: true }] }, 'bad-param-name'],
      [{ target: '/a', params: [{ name: 'x', value: 'a\nb' }] }, 'bad-character'],
      [{ target: '/a', params: [{ name: 'x', value: NaN }] }, 'bad-param-value'],
      [{ target: '/a', params: [{ name: 'ct', value: [Infinity] }] }, 'bad-param-value'],
      [{ target: '/a', params: [{ name: 'ct', value: [] }] }, 'bad-attribute-value'],
      [{ target: '/a', params: [{ name: 'ct', value: [1.5] }] }, 'bad-attribute-value'],
      [{ target: '/a', params: [{ name: 'ver', value: '1' }] }, 'bad-attribute-value'],
      [{ target: '/a', params: [{ name: 'ssid', value: 0 }] }, 'bad-attribute-value'],
      [{ target: '/a', params: [{ name: 'pmin', value: true }] }, 'bad-attribute-value'],
      [{ target: '/a', params: [{ name: 'edge', value: 2 }] }, 'bad-attribute-value'],
    ];
    for (const [link, reason] of bad)
      assert.throws(
        () => formatLinkFormat([link]),
        (e: unknown) => e instanceof LinkFormatError && e.reason === reason && e.offset === undefined,
        `${JSON.stringify(link)} should fail with ${reason}`,
      );
  });

  it('round-trips random links (property)', () => {
    const uriChar = fc.constantFrom(..."abcXYZ019-._~:/?#[]@!$&'()*+,;=".split(''));
    const target = fc.oneof(
      fc.array(uriChar, { maxLength: 12 }).map((a) => a.join('')),
      fc.array(fc.integer({ min: 0, max: 65534 }), { maxLength: 4 }).map((ids) => `/${ids.join('/')}`),
    );
    const name = fc
      .array(fc.constantFrom(...'abcxyz09!#$&+-.^_`|~'.split('')), { minLength: 1, maxLength: 8 })
      .map((a) => a.join(''))
      .filter((n) => !['ver', 'lwm2m', 'dim', 'ssid', 'uri', 'rt', 'if', 'anchor', 'title', 'ct'].includes(n))
      .filter(
        (n) => !['pmin', 'pmax', 'gt', 'lt', 'st', 'epmin', 'epmax', 'edge', 'con', 'hqmax'].includes(n),
      );
    const text = fc.string({ unit: fc.constantFrom(...'ab "\\,;=<>\u00e9\t 1.'.split('')), maxLength: 12 });
    const unknown: fc.Arbitrary<LinkParam> = rec({
      name,
      value: fc.oneof(text, fc.constant(true as const)),
    });
    const version = fc.tuple(fc.nat(99), fc.nat(99)).map(([a, b]) => `${a}.${b}`);
    const decimal = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e25, max: 1e25 });
    const known: fc.Arbitrary<LinkParam> = fc.oneof(
      rec({ name: fc.constantFrom('ver', 'lwm2m'), value: version }),
      rec({ name: fc.constant('dim'), value: fc.integer({ min: 0, max: 65535 }) }),
      rec({ name: fc.constant('ssid'), value: fc.integer({ min: 1, max: 65534 }) }),
      rec({ name: fc.constantFrom('uri', 'rt', 'title'), value: text }),
      rec({
        name: fc.constant('ct'),
        value: fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 1, maxLength: 4 }),
      }),
      rec({
        name: fc.constantFrom('pmin', 'pmax', 'epmin', 'epmax', 'hqmax'),
        value: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      }),
      rec({ name: fc.constantFrom('gt', 'lt'), value: decimal.map((d) => (Object.is(d, -0) ? 0 : d)) }),
      rec({ name: fc.constant('st'), value: decimal.map((d) => Math.abs(d)) }),
      rec({ name: fc.constantFrom('edge', 'con'), value: fc.constantFrom(0, 1) }),
    );
    const link: fc.Arbitrary<Link> = rec({
      target,
      params: fc.array(fc.oneof(unknown, known), { maxLength: 5 }),
    });
    fc.assert(
      fc.property(fc.array(link, { maxLength: 6 }), (links) => {
        const text = formatLinkFormat(links);
        assert.deepEqual(parseLinkFormat(text), links);
        // Canonical: formatting again gives the same text.
        assert.equal(formatLinkFormat(parseLinkFormat(text)), text);
      }),
      { numRuns: 500 },
    );
  });
});
