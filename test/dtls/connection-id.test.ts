// DTLS Connection ID (RFC 9146) between our client and server over the in-memory network: the
// negotiation, records that carry the CID, and a session (and a CoAP exchange) that follows its
// client to a new address without a handshake, but not for replayed or forged records.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { ExtensionType } from '../../src/dtls/extensions.js';
import { HandshakeType, parseHandshakeFragments } from '../../src/dtls/handshake.js';
import { decodeServerHello } from '../../src/dtls/hello-messages.js';
import { ContentType, encodeRecord, parseDatagram } from '../../src/dtls/record.js';
import { seededRandom } from '../../src/random.js';
import { peerKey, type Peer } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { KEY, rig, SERVER, str } from '../support/dtls-memory-pair.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The records of every datagram, parsed with the CID length the server hands out. */
function records(datagrams: Uint8Array[], cidLength = 6) {
  return datagrams.flatMap((d) => parseDatagram(d, { cidLength }).records);
}

function serverHelloExtensions(datagrams: Uint8Array[]): number[] {
  for (const r of records(datagrams)) {
    if (r.epoch !== 0 || r.type !== ContentType.handshake) continue;
    for (const f of parseHandshakeFragments(r.fragment))
      if (f.msgType === HandshakeType.server_hello)
        return decodeServerHello(f.body).extensions.map((e) => e.type);
  }
  return [];
}

describe('DTLS Connection ID (RFC 9146)', () => {
  it('negotiates a server CID: the client puts it on its records, the application sees it on the peer', async () => {
    const r = rig();
    r.client.send(SERVER, text('hello'));
    await r.settle();
    assert.deepEqual(r.errors, []);
    assert.ok(serverHelloExtensions(r.serverSent).includes(ExtensionType.connection_id));
    const from = r.serverGot[0]!.peer;
    assert.equal(r.serverGot[0]!.text, 'hello');
    assert.equal(from.connectionId?.length, 6);
    assert.equal(peerKey(from), `cid:${Buffer.from(from.connectionId).toString('hex')}`);
    // Every epoch-1 record of the client is tls12_cid with that CID; the client asked for none.
    const clientEpoch1 = records(r.clientSent).filter((x) => x.epoch === 1);
    assert.ok(clientEpoch1.length >= 2); // Finished and the data
    for (const x of clientEpoch1) {
      assert.equal(x.type, ContentType.tls12_cid);
      assert.equal(Buffer.from(x.cid!).toString('hex'), Buffer.from(from.connectionId).toString('hex'));
    }
    r.server.send(from, text('back'));
    await r.settle();
    assert.deepEqual(
      r.clientGot.map((g) => g.text),
      ['back'],
    );
    const serverEpoch1 = records(r.serverSent).filter((x) => x.epoch === 1);
    assert.ok(serverEpoch1.every((x) => x.type !== ContentType.tls12_cid));
  });

  it('follows the client to its new address without a handshake', async () => {
    const r = rig();
    r.client.send(SERVER, text('one'));
    await r.settle();
    const before = r.serverGot[0]!.peer;
    const datagramsBefore = r.clientSent.length;
    r.rebind('10.0.0.3', 41000);
    r.client.send(SERVER, text('two'));
    await r.settle();
    assert.equal(r.serverGot.length, 2);
    const after = r.serverGot[1]!.peer;
    assert.equal(after.address, '10.0.0.3');
    assert.equal(after.port, 41000);
    assert.equal(peerKey(after), peerKey(before));
    assert.deepEqual(after.identity, { psk: 'dev-1' });
    // One datagram: the data, no ClientHello.
    assert.equal(r.clientSent.length, datagramsBefore + 1);
    assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 1 });
    // The server answers the Peer it had (the old address): the record goes to the new one.
    r.server.send(before, text('to you'));
    await r.settle();
    assert.deepEqual(
      r.clientGot.map((g) => g.text),
      ['to you'],
    );
    assert.equal(r.server.session(before)?.address, '10.0.0.3');
    assert.deepEqual(r.errors, []);
  });

  it('does not move the session for a replayed record from another address', async () => {
    const r = rig();
    r.client.send(SERVER, text('one'));
    await r.settle();
    const old = r.clientSent.at(-1)!; // the authenticated data record of 'one'
    r.client.send(SERVER, text('two'));
    await r.settle();
    // An attacker replays the older record from its own address.
    const attacker = r.net.channel('10.6.6.6', 6666);
    attacker.send(SERVER, old);
    // And forges a record with the right CID.
    const cidRecord = parseDatagram(old, { cidLength: 6 }).records[0]!;
    attacker.send(
      SERVER,
      encodeRecord({
        ...cidRecord,
        sequenceNumber: cidRecord.sequenceNumber + 100,
        fragment: new Uint8Array(40),
      }),
    );
    await r.settle();
    assert.deepEqual(
      r.serverGot.map((g) => g.text),
      ['one', 'two'],
    );
    const peer = r.serverGot[0]!.peer;
    r.server.send(peer, text('still here'));
    await r.settle();
    assert.deepEqual(
      r.clientGot.map((g) => g.text),
      ['still here'],
    );
    assert.equal(r.server.session(peer)?.address, '10.0.0.2');
  });

  it('uses no CID when the server does not hand them out, or the client does not offer the extension', async () => {
    for (const [server, client] of [
      [{ connectionIdLength: 0 }, {}],
      [{}, { connectionId: false }],
    ] as const) {
      const r = rig(server, client);
      r.client.send(SERVER, text('plain'));
      await r.settle();
      assert.equal(r.serverGot[0]?.text, 'plain');
      assert.equal(r.serverGot[0].peer.connectionId, undefined);
      assert.ok(!serverHelloExtensions(r.serverSent).includes(ExtensionType.connection_id));
      assert.ok(records(r.clientSent).every((x) => x.type !== ContentType.tls12_cid));
      // Without a CID, a new address is a new peer with no session: the data is dropped.
      r.rebind('10.0.0.3', 41000);
      r.client.send(SERVER, text('lost'));
      await r.settle();
      assert.deepEqual(
        r.serverGot.map((g) => g.text),
        ['plain'],
      );
    }
  });

  it('refuses a bad CID length', () => {
    const net = new MemoryNetwork();
    assert.throws(
      () =>
        DtlsChannel.server({ channel: net.channel('10.0.0.9', 1), psk: () => KEY, connectionIdLength: 33 }),
      /connectionIdLength/,
    );
  });

  it('keeps a CoAP exchange going across the address change', async () => {
    const r = rig();
    const serverEp = new CoapEndpoint({ channel: r.server, random: seededRandom(21) });
    const clientEp = new CoapEndpoint({ channel: r.client, random: seededRandom(22) });
    let device: Peer | undefined;
    serverEp.onRequest(({ peer }) => {
      device = peer;
      return { code: CoapCode.CHANGED };
    });
    clientEp.onRequest(() => ({ code: CoapCode.CONTENT, payload: text('reading') }));
    const first = clientEp.request(SERVER, { code: CoapCode.POST });
    await r.settle();
    assert.equal((await first).code, CoapCode.CHANGED);
    r.rebind('10.0.0.4', 42000);
    // The device says something from its new address, then the server asks it (to the Peer it had).
    const second = clientEp.request(SERVER, { code: CoapCode.POST });
    await r.settle();
    assert.equal((await second).code, CoapCode.CHANGED);
    const read = serverEp.request(device!, { code: CoapCode.GET });
    await r.settle();
    const res = await read;
    assert.equal(res.code, CoapCode.CONTENT);
    assert.equal(str(res.payload), 'reading');
    await serverEp.close();
    await clientEp.close();
  });
});
