// Every DM/IR operation of LwM2mServer end to end against a model device on an in-memory network:
// each content format the operation allows, each result code the spec lists for its errors, the
// version rules of format choice, gateway prefixes and alternate paths (LWM2M-1.2.md §1.3, §1.4, §5).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { accept, contentFormat, observe, uriPath, uriQuery } from '../../src/coap/options.js';
import { lookupContentFormat } from '../../src/content/content-format.js';
import { Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import { ALLOWED_RESULT_CODES, OperationError } from '../../src/operations/result-code.js';
import type { DownlinkOperationName, ResultCode } from '../../src/operations/result-code.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { OperationResult } from '../../src/server/operation-result.js';
import type { Peer } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { DEFAULT_DEVICE_RECORDS, ModelDevice, deviceModel } from '../support/model-device.js';
import type { ModelDeviceOptions } from '../support/model-device.js';
import { rec } from '../support/records.js';
import { TEST_OBJECT } from '../support/test-model.js';

const SERVER: Peer = { address: '10.0.0.1', port: 5683 };
const EP = 'dev';
const T = `/${TEST_OBJECT}`;

interface Rig {
  readonly server: LwM2mServer;
  readonly device: ModelDevice;
}

/** A server and a registered model device; `run` gets both, everything is closed afterwards. */
async function withRig(
  options: Partial<Omit<ModelDeviceOptions, 'network' | 'server'>>,
  run: (rig: Rig) => Promise<void>,
): Promise<void> {
  const network = new MemoryNetwork();
  const server = new LwM2mServer({
    channel: network.channel(SERVER.address, SERVER.port),
    model: deviceModel,
    random: seededRandom(7),
    requestTimeout: 2000,
  });
  await server.start();
  const device = new ModelDevice({ network, server: SERVER, endpoint: EP, ...options });
  // Timers of the system clock are unref'd and a memory network holds no socket.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    const registered = once(server, 'registered');
    assert.equal(formatCode((await device.register()).code), '2.01');
    await registered;
    await run({ server, device });
  } finally {
    clearInterval(keepAlive);
    await server.stop();
    await device.close();
  }
}

const last = (device: ModelDevice): CoapMessage => device.received.at(-1)!;
const formatNumber = (name: string): number => lookupContentFormat(name)!.id;

function assertResult(result: OperationResult, code: ResultCode): void {
  assert.equal(result.code, code, result.diagnostic);
}

// ---- Read ----

const MULTI_VALUE_FORMATS = ['tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor'] as const;

/** Targets and the single-value formats that can carry them (none for instances and multiple resources). */
const READ_TARGETS: readonly (readonly [string, readonly string[]])[] = [
  ['/3/0', []],
  ['/3/0/7', []],
  ['/3/0/7/0', ['text', 'cbor']],
  ['/3303/0/5700', ['text', 'cbor']],
  [`${T}/0/3`, ['text', 'cbor', 'opaque']],
  [`${T}/1`, []],
  [`${T}/1/10`, []],
  [`${T}/1/0`, ['text', 'cbor']],
  [`${T}/1/1`, ['text', 'cbor']],
  [`${T}/1/2`, ['text', 'cbor']],
  [`${T}/1/4`, ['text', 'cbor']],
  [`${T}/1/6`, ['text', 'cbor']],
  [`${T}/1/7`, ['text', 'cbor']],
  [`${T}/1/8`, ['text', 'cbor']],
  [`${T}/1/13/3`, ['text', 'cbor', 'opaque']],
];

describe('Read in every format', () => {
  for (const [target, singles] of READ_TARGETS) {
    for (const format of [...singles, ...MULTI_VALUE_FORMATS]) {
      it(`reads ${target} as ${format}: Accept sent, the device's values decoded`, () =>
        withRig({}, async ({ server, device }) => {
          const result = await server.read(EP, target, { format });
          assertResult(result, '2.05');
          assert.equal(accept(last(device)), formatNumber(format));
          assert.equal(result.format, format);
          assert.deepEqual(result.values, device.values(target));
          assert.ok(Object.keys(result.values).length > 0);
        }));
    }
  }

  for (const [target, format] of [
    ['/3/0', 'text'],
    ['/3/0/7', 'cbor'],
    ['/3303/0/5700', 'opaque'],
  ] as const) {
    it(`passes on the device's 4.06 when ${target} cannot be written as ${format}`, () =>
      withRig({}, async ({ server }) => {
        assertResult(await server.read(EP, target, { format }), '4.06');
      }));
  }

  it('reads without Accept: the device picks text for a single value, SenML CBOR otherwise', () =>
    withRig({}, async ({ server, device }) => {
      const single = await server.read(EP, '/3303/0/5700');
      assert.equal(accept(last(device)), undefined);
      assert.equal(single.format, 'text');
      assert.deepEqual(single.values, { '/3303/0/5700': 21.5 });
      const instance = await server.read(EP, '/3/0');
      assert.equal(instance.format, 'senml-cbor');
      assert.deepEqual(instance.values, device.values('/3/0'));
    }));

  it('reads an object without instances as 2.05 with no values, and a missing instance as 4.04', () =>
    withRig({ records: [...DEFAULT_DEVICE_RECORDS, rec('/5')] }, async ({ server }) => {
      const empty = await server.read(EP, '/5', { format: 'senml-json' });
      assertResult(empty, '2.05');
      assert.deepEqual(empty.values, {});
      assertResult(await server.read(EP, '/3303/7'), '4.04');
    }));
});

// ---- Write ----

