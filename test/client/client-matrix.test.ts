// Every DM/IR operation from our LwM2mServer to our LwM2mClient over an in-memory network, in every
// content format the operation allows, checking both the server's result and the client's tree;
// and both directions of every error: what the client answers (4.00, 4.01, 4.04, 4.05, 4.06,
// 4.15) and what the server refuses before sending (LWM2M-1.2.md §1.3, §1.4).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { createAccessControlInstance } from '../../src/client/core-instances.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, uriPath } from '../../src/coap/options.js';
import { Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import { recordsToJson } from '../../src/model/records-json.js';
import { OperationError } from '../../src/operations/result-code.js';
import type { ResultCode } from '../../src/operations/result-code.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { OperationResult } from '../../src/server/operation-result.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import {
  CLIENT_ADDRESS,
  SECOND_SERVER_ADDRESS,
  SERVER_ADDRESS,
  clientRig,
  rigInstances,
  rigModel,
  withClientRig,
} from '../support/client-rig.js';
import type { ClientRig, ExecuteCall } from '../support/client-rig.js';
import { rec } from '../support/records.js';
import { TEST_OBJECT } from '../support/test-model.js';

const T = `/${TEST_OBJECT}`;
const MULTI_VALUE_FORMATS = ['tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor'] as const;

function assertCode(result: OperationResult, code: ResultCode, message?: string): void {
  assert.equal(result.code, code, message ?? result.diagnostic);
}

/** A rig shared by the tests of one describe block (for operations that change nothing). */
function sharedRig(): () => ClientRig {
  let rig: ClientRig | undefined;
  before(async () => {
    rig = await clientRig();
  });
  after(async () => {
    await rig?.close();
  });
  return () => rig!;
}

// ---- Read ----

/** Targets and the single-value formats that can carry them (none for containers). */
const READ_TARGETS: readonly (readonly [string, readonly string[]])[] = [
  ['/3/0', []],
  ['/3/0/11', []],
  ['/3/0/11/0', ['text', 'cbor']],
  ['/3303', []],
  ['/3303/0', []],
  ['/3303/0/5700', ['text', 'cbor']],
  [`${T}/0`, []],
  [`${T}/0/3`, ['text', 'cbor', 'opaque']],
  [`${T}/0/15`, []],
  [`${T}/0/15/1`, ['text', 'cbor']],
  [`${T}/1`, []],
  [`${T}/1/0`, ['text', 'cbor']],
  [`${T}/1/4`, ['text', 'cbor']],
  [`${T}/1/6`, ['text', 'cbor']],
  [`${T}/1/8`, ['text', 'cbor']],
];

describe('Read of object, instance, resource and resource instance in every format', () => {
  const rig = sharedRig();
  for (const [target, singles] of READ_TARGETS) {
    for (const format of [...singles, ...MULTI_VALUE_FORMATS]) {
      it(`reads ${target} as ${format}`, async () => {
        const { server, ep, values } = rig();
        const result = await server.read(ep, target, { format });
        assertCode(result, '2.05');
        assert.equal(result.format, format);
        assert.deepEqual(result.values, values(target));
        assert.ok(Object.keys(result.values).length > 0);
      });
    }
  }

  it('reads without Accept: text for a single value, opaque for Opaque, SenML CBOR otherwise', async () => {
    const { server, ep, values } = rig();
    const single = await server.read(ep, '/3303/0/5700');
    assert.equal(single.format, 'text');
    assert.deepEqual(single.values, { '/3303/0/5700': 21.5 });
    const opaque = await server.read(ep, `${T}/0/3`);
    assert.equal(opaque.format, 'opaque');
    assert.deepEqual(opaque.values, { [`${T}/0/3`]: { hex: 'cafe' } });
    const instance = await server.read(ep, '/3/0');
    assert.equal(instance.format, 'senml-cbor');
    assert.deepEqual(instance.values, values('/3/0'));
  });

  it('reads an instance skipping its non-readable resources (Reboot, Execute)', async () => {
    const { server, ep } = rig();
    const result = await server.read(ep, '/3303/0', { format: 'senml-json' });
    assert.deepEqual(Object.keys(result.values).sort(), ['/3303/0/5700', '/3303/0/5701']);
  });

  for (const [target, format] of [
    ['/3/0', 'text'],
    ['/3/0', 'opaque'],
    ['/3/0', 'cbor'],
    ['/3/0/11', 'cbor'],
    ['/3/0/11', 'text'],
    ['/3303/0/5701', 'opaque'],
    ['/3303/0/5700', 'opaque'],
  ] as const) {
    it(`answers 4.06 when ${target} cannot be written as ${format}`, async () => {
      const { server, ep } = rig();
      assertCode(await server.read(ep, target, { format }), '4.06');
    });
  }
});

// ---- Write ----

const INSTANCE_WRITE = { [`${T}/0/5`]: 'world', [`${T}/0/15/1`]: 'Yellow', [`${T}/0/15/3`]: 'Blue' };
const ARRAY_WRITE = { [`${T}/0/15/1`]: 'Yellow', [`${T}/0/15/3`]: 'Blue' };
const WRITE_CASES = [
  {
    target: `${T}/0`,
    value: INSTANCE_WRITE,
    // Replace: the optional writable resources left out (opaque /3) are removed.
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

describe('Write (Replace and Partial Update) in every multi-value format', () => {
  for (const { target, value, replace, update } of WRITE_CASES) {
    for (const format of MULTI_VALUE_FORMATS) {
      for (const mode of ['replace', 'update'] as const) {
        it(`${mode === 'replace' ? 'replaces' : 'partially updates'} ${target} in ${format}`, () =>
          withClientRig({}, async ({ server, ep, values }) => {
            const device = values('/3/0');
            assertCode(await server.write(ep, target, value, { format, mode }), '2.04');
            assert.deepEqual(values(target), mode === 'replace' ? replace : update);
            assert.deepEqual((await server.read(ep, target, { format })).values, values(target));
            // Nothing outside the target changed.
            assert.deepEqual(values('/3/0'), device);
            assert.deepEqual(values(`${T}/1/5`), { [`${T}/1/5`]: 'every type' });
          }));
      }
    }
  }

  for (const format of MULTI_VALUE_FORMATS) {
    it(`replaces a multiple resource with an empty array in ${format}`, () =>
      withClientRig({}, async ({ server, ep, values }) => {
        assertCode(await server.write(ep, `${T}/0/15`, [rec(`${T}/0/15`)], { format }), '2.04');
        assert.deepEqual(values(`${T}/0/15`), { [`${T}/0/15`]: null });
        assert.deepEqual(values(`${T}/0/5`), { [`${T}/0/5`]: 'hello' });
      }));
  }
});

describe('Write of single values, every data type', () => {
  const rig = sharedRig();
  const SINGLE_WRITES = [
    ['/3/0/14', '+02:00', ['text', 'cbor', 'tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor']],
    [
      `${T}/0/3`,
      { hex: '0102ff' },
      ['opaque', 'text', 'cbor', 'tlv', 'senml-cbor', 'senml-json', 'lwm2m-cbor'],
    ],
    [`${T}/0/15/0`, 'Purple', ['text', 'cbor', 'tlv', 'senml-json', 'lwm2m-cbor']],
    [`${T}/1/0`, 2.5e-300, ['text', 'cbor', 'tlv', 'senml-cbor', 'lwm2m-cbor']],
    [`${T}/1/1`, '1:0', ['text', 'cbor', 'tlv', 'senml-cbor', 'lwm2m-cbor']],
    [`${T}/1/2`, false, ['text', 'cbor', 'tlv', 'senml-cbor', 'lwm2m-cbor']],
    [`${T}/1/4`, 42, ['text', 'cbor', 'tlv', 'senml-cbor', 'lwm2m-cbor']],
    [`${T}/1/6`, -7, ['text', 'cbor', 'tlv', 'senml-cbor', 'lwm2m-cbor']],
    [`${T}/1/7`, 1_800_000_000, ['text', 'cbor', 'tlv', 'senml-cbor', 'lwm2m-cbor']],
    [`${T}/1/8`, '</3303/0>', ['text', 'cbor', 'tlv', 'senml-cbor', 'lwm2m-cbor']],
  ] as const;
  for (const [target, value, formats] of SINGLE_WRITES) {
    for (const format of formats) {
      it(`writes ${target} = ${JSON.stringify(value)} in ${format}`, async () => {
        const { server, ep, values } = rig();
        // Start from another value, so each write really changes something.
        assertCode(await server.write(ep, target, value, { format }), '2.04');
        assert.deepEqual(values(target), { [target]: value });
      });
    }
  }

  it('writes without a format: text/plain, opaque for an Opaque resource', async () => {
    const { server, ep, values } = rig();
    assertCode(await server.write(ep, '/3/0/15', 'Europe/Paris'), '2.04');
    assert.deepEqual(values('/3/0/15'), { '/3/0/15': 'Europe/Paris' });
    assertCode(await server.write(ep, `${T}/0/3`, { hex: '00ff' }), '2.04');
    assert.deepEqual(values(`${T}/0/3`), { [`${T}/0/3`]: { hex: '00ff' } });
  });
});

// ---- Create, Delete, Execute ----

describe('Create', () => {
  const CREATE_VALUES = { '/5': 'made', '/6': -4, '/15/0': 'a', '/15/2': 'c' };
  const CREATED = (iid: number) => ({
    [`${T}/${iid}/5`]: 'made',
    [`${T}/${iid}/6`]: -4,
    [`${T}/${iid}/15/0`]: 'a',
    [`${T}/${iid}/15/2`]: 'c',
  });

  for (const format of MULTI_VALUE_FORMATS) {
    it(`creates ${T}/4 with values in ${format}`, () =>
      withClientRig({}, async ({ server, ep, values, client }) => {
        const result = await server.create(ep, `${T}/4`, CREATE_VALUES, { format });
        assertCode(result, '2.01');
        assert.equal(result.location, `${T}/4`);
        assert.deepEqual(values(`${T}/4`), CREATED(4));
        assert.deepEqual(client.tree.instanceIds(TEST_OBJECT), [0, 1, 4]);
        assert.deepEqual((await server.read(ep, `${T}/4`, { format })).values, CREATED(4));
      }));
  }

  for (const format of ['tlv', 'lwm2m-cbor', undefined]) {
    it(`creates in ${T} with the id left to the client (${format ?? 'default format'}): Location`, () =>
      withClientRig({}, async ({ server, ep, values }) => {
        const result = await server.create(ep, T, CREATE_VALUES, format ? { format } : {});
        assertCode(result, '2.01');
        assert.equal(result.location, `${T}/2`, 'the lowest free id');
        assert.deepEqual(values(`${T}/2`), CREATED(2));
        const next = await server.create(ep, T, { '/5': 'next' }, format ? { format } : {});
        assert.equal(next.location, `${T}/3`);
      }));
  }

  for (const format of ['tlv', 'senml-json', 'senml-cbor', 'lwm2m-cbor']) {
    it(`creates ${T}/2 without values (1.2) in ${format}`, () =>
      withClientRig({}, async ({ server, ep, client }) => {
        const result = await server.create(ep, `${T}/2`, {}, { format });
        assertCode(result, '2.01');
        assert.equal(result.location, `${T}/2`);
        assert.deepEqual(client.tree.instanceIds(TEST_OBJECT), [0, 1, 2]);
        assertCode(await server.read(ep, `${T}/2`, { format: 'senml-json' }), '2.05');
      }));
  }

  it('fills a Create from the object defaults, ignores read-only values, and fails on a missing mandatory one', () =>
    withClientRig({}, async ({ server, ep, client, values }) => {
      // 5700 (Sensor Value) is mandatory and read-only: a server cannot give it, only defaults can.
      assertCode(await server.create(ep, '/3303/5', { '/5700': 1 }, { format: 'tlv' }), '4.00');
      assert.deepEqual(client.tree.instanceIds(3303), [0]);
      client.tree.addObject(3303, { defaults: [rec('/5700', Value.float(-40))] });
      assertCode(await server.create(ep, '/3303/5', {}, { format: 'tlv' }), '2.01');
      assert.deepEqual(values('/3303/5'), { '/3303/5/5700': -40 });
      assertCode(
        await server.create(ep, '/3303/6', { '/5700': 1.25, '/5701': 'Far' }, { format: 'senml-cbor' }),
        '2.01',
      );
      assert.deepEqual(values('/3303/6'), { '/3303/6/5700': -40 }, 'read-only values are ignored');
    }));

  it('the server learns the new instance from the Update that follows a Create', () =>
    withClientRig({}, async ({ server, ep }) => {
      const updated = once(server, 'updated') as Promise<[Registration]>;
      assertCode(await server.create(ep, `${T}/7`, { '/5': 'x' }, { format: 'senml-cbor' }), '2.01');
      const [reg] = await updated;
      assert.deepEqual(reg.objects.find((o) => o.id === TEST_OBJECT)?.instances, [0, 1, 7]);
    }));

  it('answers 5.00 and creates nothing when the instance factory throws', () =>
    withClientRig({}, async ({ server, ep, client }) => {
      client.tree.addObject(TEST_OBJECT, {
        factory: () => {
          throw new Error('no room');
        },
      });
      assertCode(await server.create(ep, `${T}/8`, { '/5': 'x' }, { format: 'tlv' }), '5.00');
      assert.deepEqual(client.tree.instanceIds(TEST_OBJECT), [0, 1]);
    }));
});

describe('Delete', () => {
  for (const [target, code, gone] of [
    ['/3303/0', '2.02', true],
    [`${T}/0/15/0`, '2.02', true],
    ['/3/0', '4.05', false],
    ['/3303/5', '4.04', false],
    [`${T}/0/15/7`, '4.04', false],
  ] as const) {
    it(`deletes ${target}: ${code}`, () =>
      withClientRig({}, async ({ server, ep, values, client }) => {
        const before = values();
        assertCode(await server.delete(ep, target), code);
        if (gone) {
          assert.deepEqual(values(target), {});
          assert.equal(client.read(target).length, 0);
        } else assert.deepEqual(values(), before);
      }));
  }

  it('the server learns of the deleted instance from the Update that follows', () =>
    withClientRig({}, async ({ server, ep }) => {
      const updated = once(server, 'updated') as Promise<[Registration]>;
      assertCode(await server.delete(ep, `${T}/1`), '2.02');
      const [reg] = await updated;
      assert.deepEqual(reg.objects.find((o) => o.id === TEST_OBJECT)?.instances, [0]);
    }));
});

describe('Execute', () => {
  const rig = sharedRig();
  for (const [args, expected] of [
    [undefined, []],
    ['5', [{ digit: 5 }]],
    ["0,2='10.3',4", [{ digit: 0 }, { digit: 2, value: '10.3' }, { digit: 4 }]],
  ] as const) {
    for (const target of ['/3303/0/5605', `${T}/0/9`]) {
      it(`executes ${target} with ${args === undefined ? 'no arguments' : `arguments ${args}`}`, async () => {
        const { server, ep, executed } = rig();
        executed.length = 0;
        assertCode(await server.execute(ep, target, args), '2.04');
        assert.deepEqual(executed, [{ path: target, args: expected }] satisfies ExecuteCall[]);
      });
    }
  }

  for (const [target, code] of [
    ['/3303/0/5700', '4.05'],
    ['/3/0/0', '4.05'],
    ['/3303/9/5605', '4.04'],
    [`${T}/1/9`, '4.04'],
    ['/3303/0/5602', '4.05'],
  ] as const) {
    it(`answers ${code} to an Execute of ${target}`, async () => {
      const { server, ep, executed } = rig();
      executed.length = 0;
      assertCode(await server.execute(ep, target), code);
      assert.deepEqual(executed, []);
    });
  }

  it("passes on the application's refusal (a failed TreeResult) and a handler that throws as 5.00", () =>
    withClientRig({}, async ({ server, ep, test0, temperature }) => {
      test0.onExecute(9, () => ({ ok: false, code: '4.00', message: 'argument not understood' }));
      const refused = await server.execute(ep, `${T}/0/9`, '7');
      assertCode(refused, '4.00');
      assert.equal(refused.diagnostic, 'argument not understood');
      temperature.onExecute(5605, () => {
        throw new Error('sensor stuck');
      });
      assertCode(await server.execute(ep, '/3303/0/5605'), '5.00');
    }));
});

// ---- Values the application sets ----

describe('Values the application sets, as the server reads them', () => {
  it('client.set() types a plain value by the model and the server reads it', () =>
    withClientRig({}, async ({ server, ep, client, values }) => {
      client.set('/3303/0/5700', 22);
      client.set(`${T}/1/4`, 7n);
      client.set(`${T}/0/15/1`, 'Teal');
      assert.deepEqual(values('/3303/0/5700'), { '/3303/0/5700': 22 });
      assert.deepEqual((await server.read(ep, '/3303/0/5700')).values, { '/3303/0/5700': 22 });
      assert.deepEqual((await server.read(ep, `${T}/1/4`)).values, { [`${T}/1/4`]: 7 });
      assert.deepEqual((await server.read(ep, `${T}/0/15`, { format: 'senml-json' })).values, {
        [`${T}/0/15/0`]: 'Red',
        [`${T}/0/15/1`]: 'Teal',
      });
    }));

  it('a Float resource takes an integral number beyond the 64-bit range', () =>
    withClientRig({}, async ({ server, ep, temperature }) => {
      temperature.set(5700, 1e300);
      assert.deepEqual((await server.read(ep, '/3303/0/5700')).values, { '/3303/0/5700': 1e300 });
      temperature.set(5700, -(2 ** 70));
      assert.deepEqual((await server.read(ep, '/3303/0/5700', { format: 'cbor' })).values, {
        '/3303/0/5700': -(2 ** 70),
      });
    }));
});

// ---- Write-Attributes and Discover ----

const TREE_PATHS = [
  '/3303',
  '/3303/0',
  '/3303/0/5605',
  '/3303/0/5700',
  '/3303/0/5701',
  T,
  `${T}/0`,
  `${T}/0/3`,
  `${T}/0/5`,
  `${T}/0/9`,
  `${T}/0/15`,
  `${T}/0/15/0`,
  `${T}/0/15/1`,
  `${T}/1`,
  `${T}/1/0`,
  `${T}/1/1`,
  `${T}/1/2`,
  `${T}/1/4`,
  `${T}/1/5`,
  `${T}/1/6`,
  `${T}/1/7`,
  `${T}/1/8`,
];

describe('Discover at every depth', () => {
  const rig = sharedRig();
  for (const target of ['/3303', '/3303/0', '/3303/0/5700', T, `${T}/0`, `${T}/0/15`]) {
    for (const depth of [undefined, 0, 1, 2, 3] as const) {
      const base = LwM2mPath.parse(target);
      const limit = Math.min(4, base.depth + (depth ?? (base.isObject() ? 2 : 1)));
      const expected = TREE_PATHS.filter((p) => {
        const path = LwM2mPath.parse(p);
        return base.covers(path) && path.depth <= limit;
      });
      it(`discovers ${target} at depth ${depth ?? 'default'}: ${expected.length} links`, async () => {
        const { server, ep } = rig();
        const result = await server.discover(ep, target, depth === undefined ? {} : { depth });
        assertCode(result, '2.05');
        assert.deepEqual(
          result.links?.map((l) => l.target),
          expected,
        );
        const params = (t: string) => result.links?.find((l) => l.target === t)?.params;
        if (expected.includes(`${T}/0/15`))
          assert.deepEqual(params(`${T}/0/15`), [{ name: 'dim', value: 2 }]);
        // 3303 1.1 is not the version a 1.2 client implies (1.0): ver= on the object link.
        if (expected.includes('/3303')) assert.deepEqual(params('/3303'), [{ name: 'ver', value: '1.1' }]);
        if (expected.includes(T)) assert.deepEqual(params(T), []);
      });
    }
  }

  for (const [target, code] of [
    ['/3303/9', '4.04'],
    ['/3303/0/5601', '4.04'],
    ['/5', '4.04'],
  ] as const) {
    it(`answers ${code} to a Discover of ${target}`, async () => {
      const { server, ep } = rig();
      assertCode(await server.discover(ep, target), code);
    });
  }

  it('refuses locally a Discover of a resource instance (4.05, nothing sent)', async () => {
    const { server, ep, network } = rig();
    const sent = network.stats.sent;
    await assert.rejects(
      server.discover(ep, `${T}/0/15/0`),
      (e: unknown) => e instanceof OperationError && e.resultCode === '4.05',
    );
    assert.equal(network.stats.sent, sent);
  });
});

describe('Write-Attributes shown by Discover', () => {
  it('stores attributes per level, shows them in Discover, and unsets one sent without value', () =>
    withClientRig({}, async ({ server, ep }) => {
      assertCode(await server.writeAttributes(ep, '/3303/0', { pmin: 10, pmax: 60 }), '2.04');
      assertCode(
        await server.writeAttributes(ep, '/3303/0/5700', { gt: 50, lt: 42.2, st: 0.5, epmin: 1, epmax: 30 }),
        '2.04',
      );
      assertCode(await server.writeAttributes(ep, `${T}/1/2`, { edge: 1, con: 1, hqmax: 4 }), '2.04');
      assertCode(await server.writeAttributes(ep, `${T}/1/4/0`, { pmin: 1 }), '4.04');
      const params = async (target: string, depth: 0 | 1 | 2 | 3) => {
        const found = await server.discover(ep, target, { depth });
        const out: Record<string, string> = {};
        for (const l of found.links ?? [])
          out[l.target] = l.params.map((p) => `${p.name}=${String(p.value)}`).join(';');
        return out;
      };
      const shown = await params('/3303/0', 1);
      assert.equal(shown['/3303/0'], 'pmin=10;pmax=60');
      assert.equal(shown['/3303/0/5700'], 'gt=50;lt=42.2;st=0.5;epmin=1;epmax=30');
      assert.equal(shown['/3303/0/5701'], '');
      assert.equal((await params(`${T}/1/2`, 0))[`${T}/1/2`], 'edge=1;con=1;hqmax=4');
      assertCode(await server.writeAttributes(ep, '/3303/0', { pmin: null }), '2.04');
      assert.equal((await params('/3303/0', 0))['/3303/0'], 'pmax=60');
    }));

  it('answers 4.00 to gt/lt/st on a non-numeric resource and edge on a non-Boolean one', () =>
    withClientRig({}, async ({ server, ep }) => {
      assertCode(await server.writeAttributes(ep, `${T}/0/15/1`, { lt: 45 }), '4.00');
      assertCode(await server.writeAttributes(ep, `${T}/0/5`, { st: 1 }), '4.00');
      assertCode(await server.writeAttributes(ep, '/3303/0/5700', { edge: 1 }), '4.00');
      const found = await server.discover(ep, `${T}/0`, { depth: 2 });
      assert.ok(
        found.links?.every((l) => l.params.every((p) => p.name === 'dim')),
        'nothing was attached',
      );
    }));

  it('answers 4.00 to inconsistent attributes (with the stored ones) and keeps the old ones', () =>
    withClientRig({}, async ({ server, ep }) => {
      assertCode(await server.writeAttributes(ep, '/3303/0/5700', { gt: 50 }), '2.04');
      assertCode(await server.writeAttributes(ep, '/3303/0/5700', { lt: 60 }), '4.00');
      // lt + 2·st must stay below gt.
      assertCode(await server.writeAttributes(ep, '/3303/0/5700', { lt: 35, st: 10 }), '4.00');
      const found = await server.discover(ep, '/3303/0/5700');
      assert.deepEqual(found.links?.[0]?.params, [{ name: 'gt', value: 50 }]);
    }));

  it('attributes belong to the server that wrote them (a second server sees none)', () =>
    withTwoServers({}, async ({ first, second }) => {
      assertCode(await first.writeAttributes('two', '/3303/0/5700', { pmin: 9 }), '2.04');
      const mine = await first.discover('two', '/3303/0/5700');
      assert.deepEqual(mine.links?.[0]?.params, [{ name: 'pmin', value: 9 }]);
      const theirs = await second.discover('two', '/3303/0/5700');
      assertCode(theirs, '2.05');
      assert.deepEqual(theirs.links?.[0]?.params, []);
    }));
});

// ---- Composite ----

const COMPOSITE_PATHS = ['/3/0/0', '/3303/0', `${T}/0/15`, `${T}/0/99`, '/3303/9/5700'];

describe('Read-Composite: every request format × every Accept', () => {
  const rig = sharedRig();
  for (const requestFormat of ['senml-json', 'senml-cbor', 'senml-etch-json', 'senml-etch-cbor']) {
    for (const format of ['senml-json', 'senml-cbor', 'lwm2m-cbor']) {
      it(`reads a composite: path list in ${requestFormat}, answer in ${format}`, async () => {
        const { server, ep, values } = rig();
        const result = await server.readComposite(ep, COMPOSITE_PATHS, { requestFormat, format });
        assertCode(result, '2.05');
        assert.equal(result.format, format);
        // Best effort: the missing paths are left out (Core §6.3.2).
        assert.deepEqual(result.values, {
          ...values('/3/0/0'),
          ...values('/3303/0'),
          ...values(`${T}/0/15`),
        });
      });
    }
  }

  it('reads everything the server may read with the root path (never /0)', async () => {
    const { server, ep, values } = rig();
    const result = await server.readComposite(ep, ['/'], { format: 'senml-json' });
    assertCode(result, '2.05');
    const expected = values();
    for (const key of Object.keys(expected)) if (key.startsWith('/0/')) delete expected[key];
    assert.deepEqual(result.values, expected);
  });

  it('answers 4.06 to a composite Accept the values do not fit (text, TLV)', async () => {
    const { server, ep } = rig();
    for (const format of ['tlv', 'text', 'lwm2m-json']) {
      const result = await server
        .readComposite(ep, ['/3/0/0', '/3303/0/5700'], { format })
        .catch((e: unknown) => e);
      // Either the server refuses a format composites never use, or the client answers 4.06.
      if (result instanceof OperationError) assert.equal(result.resultCode, '4.06', format);
      else assertCode(result as OperationResult, '4.06');
    }
  });
});

describe('Write-Composite in every format, atomic', () => {
  for (const format of ['senml-json', 'senml-cbor', 'senml-etch-json', 'senml-etch-cbor', 'lwm2m-cbor']) {
    it(`writes a composite in ${format}`, () =>
      withClientRig({}, async ({ server, ep, values }) => {
        const written = {
          '/3/0/14': '+01:00',
          [`${T}/0/5`]: 'composite',
          [`${T}/0/15/2`]: 'Pink',
          [`${T}/1/6`]: 12,
        };
        assertCode(await server.writeComposite(ep, written, { format }), '2.04');
        for (const [path, v] of Object.entries(written)) assert.deepEqual(values(path), { [path]: v });
        assert.equal(
          values(`${T}/0/15`)[`${T}/0/15/0`],
          'Red',
          'resource instances not listed are untouched',
        );
      }));

    for (const [label, bad, code] of [
      ['one target is missing', { '/3303/9/5700': 1 }, '4.04'],
      ['one target is read-only', { '/3303/0/5701': 'K' }, '4.05'],
      ['one target does not exist in the object', { [`${T}/0/99`]: 'x' }, '4.04'],
    ] as const) {
      it(`writes nothing in ${format} when ${label} (${code})`, () =>
        withClientRig({}, async ({ server, ep, values }) => {
          const before = values();
          const result = await server
            .writeComposite(ep, { '/3/0/14': '+05:00', [`${T}/0/5`]: 'changed', ...bad }, { format })
            .catch((e: unknown) => e);
          if (result instanceof OperationError) assert.fail(`refused locally: ${result.message}`);
          assertCode(result as OperationResult, code);
          assert.deepEqual(values(), before);
        }));
    }

    it(`writes nothing in ${format} when one value is an object link to nothing (4.00)`, () =>
      withClientRig({}, async ({ server, ep, values }) => {
        const before = values();
        const records = [rec(`${T}/0/5`, Value.string('changed')), rec(`${T}/1/1`, Value.objlnk(3303, 9))];
        assertCode(await server.writeComposite(ep, records, { format }), '4.00');
        assert.deepEqual(values(), before);
      }));
  }

  for (const format of ['senml-etch-json', 'senml-etch-cbor', undefined]) {
    it(`deletes a resource instance with a SenML-ETCH null (${format ?? 'default format'})`, () =>
      withClientRig({}, async ({ server, ep, values }) => {
        const records = [rec(`${T}/0/15/0`), rec(`${T}/0/5`, Value.string('etched'))];
        assertCode(await server.writeComposite(ep, records, format ? { format } : {}), '2.04');
        assert.deepEqual(values(`${T}/0/15`), { [`${T}/0/15/1`]: 'Green' });
        assert.deepEqual(values(`${T}/0/5`), { [`${T}/0/5`]: 'etched' });
      }));
  }
});

// ---- Observe ----

describe('Observe and Observe-Composite, notified after client.set()', () => {
  const OBSERVE_CASES = [
    [
      '/3303/0/5700',
      [undefined, 'text', 'cbor', 'tlv', 'senml-json', 'senml-cbor', 'lwm2m-json', 'lwm2m-cbor'],
    ],
    ['/3303/0', [undefined, ...MULTI_VALUE_FORMATS]],
    ['/3303', ['senml-json', 'lwm2m-cbor', 'tlv']],
  ] as const;
  for (const [target, formats] of OBSERVE_CASES) {
    for (const format of formats) {
      it(`observes ${target} in ${format ?? 'the default format'}, notified and cancelled`, () =>
        withClientRig({}, async ({ server, ep, client, values }) => {
          const observation = await server.observe(ep, target, format ? { format } : {});
          assertCode(observation.response, '2.05');
          assert.deepEqual(observation.response.values, values(target));
          const expectedFormat = format ?? (target === '/3303/0/5700' ? 'text' : 'senml-cbor');
          assert.equal(observation.response.format, expectedFormat);
          assert.equal(client.notifications.size, 1);
          const next = once(observation, 'notification') as Promise<[{ result: OperationResult }]>;
          client.set('/3303/0/5700', 23.25);
          const [n] = await next;
          assert.equal(n.result.format, expectedFormat);
          assert.deepEqual(n.result.values, values(target));
          assert.equal(n.result.values['/3303/0/5700'], 23.25);
          const cancelled = await observation.cancel();
          assertCode(cancelled!, '2.05');
          assert.equal(observation.active, false);
          assert.equal(client.notifications.size, 0);
        }));
    }
  }

  for (const requestFormat of ['senml-json', 'senml-cbor', 'senml-etch-json', 'senml-etch-cbor']) {
    for (const format of ['senml-json', 'senml-cbor', 'lwm2m-cbor']) {
      it(`observes a composite: paths in ${requestFormat}, answers in ${format}`, () =>
        withClientRig({}, async ({ server, ep, client }) => {
          const paths = ['/3303/0/5700', `${T}/0/5`];
          const observation = await server.observeComposite(ep, paths, { requestFormat, format });
          assertCode(observation.response, '2.05');
          assert.equal(observation.response.format, format);
          assert.deepEqual(observation.response.values, { '/3303/0/5700': 21.5, [`${T}/0/5`]: 'hello' });
          const next = once(observation, 'notification') as Promise<[{ result: OperationResult }]>;
          client.set(`${T}/0/5`, 'changed');
          const [n] = await next;
          assert.equal(n.result.format, format);
          // A composite notification carries every listed path.
          assert.deepEqual(n.result.values, { '/3303/0/5700': 21.5, [`${T}/0/5`]: 'changed' });
          const cancelled = await observation.cancel();
          assertCode(cancelled!, '2.05');
          assert.equal(client.notifications.size, 0);
        }));
    }
  }

  it('a value written by the server notifies the observer too', () =>
    withClientRig({}, async ({ server, ep }) => {
      const observation = await server.observe(ep, `${T}/0/5`);
      const next = once(observation, 'notification') as Promise<[{ result: OperationResult }]>;
      assertCode(await server.write(ep, `${T}/0/5`, 'by the server'), '2.04');
      const [n] = await next;
      assert.deepEqual(n.result.values, { [`${T}/0/5`]: 'by the server' });
      await observation.cancel();
    }));

  for (const [target, code] of [
    ['/3303/9', '4.04'],
    ['/3303/0/5601', '4.04'],
    ['/3/0/4', '4.05'],
  ] as const) {
    it(`answers ${code} to an Observe of ${target}: no observation`, () =>
      withClientRig({}, async ({ server, ep, client }) => {
        const observation = await server.observe(ep, target);
        assertCode(observation.response, code);
        assert.equal(observation.active, false);
        assert.equal(client.notifications.size, 0);
      }));
  }

  it('answers 4.06 to an Observe whose Accept cannot carry the values: no observation', () =>
    withClientRig({}, async ({ server, ep, client }) => {
      const observation = await server.observe(ep, '/3303/0', { format: 'text' });
      assertCode(observation.response, '4.06');
      assert.equal(observation.active, false);
      assert.equal(client.notifications.size, 0);
    }));
});

// ---- Errors in both directions ----

type Call = (server: LwM2mServer, ep: string) => Promise<OperationResult>;

/** Requests the client must refuse, the code it answers, and what must stay as it was. */
const CLIENT_ERRORS: readonly (readonly [string, ResultCode, Call])[] = [
  ['read of a missing instance', '4.04', (s, ep) => s.read(ep, '/3303/9')],
  ['read of an object not in the tree', '4.04', (s, ep) => s.read(ep, '/5')],
  ['read of a resource the instance lacks', '4.04', (s, ep) => s.read(ep, '/3303/0/5601')],
  ['read of a resource instance of a single resource', '4.04', (s, ep) => s.read(ep, '/3303/0/5700/0')],
  ['read of a missing resource instance', '4.04', (s, ep) => s.read(ep, `${T}/0/15/9`)],
  ['read of an executable resource', '4.05', (s, ep) => s.read(ep, '/3/0/4')],
  ['write to a missing instance', '4.04', (s, ep) => s.write(ep, '/3303/9/5700', 1)],
  ['write to a resource the object lacks', '4.04', (s, ep) => s.write(ep, `${T}/0/99`, 'x')],
  ['write of a read-only resource', '4.05', (s, ep) => s.write(ep, '/3303/0/5701', 'K')],
  [
    'instance write naming a read-only resource',
    '4.05',
    (s, ep) => s.write(ep, '/3303/0', { '/3303/0/5701': 'K' }, { mode: 'update', format: 'tlv' }),
  ],
  ['write of an object link to nothing', '4.00', (s, ep) => s.write(ep, `${T}/1/1`, Value.objlnk(3303, 9))],
  ['execute of a readable resource', '4.05', (s, ep) => s.execute(ep, '/3303/0/5700')],
  ['execute on a missing instance', '4.04', (s, ep) => s.execute(ep, '/3303/9/5605')],
  [
    'create of an existing instance',
    '4.00',
    (s, ep) => s.create(ep, '/3303/0', { '/5700': 1 }, { format: 'tlv' }),
  ],
  [
    'create without a mandatory resource',
    '4.00',
    (s, ep) => s.create(ep, '/3303/3', { '/5701': 'K' }, { format: 'tlv' }),
  ],
  ['create in an object not in the tree', '4.04', (s, ep) => s.create(ep, '/5/0', {}, { format: 'tlv' })],
  ['delete of the Device instance', '4.05', (s, ep) => s.delete(ep, '/3/0')],
  ['delete of a missing instance', '4.04', (s, ep) => s.delete(ep, '/3303/9')],
  [
    'write-attributes on a missing instance',
    '4.04',
    (s, ep) => s.writeAttributes(ep, '/3303/9', { pmin: 1 }),
  ],
  ['discover of a missing instance', '4.04', (s, ep) => s.discover(ep, '/3303/9')],
  [
    'write-composite with a missing target',
    '4.04',
    (s, ep) => s.writeComposite(ep, { '/3/0/14': 'Z', '/3303/9/5700': 1 }),
  ],
  [
    'read with an Accept the value cannot take',
    '4.06',
    (s, ep) => s.read(ep, '/3303/0/5701', { format: 'opaque' }),
  ],
];

describe("The client's error answers", () => {
  const rig = sharedRig();
  for (const [label, code, call] of CLIENT_ERRORS) {
    it(`${label}: ${code}, nothing changed`, async () => {
      const { server, ep, values } = rig();
      const before = values();
      const result = await call(server, ep);
      assertCode(result, code);
      assert.equal(result.success, false);
      assert.equal(result.conforms, true, `${code} is a code the spec allows here`);
      assert.deepEqual(values(), before);
    });
  }
});

/** Requests the server refuses before they leave (OperationError), with the client's code. */
const LOCAL_REFUSALS: readonly (readonly [
  string,
  ResultCode,
  (s: LwM2mServer, ep: string) => Promise<unknown>,
])[] = [
  ['read of /0 (Security)', '4.01', (s, ep) => s.read(ep, '/0/0')],
  ['write to /0', '4.01', (s, ep) => s.write(ep, '/0/0/0', 'coap://evil')],
  ['discover of /21 (OSCORE)', '4.01', (s, ep) => s.discover(ep, '/21')],
  ['observe of /23 (COSE)', '4.01', (s, ep) => s.observe(ep, '/23/0')],
  ['delete of /24 (MQTT Server)', '4.01', (s, ep) => s.delete(ep, '/24/0')],
  ['read-composite naming /0', '4.01', (s, ep) => s.readComposite(ep, ['/3/0/0', '/0/0/0'])],
  ['execute of an instance', '4.05', (s, ep) => s.execute(ep, '/3/0')],
  ['delete of a resource', '4.05', (s, ep) => s.delete(ep, '/3303/0/5700')],
  [
    'partial update of a single resource',
    '4.05',
    (s, ep) => s.write(ep, `${T}/0/5`, 'x', { mode: 'update' }),
  ],
  ['create in an instance path below a resource', '4.05', (s, ep) => s.create(ep, '/3303/0/5700', {})],
];

describe('Requests the server refuses locally (nothing reaches the client)', () => {
  const rig = sharedRig();
  for (const [label, code, call] of LOCAL_REFUSALS) {
    it(`${label}: OperationError ${code}`, async () => {
      const { server, ep, network } = rig();
      const sent = network.stats.sent;
      await assert.rejects(call(server, ep), (e: unknown) => {
        assert.ok(e instanceof OperationError, String(e));
        assert.equal(e.resultCode, code, e.message);
        return true;
      });
      assert.equal(network.stats.sent, sent, 'nothing sent');
    });
  }
});

// ---- Two servers: access control from the client ----

interface TwoServers {
  readonly first: LwM2mServer;
  readonly second: LwM2mServer;
  readonly client: LwM2mClient;
}

/**
 * A client registered with two servers (ssid 1 at SERVER_ADDRESS, ssid 2 at SECOND_SERVER_ADDRESS).
 * `acl`: /2 instances to provision (Access-Control-Enabled mode when given).
 */
async function withTwoServers(
  options: { acl?: readonly Parameters<typeof createAccessControlInstance>[0][] },
  body: (rig: TwoServers) => Promise<void>,
): Promise<void> {
  const network = new MemoryNetwork();
  const make = (address: string, seed: number) =>
    new LwM2mServer({
      channel: network.channel(address, 5683),
      model: rigModel,
      random: seededRandom(seed),
      requestTimeout: 3000,
    });
  const first = make(SERVER_ADDRESS, 11);
  const second = make(SECOND_SERVER_ADDRESS, 12);
  await first.start();
  await second.start();
  const executed: ExecuteCall[] = [];
  const { temperature, test0, test1 } = rigInstances(executed);
  const client = new LwM2mClient({
    endpoint: 'two',
    servers: [
      { uri: `coap://${SERVER_ADDRESS}:5683`, shortServerId: 1, lifetime: 300 },
      { uri: `coap://${SECOND_SERVER_ADDRESS}:5683`, shortServerId: 2, lifetime: 300 },
    ],
    model: rigModel,
    channel: network.channel(CLIENT_ADDRESS, 56830),
    random: seededRandom(3),
    instances: [
      temperature,
      test0,
      test1,
      ...(options.acl ?? []).map((o, i) => createAccessControlInstance({ instanceId: i, ...o })),
    ],
  });
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    const both = Promise.all([once(first, 'registered'), once(second, 'registered')]);
    await client.start();
    await both;
    await body({ first, second, client });
  } finally {
    clearInterval(keepAlive);
    await client.stop().catch(() => undefined);
    await first.stop();
    await second.stop();
  }
}

const R = 1;
const W = 2;
const C = 16;

describe('Access control (/2) between two servers', () => {
  it('without /2 instances both servers have full rights', () =>
    withTwoServers({}, async ({ first, second }) => {
      assertCode(await first.read('two', '/3303/0/5700'), '2.05');
      assertCode(await second.write('two', `${T}/0/5`, 'second'), '2.04');
      assert.deepEqual((await first.read('two', `${T}/0/5`)).values, { [`${T}/0/5`]: 'second' });
    }));

  it("answers 4.01 to what the ACL denies server 2, and leaves server 1's rights whole", () =>
    withTwoServers(
      {
        acl: [
          // Server 1 owns /3303/0 and grants server 2 Read only.
          { objectId: 3303, objectInstanceId: 0, owner: 1, acl: new Map([[2, R]]) },
          // Server 1 owns TEST_OBJECT /0, server 2 has no entry and there is no default.
          { objectId: TEST_OBJECT, objectInstanceId: 0, owner: 1 },
          // Default entry: everyone reads and writes TEST_OBJECT /1.
          { objectId: TEST_OBJECT, objectInstanceId: 1, owner: 1, acl: new Map([[0, R | W]]) },
          // Create in TEST_OBJECT for server 2 only (the object-level instance).
          { objectId: TEST_OBJECT, objectInstanceId: 65535, owner: 65535, acl: new Map([[2, C]]) },
        ],
      },
      async ({ first, second, client }) => {
        // Server 1, the owner without an entry of its own: everything.
        assertCode(await first.write('two', `${T}/0/5`, 'one'), '2.04');
        assertCode(await first.execute('two', '/3303/0/5605'), '2.04');
        // Server 2 on /3303/0: Read only.
        assertCode(await second.read('two', '/3303/0/5700'), '2.05');
        assertCode(await second.execute('two', '/3303/0/5605'), '4.01');
        assertCode(await second.delete('two', '/3303/0'), '4.01');
        // Server 2 on TEST_OBJECT /0: nothing.
        assertCode(await second.read('two', `${T}/0/5`), '4.01');
        assertCode(await second.write('two', `${T}/0/5`, 'two'), '4.01');
        assertCode(await second.writeAttributes('two', `${T}/0/5`, { pmin: 1 }), '4.01');
        assertCode((await second.observe('two', `${T}/0/5`)).response, '4.01');
        assert.deepEqual(
          client.read(`${T}/0/5`).map((r) => r.value?.value),
          ['one'],
        );
        // Object-level and composite reads leave out what server 2 may not read.
        const object = await second.read('two', T, { format: 'senml-json' });
        assertCode(object, '2.05');
        assert.ok(
          Object.keys(object.values).every((p) => p.startsWith(`${T}/1/`)),
          Object.keys(object.values).join(),
        );
        const composite = await second.readComposite('two', [`${T}/0/5`, `${T}/1/5`]);
        assert.deepEqual(composite.values, { [`${T}/1/5`]: 'every type' });
        // The default entry lets server 2 write TEST_OBJECT /1.
        assertCode(await second.write('two', `${T}/1/5`, 'default'), '2.04');
        // Write-Composite touching a denied instance is refused as a whole.
        assertCode(await second.writeComposite('two', { [`${T}/1/5`]: 'x', [`${T}/0/5`]: 'y' }), '4.01');
        assert.deepEqual(
          client.read(`${T}/1/5`).map((r) => r.value?.value),
          ['default'],
        );
        // Create: server 2 holds C on TEST_OBJECT, server 1 none.
        assertCode(await first.create('two', `${T}/2`, { '/5': 'one' }, { format: 'tlv' }), '4.01');
        assertCode(await second.create('two', '/3303/1', {}, { format: 'tlv' }), '4.01');
        assert.deepEqual(client.tree.instanceIds(TEST_OBJECT), [0, 1]);
        const created = await second.create('two', `${T}/2`, { '/5': 'two' }, { format: 'tlv' });
        assertCode(created, '2.01');
        // The creator owns the new instance with full rights; server 1 has none on it.
        assert.equal(client.access.entry(TEST_OBJECT, 2)?.owner, 2);
        assertCode(await second.read('two', `${T}/2/5`), '2.05');
        assertCode(await second.execute('two', `${T}/2/9`), '4.04', 'E granted, but nothing to execute');
        assertCode(await first.read('two', `${T}/2/5`), '4.01');
        assertCode(await first.delete('two', `${T}/2`), '4.01');
        assertCode(await second.delete('two', `${T}/2`), '2.02');
        assert.equal(client.access.entry(TEST_OBJECT, 2), undefined, 'its /2 instance went with it');
      },
    ));
});

// ---- Raw CoAP requests the typed server API cannot make ----

interface RawRig {
  readonly raw: CoapEndpoint;
  readonly client: LwM2mClient;
  readonly send: (
    code: number,
    path: readonly string[],
    options?: OptionsBuilder,
    payload?: Uint8Array,
  ) => Promise<CoapMessage>;
}

/** Our client registered with a raw CoAP endpoint playing the server. */
async function withRawServer(body: (rig: RawRig) => Promise<void>): Promise<void> {
  const network = new MemoryNetwork();
  const raw = new CoapEndpoint({ channel: network.channel(SERVER_ADDRESS, 5683), random: seededRandom(1) });
  raw.onRequest(({ message }) => {
    if (message.code === CoapCode.POST && uriPath(message).join('/') === 'rd')
      return {
        code: CoapCode.CREATED,
        options: new OptionsBuilder().strings(OptionNumber.LOCATION_PATH, ['rd', 'raw1']).build(),
      };
    if (message.code === CoapCode.POST) return { code: CoapCode.CHANGED };
    if (message.code === CoapCode.DELETE) return { code: CoapCode.DELETED };
    return { code: CoapCode.NOT_FOUND };
  });
  const executed: ExecuteCall[] = [];
  const { temperature, test0, test1 } = rigInstances(executed);
  const client = new LwM2mClient({
    endpoint: 'raw',
    servers: [{ uri: `coap://${SERVER_ADDRESS}:5683`, lifetime: 300 }],
    model: rigModel,
    channel: network.channel(CLIENT_ADDRESS, 56830),
    random: seededRandom(2),
    instances: [temperature, test0, test1],
  });
  const keepAlive = setInterval(() => undefined, 1000);
  const peer = { address: CLIENT_ADDRESS, port: 56830 };
  try {
    const registered = once(client, 'registered');
    await client.start();
    await registered;
    await body({
      raw,
      client,
      send: (code, path, options = new OptionsBuilder(), payload) =>
        raw.request(peer, {
          code,
          options: options.uriPath([...path]).build(),
          ...(payload ? { payload } : {}),
          confirmable: true,
        }),
    });
  } finally {
    clearInterval(keepAlive);
    await client.stop().catch(() => undefined);
    await raw.close();
  }
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('Requests only a raw CoAP peer can send', () => {
  it('4.15 for a Content-Format the client cannot decode or the operation never uses', () =>
    withRawServer(async ({ send, client }) => {
      const before = client.read(`${T}/0`);
      const cf = (n: number) => new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, n);
      // An unknown format.
      assert.equal(
        formatCode((await send(CoapCode.PUT, [String(TEST_OBJECT), '0', '5'], cf(1234), utf8('x'))).code),
        '4.15',
      );
      // Link format is no value format.
      assert.equal(
        formatCode((await send(CoapCode.PUT, [String(TEST_OBJECT), '0', '5'], cf(40), utf8('</1>'))).code),
        '4.15',
      );
      // TLV in a Write-Composite (SenML, SenML-ETCH, LwM2M CBOR only).
      assert.equal(
        formatCode((await send(CoapCode.IPATCH, [], cf(11542), Uint8Array.of(0xc1, 0x05, 0x41))).code),
        '4.15',
      );
      // A composite path list in TLV.
      assert.equal(
        formatCode((await send(CoapCode.FETCH, [], cf(11542), Uint8Array.of(0xc1, 0x05, 0x41))).code),
        '4.15',
      );
      // An unknown format in a Create.
      assert.equal(
        formatCode((await send(CoapCode.POST, [String(TEST_OBJECT)], cf(9999), utf8('x'))).code),
        '4.15',
      );
      assert.deepEqual(client.read(`${T}/0`), before);
    }));

  it('4.00 for values of the wrong type or out of range: nothing written or created', () =>
    withRawServer(async ({ send, client }) => {
      const before = recordsToJson(client.read('/'));
      const cf = (n: number) => new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, n);
      const senml = (records: readonly object[]) => utf8(JSON.stringify(records));
      const o = String(TEST_OBJECT);
      const cases: [number, string[], OptionsBuilder, Uint8Array][] = [
        [CoapCode.PUT, [o, '1', '4'], cf(110), senml([{ n: `${T}/1/4`, vs: 'abc' }])],
        [CoapCode.PUT, [o, '1', '2'], cf(0), utf8('maybe')],
        [CoapCode.PUT, [o, '1', '4'], cf(0), utf8('-1')],
        [CoapCode.PUT, [o, '1', '6'], cf(0), utf8('9223372036854775808')],
        [CoapCode.PUT, [o, '1', '0'], cf(0), utf8('warm')],
        [
          CoapCode.POST,
          [o, '1'],
          cf(110),
          senml([
            { n: `${T}/1/5`, vs: 'x' },
            { n: `${T}/1/2`, v: 3 },
          ]),
        ],
        [CoapCode.POST, [o], cf(110), senml([{ n: `${T}/3/2`, vs: 'maybe' }])],
        [
          CoapCode.IPATCH,
          [],
          cf(110),
          senml([
            { n: `${T}/0/5`, vs: 'changed' },
            { n: `${T}/1/2`, vs: 'maybe' },
          ]),
        ],
        [CoapCode.POST, ['3303', '0', '5605'], cf(0), utf8("a='1'")],
      ];
      for (const [code, path, options, payload] of cases) {
        const answer = await send(code, path, options, payload);
        assert.equal(formatCode(answer.code), '4.00', `${formatCode(code)} /${path.join('/')}`);
      }
      assert.deepEqual(recordsToJson(client.read('/')), before);
      assert.deepEqual(client.tree.instanceIds(TEST_OBJECT), [0, 1]);
    }));

  it('4.06 for an Accept that is no LwM2M format', () =>
    withRawServer(async ({ send }) => {
      const accept = new OptionsBuilder().uint(OptionNumber.ACCEPT, 1234);
      assert.equal(formatCode((await send(CoapCode.GET, ['3303', '0', '5700'], accept)).code), '4.06');
    }));

  it('4.01 for the bootstrap-only objects, from the client itself', () =>
    withRawServer(async ({ send }) => {
      assert.equal(formatCode((await send(CoapCode.GET, ['0', '0'])).code), '4.01');
      assert.equal(formatCode((await send(CoapCode.DELETE, ['0', '0'])).code), '4.01');
      const link = new OptionsBuilder().uint(OptionNumber.ACCEPT, 40);
      assert.equal(formatCode((await send(CoapCode.GET, ['0'], link)).code), '4.01');
    }));

  it('Discover: depth 4 is 4.00, a resource instance 4.05, a depth=0 answer lists only the target', () =>
    withRawServer(async ({ send }) => {
      const discover = (depth?: string) => {
        const o = new OptionsBuilder();
        if (depth !== undefined) o.uriQuery([`depth=${depth}`]);
        return o.uint(OptionNumber.ACCEPT, 40);
      };
      assert.equal(formatCode((await send(CoapCode.GET, ['3303', '0'], discover('4'))).code), '4.00');
      assert.equal(
        formatCode((await send(CoapCode.GET, [String(TEST_OBJECT), '0', '15', '0'], discover())).code),
        '4.05',
      );
      const zero = await send(CoapCode.GET, ['3303', '0'], discover('0'));
      assert.equal(formatCode(zero.code), '2.05');
      assert.equal(new TextDecoder().decode(zero.payload), '</3303/0>');
    }));

  it('a request with an Observe value other than 0/1 is 4.00; a payload without Content-Format is 4.00', () =>
    withRawServer(async ({ send }) => {
      const observe = new OptionsBuilder().uint(OptionNumber.OBSERVE, 7);
      assert.equal(formatCode((await send(CoapCode.GET, ['3303', '0', '5700'], observe)).code), '4.00');
      assert.equal(
        formatCode((await send(CoapCode.PUT, [String(TEST_OBJECT), '0', '5'], undefined, utf8('x'))).code),
        '4.00',
      );
    }));

  it('answers 4.01 to a server it is not registered with (Core §6.3)', async () => {
    const network = new MemoryNetwork();
    const stranger = new CoapEndpoint({
      channel: network.channel('10.0.0.9', 5683),
      random: seededRandom(4),
    });
    const client = new LwM2mClient({
      endpoint: 'lonely',
      servers: [{ uri: `coap://${SERVER_ADDRESS}:5683` }],
      model: rigModel,
      channel: network.channel(CLIENT_ADDRESS, 56830),
      random: seededRandom(6),
    });
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      await client.start();
      const answer = await stranger.request(
        { address: CLIENT_ADDRESS, port: 56830 },
        {
          code: CoapCode.GET,
          options: new OptionsBuilder().uriPath(['3', '0', '0']).build(),
          confirmable: true,
        },
      );
      assert.equal(formatCode(answer.code), '4.01');
    } finally {
      clearInterval(keepAlive);
      await client.stop().catch(() => undefined);
      await stranger.close();
    }
  });
});
