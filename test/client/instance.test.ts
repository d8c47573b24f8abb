import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  coreDefinition,
  createAccessControlInstance,
  createConnectivityMonitoringInstance,
  createConnectivityStatisticsInstance,
  createDeviceInstance,
  createLocationInstance,
  createSecurityInstance,
  createServerInstance,
} from '../../src/client/core-instances.js';
import { MemoryInstance, ObjectTreeError, toResourceValue } from '../../src/client/instance.js';
import { TypeConversionError, Value } from '../../src/model/data-types.js';
import { LwM2mPath } from '../../src/model/path.js';
import { plain, rec } from '../support/records.js';
import { TEST_OBJECT, TEST_OBJECT_DEFINITION } from '../support/test-model.js';

const device = coreDefinition(3)!;

describe('MemoryInstance', () => {
  it('reads singles as /o/i/r, multiples as /o/i/r/ri and an empty multiple as a bare /o/i/r', () => {
    const inst = new MemoryInstance(device, 3, 0, [
      rec('/3/0/0', Value.string('ACME')),
      rec('/3/0/11/1', Value.integer(5)),
      rec('/3/0/11/0', Value.integer(0)),
      rec('/3/0/6'),
    ]);
    assert.deepEqual(plain(inst.read()), [
      { path: '/3/0/0', type: 'string', value: 'ACME' },
      { path: '/3/0/6' },
      { path: '/3/0/11/0', type: 'integer', value: '0' },
      { path: '/3/0/11/1', type: 'integer', value: '5' },
    ]);
  });

  it('refuses initial records of another instance or the wrong multiplicity', () => {
    assert.throws(() => new MemoryInstance(device, 3, 0, [rec('/3/1/0', Value.string('x'))]), {
      reason: 'wrong-instance',
    });
    assert.throws(() => new MemoryInstance(device, 3, 0, [rec('/3/0/0/1', Value.string('x'))]), {
      reason: 'not-multiple',
    });
    assert.throws(() => new MemoryInstance(device, 3, 0, [rec('/3/0/11', Value.integer(1))]), {
      reason: 'not-multiple',
    });
    assert.throws(() => new MemoryInstance(device, 3, 65535), ObjectTreeError);
  });

  it('set types plain values by the definition and fires only on a real change', () => {
    const inst = new MemoryInstance(device, 3, 0);
    const seen: string[][] = [];
    inst.onChange((paths) => seen.push(paths.map(String)));
    inst.set(9, 80); // Battery Level: Integer
    inst.set(13, 1700000000); // Current Time: Time
    inst.set(9, 80);
    inst.set(LwM2mPath.parse('/3/0/11/3'), 2);
    inst.set(11, [0, 4]);
    inst.set(11, [0, 4]);
    assert.deepEqual(inst.get(9), { type: 'integer', value: 80 });
    assert.deepEqual(inst.get(13), { type: 'time', value: 1700000000 });
    assert.deepEqual([...inst.getMultiple(11)!.keys()], [0, 1]);
    assert.deepEqual(seen, [['/3/0/9'], ['/3/0/13'], ['/3/0/11'], ['/3/0/11']]);
    inst.set(9, undefined);
    assert.equal(inst.get(9), undefined);
    assert.equal(seen.length, 5);
  });

  it('set refuses values the type cannot take, and paths of other instances', () => {
    const inst = new MemoryInstance(device, 3, 0);
    assert.throws(() => inst.set(9, 'eighty'), { reason: 'bad-value' });
    assert.throws(() => inst.set(9, 1.5), { reason: 'bad-value' });
    assert.throws(() => inst.set(0, [1, 2]), { reason: 'not-multiple' });
    assert.throws(() => inst.set(LwM2mPath.parse('/3/1/9'), 1), { reason: 'wrong-instance' });
  });

  it('write replace replaces a named multiple resource whole; update merges', () => {
    const inst = new MemoryInstance(device, 3, 0, [
      rec('/3/0/11/0', Value.integer(1)),
      rec('/3/0/11/1', Value.integer(2)),
      rec('/3/0/14', Value.string('+01')),
    ]);
    inst.write([rec('/3/0/11/3', Value.integer(7))], 'update');
    assert.deepEqual([...inst.getMultiple(11)!.keys()], [0, 1, 3]);
    inst.write([rec('/3/0/11/3', Value.integer(7))], 'replace');
    assert.deepEqual([...inst.getMultiple(11)!.keys()], [3]);
    inst.write([rec('/3/0/14')], 'replace'); // a bare single resource in replace mode: removed
    assert.equal(inst.get(14), undefined);
  });

  it('executes handlers; mandatory executables exist without one; others are 4.04', async () => {
    const inst = new MemoryInstance(device, 3, 0);
    assert.deepEqual(await inst.execute(4, []), { ok: true, value: undefined });
    const r = await inst.execute(5, []);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, '4.04');
    let got: unknown;
    inst.onExecute(5, (args) => {
      got = args;
      return { ok: false, code: '4.00', message: 'no' };
    });
    const refused = await inst.execute(5, [{ digit: 1, value: 'x' }]);
    assert.deepEqual(got, [{ digit: 1, value: 'x' }]);
    assert.equal(!refused.ok && refused.code, '4.00');
    assert.deepEqual(inst.resourceIds(), [4, 5]);
  });

  it('deletes resource instances', () => {
    const inst = new MemoryInstance(device, 3, 0, [rec('/3/0/11/0', Value.integer(1))]);
    assert.equal(inst.deleteResourceInstance(11, 0).ok, true);
    assert.equal(inst.deleteResourceInstance(11, 0).ok, false);
    assert.deepEqual(plain(inst.read()), [{ path: '/3/0/11' }]);
  });

  it('works without a definition (types from the values)', () => {
    const inst = new MemoryInstance(undefined, 42800, 0);
    inst.set(1, 2.5).set(2, 7).set(3, [true, false]);
    assert.deepEqual(plain(inst.read()), [
      { path: '/42800/0/1', type: 'float', value: '2.5' },
      { path: '/42800/0/2', type: 'integer', value: '7' },
      { path: '/42800/0/3/0', type: 'boolean', value: true },
      { path: '/42800/0/3/1', type: 'boolean', value: false },
    ]);
  });

  it('toResourceValue converts plain values to every resource type', () => {
    assert.deepEqual(toResourceValue('unsigned', 3), { type: 'unsigned', value: 3 });
    assert.deepEqual(toResourceValue('objlnk', { objectId: 3, instanceId: 0 }), {
      type: 'objlnk',
      value: { objectId: 3, instanceId: 0 },
    });
    assert.deepEqual(toResourceValue('integer', '12'), { type: 'integer', value: 12 });
    assert.equal(toResourceValue('opaque', new Uint8Array([1])).type, 'opaque');
    assert.throws(() => toResourceValue('boolean', 'maybe'), TypeConversionError);
    const inst = new MemoryInstance(TEST_OBJECT_DEFINITION, TEST_OBJECT, 0).set(0, 1);
    assert.deepEqual(inst.get(0), { type: 'float', value: 1 });
  });
});