const INSTANCE_WRITE = { [`${T}/0/5`]: 'world', [`${T}/0/15/1`]: 'Yellow', [`${T}/0/15/3`]: 'Blue' };
const ARRAY_WRITE = { [`${T}/0/15/1`]: 'Yellow', [`${T}/0/15/3`]: 'Blue' };
const WRITE_CASES = [
  {
    target: `${T}/0`,
    value: INSTANCE_WRITE,
    // Replace leaves exactly the payload's resources.
    replace: INSTANCE_WRITE,
    // Partial Update creates or overwrites, and deletes nothing.
    update: {
      [`${T}/0/3`]: { hex: 'cafe' },
      [`${T}/0/5`]: 'world',
      [`${T}/0/15/0`]: 'Red',
      [`${T}/0/15/1`]: 'Yellow',
      [`${T}/0/15/3`]: 'Blue',
    },
  },
  {
    // The /34/0/1 example of Core §6.3.3 on a multiple String resource.
    target: `${T}/0/15`,
    value: ARRAY_WRITE,
    replace: ARRAY_WRITE,
    update: { [`${T}/0/15/0`]: 'Red', [`${T}/0/15/1`]: 'Yellow', [`${T}/0/15/3`]: 'Blue' },
  },
] as const;

describe('Write in every format', () => {
  for (const { target, value, replace, update } of WRITE_CASES) {
    for (const format of MULTI_VALUE_FORMATS) {
      for (const mode of ['replace', 'update'] as const) {
        it(`${mode === 'replace' ? 'replaces' : 'partially updates'} ${target} in ${format}`, () =>
          withRig({}, async ({ server, device }) => {
            const result = await server.write(EP, target, value, { format, mode });
            assertResult(result, '2.04');
            const sent = last(device);
            assert.equal(sent.code, mode === 'replace' ? CoapCode.PUT : CoapCode.POST);
            assert.equal(contentFormat(sent), formatNumber(format));
            assert.deepEqual(uriPath(sent), target.slice(1).split('/'));
            assert.deepEqual(device.values(target), mode === 'replace' ? replace : update);
            // Nothing outside the target changed.
            assert.deepEqual(device.values('/3/0'), (await server.read(EP, '/3/0')).values);
            assert.equal(device.values('/3303/0/5700')['/3303/0/5700'], 21.5);
          }));
      }
    }
  }

  const SINGLE_WRITES = [
    ['/3303/0/5700', 22.25, ['text', 'cbor', 'tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor']],
    [`${T}/0/5`, 'bye', ['text', 'cbor', 'tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor']],
    [`${T}/0/3`, { hex: '0102ff' }, ['opaque', 'text', 'cbor', 'tlv', 'senml-cbor', 'lwm2m-cbor']],
    [`${T}/0/15/0`, 'Purple', ['text', 'cbor', 'tlv', 'senml-json', 'lwm2m-cbor']],
  ] as const;
  for (const [target, value, formats] of SINGLE_WRITES) {
    for (const format of formats) {
      it(`writes the single value ${target} in ${format}`, () =>
        withRig({}, async ({ server, device }) => {
          assertResult(await server.write(EP, target, value, { format }), '2.04');
          assert.equal(contentFormat(last(device)), formatNumber(format));
          assert.deepEqual(device.values(target), { [target]: value });
        }));
    }
  }

  // Every data type, as the JSON-like values WriteInput takes.
  const TYPED_WRITES = [
    [`${T}/1/0`, 2.5e-300],
    [`${T}/1/1`, '1:0'],
    [`${T}/1/2`, false],
    [`${T}/1/4`, 42],
    [`${T}/1/6`, -7],
    [`${T}/1/7`, 0],
    [`${T}/1/8`, '</1/0>'],
  ] as const;
  for (const [target, value] of TYPED_WRITES) {
    for (const format of ['text', 'cbor', 'tlv', 'senml-cbor', 'lwm2m-cbor']) {
      it(`writes ${target} = ${String(value)} in ${format}`, () =>
        withRig({}, async ({ server, device }) => {
          assertResult(await server.write(EP, target, value, { format }), '2.04');
          assert.deepEqual(device.values(target), { [target]: value });
        }));
    }
  }

  // WriteInput includes bigint: the 64-bit values past 2^53 have no other number form.
  for (const [target, value] of [
    [`${T}/1/4`, 2n ** 64n - 1n],
    [`${T}/1/6`, -(2n ** 63n)],
    [`${T}/1/6`, 7n],
  ] as const) {
    it(`writes the bigint ${target} = ${value}`, () =>
      withRig({}, async ({ server, device }) => {
        assertResult(await server.write(EP, target, value, { format: 'senml-cbor' }), '2.04');
        // The JSON form writes integers past 2^53 as strings, the others as numbers.
        const safe = value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER);
        assert.deepEqual(device.values(target), { [target]: safe ? Number(value) : String(value) });
      }));
  }

  for (const format of MULTI_VALUE_FORMATS) {
    it(`replaces a multiple resource with an empty array in ${format}`, () =>
      withRig({}, async ({ server, device }) => {
        assertResult(await server.write(EP, `${T}/0/15`, [rec(`${T}/0/15`)], { format }), '2.04');
        assert.deepEqual(device.values(`${T}/0/15`), {});
        assert.deepEqual(device.values(`${T}/0/5`), { [`${T}/0/5`]: 'hello' });
      }));
  }

  it('writes a single value as text/plain, an Opaque one as opaque, when no format is asked', () =>
    withRig({}, async ({ server, device }) => {
      assertResult(await server.write(EP, '/1/0/1', 600), '2.04');
      assert.equal(contentFormat(last(device)), 0);
      assert.deepEqual(device.values('/1/0/1'), { '/1/0/1': 600 });
      assertResult(await server.write(EP, `${T}/0/3`, { hex: '00ff' }), '2.04');
      assert.equal(contentFormat(last(device)), 42);
      assert.deepEqual(device.values(`${T}/0/3`), { [`${T}/0/3`]: { hex: '00ff' } });
    }));

  // Core §6.3.3 table: Partial Update addresses /o/i, or /o/i/r only for a multiple resource, in
  // TLV, LwM2M CBOR or SenML; text, opaque and CBOR carry one value and are Replace-only.
  for (const [target, value, format] of [
    ['/3303/0/5701', 'F', 'text'],
    [`${T}/0/3`, { hex: '01' }, 'opaque'],
    ['/3303/0/5701', 'F', 'cbor'],
    ['/3303/0/5701', 'F', 'tlv'],
    ['/3303/0/5701', 'F', 'senml-json'],
  ] as const) {
    it(`refuses locally a Partial Update of the single resource ${target} in ${format}`, () =>
      withRig({}, async ({ server, device }) => {
        const before = device.received.length;
        await assert.rejects(server.write(EP, target, value, { format, mode: 'update' }), OperationError);
        assert.equal(device.received.length, before, 'nothing sent');
        assert.deepEqual(device.executed, [], 'a POST with text/plain would have been an Execute');
      }));
  }

  it('passes on 4.04 for a Write to a missing instance, and changes nothing', () =>
    withRig({}, async ({ server, device }) => {
      const before = device.values();
      assertResult(await server.write(EP, '/3303/9', { '/3303/9/5701': 'K' }, { format: 'tlv' }), '4.04');
      assert.deepEqual(device.values(), before);
    }));
});

