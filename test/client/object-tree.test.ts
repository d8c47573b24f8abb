import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDeviceInstance, createServerInstance } from '../../src/client/core-instances.js';
import type { InstanceEnabler, TreeResult } from '../../src/client/instance.js';
import { MemoryInstance } from '../../src/client/instance.js';
import type { TreeChangeKind } from '../../src/client/object-tree.js';
import { ObjectTree } from '../../src/client/object-tree.js';
import { Value } from '../../src/model/data-types.js';
import { formatLinkFormat } from '../../src/model/link-format.js';
import type { ObjectDefinition, ResourceDefinition } from '../../src/model/object-definition.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import type { ResultCode } from '../../src/operations/result-code.js';
import { plain, rec } from '../support/records.js';
import { TEST_OBJECT_DEFINITION } from '../support/test-model.js';

const P = (text: string) => LwM2mPath.parse(text);

function res(
  id: number,
  over: Partial<ResourceDefinition> & Pick<ResourceDefinition, 'type'>,
): ResourceDefinition {
  return { id, name: `r${id}`, operations: 'RW', multiple: false, mandatory: false, ...over };
}

/**
 * The spec's /34 example object (LWM2M-1.2.md §1.3 Write), fleshed out: 0 mandatory RW string,
 * 1 multiple RW string (the colours), 2 read-only mandatory integer, 3 optional RW integer 0..100,
 * 4 executable, 5 RW objlnk, 6 write-only opaque.
 */
const COLOURS: ObjectDefinition = {
  id: 34,
  name: 'Colours',
  version: '1.1',
  lwm2mVersion: '1.2',
  urn: 'urn:oma:lwm2m:oma:34:1.1',
  multiple: true,
  mandatory: false,
  resources: new Map(
    [
      res(0, { type: 'string', mandatory: true }),
      res(1, { type: 'string', multiple: true }),
      res(2, { type: 'integer', operations: 'R', mandatory: true }),
      res(3, { type: 'integer', range: { min: 0, max: 100 }, rangeText: '0..100' }),
      res(4, { type: 'none', operations: 'E' }),
      res(5, { type: 'objlnk' }),
      res(6, { type: 'opaque', operations: 'W' }),
    ].map((r) => [r.id, r]),
  ),
};

const model = createDefaultRegistry().add(COLOURS).add(TEST_OBJECT_DEFINITION);
const str = (s: string) => Value.string(s);

function colours(iid = 0): MemoryInstance {
  return new MemoryInstance(COLOURS, 34, iid, [
    rec(`/34/${iid}/0`, str('name')),
    rec(`/34/${iid}/1/0`, str('Red')),
    rec(`/34/${iid}/1/1`, str('Green')),
    rec(`/34/${iid}/2`, Value.integer(7)),
    rec(`/34/${iid}/3`, Value.integer(50)),
  ]);
}

function makeTree(options: Partial<ConstructorParameters<typeof ObjectTree>[0]> = {}): ObjectTree {
  return new ObjectTree({ model, ...options })
    .addObject(34, { defaults: [rec('/0', str('unnamed')), rec('/2', Value.integer(0))] })
    .addInstance(createServerInstance({ shortServerId: 1 }))
    .addInstance(createDeviceInstance({ now: () => 1 }))
    .addInstance(colours());
}

function code<T>(result: TreeResult<T>): string {
  return result.ok ? 'ok' : result.code;
}

function colourValues(tree: ObjectTree, iid = 0): Record<string, string> {
  const read = tree.read(P(`/34/${iid}/1`));
  assert.ok(read.ok);
  return Object.fromEntries(
    read.value.flatMap((r) =>
      r.value?.type === 'string' ? [[String(r.path.resourceInstanceId), r.value.value]] : [],
    ),
  );
}

const yellowBlue = (base = '/34/0/1') => [rec(`${base}/1`, str('Yellow')), rec(`${base}/3`, str('Blue'))];

