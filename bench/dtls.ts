// DTLS benchmark: full PSK and ECDHE-ECDSA (raw public key) handshakes/s and PSK session
// resumptions (abbreviated handshakes)/s (our client and server over loopback UDP), CoAP requests/s
// over DTLS (PSK, CCM_8, 32 in flight) against the same traffic over plain UDP in the same run, and
// CCM_8 record protect+unprotect/s (64-byte payload). Baseline for the handshakes: Node's own
// TLS 1.2 (OpenSSL) doing PSK handshakes over loopback TCP in the same run.
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { CoapEndpoint } from '../src/coap/endpoint.js';
import { CoapCode } from '../src/coap/message.js';
import { OptionNumber } from '../src/coap/options.js';
import { cipherSuite } from '../src/dtls/cipher-suites.js';
import { DtlsChannel } from '../src/dtls/dtls-channel.js';
import { ContentType, DTLS_1_2 } from '../src/dtls/record.js';
import { RecordProtection } from '../src/dtls/record-protection.js';
import { SessionCache } from '../src/dtls/session-cache.js';
import { anyRawPublicKeyVerifier } from '../src/dtls/peer-verification.js';
import type { Channel, ReceiveHandler } from '../src/transport/channel.js';
import { UdpChannel } from '../src/transport/udp-channel.js';
import { newResult, opsPerSecond, writeResult } from './lib/report.js';

const DURATION_MS = Number(process.env.PETREL_BENCH_MS ?? 3000);
const KEY = new Uint8Array(16).fill(7);
const IDENTITY = 'bench';
const HANDSHAKES_IN_FLIGHT = 16;
const PAYLOAD = new TextEncoder().encode('21.5');
const OPTIONS = ['3303', '0', '5700'].map((p) => ({
  number: OptionNumber.URI_PATH,
  value: new TextEncoder().encode(p),
}));

const serverKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
const clientKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

function dtlsServer(channel: Channel): DtlsChannel {
  return DtlsChannel.server({
    channel,
    psk: (identity) => (new TextDecoder().decode(identity) === IDENTITY ? KEY : undefined),
    certificate: { privateKey: serverKey },
    verifyPeer: anyRawPublicKeyVerifier(),
  });
}

type Mode = 'psk' | 'rpk';

/** `sessionCache`: shared with earlier clients, so they resume; default: none (full handshakes). */
function dtlsClient(channel: Channel, mode: Mode, sessionCache: SessionCache | false = false): DtlsChannel {
  return mode === 'psk'
    ? DtlsChannel.client({ channel, psk: { identity: IDENTITY, key: KEY }, sessionCache })
    : DtlsChannel.client({
        channel,
        certificate: { privateKey: clientKey },
        verifyPeer: anyRawPublicKeyVerifier(),
        sessionCache,
      });
}

/**
 * A client socket reused by one worker's handshakes: each handshake's DtlsChannel runs over it
 * and its close leaves the socket open, so the figure is handshakes, not socket set-ups.
 */
function reusable(socket: UdpChannel): { channel: () => Channel } {
  let handler: ReceiveHandler | undefined;
  socket.onReceive((peer, bytes) => handler?.(peer, bytes));
  return {
    channel: () => ({
      kind: socket.kind,
      get local() {
        return socket.local;
      },
      send: (peer, bytes) => socket.send(peer, bytes),
      onReceive: (h) => void (handler = h),
      close: () => Promise.resolve(),
    }),
  };
}

/**
 * Full handshakes/s over loopback UDP: HANDSHAKES_IN_FLIGHT workers, each with its own socket,
 * run one handshake after another (a new client session each time, replacing the previous one on
 * the server, RFC 6347 §4.2.8) and wait for one echoed datagram. Client and server share this
 * process and its CPU. `resume`: each worker's clients share a session cache, so after one full
 * handshake (outside the count) every handshake is abbreviated (RFC 5246 §7.3).
 */
async function handshakesPerSecond(mode: Mode, resume = false): Promise<number> {
  const udp = await openUdp();
  const server = dtlsServer(udp.channel);
  server.onReceive((peer, bytes) => server.send(peer, bytes));
  const peer = { address: '127.0.0.1', port: udp.port };
  let count = 0;
  const sockets = await Promise.all(
    Array.from({ length: HANDSHAKES_IN_FLIGHT }, () => UdpChannel.open({ address: '127.0.0.1', port: 0 })),
  );
  const once = async (channel: Channel, cache: SessionCache | false): Promise<void> => {
    const client = dtlsClient(channel, mode, cache);
    await new Promise<void>((resolve) => {
      client.onReceive(() => resolve());
      client.send(peer, PAYLOAD);
    });
    await client.close();
  };
  const workers = await Promise.all(
    sockets.map(async (socket) => {
      const reuse = reusable(socket);
      const cache: SessionCache | false = resume ? new SessionCache(performance) : false;
      if (cache) await once(reuse.channel(), cache); // the full handshake that makes the session
      return { reuse, cache };
    }),
  );
  const end = performance.now() + DURATION_MS;
  const start = performance.now();
  const worker = async ({ reuse, cache }: (typeof workers)[number]): Promise<void> => {
    while (performance.now() < end) {
      await once(reuse.channel(), cache);
      count++;
    }
  };
  await Promise.all(workers.map(worker));
  await Promise.all(sockets.map((socket) => socket.close()));
  const rate = (count * 1000) / (performance.now() - start);
  await server.close();
  return rate;
}

