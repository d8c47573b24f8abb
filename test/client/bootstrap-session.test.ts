import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BootstrapSessionOptions, ProvisioningSource } from '../../src/client/bootstrap-session.js';
import { BootstrapSession, isBootstrapAccount } from '../../src/client/bootstrap-session.js';
import {
  createAccessControlInstance,
  createDeviceInstance,
  createLocationInstance,
  createSecurityInstance,
  createServerInstance,
} from '../../src/client/core-instances.js';
import { ObjectTree } from '../../src/client/object-tree.js';
import { Value } from '../../src/model/data-types.js';
import { formatLinkFormat } from '../../src/model/link-format.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import type { DownlinkRequest } from '../../src/operations/requests.js';
import { plain, rec } from '../support/records.js';

const model = createDefaultRegistry();
const P = (text: string) => LwM2mPath.parse(text);

/**
 * The device: a Bootstrap-Server account /0/0, servers 101 (/0/1, /1/0) and 102 (/0/2, /1/1),
 * /2/0 governing /3/0 (101 R, 102 W, 103 W+D, owner 101), /2/1 governing /6/0 that only 101
 * reaches (owner 101), /2/2 governing /1/1 (102 only, owner 102), /3/0, /6/0 and an empty /5.
 */
function buildTree(): ObjectTree {
  const tree = new ObjectTree({ model });
  for (const o of [0, 1, 2, 3, 5, 6]) tree.addObject(o);
  tree.addInstance(
    createSecurityInstance({
      instanceId: 0,
      serverUri: 'coap://bs.example:5683',
      bootstrapServer: true,
      clientHoldOffTime: 5,
    }),
  );
  tree.addInstance(
    createSecurityInstance({ instanceId: 1, serverUri: 'coap://dm1.example:5683', shortServerId: 101 }),
  );
  tree.addInstance(
    createSecurityInstance({ instanceId: 2, serverUri: 'coap://dm2.example:5683', shortServerId: 102 }),
  );
  tree.addInstance(createServerInstance({ instanceId: 0, shortServerId: 101, lifetime: 300 }));
  tree.addInstance(createServerInstance({ instanceId: 1, shortServerId: 102, lifetime: 600 }));
  tree.addInstance(
    createAccessControlInstance({
      instanceId: 0,
      objectId: 3,
      objectInstanceId: 0,
      acl: new Map([
        [101, 1],
        [102, 2],
        [103, 10],
      ]),
      owner: 101,
    }),
  );
  tree.addInstance(
    createAccessControlInstance({
      instanceId: 1,
      objectId: 6,
      objectInstanceId: 0,
      acl: new Map([[101, 15]]),
      owner: 101,
    }),
  );
  tree.addInstance(
    createAccessControlInstance({
      instanceId: 2,
      objectId: 1,
      objectInstanceId: 1,
      acl: new Map([[102, 3]]),
      owner: 102,
    }),
  );
  tree.addInstance(createDeviceInstance({ now: () => 1000 }));
  tree.addInstance(createLocationInstance({ latitude: 1, longitude: 2 }));
  return tree;
}

function session(tree: ObjectTree, over: Partial<BootstrapSessionOptions> = {}): BootstrapSession {
  return new BootstrapSession({ tree, lwm2mVersion: '1.2', sourceOf: () => undefined, ...over });
}

const write = (path: string, records: readonly LwM2mRecord[]): DownlinkRequest => ({
  kind: 'bootstrap-write',
  path: P(path),
  records,
});
const read = (path: string): DownlinkRequest => ({ kind: 'bootstrap-read', path: P(path) });
const discover = (path: string): DownlinkRequest => ({ kind: 'bootstrap-discover', path: P(path) });
const del = (path: string): DownlinkRequest => ({ kind: 'bootstrap-delete', path: P(path) });

function readPlain(tree: ObjectTree, path: string): unknown {
  const r = tree.read(P(path));
  assert.ok(r.ok, r.ok ? '' : r.message);
  return plain(r.value);
}

/** The whole configuration the session may touch, as plain data. */
function snapshot(tree: ObjectTree): unknown {
  return ['/0', '/1', '/2', '/3', '/6'].map((p) => readPlain(tree, p));
}

