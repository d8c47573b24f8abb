// Our client against a scripted Bootstrap-Server that replays bootstrap server B of the captures
// (../shared/captures/bootstrap-1.2-client.jsonl and bootstrap-1.1-client.jsonl): the same
// requests, options and payloads with fresh tokens and message ids. Our client must send the
// uplinks the captured clients sent (Pack-Request first for the 1.2 one, then the Bootstrap-Request
// with its `pct`), answer each of the server's requests with the code the captured client gave,
// and then register where the Bootstrap-Write sent it, with the captured client's version.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import type { CoapResponse } from '../../src/coap/endpoint.js';
import { formatCode, parseCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, getStrings, getUint } from '../../src/coap/options.js';
import { decodeCoapUdp } from '../../src/coap/udp-codec.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { Registration } from '../../src/server/registration.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import { readCapture } from '../support/captures.js';
import type { CaptureLine } from '../support/captures.js';
import { requireShared } from '../support/shared.js';

const model = createDefaultRegistry();
const BS = { address: '127.0.0.1', port: 5783 };
const CLIENT = { address: '127.0.0.2', port: 56830 };

/** What an uplink looks like, for comparison: method, path, query items (sorted), Accept. */
function uplinkShape(m: CoapMessage): string {
  // `acc` (1.2.1, our client names its BS account) is left out: the captured 1.2.0 client had none.
  const query = getStrings(m, OptionNumber.URI_QUERY)
    .filter((q) => !q.startsWith('acc='))
    .sort()
    .join('&');
  const accept = getUint(m, OptionNumber.ACCEPT);
  return `${formatCode(m.code)} /${getStrings(m, OptionNumber.URI_PATH).join('/')}?${query}${accept === undefined ? '' : ` Accept ${accept}`}`;
}

function capturedShape(line: CaptureLine): string {
  return uplinkShape(decodeCoapUdp(Buffer.from(line.hex, 'hex')));
}

async function replay(
  t: TestContext,
  file: string,
  clientOptions: { version: '1.1' | '1.2'; packFirst: boolean; preferredFormat: number; endpoint: string },
) {
  const shared = requireShared(t);
  if (!shared) return;
  const lines = readCapture(shared, file).filter((l) => l.peer === 'bootstrap-server');
  const uplinks = lines.filter((l) => l.dir === 'client->server' && (l.code ?? '').startsWith('0.'));
  const downlinks = lines.filter((l) => l.dir === 'server->client' && parseCode(l.code ?? '') !== undefined);
  const requests = downlinks.filter((l) => (l.code ?? '').startsWith('0.'));
  const answerTo = (uplink: CaptureLine): string =>
    downlinks.find((l) => l.token === uplink.token && !(l.code ?? '').startsWith('0.'))!.code!;
  const answerOf = (req: CaptureLine): CaptureLine =>
    lines.find((l) => l.dir === 'client->server' && l.token === req.token)!;
  // The code and, for content, its format (the Bootstrap-Read comes back in the `pct` format).
  const expectedCodes = requests.map((req) => {
    const a = answerOf(req);
    return a.contentFormat === null ? a.code! : `${a.code} CF ${a.contentFormat}`;
  });

  const network = new MemoryNetwork();
  // The LwM2M server the capture's Bootstrap-Write names (coap://127.0.0.1:5683).
  const dm = new LwM2mServer({ channel: network.channel('127.0.0.1', 5683), model, random: seededRandom(4) });
  await dm.start();
  const bs = new CoapEndpoint({ channel: network.channel(BS.address, BS.port), random: seededRandom(7) });
  const client = new LwM2mClient({
    endpoint: clientOptions.endpoint,
    servers: [],
    version: clientOptions.version,
    bootstrap: {
      server: { uri: `coap://${BS.address}:${BS.port}` },
      packFirst: clientOptions.packFirst,
      preferredFormat: clientOptions.preferredFormat,
    },
    model,
    channel: network.channel(CLIENT.address, CLIENT.port),
    random: seededRandom(8),
  });
  const keepAlive = setInterval(() => undefined, 1000);
  t.after(async () => {
    clearInterval(keepAlive);
    await client.stop();
    await bs.close();
    await dm.stop();
  });

  const seen: string[] = [];
  let requested: () => void = () => undefined;
  const bootstrapRequested = new Promise<void>((resolve) => (requested = resolve));
  bs.onRequest(({ message }): CoapResponse => {
    const index = seen.length;
    seen.push(uplinkShape(message));
    const captured = uplinks[index];
    if (!captured) return { code: parseCode('4.00')! };
    if (getStrings(message, OptionNumber.URI_PATH).join('/') === 'bs') setImmediate(requested);
    return { code: parseCode(answerTo(captured))! };
  });
  const registered = once(dm, 'registered') as Promise<[Registration]>;
  await client.start();
  await bootstrapRequested;

  const codes: string[] = [];
  for (const req of requests) {
    const m = decodeCoapUdp(Buffer.from(req.hex, 'hex'));
    const response = await bs.request(CLIENT, {
      code: m.code,
      options: m.options.filter((o) => o.number !== OptionNumber.URI_HOST),
      payload: m.payload,
    });
    const cf = getUint(response, OptionNumber.CONTENT_FORMAT);
    codes.push(`${formatCode(response.code)}${cf === undefined ? '' : ` CF ${cf}`}`);
  }
  assert.deepEqual(seen, uplinks.map(capturedShape), 'the uplinks the captured client sent');
  assert.deepEqual(
    requests.map((r, i) => `${r.summary.split(' mid=')[0]} → ${codes[i]}`),
    requests.map((r, i) => `${r.summary.split(' mid=')[0]} → ${expectedCodes[i]}`),
  );
  const [reg] = await registered;
  assert.equal(reg.endpoint, clientOptions.endpoint);
  assert.equal(reg.lwm2mVersion, clientOptions.version);
  assert.equal(reg.lifetime, 300);
}

describe('LwM2mClient bootstrap against the captured Bootstrap-Server', () => {
  it('follows client A (1.2): Pack-Request answered 4.00, Bootstrap-Request pct=112, the SenML CBOR session', async (t) => {
    await replay(t, 'bootstrap-1.2-client.jsonl', {
      version: '1.2',
      packFirst: true,
      preferredFormat: 112,
      endpoint: 'urn:dev:client-a-bs',
    });
  });

  it('follows client B (1.1): Bootstrap-Request pct=110, the SenML JSON session', async (t) => {
    await replay(t, 'bootstrap-1.1-client.jsonl', {
      version: '1.1',
      packFirst: false,
      preferredFormat: 110,
      endpoint: 'client-b-bs',
    });
  });
});
