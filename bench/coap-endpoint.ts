// The CoAP endpoint without sockets: two endpoints joined by an in-process channel (microtask
// delivery), 32 requests in flight, so the figure is the endpoint's own cost (exchanges, dedup,
// timers, codec) with no syscalls and little noise from the kernel. Baseline: the same traffic
// through the codec alone (encode and decode request and response), in the same harness.
import { CoapEndpoint } from '../src/coap/endpoint.js';
import { CoapCode, type CoapMessage } from '../src/coap/message.js';
import { OptionNumber } from '../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../src/coap/udp-codec.js';
import type { Channel, Peer, ReceiveHandler } from '../src/transport/channel.js';
import { newResult, writeResult } from './lib/report.js';

const DURATION_MS = Number(process.env.PETREL_BENCH_MS ?? 3000);
const CONCURRENCY = 32;
const PAYLOAD = new TextEncoder().encode('21.5');
const OPTIONS = ['3303', '0', '5700'].map((p) => ({
  number: OptionNumber.URI_PATH,
  value: new TextEncoder().encode(p),
}));

/** Two channels that deliver to each other on the microtask queue. */
function channelPair(): [Channel, Channel] {
  const handlers: [ReceiveHandler[], ReceiveHandler[]] = [[], []];
  const make = (self: 0 | 1, address: string): Channel => ({
    kind: 'memory',
    send(_peer: Peer, bytes: Uint8Array) {
      const from = { address, port: 5683 };
      queueMicrotask(() => {
        for (const h of handlers[self === 0 ? 1 : 0]) h(from, bytes);
      });
    },
    onReceive(h: ReceiveHandler) {
      handlers[self].push(h);
    },
    close: () => Promise.resolve(),
  });
  return [make(0, '10.0.0.1'), make(1, '10.0.0.2')];
}

async function drive(once: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + DURATION_MS;
  let n = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        await once();
        n++;
      }
    }),
  );
  return (n * 1000) / (performance.now() - start);
}

async function endpoints(): Promise<number> {
  const [a, b] = channelPair();
  const transmission = { nstart: CONCURRENCY };
  const client = new CoapEndpoint({ channel: a, transmission });
  const server = new CoapEndpoint({ channel: b, transmission });
  server.onRequest(() => ({ code: CoapCode.CONTENT, payload: PAYLOAD }));
  const peer = { address: '10.0.0.2', port: 5683 };
  try {
    return await drive(() => client.request(peer, { code: CoapCode.GET, options: OPTIONS }));
  } finally {
    await client.close();
    await server.close();
  }
}

async function codecOnly(): Promise<number> {
  let mid = 0;
  return drive(
    () =>
      new Promise<void>((resolve) => {
        mid = (mid + 1) & 0xffff;
        const req: CoapMessage = {
          type: 'CON',
          code: CoapCode.GET,
          messageId: mid,
          token: Uint8Array.of(mid >> 8, mid & 0xff),
          options: OPTIONS,
          payload: new Uint8Array(),
        };
        const bytes = encodeCoapUdp(req);
        queueMicrotask(() => {
          const got = decodeCoapUdp(bytes);
          const res = encodeCoapUdp({
            type: 'ACK',
            code: CoapCode.CONTENT,
            messageId: got.messageId,
            token: got.token,
            options: [],
            payload: PAYLOAD,
          });
          queueMicrotask(() => {
            decodeCoapUdp(res);
            resolve();
          });
        });
      }),
  );
}

export async function runCoapEndpointBench(): Promise<void> {
  const result = newResult('coap-endpoint');
  const ours = await endpoints();
  const base = await codecOnly();
  result.metrics.inflight32_rps = { value: ours, unit: 'req/s' };
  result.metrics.inflight32_us_per_request = { value: 1e6 / ours, unit: 'µs' };
  result.baselines['codec-only'] = {
    inflight32_rps: { value: base, unit: 'req/s' },
    inflight32_us_per_request: { value: 1e6 / base, unit: 'µs' },
  };
  result.ratios['inflight32_rps_vs_codec-only'] = ours / base;
  writeResult(result);
}