function valueAt(tree: ObjectTree, path: string): unknown {
  const r = tree.read(P(path));
  return r.ok ? r.value[0]?.value?.value : undefined;
}

/** /0 and /1 records of a LwM2M Server account. */
function account(secIid: number, srvIid: number, ssid: number, uri: string): LwM2mRecord[] {
  return [
    rec(`/0/${secIid}/0`, Value.string(uri)),
    rec(`/0/${secIid}/1`, Value.boolean(false)),
    rec(`/0/${secIid}/2`, Value.integer(3)),
    rec(`/0/${secIid}/10`, Value.integer(ssid)),
    rec(`/1/${srvIid}/0`, Value.integer(ssid)),
    rec(`/1/${srvIid}/1`, Value.integer(3600)),
    rec(`/1/${srvIid}/6`, Value.boolean(true)),
    rec(`/1/${srvIid}/7`, Value.string('U')),
  ];
}
const of = (records: readonly LwM2mRecord[], oid: number) => records.filter((r) => r.path.objectId === oid);

function aclOf(tree: ObjectTree, iid: number): { acl: [number, number][]; owner: unknown } {
  const r = tree.read(LwM2mPath.of(2, iid));
  assert.ok(r.ok);
  return {
    acl: r.value
      .filter((x) => x.path.resourceId === 2 && x.path.depth === 4)
      .map((x) => [x.path.resourceInstanceId!, x.value!.value as number]),
    owner: r.value.find((x) => x.path.resourceId === 3)?.value?.value,
  };
}

describe('BootstrapSession: Bootstrap-Write', () => {
  it('updates an existing instance and keeps the resources the payload leaves out', () => {
    const tree = buildTree();
    const s = session(tree);
    const a = s.handle(write('/1/0', [rec('/1/0/1', Value.integer(60))]));
    assert.equal(a.response.code, '2.04');
    assert.equal(valueAt(tree, '/1/0/1'), 60);
    assert.equal(valueAt(tree, '/1/0/0'), 101);
    assert.equal(valueAt(tree, '/1/0/7'), 'U');
  });

  it('writes one resource of /0 (a key rotation) and leaves the rest', () => {
    const tree = buildTree();
    const s = session(tree);
    const key = new Uint8Array([1, 2, 3]);
    assert.equal(s.handle(write('/0/1/5', [rec('/0/1/5', Value.opaque(key))])).response.code, '2.04');
    assert.deepEqual(readPlain(tree, '/0/1/5'), plain([rec('/0/1/5', Value.opaque(key))]));
    assert.equal(valueAt(tree, '/0/1/0'), 'coap://dm1.example:5683');
    assert.equal(valueAt(tree, '/0/1/10'), 101);
  });

  it('creates instances, at instance and at object level', () => {
    const tree = buildTree();
    const s = session(tree);
    const records = account(7, 7, 301, 'coap://new.example:5683');
    assert.equal(s.handle(write('/0/7', of(records, 0))).response.code, '2.04');
    assert.equal(s.handle(write('/1', of(records, 1))).response.code, '2.04');
    assert.deepEqual(tree.instanceIds(0), [0, 1, 2, 7]);
    assert.deepEqual(tree.instanceIds(1), [0, 1, 7]);
    assert.equal(valueAt(tree, '/0/7/10'), 301);
    assert.equal(valueAt(tree, '/1/7/1'), 3600);
  });

  it('answers 4.00 for /3/1 and 4.04 for an object the client does not have', () => {
    const tree = buildTree();
    const s = session(tree);
    assert.equal(s.handle(write('/3/1', [rec('/3/1/0', Value.string('x'))])).response.code, '4.00');
    assert.equal(tree.instance(3, 1), undefined);
    const unknown = s.handle(write('/42/0', [rec('/42/0/0', Value.string('x'))]));
    assert.equal(unknown.response.code, '4.04');
  });

  it('answers 4.00 (not a throw) for a Bootstrap-Write of /3 that names a second instance', () => {
    const tree = buildTree();
    const s = session(tree);
    let code: string | undefined;
    assert.doesNotThrow(() => {
      code = s.handle(write('/3', [rec('/3/1/0', Value.string('x'))])).response.code;
    });
    assert.equal(code, '4.00');
  });

  it('answers 4.00 (not a throw) for a second instance of a single-instance object (/6/1)', () => {
    const tree = buildTree();
    const s = session(tree);
    let code: string | undefined;
    assert.doesNotThrow(() => {
      code = s.handle(write('/6/1', [rec('/6/1/0', Value.float(1))])).response.code;
    });
    assert.equal(code, '4.00');
  });

  it('a Bootstrap-Write of an object answered 4.00 changes none of its instances', () => {
    const tree = buildTree();
    const before = snapshot(tree);
    const s = session(tree);
    const a = s.handle(
      write('/1', [rec('/1/0/1', Value.integer(60)), rec('/1/1/1', Value.string('not a number'))]),
    );
    assert.equal(a.response.code, '4.00');
    assert.deepEqual(snapshot(tree), before);
  });

  it('answers 4.00 for a bad value and 4.05 for a non-bootstrap operation', () => {
    const tree = buildTree();
    const s = session(tree);
    assert.equal(s.handle(write('/1/0/1', [rec('/1/0/1', Value.string('soon'))])).response.code, '4.00');
    assert.equal(valueAt(tree, '/1/0/1'), 300);
    assert.equal(s.handle({ kind: 'read', path: P('/1/0') }).response.code, '4.05');
  });
});

