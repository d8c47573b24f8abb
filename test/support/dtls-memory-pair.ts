// A DTLS client and server (PSK, seeded randomness, a fake clock) over the in-memory network,
// recording every datagram each sends; the client's socket can move to a new address (NAT
// rebinding). Shared by the Connection ID and record fast-path tests.
import { FakeClock } from '../../src/clock.js';
import { DtlsChannel, type DtlsClientOptions, type DtlsServerOptions } from '../../src/dtls/dtls-channel.js';
import { seededRandom } from '../../src/random.js';
import type { Peer } from '../../src/transport/channel.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { recordingChannel } from './recording-channel.js';
import { RebindableChannel } from './rebindable-channel.js';

export const str = (b: Uint8Array): string => new TextDecoder().decode(b);
export const KEY = Uint8Array.from(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
export const SERVER: Peer = { address: '10.0.0.1', port: 5684 };

export function rig(server: Partial<DtlsServerOptions> = {}, client: Partial<DtlsClientOptions> = {}) {
  const clock = new FakeClock();
  const net = new MemoryNetwork({ schedule: () => {} });
  const serverSent: Uint8Array[] = [];
  const clientSent: Uint8Array[] = [];
  const socket = new RebindableChannel(recordingChannel(net.channel('10.0.0.2', 40000), clientSent));
  const s = DtlsChannel.server({
    channel: recordingChannel(net.channel(SERVER.address, SERVER.port), serverSent),
    clock,
    random: seededRandom(11),
    psk: (id) => (str(id) === 'dev-1' ? KEY : undefined),
    ...server,
  });
  const c = DtlsChannel.client({
    channel: socket,
    clock,
    random: seededRandom(12),
    psk: { identity: 'dev-1', key: KEY },
    ...client,
  });
  const serverGot: { peer: Peer; text: string }[] = [];
  const clientGot: { peer: Peer; text: string }[] = [];
  const errors: Error[] = [];
  s.onReceive((peer, bytes) => serverGot.push({ peer, text: str(bytes) }));
  c.onReceive((peer, bytes) => clientGot.push({ peer, text: str(bytes) }));
  s.onError((e) => errors.push(e));
  c.onError((e) => errors.push(e));
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 100 && (net.pending > 0 || i < 3); i++) {
      net.flush();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  /** The client's NAT mapping changes: it now sends from `address:port`. */
  const rebind = (address: string, port: number): void =>
    socket.rebind(recordingChannel(net.channel(address, port), clientSent));
  return {
    net,
    socket,
    server: s,
    client: c,
    serverSent,
    clientSent,
    serverGot,
    clientGot,
    errors,
    settle,
    rebind,
  };
}