// ---- Create, Delete, Execute ----

describe('Create, Delete and Execute', () => {
  for (const format of ['tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor']) {
    it(`creates /3303/4 with values in ${format}; no Location needed`, () =>
      withRig({}, async ({ server, device }) => {
        const result = await server.create(EP, '/3303/4', { '/5700': 18.5, '/5701': 'Far' }, { format });
        assertResult(result, '2.01');
        assert.equal(result.location, '/3303/4');
        assert.equal(contentFormat(last(device)), formatNumber(format));
        assert.deepEqual(device.values('/3303/4'), { '/3303/4/5700': 18.5, '/3303/4/5701': 'Far' });
      }));

    it(`creates /3303/4 without values (1.2) in ${format}`, () =>
      withRig({}, async ({ server, device }) => {
        if (format === 'lwm2m-json') {
          // LwM2M JSON has no form for an instance without resources: refused before sending.
          const before = device.received.length;
          await assert.rejects(server.create(EP, '/3303/4', {}, { format }), OperationError);
          assert.equal(device.received.length, before);
          return;
        }
        const result = await server.create(EP, '/3303/4', {}, { format });
        assertResult(result, '2.01');
        assert.equal(result.location, '/3303/4');
        assert.deepEqual(device.values('/3303/4'), {});
        assertResult(await server.read(EP, '/3303/4', { format: 'senml-json' }), '2.05');
      }));
  }

  for (const format of ['tlv', 'lwm2m-cbor', undefined]) {
    it(`creates in /3303 with the id left to the device (${format ?? 'default format'}): Location`, () =>
      withRig({}, async ({ server, device }) => {
        const result = await server.create(EP, '/3303', { '/5700': 3.5 }, format ? { format } : {});
        assertResult(result, '2.01');
        assert.equal(result.location, '/3303/1');
        assert.deepEqual(device.values('/3303/1'), { '/3303/1/5700': 3.5 });
        const empty = await server.create(EP, '/3303', {}, format ? { format } : {});
        assertResult(empty, '2.01');
        assert.equal(empty.location, '/3303/2');
      }));
  }

  it('refuses locally a Create whose values lie outside the new instance', () =>
    withRig({}, async ({ server, device }) => {
      const before = device.received.length;
      for (const values of [{ '/3/0/1': 'x' }, { '/3303/5/5700': 1.5 }, { '/5700/0/9': 2 }]) {
        await assert.rejects(server.create(EP, '/3303/4', values), (e: unknown) => {
          assert.ok(e instanceof OperationError);
          assert.match(e.message, /is not inside the instance being created in \/3303\/4/);
          return true;
        });
      }
      assert.equal(device.received.length, before, 'nothing was sent');
    }));

  it('refuses locally a SenML Create that leaves the id to the device', () =>
    withRig({}, async ({ server, device }) => {
      const before = device.received.length;
      await assert.rejects(
        server.create(EP, '/3303', { '/5700': 1 }, { format: 'senml-json' }),
        OperationError,
      );
      assert.equal(device.received.length, before);
    }));

  it('passes on 4.00 for a Create of an existing instance, 4.04 for an unknown object', () =>
    withRig({}, async ({ server }) => {
      assertResult(await server.create(EP, '/3303/0', { '/5700': 1 }, { format: 'tlv' }), '4.00');
      assertResult(await server.create(EP, '/3304/0', { '/5700': 1 }, { format: 'tlv' }), '4.04');
    }));

  for (const [target, code, gone] of [
    ['/3303/0', '2.02', true],
    [`${T}/0/15/0`, '2.02', true],
    ['/3/0', '4.05', false],
    ['/3303/5', '4.04', false],
  ] as const) {
    it(`deletes ${target}: ${code}`, () =>
      withRig({}, async ({ server, device }) => {
        const before = device.values(target);
        assertResult(await server.delete(EP, target), code);
        assert.equal(last(device).code, CoapCode.DELETE);
        assert.deepEqual(device.values(target), gone ? {} : before);
      }));
  }

  for (const [args, expected] of [
    [undefined, []],
    ['5', [{ digit: 5 }]],
    ["0,2='10.3',4", [{ digit: 0 }, { digit: 2, value: '10.3' }, { digit: 4 }]],
  ] as const) {
    it(`executes /3303/0/5605 with ${args === undefined ? 'no arguments' : `arguments ${args}`}`, () =>
      withRig({}, async ({ server, device }) => {
        assertResult(await server.execute(EP, '/3303/0/5605', args), '2.04');
        assert.equal(last(device).code, CoapCode.POST);
        assert.deepEqual(device.executed, [{ path: '/3303/0/5605', arguments: expected }]);
      }));
  }

  it('passes on 4.05 for an Execute of a readable resource', () =>
    withRig({}, async ({ server, device }) => {
      assertResult(await server.execute(EP, '/3303/0/5700'), '4.05');
      assert.deepEqual(device.executed, []);
    }));
});

