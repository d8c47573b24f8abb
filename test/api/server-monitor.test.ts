import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { ServerMonitor } from '../../src/api/server-monitor.js';
import { withClientRig } from '../support/client-rig.js';

describe('ServerMonitor', () => {
  it('forgets an endpoint that de-registered (its De-register uplink comes after "deregistered")', () =>
    withClientRig({ noStart: true }, async (rig) => {
      const monitor = new ServerMonitor(rig.server);
      try {
        await rig.start();
        await rig.server.read(rig.ep, '/3/0/0');
        assert.equal(typeof monitor.lastActivity(rig.ep), 'number', 'seen while registered');
        const gone = once(rig.server, 'deregistered');
        const uplink = new Promise<void>((resolve) =>
          rig.server.on('uplink', (e) => {
            if (e.operation === 'deregister') resolve();
          }),
        );
        await rig.client.stop();
        await Promise.all([gone, uplink]);
        assert.equal(monitor.lastActivity(rig.ep), undefined, 'no entry left for an endpoint that left');
        assert.equal(monitor.uplinks.perSecond() > 0, true, 'the uplinks still count');
      } finally {
        monitor.close();
      }
    }));
});
