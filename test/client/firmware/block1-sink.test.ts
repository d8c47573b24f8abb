// BlockwiseOptions.block1Sink: the hook that lets the client stream a Block1 Write to /5/0/0.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCoapStack } from '../../../src/binding/coap/coap-stack.js';
import type { Block1Sink, Block1SinkProvider } from '../../../src/coap/blockwise.js';
import { CoapCode } from '../../../src/coap/message.js';
import type { CoapMessage } from '../../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, block1, uriPath } from '../../../src/coap/options.js';
import { MemoryNetwork } from '../../../src/transport/memory-channel.js';

const BODY = Uint8Array.from({ length: 1000 }, (_, i) => (i * 13) & 0xff);

interface Rig {
  client: ReturnType<typeof createCoapStack>;
  taken: Uint8Array[];
  handled: CoapMessage[];
  sink: () => Block1Sink | undefined;
  close: () => Promise<void>;
}

function rig(): Rig {
  const network = new MemoryNetwork();
  const taken: Uint8Array[] = [];
  const handled: CoapMessage[] = [];
  let current: (Block1Sink & { received: number }) | undefined;
  const provider: Block1SinkProvider = (_peer, message, block) => {
    if (uriPath(message).join('/') !== '5/0/0') return undefined;
    if (block.num > 0) return current;
    const sink = {
      received: 0,
      write(chunk: Uint8Array) {
        taken.push(chunk.slice());
        sink.received += chunk.length;
        return Promise.resolve(undefined);
      },
      end(chunk: Uint8Array) {
        taken.push(chunk.slice());
        sink.received += chunk.length;
        return { code: CoapCode.CHANGED, payload: new TextEncoder().encode(`took ${sink.received}`) };
      },
    };
    current = sink;
    return sink;
  };
  const server = createCoapStack({
    channel: network.channel('10.0.0.1', 5683),
    blockwise: { blockSize: 64, block1Sink: provider },
  });
  server.blockwise.onRequest(({ message }) => {
    handled.push(message);
    return { code: CoapCode.CHANGED };
  });
  const client = createCoapStack({
    channel: network.channel('10.0.0.2', 5683),
    blockwise: { blockSize: 64 },
  });
  return {
    client,
    taken,
    handled,
    sink: () => current,
    close: async () => {
      await client.endpoint.close();
      await server.endpoint.close();
    },
  };
}

const SERVER = { address: '10.0.0.1', port: 5683 };
const target = (path: string) =>
  new OptionsBuilder().uriPath(path.split('/')).uint(OptionNumber.CONTENT_FORMAT, 42);

function block(num: number, more: boolean, tag = 1) {
  const payload = BODY.subarray(num * 64, num * 64 + 64);
  return {
    code: CoapCode.PUT,
    options: target('5/0/0')
      .block(OptionNumber.BLOCK1, { num, more, szx: 2 })
      .add(OptionNumber.REQUEST_TAG, Uint8Array.of(tag))
      .build(),
    payload: more ? payload : payload.subarray(0, 40),
  };
}

describe('BlockwiseLayer block1Sink', () => {
  it('hands each block to the sink in order; the sink answers the last; the handler sees nothing', async () => {
    const r = rig();
    try {
      const response = await r.client.blockwise.request(SERVER, {
        code: CoapCode.PUT,
        options: target('5/0/0').build(),
        payload: BODY,
      });
      assert.equal(response.code, CoapCode.CHANGED);
      assert.equal(new TextDecoder().decode(response.payload), 'took 1000');
      assert.equal(block1(response)?.more, false);
      assert.equal(r.taken.length, Math.ceil(1000 / 64));
      assert.ok(r.taken.every((c, i) => c.length === (i < 15 ? 64 : 1000 - 15 * 64)));
      assert.deepEqual(new Uint8Array(Buffer.concat(r.taken)), BODY);
      assert.equal(r.handled.length, 0);
    } finally {
      await r.close();
    }
  });

  it('other targets are reassembled for the handler as before', async () => {
    const r = rig();
    try {
      const response = await r.client.blockwise.request(SERVER, {
        code: CoapCode.PUT,
        options: target('3/0/1').build(),
        payload: BODY,
      });
      assert.equal(response.code, CoapCode.CHANGED);
      assert.equal(r.taken.length, 0);
      assert.deepEqual(r.handled[0]?.payload, BODY);
    } finally {
      await r.close();
    }
  });

  it('a gap gets 4.08 and leaves the body where it was; resending from there resumes it', async () => {
    const r = rig();
    const send = (num: number, more: boolean, tag?: number) =>
      r.client.endpoint.request(SERVER, block(num, more, tag));
    try {
      assert.equal((await send(0, true)).code, CoapCode.CONTINUE);
      assert.equal((await send(1, true)).code, CoapCode.CONTINUE);
      const gap = await send(3, true);
      assert.equal(gap.code, CoapCode.REQUEST_ENTITY_INCOMPLETE);
      assert.equal(new TextDecoder().decode(gap.payload), 'expected offset 128, got 192');
      assert.equal(r.sink()?.received, 128);
      // The block just taken, repeated: acknowledged again, not taken twice.
      const repeat = await send(1, true);
      assert.equal(repeat.code, CoapCode.CONTINUE);
      assert.equal(block1(repeat)?.num, 1);
      assert.equal(r.sink()?.received, 128);
      // A server that starts a new exchange (another Request-Tag) from the last good block.
      assert.equal((await send(2, true, 9)).code, CoapCode.CONTINUE);
      const last = await send(3, false, 9);
      assert.equal(last.code, CoapCode.CHANGED);
      assert.equal(r.sink()?.received, 3 * 64 + 40);
      assert.deepEqual(new Uint8Array(Buffer.concat(r.taken)), BODY.subarray(0, 232));
    } finally {
      await r.close();
    }
  });

  it('a sink refusal is sent instead of 2.31; a provider response refuses at once', async () => {
    const network = new MemoryNetwork();
    const server = createCoapStack({
      channel: network.channel('10.0.0.1', 5683),
      blockwise: {
        blockSize: 64,
        block1Sink: (_p, _m, b) =>
          b.num === 0
            ? {
                received: 0,
                write: () => ({ code: CoapCode.REQUEST_ENTITY_TOO_LARGE }),
                end: () => ({ code: CoapCode.CHANGED }),
              }
            : { code: CoapCode.METHOD_NOT_ALLOWED },
      },
    });
    server.blockwise.onRequest(() => ({ code: CoapCode.CHANGED }));
    const client = createCoapStack({ channel: network.channel('10.0.0.2', 5683) });
    try {
      assert.equal(
        (await client.endpoint.request(SERVER, block(0, true))).code,
        CoapCode.REQUEST_ENTITY_TOO_LARGE,
      );
      assert.equal((await client.endpoint.request(SERVER, block(1, true))).code, CoapCode.METHOD_NOT_ALLOWED);
    } finally {
      await client.endpoint.close();
      await server.endpoint.close();
    }
  });
});
