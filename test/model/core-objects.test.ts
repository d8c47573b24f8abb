import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CORE_OBJECTS, CORE_OBJECT_VERSIONS } from '../../src/model/core-objects.js';
import { parseDdf } from '../../src/model/ddf-loader.js';
import type { ObjectDefinition } from '../../src/model/object-definition.js';
import { requireShared } from '../support/shared.js';

/** The comparable facts of a definition (everything the catalogue holds). */
function facts(def: ObjectDefinition): unknown {
  return {
    id: def.id,
    name: def.name,
    version: def.version,
    lwm2mVersion: def.lwm2mVersion,
    urn: def.urn,
    multiple: def.multiple,
    mandatory: def.mandatory,
    resources: [...def.resources.values()],
  };
}

/** The registry files that hold object `id` at `version`: the history copy, and the current file if it is that version. */
function registryFiles(registry: string, id: number, version: string): string[] {
  const files = [join(registry, 'version_history', `${id}-${version.replace('.', '_')}.xml`)];
  const current = parseDdf(readFileSync(join(registry, `${id}.xml`), 'utf8'), `${id}.xml`)[0];
  if (current?.version === version) files.push(join(registry, `${id}.xml`));
  return files;
}

describe('core object catalogue', () => {
  it('holds each core object at its 1.2-era version, plus the older /0 /1 /3 and /25 2.0', () => {
    const held = CORE_OBJECTS.map((d) => `${d.id}@${d.version}`);
    assert.equal(new Set(held).size, held.length, 'no id+version twice');
    for (const [id, version] of CORE_OBJECT_VERSIONS)
      assert.ok(held.includes(`${id}@${version}`), `/${id} ${version}`);
    for (const extra of ['0@1.0', '0@1.1', '1@1.0', '1@1.1', '3@1.0', '3@1.1', '25@2.0'])
      assert.ok(held.includes(extra), extra);
    assert.equal(held.length, CORE_OBJECT_VERSIONS.size + 7);
  });

  it('keys resources by their own id and keeps ids in order', () => {
    for (const def of CORE_OBJECTS) {
      const ids = [...def.resources.keys()];
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => a - b),
        `/${def.id} ${def.version}`,
      );
      for (const [rid, r] of def.resources) assert.equal(r.id, rid);
    }
  });

  it('matches the OMA registry DDF for every object and version it holds', (t) => {
    const shared = requireShared(t);
    if (!shared) return;
    const registry = join(shared, 'lwm2m-registry');
    for (const def of CORE_OBJECTS) {
      const files = registryFiles(registry, def.id, def.version);
      for (const file of files) {
        const fromXml = parseDdf(readFileSync(file, 'utf8'), file).find((d) => d.id === def.id);
        assert.ok(fromXml, `${file} holds no /${def.id}`);
        assert.equal(fromXml.version, def.version, file);
        assert.deepEqual(facts(def), facts(fromXml), `/${def.id} ${def.version} differs from ${file}`);
      }
    }
  });

  it('spells out the facts the rest of Petrel leans on', () => {
    const get = (id: number, version: string): ObjectDefinition => {
      const def = CORE_OBJECTS.find((d) => d.id === id && d.version === version);
      assert.ok(def, `/${id} ${version}`);
      return def;
    };
    const security = get(0, '1.2');
    assert.equal(security.multiple, true);
    assert.equal(security.resources.get(10)?.type, 'integer');
    assert.deepEqual(security.resources.get(10)?.range, { min: 1, max: 65534 });
    assert.equal(security.resources.get(27)?.multiple, true);
    assert.equal(get(1, '1.2').resources.get(8)?.operations, 'E');
    assert.equal(get(1, '1.2').resources.get(8)?.type, 'none');
    assert.equal(get(2, '1.1').resources.get(2)?.multiple, true);
    assert.equal(get(3, '1.2').urn, 'urn:oma:lwm2m:oma:3:1.2');
    assert.equal(get(3, '1.0').urn, 'urn:oma:lwm2m:oma:3');
    assert.equal(get(3, '1.2').resources.get(22)?.type, 'objlnk');
    assert.equal(get(26, '1.0').resources.get(1)?.type, 'corelnk');
    assert.equal(get(27, '1.0').resources.size, 21);
    assert.equal(get(25, '1.0').resources.get(1)?.operations, 'RW');
    assert.equal(get(25, '2.0').resources.get(1)?.operations, 'R');
  });
});