// ---- Write-Attributes and Discover ----

const DEVICE_PATHS = [
  '/3',
  '/3/0',
  '/3/0/0',
  '/3/0/1',
  '/3/0/7',
  '/3/0/7/0',
  '/3/0/7/1',
  '/3/0/9',
  '/3/0/13',
];

describe('Write-Attributes and Discover', () => {
  for (const target of ['/3', '/3/0', '/3/0/7']) {
    for (const depth of [undefined, 0, 1, 2, 3] as const) {
      const base = LwM2mPath.parse(target);
      const limit = Math.min(4, base.depth + (depth ?? (base.isObject() ? 2 : 1)));
      const expected = DEVICE_PATHS.filter((p) => {
        const path = LwM2mPath.parse(p);
        return base.covers(path) && path.depth <= limit;
      });
      it(`discovers ${target} at depth ${depth ?? 'default'}: ${expected.length} links`, () =>
        withRig({}, async ({ server, device }) => {
          const result = await server.discover(EP, target, depth === undefined ? {} : { depth });
          assertResult(result, '2.05');
          assert.deepEqual(uriQuery(last(device)), depth === undefined ? [] : [`depth=${depth}`]);
          assert.equal(accept(last(device)), 40);
          assert.deepEqual(
            result.links?.map((l) => l.target),
            expected,
          );
          const dim = result.links?.find((l) => l.target === '/3/0/7')?.params.find((p) => p.name === 'dim');
          if (expected.includes('/3/0/7')) assert.deepEqual(dim, { name: 'dim', value: 2 });
        }));
    }
  }

  it('stores attributes per level, shows them in Discover, and unsets one sent without value', () =>
    withRig({}, async ({ server, device }) => {
      assertResult(await server.writeAttributes(EP, '/3/0', { pmin: 10, pmax: 60 }), '2.04');
      assertResult(await server.writeAttributes(EP, '/3/0/7', { gt: 50, lt: 42.2 }), '2.04');
      assertResult(await server.writeAttributes(EP, '/3/0/7/1', { lt: 45 }), '2.04');
      assert.deepEqual(uriQuery(last(device)), ['lt=45']);
      assert.equal(last(device).code, CoapCode.PUT);
      assert.equal(last(device).payload.length, 0);
      const params = async (): Promise<Record<string, string>> => {
        const found = await server.discover(EP, '/3/0', { depth: 2 });
        const out: Record<string, string> = {};
        for (const l of found.links ?? [])
          out[l.target] = l.params.map((p) => `${p.name}=${String(p.value)}`).join(';');
        return out;
      };
      const shown = await params();
      assert.equal(shown['/3/0'], 'pmin=10;pmax=60');
      assert.equal(shown['/3/0/7'], 'dim=2;gt=50;lt=42.2');
      assert.equal(shown['/3/0/7/1'], 'lt=45');
      assert.equal(shown['/3/0/7/0'], '');
      assertResult(await server.writeAttributes(EP, '/3/0', { pmin: null }), '2.04');
      assert.deepEqual(uriQuery(last(device)), ['pmin']);
      assert.deepEqual(device.attributes('/3/0'), { pmax: 60 });
      assert.equal((await params())['/3/0'], 'pmax=60');
    }));

  it("passes on the device's 4.00 for inconsistent attributes and 4.04 for a missing target", () =>
    withRig({}, async ({ server, device }) => {
      assertResult(await server.writeAttributes(EP, '/3/0/9', { gt: 50 }), '2.04');
      // lt >= gt only together with the stored gt: the server cannot see it, the device can.
      assertResult(await server.writeAttributes(EP, '/3/0/9', { lt: 60 }), '4.00');
      assert.deepEqual(device.attributes('/3/0/9'), { gt: 50 });
      assertResult(await server.writeAttributes(EP, '/3303/3', { pmin: 1 }), '4.04');
      assertResult(await server.discover(EP, '/3303/3'), '4.04');
    }));
});

// ---- Composite ----

const COMPOSITE_PATHS = ['/3/0/0', '/3/0/7', '/3303/0', `${T}/0/99`];