describe('BootstrapSession: Bootstrap-Read', () => {
  it('reads /1 and /2 objects and instances', () => {
    const tree = buildTree();
    const s = session(tree);
    const all = s.handle(read('/1'));
    assert.equal(all.response.code, '2.05');
    assert.deepEqual(plain(all.response.records ?? []), readPlain(tree, '/1'));
    const one = s.handle(read('/2/1'));
    assert.equal(one.response.code, '2.05');
    assert.ok((one.response.records ?? []).length > 0);
    assert.ok((one.response.records ?? []).every((r) => r.path.objectId === 2 && r.path.instanceId === 1));
  });

  it('answers 4.01 for any other object (the keys in /0 stay on the device)', () => {
    const s = session(buildTree());
    for (const p of ['/0', '/0/1', '/3', '/3/0', '/6/0', '/'])
      assert.equal(s.handle(read(p)).response.code, '4.01', p);
  });

  it('answers 4.00 for a resource and 4.04 for a missing instance', () => {
    const s = session(buildTree());
    assert.equal(s.handle(read('/1/0/1')).response.code, '4.00');
    assert.equal(s.handle(read('/1/9')).response.code, '4.04');
  });
});

describe('BootstrapSession: Bootstrap-Discover', () => {
  it('/ starts with the root link and lists the instances as Core §6.1.7.5 shows', () => {
    const s = session(buildTree());
    const a = s.handle(discover('/'));
    assert.equal(a.response.code, '2.05');
    const links = a.response.links ?? [];
    assert.equal(formatLinkFormat(links.slice(0, 1)), '</>;lwm2m=1.2');
    assert.equal(
      formatLinkFormat(links),
      '</>;lwm2m=1.2,</0/0>,</0/1>;ssid=101;uri="coap://dm1.example:5683",' +
        '</0/2>;ssid=102;uri="coap://dm2.example:5683",</1/0>;ssid=101,</1/1>;ssid=102,' +
        '</2/0>,</2/1>,</2/2>,</3/0>,</5>,</6/0>',
    );
  });

  it('/1 lists the object and its instances with their ssid', () => {
    const s = session(buildTree());
    const a = s.handle(discover('/1'));
    assert.equal(a.response.code, '2.05');
    assert.equal(formatLinkFormat(a.response.links ?? []), '</1>,</1/0>;ssid=101,</1/1>;ssid=102');
  });

  it('announces ver= when asked and answers 4.04 / 4.00 for a missing object / an instance', () => {
    const s = session(buildTree(), { announcedVersion: (o) => (o === 6 ? '1.1' : undefined) });
    const links = formatLinkFormat(s.handle(discover('/')).response.links ?? []);
    assert.ok(links.endsWith('</6>;ver=1.1,</6/0>'), links);
    assert.equal(s.handle(discover('/42')).response.code, '4.04');
    assert.equal(s.handle(discover('/1/0')).response.code, '4.00');
  });

  it('an OSCORE instance carries the ssid of the /0 instance that links it', () => {
    const tree = buildTree();
    tree.addObject(21);
    const s = session(tree);
    s.handle(write('/0/1/17', [rec('/0/1/17', Value.objlnk(21, 3))]));
    s.handle(write('/21/3', [rec('/21/3/2', Value.opaque(new Uint8Array([1])))]));
    const links = formatLinkFormat(s.handle(discover('/21')).response.links ?? []);
    assert.equal(links, '</21>,</21/3>;ssid=101');
  });

  it('uses the lwm2m version it is given', () => {
    const s = session(buildTree(), { lwm2mVersion: '1.1' });
    assert.equal(
      formatLinkFormat((s.handle(discover('/')).response.links ?? []).slice(0, 1)),
      '</>;lwm2m=1.1',
    );
  });
});

