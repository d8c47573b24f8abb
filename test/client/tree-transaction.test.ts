import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createDeviceInstance,
  createSecurityInstance,
  createServerInstance,
} from '../../src/client/core-instances.js';
import type { InstanceEnabler } from '../../src/client/instance.js';
import { MemoryInstance } from '../../src/client/instance.js';
import { ObjectTree } from '../../src/client/object-tree.js';
import { TreeTransaction } from '../../src/client/tree-transaction.js';
import { Value } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import { plain, rec } from '../support/records.js';

const model = createDefaultRegistry();
const P = (text: string) => LwM2mPath.parse(text);

function buildTree(): ObjectTree {
  const tree = new ObjectTree({ model });
  tree.addObject(0).addObject(1).addObject(3);
  tree.addInstance(
    createSecurityInstance({ instanceId: 0, serverUri: 'coap://bs.example:5683', bootstrapServer: true }),
  );
  tree.addInstance(
    createSecurityInstance({ instanceId: 1, serverUri: 'coap://dm.example:5683', shortServerId: 101 }),
  );
  tree.addInstance(createServerInstance({ instanceId: 0, shortServerId: 101, lifetime: 300 }));
  tree.addInstance(createDeviceInstance({ now: () => 1000 }));
  return tree;
}

/** Every value of /0, /1 and /3 as comparable plain data. */
function snapshot(tree: ObjectTree): unknown {
  return [0, 1, 3].map((o) => {
    const read = tree.read(LwM2mPath.of(o));
    assert.ok(read.ok);
    return plain(read.value);
  });
}

function lifetime(tree: ObjectTree, iid = 0): unknown {
  const read = tree.read(LwM2mPath.of(1, iid, 1));
  assert.ok(read.ok);
  return read.value[0]?.value?.value;
}

