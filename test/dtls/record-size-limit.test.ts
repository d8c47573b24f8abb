// record_size_limit (RFC 8449) and max_fragment_length (RFC 6066 §4): a constrained client says
// how large a record it takes, and our server keeps its handshake fragments and data within it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { DtlsChannel, type DtlsClientOptions } from '../../src/dtls/dtls-channel.js';
import { ExtensionType } from '../../src/dtls/extensions.js';
import { HandshakeType, parseHandshakeFragments } from '../../src/dtls/handshake.js';
import { decodeServerHello } from '../../src/dtls/hello-messages.js';
import { x509ChainValidator, x509Verifier } from '../../src/dtls/peer-verification.js';
import { ContentType, parseDatagram } from '../../src/dtls/record.js';
import { seededRandom } from '../../src/random.js';
import type { ChannelError, Peer } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { recordingChannel } from '../support/recording-channel.js';
import { certDer, chainOf, privateKey } from '../support/dtls-fixtures.js';

const SERVER: Peer = { address: '10.0.0.1', port: 5684 };
const KEY = new Uint8Array(16).fill(9);

async function connect(client: Partial<DtlsClientOptions>) {
  const clock = new FakeClock();
  const net = new MemoryNetwork({ schedule: () => {} });
  const serverSent: Uint8Array[] = [];
  const server = DtlsChannel.server({
    channel: recordingChannel(net.channel(SERVER.address, SERVER.port), serverSent),
    clock,
    random: seededRandom(3),
    psk: () => KEY,
    // An X.509 chain makes flight 4 large: it must be cut to the client's limit.
    certificate: { privateKey: privateKey('server'), certificateChain: chainOf('server') },
    verifyPeer: x509ChainValidator({ trustAnchors: [certDer('root-ca')] }),
  });
  const c = DtlsChannel.client({
    channel: net.channel('10.0.0.2', 4000),
    clock,
    random: seededRandom(4),
    certificate: { privateKey: privateKey('client'), certificateChain: chainOf('client') },
    verifyPeer: x509Verifier({ trust: certDer('root-ca'), certificateUsage: 2 }),
    ...client,
  });
  const got: number[] = [];
  const errors: ChannelError[] = [];
  c.onReceive((_, bytes) => got.push(bytes.length));
  server.onError((e) => errors.push(e));
  let device: Peer | undefined;
  server.onReceive((peer) => (device = peer));
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 100 && (net.pending > 0 || i < 3); i++) {
      net.flush();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  c.send(SERVER, new Uint8Array([1]));
  await settle();
  assert.ok(device, 'the handshake completed');
  return { server, device, serverSent, got, errors, settle };
}

function serverHelloExtensions(datagrams: Uint8Array[]) {
  for (const d of datagrams)
    for (const r of parseDatagram(d).records)
      if (r.epoch === 0 && r.type === ContentType.handshake)
        for (const f of parseHandshakeFragments(r.fragment))
          if (f.msgType === HandshakeType.server_hello && f.fragmentOffset === 0)
            return decodeServerHello(f.body).extensions;
  return [];
}

describe('record size limits', () => {
  it('record_size_limit: flight 4 comes in records of at most 256 bytes, and larger data is refused', async () => {
    const r = await connect({ recordSizeLimit: 256 });
    assert.ok(serverHelloExtensions(r.serverSent).some((e) => e.type === ExtensionType.record_size_limit));
    const handshakeRecords = r.serverSent.flatMap((d) =>
      parseDatagram(d).records.filter((x) => x.epoch === 0 && x.type === ContentType.handshake),
    );
    assert.ok(handshakeRecords.length > 4, 'the certificate chain was cut into several records');
    for (const x of handshakeRecords) assert.ok(x.fragment.length <= 256, `${x.fragment.length} bytes`);
    r.server.send(r.device, new Uint8Array(256));
    r.server.send(r.device, new Uint8Array(257));
    await r.settle();
    assert.deepEqual(r.got, [256]);
    assert.match(r.errors[0]?.message ?? '', /257 bytes exceed the peer's record size limit \(256\)/);
  });

  it('max_fragment_length: the server echoes the code and keeps to 2^9 bytes', async () => {
    const r = await connect({ maxFragmentLength: 1 });
    const echoed = serverHelloExtensions(r.serverSent).find(
      (e) => e.type === ExtensionType.max_fragment_length,
    );
    assert.deepEqual([...(echoed?.data ?? [])], [1]);
    r.server.send(r.device, new Uint8Array(512));
    r.server.send(r.device, new Uint8Array(513));
    await r.settle();
    assert.deepEqual(r.got, [512]);
    assert.match(r.errors[0]?.message ?? '', /exceed the peer's record size limit \(512\)/);
  });

  it('without either, records go up to 2^14', async () => {
    const r = await connect({});
    assert.ok(!serverHelloExtensions(r.serverSent).some((e) => e.type === ExtensionType.record_size_limit));
    r.server.send(r.device, new Uint8Array(4000));
    await r.settle();
    assert.deepEqual(r.got, [4000]);
  });

  it('refuses a bad limit in the options', () => {
    const net = new MemoryNetwork();
    assert.throws(
      () =>
        DtlsChannel.client({
          channel: net.channel('10.0.0.3', 1),
          psk: { identity: 'a', key: KEY },
          recordSizeLimit: 63,
        }),
      /recordSizeLimit must be an integer 64\.\.16384/,
    );
  });
});