describe('BootstrapSession: Bootstrap-Delete', () => {
  it('/ keeps the Bootstrap-Server account and /3/0 and deletes the rest', () => {
    const tree = buildTree();
    const s = session(tree);
    assert.equal(s.handle(del('/')).response.code, '2.02');
    assert.deepEqual(tree.instanceIds(0), [0]);
    assert.ok(isBootstrapAccount(tree.instance(0, 0)));
    assert.deepEqual(tree.instanceIds(1), []);
    assert.deepEqual(tree.instanceIds(2), []);
    assert.deepEqual(tree.instanceIds(3), [0]);
    assert.deepEqual(tree.instanceIds(6), []);
    assert.deepEqual([...s.removedServers].sort(), [101, 102]);
    assert.ok(tree.hasObject(5), 'objects stay, only instances go');
  });

  it('/ also keeps the OSCORE instance the Bootstrap-Server account links (/0/x/17)', () => {
    const tree = buildTree();
    tree.addObject(21);
    const s = session(tree);
    assert.equal(s.handle(write('/0/0/17', [rec('/0/0/17', Value.objlnk(21, 4))])).response.code, '2.04');
    assert.equal(
      s.handle(write('/21/4', [rec('/21/4/2', Value.opaque(new Uint8Array([1])))])).response.code,
      '2.04',
    );
    assert.equal(
      s.handle(write('/21/5', [rec('/21/5/2', Value.opaque(new Uint8Array([2])))])).response.code,
      '2.04',
    );
    assert.equal(s.handle(del('/')).response.code, '2.02');
    assert.deepEqual(tree.instanceIds(21), [4]);
  });

  it('/o deletes that object’s instances but the exceptions; /3/0 itself is 4.00', () => {
    const tree = buildTree();
    const s = session(tree);
    assert.equal(s.handle(del('/0')).response.code, '2.02');
    assert.deepEqual(tree.instanceIds(0), [0]);
    assert.equal(s.handle(del('/3')).response.code, '2.02');
    assert.deepEqual(tree.instanceIds(3), [0]);
    assert.equal(s.handle(del('/3/0')).response.code, '4.00');
    assert.equal(s.handle(del('/1/0/1')).response.code, '4.00');
  });

  it('deleting a missing instance is 2.02 (the BS deletes before it writes)', () => {
    const tree = buildTree();
    const s = session(tree);
    assert.equal(s.handle(del('/1/9')).response.code, '2.02');
    assert.equal(s.removedServers.size, 0);
  });

  it('unbootstrapping: a server’s /0 takes its /1, its ACL entries and what only it reached', () => {
    const tree = buildTree();
    const s = session(tree);
    assert.equal(s.handle(del('/0/1')).response.code, '2.02');
    assert.deepEqual([...s.removedServers], [101]);
    assert.deepEqual(tree.instanceIds(0), [0, 2]);
    assert.deepEqual(tree.instanceIds(1), [1], 'the /1 of server 101 went, 102’s stays');
    // /2/1 governed /6/0 for 101 alone: both go.
    assert.deepEqual(tree.instanceIds(2), [0, 2]);
    assert.deepEqual(tree.instanceIds(6), []);
    // /2/2 never named 101: untouched.
    assert.deepEqual(aclOf(tree, 2), { acl: [[102, 3]], owner: 102 });
  });

  it('unbootstrapping: ownership passes to the server with the most W + D rights', () => {
    const tree = buildTree();
    const s = session(tree);
    s.handle(del('/0/1'));
    assert.deepEqual(aclOf(tree, 0), {
      acl: [
        [102, 2],
        [103, 10],
      ],
      owner: 103,
    });
  });

  it('unbootstrapping keeps the default entry and an owner that is another server', () => {
    const tree = buildTree();
    tree.removeInstance(2, 0);
    tree.addInstance(
      createAccessControlInstance({
        instanceId: 0,
        objectId: 3,
        objectInstanceId: 0,
        acl: new Map([
          [0, 1],
          [101, 3],
          [102, 1],
        ]),
        owner: 102,
      }),
    );
    const s = session(tree);
    s.handle(del('/0/1'));
    assert.deepEqual(aclOf(tree, 0), {
      acl: [
        [0, 1],
        [102, 1],
      ],
      owner: 102,
    });
  });

  it('unbootstrapping keeps an instance another server still reaches through the default entry', () => {
    const tree = buildTree();
    tree.removeInstance(2, 1);
    tree.addInstance(
      createAccessControlInstance({
        instanceId: 1,
        objectId: 6,
        objectInstanceId: 0,
        acl: new Map([
          [0, 1],
          [101, 15],
        ]),
        owner: 101,
      }),
    );
    const s = session(tree);
    s.handle(del('/0/1'));
    assert.deepEqual(tree.instanceIds(6), [0], 'every server may read /6/0 (ACL[0] = R)');
  });

  it('unbootstrapping keeps an instance whose owner is another server (the owner has full rights)', () => {
    const tree = buildTree();
    tree.removeInstance(2, 1);
    tree.addInstance(
      createAccessControlInstance({
        instanceId: 1,
        objectId: 6,
        objectInstanceId: 0,
        acl: new Map([[101, 15]]),
        owner: 102,
      }),
    );
    const s = session(tree);
    s.handle(del('/0/1'));
    assert.deepEqual(tree.instanceIds(6), [0]);
    assert.deepEqual(tree.instanceIds(2).includes(1), true);
  });

  it('deleting a /1 instance alone reports its server as removed', () => {
    const tree = buildTree();
    const s = session(tree);
    assert.equal(s.handle(del('/1/1')).response.code, '2.02');
    assert.deepEqual([...s.removedServers], [102]);
    assert.deepEqual(tree.instanceIds(0), [0, 1, 2]);
  });

  it('deleting the Bootstrap-Server account explicitly removes no server', () => {
    const tree = buildTree();
    const s = session(tree);
    assert.equal(s.handle(del('/0/0')).response.code, '2.02');
    assert.deepEqual(tree.instanceIds(0), [1, 2]);
    assert.equal(s.removedServers.size, 0);
    assert.deepEqual(tree.instanceIds(2), [0, 1, 2]);
  });
});

