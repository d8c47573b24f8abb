import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CORE_OBJECTS, CORE_OBJECT_VERSIONS } from '../../src/model/core-objects.js';
import { DdfError } from '../../src/model/ddf-loader.js';
import type { ObjectDefinition, ResourceDefinition } from '../../src/model/object-definition.js';
import {
  ObjectRegistry,
  compareObjectVersions,
  createDefaultRegistry,
} from '../../src/model/object-registry.js';
import { requireShared } from '../support/shared.js';

/** A tiny definition whose resource ids tell the versions apart. */
function def(
  id: number,
  version: string,
  resourceIds: number[] = [0],
  name = `Obj ${id} v${version}`,
): ObjectDefinition {
  const resources = new Map<number, ResourceDefinition>(
    resourceIds.map((rid) => [
      rid,
      { id: rid, name: `r${rid}`, operations: 'R', multiple: false, mandatory: false, type: 'integer' },
    ]),
  );
  return {
    id,
    name,
    version,
    lwm2mVersion: '1.1',
    urn: `urn:oma:lwm2m:x:${id}:${version}`,
    multiple: true,
    mandatory: false,
    resources,
  };
}

describe('compareObjectVersions', () => {
  it('orders numerically, text first', () => {
    assert.deepEqual(['2.0', '1.10', 'x', '1.2', '1.0'].sort(compareObjectVersions), [
      'x',
      '1.0',
      '1.2',
      '1.10',
      '2.0',
    ]);
    assert.equal(compareObjectVersions('1.2', '01.2'), 0);
  });
});

describe('ObjectRegistry version resolution', () => {
  const registry = new ObjectRegistry().addAll([
    def(40000, '1.0'),
    def(40000, '1.2'),
    def(40000, '1.4'),
    def(40000, '2.1'),
    def(40000, '2.3'),
  ]);
  const versionOf = (v?: string): string | undefined => registry.object(40000, v)?.version;

  it('returns the exact version when known', () => {
    assert.equal(versionOf('1.2'), '1.2');
    assert.equal(versionOf('2.3'), '2.3');
    assert.equal(versionOf('1'), '1.0', '"1" means 1.0');
    assert.equal(versionOf('01.2'), '1.2', 'versions compare by number, not spelling');
  });

  it('falls back to the highest lower minor of the same major', () => {
    assert.equal(versionOf('1.3'), '1.2');
    assert.equal(versionOf('1.9'), '1.4');
    assert.equal(versionOf('2.2'), '2.1');
    assert.equal(versionOf('2.7'), '2.3');
  });

  it('else to the lowest higher minor of the same major', () => {
    assert.equal(versionOf('2.0'), '2.1');
  });

  it('else to the default version', () => {
    // Not a core object, so the default is the highest version.
    assert.equal(registry.defaultVersion(40000), '2.3');
    assert.equal(versionOf(), '2.3');
    assert.equal(versionOf('3.0'), '2.3');
    assert.equal(versionOf('0.5'), '2.3');
    assert.equal(versionOf('garbage'), '2.3');
  });

  it('answers resource lookups at the resolved version', () => {
    const r = new ObjectRegistry().addAll([def(40001, '1.0', [0, 1]), def(40001, '1.1', [0, 1, 2])]);
    assert.equal(r.resource(40001, 2, '1.0'), undefined);
    assert.equal(r.resource(40001, 2, '1.1')?.id, 2);
    assert.equal(r.resource(40001, 2)?.id, 2);
    assert.equal(r.resource(40001, 9), undefined);
    assert.equal(r.resource(40002, 0), undefined);
    assert.equal(r.object(40002), undefined);
    assert.equal(r.defaultVersion(40002), undefined);
  });

  it('lists ids and versions and iterates in order', () => {
    assert.deepEqual(registry.versions(40000), ['1.0', '1.2', '1.4', '2.1', '2.3']);
    assert.deepEqual(registry.versions(1), []);
    assert.ok(registry.has(40000));
    assert.ok(registry.has(40000, '1.4'));
    assert.ok(!registry.has(40000, '1.3'), 'has() is exact, no fallback');
    assert.ok(!registry.has(40001));
    const r = new ObjectRegistry().addAll([def(7, '1.1'), def(5, '1.0'), def(7, '1.0')]);
    assert.deepEqual(r.ids(), [5, 7]);
    assert.equal(r.size, 3);
    assert.deepEqual(
      [...r].map((d) => `${d.id}@${d.version}`),
      ['5@1.0', '7@1.0', '7@1.1'],
    );
  });
});

