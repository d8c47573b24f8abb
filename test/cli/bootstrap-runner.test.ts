// The Bootstrap-Server's coaps:// side as the CLI builds it (openBootstrapRunner): a raw public
// key the credential store does not hold fails the DTLS handshake (access_denied), so no
// Bootstrap-Request reaches the server; a stored key bootstraps as before.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Log, openBootstrapRunner } from '../../src/cli/bootstrap-runner.js';
import { LogRateLimiter } from '../../src/cli/log-rate-limiter.js';
import { createSimulatorModel } from '../../src/cli/simulated-device.js';
import { formatCode } from '../../src/coap/message.js';
import { AlertDescription } from '../../src/dtls/alert.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { DtlsSessionError } from '../../src/dtls/dtls-session-error.js';
import { rawPublicKeyVerifier } from '../../src/dtls/peer-verification.js';
import type { BootstrapConfig } from '../../src/store/bootstrap-config-store.js';
import { openStores } from '../../src/store/open-stores.js';
import type { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';
import { BootstrapPeer } from '../bootstrap/bootstrap-peer.js';
import { waitFor } from '../support/cli-run.js';
import { privateKey, spkiDer } from '../support/dtls-fixtures.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const nosecConfig = {
  servers: [
    { shortServerId: 101, uri: 'coap://192.0.2.10:5683', lifetime: 300, security: { mode: 'nosec' } },
  ],
} as unknown as BootstrapConfig;

describe('openBootstrapRunner coaps:// with raw public keys', () => {
  it('fails the handshake of an unknown raw public key; a stored one bootstraps', async () => {
    const stores = await openStores('memory');
    await stores.credentials.put({ endpoint: 'bs-rpk', rpk: { publicKey: hex(spkiDer('client-rpk')) } });
    await stores.bootstrapConfigs.put('bs-rpk', nosecConfig);
    const lines: string[] = [];
    const log: Log = (event, text) => lines.push(`${event} ${text}`);
    const runner = await openBootstrapRunner({
      address: '127.0.0.1',
      port: undefined,
      coapsPort: 0,
      coapsCidLength: undefined,
      pskHint: undefined,
      identity: { certificate: { privateKey: privateKey('server-rpk') }, trustAnchors: [], view: {} },
      stores,
      model: createSimulatorModel(),
      log,
      warn: (line) => lines.push(`warn ${line}`),
      handshakeErrors: new LogRateLimiter((line) => lines.push(line)),
    });
    assert.ok(runner);
    const keepAlive = setInterval(() => undefined, 1000);
    const peers: BootstrapPeer[] = [];
    const sessions: string[] = [];
    runner.server.on('session-finished', (s) => sessions.push(s.endpoint));
    try {
      await runner.start();
      runner.logListening();
      const port = Number(/coaps:\/\/127\.0\.0\.1:(\d+)/.exec(lines.join('\n'))?.[1]);
      assert.ok(port > 0, lines.join('\n'));
      const deviceWith = async (key: Parameters<typeof privateKey>[0], onError?: (e: Error) => void) => {
        const channel = DtlsChannel.client({
          channel: await UdpChannel.open({ address: '127.0.0.1', port: 0 }),
          certificate: { privateKey: privateKey(key) },
          verifyPeer: rawPublicKeyVerifier(spkiDer('server-rpk')),
        });
        if (onError) channel.onError(onError);
        const peer = new BootstrapPeer(
          undefined as unknown as MemoryNetwork,
          {
            endpoint: 'bs-rpk',
            lwm2mVersion: '1.2',
            requestQuery: ['ep=bs-rpk'],
            pack: undefined,
            otherLinks: [],
          },
          { channel, server: { address: '127.0.0.1', port } },
        );
        peers.push(peer);
        return peer;
      };

      let failed: (e: Error) => void = () => undefined;
      const failure = new Promise<Error>((resolve) => (failed = resolve));
      const stranger = await deviceWith('server', (e) => failed(e));
      void stranger.bootstrapRequest().catch(() => undefined);
      const error = await failure;
      assert.ok(error instanceof DtlsSessionError && error.failure === 'alert-received', error.message);
      assert.equal(error.alert, AlertDescription.access_denied);
      assert.ok(
        lines.some((l) => /raw public key is not in the credential store/.test(l)),
        lines.join('\n'),
      );
      assert.deepEqual(sessions, [], 'no Bootstrap-Request reached the server');

      const owner = await deviceWith('client-rpk');
      assert.equal(formatCode((await owner.bootstrapRequest()).code), '2.04');
      await owner.whenFinished();
      await waitFor(() => sessions.length > 0, 'the session to finish');
      assert.deepEqual(sessions, ['bs-rpk']);
    } finally {
      for (const peer of peers) await peer.close();
      await runner.stop();
      await stores.close();
      clearInterval(keepAlive);
    }
  });
});
