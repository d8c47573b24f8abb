// The download service over real sockets (UDP and TCP on 127.0.0.1): Block2 at the size a client
// asks, ETag and Size2, and the per-device token.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { CoapMessaging } from '../../../src/coap/coap-messaging.js';
import { CoapEndpoint } from '../../../src/coap/endpoint.js';
import { CoapCode } from '../../../src/coap/message.js';
import type { CoapMessage } from '../../../src/coap/message.js';
import { CoapReliableEndpoint } from '../../../src/coap/reliable-endpoint.js';
import { OptionNumber, OptionsBuilder, block2, getOption, getUint } from '../../../src/coap/options.js';
import { FirmwareDownloadService } from '../../../src/server/firmware/firmware-download-service.js';
import type { DownloadProgress } from '../../../src/server/firmware/firmware-download-service.js';
import { MemoryFirmwareRepository } from '../../../src/server/firmware/firmware-repository.js';
import type { Peer } from '../../../src/transport/channel.js';
import { TcpChannel } from '../../../src/transport/tcp-channel.js';
import { UdpChannel } from '../../../src/transport/udp-channel.js';

const img = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff);

function get(
  messaging: CoapMessaging,
  peer: Peer,
  uri: string,
  block?: { num: number; szx: number },
): Promise<CoapMessage> {
  const u = new URL(uri);
  const options = new OptionsBuilder().uriPath(u.pathname.split('/').slice(1));
  if (u.search) options.uriQuery([decodeURIComponent(u.search.slice(1))]);
  if (block) options.block(OptionNumber.BLOCK2, { ...block, more: false });
  return messaging.request(peer, { code: CoapCode.GET, options: options.build() });
}

/** Fetches the whole image block by block at `size`. */
async function fetchAll(
  messaging: CoapMessaging,
  peer: Peer,
  uri: string,
  size: number,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let num = 0; ; num++) {
    const r = await get(messaging, peer, uri, { num, szx: Math.log2(size) - 4 });
    assert.equal(r.code, CoapCode.CONTENT);
    parts.push(r.payload);
    if (!block2(r)!.more) break;
  }
  return new Uint8Array(Buffer.concat(parts));
}

describe('FirmwareDownloadService', () => {
  const repository = new MemoryFirmwareRepository();
  const service = new FirmwareDownloadService({
    repository,
    udp: { address: '127.0.0.1', port: 0 },
    tcp: { address: '127.0.0.1', port: 0 },
  });
  let id: string;
  let channel: UdpChannel;
  let client: CoapEndpoint;
  let peer: Peer;
  const progress: DownloadProgress[] = [];

  before(async () => {
    id = (await repository.add(img)).id;
    await service.start();
    service.on('progress', (p) => progress.push(p));
    channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
    client = new CoapEndpoint({ channel });
    peer = { address: '127.0.0.1', port: service.udpAddress!.port };
  });
  after(async () => {
    await client.close();
    await channel.close();
    await service.stop();
  });

  it('serves Block2 at the size asked, with ETag and Size2; the bytes match', async () => {
    const grant = service.issue(id, 'dev-1');
    const uri = service.uri('coap', id, grant.token)!;
    assert.equal(uri, `coap://127.0.0.1:${peer.port}/fw/${id}?t=${grant.token}`);
    const first = await get(client, peer, uri, { num: 0, szx: 2 });
    assert.equal(first.payload.length, 64);
    assert.deepEqual(block2(first), { num: 0, more: true, szx: 2 });
    assert.equal(getUint(first, OptionNumber.SIZE2), 5000);
    assert.deepEqual(
      getOption(first, OptionNumber.ETAG),
      Uint8Array.from(Buffer.from(id.slice(0, 16), 'hex')),
    );
    assert.equal(getUint(first, OptionNumber.CONTENT_FORMAT), 42);
    for (const size of [16, 256, 1024])
      assert.deepEqual(await fetchAll(client, peer, uri, size), img, `blocks of ${size}`);
    // Without Block2: the first 1024-byte block, and Block2 says more follow.
    const plain = await get(client, peer, uri);
    assert.deepEqual(block2(plain), { num: 0, more: true, szx: 6 });
    assert.equal(progress.at(-1)?.grant.endpoint, 'dev-1');
    assert.ok(progress.some((p) => p.complete && p.offset === 5000));
    assert.equal(createHash('sha256').update(img).digest('hex'), id);
  });

  it('refuses a request without a valid token for that image with 4.01', async () => {
    const otherId = (await repository.add(Uint8Array.of(1, 2, 3))).id;
    const other = service.issue(otherId, 'dev-2');
    const refused: string[] = [];
    service.on('refused', (_id, why) => refused.push(why));
    const base = `coap://127.0.0.1:${peer.port}/fw/${id}`;
    assert.equal((await get(client, peer, base)).code, CoapCode.UNAUTHORIZED);
    assert.equal((await get(client, peer, `${base}?t=AAAAAAAAAAAAAAAAAAAAAA`)).code, CoapCode.UNAUTHORIZED);
    assert.equal(
      (await get(client, peer, `${base}?t=${other.token}`)).code,
      CoapCode.UNAUTHORIZED,
      "another image's token",
    );
    assert.deepEqual(refused, ['no token', 'invalid token', 'invalid token']);
    const small = await get(client, peer, service.uri('coap', otherId, other.token)!);
    assert.deepEqual(small.payload, Uint8Array.of(1, 2, 3));
    assert.equal(block2(small), undefined, 'a body in one message needs no Block2');
    service.grants.revoke(other.token);
    assert.equal(
      (await get(client, peer, service.uri('coap', otherId, other.token)!)).code,
      CoapCode.UNAUTHORIZED,
    );
  });

  it('answers 4.04 for other paths, 4.05 for other methods, 4.02 past the end', async () => {
    const grant = service.issue(id, 'dev-3');
    assert.equal(
      (await get(client, peer, `coap://127.0.0.1/other?t=${grant.token}`)).code,
      CoapCode.NOT_FOUND,
    );
    const post = await client.request(peer, {
      code: CoapCode.POST,
      options: new OptionsBuilder()
        .uriPath(['fw', id])
        .uriQuery([`t=${grant.token}`])
        .build(),
    });
    assert.equal(post.code, CoapCode.METHOD_NOT_ALLOWED);
    const past = await get(client, peer, service.uri('coap', id, grant.token)!, { num: 5, szx: 6 });
    assert.equal(past.code, CoapCode.BAD_OPTION);
  });

  it('serves coap+tcp too', async () => {
    const grant = service.issue(id, 'dev-4');
    const uri = service.uri('coap+tcp', id, grant.token)!;
    assert.match(uri, /^coap\+tcp:\/\/127\.0\.0\.1:\d+\/fw\//);
    assert.deepEqual(service.schemes(), ['coap', 'coap+tcp']);
    const tcp = TcpChannel.dialer();
    const reliable = new CoapReliableEndpoint({ channel: tcp });
    try {
      const tcpPeer = { address: '127.0.0.1', port: service.tcpAddress!.port };
      assert.deepEqual(await fetchAll(reliable, tcpPeer, uri, 1024), img);
    } finally {
      await reliable.close();
      await tcp.close();
    }
  });
});
