// An established session's usual datagram (one epoch-1 record filling it) is opened where it lies
// (DtlsChannel #wireRecord, DtlsConnection.receiveWire) instead of being parsed into objects.
// These are the cases where that path must do exactly what the general one does: replays,
// forgeries, inner alerts, datagrams of several records, wrong lengths; with a CID and without.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import v8 from 'node:v8';
import vm from 'node:vm';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { DtlsSessionError } from '../../src/dtls/dtls-session-error.js';
import { ContentType, parseDatagram, RECORD_HEADER_LENGTH } from '../../src/dtls/record.js';
import type { Peer } from '../../src/transport/channel.js';
import { rig, SERVER } from '../support/dtls-memory-pair.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

const MODES = [
  { name: 'with a CID (tls12_cid records)', cidLength: 6, type: ContentType.tls12_cid },
  { name: 'without a CID (application_data records)', cidLength: 0, type: ContentType.application_data },
];

/** A pair with an established session and the client's data records of 'm0'..'m{n-1}'. */
async function session(cidLength: number, n: number) {
  const r = rig({ connectionIdLength: cidLength });
  r.client.send(SERVER, text('hello'));
  await r.settle();
  assert.deepEqual(r.server.stats, { handshakes: 0, sessions: 1 });
  const peer: Peer = r.serverGot[0]!.peer;
  const first = r.clientSent.length;
  for (let i = 0; i < n; i++) r.client.send(SERVER, text(`m${i}`));
  const data = r.clientSent.slice(first);
  assert.equal(data.length, n);
  await r.settle();
  r.serverGot.length = 0;
  // Raw datagrams from the client's socket, past its DTLS layer.
  const inject = async (...datagrams: Uint8Array[]): Promise<string[]> => {
    const before = r.serverGot.length;
    for (const d of datagrams) r.socket.send(SERVER, d);
    await r.settle();
    return r.serverGot.slice(before).map((g) => g.text);
  };
  /** The client's record of `message`, made but not sent. */
  const record = (message: string): Uint8Array => {
    r.socket.held = [];
    r.client.send(SERVER, text(message));
    const [datagram] = r.socket.held;
    r.socket.held = undefined;
    return datagram!;
  };
  return { ...r, peer, data, inject, record };
}

