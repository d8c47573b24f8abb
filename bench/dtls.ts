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
import { cipherSuite } from '../src/dtls/cipher-suites.js';
import { DtlsChannel } from '../src/dtls/dtls-channel.js';
import { ContentType, DTLS_1_2 } from '../src/dtls/record.js';
import { RecordProtection } from '../src/dtls/record-protection.js';
import { anyRawPublicKeyVerifier } from '../src/dtls/peer-verification.js';
import type { Channel } from '../src/transport/channel.js';
import { UdpChannel } from '../src/transport/udp-channel.js';
import { ChildCommands } from './lib/child-commands.js';
import { newResult, opsPerSecond, writeResult } from './lib/report.js';
import {
  BENCH_PSK,
  coapLoops,
  handshakeLoops,
  type HandshakeMode,
  type PeersCommand,
  type PeersReport,
} from './lib/dtls-peers.js';

const DURATION_MS = Number(process.env.PETREL_BENCH_MS ?? 3000);
/**
 * The server's PSK handshake and request figures are the median of this many runs (the request
 * runs alternate DTLS and plain UDP, and the ratio is the median pair's): one run on this VM moves
 * by 10-30 % with its neighbours, which made single runs say little about the goals.
 */
const SERVER_ROUNDS = Number(process.env.PETREL_BENCH_ROUNDS ?? 3);
const HANDSHAKES_IN_FLIGHT = 16;
/** Client loops in the child process: enough that the server, not the clients' latency, bounds the rate. */
const SPLIT_WORKERS = 32;
const PAYLOAD = new TextEncoder().encode('21.5');
const { identity: IDENTITY, key: KEY } = BENCH_PSK;

const serverKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

function dtlsServer(channel: Channel): DtlsChannel {
  return DtlsChannel.server({
    channel,
    psk: (identity) => (new TextDecoder().decode(identity) === IDENTITY ? KEY : undefined),
    certificate: { privateKey: serverKey },
    verifyPeer: anyRawPublicKeyVerifier(),
  });
}

/** A DTLS server on loopback that echoes every datagram. */
async function echoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const udp = await openUdp();
  const server = dtlsServer(udp.channel);
  server.onReceive((peer, bytes) => server.send(peer, bytes));
  return { port: udp.port, close: () => server.close() };
}

/**
 * Full handshakes/s over loopback UDP, client and server in this process sharing its CPU:
 * HANDSHAKES_IN_FLIGHT workers, each with its own socket, run one handshake after another and
 * wait for one echoed datagram. `resume`: abbreviated handshakes (RFC 5246 §7.3) from each
 * worker's session cache.
 */
async function handshakesPerSecond(mode: HandshakeMode, resume = false): Promise<number> {
  const server = await echoServer();
  try {
    const run = await handshakeLoops(server.port, mode, HANDSHAKES_IN_FLIGHT, DURATION_MS, resume);
    return (run.count * 1000) / run.elapsedMs;
  } finally {
    await server.close();
  }
}

/** The benchmark's clients in a child process (bench/lib/dtls-peers.ts), command by command. */
class Peers {
  readonly #child: ChildCommands<PeersCommand>;

  private constructor(child: ChildCommands<PeersCommand>) {
    this.#child = child;
  }

  static async start(): Promise<Peers> {
    return new Peers(
      await ChildCommands.start<PeersCommand>(new URL('./lib/dtls-peers.ts', import.meta.url), 'dtls peers', {
        args: ['--child'],
      }),
    );
  }

  /** Runs `command` and measures this (the server's) process over it. */
  async run(
    command: Exclude<PeersCommand, { cmd: 'close' }>,
  ): Promise<PeersReport & { serverCpuUs: number }> {
    const cpu0 = process.cpuUsage();
    const report = await this.#child.command<PeersReport>(command);
    const cpu = process.cpuUsage(cpu0);
    // The server's CPU over the whole command, the child's warm-up included: an upper bound.
    return { ...report, serverCpuUs: cpu.user + cpu.system };
  }

  close(): Promise<void> {
    return this.#child.close();
  }
}

/**
 * The server's figure: full handshakes/s with the clients in another process (SPLIT_WORKERS
 * loops), so the server has a core of its own as in a deployment; and its CPU per handshake.
 */