describe('ObjectTree Write: Replace vs Partial Update (the /34 example)', () => {
  it('Replace of the resource leaves {1,3}; Partial Update leaves {0,1,3}', () => {
    const replaced = makeTree();
    assert.equal(code(replaced.write(P('/34/0/1'), yellowBlue(), 'replace')), 'ok');
    assert.deepEqual(colourValues(replaced), { 1: 'Yellow', 3: 'Blue' });
    const updated = makeTree();
    assert.equal(code(updated.write(P('/34/0/1'), yellowBlue(), 'update')), 'ok');
    assert.deepEqual(colourValues(updated), { 0: 'Red', 1: 'Yellow', 3: 'Blue' });
  });

  it('the same through the instance; instance Replace also drops optional writable resources it omits', () => {
    const replaced = makeTree();
    assert.equal(code(replaced.write(P('/34/0'), yellowBlue(), 'replace')), 'ok');
    assert.deepEqual(colourValues(replaced), { 1: 'Yellow', 3: 'Blue' });
    const after = replaced.read(P('/34/0'));
    assert.ok(after.ok);
    // 0 (mandatory) and 2 (read-only) stay; 3 (optional, writable) is gone.
    assert.deepEqual([...new Set(after.value.map((r) => r.path.resourceId))], [0, 1, 2]);
    const updated = makeTree();
    assert.equal(code(updated.write(P('/34/0'), yellowBlue(), 'update')), 'ok');
    assert.deepEqual(colourValues(updated), { 0: 'Red', 1: 'Yellow', 3: 'Blue' });
    assert.equal(code(updated.read(P('/34/0/3'))), 'ok');
  });

  it('Replace of a multiple resource with no instances empties it; a resource instance is set alone', () => {
    const tree = makeTree();
    assert.equal(code(tree.write(P('/34/0/1'), [], 'replace')), 'ok');
    assert.deepEqual(
      plain(tree.read(P('/34/0/1')).ok ? (tree.read(P('/34/0/1')) as { value: LwM2mRecord[] }).value : []),
      [{ path: '/34/0/1' }],
    );
    assert.equal(code(tree.write(P('/34/0/1/4'), [rec('/34/0/1/4', str('Pink'))], 'replace')), 'ok');
    assert.deepEqual(colourValues(tree), { 4: 'Pink' });
    assert.equal(code(tree.write(P('/34/0/0'), [rec('/34/0/0', str('n2'))], 'replace')), 'ok');
    assert.deepEqual(plain((tree.read(P('/34/0/0')) as { value: LwM2mRecord[] }).value), [
      { path: '/34/0/0', type: 'string', value: 'n2' },
    ]);
  });
});

