// CoAP benchmark on loopback UDP: requests/s and p50/p99 latency for one request at a time and for
// 32 in flight, for a Petrel client against a Petrel server, node-coap against node-coap, and a
// raw dgram loop that only decodes and encodes messages with our codec (the upper bound).
import { createSocket, type Socket } from 'node:dgram';
import * as nodeCoap from 'coap';
import { CoapEndpoint } from '../src/coap/endpoint.js';
import { CoapCode, type CoapMessage } from '../src/coap/message.js';
import { OptionNumber } from '../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../src/coap/udp-codec.js';
import { UdpChannel } from '../src/transport/udp-channel.js';
import { newResult, writeResult } from './lib/report.js';

const DURATION_MS = Number(process.env.PETREL_BENCH_MS ?? 3000);
/**
 * The three contenders run in alternating rounds of DURATION_MS / ROUNDS each, and the median
 * round counts: on a shared machine a burst of other load then skews one round of each, not the
 * whole figure of one contender (single runs varied by 25%).
 */
const ROUNDS = Math.max(1, Number(process.env.PETREL_BENCH_ROUNDS ?? 3));
const PAYLOAD = new TextEncoder().encode('21.5');
const PATH = ['3303', '0', '5700'];

interface Run {
  rps: number;
  p50: number;
  p99: number;
}

/** Keeps `concurrency` requests going for DURATION_MS; measures throughput and latency (ms). */
async function load(concurrency: number, once: () => Promise<void>): Promise<Run> {
  // Warm-up.
  const warmEnd = performance.now() + 300;
  while (performance.now() < warmEnd) await once();
  const latencies: number[] = [];
  const end = performance.now() + DURATION_MS / ROUNDS;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await once();
      latencies.push(performance.now() - t0);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = performance.now() - start;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!;
  return { rps: (latencies.length * 1000) / elapsed, p50: pct(0.5), p99: pct(0.99) };
}

/** Exported for profiling one run at a time. */
export async function petrel(concurrency: number): Promise<Run> {
  const serverChannel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
  const clientChannel = await UdpChannel.open({ address: '127.0.0.1', port: 0 });
  // NSTART is raised for the 32-in-flight run: RFC 7252's default of 1 would serialise them.
  const transmission = { nstart: concurrency };
  const server = new CoapEndpoint({ channel: serverChannel, transmission });
  const client = new CoapEndpoint({ channel: clientChannel, transmission });
  server.onRequest(() => ({ code: CoapCode.CONTENT, payload: PAYLOAD }));
  const peer = { address: '127.0.0.1', port: serverChannel.local.port };
  const options = PATH.map((p) => ({ number: OptionNumber.URI_PATH, value: new TextEncoder().encode(p) }));
  try {
    return await load(concurrency, async () => {
      const res = await client.request(peer, { code: CoapCode.GET, options });
      if (res.code !== CoapCode.CONTENT) throw new Error(`unexpected ${res.code}`);
    });
  } finally {
    await client.close();
    await server.close();
  }
}

async function nodeCoapRun(concurrency: number): Promise<Run> {
  const server = nodeCoap.createServer();
  server.on('request', (_req: unknown, res: { end(b: Buffer): void }) => res.end(Buffer.from(PAYLOAD)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server as unknown as { _sock: Socket })._sock.address().port;
  const agent = new nodeCoap.Agent({ type: 'udp4' });
  try {
    return await load(concurrency, () => {
      return new Promise<void>((resolve, reject) => {
        const req = nodeCoap.request({ hostname: '127.0.0.1', port, pathname: `/${PATH.join('/')}`, agent });
        req.on(
          'response',
          (res: { code: string; on(e: string, f: () => void): void; resume?: () => void }) => {
            if (res.code !== '2.05') reject(new Error(`unexpected ${res.code}`));
            else resolve();
          },
        );
        req.on('error', reject);
        req.end();
      });
    });
  } finally {
    agent.close();
    server.close();
  }
}

/** The floor: a dgram server that decodes each request and encodes its ACK, and a client that matches by id. */
/** Exported for profiling one run at a time. */
export async function rawLoop(concurrency: number): Promise<Run> {
  const server = createSocket('udp4');
  const client = createSocket('udp4');
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  const serverPort = server.address().port;
  server.on('message', (buf, rinfo) => {
    const req = decodeCoapUdp(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    const res: CoapMessage = {
      type: 'ACK',
      code: CoapCode.CONTENT,
      messageId: req.messageId,
      token: req.token,
      options: [],
      payload: PAYLOAD,
    };
    server.send(encodeCoapUdp(res), rinfo.port, rinfo.address);
  });
  const waiting = new Map<number, () => void>();
  client.on('message', (buf) => {
    const res = decodeCoapUdp(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    waiting.get(res.messageId)?.();
    waiting.delete(res.messageId);
  });
  let mid = 0;
  const options = PATH.map((p) => ({ number: OptionNumber.URI_PATH, value: new TextEncoder().encode(p) }));
  try {
    return await load(concurrency, () => {
      mid = (mid + 1) & 0xffff;
      const id = mid;
      const bytes = encodeCoapUdp({
        type: 'CON',
        code: CoapCode.GET,
        messageId: id,
        token: Uint8Array.of(id >> 8, id & 0xff),
        options,
        payload: new Uint8Array(),
      });
      return new Promise<void>((resolve) => {
        waiting.set(id, resolve);
        client.send(bytes, serverPort, '127.0.0.1');
      });
    });
  } finally {
    client.close();
    server.close();
  }
}

/** The round with the median throughput (its latencies with it). */
function medianRun(runs: Run[]): Run {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export async function runCoapBench(): Promise<void> {
  const result = newResult('coap');
  for (const [label, concurrency] of [
    ['serial', 1],
    ['inflight32', 32],
  ] as const) {
    const rounds: [Run[], Run[], Run[]] = [[], [], []];
    for (let r = 0; r < ROUNDS; r++) {
      rounds[0].push(await petrel(concurrency));
      rounds[1].push(await rawLoop(concurrency));
      rounds[2].push(await nodeCoapRun(concurrency));
    }
    const [ours, raw, theirs] = rounds.map(medianRun) as [Run, Run, Run];
    result.metrics[`${label}_rps`] = { value: ours.rps, unit: 'req/s' };
    result.metrics[`${label}_p50`] = { value: ours.p50, unit: 'ms' };
    result.metrics[`${label}_p99`] = { value: ours.p99, unit: 'ms' };
    for (const [name, run] of [
      ['raw-dgram', raw],
      ['node-coap', theirs],
    ] as const) {
      const b = (result.baselines[name] ??= {});
      b[`${label}_rps`] = { value: run.rps, unit: 'req/s' };
      b[`${label}_p50`] = { value: run.p50, unit: 'ms' };
      b[`${label}_p99`] = { value: run.p99, unit: 'ms' };
      result.ratios[`${label}_rps_vs_${name}`] = ours.rps / run.rps;
    }
  }
  writeResult(result);
}