describe('BootstrapSession: per-source protection', () => {
  const smartcard = (o: number, i: number): ProvisioningSource | undefined =>
    o === 0 && i === 1 ? 'smartcard' : undefined;

  it('a Write or Delete of a smartcard instance is 4.01 and changes nothing', () => {
    const tree = buildTree();
    const before = snapshot(tree);
    const s = session(tree, { sourceOf: smartcard });
    const w = s.handle(write('/0/1/0', [rec('/0/1/0', Value.string('coap://evil.example'))]));
    assert.equal(w.response.code, '4.01');
    assert.match(w.response.diagnostic ?? '', /smartcard/);
    assert.equal(s.handle(write('/0', account(1, 0, 101, 'coap://x.example'))).response.code, '4.01');
    assert.equal(s.handle(del('/0/1')).response.code, '4.01');
    assert.deepEqual(snapshot(tree), before);
    assert.equal(s.removedServers.size, 0);
  });

  it('Delete / skips the protected instance', () => {
    const tree = buildTree();
    const s = session(tree, { sourceOf: smartcard });
    assert.equal(s.handle(del('/')).response.code, '2.02');
    assert.deepEqual(tree.instanceIds(0), [0, 1]);
    assert.equal(valueAt(tree, '/0/1/10'), 101);
  });

  it('the factory’s instances are protected too, network ones are not', () => {
    const tree = buildTree();
    const s = session(tree, {
      sourceOf: (o, i) => (o === 1 && i === 0 ? 'factory' : o === 1 && i === 1 ? 'network' : undefined),
    });
    assert.equal(s.handle(write('/1/0/1', [rec('/1/0/1', Value.integer(1))])).response.code, '4.01');
    assert.equal(s.handle(write('/1/1/1', [rec('/1/1/1', Value.integer(1))])).response.code, '2.04');
  });

  it('policy networkMayChange ["smartcard"] lets the network change it', () => {
    const tree = buildTree();
    const s = session(tree, { sourceOf: smartcard, policy: { networkMayChange: ['smartcard'] } });
    const w = s.handle(write('/0/1/0', [rec('/0/1/0', Value.string('coap://new.example:5683'))]));
    assert.equal(w.response.code, '2.04');
    assert.equal(valueAt(tree, '/0/1/0'), 'coap://new.example:5683');
    assert.equal(s.handle(del('/0/1')).response.code, '2.02');
    assert.deepEqual(tree.instanceIds(0), [0, 2]);
  });

  it('protection covers /0 and /1 only', () => {
    const tree = buildTree();
    const s = session(tree, { sourceOf: () => 'smartcard' });
    assert.equal(s.handle(del('/2/2')).response.code, '2.02');
    assert.deepEqual(tree.instanceIds(2), [0, 1]);
  });
});