describe('ObjectTree Write: refusals', () => {
  const cases: [string, string, LwM2mRecord[], 'replace' | 'update', ResultCode][] = [
    ['a missing instance', '/34/9', [rec('/34/9/0', str('x'))], 'update', '4.04'],
    ['an object the tree lacks', '/42769/0', [], 'update', '4.04'],
    ['an undefined resource as target', '/34/0/40', [rec('/34/0/40', str('x'))], 'replace', '4.04'],
    ['a read-only resource in the payload', '/34/0', [rec('/34/0/2', Value.integer(1))], 'update', '4.05'],
    ['an executable resource', '/34/0/4', [rec('/34/0/4', Value.none())], 'replace', '4.05'],
    ['a wrong type', '/34/0/3', [rec('/34/0/3', str('ten'))], 'replace', '4.00'],
    ['a value out of range', '/34/0/3', [rec('/34/0/3', Value.integer(101))], 'replace', '4.00'],
    ['a record outside the target', '/34/0/3', [rec('/34/0/0', str('x'))], 'replace', '4.00'],
    ['a resource instance of a single resource', '/34/0', [rec('/34/0/0/1', str('x'))], 'update', '4.00'],
    ['a single value for a multiple resource', '/34/0', [rec('/34/0/1', str('x'))], 'update', '4.00'],
    ['duplicate records', '/34/0', [rec('/34/0/0', str('a')), rec('/34/0/0', str('b'))], 'update', '4.00'],
    ['an object link to nothing', '/34/0/5', [rec('/34/0/5', Value.objlnk(3, 1))], 'replace', '4.00'],
    ['an object-level Write', '/34', [rec('/34/0/0', str('x'))], 'update', '4.05'],
    ['a write without values', '/34/0/0', [], 'replace', '4.00'],
  ];
  for (const [what, path, records, mode, expected] of cases)
    it(`${expected} for ${what}`, () => {
      const tree = makeTree();
      const before = JSON.stringify(plain((tree.read(P('/34/0')) as { value: LwM2mRecord[] }).value));
      assert.equal(code(tree.write(P(path), records, mode)), expected);
      assert.equal(JSON.stringify(plain((tree.read(P('/34/0')) as { value: LwM2mRecord[] }).value)), before);
    });

  it('accepts links to an existing instance, a present object and the null link', () => {
    const tree = makeTree();
    for (const [o, i] of [
      [3, 0],
      [3, 65535],
      [65535, 65535],
    ] as const)
      assert.equal(code(tree.write(P('/34/0/5'), [rec('/34/0/5', Value.objlnk(o, i))], 'replace')), 'ok');
  });

  it('ignores unknown resources inside an instance write', () => {
    const tree = makeTree();
    assert.equal(
      code(tree.write(P('/34/0'), [rec('/34/0/0', str('n')), rec('/34/0/77', str('?'))], 'update')),
      'ok',
    );
    assert.equal(code(tree.read(P('/34/0/77'))), '4.04');
  });

  it('converts values whose type the model fixes (an inferred integer into a float resource)', () => {
    const tree = new ObjectTree({ model }).addInstance(new MemoryInstance(TEST_OBJECT_DEFINITION, 42769, 0));
    assert.equal(code(tree.write(P('/42769/0/0'), [rec('/42769/0/0', Value.integer(3))], 'replace')), 'ok');
    assert.deepEqual(tree.instance(42769, 0)!.read()[0]!.value, { type: 'float', value: 3 });
  });

  it('Bootstrap-Write may write read-only resources, whole objects, and creates instances', () => {
    const tree = makeTree();
    assert.equal(
      code(tree.write(P('/34/0/2'), [rec('/34/0/2', Value.integer(9))], 'replace', { bootstrap: true })),
      'ok',
    );
    assert.equal(
      code(
        tree.write(P('/34'), [rec('/34/5/0', str('new')), rec('/34/0/0', str('b'))], 'update', {
          bootstrap: true,
        }),
      ),
      'ok',
    );
    assert.deepEqual(tree.instanceIds(34), [0, 5]);
    assert.deepEqual(plain((tree.read(P('/34/0/0')) as { value: LwM2mRecord[] }).value), [
      { path: '/34/0/0', type: 'string', value: 'b' },
    ]);
  });
});

describe('ObjectTree Read', () => {
  it('answers 4.04 for what is missing and 4.05 for what is not readable', () => {
    const tree = makeTree();
    assert.equal(code(tree.read(P('/5'))), '4.04');
    assert.equal(code(tree.read(P('/3/1'))), '4.04');
    assert.equal(code(tree.read(P('/3/0/9'))), '4.04'); // optional, not present
    assert.equal(code(tree.read(P('/3/0/4'))), '4.05'); // Reboot: executable
    assert.equal(code(tree.read(P('/34/0/6'))), '4.05'); // write-only
    assert.equal(code(tree.read(P('/3/0/0/0'))), '4.04'); // resource instance of a single resource
    assert.equal(code(tree.read(P('/34/0/1/7'))), '4.04');
  });

  it('reads an instance without its unreadable resources', () => {
    const tree = makeTree();
    tree.write(P('/34/0/6'), [rec('/34/0/6', Value.opaque(new Uint8Array([1])))], 'replace');
    const read = tree.read(P('/34/0'));
    assert.ok(read.ok);
    assert.deepEqual(
      read.value.map((r) => r.path.toString()),
      ['/34/0/0', '/34/0/1/0', '/34/0/1/1', '/34/0/2', '/34/0/3'],
    );
    assert.equal(code(tree.read(P('/34/0/1/1'))), 'ok');
  });

  it('reads an object without instances as nothing, and the root as everything', () => {
    const tree = makeTree().addObject(42769);
    assert.deepEqual(tree.read(P('/42769')), { ok: true, value: [] });
    const all = tree.read(LwM2mPath.ROOT);
    assert.ok(all.ok);
    assert.deepEqual([...new Set(all.value.map((r) => r.path.objectId))], [1, 3, 34]);
  });

  it('Read-Composite is best effort, without duplicates, and honours the filter', () => {
    const tree = makeTree();
    const paths = ['/3/0/0', '/3/0/4', '/5/0/1', '/3/0', '/34/0/1/1'].map(P);
    const records = tree.readComposite(paths);
    assert.equal(records.filter((r) => r.path.toString() === '/3/0/0').length, 1);
    assert.ok(records.some((r) => r.path.toString() === '/34/0/1/1'));
    const filtered = tree.readComposite(paths, { filter: (o) => o !== 3 });
    assert.deepEqual(plain(filtered), [{ path: '/34/0/1/1', type: 'string', value: 'Green' }]);
  });
});