async function serverHandshakes(
  peers: Peers,
  mode: HandshakeMode,
  resume = false,
): Promise<{ rate: number; serverUsPerHandshake: number; clientUsPerHandshake: number }> {
  const server = await echoServer();
  try {
    const run = await peers.run({
      cmd: 'handshakes',
      port: server.port,
      mode,
      workers: SPLIT_WORKERS,
      ms: DURATION_MS,
      resume,
    });
    return {
      rate: (run.count * 1000) / run.elapsedMs,
      serverUsPerHandshake: run.serverCpuUs / run.count,
      clientUsPerHandshake: run.cpuUs / run.count,
    };
  } finally {
    await server.close();
  }
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

/** A CoAP server answering every GET with 2.05 (over DTLS or plain UDP); its port. */
async function coapServer(dtls: boolean): Promise<{ port: number; close: () => Promise<void> }> {
  const s = await openUdp();
  const server = new CoapEndpoint({
    channel: dtls ? dtlsServer(s.channel) : s.channel,
    transmission: { nstart: 32 },
  });
  server.onRequest(() => ({ code: CoapCode.CONTENT, payload: PAYLOAD }));
  return { port: s.port, close: () => server.close() };
}

/** CoAP GETs/s with 32 in flight from the child process to a server here, over DTLS or plain UDP. */
async function serverCoapRps(
  peers: Peers,
  dtls: boolean,
): Promise<{ rate: number; serverUsPerRequest: number; clientUsPerRequest: number }> {
  const server = await coapServer(dtls);
  try {
    const run = await peers.run({ cmd: 'coap', port: server.port, dtls, inFlight: 32, ms: DURATION_MS });
    return {
      rate: (run.count * 1000) / run.elapsedMs,
      serverUsPerRequest: run.serverCpuUs / run.count,
      clientUsPerRequest: run.cpuUs / run.count,
    };
  } finally {
    await server.close();
  }
}

/** CoAP GETs/s with 32 in flight, over DTLS or plain on loopback UDP, both ends in this process. */
async function coapRps(dtls: boolean): Promise<number> {
  const server = await coapServer(dtls);
  try {
    const run = await coapLoops(server.port, dtls, 32, DURATION_MS);
    return (run.count * 1000) / run.elapsedMs;
  } finally {
    await server.close();
  }
}

/** The median element of `runs` by `key` (the lower middle one of an even count). */
function median<T>(runs: readonly T[], key: (run: T) => number): T {
  const sorted = [...runs].sort((a, b) => key(a) - key(b));
  return sorted[(sorted.length - 1) >> 1]!;
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
  const m = result.metrics;
  // Client and server in this process (every figure pays for both ends).
  m.psk_handshakes_udp_per_s = { value: await handshakesPerSecond('psk'), unit: 'handshakes/s' };
  const nativeTls = await nodeTlsHandshakesPerSecond();
  result.baselines['node-tls-openssl'] = {
    psk_handshakes_tcp_per_s: { value: nativeTls, unit: 'handshakes/s' },
  };
  result.ratios.psk_handshakes_vs_node_tls = m.psk_handshakes_udp_per_s.value / nativeTls;
  m.ecdhe_rpk_handshakes_udp_per_s = { value: await handshakesPerSecond('rpk'), unit: 'handshakes/s' };
  m.resumptions_udp_per_s = { value: await handshakesPerSecond('psk', true), unit: 'handshakes/s' };
  const udp = await coapRps(false);
  const dtls = await coapRps(true);
  m.coap_dtls_inflight32_rps = { value: dtls, unit: 'req/s' };
  result.baselines['plain-udp'] = { coap_inflight32_rps: { value: udp, unit: 'req/s' } };
  result.ratios.dtls_rps_vs_udp = dtls / udp;

  // The server's figures: the clients in a child process, the server with a core of its own.
  const peers = await Peers.start();
  try {
    const pskRuns = [];
    for (let i = 0; i < SERVER_ROUNDS; i++) pskRuns.push(await serverHandshakes(peers, 'psk'));
    const psk = median(pskRuns, (r) => r.rate);
    m.server_psk_handshakes_per_s = {
      value: psk.rate,
      unit: 'handshakes/s',
      runs: pskRuns.map((r) => r.rate),
    };
    m.server_cpu_per_psk_handshake_us = { value: psk.serverUsPerHandshake, unit: 'µs' };
    m.client_cpu_per_psk_handshake_us = { value: psk.clientUsPerHandshake, unit: 'µs' };
    const rpk = await serverHandshakes(peers, 'rpk');
    m.server_ecdhe_rpk_handshakes_per_s = { value: rpk.rate, unit: 'handshakes/s' };
    m.server_cpu_per_rpk_handshake_us = { value: rpk.serverUsPerHandshake, unit: 'µs' };
    const resumed = await serverHandshakes(peers, 'psk', true);
    m.server_resumptions_per_s = { value: resumed.rate, unit: 'handshakes/s' };
    m.server_cpu_per_resumption_us = { value: resumed.serverUsPerHandshake, unit: 'µs' };
    m.client_cpu_per_resumption_us = { value: resumed.clientUsPerHandshake, unit: 'µs' };
    const pairs = [];
    for (let i = 0; i < SERVER_ROUNDS; i++) {
      const udp = await serverCoapRps(peers, false);
      const dtls = await serverCoapRps(peers, true);
      pairs.push({ udp, dtls, ratio: dtls.rate / udp.rate });
    }
    const { udp: serverUdp, dtls: serverDtls } = median(pairs, (p) => p.ratio);
    m.server_coap_dtls_inflight32_rps = {
      value: serverDtls.rate,
      unit: 'req/s',
      runs: pairs.map((p) => p.dtls.rate),
    };
    m.server_cpu_per_dtls_request_us = { value: serverDtls.serverUsPerRequest, unit: 'µs' };
    m.client_cpu_per_dtls_request_us = { value: serverDtls.clientUsPerRequest, unit: 'µs' };
    const plain = result.baselines['plain-udp'];
    plain.server_coap_inflight32_rps = {
      value: serverUdp.rate,
      unit: 'req/s',
      runs: pairs.map((p) => p.udp.rate),
    };
    plain.server_cpu_per_request_us = { value: serverUdp.serverUsPerRequest, unit: 'µs' };
    plain.client_cpu_per_request_us = { value: serverUdp.clientUsPerRequest, unit: 'µs' };
    result.ratios.server_dtls_rps_vs_udp = serverDtls.rate / serverUdp.rate;
    result.ratioRuns = { server_dtls_rps_vs_udp: pairs.map((p) => p.ratio) };
  } finally {
    await peers.close();
  }
  m.ccm8_protect_unprotect_64b_per_s = { value: recordOpsPerSecond(), unit: 'ops/s' };
  writeResult(result);
}