describe('Read-Composite and Write-Composite', () => {
  for (const requestFormat of ['senml-json', 'senml-cbor', 'senml-etch-json', 'senml-etch-cbor']) {
    for (const format of ['senml-json', 'senml-cbor', 'lwm2m-cbor']) {
      it(`reads a composite: path list in ${requestFormat}, answer in ${format}`, () =>
        withRig({}, async ({ server, device }) => {
          const result = await server.readComposite(EP, COMPOSITE_PATHS, { requestFormat, format });
          assertResult(result, '2.05');
          const sent = last(device);
          assert.equal(sent.code, CoapCode.FETCH);
          assert.deepEqual(uriPath(sent), []);
          assert.equal(contentFormat(sent), formatNumber(requestFormat));
          assert.equal(accept(sent), formatNumber(format));
          assert.equal(result.format, format);
          // Best effort: the missing path is left out (Core §6.3.2).
          assert.deepEqual(result.values, {
            ...device.values('/3/0/0'),
            ...device.values('/3/0/7'),
            ...device.values('/3303/0'),
          });
        }));
    }
  }

  it('reads everything with the root path', () =>
    withRig({}, async ({ server, device }) => {
      const result = await server.readComposite(EP, ['/'], { format: 'senml-json' });
      assertResult(result, '2.05');
      assert.deepEqual(result.values, device.values('/'));
    }));

  for (const format of ['senml-json', 'senml-cbor', 'senml-etch-json', 'senml-etch-cbor', 'lwm2m-cbor']) {
    it(`writes a composite in ${format}`, () =>
      withRig({}, async ({ server, device }) => {
        const values = { '/3/0/13': 1_800_000_000, '/3303/0/5701': 'Far', [`${T}/0/15/2`]: 'Pink' };
        assertResult(await server.writeComposite(EP, values, { format }), '2.04');
        const sent = last(device);
        assert.equal(sent.code, CoapCode.IPATCH);
        assert.deepEqual(uriPath(sent), []);
        assert.equal(contentFormat(sent), formatNumber(format));
        for (const [path, v] of Object.entries(values)) assert.deepEqual(device.values(path), { [path]: v });
        assert.equal(device.values(`${T}/0/15`)[`${T}/0/15/0`], 'Red', 'resources not listed are untouched');
      }));

    it(`refuses a whole Write-Composite in ${format} when one target is missing (atomic)`, () =>
      withRig({}, async ({ server, device }) => {
        const before = device.values();
        const result = await server.writeComposite(
          EP,
          { '/3303/0/5701': 'K', '/3303/9/5701': 'K' },
          { format },
        );
        assertResult(result, '4.04');
        assert.deepEqual(device.values(), before);
      }));
  }

  for (const format of ['senml-etch-json', 'senml-etch-cbor', undefined]) {
    it(`deletes a resource instance with a SenML-ETCH null (${format ?? 'default format'})`, () =>
      withRig({}, async ({ server, device }) => {
        const records = [rec(`${T}/0/15/0`), rec('/3303/0/5701', Value.string('F'))];
        assertResult(await server.writeComposite(EP, records, format ? { format } : {}), '2.04');
        assert.equal(contentFormat(last(device)), formatNumber(format ?? 'senml-etch-cbor'));
        assert.deepEqual(device.values(`${T}/0/15`), { [`${T}/0/15/1`]: 'Green' });
        assert.equal(device.values('/3303/0/5701')['/3303/0/5701'], 'F');
      }));
  }
});

// ---- Observe ----

describe('Observe and Observe-Composite', () => {
  const OBSERVE_CASES = [
    [
      '/3303/0/5700',
      [undefined, 'text', 'cbor', 'tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor'],
    ],
    ['/3303/0', [undefined, 'tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor']],
  ] as const;
  for (const [target, formats] of OBSERVE_CASES) {
    for (const format of formats) {
      it(`observes ${target} (${format ?? 'no Accept'}), decodes a notification, cancels`, () =>
        withRig({}, async ({ server, device }) => {
          const observation = await server.observe(EP, target, format ? { format } : {});
          assert.equal(observation.active, true);
          assert.equal(observe(last(device)), 0);
          assert.equal(accept(last(device)), format ? formatNumber(format) : undefined);
          assertResult(observation.response, '2.05');
          assert.deepEqual(observation.response.values, device.values(target));
          const next = once(observation, 'notification');
          device.change('/3303/0/5700', Value.float(23.5));
          const [n] = (await next) as [{ result: OperationResult }];
          assertResult(n.result, '2.05');
          if (format) assert.equal(n.result.format, format);
          assert.equal(n.result.values['/3303/0/5700'], 23.5);
          assert.deepEqual(n.result.values, device.values(target));
          const cancelled = await observation.cancel();
          assertResult(cancelled!, '2.05');
          assert.equal(observe(last(device)), 1);
          assert.deepEqual(uriPath(last(device)), target.slice(1).split('/'));
          assert.equal(observation.active, false);
          assert.equal(device.observers, 0);
        }));
    }
  }

  it('sends observation attributes (1.2) as query parameters', () =>
    withRig({}, async ({ server, device }) => {
      const observation = await server.observe(EP, '/3303/0/5700', { attributes: { pmin: 5, gt: 30 } });
      assert.deepEqual(uriQuery(last(device)), ['pmin=5', 'gt=30']);
      await observation.cancel();
    }));

  it('sends Observe-Composite attributes as query parameters; refuses resource-only ones locally', () =>
    withRig({}, async ({ server, device }) => {
      const observation = await server.observeComposite(EP, ['/3/0/9'], {
        attributes: { pmin: 2, pmax: 20 },
      });
      assert.deepEqual(uriQuery(last(device)), ['pmin=2', 'pmax=20']);
      await observation.cancel();
      const before = device.received.length;
      await assert.rejects(
        server.observeComposite(EP, ['/3/0/9'], { attributes: { gt: 5 } }),
        OperationError,
      );
      assert.equal(device.received.length, before);
    }));

  for (const requestFormat of ['senml-json', 'senml-cbor', 'senml-etch-json', 'senml-etch-cbor']) {
    for (const format of ['senml-json', 'senml-cbor', 'lwm2m-cbor']) {
      it(`observes a composite (${requestFormat} → ${format}): every notification carries all paths`, () =>
        withRig({}, async ({ server, device }) => {
          const paths = ['/3303/0/5700', '/3/0/9'];
          const observation = await server.observeComposite(EP, paths, { requestFormat, format });
          assert.equal(observation.active, true);
          assert.equal(contentFormat(last(device)), formatNumber(requestFormat));
          assert.deepEqual(observation.response.values, { '/3303/0/5700': 21.5, '/3/0/9': 95 });
          const next = once(observation, 'notification');
          device.change('/3/0/9', Value.integer(42));
          const [n] = (await next) as [{ result: OperationResult }];
          assert.equal(n.result.format, format);
          assert.deepEqual(n.result.values, { '/3303/0/5700': 21.5, '/3/0/9': 42 });
          const cancelled = await observation.cancel();
          assertResult(cancelled!, '2.05');
          const cancel = device.requests.at(-1)!;
          assert.equal(cancel.kind, 'cancel-observation-composite');
          assert.deepEqual(
            'paths' in cancel ? cancel.paths.map(String) : [],
            paths,
            'exactly the same path list',
          );
          assert.equal(device.observers, 0);
        }));
    }
  }
});