describe('ObjectTree Execute', () => {
  it('runs the handler with the arguments', async () => {
    const tree = makeTree();
    let args: unknown;
    (tree.instance(3, 0) as MemoryInstance).onExecute(4, (a) => {
      args = a;
    });
    assert.equal(code(await tree.execute(P('/3/0/4'), [{ digit: 0 }, { digit: 1, value: 'x' }])), 'ok');
    assert.deepEqual(args, [{ digit: 0 }, { digit: 1, value: 'x' }]);
  });

  it('4.05 for a non-executable resource or a non-resource path, 4.04 for what is missing, 5.00 on a throw', async () => {
    const tree = makeTree();
    assert.equal(code(await tree.execute(P('/3/0/0'))), '4.05');
    assert.equal(code(await tree.execute(P('/3/0'))), '4.05');
    assert.equal(code(await tree.execute(P('/3/1/4'))), '4.04');
    assert.equal(code(await tree.execute(P('/3/0/5'))), '4.04'); // Factory Reset not supported here
    assert.equal(code(await tree.execute(P('/3/0/99'))), '4.04');
    (tree.instance(34, 0) as MemoryInstance).onExecute(4, () => {
      throw new Error('boom');
    });
    assert.equal(code(await tree.execute(P('/34/0/4'))), '5.00');
  });
});

