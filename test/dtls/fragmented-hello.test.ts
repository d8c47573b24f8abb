// A ClientHello split over several records (RFC 6347 §4.2.3): the server reassembles it, in any
// order, before the cookie round, with the state that costs bounded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import {
  HandshakeType,
  encodeHandshakeFragment,
  fragmentHandshakeMessage,
  parseHandshakeFragments,
  wholeMessage,
} from '../../src/dtls/handshake.js';
import { ContentType, encodeRecord, parseDatagram } from '../../src/dtls/record.js';
import { seededRandom } from '../../src/random.js';
import type { Channel, Peer } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';

const KEY = new Uint8Array(16).fill(3);
const SERVER: Peer = { address: '10.0.0.1', port: 5684 };
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Sends every ClientHello as `pieces` fragments, one record per datagram, last fragment first. */
function splittingHellos(inner: Channel, pieces: number): Channel {
  let seq = 1000;
  return {
    kind: inner.kind,
    get local() {
      return inner.local;
    },
    send(peer, bytes) {
      const record = parseDatagram(bytes).records[0];
      const first =
        record && record.type === ContentType.handshake && parseHandshakeFragments(record.fragment)[0];
      const message = first && wholeMessage(first);
      if (!record || !message || message.msgType !== HandshakeType.client_hello) {
        inner.send(peer, bytes);
        return;
      }
      const size = Math.ceil(message.body.length / pieces) + 12;
      for (const f of fragmentHandshakeMessage(message, size).reverse())
        inner.send(
          peer,
          encodeRecord({ ...record, sequenceNumber: seq++, fragment: encodeHandshakeFragment(f) }),
        );
    },
    onReceive: (h) => inner.onReceive(h),
    onError: (h) => inner.onError?.(h),
    close: () => inner.close(),
  };
}

async function settle(net: MemoryNetwork): Promise<void> {
  for (let i = 0; i < 100 && (net.pending > 0 || i < 3); i++) {
    net.flush();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('DtlsChannel server: fragmented ClientHello', () => {
  it('reassembles a hello sent in 4 fragments, last first, both before and after the cookie', async () => {
    const net = new MemoryNetwork({ schedule: () => {} });
    const clock = new FakeClock();
    const server = DtlsChannel.server({
      channel: net.channel(SERVER.address, SERVER.port),
      psk: () => KEY,
      clock,
      random: seededRandom(1),
    });
    const client = DtlsChannel.client({
      channel: splittingHellos(net.channel('10.0.0.2', 4000), 4),
      psk: { identity: 'dev', key: KEY },
      clock,
      random: seededRandom(2),
    });
    const got: string[] = [];
    server.onReceive((_, bytes) => got.push(new TextDecoder().decode(bytes)));
    client.send(SERVER, text('after a fragmented hello'));
    await settle(net);
    assert.deepEqual(got, ['after a fragmented hello']);
    assert.deepEqual(server.stats, { handshakes: 0, sessions: 1 });
  });

  it('answers no incomplete hello, keeps no session for them, and still serves a client after a flood', async () => {
    const net = new MemoryNetwork({ schedule: () => {} });
    const server = DtlsChannel.server({ channel: net.channel(SERVER.address, SERVER.port), psk: () => KEY });
    const answers: number[] = [];
    // 300 addresses each send the first half of a hello and never the rest.
    const body = new Uint8Array(120).fill(1);
    for (let i = 0; i < 300; i++) {
      const c = net.channel('10.1.0.1', 10000 + i);
      c.onReceive(() => answers.push(i));
      const [f] = fragmentHandshakeMessage({ msgType: HandshakeType.client_hello, messageSeq: 0, body }, 80);
      c.send(
        SERVER,
        encodeRecord({
          type: ContentType.handshake,
          version: 0xfefd,
          epoch: 0,
          sequenceNumber: 0,
          fragment: encodeHandshakeFragment(f!),
        }),
      );
    }
    await settle(net);
    assert.deepEqual(answers, [], 'no answer to an incomplete hello');
    assert.deepEqual(server.stats, { handshakes: 0, sessions: 0 });
    const client = DtlsChannel.client({
      channel: splittingHellos(net.channel('10.0.0.3', 4000), 2),
      psk: { identity: 'dev', key: KEY },
    });
    const got: string[] = [];
    server.onReceive((_, bytes) => got.push(new TextDecoder().decode(bytes)));
    client.send(SERVER, text('still served'));
    await settle(net);
    assert.deepEqual(got, ['still served']);
    await client.close();
    await server.close();
  });
});