// ---- Result codes ----

type Call = (server: LwM2mServer) => Promise<OperationResult>;

/** One valid request per DM/IR operation, on targets that exist (the device answers as forced). */
const CALLS: Readonly<Partial<Record<DownlinkOperationName, Call>>> = {
  read: (s) => s.read(EP, '/3/0'),
  discover: (s) => s.discover(EP, '/3/0'),
  write: (s) => s.write(EP, '/3303/0/5701', 'K'),
  'write-attributes': (s) => s.writeAttributes(EP, '/3/0/9', { pmin: 5 }),
  execute: (s) => s.execute(EP, '/3303/0/5605'),
  create: (s) => s.create(EP, '/3303/2', { '/5700': 1.5 }),
  delete: (s) => s.delete(EP, '/3303/0'),
  'read-composite': (s) => s.readComposite(EP, ['/3/0/9']),
  'write-composite': (s) => s.writeComposite(EP, { '/3/0/13': 5 }),
  observe: async (s) => {
    const o = await s.observe(EP, '/3/0/9');
    assert.equal(o.active, o.response.success, 'an observation is active only after a success');
    return o.response;
  },
  'observe-composite': async (s) => {
    const o = await s.observeComposite(EP, ['/3/0/9']);
    assert.equal(o.active, o.response.success);
    return o.response;
  },
};

describe('Every error result code of every DM/IR operation', () => {
  for (const [operation, call] of Object.entries(CALLS) as [DownlinkOperationName, Call][]) {
    const codes = [...ALLOWED_RESULT_CODES[operation].filter((c) => !c.startsWith('2.')), '5.00' as const];
    for (const code of codes) {
      it(`${operation}: the device's ${code} and its diagnostic reach the result`, () =>
        withRig({}, async ({ server, device }) => {
          device.force(operation, code, { diagnostic: `forced ${code}` });
          const before = device.values();
          const result = await call(server);
          assertResult(result, code);
          assert.equal(result.diagnostic, `forced ${code}`);
          assert.equal(result.success, false);
          assert.deepEqual(result.records, []);
          assert.deepEqual(device.values(), before);
        }));
    }
    it(`${operation}: an error without payload has no diagnostic`, () =>
      withRig({}, async ({ server, device }) => {
        device.force(operation, '4.04');
        const result = await call(server);
        assertResult(result, '4.04');
        assert.equal(result.diagnostic, undefined);
      }));
  }

  for (const operation of ['cancel-observation', 'cancel-observation-composite'] as const) {
    const codes = [...ALLOWED_RESULT_CODES[operation].filter((c) => !c.startsWith('2.')), '5.00' as const];
    for (const code of codes) {
      it(`${operation}: the device's ${code} and its diagnostic reach the cancel's result`, () =>
        withRig({}, async ({ server, device }) => {
          const observation =
            operation === 'cancel-observation'
              ? await server.observe(EP, '/3/0/9')
              : await server.observeComposite(EP, ['/3/0/9']);
          device.force(operation, code, { diagnostic: `forced ${code}` });
          const result = await observation.cancel();
          assertResult(result!, code);
          assert.equal(result!.diagnostic, `forced ${code}`);
          assert.equal(observation.active, false);
        }));
    }
  }

  it('a forced code applies to its path only', () =>
    withRig({}, async ({ server, device }) => {
      device.force('read', '4.01', { path: '/3/0/9' });
      assertResult(await server.read(EP, '/3/0/9'), '4.01');
      assertResult(await server.read(EP, '/3/0/0'), '2.05');
    }));
});

// ---- Version rules ----

