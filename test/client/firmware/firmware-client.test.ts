// Firmware update as a user meets it: our LwM2mServer drives our LwM2mClient's /5 over a memory
// network (push with Block1, Execute, Cancel, reset), and the client pulls from a CoAP block-wise
// file server and from an HTTP server that drops the connection.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createCoapStack } from '../../../src/binding/coap/coap-stack.js';
import type {
  FirmwareApplication,
  InstallOutcome,
  UpdateDecision,
} from '../../../src/client/firmware/firmware-update-instance.js';
import { MemoryFirmwareStore } from '../../../src/client/firmware/firmware-store.js';
import type { LwM2mClient } from '../../../src/client/lwm2m-client.js';
import type { CoapMessaging } from '../../../src/coap/coap-messaging.js';
import { CoapCode } from '../../../src/coap/message.js';
import { block2, uriPath } from '../../../src/coap/options.js';
import { Value } from '../../../src/model/data-types.js';
import { withClientRig } from '../../support/client-rig.js';
import type { ClientRig } from '../../support/client-rig.js';
import { block1FromStranger, bytesOf, image, withCoapsPullRig } from '../../support/package-client-rig.js';

interface App {
  application: FirmwareApplication;
  store: MemoryFirmwareStore;
  installed: Uint8Array[];
  /** Answers for decide, in order (default accept). */
  decisions: UpdateDecision[];
  /** Holds the install until released (when set). */
  hold: { release?: (o: InstallOutcome) => void; enabled: boolean };
}

function app(maxSize = 512 * 1024): App {
  const store = new MemoryFirmwareStore({ maxSize });
  const installed: Uint8Array[] = [];
  const decisions: UpdateDecision[] = [];
  const hold: App['hold'] = { enabled: false };
  return {
    store,
    installed,
    decisions,
    hold,
    application: {
      store,
      decide: () => decisions.shift() ?? { action: 'accept' },
      install: async (stored) => {
        installed.push(await bytesOf(stored));
        if (hold.enabled) return new Promise<InstallOutcome>((r) => (hold.release = r));
        return { ok: true, version: '2.0.0' };
      },
    },
  };
}

async function readInt(rig: Pick<ClientRig, 'server' | 'ep'>, path: string): Promise<unknown> {
  const r = await rig.server.read(rig.ep, path);
  assert.equal(r.code, '2.05', `${path}: ${r.diagnostic}`);
  return r.records[0]?.value?.value;
}

/** Polls State and Update Result through the server until they match. */
async function until(rig: Pick<ClientRig, 'server' | 'ep'>, state: number, result: number): Promise<void> {
  let last: unknown[] = [];
  for (let i = 0; i < 200; i++) {
    last = [await readInt(rig, '/5/0/3'), await readInt(rig, '/5/0/5')];
    if (last[0] === state && last[1] === result) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`State/Update Result ${last.join('/')} never became ${state}/${result}`);
}

const firmwareOf = (client: LwM2mClient) => {
  assert.ok(client.firmware);
  return client.firmware;
};