describe('BootstrapSession: Bootstrap-Pack', () => {
  it('replaces every instance of each object it holds and keeps the BS account', () => {
    const tree = buildTree();
    const s = session(tree);
    const pack = account(5, 5, 201, 'coap://packed.example:5683');
    const applied = s.applyPack(pack);
    assert.ok(applied.ok, applied.ok ? '' : applied.message);
    assert.deepEqual(tree.instanceIds(0), [0, 5]);
    assert.ok(isBootstrapAccount(tree.instance(0, 0)));
    assert.deepEqual(tree.instanceIds(1), [5]);
    assert.equal(valueAt(tree, '/0/5/0'), 'coap://packed.example:5683');
    assert.equal(valueAt(tree, '/1/5/0'), 201);
    assert.deepEqual(tree.instanceIds(3), [0]);
    assert.ok(s.check().ok);
  });

  it('leaves the objects the Pack does not hold untouched', () => {
    const tree = buildTree();
    const before2 = readPlain(tree, '/2');
    const before6 = readPlain(tree, '/6');
    const s = session(tree);
    // The same two servers, new URIs: a Pack that only rotates the server accounts.
    const pack = [
      ...account(1, 0, 101, 'coap://dm1.new.example:5683'),
      ...account(2, 1, 102, 'coap://dm2.new.example:5683'),
    ];
    assert.ok(s.applyPack(pack).ok);
    assert.deepEqual(readPlain(tree, '/2'), before2);
    assert.deepEqual(readPlain(tree, '/6'), before6);
  });

  it('refuses a Pack without a Server Account (/0 and /1)', () => {
    const tree = buildTree();
    const s = session(tree);
    const onlySecurity = of(account(5, 5, 201, 'coap://packed.example:5683'), 0);
    const r = s.applyPack(onlySecurity);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, '4.00');
    assert.deepEqual(tree.instanceIds(0), [0, 1, 2], 'nothing changed');
    const root = s.applyPack([{ path: LwM2mPath.ROOT }]);
    assert.equal(root.ok, false);
  });

  it('a Pack touching a protected instance fails and rolls back cleanly', () => {
    const tree = buildTree();
    const before = snapshot(tree);
    const s = session(tree, { sourceOf: (o, i) => (o === 0 && i === 1 ? 'smartcard' : undefined) });
    const r = s.applyPack(account(1, 5, 101, 'coap://x.example:5683'));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, '4.01');
    s.rollback();
    assert.deepEqual(snapshot(tree), before);
  });
});

