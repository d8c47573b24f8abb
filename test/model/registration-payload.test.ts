import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatLinkFormat, LinkFormatError, parseLinkFormat } from '../../src/model/link-format.js';
import { LwM2mPath } from '../../src/model/path.js';
import {
  formatDiscoverPayload,
  formatRegistrationPayload,
  LinkPayloadError,
  parseDiscoverPayload,
  parseRegistrationPayload,
} from '../../src/model/registration-payload.js';
import type {
  DiscoverEntry,
  LinkPayloadErrorReason,
  RegistrationPayloadInput,
} from '../../src/model/registration-payload.js';
import { readAllCaptures, type CaptureLine } from '../support/captures.js';
import { requireShared } from '../support/shared.js';

function rejects(payload: string, reason: LinkPayloadErrorReason, target?: string): void {
  assert.throws(
    () => parseRegistrationPayload(payload),
    (e: unknown) => {
      assert.ok(e instanceof LinkPayloadError, `expected LinkPayloadError, got ${String(e)}`);
      assert.equal(e.code, 'PETREL_ERR_LINK_PAYLOAD');
      assert.equal(e.coapCode, '4.00');
      assert.equal(e.reason, reason, e.message);
      if (target !== undefined) assert.equal(e.target, target);
      return true;
    },
  );
}

describe('parseRegistrationPayload', () => {
  it('reads root link, content formats, versions and instances', () => {
    const reg = parseRegistrationPayload(
      '</>;rt="oma.lwm2m";ct="110 112 11544",</3/0>,</1>;ver=1.1,</1/1>,</1/0>,</5>,</44/0>;ver=2.2',
    );
    assert.equal(reg.alternatePath, undefined);
    assert.deepEqual(reg.contentFormats, [110, 112, 11544]);
    assert.deepEqual(reg.objects, [
      { id: 1, version: '1.1', instances: [0, 1] },
      { id: 3, version: undefined, instances: [0] },
      { id: 5, version: undefined, instances: [] },
      { id: 44, version: '2.2', instances: [0] },
    ]);
    assert.equal(reg.links.length, 7);
  });

  it('reads a root link without rt, and no root link at all', () => {
    assert.deepEqual(parseRegistrationPayload('</>;ct=110,</3/0>').contentFormats, [110]);
    const none = parseRegistrationPayload('</3/0>');
    assert.equal(none.contentFormats, undefined);
    assert.equal(none.alternatePath, undefined);
    assert.deepEqual(parseRegistrationPayload('').objects, []);
  });

  it('strips the alternate path', () => {
    const reg = parseRegistrationPayload(
      '</lwm2m>;rt="oma.lwm2m";ct=11543,</lwm2m/1/0>,</lwm2m/3/0>,</lwm2m/5>;ver=1.1',
    );
    assert.equal(reg.alternatePath, '/lwm2m');
    assert.deepEqual(reg.contentFormats, [11543]);
    assert.deepEqual(reg.objects, [
      { id: 1, version: undefined, instances: [0] },
      { id: 3, version: undefined, instances: [0] },
      { id: 5, version: '1.1', instances: [] },
    ]);
    // A multi-segment alternate path, listed after some of its links.
    const deep = parseRegistrationPayload('</a/b/3/0>,</a/b>;rt="oma.lwm2m"');
    assert.equal(deep.alternatePath, '/a/b');
    assert.deepEqual(deep.objects, [{ id: 3, version: undefined, instances: [0] }]);
  });

  it('keeps gateway-prefixed entries apart', () => {
    const reg = parseRegistrationPayload('</3/0>,</d01/3303/0>,</d01/3303/1>,</d01/3>;ver=1.2,</d01/3/0>');
    assert.deepEqual(reg.objects, [
      { id: 3, version: undefined, instances: [0] },
      { id: 3, version: '1.2', instances: [0], prefix: 'd01' },
      { id: 3303, version: undefined, instances: [0, 1], prefix: 'd01' },
    ]);
  });

  it('accepts unknown params and duplicate links', () => {
    const reg = parseRegistrationPayload('</3/0>;foo="x";obs,</3/0>,</3>');
    assert.deepEqual(reg.objects, [{ id: 3, version: undefined, instances: [0] }]);
  });

  it('refuses links that are not objects or instances', () => {
    rejects('</3/0/1>', 'not-object-or-instance', '/3/0/1');
    rejects('</3/0/1/0>', 'not-object-or-instance');
    rejects('</d01>', 'not-object-or-instance');
    rejects('</lwm2m>', 'not-object-or-instance');
    rejects('<3/0>', 'bad-target', '3/0');
    rejects('<coap://h/3/0>', 'bad-target');
    rejects('</3/65535>', 'bad-target');
    rejects('</3/x/1>', 'bad-target');
    rejects('</3/0?x=1>', 'bad-target');
    rejects('</>,</lwm2m>;rt="oma.lwm2m"', 'duplicate-root', '/lwm2m');
    rejects('</>;ct=110,</>;ct=112', 'duplicate-root', '/');
    rejects('</1/0>;rt="oma.lwm2m",</3/0>', 'bad-target', '/1/0');
    rejects('</lwm2m>;rt="oma.lwm2m",</3/0>', 'not-under-alternate-path', '/3/0');
    rejects('</1>;ver=1.1,</1/0>;ver=1.2', 'conflicting-version', '/1/0');
    // Syntax faults stay LinkFormatErrors.
    assert.throws(() => parseRegistrationPayload('</3/0'), LinkFormatError);
    assert.throws(() => parseRegistrationPayload('</3>;ver=x'), LinkFormatError);
  });

  it('accepts already parsed links and bytes', () => {
    const text = '</>;ct=110,</3/0>';
    const fromLinks = parseRegistrationPayload(parseLinkFormat(text));
    const fromBytes = parseRegistrationPayload(new TextEncoder().encode(text));
    assert.deepEqual(fromLinks, fromBytes);
    assert.deepEqual(fromLinks.objects, [{ id: 3, version: undefined, instances: [0] }]);
  });
});