describe('Format choice by the client version', () => {
  it('1.0 device (TLV and text only): TLV for instance writes and creates, text for single values', () =>
    withRig({ version: '1.0' }, async ({ server, device }) => {
      assertResult(await server.write(EP, `${T}/0`, INSTANCE_WRITE), '2.04');
      assert.equal(contentFormat(last(device)), 11542);
      assert.deepEqual(device.values(`${T}/0`), INSTANCE_WRITE);
      assertResult(await server.write(EP, '/1/0/1', 120), '2.04');
      assert.equal(contentFormat(last(device)), 0);
      assertResult(await server.create(EP, '/3303', { '/5700': 4.5 }), '2.01');
      assert.equal(contentFormat(last(device)), 11542);
      const read = await server.read(EP, '/3/0');
      assert.equal(read.format, 'tlv', 'the device answers in a format it knows');
      assert.deepEqual(read.values, device.values('/3/0'));
      // Formats a 1.0 client cannot know are refused before they are sent.
      const before = device.received.length;
      await assert.rejects(
        server.read(EP, '/3/0', { format: 'senml-cbor' }),
        (e: unknown) => e instanceof OperationError && e.resultCode === '4.00',
      );
      await assert.rejects(server.readComposite(EP, ['/3/0/9']), OperationError);
      await assert.rejects(server.discover(EP, '/3/0', { depth: 1 }), OperationError);
      assert.equal(device.received.length, before);
    }));

  it('1.0 device: Observe answered and notified in TLV', () =>
    withRig({ version: '1.0' }, async ({ server, device }) => {
      const observation = await server.observe(EP, '/3303/0');
      assert.equal(observation.response.format, 'tlv');
      assert.deepEqual(observation.response.values, device.values('/3303/0'));
      const next = once(observation, 'notification');
      device.change('/3303/0/5700', Value.float(-4));
      const [n] = (await next) as [{ result: OperationResult }];
      assert.equal(n.result.format, 'tlv');
      assert.deepEqual(n.result.values, { '/3303/0/5700': -4, '/3303/0/5701': 'Cel' });
      await observation.cancel();
    }));

  it('1.1 device announcing ct=110: SenML JSON for writes and composites', () =>
    withRig({ version: '1.1', contentFormats: [110] }, async ({ server, device }) => {
      assertResult(await server.write(EP, `${T}/0`, INSTANCE_WRITE, { mode: 'update' }), '2.04');
      assert.equal(contentFormat(last(device)), 110);
      assertResult(await server.create(EP, '/3303/3', { '/5700': 4.5 }), '2.01');
      assert.equal(contentFormat(last(device)), 110);
      assertResult(await server.writeComposite(EP, { '/3303/0/5701': 'F' }), '2.04');
      assert.equal(contentFormat(last(device)), 110);
      const composite = await server.readComposite(EP, ['/3/0/9']);
      assertResult(composite, '2.05');
      assert.equal(contentFormat(last(device)), 110);
      assert.equal(accept(last(device)), 110);
    }));

  it('1.2 device announcing ct=11544: LwM2M CBOR for writes, creates, composites', () =>
    withRig({ contentFormats: [11544] }, async ({ server, device }) => {
      assertResult(await server.write(EP, `${T}/0`, INSTANCE_WRITE), '2.04');
      assert.equal(contentFormat(last(device)), 11544);
      assertResult(await server.create(EP, '/3303', { '/5700': 4.5 }), '2.01');
      assert.equal(contentFormat(last(device)), 11544);
      assertResult(await server.writeComposite(EP, { '/3303/0/5701': 'F' }), '2.04');
      assert.equal(contentFormat(last(device)), 11544);
      assertResult(await server.readComposite(EP, ['/3/0/9']), '2.05');
      assert.equal(contentFormat(last(device)), 320);
      assert.equal(accept(last(device)), 11544);
    }));

  it('1.1 device: no 1.2 features go out (depth, observation attributes, edge/con/hqmax)', () =>
    withRig({ version: '1.1' }, async ({ server, device }) => {
      const before = device.received.length;
      await assert.rejects(server.discover(EP, '/3/0', { depth: 0 }), OperationError);
      await assert.rejects(server.observe(EP, '/3/0/9', { attributes: { pmin: 1 } }), OperationError);
      await assert.rejects(server.writeAttributes(EP, '/3/0/9', { con: 1 }), OperationError);
      await assert.rejects(server.read(EP, '/3/0', { format: 'lwm2m-cbor' }), OperationError);
      await assert.rejects(
        server.readComposite(EP, ['/3/0/9'], { requestFormat: 'senml-etch-json' }),
        OperationError,
      );
      assert.equal(device.received.length, before);
      assertResult(await server.writeAttributes(EP, '/3/0/9', { pmin: 1, pmax: 9 }), '2.04');
    }));

  it('1.2 device announcing nothing: SenML CBOR for writes', () =>
    withRig({}, async ({ server, device }) => {
      assertResult(await server.write(EP, `${T}/0`, INSTANCE_WRITE), '2.04');
      assert.equal(contentFormat(last(device)), 112);
    }));

  it('a device that refuses a format answers 4.15, and the server passes it on', () =>
    withRig({ refuseContent: [112] }, async ({ server, device }) => {
      const before = device.values();
      assertResult(await server.write(EP, `${T}/0`, INSTANCE_WRITE, { format: 'senml-cbor' }), '4.15');
      assert.deepEqual(device.values(), before);
    }));
});

// ---- Paths ----

const END_DEVICE = [rec('/d01/3303/0/5700', Value.float(19)), rec('/d01/3303/0/5701', Value.string('Cel'))];