describe('ObjectRegistry with the core objects', () => {
  const registry = ObjectRegistry.withCoreObjects();

  it('holds the whole catalogue', () => {
    assert.equal(registry.size, CORE_OBJECTS.length);
    assert.deepEqual(registry.ids(), [0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 21, 23, 24, 25, 26, 27]);
    assert.deepEqual(registry.versions(0), ['1.0', '1.1', '1.2']);
    assert.deepEqual(registry.versions(25), ['1.0', '2.0']);
    for (const id of registry.ids()) assert.ok(registry.isBuiltIn(id, registry.defaultVersion(id)!));
  });

  it('defaults to the 1.2-era versions, not the highest', () => {
    for (const [id, version] of CORE_OBJECT_VERSIONS) {
      assert.equal(registry.defaultVersion(id), version, `/${id}`);
      assert.equal(registry.object(id)?.version, version, `/${id}`);
    }
    assert.equal(registry.object(25)?.version, '1.0', '/25 2.0 is known but 1.0 is the Core 1.2 one');
    assert.equal(registry.object(5)?.resources.has(14), true, '/5 1.2 has Automatic Upgrade at Download');
  });

  it('serves a 1.1 client its 1.1 objects', () => {
    const server11 = registry.object(1, '1.1');
    assert.equal(server11?.version, '1.1');
    assert.equal(server11?.resources.has(23), true);
    assert.equal(server11?.resources.has(24), false);
    assert.equal(registry.resource(1, 27, '1.1'), undefined);
    assert.equal(registry.resource(1, 27)?.name, 'Profile ID Hash Algorithm');
    assert.equal(registry.object(0, '1.0')?.resources.size, 13);
    assert.equal(registry.object(3, '1.1')?.resources.get(11)?.range?.max, 8);
    assert.equal(registry.object(3)?.resources.get(11)?.range?.max, 32);
    // /5 1.1 is not in the catalogue: the nearest 1.x is 1.2.
    assert.equal(registry.object(5, '1.1')?.version, '1.2');
    assert.equal(registry.object(25, '2.0')?.resources.get(3)?.type, 'corelnk');
    // /21 1.x is not in the catalogue, and 2.0 is another major: the default answers.
    assert.equal(registry.object(21, '1.1')?.version, '2.0');
  });

  it('lets user definitions override built-in ones of the same id and version', () => {
    const r = createDefaultRegistry();
    const mine = def(3, '1.2', [0, 99], 'My Device');
    r.add(mine);
    assert.equal(r.object(3), mine);
    assert.equal(r.resource(3, 99)?.name, 'r99');
    assert.equal(r.isBuiltIn(3, '1.2'), false);
    assert.equal(r.object(3, '1.1')?.name, 'Device', 'other versions stay built-in');
    // Adding the catalogue again (as built-in) does not undo the user's choice.
    r.addAll(CORE_OBJECTS, { builtIn: true });
    assert.equal(r.object(3), mine);
    // A later user definition replaces an earlier one.
    const mine2 = def(3, '1.2', [1], 'My Device 2');
    r.add(mine2);
    assert.equal(r.object(3), mine2);
    assert.equal(r.size, CORE_OBJECTS.length);
  });

  it('falls back to the highest version when the pinned default is absent', () => {
    const r = new ObjectRegistry().addAll([def(25, '2.0'), def(1, '1.0'), def(1, '1.1')]);
    assert.equal(r.defaultVersion(25), '2.0');
    assert.equal(r.object(1)?.version, '1.1');
    const custom = new ObjectRegistry({ defaultVersions: new Map([[1, '1.0']]) }).addAll([
      def(1, '1.0'),
      def(1, '1.1'),
    ]);
    assert.equal(custom.object(1)?.version, '1.0');
  });
});

describe('ObjectRegistry.loadDirectory', () => {
  it('adds the DDFs of a user folder over the catalogue', () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-registry-'));
    try {
      writeFileSync(
        join(dir, 'vendor.xml'),
        `<LWM2M><Object ObjectType="MODefinition"><Name>Vendor</Name><ObjectID>33000</ObjectID>
          <ObjectVersion>1.1</ObjectVersion><MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>
          <Resources><Item ID="5"><Name>Level</Name><Operations>RW</Operations><MultipleInstances>Single</MultipleInstances>
          <Mandatory>Mandatory</Mandatory><Type>Float</Type><RangeEnumeration>0..1</RangeEnumeration><Units>/100</Units></Item>
          </Resources></Object>
          <Object ObjectType="MODefinition"><Name>Device (vendor)</Name><ObjectID>3</ObjectID><ObjectVersion>1.2</ObjectVersion>
          <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory><Resources/></Object></LWM2M>`,
      );
      writeFileSync(
        join(dir, 'Common.xml'),
        '<LWM2M><Object ObjectType="CommonResources"><Resources/></Object></LWM2M>',
      );
      const r = createDefaultRegistry();
      const result = r.loadDirectory(dir);
      assert.deepEqual(
        result.skipped.map((s) => s.file),
        ['Common.xml'],
      );
      assert.equal(result.definitions.length, 2);
      assert.equal(r.object(33000, '1.0')?.version, '1.1');
      assert.deepEqual(r.resource(33000, 5), {
        id: 5,
        name: 'Level',
        operations: 'RW',
        multiple: false,
        mandatory: true,
        type: 'float',
        rangeText: '0..1',
        range: { min: 0, max: 1 },
        units: '/100',
      });
      assert.equal(r.object(3)?.name, 'Device (vendor)');
      assert.equal(r.object(3)?.resources.size, 0);

      writeFileSync(join(dir, 'broken.xml'), '<LWM2M><Object><ObjectID>1</ObjectID>');
      assert.throws(
        () => createDefaultRegistry().loadDirectory(dir),
        (e: unknown) => e instanceof DdfError && /broken\.xml/.test(e.message),
      );
      const lenient = createDefaultRegistry();
      assert.equal(lenient.loadDirectory(dir, { onInvalid: 'skip' }).skipped.length, 2);
      assert.ok(lenient.has(33000));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads the whole OMA registry next to the catalogue', (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    const r = createDefaultRegistry();
    r.loadDirectory(join(shared, 'lwm2m-registry'), { recursive: true });
    assert.ok(r.ids().length >= 320, `${r.ids().length} ids`);
    assert.equal(r.object(3303)?.name, 'Temperature');
    // The registry's /3 1.2 replaces the built-in one (they agree), and /3 stays at 1.2 by default.
    assert.equal(r.isBuiltIn(3, '1.2'), false);
    assert.equal(r.object(3)?.version, '1.2');
    assert.equal(r.object(4)?.version, '1.3');
    assert.deepEqual(r.versions(4), ['1.0', '1.1', '1.2', '1.3']);
  });
});