describe('formatRegistrationPayload', () => {
  it('writes client B style: root link, object with version, instances', () => {
    assert.equal(
      formatRegistrationPayload({
        contentFormats: [110],
        objects: [
          { id: 3, instances: [0] },
          { id: 1, version: '1.1', instances: [0] },
          { id: 31024, version: '1.0', instances: [12, 10, 11] },
        ],
      }),
      '</>;rt="oma.lwm2m";ct=110,</1>;ver=1.1,</1/0>,</3/0>,</31024>;ver=1.0,</31024/10>,</31024/11>,</31024/12>',
    );
  });

  it('writes client A style (no root link) and objects without instances', () => {
    assert.equal(
      formatRegistrationPayload({
        objects: [{ id: 2 }, { id: 1, instances: [1] }, { id: 10, version: '1.1', instances: [0] }],
      }),
      '</1/1>,</2>,</10>;ver=1.1,</10/0>',
    );
    assert.equal(formatRegistrationPayload({ objects: [] }), '');
  });

  it('writes the alternate path, several content formats and prefixes', () => {
    assert.equal(
      formatRegistrationPayload({
        alternatePath: '/lwm2m/',
        contentFormats: [110, 112],
        objects: [
          { id: 3303, prefix: 'd01', instances: [0] },
          { id: 3, instances: [0] },
        ],
      }),
      '</lwm2m>;rt="oma.lwm2m";ct="110 112",</lwm2m/3/0>,</lwm2m/d01/3303/0>',
    );
    assert.equal(
      formatRegistrationPayload({ alternatePath: '/', objects: [{ id: 3, instances: [0] }] }),
      '</3/0>',
    );
  });

  it('refuses what it cannot write', () => {
    const bad: RegistrationPayloadInput[] = [
      { alternatePath: '/lwm2m/1', objects: [] },
      { alternatePath: 'lwm2m', objects: [] },
      { contentFormats: [], objects: [] },
      { contentFormats: [70000], objects: [] },
      { objects: [{ id: 65535 }] },
      { objects: [{ id: -1 }] },
      { objects: [{ id: 3, instances: [65535] }] },
      { objects: [{ id: 3, prefix: '9x', instances: [0] }] },
    ];
    for (const input of bad)
      assert.throws(
        () => formatRegistrationPayload(input),
        (e: unknown) => e instanceof LinkPayloadError && e.reason === 'bad-input',
        JSON.stringify(input),
      );
    assert.throws(() => formatRegistrationPayload({ objects: [{ id: 3, version: '1' }] }), LinkFormatError);
  });

  it('round-trips through the parser (property)', () => {
    const obj = fc.record(
      {
        id: fc.integer({ min: 0, max: 65534 }),
        version: fc.option(
          fc.tuple(fc.nat(20), fc.nat(20)).map(([a, b]) => `${a}.${b}`),
          { nil: undefined },
        ),
        instances: fc
          .uniqueArray(fc.integer({ min: 0, max: 65534 }), { maxLength: 4 })
          .map((a) => a.sort((x, y) => x - y)),
      },
      { noNullPrototype: true },
    );
    const input = fc.record(
      {
        alternatePath: fc.option(fc.constantFrom('/lwm2m', '/a/b'), { nil: undefined }),
        contentFormats: fc.option(
          fc.array(fc.integer({ min: 0, max: 65535 }), { minLength: 1, maxLength: 3 }),
          {
            nil: undefined,
          },
        ),
        objects: fc
          .uniqueArray(obj, { selector: (o) => o.id, maxLength: 8 })
          .map((a) => a.sort((x, y) => x.id - y.id)),
      },
      { noNullPrototype: true },
    );
    fc.assert(
      fc.property(input, (payload) => {
        const parsed = parseRegistrationPayload(formatRegistrationPayload(payload));
        assert.equal(parsed.alternatePath, payload.alternatePath);
        assert.deepEqual(parsed.contentFormats, payload.contentFormats);
        assert.deepEqual(parsed.objects, payload.objects);
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseDiscoverPayload', () => {
  it('reads paths, dim, ver and attributes', () => {
    const entries = parseDiscoverPayload(
      '</3/0/7>;dim=2;pmin=10;pmax=60;gt=50;lt=42.2,</3/0/7/0>,</3/0/7/1>;lt=45,</55>;ver=1.9;x=y',
    );
    assert.equal(entries.length, 4);
    assert.ok(entries[0]?.path.equals(LwM2mPath.of(3, 0, 7)));
    assert.equal(entries[0]?.dim, 2);
    assert.deepEqual(entries[0]?.attributes, { pmin: 10, pmax: 60, gt: 50, lt: 42.2 });
    assert.deepEqual(entries[1]?.attributes, {});
    assert.deepEqual(entries[2]?.attributes, { lt: 45 });
    assert.equal(entries[3]?.version, '1.9');
    assert.deepEqual(entries[3]?.extraParams, [{ name: 'x', value: 'y' }]);
  });

  it('reads a Bootstrap-Discover, including the 1.0 root form', () => {
    const entries = parseDiscoverPayload(
      '</>;lwm2m=1.2,</0/0>;ssid=101;uri="coaps://s1.example.com",</0/1>,</1/0>;ssid=101,</3/0>,</5>,</55>;ver=1.9,</55/0>',
    );
    assert.ok(entries[0]?.path.isRoot());
    assert.equal(entries[0]?.lwm2m, '1.2');
    assert.equal(entries[1]?.ssid, 101);
    assert.equal(entries[1]?.uri, 'coaps://s1.example.com');
    assert.equal(entries[2]?.ssid, undefined);
    const legacy = parseDiscoverPayload('lwm2m="1.0",</0/0>,</1/0>');
    assert.equal(legacy[0]?.lwm2m, '1.0');
    assert.ok(legacy[0]?.path.isRoot());
    assert.equal(legacy.length, 3);
  });

  it('refuses targets that are not LwM2M paths', () => {
    assert.throws(
      () => parseDiscoverPayload('</3/0>,<coap://x/3>'),
      (e: unknown) => e instanceof LinkPayloadError && e.reason === 'bad-target' && e.target === 'coap://x/3',
    );
    assert.throws(() => parseDiscoverPayload('</3/0/1/2/3>'), LinkPayloadError);
    assert.throws(() => parseDiscoverPayload('</3/0>;pmin=x'), LinkFormatError);
  });

  it('formats entries and reads them back', () => {
    const entries: DiscoverEntry[] = [
      { path: LwM2mPath.ROOT, lwm2m: '1.2', attributes: {}, extraParams: [] },
      { path: LwM2mPath.of(0, 1), ssid: 1, uri: 'coap://127.0.0.1:5683', attributes: {}, extraParams: [] },
      { path: LwM2mPath.of(3), version: '1.2', attributes: { pmin: 5 }, extraParams: [] },
      {
        path: LwM2mPath.of(3, 0, 7),
        dim: 1,
        attributes: { gt: 50, pmax: 9 },
        extraParams: [{ name: 'obs', value: true }],
      },
    ];
    const text = formatDiscoverPayload(entries);
    assert.equal(
      text,
      '</>;lwm2m=1.2,</0/1>;ssid=1;uri="coap://127.0.0.1:5683",</3>;ver=1.2;pmin=5,</3/0/7>;dim=1;pmax=9;gt=50;obs',
    );
    const back = parseDiscoverPayload(text);
    assert.equal(back.length, 4);
    for (let i = 0; i < entries.length; i++) {
      const { path, ...rest } = back[i]!;
      const { path: want, ...wantRest } = entries[i]!;
      assert.ok(path.equals(want));
      assert.deepEqual(rest, wantRest);
    }
  });
});

const isRegistration = (l: CaptureLine) =>
  l.dir === 'client->server' && /^CON POST \/rd/.test(l.summary) && (l.note ?? '').startsWith('Regist');

describe('real captures', () => {
  it('parses every link-format payload and Register/Update object list', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    let linkPayloads = 0;
    let registrations = 0;
    for (const { file, line } of readAllCaptures(dir)) {
      const text = line.payloadText;
      if (text === undefined || text === '') continue;
      const where = `${file}#${line.seq}`;
      if (isRegistration(line)) {
        const reg = parseRegistrationPayload(text);
        assert.ok(reg.objects.length > 0, where);
        registrations++;
      } else if (line.contentFormat === 40) {
        const entries = parseDiscoverPayload(text);
        assert.equal(entries.length, parseLinkFormat(text).length, where);
        linkPayloads++;
      } else continue;
      // Each formats back to the same links, and survives newlines between links.
      const links = parseLinkFormat(text);
      assert.deepEqual(parseLinkFormat(formatLinkFormat(links)), links, where);
      assert.deepEqual(parseLinkFormat(text.replaceAll(',<', ',\r\n  <')), links, where);
    }
    // 4 Register payloads + 5 client-B Updates with object lists; 9 + 9 Discovers + 2 Bootstrap-Discovers.
    assert.equal(registrations, 9);
    assert.equal(linkPayloads, 20);
  });

  it("client B's Register: root link with rt and ct=110, /1 at version 1.1", (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const reg = readAllCaptures(dir).find(
      (c) => c.file === 'lwm2m-1.1-client-udp.jsonl' && c.line.note === 'Register',
    );
    const text = reg?.line.payloadText ?? '';
    const [root, one] = parseLinkFormat(text);
    assert.deepEqual(root, {
      target: '/',
      params: [
        { name: 'rt', value: 'oma.lwm2m' },
        { name: 'ct', value: [110] },
      ],
    });
    assert.deepEqual(one, { target: '/1', params: [{ name: 'ver', value: '1.1' }] });
    const payload = parseRegistrationPayload(text);
    assert.equal(payload.alternatePath, undefined);
    assert.deepEqual(payload.contentFormats, [110]);
    assert.deepEqual(payload.objects[0], { id: 1, version: '1.1', instances: [0] });
    assert.deepEqual(
      payload.objects.find((o) => o.id === 31024),
      { id: 31024, version: '1.0', instances: [10, 11, 12] },
    );
    assert.deepEqual(
      payload.objects.map((o) => o.id),
      [1, 2, 3, 4, 5, 6, 7, 31024],
    );
    // Our formatter writes client B's payload byte for byte.
    assert.equal(formatRegistrationPayload(payload), text);
  });

  it("client A's Register: no root link, objects without instances", (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const reg = readAllCaptures(dir).find(
      (c) => c.file === 'lwm2m-1.2-client-udp.jsonl' && c.line.note === 'Register',
    );
    const payload = parseRegistrationPayload(reg?.line.payloadText ?? '');
    assert.equal(payload.contentFormats, undefined);
    assert.deepEqual(
      payload.objects.find((o) => o.id === 10),
      { id: 10, version: '1.1', instances: [0] },
    );
    assert.deepEqual(
      payload.objects.find((o) => o.id === 2),
      { id: 2, version: undefined, instances: [] },
    );
    assert.deepEqual(
      payload.objects.find((o) => o.id === 1),
      { id: 1, version: undefined, instances: [1] },
    );
    assert.equal(formatRegistrationPayload(payload), reg?.line.payloadText);
  });

  it('Discover answers: depth 3, dim and attributes after Write-Attributes', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const all = readAllCaptures(dir);
    const find = (file: string, note: string) => {
      const hit = all.find((c) => c.file === file && c.line.note === note && c.line.contentFormat === 40);
      assert.ok(hit?.line.payloadText, `${file}: ${note}`);
      return parseDiscoverPayload(hit.line.payloadText);
    };
    const A = 'lwm2m-1.2-client-udp.jsonl';
    const B = 'lwm2m-1.1-client-udp.jsonl';
    const depth3 = find(A, 'Discover /3 depth=3');
    assert.ok(depth3.some((e) => e.path.equals(LwM2mPath.of(3, 0, 7, 0))));
    assert.ok(!find(A, 'Discover /3 depth=2').some((e) => e.path.depth === 4));
    assert.deepEqual(
      find(A, 'Discover /3 depth=1').map((e) => e.path.toString()),
      ['/3', '/3/0'],
    );
    const res7 = find(A, 'Discover /3/0/7');
    assert.equal(res7[0]?.dim, 1);
    assert.ok(res7[1]?.path.equals(LwM2mPath.of(3, 0, 7, 0)));
    assert.equal(find(B, 'Discover /3/0/7')[0]?.dim, undefined);

    const attrA = find(A, 'Discover /3/0/9 (after Write-Attributes)');
    const attrB = find(B, 'Discover /3/0/9 (after Write-Attributes)');
    assert.deepEqual(attrA[0]?.attributes, { pmin: 1, pmax: 5, gt: 50 });
    assert.deepEqual(attrB[0]?.attributes, { pmin: 1, pmax: 5, gt: 50 }); // sent as gt=50.0
    const inObjA = find(A, 'Discover /3/0 (after Write-Attributes)').find((e) =>
      e.path.equals(LwM2mPath.of(3, 0, 9)),
    );
    assert.deepEqual(inObjA?.attributes, { pmin: 1, pmax: 5, gt: 50 });
  });

  it('Bootstrap-Discover answers carry lwm2m, ssid and uri', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    for (const [file, version] of [
      ['bootstrap-1.1-client.jsonl', '1.1'],
      ['bootstrap-1.2-client.jsonl', '1.2'],
    ] as const) {
      const hit = readAllCaptures(dir).find((c) => c.file === file && c.line.contentFormat === 40);
      const entries = parseDiscoverPayload(hit?.line.payloadText ?? '');
      assert.equal(entries[0]?.lwm2m, version);
      const server = entries.find((e) => e.path.equals(LwM2mPath.of(0, 1)));
      assert.equal(server?.ssid, 1);
      assert.equal(server?.uri, 'coap://127.0.0.1:5683');
      assert.equal(entries.find((e) => e.path.equals(LwM2mPath.of(1, 1)))?.ssid, 1);
    }
  });
});