describe('ObjectTree Create', () => {
  it('fills defaults, assigns the lowest free id, ignores read-only and unknown values', () => {
    const tree = makeTree();
    tree.addInstance(colours(2));
    const created = tree.create(P('/34'), {
      instanceId: undefined,
      resources: [rec('/3', Value.integer(5)), rec('/2', Value.integer(99)), rec('/50', str('?'))],
    });
    assert.deepEqual(created, { ok: true, value: 1 });
    assert.deepEqual(plain((tree.read(P('/34/1')) as { value: LwM2mRecord[] }).value), [
      { path: '/34/1/0', type: 'string', value: 'unnamed' },
      { path: '/34/1/2', type: 'integer', value: '0' },
      { path: '/34/1/3', type: 'integer', value: '5' },
    ]);
    assert.deepEqual(tree.create(P('/34'), { instanceId: 65535, resources: [] }), { ok: true, value: 3 });
  });

  it('payload values win over defaults, resource by resource', () => {
    const tree = makeTree();
    const created = tree.create(P('/34'), {
      instanceId: 7,
      resources: [rec('/0', str('mine')), rec('/1/4', str('Teal'))],
    });
    assert.deepEqual(created, { ok: true, value: 7 });
    assert.deepEqual(colourValues(tree, 7), { 4: 'Teal' });
    assert.deepEqual((tree.instance(34, 7) as MemoryInstance).get(0), str('mine'));
  });

  it('4.00 when a mandatory resource stays missing, the id is taken, or a value is bad; nothing is created', () => {
    const bare = new ObjectTree({ model }).addObject(34);
    assert.equal(
      code(bare.create(P('/34'), { instanceId: undefined, resources: [rec('/0', str('n'))] })),
      '4.00',
    );
    const tree = makeTree();
    assert.equal(code(tree.create(P('/34'), { instanceId: 0, resources: [] })), '4.00');
    assert.equal(
      code(tree.create(P('/34'), { instanceId: 4, resources: [rec('/3', Value.integer(500))] })),
      '4.00',
    );
    assert.equal(code(tree.create(P('/34'), { instanceId: 4, resources: [rec('/0/1', str('x'))] })), '4.00');
    assert.deepEqual(bare.instanceIds(34), []);
    assert.deepEqual(tree.instanceIds(34), [0]);
  });

  it('a single-instance object gets instance 0, and 4.00 once it exists', () => {
    const tree = new ObjectTree({ model }).addObject(6, {
      defaults: [rec('/0', Value.float(1)), rec('/1', Value.float(2)), rec('/5', Value.time(3))],
    });
    assert.deepEqual(tree.create(P('/6'), { instanceId: undefined, resources: [] }), { ok: true, value: 0 });
    assert.equal(code(tree.create(P('/6'), { instanceId: undefined, resources: [] })), '4.00');
    assert.equal(
      code(new ObjectTree({ model }).addObject(6).create(P('/6'), { instanceId: 2, resources: [] })),
      '4.00',
    );
  });

  it('4.04 for an object not in the tree; the application may refuse (and sees the final values)', () => {
    let seen: unknown;
    const tree = makeTree({
      onCreate: (oid, inst) => {
        seen = { oid, iid: inst.instanceId, rids: inst.resources.map((r) => r.path.toString()) };
        return '4.03';
      },
    });
    assert.equal(code(tree.create(P('/5'), { instanceId: undefined, resources: [] })), '4.04');
    assert.equal(
      code(tree.create(P('/34'), { instanceId: undefined, resources: [rec('/3', Value.integer(1))] })),
      '4.03',
    );
    assert.deepEqual(seen, { oid: 34, iid: 1, rids: ['/0', '/2', '/3'] });
    assert.deepEqual(tree.instanceIds(34), [0]);
  });

  it('uses the object factory', () => {
    const tree = new ObjectTree({ model }).addObject(42769, {
      factory: (iid, records, def) =>
        new MemoryInstance(def, 42769, iid, [...records, rec(`/42769/${iid}/5`, str('made'))]),
    });
    assert.deepEqual(tree.create(P('/42769'), { instanceId: undefined, resources: [] }), {
      ok: true,
      value: 0,
    });
    assert.deepEqual((tree.instance(42769, 0) as MemoryInstance).get(5), str('made'));
  });
});

describe('ObjectTree Delete', () => {
  it('/3/0 cannot be deleted (4.05); other instances can; missing ones are 4.04', () => {
    const tree = makeTree();
    assert.equal(code(tree.delete(P('/3/0'))), '4.05');
    assert.equal(code(tree.delete(P('/34/0'))), 'ok');
    assert.deepEqual(tree.instanceIds(34), []);
    assert.equal(code(tree.delete(P('/34/0'))), '4.04');
    assert.equal(code(tree.delete(P('/34'))), '4.05');
    assert.equal(code(tree.delete(P('/1/0/1'))), '4.05');
  });

  it('deletes a resource instance of a writable multiple resource only', () => {
    const tree = makeTree();
    assert.equal(code(tree.delete(P('/34/0/1/0'))), 'ok');
    assert.deepEqual(colourValues(tree), { 1: 'Green' });
    assert.equal(code(tree.delete(P('/34/0/1/0'))), '4.04');
    assert.equal(code(tree.delete(P('/3/0/11/0'))), '4.05'); // Error Code is read-only
  });

  it('the application may refuse', () => {
    const tree = makeTree({ onDelete: (p) => (p.toString() === '/34/0' ? '4.00' : undefined) });
    assert.equal(code(tree.delete(P('/34/0'))), '4.00');
    assert.deepEqual(tree.instanceIds(34), [0]);
    assert.equal(code(tree.delete(P('/34/0/1/1'))), 'ok');
  });
});

