// Software management as a user meets it: our LwM2mServer drives our LwM2mClient's /9 instances
// over a memory network: push with Block1, Install, Activate, Deactivate, Uninstall (and
// ForUpdate), a pull over coap:// from a block-wise file server, signed packages (a tampered one
// refused with 53 and a reason), operations in the wrong state refused, and a restart.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCoapStack } from '../../../src/binding/coap/coap-stack.js';
import { MemoryFirmwareStore } from '../../../src/client/firmware/firmware-store.js';
import type {
  SoftwareActionOutcome,
  SoftwareApplication,
  SoftwareInstallOutcome,
  SoftwareManagementOptions,
} from '../../../src/client/software/software-management-instance.js';
import { BlockwiseLayer } from '../../../src/coap/blockwise.js';
import { CoapCode } from '../../../src/coap/message.js';
import { uriPath } from '../../../src/coap/options.js';
import { buildPackage } from '../../../src/firmware/package-envelope.js';
import { packageVerifier } from '../../../src/firmware/package-verifier.js';
import { Value } from '../../../src/model/data-types.js';
import type { OperationResult } from '../../../src/server/operation-result.js';
import { withClientRig } from '../../support/client-rig.js';
import type { ClientRig } from '../../support/client-rig.js';
import {
  block1FromStranger,
  bytesOf,
  image as bytes,
  withCoapsPullRig,
} from '../../support/package-client-rig.js';

const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });

interface App {
  readonly application: SoftwareApplication;
  readonly stores: Map<number, MemoryFirmwareStore>;
  /** What the hooks saw, in order. */
  readonly calls: string[];
  readonly installed: Uint8Array[];
  /** Outcomes for the next hooks (default ok). */
  readonly next: { install?: SoftwareInstallOutcome; action?: SoftwareActionOutcome };
}

function app(): App {
  const calls: string[] = [];
  const installed: Uint8Array[] = [];
  const next: App['next'] = {};
  const take = <T>(key: 'install' | 'action', fallback: T): T => {
    const v = next[key] as T | undefined;
    delete next[key];
    return v ?? fallback;
  };
  return {
    stores: new Map([
      [0, new MemoryFirmwareStore({ maxSize: 256 * 1024 })],
      [1, new MemoryFirmwareStore({ maxSize: 256 * 1024 })],
    ]),
    calls,
    installed,
    next,
    application: {
      install: async (image, { instanceId, facts, previous }) => {
        installed.push(await bytesOf(image));
        calls.push(
          `install ${instanceId} ${facts.name ?? '-'} ${previous ? `over ${previous.version}` : 'new'}`,
        );
        return take<SoftwareInstallOutcome>('install', { ok: true });
      },
      uninstall: ({ instanceId, forUpdate, name }) => {
        calls.push(`uninstall ${instanceId} ${name} ${forUpdate ? 'for-update' : 'remove'}`);
        return take<SoftwareActionOutcome>('action', { ok: true });
      },
      activate: ({ instanceId }) => {
        calls.push(`activate ${instanceId}`);
        return take<SoftwareActionOutcome>('action', { ok: true });
      },
      deactivate: ({ instanceId }) => {
        calls.push(`deactivate ${instanceId}`);
        return take<SoftwareActionOutcome>('action', { ok: true });
      },
    },
  };
}

function software(a: App, extra: Partial<SoftwareManagementOptions> = {}): SoftwareManagementOptions {
  return {
    application: a.application,
    packages: [...a.stores].map(([instanceId, store]) => ({ instanceId, store })),
    pull: { blockSize: 512, timeout: 300, retryDelay: 20, retries: 3 },
    ...extra,
  };
}

async function read(rig: Pick<ClientRig, 'server' | 'ep'>, path: string): Promise<unknown> {
  const r = await rig.server.read(rig.ep, path);
  assert.equal(r.code, '2.05', `${path}: ${r.diagnostic}`);
  // An empty string comes back as a record without a value (text/plain, no payload).
  return r.records[0]?.value?.value ?? '';
}

/** Polls Update State and Update Result of /9/iid through the server until they match. */
async function until(rig: Pick<ClientRig, 'server' | 'ep'>, iid: number, state: number, result: number) {
  let last: unknown[] = [];
  for (let i = 0; i < 300; i++) {
    last = [await read(rig, `/9/${iid}/7`), await read(rig, `/9/${iid}/9`)];
    if (last[0] === state && last[1] === result) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`/9/${iid} Update State/Result ${last.join('/')} never became ${state}/${result}`);
}

