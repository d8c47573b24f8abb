import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessControl, AccessRights } from '../../src/client/access-control.js';
import {
  createAccessControlInstance,
  createDeviceInstance,
  createServerInstance,
} from '../../src/client/core-instances.js';
import { MemoryInstance } from '../../src/client/instance.js';
import { ObjectTree } from '../../src/client/object-tree.js';
import { Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import { rec } from '../support/records.js';
import { testModel } from '../support/test-model.js';

const P = (text: string) => LwM2mPath.parse(text);
const { READ: R, WRITE: W, EXECUTE: E, DELETE: D, CREATE: C } = AccessRights;
const FULL = R | W | E | D;
const OBJ = 42769; // the shared test object (multi-instance)

function acl(
  instanceId: number,
  objectId: number,
  objectInstanceId: number,
  owner: number,
  entries: [number, number][],
) {
  return createAccessControlInstance({
    instanceId,
    objectId,
    objectInstanceId,
    owner,
    acl: new Map(entries),
  });
}

/**
 * Servers 101, 102, 103. /2/0: OBJ/0 owned by 101, no entries. /2/1: OBJ/1 owned by 101 with
 * ACL[101]=R and default ACL[0]=RW. /2/2: /3/0 managed by bootstrap, ACL[102]=R|E. /2/3: the
 * object-level entry of OBJ, ACL[101]=C. /1/0 has no entry.
 */
function makeTree(): ObjectTree {
  return new ObjectTree({ model: testModel })
    .addInstance(createServerInstance({ shortServerId: 101 }))
    .addInstance(createDeviceInstance())
    .addInstance(new MemoryInstance(undefined, OBJ, 0))
    .addInstance(new MemoryInstance(undefined, OBJ, 1))
    .addInstance(acl(0, OBJ, 0, 101, []))
    .addInstance(
      acl(1, OBJ, 1, 101, [
        [101, R],
        [0, R | W],
      ]),
    )
    .addInstance(acl(2, 3, 0, 65535, [[102, R | E]]))
    .addInstance(acl(3, OBJ, 65535, 65535, [[101, C]]));
}

describe('AccessControl resolution order (LWM2M-1.2.md §1.3)', () => {
  const access = new AccessControl(makeTree());

  const table: [string, number, number, number | undefined, number][] = [
    ['owner without an entry of its own: full rights', 101, OBJ, 0, FULL],
    ['not the owner, no entry, no default: none', 102, OBJ, 0, 0],
    ["the owner's own entry beats ownership", 101, OBJ, 1, R],
    ['no own entry: the default ACL[0]', 102, OBJ, 1, R | W],
    ['own entry under a bootstrap-managed owner', 102, 3, 0, R | E],
    ['bootstrap-managed, no entry: none', 101, 3, 0, 0],
    ['an instance without a /2 entry: none', 101, 1, 0, 0],
    ['Create: C from the object-level entry', 101, OBJ, undefined, C],
    ['Create: no entry for the server, no default: none', 102, OBJ, undefined, 0],
    ['Create on an object without an object-level entry: none', 101, 3, undefined, 0],
    ['/2 instance: its owner may read and write it', 101, 2, 0, R | W],
    ['/2 instance: others may not', 102, 2, 0, 0],
    ['/2 instance managed by bootstrap: nobody', 102, 2, 2, 0],
  ];
  for (const [what, ssid, oid, iid, expected] of table)
    it(`${what} (server ${ssid} on /${oid}${iid === undefined ? '' : `/${iid}`})`, () => {
      assert.equal(access.rights(ssid, oid, iid), expected);
    });

  it('is enabled because /2 has instances', () => {
    assert.equal(access.enabled(), true);
    assert.equal(access.entries().length, 4);
    assert.deepEqual(access.entry(3, 0)?.acl, new Map([[102, R | E]]));
  });
});

describe('AccessControl.check', () => {
  const access = new AccessControl(makeTree());
  const code = (ssid: number, op: Parameters<AccessControl['check']>[1], path: string) => {
    const r = access.check(ssid, op, P(path));
    return r.ok ? 'ok' : r.code;
  };

  it('maps operations to rights and answers 4.01', () => {
    assert.equal(code(102, 'read', '/3/0/0'), 'ok');
    assert.equal(code(102, 'observe', '/3/0/9'), 'ok');
    assert.equal(code(102, 'write-attributes', '/3/0/9'), 'ok');
    assert.equal(code(102, 'execute', '/3/0/4'), 'ok');
    assert.equal(code(102, 'write', '/3/0/13'), '4.01');
    assert.equal(code(101, 'read', '/3/0'), '4.01');
    assert.equal(code(101, 'write-attributes', '/3/0/9'), '4.01');
    assert.equal(code(102, 'delete', `/${OBJ}/1`), '4.01');
    assert.equal(code(101, 'delete', `/${OBJ}/0`), 'ok');
    assert.equal(code(101, 'create', `/${OBJ}`), 'ok');
    assert.equal(code(102, 'create', `/${OBJ}`), '4.01');
  });

  it('Discover needs no right; object-level reads are allowed and filtered per instance', () => {
    assert.equal(code(103, 'discover', '/3/0'), 'ok');
    assert.equal(code(103, 'read', '/3'), 'ok');
    assert.equal(code(103, 'write-attributes', '/3'), 'ok');
    const records = [
      rec(`/${OBJ}/0/1`, Value.integer(1)),
      rec(`/${OBJ}/1/1`, Value.integer(2)),
      rec('/3/0/0', Value.string('x')),
    ];
    assert.deepEqual(
      access.filterRecords(102, records).map((r) => r.path.toString()),
      [`/${OBJ}/1/1`, '/3/0/0'],
    );
  });
});

describe('AccessControl modes', () => {
  it('Disabled without /2 instances: every right, Create included', () => {
    const tree = new ObjectTree({ model: testModel }).addObject(2).addInstance(createDeviceInstance());
    const access = new AccessControl(tree);
    assert.equal(access.enabled(), false);
    assert.equal(access.rights(7, 3, 0), FULL);
    assert.equal(access.rights(7, 3), C);
    assert.ok(access.check(7, 'write', P('/3/0/13')).ok);
    assert.deepEqual(access.filterRecords(7, [rec('/3/0/0', Value.string('x'))]).length, 1);
  });

  it('the mode can be forced', () => {
    const tree = makeTree();
    assert.equal(new AccessControl(tree, { mode: 'disabled' }).rights(102, OBJ, 0), FULL);
    const empty = new ObjectTree({ model: testModel }).addInstance(createDeviceInstance());
    assert.equal(new AccessControl(empty, { mode: 'enabled' }).rights(101, 3, 0), 0);
  });
});

describe('AccessControl follows the tree', () => {
  it('onCreated gives the creating server ownership (full rights); onDeleted removes the entry', () => {
    const tree = makeTree();
    const access = new AccessControl(tree);
    assert.ok(access.check(101, 'create', P(`/${OBJ}`)).ok);
    const created = tree.create(P(`/${OBJ}`), { instanceId: undefined, resources: [] });
    assert.deepEqual(created, { ok: true, value: 2 });
    access.onCreated(101, OBJ, 2);
    const entry = access.entry(OBJ, 2);
    assert.equal(entry?.id, 4);
    assert.equal(entry?.owner, 101);
    assert.equal(access.rights(101, OBJ, 2), FULL);
    assert.equal(access.rights(102, OBJ, 2), 0);
    assert.deepEqual(tree.instanceIds(2), [0, 1, 2, 3, 4]);
    tree.delete(P(`/${OBJ}/2`));
    access.onDeleted(OBJ, 2);
    assert.equal(access.entry(OBJ, 2), undefined);
    assert.deepEqual(tree.instanceIds(2), [0, 1, 2, 3]);
  });

  it('onCreated does nothing in Disabled mode', () => {
    const tree = new ObjectTree({ model: testModel }).addObject(2).addObject(OBJ);
    const access = new AccessControl(tree);
    access.onCreated(101, OBJ, 0);
    assert.deepEqual(tree.instanceIds(2), []);
  });

  it('sees ACL changes made through writes and application sets', () => {
    const tree = makeTree();
    const access = new AccessControl(tree);
    assert.equal(access.rights(102, OBJ, 0), 0);
    assert.ok(tree.write(P('/2/0/2/102'), [rec('/2/0/2/102', Value.integer(R | D))], 'update').ok);
    assert.equal(access.rights(102, OBJ, 0), R | D);
    (tree.instance(2, 0) as MemoryInstance).set(3, 102); // ownership moves to 102, who has an entry
    assert.equal(access.rights(101, OBJ, 0), 0);
    assert.equal(access.rights(102, OBJ, 0), R | D);
    tree.removeInstance(2, 0);
    assert.equal(access.rights(102, OBJ, 0), 0);
    access.dispose();
  });
});