describe('Gateway prefixes and alternate paths', () => {
  for (const alternatePath of [undefined, '/lwm2m']) {
    const head = alternatePath === undefined ? [] : ['lwm2m'];
    const label = alternatePath ?? 'no alternate path';

    it(`reads, writes and discovers an end device behind prefix d01 (${label})`, () =>
      withRig(
        { records: [...DEFAULT_DEVICE_RECORDS, ...END_DEVICE], ...(alternatePath ? { alternatePath } : {}) },
        async ({ server, device }) => {
          const read = await server.read(EP, '/d01/3303/0/5700');
          assertResult(read, '2.05');
          assert.deepEqual(uriPath(last(device)), [...head, 'd01', '3303', '0', '5700']);
          assert.deepEqual(read.values, { '/d01/3303/0/5700': 19 });
          const instance = await server.read(EP, '/d01/3303/0', { format: 'senml-json' });
          assert.deepEqual(instance.values, device.values('/d01/3303/0'));
          assertResult(await server.write(EP, '/d01/3303/0/5700', 20.5), '2.04');
          assert.deepEqual(uriPath(last(device)), [...head, 'd01', '3303', '0', '5700']);
          assert.deepEqual(device.values('/d01/3303/0/5700'), { '/d01/3303/0/5700': 20.5 });
          assert.deepEqual(
            device.values('/3303/0/5700'),
            { '/3303/0/5700': 21.5 },
            'the gateway is untouched',
          );
          const found = await server.discover(EP, '/d01/3303');
          assert.deepEqual(
            found.links?.map((l) => l.target),
            ['/3303', '/3303/0', '/3303/0/5700', '/3303/0/5701'],
          );
        },
      ));

    it(`uses the registered alternate path for every operation (${label})`, () =>
      withRig(alternatePath ? { alternatePath } : {}, async ({ server, device }) => {
        assertResult(await server.read(EP, '/3/0/9'), '2.05');
        assert.deepEqual(uriPath(last(device)), [...head, '3', '0', '9']);
        const created = await server.create(EP, '/3303', { '/5700': 2.5 }, { format: 'tlv' });
        assertResult(created, '2.01');
        assert.deepEqual(uriPath(last(device)), [...head, '3303']);
        assert.equal(created.location, '/3303/1');
        assertResult(await server.execute(EP, '/3303/0/5605'), '2.04');
        assert.deepEqual(uriPath(last(device)), [...head, '3303', '0', '5605']);
        const found = await server.discover(EP, '/3303/0', { depth: 0 });
        assert.deepEqual(
          found.links?.map((l) => l.target),
          ['/3303/0'],
        );
        assertResult(await server.readComposite(EP, ['/3/0/9']), '2.05');
        assert.deepEqual(uriPath(last(device)), head);
        assertResult(await server.writeComposite(EP, { '/3/0/13': 7 }), '2.04');
        assert.deepEqual(uriPath(last(device)), head);
        assertResult(await server.delete(EP, '/3303/1'), '2.02');
        assert.deepEqual(uriPath(last(device)), [...head, '3303', '1']);
      }));
  }

  for (const format of ['senml-json', 'senml-cbor', 'lwm2m-cbor']) {
    it(`reads a composite that mixes the gateway and an end device, answer in ${format}`, () =>
      withRig({ records: [...DEFAULT_DEVICE_RECORDS, ...END_DEVICE] }, async ({ server }) => {
        const result = await server.readComposite(EP, ['/d01/3303/0/5700', '/3/0/9'], { format });
        assertResult(result, '2.05');
        assert.deepEqual(result.values, { '/d01/3303/0/5700': 19, '/3/0/9': 95 });
      }));
  }

  for (const format of ['senml-json', 'senml-cbor', 'senml-etch-json', 'senml-etch-cbor', 'lwm2m-cbor']) {
    it(`writes a composite that mixes the gateway and an end device in ${format}`, () =>
      withRig({ records: [...DEFAULT_DEVICE_RECORDS, ...END_DEVICE] }, async ({ server, device }) => {
        const values = { '/d01/3303/0/5701': 'K', '/3303/0/5701': 'F' };
        assertResult(await server.writeComposite(EP, values, { format }), '2.04');
        assert.equal(device.values('/d01/3303/0/5701')['/d01/3303/0/5701'], 'K');
        assert.equal(device.values('/3303/0/5701')['/3303/0/5701'], 'F');
      }));
  }

  it('creates, observes and deletes behind a prefix, under an alternate path', () =>
    withRig(
      { records: [...DEFAULT_DEVICE_RECORDS, ...END_DEVICE], alternatePath: '/lwm2m' },
      async ({ server, device }) => {
        const created = await server.create(EP, '/d01/3303', { '/5700': 7.5 }, { format: 'tlv' });
        assertResult(created, '2.01');
        assert.deepEqual(uriPath(last(device)), ['lwm2m', 'd01', '3303']);
        assert.equal(created.location, '/d01/3303/1');
        assert.deepEqual(device.values('/d01/3303/1'), { '/d01/3303/1/5700': 7.5 });
        const observation = await server.observe(EP, '/d01/3303/0/5700');
        assert.deepEqual(observation.response.values, { '/d01/3303/0/5700': 19 });
        const next = once(observation, 'notification');
        device.change('/d01/3303/0/5700', Value.float(18));
        const [n] = (await next) as [{ result: OperationResult }];
        assert.deepEqual(n.result.values, { '/d01/3303/0/5700': 18 });
        await observation.cancel();
        assertResult(await server.delete(EP, '/d01/3303/1'), '2.02');
        assert.deepEqual(uriPath(last(device)), ['lwm2m', 'd01', '3303', '1']);
        assert.deepEqual(device.values('/d01/3303/1'), {});
      },
    ));
});