async function untilValue(rig: ClientRig, path: string, expected: unknown): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 300; i++) {
    last = await read(rig, path);
    if (last === expected) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`${path} = ${String(last)}, never ${String(expected)}`);
}

const code = async (p: Promise<{ code: string; diagnostic?: string }>) => (await p).code;

describe('LwM2mClient software management (/9)', () => {
  it('push in Block1 blocks, Install, Activate, Deactivate, Uninstall; the other instance untouched', async () => {
    const a = app();
    await withClientRig({ client: { software: software(a) } }, async (rig) => {
      const requests: string[] = [];
      rig.client.on('request', (r) => requests.push(`${r.kind} ${r.path} ${r.code}`));
      assert.deepEqual(rig.reg?.objects.find((o) => o.id === 9)?.instances, [0, 1]);
      const pkg = bytes(100 * 1024);
      const written = await rig.server.write(rig.ep, '/9/1/2', Value.opaque(pkg), { format: 'opaque' });
      assert.equal(written.code, '2.04', written.diagnostic);
      assert.deepEqual(requests, ['write /9/1/2 2.31'], 'streamed, not reassembled');
      assert.deepEqual(a.stores.get(1)?.bytes(), pkg);
      assert.equal(a.stores.get(0)?.size, 0);
      await until(rig, 1, 3, 3);
      await until(rig, 0, 0, 0);

      assert.equal(await code(rig.server.execute(rig.ep, '/9/1/10')), '4.05', 'Activate before Install');
      assert.equal(await code(rig.server.execute(rig.ep, '/9/1/4')), '2.04');
      await until(rig, 1, 4, 2);
      assert.deepEqual(a.installed, [pkg]);
      assert.equal(await read(rig, '/9/1/12'), false, 'a new installation is inactive');

      assert.equal(await code(rig.server.execute(rig.ep, '/9/1/10')), '2.04');
      await untilValue(rig, '/9/1/12', true);
      assert.equal(await code(rig.server.execute(rig.ep, '/9/1/11')), '2.04');
      await untilValue(rig, '/9/1/12', false);
      assert.equal(await code(rig.server.execute(rig.ep, '/9/1/6')), '2.04');
      await until(rig, 1, 0, 0);
      assert.deepEqual(a.calls, ['install 1 - new', 'activate 1', 'deactivate 1', 'uninstall 1  remove']);
      // The installed package was handed over and dropped from the store.
      assert.equal(a.stores.get(1)?.size, 0);
    });
  });

  it('refuses operations in the wrong state (4.05) and bad Uninstall arguments (4.00)', async () => {
    const a = app();
    await withClientRig({ client: { software: software(a) } }, async (rig) => {
      // Resources this client does not implement, and W-only credentials.
      assert.equal(await code(rig.server.read(rig.ep, '/9/0/5')), '4.04');
      assert.equal(await code(rig.server.write(rig.ep, '/9/0/14', 'user')), '2.04');
      assert.equal(await code(rig.server.read(rig.ep, '/9/0/14')), '4.05');
      for (const rid of [4, 6, 10, 11])
        assert.equal(await code(rig.server.execute(rig.ep, `/9/0/${rid}`)), '4.05', `/9/0/${rid} in INITIAL`);
      assert.equal(await code(rig.server.write(rig.ep, '/9/0/2', Value.opaque(bytes(300)))), '2.04');
      await until(rig, 0, 3, 3);
      assert.equal(await code(rig.server.write(rig.ep, '/9/0/2', Value.opaque(bytes(300)))), '4.05');
      assert.equal(await code(rig.server.write(rig.ep, '/9/0/3', 'coap://10.0.0.5/x')), '4.05');
      assert.equal(
        await code(rig.server.execute(rig.ep, '/9/0/6', '1')),
        '4.05',
        'ForUpdate needs INSTALLED',
      );
      assert.equal(await code(rig.server.execute(rig.ep, '/9/0/6', '2')), '4.00');
      assert.equal(await code(rig.server.execute(rig.ep, '/9/0/6', "0='x'")), '4.00');
      // A failing install stays DELIVERED with 58 and says why.
      a.next.install = { ok: false, reason: 'disk is read-only' };
      assert.equal(await code(rig.server.execute(rig.ep, '/9/0/4')), '2.04');
      await until(rig, 0, 3, 58);
      assert.equal(await read(rig, '/9/0/16'), 'install/install-failed: disk is read-only');
      // Uninstall of a delivered package drops it.
      assert.equal(await code(rig.server.execute(rig.ep, '/9/0/6', '0')), '2.04');
      await until(rig, 0, 0, 0);
      assert.equal(a.stores.get(0)?.size, 0);
      assert.equal(await read(rig, '/9/0/16'), '');
      // A Block1 push in the wrong state is refused at block 0.
      await code(rig.server.write(rig.ep, '/9/0/2', Value.opaque(bytes(300))));
      await until(rig, 0, 3, 3);
      const big = await rig.server.write(rig.ep, '/9/0/2', Value.opaque(bytes(4096)), { format: 'opaque' });
      assert.equal(big.code, '4.05');
    });
  });

  it('a Block1 push to /9/x/2 from a peer that is no registered server gets 4.01', async () => {
    const a = app();
    await withClientRig({ client: { software: software(a) } }, async (rig) => {
      const response = await block1FromStranger(rig, '/9/0/2');
      assert.equal(response.code, CoapCode.UNAUTHORIZED);
      assert.equal(await read(rig, '/9/0/7'), 0);
    });
  });

  it('pull over coap:// of signed packages: PkgName/PkgVersion from the manifest, ForUpdate, upgrade', async () => {
    const a = app();
    const v1 = buildPackage(
      bytes(30 * 1024, 3),
      { name: 'acme-agent', version: '1.0.0' },
      release.privateKey,
    );
    const v2 = buildPackage(
      bytes(20 * 1024, 5),
      { name: 'acme-agent', version: '1.1.0' },
      release.privateKey,
    );
    const verifier = packageVerifier({ trustAnchors: [release.publicKey], requireSignature: true });
    await withClientRig({ client: { software: software(a, { verifier }) } }, async (rig) => {
      const { endpoint } = createCoapStack({ channel: rig.network.channel('10.0.0.5', 5683) });
      const files = new Map([
        ['sw/v1.pkg', v1],
        ['sw/v2.pkg', v2],
      ]);
      new BlockwiseLayer(endpoint, { blockSize: 1024 }).onRequest(({ message }) => {
        const body = files.get(uriPath(message).join('/'));
        return body ? { code: CoapCode.CONTENT, payload: body } : { code: CoapCode.NOT_FOUND };
      });
      try {
        assert.equal(await code(rig.server.write(rig.ep, '/9/0/3', 'coap://10.0.0.5/sw/v1.pkg')), '2.04');
        await until(rig, 0, 3, 3);
        assert.equal(await read(rig, '/9/0/0'), 'acme-agent');
        assert.equal(await read(rig, '/9/0/1'), '1.0.0');
        assert.equal(await code(rig.server.execute(rig.ep, '/9/0/4')), '2.04');
        await until(rig, 0, 4, 2);
        assert.deepEqual(a.installed, [bytes(30 * 1024, 3)], 'only the image reaches install');
        assert.equal(await code(rig.server.execute(rig.ep, '/9/0/10')), '2.04');
        await untilValue(rig, '/9/0/12', true);
        // A new package needs ForUpdate first.
        assert.equal(await code(rig.server.write(rig.ep, '/9/0/3', 'coap://10.0.0.5/sw/v2.pkg')), '4.05');
        assert.equal(await code(rig.server.execute(rig.ep, '/9/0/6', '1')), '2.04');
        await until(rig, 0, 0, 0);
        // The software in place stays, and keeps running.
        assert.equal(await read(rig, '/9/0/1'), '1.0.0');
        assert.equal(await read(rig, '/9/0/12'), true);
        assert.equal(await code(rig.server.write(rig.ep, '/9/0/3', 'coap://10.0.0.5/sw/v2.pkg')), '2.04');
        await until(rig, 0, 3, 3);
        assert.equal(await read(rig, '/9/0/1'), '1.1.0');
        assert.equal(await code(rig.server.execute(rig.ep, '/9/0/4')), '2.04');
        await until(rig, 0, 4, 2);
        assert.equal(await read(rig, '/9/0/1'), '1.1.0');
        assert.deepEqual(a.calls, [
          'install 0 acme-agent new',
          'activate 0',
          'uninstall 0 acme-agent for-update',
          'install 0 acme-agent over 1.0.0',
        ]);
        // A URI the repository does not have, and an unknown scheme: 56 Invalid URI.
        assert.equal(await code(rig.server.execute(rig.ep, '/9/0/6', '1')), '2.04');
        await until(rig, 0, 0, 0);
        await rig.server.write(rig.ep, '/9/0/3', 'coap://10.0.0.5/sw/none.pkg');
        await until(rig, 0, 0, 56);
        await rig.server.write(rig.ep, '/9/0/3', 'sftp://10.0.0.5/sw/v2.pkg');
        await until(rig, 0, 0, 56);
        assert.match(String(await read(rig, '/9/0/16')), /^uri\/unsupported-protocol: sftp:/);
      } finally {
        await endpoint.close();
      }
    });
  });

  it('pull over coaps:// with the PSK of the server that wrote the URI', async () => {
    const pkg = bytes(12 * 1024, 9);
    const a = app();
    await withCoapsPullRig(
      { endpoint: 'sw-dtls', identity: 'sw-id', payload: pkg, client: { software: software(a) } },
      async (rig) => {
        const { server, identities } = rig;
        assert.equal(await code(server.write('sw-dtls', '/9/1/3', 'coaps://10.0.0.7/sw.bin')), '2.04');
        await until(rig, 1, 3, 3);
        assert.deepEqual(a.stores.get(1)?.bytes(), pkg);
        assert.deepEqual([...new Set(identities)], ['sw-id']);
      },
    );
  });

  it('pull over http:// with User Name and Password as Basic credentials', async () => {
    const pkg = bytes(16 * 1024, 4);
    const seen: (string | undefined)[] = [];
    const http = createServer((req, res) => {
      seen.push(req.headers.authorization);
      if (req.headers.authorization !== `Basic ${Buffer.from('dev:s3cret').toString('base64')}`) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-length': pkg.length }).end(pkg);
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = http.address() as AddressInfo;
    const a = app();
    try {
      await withClientRig({ client: { software: software(a) } }, async (rig) => {
        const uri = `http://127.0.0.1:${port}/sw.bin`;
        await rig.server.write(rig.ep, '/9/0/3', uri);
        await until(rig, 0, 0, 56);
        assert.equal(await code(rig.server.write(rig.ep, '/9/0/14', 'dev')), '2.04');
        assert.equal(await code(rig.server.write(rig.ep, '/9/0/15', 's3cret')), '2.04');
        await rig.server.write(rig.ep, '/9/0/3', uri);
        await until(rig, 0, 3, 3);
        assert.deepEqual(a.stores.get(0)?.bytes(), pkg);
        assert.deepEqual(seen, [undefined, `Basic ${Buffer.from('dev:s3cret').toString('base64')}`]);
      });
    } finally {
      http.close();
    }
  });

  it('a tampered signed package is refused with 53 and the reason; an unsigned one with 54', async () => {
    const a = app();
    const verifier = packageVerifier({ trustAnchors: [release.publicKey], requireSignature: true });
    await withClientRig({ client: { software: software(a, { verifier }) } }, async (rig) => {
      const tampered = buildPackage(
        bytes(40 * 1024),
        { name: 'acme-agent', version: '2.0.0' },
        release.privateKey,
      );
      tampered[tampered.length - 1]! ^= 0x01;
      const written = await rig.server.write(rig.ep, '/9/0/2', Value.opaque(tampered), { format: 'opaque' });
      assert.equal(written.code, '2.04', 'reported through Update Result, not the code');
      await until(rig, 0, 0, 53);
      assert.match(String(await read(rig, '/9/0/16')), /^verify\/digest: /);
      assert.equal(await read(rig, '/9/0/0'), '');
      assert.equal(a.stores.get(0)?.size, 0, 'the refused package is dropped');
      const client9 = rig.client.software.get(0);
      assert.equal(client9?.lastError?.code, 'digest');

      const unsigned = buildPackage(bytes(1000), { name: 'acme-agent', version: '2.0.0' });
      await rig.server.write(rig.ep, '/9/0/2', Value.opaque(unsigned), { format: 'opaque' });
      await until(rig, 0, 0, 54);
      assert.match(String(await read(rig, '/9/0/16')), /^verify\/unsigned: /);
      assert.equal(await code(rig.server.execute(rig.ep, '/9/0/4')), '4.05');
      assert.deepEqual(a.calls, []);
    });
  });

  it('a failing Activate keeps Activation State and says why; a failing Uninstall gives 59', async () => {
    const a = app();
    await withClientRig(
      {
        client: {
          software: {
            application: a.application,
            packages: [{ instanceId: 4, installed: { name: 'base', version: '7.1', active: false } }],
          },
        },
      },
      async (rig) => {
        await until(rig, 4, 4, 0);
        assert.equal(await read(rig, '/9/4/0'), 'base');
        a.next.action = { ok: false, reason: 'no licence' };
        assert.equal(await code(rig.server.execute(rig.ep, '/9/4/10')), '2.04');
        await untilValue(rig, '/9/4/16', 'activate/activate-failed: no licence');
        assert.equal(await read(rig, '/9/4/12'), false);
        a.next.action = { ok: false, reason: 'in use' };
        assert.equal(await code(rig.server.execute(rig.ep, '/9/4/6')), '2.04');
        await until(rig, 4, 4, 59);
        assert.equal(await read(rig, '/9/4/16'), 'uninstall/uninstall-failed: in use');
        assert.equal(await read(rig, '/9/4/0'), 'base', 'still installed');
      },
    );
  });

  it('an observer of Activation State and Update State is notified of the changes', async () => {
    const a = app();
    await withClientRig(
      {
        client: {
          software: {
            application: a.application,
            packages: [{ instanceId: 3, installed: { name: 'base', version: '2', active: false } }],
          },
        },
      },
      async (rig) => {
        const activation = await rig.server.observe(rig.ep, '/9/3/12');
        const state = await rig.server.observe(rig.ep, '/9/3/7');
        try {
          const activated = once(activation, 'notification') as Promise<[{ result: OperationResult }]>;
          assert.equal(await code(rig.server.execute(rig.ep, '/9/3/10')), '2.04');
          assert.deepEqual((await activated)[0].result.values, { '/9/3/12': true });
          const removed = once(state, 'notification') as Promise<[{ result: OperationResult }]>;
          assert.equal(await code(rig.server.execute(rig.ep, '/9/3/6')), '2.04');
          assert.deepEqual((await removed)[0].result.values, { '/9/3/7': 0 });
          assert.deepEqual(a.calls, ['activate 3', 'uninstall 3 base remove']);
        } finally {
          await activation.cancel();
          await state.cancel();
        }
      },
    );
  });

  it('keeps INSTALLED, the version and the activation across a restart (software.directory)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-sw-'));
    try {
      const a = app();
      const options = (): SoftwareManagementOptions => ({
        application: a.application,
        directory: dir,
        packages: [{ instanceId: 0 }],
        verifier: packageVerifier({ trustAnchors: [release.publicKey] }),
      });
      const pkg = buildPackage(bytes(5000), { name: 'acme-agent', version: '3.0.0' }, release.privateKey);
      await withClientRig({ client: { software: options() } }, async (rig) => {
        await rig.server.write(rig.ep, '/9/0/2', Value.opaque(pkg), { format: 'opaque' });
        await until(rig, 0, 3, 3);
        await rig.server.execute(rig.ep, '/9/0/4');
        await until(rig, 0, 4, 2);
        await rig.server.execute(rig.ep, '/9/0/10');
        await untilValue(rig, '/9/0/12', true);
        assert.equal(await read(rig, '/9/0/8'), false);
        assert.equal(await code(rig.server.write(rig.ep, '/9/0/8', true)), '2.04');
        await rig.client.software.get(0)?.settled();
      });
      await withClientRig({ client: { software: options() } }, async (rig) => {
        assert.equal(await read(rig, '/9/0/7'), 4);
        assert.equal(await read(rig, '/9/0/1'), '3.0.0');
        assert.equal(await read(rig, '/9/0/12'), true);
        assert.equal(await read(rig, '/9/0/8'), true);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