describe('TreeTransaction', () => {
  it('guard + write, then rollback restores the values exactly', () => {
    const tree = buildTree();
    const before = snapshot(tree);
    const tx = new TreeTransaction(tree);
    tx.guard(1, 0);
    assert.equal(tx.touched, 1);
    const written = tree.write(
      P('/1/0'),
      [rec('/1/0/1', Value.integer(60)), rec('/1/0/7', Value.string('UQ'))],
      'update',
      {
        bootstrap: true,
      },
    );
    assert.ok(written.ok);
    assert.equal(lifetime(tree), 60);
    assert.notDeepEqual(snapshot(tree), before);
    tx.rollback();
    assert.deepEqual(snapshot(tree), before);
    assert.equal(tx.touched, 0);
  });

  it('a guarded write lands on the enabler itself, and rollback gives it its old values', () => {
    const tree = buildTree();
    const original = tree.instance(1, 0) as MemoryInstance;
    const tx = new TreeTransaction(tree);
    tx.guard(1, 0);
    assert.equal(tree.instance(1, 0), original, 'no copy takes its place');
    assert.ok(tree.write(P('/1/0/1'), [rec('/1/0/1', Value.integer(60))], 'replace', { bootstrap: true }).ok);
    assert.deepEqual(original.get(1), Value.integer(60));
    tx.rollback();
    assert.equal(tree.instance(1, 0), original);
    assert.deepEqual(original.get(1), Value.integer(300));
  });

  it('rollback removes a resource the session added to an instance', () => {
    const tree = buildTree();
    const before = snapshot(tree);
    const tx = new TreeTransaction(tree);
    tx.guard(1, 0);
    assert.ok(tree.write(P('/1/0/2'), [rec('/1/0/2', Value.integer(5))], 'update', { bootstrap: true }).ok);
    tx.rollback();
    assert.deepEqual(snapshot(tree), before);
  });

  it('guard + remove, then rollback re-adds the original enabler (same object)', () => {
    const tree = buildTree();
    const original = tree.instance(0, 1);
    const before = snapshot(tree);
    const tx = new TreeTransaction(tree);
    tx.guard(0, 1);
    assert.ok(tree.removeInstance(0, 1));
    assert.equal(tree.instance(0, 1), undefined);
    tx.rollback();
    assert.equal(tree.instance(0, 1), original);
    assert.deepEqual(snapshot(tree), before);
  });

  it('an instance created after its guard is removed by rollback', () => {
    const tree = buildTree();
    const before = snapshot(tree);
    const tx = new TreeTransaction(tree);
    tx.guard(1, 5);
    assert.equal(tx.touched, 1);
    const created = tree.write(
      P('/1/5'),
      [rec('/1/5/0', Value.integer(7)), rec('/1/5/1', Value.integer(99)), rec('/1/5/7', Value.string('U'))],
      'update',
      { bootstrap: true },
    );
    assert.ok(created.ok);
    assert.ok(tree.instance(1, 5));
    tx.rollback();
    assert.equal(tree.instance(1, 5), undefined);
    assert.deepEqual(tree.instanceIds(1), [0]);
    assert.deepEqual(snapshot(tree), before);
  });

  it('commit keeps the changes, and a later rollback does nothing', () => {
    const tree = buildTree();
    const original = tree.instance(1, 0);
    const tx = new TreeTransaction(tree);
    tx.guard(1, 0);
    tx.guard(0, 1);
    assert.ok(tree.write(P('/1/0/1'), [rec('/1/0/1', Value.integer(60))], 'replace', { bootstrap: true }).ok);
    tree.removeInstance(0, 1);
    tx.commit();
    assert.equal(tx.touched, 0);
    tx.rollback();
    assert.equal(lifetime(tree), 60);
    assert.equal(tree.instance(1, 0), original, 'the same enabler, with the new values');
    assert.equal(tree.instance(0, 1), undefined);
  });

  it('guarding twice keeps the first original', () => {
    const tree = buildTree();
    const original = tree.instance(1, 0);
    const tx = new TreeTransaction(tree);
    tx.guard(1, 0);
    assert.ok(tree.write(P('/1/0/1'), [rec('/1/0/1', Value.integer(60))], 'replace', { bootstrap: true }).ok);
    tx.guard(1, 0); // would capture the changed copy if it did not keep the first
    assert.equal(tx.touched, 1);
    assert.ok(tree.write(P('/1/0/1'), [rec('/1/0/1', Value.integer(70))], 'replace', { bootstrap: true }).ok);
    tree.removeInstance(1, 0);
    tx.rollback();
    assert.equal(tree.instance(1, 0), original);
    assert.equal(lifetime(tree), 300);
  });

  it('remove, re-create and rollback: the original comes back, the new one goes', () => {
    const tree = buildTree();
    const original = tree.instance(1, 0);
    const tx = new TreeTransaction(tree);
    tx.guard(1, 0);
    tree.removeInstance(1, 0);
    tree.addInstance(createServerInstance({ instanceId: 0, shortServerId: 202 }));
    tx.rollback();
    assert.equal(tree.instance(1, 0), original);
  });

  it('an instance of an object whose factory throws is guarded all the same (no copy is needed)', () => {
    const tree = buildTree();
    tree.addObject(1, {
      factory: () => {
        throw new Error('application enabler: not copyable');
      },
    });
    const original = tree.instance(1, 0) as InstanceEnabler;
    const tx = new TreeTransaction(tree);
    tx.guard(1, 0);
    assert.ok(tree.write(P('/1/0/1'), [rec('/1/0/1', Value.integer(60))], 'replace', { bootstrap: true }).ok);
    tree.removeInstance(1, 0);
    tx.rollback();
    assert.equal(tree.instance(1, 0), original);
    assert.equal(lifetime(tree), 300);
  });

  it('commit keeps the application’s own enabler of a written instance (its handlers, its reference)', async () => {
    const tree = buildTree();
    let reboots = 0;
    tree.removeInstance(3, 0);
    const device = createDeviceInstance({
      now: () => 1000,
      onReboot: () => {
        reboots++;
      },
    });
    tree.addInstance(device);
    const tx = new TreeTransaction(tree);
    tx.guard(3, 0);
    assert.ok(
      tree.write(P('/3/0/15'), [rec('/3/0/15', Value.string('Europe/Berlin'))], 'update', {
        bootstrap: true,
      }).ok,
    );
    tx.commit();
    assert.equal(tree.instance(3, 0), device);
    assert.deepEqual(device.get(15), Value.string('Europe/Berlin'));
    assert.ok((await tree.execute(P('/3/0/4'))).ok);
    assert.equal(reboots, 1);
  });

  it('rollback fires structure changes so listeners see the instances come and go', () => {
    const tree = buildTree();
    const tx = new TreeTransaction(tree);
    tx.guard(0, 1);
    tree.removeInstance(0, 1);
    const seen: string[] = [];
    tree.onChange((paths, kind) => {
      if (kind === 'structure') seen.push(...paths.map((p) => p.toString()));
    });
    tx.rollback();
    assert.ok(seen.includes('/0/1'), seen.join(' '));
  });

  it('a guarded instance that is not touched is still the same values after rollback', () => {
    const tree = buildTree();
    const before = snapshot(tree);
    const tx = new TreeTransaction(tree);
    tx.guard(3, 0);
    tx.guard(0, 0);
    tx.rollback();
    assert.deepEqual(snapshot(tree), before);
    assert.ok(tree.instance(3, 0) instanceof MemoryInstance);
  });
});
