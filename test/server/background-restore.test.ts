import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryRegistrationStore } from '../../src/store/memory-registration-store.js';
import { code, startHarness } from './server-harness.js';

const LT = ['lwm2m=1.2', 'b=U'];

function stored(i: number, now: number): Registration {
  return {
    id: `stored${String(i).padStart(6, '0')}`,
    endpoint: `stored-${i}`,
    lwm2mVersion: '1.2',
    binding: 'U',
    queueMode: false,
    lifetime: 100,
    sms: undefined,
    profileIds: [],
    objectLinks: [],
    objects: [],
    alternatePath: undefined,
    contentFormats: undefined,
    peer: { address: '10.9.0.1', port: 40000 + (i % 20000) },
    transport: 'udp',
    registeredAt: now,
    lastUpdateAt: now,
    expiresAt: now + 100_000,
    extraParameters: {},
  };
}

describe("LwM2mServer restore: 'background'", () => {
  it('serves at once while restoring; what changes meanwhile is not overwritten by the stored state', async () => {
    const clock = new FakeClock(1_000_000);
    const store = new MemoryRegistrationStore();
    // A first server: the device registers for 100 s; then 5,000 other registrations are stored.
    const first = await startHarness({ store }, clock);
    assert.equal(code(await first.device.register(['ep=dev-live', 'lt=100', ...LT])), '2.01');
    const location = first.device.location;
    await first.close();
    for (let i = 0; i < 5000; i++) await store.put(stored(i, clock.now()));
    // The device's registration last in the store's order, so the restore reaches it after the Update.
    const live = (await store.remove('dev-live'))!;
    await store.put(live);

    const second = await startHarness({ store, restore: 'background' }, clock);
    try {
      let restoredEvent: number | undefined;
      second.server.on('restored', (n) => (restoredEvent = n));
      // start() has returned, the restore is still running: the device's Update is answered.
      second.device.location = location;
      const updated = await second.device.update(['lt=1000']);
      assert.equal(code(updated), '2.04');
      assert.equal(await second.server.restored, 5001);
      assert.equal(restoredEvent, 5001);
      // Past the stored 100 s: the stored registrations expire, the updated one (1000 s) stays.
      clock.advance(150_000);
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(await second.server.getRegistration('dev-live'), 'the Update made during restore holds');
      assert.equal(await second.server.getRegistration('stored-7'), undefined);
      assert.equal((await second.server.registrations()).length, 1);
    } finally {
      await second.close();
    }
  });
});