describe('core instances', () => {
  it('/3 Device has the mandatory resources, Reboot, and Reset Error Code', async () => {
    const inst = createDeviceInstance({ manufacturer: 'ACME', now: () => 1000 });
    const rids = new Set(inst.read().map((r) => r.path.resourceId));
    for (const res of device.resources.values())
      if (res.mandatory && res.operations !== 'E') assert.ok(rids.has(res.id), `missing ${res.id}`);
    assert.deepEqual(inst.get(0), { type: 'string', value: 'ACME' });
    assert.deepEqual(inst.get(13), { type: 'time', value: 1000 });
    assert.ok(inst.resourceIds().includes(4));
    assert.ok(!inst.resourceIds().includes(5));
    inst.set(11, [1, 3]);
    await inst.execute(12, []);
    assert.deepEqual([...inst.getMultiple(11)!.values()], [{ type: 'integer', value: 0 }]);
  });

  it('/1 Server has its mandatory resources, defaults, and executable triggers', async () => {
    let triggered = 0;
    const inst = createServerInstance({
      instanceId: 2,
      shortServerId: 101,
      onRegistrationUpdateTrigger: () => {
        triggered++;
      },
    });
    assert.equal(inst.instanceId, 2);
    assert.deepEqual(inst.get(0), { type: 'integer', value: 101 });
    assert.deepEqual(inst.get(1), { type: 'integer', value: 86400 });
    assert.deepEqual(inst.get(6), { type: 'boolean', value: true });
    assert.deepEqual(inst.get(7), { type: 'string', value: 'U' });
    assert.deepEqual(
      inst.resourceIds().filter((r) => [4, 8, 9].includes(r)),
      [4, 8, 9],
    );
    await inst.execute(8, []);
    assert.equal(triggered, 1);
  });

  it('/0, /2, /4, /6, /7 factories fill their mandatory resources', async () => {
    const made = [
      createSecurityInstance({ serverUri: 'coap://localhost', shortServerId: 1 }),
      createAccessControlInstance({ objectId: 3, objectInstanceId: 0, owner: 1, acl: new Map([[0, 1]]) }),
      createConnectivityMonitoringInstance(),
      createLocationInstance({ latitude: 48.1, longitude: 11.5, timestamp: 5 }),
      createConnectivityStatisticsInstance(),
    ];
    for (const inst of made) {
      const def = coreDefinition(inst.objectId)!;
      const rids = new Set(inst.read().map((r) => r.path.resourceId));
      for (const res of def.resources.values())
        if (res.mandatory && res.operations !== 'E')
          assert.ok(rids.has(res.id), `/${inst.objectId} lacks ${res.id}`);
    }
    const stats = made[4]!;
    stats.set(2, 500);
    await stats.execute(6, []);
    assert.deepEqual(stats.get(2), { type: 'integer', value: 0 });
    assert.equal((await stats.execute(7, [])).ok, true);
    assert.deepEqual(made[3]!.get(0), { type: 'float', value: 48.1 });
  });
});