for (const mode of MODES) {
  describe(`DTLS records of an established session, ${mode.name}`, () => {
    it('are one record per datagram of the expected type', async () => {
      const s = await session(mode.cidLength, 3);
      for (const d of s.data) {
        const { records } = parseDatagram(d, { cidLength: mode.cidLength });
        assert.equal(records.length, 1);
        assert.equal(records[0]!.type, mode.type);
        assert.equal(records[0]!.epoch, 1);
      }
    });

    it('delivers a record once: a replay, in order or out of it, is dropped (RFC 6347 §4.1.2.6)', async () => {
      const s = await session(mode.cidLength, 4);
      // Already delivered once by the session setup: every copy is a replay.
      assert.deepEqual(await s.inject(...s.data), []);
      assert.deepEqual(await s.inject(s.data[2]!, s.data[0]!), []);
      s.client.send(SERVER, text('new'));
      await s.settle();
      assert.deepEqual(
        s.serverGot.map((g) => g.text),
        ['new'],
      );
      assert.deepEqual(s.errors, []);
    });

    it('drops a record altered anywhere (header, nonce, ciphertext, tag) and keeps the session', async () => {
      const s = await session(mode.cidLength, 1);
      const fresh = s.record('fresh');
      for (let at = 0; at < fresh.length; at++) {
        const forged = fresh.slice();
        forged[at]! ^= 0x01;
        assert.deepEqual(await s.inject(forged), [], `byte ${at} flipped`);
      }
      // The genuine record was never taken: its sequence number is still fresh.
      assert.deepEqual(await s.inject(fresh), ['fresh']);
      assert.deepEqual(s.server.stats, { handshakes: 0, sessions: 1 });
      assert.deepEqual(s.errors, []);
    });

    it('drops a truncated record and one whose length field disagrees with the datagram', async () => {
      const s = await session(mode.cidLength, 0);
      const record = s.record('whole');
      assert.deepEqual(await s.inject(record.subarray(0, record.length - 1)), []);
      const short = record.slice();
      const lengthAt = RECORD_HEADER_LENGTH + mode.cidLength - 2;
      short[lengthAt + 1]! -= 1; // claims one byte less than it carries
      assert.deepEqual(await s.inject(short), []);
      assert.deepEqual(await s.inject(record), ['whole']);
    });

    it('delivers every record of a datagram that holds several, in order', async () => {
      const s = await session(mode.cidLength, 0);
      const a = s.record('a');
      const b = s.record('b');
      assert.deepEqual(await s.inject(Buffer.concat([a, b])), ['a', 'b']);
    });

    it('ends the session on the close_notify alert in an epoch-1 record', async () => {
      const s = await session(mode.cidLength, 0);
      const closed: string[] = [];
      s.server.onSessionClosed(({ reason }) => closed.push(reason));
      await s.client.close();
      await s.settle();
      assert.deepEqual(closed, ['peer-closed']);
      assert.deepEqual(s.server.stats, { handshakes: 0, sessions: 0 });
      // With a CID the alert is a tls12_cid record like the data; without, an alert record.
      const alert = s.clientSent.at(-1)!;
      assert.equal(alert[0], mode.cidLength > 0 ? ContentType.tls12_cid : ContentType.alert);
    });

    it('takes random datagrams shaped like its records without delivering, failing or losing the session', async () => {
      const s = await session(mode.cidLength, 0);
      const genuine = s.record('genuine');
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 80 }),
          fc.integer({ min: 0, max: genuine.length - 1 }), // never the whole record
          fc.boolean(),
          async (tail, keep, lengthFits) => {
            // The first `keep` bytes of a real record (its header, CID, nonce...), then noise;
            // half the time the length field is made to fit the datagram, to reach the tag check.
            const d = Buffer.concat([genuine.subarray(0, keep), tail]);
            const lengthAt = RECORD_HEADER_LENGTH + mode.cidLength - 2;
            if (lengthFits && d.length >= lengthAt + 2) d.writeUInt16BE(d.length - lengthAt - 2, lengthAt);
            assert.deepEqual(await s.inject(d), []);
          },
        ),
        { numRuns: 150 },
      );
      assert.deepEqual(s.errors, []);
      assert.deepEqual(await s.inject(genuine), ['genuine']);
    });

    it('answers the Peer the application was given and an equal copy of it; neither once the session ended', async () => {
      const s = await session(mode.cidLength, 0);
      s.server.send(s.peer, text('one'));
      s.server.send({ ...s.peer }, text('two'));
      await s.settle();
      assert.deepEqual(
        s.clientGot.map((g) => g.text),
        ['one', 'two'],
      );
      await s.client.close();
      await s.settle();
      s.server.send(s.peer, text('three'));
      await s.settle();
      assert.equal(s.clientGot.length, 2);
      assert.deepEqual(
        s.errors.map((e) => (e instanceof DtlsSessionError ? e.failure : e.message)),
        ['no-session'],
      );
    });
  });
}

describe('DTLS sessions the application still names', () => {
  it('a closed session is not kept alive by the Peer the application holds (a registration may, for hours)', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const key = new Uint8Array(16).fill(7);
    const net = new MemoryNetwork();
    const server = DtlsChannel.server({
      channel: net.channel('10.0.0.1', 5684),
      psk: () => key,
      sessionCache: false,
    });
    const held: Peer[] = [];
    server.onReceive((peer, bytes) => {
      held.push(peer);
      server.send(peer, bytes); // the send path looks the session up by this Peer
    });
    const run = async (count: number): Promise<number> => {
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < count; i++) {
        const c = DtlsChannel.client({
          channel: net.channel(`10.0.${held.length >> 8}.${held.length & 255}`, 2000),
          psk: { identity: 'dev', key },
          sessionCache: false,
        });
        await new Promise<void>((resolve) => {
          c.onReceive(() => resolve());
          c.send({ address: '10.0.0.1', port: 5684 }, new Uint8Array(20));
        });
        await c.close();
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      gc();
      gc();
      return (process.memoryUsage().heapUsed - before) / count;
    };
    await run(50); // warm-up: code, maps, pools
    const perSession = await run(400);
    assert.deepEqual(server.stats, { handshakes: 0, sessions: 0 });
    assert.equal(held.length, 450);
    // What the application holds (its Peers, with identity and CID) and fixed costs come to about
    // 2 KiB per session here; a session kept alive through its Peer (connection, keys, flight,
    // transcript) added over 12 KiB.
    assert.ok(perSession < 6144, `${Math.round(perSession)} bytes retained per closed session`);
    await server.close();
  });
});