describe('ObjectTree Discover (the depth table)', () => {
  const discover = (tree: ObjectTree, path: string, depth?: number) => {
    const r = tree.discover(P(path), depth);
    assert.ok(r.ok, r.ok ? '' : r.message);
    return formatLinkFormat(r.value);
  };
  const tree = makeTree();
  (tree.instance(3, 0) as MemoryInstance).set(11, [0, 1]);

  it('object: depth 0 object, 1 + instances, 2 (default) + resources, 3 + resource instances', () => {
    assert.equal(discover(tree, '/3', 0), '</3>');
    assert.equal(discover(tree, '/3', 1), '</3>,</3/0>');
    const resources =
      '</3/0/0>,</3/0/1>,</3/0/2>,</3/0/3>,</3/0/4>,</3/0/11>;dim=2,</3/0/12>,</3/0/13>,</3/0/16>';
    assert.equal(discover(tree, '/3'), `</3>,</3/0>,${resources}`);
    assert.equal(discover(tree, '/3', 2), `</3>,</3/0>,${resources}`);
    assert.equal(
      discover(tree, '/3', 3),
      `</3>,</3/0>,${resources.replace('</3/0/11>;dim=2', '</3/0/11>;dim=2,</3/0/11/0>,</3/0/11/1>')}`,
    );
  });

  it('instance: depth 0 instance, 1 (default) + resources, 2 + resource instances', () => {
    assert.equal(discover(tree, '/34/0', 0), '</34/0>');
    assert.equal(discover(tree, '/34/0'), '</34/0>,</34/0/0>,</34/0/1>;dim=2,</34/0/2>,</34/0/3>');
    assert.equal(
      discover(tree, '/34/0', 2),
      '</34/0>,</34/0/0>,</34/0/1>;dim=2,</34/0/1/0>,</34/0/1/1>,</34/0/2>,</34/0/3>',
    );
    assert.equal(discover(tree, '/34/0', 3), discover(tree, '/34/0', 2));
  });

  it('resource: depth 0 resource, 1 (default) + resource instances', () => {
    assert.equal(discover(tree, '/34/0/1', 0), '</34/0/1>;dim=2');
    assert.equal(discover(tree, '/34/0/1'), '</34/0/1>;dim=2,</34/0/1/0>,</34/0/1/1>');
    assert.equal(discover(tree, '/34/0/0'), '</34/0/0>');
  });

  it('ver= when the object version is not the implied one; 4.04 for missing targets', () => {
    assert.equal(discover(tree, '/34', 0), '</34>;ver=1.1');
    const old = new ObjectTree({ model }).addObject(3, { version: '1.1' }).addObject(1);
    assert.equal(discover(old, '/3', 0), '</3>;ver=1.1');
    assert.equal(discover(old, '/1', 0), '</1>');
    assert.equal(code(tree.discover(P('/5'))), '4.04');
    assert.equal(code(tree.discover(P('/34/3'))), '4.04');
    assert.equal(code(tree.discover(P('/34/0/6'))), '4.04');
    assert.equal(code(tree.discover(P('/34/0/1/0'))), '4.05');
  });
});