describe('BootstrapSession: Finish checks', () => {
  const code = (s: BootstrapSession) => {
    const c = s.check();
    return c.ok ? 'ok' : `${c.code} ${c.message}`;
  };

  it('accepts the starting configuration', () => {
    assert.equal(code(session(buildTree())), 'ok');
  });

  it('accepts a Bootstrap-Server account alone', () => {
    const tree = buildTree();
    const s = session(tree);
    s.handle(del('/'));
    assert.equal(code(s), 'ok');
  });

  it('4.06: a /1 without its /0', () => {
    const tree = buildTree();
    const s = session(tree);
    s.handle(write('/1/7', of(account(7, 7, 999, 'coap://x.example'), 1)));
    assert.match(code(s), /^4\.06 .*999/);
  });

  it('4.06: a /0 without its /1', () => {
    const tree = buildTree();
    const s = session(tree);
    s.handle(write('/0/7', of(account(7, 7, 999, 'coap://x.example'), 0)));
    assert.match(code(s), /^4\.06 .*\/0\/7/);
  });

  it('4.06: two /0 instances with the same Short Server ID', () => {
    const tree = buildTree();
    const s = session(tree);
    s.handle(write('/0/7', of(account(7, 7, 101, 'coap://x.example'), 0)));
    assert.match(code(s), /^4\.06 .*101/);
  });

  it('4.06: a URI the client cannot use', () => {
    for (const uri of ['not a uri', 'http://dm.example', 'coap://']) {
      const tree = buildTree();
      const s = session(tree);
      assert.equal(s.handle(write('/0/1/0', [rec('/0/1/0', Value.string(uri))])).response.code, '2.04');
      assert.match(code(s), /^4\.06 \/0\/1/, uri);
    }
  });

  it('4.06: nothing at all', () => {
    const tree = buildTree();
    const s = session(tree);
    s.handle(del('/'));
    s.handle(del('/0/0'));
    assert.match(code(s), /^4\.06 /);
  });

  it('4.06: two Bootstrap-Server accounts', () => {
    const tree = buildTree();
    const s = session(tree);
    s.handle(
      write('/0/9', [
        rec('/0/9/0', Value.string('coap://bs2.example:5683')),
        rec('/0/9/1', Value.boolean(true)),
        rec('/0/9/2', Value.integer(3)),
      ]),
    );
    assert.match(code(s), /^4\.06 .*Bootstrap-Server/);
  });

  it('4.06: a server account without a Short Server ID', () => {
    const tree = buildTree();
    const s = session(tree);
    s.handle(
      write('/0/9', [rec('/0/9/0', Value.string('coap://x.example')), rec('/0/9/1', Value.boolean(false))]),
    );
    assert.match(code(s), /^4\.06 .*\/0\/9/);
  });
});

describe('BootstrapSession: rollback', () => {
  it('after a series of operations restores /0, /1, /2 (and what unbootstrapping took) exactly', () => {
    const tree = buildTree();
    const before = snapshot(tree);
    const enablers = [tree.instance(0, 1), tree.instance(1, 0), tree.instance(2, 1), tree.instance(6, 0)];
    const s = session(tree);
    assert.equal(s.handle(write('/1/0/1', [rec('/1/0/1', Value.integer(60))])).response.code, '2.04');
    assert.equal(s.handle(write('/0', of(account(9, 9, 301, 'coap://n.example'), 0))).response.code, '2.04');
    assert.equal(s.handle(write('/1', of(account(9, 9, 301, 'coap://n.example'), 1))).response.code, '2.04');
    assert.equal(s.handle(del('/0/1')).response.code, '2.02');
    assert.equal(s.handle(del('/2')).response.code, '2.02');
    assert.equal(s.handle(write('/1/1/1', [rec('/1/1/1', Value.integer(1))])).response.code, '2.04');
    assert.notDeepEqual(snapshot(tree), before);
    s.rollback();
    assert.deepEqual(snapshot(tree), before);
    assert.equal(s.removedServers.size, 0);
    assert.deepEqual(
      [tree.instance(0, 1), tree.instance(1, 0), tree.instance(2, 1), tree.instance(6, 0)],
      enablers,
    );
  });

  it('after Delete / restores everything', () => {
    const tree = buildTree();
    const before = snapshot(tree);
    const s = session(tree);
    s.handle(del('/'));
    s.rollback();
    assert.deepEqual(snapshot(tree), before);
    assert.deepEqual(tree.instanceIds(2), [0, 1, 2]);
  });

  it('commit keeps the changes', () => {
    const tree = buildTree();
    const s = session(tree);
    s.handle(del('/0/2'));
    s.commit();
    s.rollback();
    assert.deepEqual(tree.instanceIds(0), [0, 1]);
    assert.deepEqual(tree.instanceIds(1), [0]);
  });
});
