// The clients of the DTLS benchmark's server figures, run as a child process so that the server
// under test has a process (and a core) of its own, as it would in a deployment. Driven over IPC:
//   {cmd:'handshakes', port, mode, workers, ms, resume?}
//       `workers` loops, each on its own socket, do one full handshake after another (a new
//       client session each time: the server replaces the old one, RFC 6347 §4.2.8) and wait for
//       one echoed datagram; `resume`: each worker keeps a session cache, so after its first
//       handshake every one is abbreviated. Replies with the count, elapsed time and client CPU.
//   {cmd:'coap', port, dtls, inFlight, ms}
//       CoAP GETs of /3303/0/5700 with `inFlight` outstanding, over DTLS (PSK, CCM_8) or plain UDP.
//   {cmd:'close'}
import { generateKeyPairSync } from 'node:crypto';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode } from '../../src/coap/message.js';
import { OptionNumber } from '../../src/coap/options.js';
import { DtlsChannel } from '../../src/dtls/dtls-channel.js';
import { anyRawPublicKeyVerifier } from '../../src/dtls/peer-verification.js';
import { SessionCache } from '../../src/dtls/session-cache.js';
import type { Channel, ReceiveHandler } from '../../src/transport/channel.js';
import { UdpChannel } from '../../src/transport/udp-channel.js';

export const BENCH_PSK = { identity: 'bench', key: new Uint8Array(16).fill(7) } as const;
const PAYLOAD = new TextEncoder().encode('21.5');
const LOOPBACK = '127.0.0.1';

export type HandshakeMode = 'psk' | 'rpk';

export type PeersCommand =
  | {
      readonly cmd: 'handshakes';
      readonly port: number;
      readonly mode: HandshakeMode;
      readonly workers: number;
      readonly ms: number;
      readonly resume?: boolean;
    }
  | {
      readonly cmd: 'coap';
      readonly port: number;
      readonly dtls: boolean;
      readonly inFlight: number;
      readonly ms: number;
    }
  | { readonly cmd: 'close' };

export interface PeersReport {
  readonly count: number;
  readonly elapsedMs: number;
  /** CPU time (user + system) of this process over the run, µs. */
  readonly cpuUs: number;
}

const clientKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

export function benchClient(
  channel: Channel,
  mode: HandshakeMode,
  sessionCache: SessionCache | false,
): DtlsChannel {
  return mode === 'psk'
    ? DtlsChannel.client({ channel, psk: BENCH_PSK, sessionCache })
    : DtlsChannel.client({
        channel,
        certificate: { privateKey: clientKey },
        verifyPeer: anyRawPublicKeyVerifier(),
        sessionCache,
      });
}

/**
 * A socket reused by one worker's handshakes: each handshake's DtlsChannel runs over it and its
 * close leaves the socket open, so the figure is handshakes, not socket set-ups.
 */
export function reusable(socket: UdpChannel): () => Channel {
  let handler: ReceiveHandler | undefined;
  socket.onReceive((peer, bytes) => handler?.(peer, bytes));
  return () => ({
    kind: socket.kind,
    get local() {
      return socket.local;
    },
    send: (peer, bytes) => socket.send(peer, bytes),
    onReceive: (h) => void (handler = h),
    close: () => Promise.resolve(),
  });
}

/** The datagram is sent again after this long without its echo (ms). */
const ECHO_RESEND_MS = 1000;
/** Sends of the datagram before the handshake counts as failed. */
const ECHO_TRIES = 5;

/**
 * One handshake over `channel` and one echoed datagram. UDP may drop the datagram or its echo
 * (a full socket buffer under load), and DTLS does not resend application data, so it is sent
 * again, as an application would, rather than the loop waiting forever.
 */
export async function handshakeOnce(
  channel: Channel,
  port: number,
  mode: HandshakeMode,
  cache: SessionCache | false,
): Promise<void> {
  const client = benchClient(channel, mode, cache);
  const server = { address: LOOPBACK, port };
  try {
    await new Promise<void>((resolve, reject) => {
      let tries = 0;
      let timer: NodeJS.Timeout | undefined;
      const send = (): void => {
        if (++tries > ECHO_TRIES) {
          reject(new Error(`no echo from the DTLS server at port ${port} after ${ECHO_TRIES} sends`));
          return;
        }
        client.send(server, PAYLOAD);
        timer = setTimeout(send, ECHO_RESEND_MS);
      };
      client.onReceive(() => {
        clearTimeout(timer);
        resolve();
      });
      send();
    });
  } finally {
    await client.close();
  }
}

/** Runs `workers` handshake loops for `ms`; exported for the one-process figures too. */
export async function handshakeLoops(
  port: number,
  mode: HandshakeMode,
  workers: number,
  ms: number,
  resume = false,
): Promise<PeersReport> {
  const sockets = await Promise.all(
    Array.from({ length: workers }, () => UdpChannel.open({ address: LOOPBACK, port: 0 })),
  );
  try {
    const loops = await Promise.all(
      sockets.map(async (socket) => {
        const channel = reusable(socket);
        const cache: SessionCache | false = resume ? new SessionCache(performance) : false;
        if (cache) await handshakeOnce(channel(), port, mode, cache); // the full one that makes the session
        return { channel, cache };
      }),
    );
    let count = 0;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const end = start + ms;
    await Promise.all(
      loops.map(async ({ channel, cache }) => {
        while (performance.now() < end) {
          await handshakeOnce(channel(), port, mode, cache);
          count++;
        }
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    return { count, elapsedMs: performance.now() - start, cpuUs: cpu.user + cpu.system };
  } finally {
    await Promise.all(sockets.map((s) => s.close()));
  }
}

const OPTIONS = ['3303', '0', '5700'].map((p) => ({
  number: OptionNumber.URI_PATH,
  value: new TextEncoder().encode(p),
}));

/** CoAP GETs with `inFlight` outstanding for `ms` (after the handshake and a warm-up). */
export async function coapLoops(
  port: number,
  dtls: boolean,
  inFlight: number,
  ms: number,
): Promise<PeersReport> {
  const socket = await UdpChannel.open({ address: LOOPBACK, port: 0 });
  const channel: Channel = dtls ? benchClient(socket, 'psk', false) : socket;
  const client = new CoapEndpoint({ channel, transmission: { nstart: inFlight } });
  const peer = { address: LOOPBACK, port };
  const once = async (): Promise<void> => {
    const res = await client.request(peer, { code: CoapCode.GET, options: OPTIONS });
    if (res.code !== CoapCode.CONTENT) throw new Error(`unexpected ${res.code}`);
  };
  try {
    await once(); // the handshake, outside the measurement
    const warm = performance.now() + 300;
    while (performance.now() < warm) await once();
    let count = 0;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const end = start + ms;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (performance.now() < end) {
          await once();
          count++;
        }
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    return { count, elapsedMs: performance.now() - start, cpuUs: cpu.user + cpu.system };
  } finally {
    await client.close();
  }
}

if (process.send && process.argv[2] === '--child') {
  process.on('message', (command: PeersCommand) => {
    void (async () => {
      switch (command.cmd) {
        case 'handshakes':
          process.send!(
            await handshakeLoops(command.port, command.mode, command.workers, command.ms, command.resume),
          );
          break;
        case 'coap':
          process.send!(await coapLoops(command.port, command.dtls, command.inFlight, command.ms));
          break;
        case 'close':
          process.send!({ closed: true });
          process.exit(0);
      }
    })().catch((e: unknown) => {
      process.send!({ error: String(e instanceof Error ? e.stack : e) });
    });
  });
  process.send({ ready: true });
}
