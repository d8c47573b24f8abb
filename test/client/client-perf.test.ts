// The client's cheaper paths behave as the plain ones did: accounts() is kept between changes of
// /0 and /1 and rebuilt after any of them (server Write, application set, create, delete,
// bootstrap-style replace); MemoryInstance.readResource matches read(), also for a subclass that
// overrides read(); core definitions come from the built-in list.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coreDefinition } from '../../src/client/core-instances.js';
import { MemoryInstance } from '../../src/client/instance.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { CORE_OBJECTS, CORE_OBJECT_VERSIONS } from '../../src/model/core-objects.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { LwM2mPath } from '../../src/model/path.js';
import { Value } from '../../src/model/data-types.js';

function client(): LwM2mClient {
  return new LwM2mClient({
    endpoint: 'perf-1',
    servers: [
      { uri: 'coap://10.0.0.1:5683', lifetime: 300, shortServerId: 7 },
      { uri: 'coap://10.0.0.3:5683', lifetime: 600, shortServerId: 8, queueMode: true },
    ],
    bootstrap: { server: { uri: 'coap://10.0.0.9:5683', accountTimeout: 30 } },
  });
}

const serverInstance = (c: LwM2mClient, ssid: number): MemoryInstance => {
  for (const iid of c.tree.instanceIds(1)) {
    const inst = c.tree.instance(1, iid);
    if (inst instanceof MemoryInstance && inst.get(0)?.value === ssid) return inst;
  }
  throw new Error(`no /1 instance for ${ssid}`);
};

describe('LwM2mClient.accounts(): kept between changes, rebuilt after each', () => {
  it('a server Write of /1/x/1 shows at once', () => {
    const c = client();
    assert.equal(c.accounts().find((a) => a.shortServerId === 7)?.lifetime, 300);
    const iid = serverInstance(c, 7).instanceId;
    const written = c.tree.write(
      LwM2mPath.of(1, iid, 1),
      [{ path: LwM2mPath.of(1, iid, 1), value: Value.integer(1234) }],
      'replace',
    );
    assert.ok(written.ok);
    assert.equal(c.accounts().find((a) => a.shortServerId === 7)?.lifetime, 1234);
  });

  it('an application set on /1 or /0 shows at once; unrelated objects keep the snapshot', () => {
    const c = client();
    const first = c.accounts();
    assert.equal(first.find((a) => a.shortServerId === 8)?.queueMode, true);
    c.set('/3/0/0', 'Someone else'); // not /0 or /1: same accounts
    assert.deepEqual(c.accounts(), first);
    serverInstance(c, 8).set(7, 'U');
    assert.equal(c.accounts().find((a) => a.shortServerId === 8)?.queueMode ?? false, false);
    const security = c.tree.instance(0, 0) as MemoryInstance;
    security.set(0, 'coap://10.0.0.42:5683');
    assert.equal(c.accounts().find((a) => a.shortServerId === 7)?.uri, 'coap://10.0.0.42:5683');
  });

  it('instances created and removed (and a replaced /0) change the accounts and the bootstrap account', () => {
    const c = client();
    assert.deepEqual(
      c.accounts().map((a) => a.shortServerId),
      [7, 8],
    );
    assert.equal(c.bootstrapAccount()?.uri, 'coap://10.0.0.9:5683');
    const gone = serverInstance(c, 8);
    c.tree.removeInstance(1, gone.instanceId);
    assert.deepEqual(
      c.accounts().map((a) => a.shortServerId),
      [7],
    );
    const bs = c.bootstrapAccount()!;
    c.tree.removeInstance(0, bs.instanceId);
    assert.equal(c.bootstrapAccount(), undefined);
    const records: LwM2mRecord[] = [
      { path: LwM2mPath.of(0, 5, 0), value: Value.string('coap://10.0.0.77:5683') },
      { path: LwM2mPath.of(0, 5, 1), value: Value.boolean(true) },
      { path: LwM2mPath.of(0, 5, 2), value: Value.integer(3) },
    ];
    assert.ok(c.tree.write(LwM2mPath.of(0), records, 'update', { bootstrap: true }).ok);
    assert.equal(c.bootstrapAccount()?.uri, 'coap://10.0.0.77:5683');
  });

  it('callers get their own array: changing it does not change the next answer', () => {
    const c = client();
    const mine = c.accounts();
    mine.pop();
    assert.equal(c.accounts().length, 2);
  });
});

describe('MemoryInstance.readResource', () => {
  const device = coreDefinition(3)!;

  it('gives what read() gives for one resource: single, multiple, empty multiple, absent', () => {
    const inst = new MemoryInstance(device, 3, 0).set(0, 'Petrel').set(6, [1, 5]).set(7, []);
    for (const rid of [0, 6, 7, 9])
      assert.deepEqual(
        inst.readResource(rid),
        inst.read().filter((r) => r.path.resourceId === rid),
        `resource ${rid}`,
      );
    assert.deepEqual(inst.readResource(9), []);
    // The tree reads one resource through it.
    const inst2 = new MemoryInstance(device, 3, 0).set(6, [1, 5]);
    assert.deepEqual(
      inst2.readResource(6).map((r) => r.path.toString()),
      ['/3/0/6/0', '/3/0/6/1'],
    );
  });

  it('a subclass that overrides read() is read through it', () => {
    class Live extends MemoryInstance {
      override read(): LwM2mRecord[] {
        return [{ path: LwM2mPath.of(3, 0, 0), value: Value.string('live') }];
      }
    }
    const inst = new Live(device, 3, 0).set(0, 'stored');
    assert.deepEqual(inst.readResource(0), [{ path: LwM2mPath.of(3, 0, 0), value: Value.string('live') }]);
  });

  it('a value set after a read shows in the next read, and the earlier read keeps its value', () => {
    const inst = new MemoryInstance(device, 3, 0).set(0, 'a');
    const before = inst.read();
    inst.set(0, 'b');
    assert.equal(before[0]?.value?.value, 'a');
    assert.equal(inst.read()[0]?.value?.value, 'b');
    assert.equal(inst.readResource(0)[0]?.value?.value, 'b');
  });

  it('change listeners still fire only on real changes', () => {
    const inst = new MemoryInstance(device, 3, 0).set(0, 'a');
    const seen: string[] = [];
    inst.onChange((paths) => seen.push(...paths.map(String)));
    inst.set(0, 'a');
    inst.set(0, 'b');
    inst.set(6, [1]);
    inst.set(6, [1]);
    assert.deepEqual(seen, ['/3/0/0', '/3/0/6']);
  });
});

describe('coreDefinition', () => {
  it('finds each built-in definition by id and version, the 1.2-era one by default', () => {
    for (const d of CORE_OBJECTS) assert.equal(coreDefinition(d.id, d.version)?.version, d.version);
    for (const [id, version] of CORE_OBJECT_VERSIONS) assert.equal(coreDefinition(id)?.version, version);
    assert.equal(coreDefinition(3, '9.9'), undefined);
    assert.equal(coreDefinition(65000), undefined);
  });
});
