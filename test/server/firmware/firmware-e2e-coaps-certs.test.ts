// The download service's coaps:// side with certificates, over real UDP on 127.0.0.1: with the
// server's key pair it takes devices by raw public key (one the credential store knows) and by
// X.509 chain (to a trust anchor), as the LwM2M server's coaps:// side does. The handshake only
// says who the device is: a GET still needs its download token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoapEndpoint } from '../../../src/coap/endpoint.js';
import { CoapCode } from '../../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, block2 } from '../../../src/coap/options.js';
import { AlertDescription } from '../../../src/dtls/alert.js';
import { DtlsChannel } from '../../../src/dtls/dtls-channel.js';
import type { EcdsaCredentials, PeerVerifier } from '../../../src/dtls/dtls-credentials.js';
import { DtlsSessionError } from '../../../src/dtls/dtls-session-error.js';
import { rawPublicKeyVerifier, x509Verifier } from '../../../src/dtls/peer-verification.js';
import { FirmwareDownloadService } from '../../../src/server/firmware/firmware-download-service.js';
import { MemoryFirmwareRepository } from '../../../src/server/firmware/firmware-repository.js';
import { MemoryCredentialStore } from '../../../src/store/memory-credential-store.js';
import { UdpChannel } from '../../../src/transport/udp-channel.js';
import { certDer, chainOf, privateKey, spkiDer } from '../../support/dtls-fixtures.js';
import { DTLS_TIMING, LOOPBACK, imageOf } from '../../support/firmware-e2e.js';

const IMAGE = imageOf(3000, 17);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('FirmwareDownloadService coaps:// with raw public keys and X.509', { timeout: 30_000 }, () => {
  const repository = new MemoryFirmwareRepository();
  const credentials = new MemoryCredentialStore();
  const services: FirmwareDownloadService[] = [];
  let id: string;

  const start = async (form: 'rpk' | 'x509'): Promise<FirmwareDownloadService> => {
    const service = new FirmwareDownloadService({
      repository,
      udp: false,
      coaps: {
        address: LOOPBACK,
        port: 0,
        credentials,
        certificate:
          form === 'rpk'
            ? { privateKey: privateKey('server-rpk') }
            : { privateKey: privateKey('server'), certificateChain: chainOf('server') },
        trustAnchors: [certDer('root-ca')],
        dtls: { timing: DTLS_TIMING },
      },
    });
    await service.start();
    services.push(service);
    return service;
  };

  /** GETs every block of the image over a DTLS session of `own`; resolves with the bytes or the code. */
  const fetchImage = async (
    service: FirmwareDownloadService,
    own: EcdsaCredentials,
    verifyPeer: PeerVerifier,
    token: string | undefined,
  ): Promise<Uint8Array | number> => {
    const channel = DtlsChannel.client({
      channel: await UdpChannel.open({ address: LOOPBACK, port: 0 }),
      certificate: own,
      verifyPeer,
      timing: { ...DTLS_TIMING, handshakeTimeout: 2000 },
    });
    // A failed handshake ends the fetch at once (not at the request's timeout).
    const failed = new Promise<never>((_, reject) => channel.onError(reject));
    failed.catch(() => undefined);
    const endpoint = new CoapEndpoint({ channel });
    const peer = { address: LOOPBACK, port: service.coapsAddress!.port };
    try {
      const parts: Uint8Array[] = [];
      for (let num = 0; ; num++) {
        const options = new OptionsBuilder().uriPath(['fw', id]);
        if (token !== undefined) options.uriQuery([`t=${token}`]);
        options.block(OptionNumber.BLOCK2, { num, more: false, szx: 6 });
        const r = await Promise.race([
          endpoint.request(peer, { code: CoapCode.GET, options: options.build() }, { timeout: 4000 }),
          failed,
        ]);
        if (r.code !== CoapCode.CONTENT) return r.code;
        parts.push(r.payload);
        if (!block2(r)?.more) return new Uint8Array(Buffer.concat(parts));
      }
    } finally {
      await endpoint.close();
      await channel.close();
    }
  };

  before(async () => {
    id = (await repository.add(IMAGE)).id;
    await credentials.put({ endpoint: 'rpk-dev', rpk: { publicKey: hex(spkiDer('client-rpk')) } });
    await credentials.put({ endpoint: 'x509-dev', x509: true });
  });
  after(async () => {
    for (const s of services) await s.stop();
  });

  it('a known raw public key downloads with its token; without one it gets 4.01', async () => {
    const service = await start('rpk');
    assert.deepEqual(service.schemes(), ['coaps']);
    const token = service.issue(id, 'rpk-dev').token;
    assert.match(service.uri('coaps', id, token)!, /^coaps:\/\/127\.0\.0\.1:\d+\/fw\/[0-9a-f]{64}\?t=/);
    const own = { privateKey: privateKey('client-rpk') };
    const trust = rawPublicKeyVerifier(spkiDer('server-rpk'));
    assert.deepEqual(await fetchImage(service, own, trust, token), IMAGE);
    assert.equal(await fetchImage(service, own, trust, undefined), CoapCode.UNAUTHORIZED);
  });

  it('an unknown raw public key fails the handshake (access_denied)', async () => {
    const service = await start('rpk');
    const token = service.issue(id, 'rpk-dev').token;
    const error = await fetchImage(
      service,
      { privateKey: privateKey('other-server') },
      rawPublicKeyVerifier(spkiDer('server-rpk')),
      token,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof DtlsSessionError, String(error));
    assert.equal(error.alert, AlertDescription.access_denied);
  });

  it('a device certificate that leads to a trust anchor downloads with its token', async () => {
    const service = await start('x509');
    const token = service.issue(id, 'x509-dev').token;
    const own = { privateKey: privateKey('client'), certificateChain: chainOf('client') };
    const trust = x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2 });
    assert.deepEqual(await fetchImage(service, own, trust, token), IMAGE);
  });
});