describe('LwM2mClient firmware update (/5)', () => {
  it('push: 200 KiB in Block1 blocks streams to the store; Execute installs; /3/0/3 follows', async () => {
    const a = app();
    a.hold.enabled = true;
    await withClientRig({ client: { firmware: { application: a.application } } }, async (rig) => {
      const requests: string[] = [];
      rig.client.on('request', (r) => requests.push(`${r.kind} ${r.path} ${r.code}`));
      const fw = image(200 * 1024);
      const written = await rig.server.write(rig.ep, '/5/0/0', Value.opaque(fw), { format: 'opaque' });
      assert.equal(written.code, '2.04', written.diagnostic);
      // Streamed: the client saw the Write as a block-wise one, never as one 200 KiB request.
      assert.deepEqual(requests, ['write /5/0/0 2.31']);
      assert.deepEqual(a.store.bytes(), fw);
      assert.equal(await readInt(rig, '/5/0/3'), 2);
      assert.equal(await readInt(rig, '/5/0/5'), 0);
      assert.equal(typeof (await readInt(rig, '/5/0/12')), 'number');
      assert.equal((await rig.server.execute(rig.ep, '/5/0/2')).code, '2.04');
      await until(rig, 3, 0);
      // Cancel once installing: 4.05 (object 1.2, /5/0/10).
      assert.equal((await rig.server.execute(rig.ep, '/5/0/10')).code, '4.05');
      a.hold.release?.({ ok: true, version: '2.0.0' });
      await until(rig, 0, 1);
      assert.deepEqual(a.installed, [fw]);
      assert.equal(await readInt(rig, '/3/0/3'), '2.0.0');
      assert.equal((await rig.server.execute(rig.ep, '/5/0/10')).code, '4.05', 'installed');
    });
  });

  it('a Block1 push from a peer that is no registered server gets 4.01 and changes nothing', async () => {
    const a = app();
    await withClientRig({ client: { firmware: { application: a.application } } }, async (rig) => {
      const response = await block1FromStranger(rig, '/5/0/0');
      assert.equal(response.code, CoapCode.UNAUTHORIZED);
      assert.equal(await readInt(rig, '/5/0/3'), 0);
      assert.equal(a.store.size, 0);
    });
  });

  it('Update outside Downloaded, reset by NUL and by an empty URI, Cancel before the update', async () => {
    const a = app();
    await withClientRig({ client: { firmware: { application: a.application } } }, async (rig) => {
      assert.equal((await rig.server.execute(rig.ep, '/5/0/2')).code, '4.05');
      const small = image(300);
      assert.equal(
        (await rig.server.write(rig.ep, '/5/0/0', Value.opaque(small), { format: 'opaque' })).code,
        '2.04',
      );
      await until(rig, 2, 0);
      assert.deepEqual(a.store.bytes(), small, 'one Write without Block1');
      assert.equal(
        (await rig.server.write(rig.ep, '/5/0/0', Value.opaque(Uint8Array.of(0)), { format: 'opaque' })).code,
        '2.04',
      );
      await until(rig, 0, 0);
      assert.equal(a.store.size, 0);
      await rig.server.write(rig.ep, '/5/0/0', Value.opaque(small), { format: 'opaque' });
      await until(rig, 2, 0);
      assert.equal((await rig.server.write(rig.ep, '/5/0/1', '')).code, '2.04');
      await until(rig, 0, 0);
      await rig.server.write(rig.ep, '/5/0/0', Value.opaque(small), { format: 'opaque' });
      await until(rig, 2, 0);
      assert.equal((await rig.server.execute(rig.ep, '/5/0/10')).code, '2.04');
      await until(rig, 0, 10);
      assert.deepEqual(a.installed, []);
    });
  });

  it('defer then accept, refuse, and a failed install, through Execute', async () => {
    const a = app();
    await withClientRig({ client: { firmware: { application: a.application } } }, async (rig) => {
      const fw = image(5000);
      await rig.server.write(rig.ep, '/5/0/0', Value.opaque(fw), { format: 'opaque' });
      await until(rig, 2, 0);
      a.decisions.push({ action: 'defer', seconds: 1 }, { action: 'accept' });
      await rig.server.execute(rig.ep, '/5/0/2');
      await until(rig, 2, 11);
      assert.deepEqual(a.installed, []);
      await until(rig, 0, 1); // asked again after 1 s, accepted
      assert.deepEqual(a.installed, [fw]);

      await rig.server.write(rig.ep, '/5/0/0', Value.opaque(fw), { format: 'opaque' });
      await until(rig, 2, 0);
      a.decisions.push({ action: 'refuse', reason: 'critical work under way' });
      await rig.server.execute(rig.ep, '/5/0/2');
      await until(rig, 2, 8);
      assert.equal(firmwareOf(rig.client).lastError?.message, 'critical work under way');

      const failing = firmwareOf(rig.client);
      a.hold.enabled = true;
      await rig.server.execute(rig.ep, '/5/0/2');
      await until(rig, 3, 0);
      a.hold.release?.({ ok: false, updateResult: 8, reason: 'flash write error' });
      await until(rig, 2, 8);
      assert.deepEqual(
        { phase: failing.lastError?.phase, message: failing.lastError?.message },
        { phase: 'install', message: 'flash write error' },
      );
    });
  });

  it('pull over CoAP: Block2 from a block-wise file server, a lost block resumed', async () => {
    const a = app();
    const fw = image(40 * 1024, 7);
    await withClientRig(
      {
        client: {
          firmware: {
            application: a.application,
            pull: { blockSize: 512, timeout: 300, retryDelay: 20, retries: 3 },
          },
        },
      },
      async (rig) => {
        const { endpoint } = createCoapStack({ channel: rig.network.channel('10.0.0.5', 5683) });
        const asked: number[] = [];
        let dropped = false;
        // The file server's block-wise layer over an endpoint that loses the answer to block 10 once.
        const lossy: CoapMessaging = {
          transmission: endpoint.transmission,
          onRequest(handler) {
            endpoint.onRequest((req) => {
              const num = block2(req.message)?.num ?? 0;
              asked.push(num);
              if (num === 10 && !dropped) {
                dropped = true;
                return new Promise(() => undefined);
              }
              return handler(req);
            });
            return lossy;
          },
          request: (p, r, o) => endpoint.request(p, r, o),
          observe: (p, r, h, o) => endpoint.observe(p, r, h, o),
          adoptObservation: (p, r, h) => endpoint.adoptObservation(p, r, h),
          ping: (p) => endpoint.ping(p),
          close: () => endpoint.close(),
        };
        const { BlockwiseLayer } = await import('../../../src/coap/blockwise.js');
        new BlockwiseLayer(lossy, { blockSize: 1024 }).onRequest(({ message }) =>
          uriPath(message).join('/') === 'fw/app.bin'
            ? { code: CoapCode.CONTENT, payload: fw }
            : { code: CoapCode.NOT_FOUND },
        );
        try {
          assert.deepEqual(
            (await rig.server.read(rig.ep, '/5/0/8')).records.map((r) => r.value?.value),
            [0, 1, 2, 3, 4, 5],
          );
          assert.equal((await rig.server.write(rig.ep, '/5/0/1', 'coap://10.0.0.5/fw/app.bin')).code, '2.04');
          await until(rig, 2, 0);
          assert.deepEqual(a.store.bytes(), fw);
          assert.equal(asked.filter((n) => n === 10).length, 2, 'block 10 asked again');
          assert.deepEqual(
            [...new Set(asked)],
            Array.from({ length: 80 }, (_, i) => i),
          );
          assert.equal(await readInt(rig, '/5/0/1'), 'coap://10.0.0.5/fw/app.bin');

          // A URI the file server does not know: Invalid URI (7); an unknown scheme: 9.
          await rig.server.write(rig.ep, '/5/0/1', '');
          await rig.server.write(rig.ep, '/5/0/1', 'coap://10.0.0.5/fw/none.bin');
          await until(rig, 0, 7);
          await rig.server.write(rig.ep, '/5/0/1', 'sftp://10.0.0.5/fw/app.bin');
          await until(rig, 0, 9);
        } finally {
          await endpoint.close();
        }
      },
    );
  });

  it('pull over HTTP: a dropped connection resumes with Range and If-Range', async () => {
    const fw = image(96 * 1024, 3);
    const seen: { range?: string; ifRange?: string }[] = [];
    const http = createServer((req, res) => {
      seen.push({
        ...(req.headers.range ? { range: req.headers.range } : {}),
        ...(typeof req.headers['if-range'] === 'string' ? { ifRange: req.headers['if-range'] } : {}),
      });
      if (req.url !== '/fw.bin') {
        res.writeHead(404).end();
        return;
      }
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (!m) {
        // The first answer stops after 40 000 bytes: the connection drops.
        res.writeHead(200, { 'content-length': fw.length, etag: '"v2"' });
        res.write(fw.subarray(0, 40_000), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      const from = Number(m[1]);
      res.writeHead(206, {
        'content-length': fw.length - from,
        'content-range': `bytes ${from}-${fw.length - 1}/${fw.length}`,
        etag: '"v2"',
      });
      res.end(fw.subarray(from));
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const port = (http.address() as AddressInfo).port;
    const a = app();
    try {
      await withClientRig(
        { client: { firmware: { application: a.application, pull: { retryDelay: 20 } } } },
        async (rig) => {
          await rig.server.write(rig.ep, '/5/0/1', `http://127.0.0.1:${port}/fw.bin`);
          await until(rig, 2, 0);
          assert.deepEqual(a.store.bytes(), fw);
          assert.equal(seen.length, 2);
          assert.deepEqual(seen[0], {});
          assert.equal(seen[1]?.ifRange, '"v2"');
          assert.match(seen[1]?.range ?? '', /^bytes=\d+-$/);
          assert.ok(Number(/\d+/.exec(seen[1]?.range ?? '')?.[0]) >= 16_384, 'resumed, not restarted');
          await rig.server.write(rig.ep, '/5/0/1', '');
          await rig.server.write(rig.ep, '/5/0/1', `http://127.0.0.1:${port}/missing.bin`);
          await until(rig, 0, 7);
          assert.equal(
            firmwareOf(rig.client).lastError?.message,
            `http://127.0.0.1:${port}/missing.bin answered HTTP 404`,
          );
        },
      );
    } finally {
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    }
  });

  it('pull over coaps://: DTLS with the PSK of the server that wrote the URI', async () => {
    const fw = image(20 * 1024, 9);
    const a = app();
    await withCoapsPullRig(
      {
        endpoint: 'fw-dtls',
        identity: 'fw-id',
        payload: fw,
        client: { firmware: { application: a.application } },
      },
      async (rig) => {
        const { server, identities } = rig;
        assert.deepEqual(
          (await server.read('fw-dtls', '/5/0/8')).records.map((r) => r.value?.value),
          [0, 1, 2, 3, 4, 5],
        );
        assert.equal((await server.write('fw-dtls', '/5/0/1', 'coaps://10.0.0.7/fw.bin')).code, '2.04');
        await until(rig, 2, 0);
        assert.deepEqual(a.store.bytes(), fw);
        assert.deepEqual([...new Set(identities)], ['fw-id']);
      },
    );
  });
});