/**
 * The baseline for the handshake figures: full TLS 1.2 PSK handshakes/s with Node's own TLS
 * (OpenSSL, in C) over loopback TCP, PSK-AES128-CCM8 like ours, HANDSHAKES_IN_FLIGHT clients in a
 * loop, each handshake followed by one echoed message, client and server in this process. What a
 * native stack does here bounds what ours can be asked to do on the same cores.
 */
async function nodeTlsHandshakesPerSecond(): Promise<number> {
  const key = Buffer.from(KEY);
  const tls = { ciphers: 'PSK-AES128-CCM8', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;
  const server = createTlsServer(
    { ...tls, pskCallback: (_socket, identity) => (identity === IDENTITY ? key : null) },
    (socket) => {
      socket.on('data', (data: Buffer) => socket.write(data));
      socket.on('error', () => undefined);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const once = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket = tlsConnect(
        {
          ...tls,
          host: '127.0.0.1',
          port,
          pskCallback: () => ({ psk: key, identity: IDENTITY }),
          checkServerIdentity: () => undefined, // PSK: no certificate to match a name against
        },
        () => socket.write(PAYLOAD),
      );
      socket.once('data', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', reject);
    });
  let count = 0;
  const end = performance.now() + DURATION_MS;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: HANDSHAKES_IN_FLIGHT }, async () => {
      while (performance.now() < end) {
        await once();
        count++;
      }
    }),
  );
  const rate = (count * 1000) / (performance.now() - start);
  await new Promise((resolve) => server.close(resolve));
  return rate;
}

async function openUdp(): Promise<{ channel: UdpChannel; port: number }> {
  const channel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
  return { channel, port: channel.local.port };
}

/** CoAP GETs/s with 32 in flight, over DTLS or plain on loopback UDP. */
async function coapRps(dtls: boolean): Promise<number> {
  const s = await openUdp();
  const c = await openUdp();
  const serverChannel: Channel = dtls ? dtlsServer(s.channel) : s.channel;
  const clientChannel: Channel = dtls ? dtlsClient(c.channel, 'psk') : c.channel;
  const transmission = { nstart: 32 };
  const server = new CoapEndpoint({ channel: serverChannel, transmission });
  const client = new CoapEndpoint({ channel: clientChannel, transmission });
  server.onRequest(() => ({ code: CoapCode.CONTENT, payload: PAYLOAD }));
  const peer = { address: '127.0.0.1', port: s.port };
  const once = async (): Promise<void> => {
    const res = await client.request(peer, { code: CoapCode.GET, options: OPTIONS });
    if (res.code !== CoapCode.CONTENT) throw new Error(`unexpected ${res.code}`);
  };
  try {
    await once(); // the handshake, outside the measurement
    const warm = performance.now() + 300;
    while (performance.now() < warm) await once();
    let count = 0;
    const end = performance.now() + DURATION_MS;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (performance.now() < end) {
          await once();
          count++;
        }
      }),
    );
    return (count * 1000) / (performance.now() - start);
  } finally {
    await client.close();
    await server.close();
  }
}

function recordOpsPerSecond(): number {
  const suite = cipherSuite(0xc0a8)!;
  const keys = { macKey: new Uint8Array(), key: KEY, iv: new Uint8Array(4).fill(1) };
  const out = new RecordProtection(suite, keys);
  const back = new RecordProtection(suite, keys);
  const fragment = new Uint8Array(64).fill(0x2a);
  let seq = 0;
  return opsPerSecond(() => {
    const record = {
      type: ContentType.application_data,
      version: DTLS_1_2,
      epoch: 1,
      sequenceNumber: seq++,
      fragment,
    };
    return back.unprotect(out.protect(record));
  }, DURATION_MS / 3);
}

export async function runDtlsBench(): Promise<void> {
  const result = newResult('dtls');
  result.metrics.psk_handshakes_udp_per_s = { value: await handshakesPerSecond('psk'), unit: 'handshakes/s' };
  const nativeTls = await nodeTlsHandshakesPerSecond();
  result.baselines['node-tls-openssl'] = {
    psk_handshakes_tcp_per_s: { value: nativeTls, unit: 'handshakes/s' },
  };
  result.ratios.psk_handshakes_vs_node_tls = result.metrics.psk_handshakes_udp_per_s.value / nativeTls;
  result.metrics.ecdhe_rpk_handshakes_udp_per_s = {
    value: await handshakesPerSecond('rpk'),
    unit: 'handshakes/s',
  };
  result.metrics.resumptions_udp_per_s = {
    value: await handshakesPerSecond('psk', true),
    unit: 'handshakes/s',
  };
  const udp = await coapRps(false);
  const dtls = await coapRps(true);
  result.metrics.coap_dtls_inflight32_rps = { value: dtls, unit: 'req/s' };
  result.baselines['plain-udp'] = { coap_inflight32_rps: { value: udp, unit: 'req/s' } };
  result.ratios.dtls_rps_vs_udp = dtls / udp;
  result.metrics.ccm8_protect_unprotect_64b_per_s = { value: recordOpsPerSecond(), unit: 'ops/s' };
  writeResult(result);
}