describe('ObjectTree registration list and composite writes', () => {
  it('lists objects with ver= and instances, without /0, /21, /23', () => {
    const tree = makeTree()
      .addObject(0)
      .addInstance(new MemoryInstance(undefined, 0, 0))
      .addObject(21)
      .addObject(23);
    tree.addObject(42769);
    assert.deepEqual(tree.registrationObjects(), [
      { id: 1, instances: [0] },
      { id: 3, instances: [0] },
      { id: 34, version: '1.1', instances: [0] },
      { id: 42769, instances: [] },
    ]);
    assert.deepEqual(tree.registrationObjects(new Map([[3, '1.1']]))[1], {
      id: 3,
      version: '1.2',
      instances: [0],
    });
  });

  it('Write-Composite writes all or nothing', () => {
    const tree = makeTree();
    const good = [
      rec('/34/0/3', Value.integer(1)),
      rec('/1/0/1', Value.integer(60)),
      rec('/34/0/1/5', str('Grey')),
    ];
    assert.equal(code(tree.writeComposite([...good, rec('/3/0/0', str('x'))])), '4.05');
    assert.equal(code(tree.writeComposite([...good, rec('/34/9/0', str('x'))])), '4.04');
    assert.equal(code(tree.writeComposite([...good, rec('/34/0/3', Value.integer(1000))].slice(1))), '4.00');
    assert.equal(code(tree.writeComposite([rec('/34/0', str('x'))])), '4.00');
    assert.deepEqual((tree.instance(34, 0) as MemoryInstance).get(3), Value.integer(50));
    assert.equal(code(tree.writeComposite([...good, rec('/34/0/1/0')])), 'ok');
    assert.deepEqual(colourValues(tree), { 1: 'Green', 5: 'Grey' });
    assert.deepEqual((tree.instance(1, 0) as MemoryInstance).get(1), Value.integer(60));
    assert.equal(code(tree.writeComposite([rec('/34/0/1/0')])), '4.04');
  });

  it('Write-Composite puts values back when an enabler refuses midway', () => {
    const tree = makeTree();
    const refusing: InstanceEnabler = {
      objectId: 42769,
      instanceId: 0,
      read: () => [],
      write: () => ({ ok: false, code: '4.00', message: 'refused' }),
      execute: () => ({ ok: true, value: undefined }),
    };
    tree.addInstance(refusing);
    const result = tree.writeComposite([rec('/34/0/3', Value.integer(1)), rec('/42769/0/5', str('x'))]);
    assert.equal(code(result), '4.00');
    assert.deepEqual((tree.instance(34, 0) as MemoryInstance).get(3), Value.integer(50));
  });
});

describe('ObjectTree change events', () => {
  it('reports application sets, writes, creates and deletes, and nothing for refused requests', async () => {
    const tree = makeTree();
    const events: [string[], TreeChangeKind][] = [];
    const off = tree.onChange((paths, kind) => events.push([paths.map(String), kind]));
    (tree.instance(3, 0) as MemoryInstance).set(9, 50);
    tree.write(P('/34/0'), [rec('/34/0/1/1', str('Lime')), rec('/34/0/0', str('z'))], 'update');
    tree.write(P('/34/0/3'), [rec('/34/0/3', str('bad'))], 'replace');
    tree.create(P('/34'), { instanceId: undefined, resources: [] });
    tree.delete(P('/34/1'));
    tree.delete(P('/34/0/1/1'));
    tree.writeComposite([rec('/1/0/1', Value.integer(5))]);
    await tree.execute(P('/3/0/4'));
    off();
    (tree.instance(3, 0) as MemoryInstance).set(9, 51);
    tree.removeInstance(34, 0);
    assert.deepEqual(events, [
      [['/3/0/9'], 'values'],
      [['/34/0/1', '/34/0/0'], 'values'],
      [['/34/1'], 'structure'],
      [['/34/1'], 'structure'],
      [['/34/0/1'], 'values'],
      [['/1/0/1'], 'values'],
    ]);
  });

  it('an instance Replace reports the resources it removed; a removed instance stops reporting', () => {
    const tree = makeTree();
    const events: string[][] = [];
    tree.onChange((paths) => events.push(paths.map(String)));
    tree.write(P('/34/0'), [rec('/34/0/0', str('n'))], 'replace');
    const inst = tree.instance(34, 0) as MemoryInstance;
    tree.removeInstance(34, 0);
    inst.set(0, 'after');
    // 1 (optional multiple) is emptied, 3 (optional single) removed.
    assert.deepEqual(events, [['/34/0/0', '/34/0/1', '/34/0/3'], ['/34/0']]);
    assert.deepEqual(plain(inst.read()), [
      { path: '/34/0/0', type: 'string', value: 'after' },
      { path: '/34/0/1' },
      { path: '/34/0/2', type: 'integer', value: '7' },
    ]);
  });

  it('a throwing listener does not break the tree', () => {
    const errors: unknown[] = [];
    const tree = makeTree({ onListenerError: (e) => errors.push(e) });
    tree.onChange(() => {
      throw new Error('listener');
    });
    assert.equal(code(tree.write(P('/34/0/0'), [rec('/34/0/0', str('n'))], 'replace')), 'ok');
    assert.equal(errors.length, 1);
  });
});
