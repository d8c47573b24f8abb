// Robustness of the client against a hostile server: every server->client request of the captures,
// mutated with a seeded RNG, and well-formed but hostile requests (huge depths, Create with 65535,
// thousands of Write-Composite records, long Execute arguments, Observe floods, 4-segment paths
// on every method), all sent from the registered server's own address so they reach the request
// handler. The client must never throw, answer every CON (response or RST) within bounded
// simulated time, answer no peer fault with 5.xx, keep its tables bounded, and leave the tree as
// it was when it refuses. Budget: PETREL_FUZZ_BUDGET mutated inputs (default 2000 in `npm test`).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { LwM2mClient } from '../../src/client/lwm2m-client.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, uriPath } from '../../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../src/coap/udp-codec.js';
import { LwM2mPath } from '../../src/model/path.js';
import { recordsToJson } from '../../src/model/records-json.js';
import { seededRandom } from '../../src/random.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import type { MemoryChannel } from '../../src/transport/memory-channel.js';
import { readCapture } from '../support/captures.js';
import { rigInstances, rigModel } from '../support/client-rig.js';
import { settle } from '../support/coap-driver.js';
import { mulberry32, mutate } from '../support/mutate.js';
import { requireShared } from '../support/shared.js';
import { TEST_OBJECT } from '../support/test-model.js';

const BUDGET = Number(process.env.PETREL_FUZZ_BUDGET ?? 2000);
const SERVER = { address: '10.0.0.1', port: 5683 };
const CLIENT = { address: '10.0.0.2', port: 56830 };
/** The client endpoint's per-peer observe limit (DEFAULT_ENDPOINT_LIMITS.maxObserveRelationsPerPeer). */
const MAX_OBSERVATIONS_PER_PEER = 1000;
/** Simulated time a CON request may take to be answered (piggyback timeout 500 ms, handlers sync). */
const ANSWER_WITHIN_MS = 5000;

// ---- the hostile server ----

/** What the client sent back for one request. */
interface Outcome {
  /** The ACK, RST or response that answers the request's message id (CON) or token (NON). */
  readonly messages: CoapMessage[];
  /** The response code (`2.05`), undefined when only an empty ACK/RST came. */
  readonly code: string | undefined;
  readonly reset: boolean;
  /** Simulated ms it took. */
  readonly elapsed: number;
}

/**
 * A raw CoAP server on 10.0.0.1:5683 that answers 2.01 to POST /rd (2.04 Updates, 2.02
 * De-register) and a client registered with it over a MemoryNetwork on a fake clock. Datagrams
 * sent with `exchange` come from the server's own address and port; the client's answers are
 * tapped on the server's channel.
 */
class Hostile {
  readonly network = new MemoryNetwork();
  readonly clock = new FakeClock(1_000_000);
  readonly channel: MemoryChannel;
  readonly endpoint: CoapEndpoint;
  readonly client: LwM2mClient;
  readonly errors: Error[] = [];
  readonly executed: { path: string }[] = [];
  /** Everything the client sent to the server, in order. */
  readonly inbox: CoapMessage[] = [];
  #mid = 1;

  constructor() {
    this.channel = this.network.channel(SERVER.address, SERVER.port);
    this.endpoint = new CoapEndpoint({ channel: this.channel, clock: this.clock, random: seededRandom(3) });
    this.endpoint.onRequest(({ message }) => {
      const path = uriPath(message).join('/');
      if (message.code === CoapCode.POST && path === 'rd')
        return {
          code: CoapCode.CREATED,
          options: new OptionsBuilder().strings(OptionNumber.LOCATION_PATH, ['rd', 'h0']).build(),
        };
      if (message.code === CoapCode.POST) return { code: CoapCode.CHANGED };
      if (message.code === CoapCode.DELETE) return { code: CoapCode.DELETED };
      return { code: CoapCode.NOT_FOUND };
    });
    this.channel.onReceive((_peer, bytes) => {
      try {
        this.inbox.push(decodeCoapUdp(bytes));
      } catch (e) {
        this.errors.push(new Error(`the client sent an undecodable datagram: ${String(e)}`));
      }
    });
    const { temperature, test0, test1 } = rigInstances(this.executed as never);
    this.client = new LwM2mClient({
      endpoint: 'petrel-hostile',
      servers: [{ uri: `coap://${SERVER.address}:${SERVER.port}`, lifetime: 86_400 }],
      model: rigModel,
      channel: this.network.channel(CLIENT.address, CLIENT.port),
      clock: this.clock,
      now: () => this.clock.now(),
      random: seededRandom(9),
      device: { manufacturer: 'Petrel', modelNumber: 'hostile-1', now: () => 1_700_000_000 },
      instances: [temperature, test0, test1],
    });
    this.client.on('error', (e) => this.errors.push(e));
  }

  static async open(): Promise<Hostile> {
    const h = new Hostile();
    await h.client.start();
    await h.run(() => h.registered(), 60_000);
    assert.ok(h.registered(), 'the client registered with the raw server');
    return h;
  }

  registered(): boolean {
    return this.client.status(1)?.state === 'registered';
  }

  /** Lets deliveries run until `done`; advances the fake clock in 100 ms steps when idle. */
  async run(done: () => boolean, maxMs: number): Promise<number> {
    const start = this.clock.now();
    while (!done() && this.clock.now() - start <= maxMs) {
      await settle(1);
      if (done()) break;
      if (this.network.pending > 0) continue;
      await settle(2);
      if (done() || this.network.pending > 0) continue;
      this.clock.advance(100);
    }
    return this.clock.now() - start;
  }

  /** Sends datagrams from the server's address without waiting for answers. */
  burst(datagrams: readonly Uint8Array[]): void {
    for (const d of datagrams) this.channel.send(CLIENT, d);
  }

  /** A fresh message id for a request of ours (kept apart from the client's own ids). */
  nextMid(): number {
    const mid = this.#mid;
    this.#mid = (this.#mid % 0xfff0) + 1;
    return mid;
  }

  /**
   * Sends one datagram from the server's address and collects the answer. For a CON request: the
   * ACK (piggybacked, or empty followed by a separate response with the same token) or an RST,
   * within `maxMs` simulated ms. For anything else: whatever came back once the network is idle.
   */
  async exchange(bytes: Uint8Array, maxMs = ANSWER_WITHIN_MS): Promise<Outcome> {
    let message: CoapMessage | undefined;
    try {
      message = decodeCoapUdp(bytes);
    } catch {
      message = undefined;
    }
    const from = this.inbox.length;
    this.channel.send(CLIENT, bytes);
    // The header as sent, even when the rest does not decode (a CON with a format error is rejected
    // with an RST carrying its message id, RFC 7252 §4.2).
    const mid = bytes.length >= 4 ? (bytes[2]! << 8) | bytes[3]! : -1;
    const token = message ? Buffer.from(message.token).toString('hex') : undefined;
    const mine = (): CoapMessage[] =>
      this.inbox
        .slice(from)
        .filter(
          (m) =>
            ((m.type === 'ACK' || m.type === 'RST') && m.messageId === mid) ||
            (m.code >> 5 !== 0 && Buffer.from(m.token).toString('hex') === token),
        );
    const answered = (): boolean => mine().some((m) => m.type === 'RST' || m.code !== 0);
    let elapsed = 0;
    if (isConfirmable(bytes)) elapsed = await this.run(answered, maxMs);
    else {
      // NON messages and malformed datagrams: let everything settle, with fake time for a
      // piggyback timeout.
      await this.run(() => this.network.pending === 0, 1000);
      this.clock.advance(600);
      await settle(3);
      await this.run(() => this.network.pending === 0, 1000);
    }
    const messages = mine();
    const response = messages.find((m) => m.code !== 0);
    return {
      messages,
      code: response ? formatCode(response.code) : undefined,
      reset: messages.some((m) => m.type === 'RST'),
      elapsed,
    };
  }

  /** The application's view of the whole tree (values and structure), for before/after comparisons. */
  snapshot(): string {
    return JSON.stringify(recordsToJson(this.client.read(LwM2mPath.ROOT)), (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v,
    );
  }

  async close(): Promise<void> {
    const stopping = this.client.stop().catch(() => undefined);
    await this.run(() => this.network.pending === 0, 10_000);
    this.clock.advance(300_000);
    await this.run(() => this.network.pending === 0, 10_000);
    await stopping;
    await this.endpoint.close();
  }
}

/** A CoAP version-1 CON header: the client must answer it with an ACK or an RST (RFC 7252 §4.2). */
function isConfirmable(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0]! >> 6 === 1 && ((bytes[0]! >> 4) & 3) === 0;
}

/** A request datagram from the server. */
function request(
  code: number,
  path: string,
  options: {
    query?: readonly string[];
    accept?: number;
    format?: number;
    observe?: number;
    payload?: Uint8Array | string;
    token?: Uint8Array;
    type?: 'CON' | 'NON';
    mid: number;
  },
): Uint8Array {
  const opts = new OptionsBuilder();
  if (options.observe !== undefined) opts.uint(OptionNumber.OBSERVE, options.observe);
  const segments = path === '/' ? [] : path.slice(1).split('/');
  opts.uriPath(segments);
  if (options.format !== undefined) opts.uint(OptionNumber.CONTENT_FORMAT, options.format);
  if (options.query) opts.uriQuery(options.query);
  if (options.accept !== undefined) opts.uint(OptionNumber.ACCEPT, options.accept);
  const payload =
    typeof options.payload === 'string'
      ? new TextEncoder().encode(options.payload)
      : (options.payload ?? new Uint8Array(0));
  return encodeCoapUdp({
    type: options.type ?? 'CON',
    code,
    messageId: options.mid,
    token: options.token ?? Uint8Array.of(0xf0, options.mid >> 8, options.mid & 0xff),
    options: opts.build(),
    payload,
  });
}

/** Well-formed requests on our own tree, as seeds next to the captured ones (the captures use /1/1). */
function ownSeeds(): Uint8Array[] {
  const t = `/${TEST_OBJECT}`;
  const senml = (records: { n: string; v?: number; vs?: string }[]): string => JSON.stringify(records);
  const mid = 0xfff0;
  return [
    request(CoapCode.GET, '/3303/0/5700', { mid }),
    request(CoapCode.GET, '/3303/0', { mid, accept: 112 }),
    request(CoapCode.GET, '/1/0', { mid, accept: 40, query: ['depth=3'] }),
    request(CoapCode.GET, '/3303/0/5700', { mid, observe: 0, query: ['pmin=1', 'pmax=5'] }),
    request(CoapCode.PUT, '/3303/0/5700', { mid, query: ['pmin=2', 'gt=30', 'lt=10', 'st=1'] }),
    request(CoapCode.PUT, '/1/0/1', { mid, format: 0, payload: '86400' }),
    request(CoapCode.PUT, `${t}/0/15`, {
      mid,
      format: 110,
      payload: senml([{ n: `${t}/0/15/0`, vs: 'Blue' }]),
    }),
    request(CoapCode.POST, `${t}/0`, { mid, format: 110, payload: senml([{ n: `${t}/0/5`, vs: 'x' }]) }),
    request(CoapCode.POST, '/3303', {
      mid,
      format: 110,
      payload: senml([
        { n: '/3303/7/5700', v: 1.5 },
        { n: '/3303/7/5701', vs: 'Cel' },
      ]),
    }),
    request(CoapCode.POST, '/3303/0/5605', { mid }),
    request(CoapCode.POST, `${t}/0/9`, { mid, format: 0, payload: "0,1='abc'" }),
    request(CoapCode.DELETE, `${t}/0/15/1`, { mid }),
    request(CoapCode.DELETE, '/3303/0', { mid }),
    request(CoapCode.FETCH, '/', {
      mid,
      format: 110,
      accept: 112,
      payload: senml([{ n: '/3/0/0' }, { n: '/3303/0' }]),
    }),
    request(CoapCode.IPATCH, '/', {
      mid,
      format: 110,
      payload: senml([
        { n: '/3303/0/5701', vs: 'K' },
        { n: `${t}/0/5`, vs: 'y' },
      ]),
    }),
  ];
}

/** The server->client requests of the two LwM2M client captures. */
function capturedRequests(dir: string): Uint8Array[] {
  return ['lwm2m-1.2-client-udp.jsonl', 'lwm2m-1.1-client-udp.jsonl'].flatMap((file) =>
    readCapture(dir, file)
      .filter(
        (l) => l.dir === 'server->client' && l.code !== null && l.code.startsWith('0.') && l.code !== '0.00',
      )
      .map((l) => new Uint8Array(Buffer.from(l.hex, 'hex'))),
  );
}

/** Catches what must never happen: an exception or rejection nobody handled. */
function trapUncaught(t: TestContext): Error[] {
  const caught: Error[] = [];
  const onError = (e: unknown): void => void caught.push(e instanceof Error ? e : new Error(String(e)));
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  t.after(() => {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  });
  return caught;
}

const isServerError = (code: string | undefined): boolean => code !== undefined && code.startsWith('5.');
const refused = (code: string | undefined): boolean => code !== undefined && !code.startsWith('2.');

describe(`client downlink fuzzing (${BUDGET} mutated requests)`, () => {
  it(
    'mutated captured requests: no crash, every CON answered, no 5.xx, refusals change nothing',
    { timeout: 10 * 60_000 },
    async (t) => {
      const dir = requireShared(t);
      if (!dir) return;
      const uncaught = trapUncaught(t);
      const seeds = [...capturedRequests(dir), ...ownSeeds()];
      assert.ok(seeds.length > 150, `${seeds.length} seed requests`);
      const rand = mulberry32(0xc11e47);
      const codes = new Map<string, number>();
      const failures: string[] = [];
      let h = await Hostile.open();
      let rebuilt = 0;
      let unanswered = 0;
      try {
        for (let i = 0; i < BUDGET; i++) {
          // A mutant that disabled the account, deleted /1/0 or changed the lifetime may leave the
          // client unregistered: start over so the rest still reach the handler.
          if (!h.registered()) {
            await h.close();
            h = await Hostile.open();
            rebuilt++;
          }
          const seed = seeds[i % seeds.length]!;
          // Half the mutants keep the header and token, so more of them reach the LwM2M layer.
          const head = rand() < 0.5 ? 4 + (seed[0]! & 0x0f) : 0;
          const tail = mutate(seed.subarray(head), rand, {
            maxEdits: 3,
            interesting: [0x00, 0x01, 0x0d, 0x0e, 0x10, 0x40, 0x50, 0x60, 0x7f, 0x80, 0xd0, 0xe0, 0xff],
            donors: seeds,
          });
          const bytes = Uint8Array.from([...seed.subarray(0, head), ...tail]);
          // A fresh message id for each mutant, so deduplication does not answer for the handler.
          if (bytes.length >= 4) {
            const mid = h.nextMid();
            bytes[2] = mid >> 8;
            bytes[3] = mid & 0xff;
          }
          const hex = Buffer.from(bytes).toString('hex');
          let message: CoapMessage | undefined;
          try {
            message = decodeCoapUdp(bytes);
          } catch {
            message = undefined;
          }
          const before = h.snapshot();
          const out = await h.exchange(bytes);
          const key = out.code ?? (out.reset ? 'RST' : message ? 'none' : 'undecodable');
          codes.set(key, (codes.get(key) ?? 0) + 1);
          if (isConfirmable(bytes) && out.code === undefined && !out.reset) {
            unanswered++;
            failures.push(`mutant ${i} (${hex}): CON not answered within ${ANSWER_WITHIN_MS} ms`);
          }
          if (isServerError(out.code)) failures.push(`mutant ${i} (${hex}): answered ${out.code}`);
          if (refused(out.code) && h.snapshot() !== before)
            failures.push(`mutant ${i} (${hex}): answered ${out.code} but the tree changed`);
          if (h.client.notifications.size > MAX_OBSERVATIONS_PER_PEER)
            failures.push(`mutant ${i}: ${h.client.notifications.size} observations`);
          if (failures.length >= 10) break;
        }
        assert.deepEqual(h.errors.map(String), [], 'client error events');
      } finally {
        await h.close();
      }
      t.diagnostic(`answers: ${JSON.stringify(Object.fromEntries(codes))}; client rebuilt ${rebuilt} times`);
      assert.deepEqual(uncaught.map(String), [], 'uncaught exceptions or rejections');
      assert.deepEqual(failures, []);
      assert.equal(unanswered, 0);
      // The mutator must reach the handler: both successes and refusals by the LwM2M layer.
      assert.ok(
        (codes.get('2.05') ?? 0) > 0 && [...codes.keys()].some((c) => c.startsWith('4.')),
        JSON.stringify(Object.fromEntries(codes)),
      );
    },
  );
});

describe('client against well-formed hostile requests', () => {
  let h: Hostile;
  const caught: Error[] = [];
  const onError = (e: unknown): void => void caught.push(e instanceof Error ? e : new Error(String(e)));
  before(async () => {
    process.on('uncaughtException', onError);
    process.on('unhandledRejection', onError);
    h = await Hostile.open();
  });
  after(async () => {
    await h.close();
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
    assert.deepEqual(caught.map(String), []);
  });

  /** Sends, checks the CON got an answer that is no 5.xx, and that a refusal left the tree alone. */
  async function expectNo5xx(bytes: Uint8Array, what: string): Promise<Outcome> {
    const before = h.snapshot();
    const out = await h.exchange(bytes);
    assert.ok(out.code !== undefined || out.reset, `${what}: no answer`);
    assert.ok(!isServerError(out.code), `${what}: answered ${out.code}`);
    if (refused(out.code))
      assert.equal(h.snapshot(), before, `${what}: refused (${out.code}) but the tree changed`);
    assert.ok(h.registered(), `${what}: the client is still registered`);
    return out;
  }

  it('Discover with huge, negative, repeated and junk depth values', async () => {
    for (const depth of ['4', '99', '65536', '-1', '1e3', '', '3 ', '0x2', '١', '9'.repeat(240)])
      for (const path of ['/3', '/3/0', '/3/0/7', '/', '/3/0/7/0']) {
        const out = await expectNo5xx(
          request(CoapCode.GET, path, { mid: h.nextMid(), accept: 40, query: [`depth=${depth}`] }),
          `Discover ${path}?depth=${depth.slice(0, 10)}`,
        );
        assert.ok(out.code?.startsWith('4.'), `Discover ${path}?depth=${depth.slice(0, 10)}: ${out.code}`);
      }
    const twice = await expectNo5xx(
      request(CoapCode.GET, '/3', { mid: h.nextMid(), accept: 40, query: ['depth=1', 'depth=2'] }),
      'two depths',
    );
    assert.equal(twice.code, '4.00');
  });

  it('Create with instance id 65535, 65534 and past the id space', async () => {
    // TLV: one Object Instance (16-bit id) holding resource 4 (unsigned) = 1.
    const create = (iid: number): Uint8Array =>
      request(CoapCode.POST, `/${TEST_OBJECT}`, {
        mid: h.nextMid(),
        format: 11542,
        payload: Uint8Array.of(0x23, iid >> 8, iid & 0xff, 0xc1, 0x04, 0x01),
      });
    const ids = (): number[] => h.client.tree.instanceIds(TEST_OBJECT);
    const before = ids();
    const out = await expectNo5xx(create(65535), 'Create with id 65535');
    // 65535 is no instance id (MAX_ID is reserved): the client assigns one, or refuses.
    assert.ok(!ids().includes(65535), 'no instance 65535');
    if (out.code === '2.01') assert.equal(ids().length, before.length + 1);
    else assert.equal(out.code, '4.00');
    const top = await expectNo5xx(create(65534), 'Create with id 65534');
    assert.equal(top.code, '2.01');
    assert.ok(ids().includes(65534));
    const again = await expectNo5xx(create(65534), 'Create of /65534 again');
    assert.equal(again.code, '4.00');
    // Creates on objects the client lacks, bootstrap-only objects, single-instance /3.
    for (const path of ['/9999', '/0', '/21', '/3']) {
      const o = await expectNo5xx(
        request(CoapCode.POST, path, {
          mid: h.nextMid(),
          format: 11542,
          payload: Uint8Array.of(0x23, 0, 5, 0xc1, 0x00, 0x01),
        }),
        `Create ${path}`,
      );
      assert.ok(o.code?.startsWith('4.'), `Create ${path}: ${o.code}`);
    }
  });

  it('Write-Composite with thousands of records', async () => {
    const t = `/${TEST_OBJECT}`;
    // 1500 distinct resource instances of a multiple string resource: either taken whole or refused whole.
    const many = Array.from({ length: 1500 }, (_, i) => ({ n: `${t}/0/15/${i}`, vs: 'v' }));
    const big = await expectNo5xx(
      request(CoapCode.IPATCH, '/', { mid: h.nextMid(), format: 110, payload: JSON.stringify(many) }),
      'Write-Composite of 1500 resource instances',
    );
    if (big.code === '2.04') assert.equal(h.client.read(`${t}/0/15`).length, 1500);
    // 2000 records on one path: duplicates are refused, nothing written.
    const dup = Array.from({ length: 2000 }, (_, i) => ({ n: '/3303/0/5701', vs: String(i % 10) }));
    const d = await expectNo5xx(
      request(CoapCode.IPATCH, '/', { mid: h.nextMid(), format: 110, payload: JSON.stringify(dup) }),
      'Write-Composite of 2000 duplicates',
    );
    assert.equal(d.code, '4.00');
    // 1500 writes and one bad record at the end: atomic, nothing written.
    const bad = [
      ...Array.from({ length: 1500 }, (_, i) => ({ n: `${t}/0/15/${i}`, vs: 'w' })),
      { n: '/3/0/0', vs: 'x' },
    ];
    const b = await expectNo5xx(
      request(CoapCode.IPATCH, '/', { mid: h.nextMid(), format: 110, payload: JSON.stringify(bad) }),
      'Write-Composite with a read-only record last',
    );
    assert.equal(b.code, '4.05');
    // Records on objects the client does not have, on bootstrap-only objects, on 4-segment paths of single resources.
    for (const n of ['/9999/0/0', '/0/0/0', '/3303/0/5700/0', '/3303/0', '/']) {
      const one = [
        { n: '/3303/0/5701', vs: 'K' },
        { n, v: 1 },
      ];
      await expectNo5xx(
        request(CoapCode.IPATCH, '/', { mid: h.nextMid(), format: 110, payload: JSON.stringify(one) }),
        `Write-Composite with ${n}`,
      );
    }
  });

  it('Execute with long, malformed and many arguments', async () => {
    const long = `0='${'a'.repeat(60_000)}'`;
    await expectNo5xx(
      request(CoapCode.POST, '/3303/0/5605', { mid: h.nextMid(), format: 0, payload: long }),
      'long argument',
    );
    await expectNo5xx(
      request(CoapCode.POST, '/3303/0/5605', {
        mid: h.nextMid(),
        format: 0,
        payload: '0,'.repeat(20_000) + '0',
      }),
      'repeated digits',
    );
    const bad = await expectNo5xx(
      request(CoapCode.POST, '/3303/0/5605', { mid: h.nextMid(), format: 0, payload: "0='\u00e9'" }),
      'non-ASCII argument',
    );
    assert.equal(bad.code, '4.00');
    await expectNo5xx(
      request(CoapCode.POST, '/3303/0/5605', {
        mid: h.nextMid(),
        query: Array.from({ length: 200 }, (_, i) => `${i % 10}='x'`),
      }),
      '200 query arguments',
    );
    // Execute on what is not executable, or on every depth.
    for (const path of ['/3303/0/5700', '/3303/0', '/3303', '/3303/0/5605/0', '/3/0/0/0'])
      assert.ok(
        (
          await expectNo5xx(request(CoapCode.POST, path, { mid: h.nextMid() }), `Execute ${path}`)
        ).code?.startsWith('4.'),
      );
  });

  it('an Observe flood from many tokens stays bounded', async () => {
    const flood = 1500;
    const observe = (i: number, value: 0 | 1): Uint8Array =>
      request(CoapCode.GET, i % 2 === 0 ? '/3303/0/5700' : '/3303/0', {
        mid: h.nextMid(),
        observe: value,
        token: Uint8Array.of(0xab, i >> 8, i & 0xff, 0x01),
      });
    const answers = (from: number): CoapMessage[] =>
      h.inbox.slice(from).filter((m) => m.type === 'ACK' && m.code === CoapCode.CONTENT);
    let from = h.inbox.length;
    for (let i = 0; i < flood; i += 100) {
      h.burst(Array.from({ length: 100 }, (_, k) => observe(i + k, 0)));
      await h.run(() => h.network.pending === 0, 1000);
      assert.ok(
        h.client.notifications.size <= MAX_OBSERVATIONS_PER_PEER,
        `${h.client.notifications.size} observations after ${i + 100} Observes`,
      );
    }
    assert.equal(answers(from).length, flood, 'every Observe answered 2.05');
    assert.equal(h.client.notifications.size, MAX_OBSERVATIONS_PER_PEER, 'the newest relations are kept');
    // Cancel 500 of the kept ones (GET with Observe=1, same token).
    from = h.inbox.length;
    h.burst(Array.from({ length: 500 }, (_, k) => observe(flood - 1 - k, 1)));
    await h.run(() => h.network.pending === 0, 1000);
    assert.equal(answers(from).length, 500);
    assert.equal(h.client.notifications.size, MAX_OBSERVATIONS_PER_PEER - 500);
    // A value change notifies the observations in force, no more; the raw server resets each
    // notification (it knows no such token), which ends them (RFC 7641 §3.6).
    from = h.inbox.length;
    h.client.set('/3303/0/5700', 99.5);
    await h.run(() => h.network.pending === 0, 2000);
    const notifications = h.inbox.slice(from).filter((m) => m.code === CoapCode.CONTENT);
    assert.equal(notifications.length, MAX_OBSERVATIONS_PER_PEER - 500);
    assert.equal(h.client.notifications.size, 0);
  });

  it('4-segment paths on every method are refused without changing the tree', async () => {
    const paths = [
      '/3/0/0/0',
      '/3303/0/5700/0',
      '/1/0/1/0',
      '/0/0/0/0',
      '/2/0/2/0',
      `/${TEST_OBJECT}/0/5/0`,
      '/65534/0/0/0',
    ];
    const methods: [string, (path: string) => Uint8Array][] = [
      ['Read', (p) => request(CoapCode.GET, p, { mid: h.nextMid() })],
      ['Read TLV', (p) => request(CoapCode.GET, p, { mid: h.nextMid(), accept: 11542 })],
      ['Discover', (p) => request(CoapCode.GET, p, { mid: h.nextMid(), accept: 40 })],
      ['Observe', (p) => request(CoapCode.GET, p, { mid: h.nextMid(), observe: 0 })],
      ['Write-Attributes', (p) => request(CoapCode.PUT, p, { mid: h.nextMid(), query: ['pmin=1'] })],
      ['Write text', (p) => request(CoapCode.PUT, p, { mid: h.nextMid(), format: 0, payload: '1' })],
      [
        'Write SenML',
        (p) =>
          request(CoapCode.PUT, p, {
            mid: h.nextMid(),
            format: 110,
            payload: JSON.stringify([{ n: p, v: 1 }]),
          }),
      ],
      ['Execute', (p) => request(CoapCode.POST, p, { mid: h.nextMid() })],
      [
        'Create',
        (p) =>
          request(CoapCode.POST, p, {
            mid: h.nextMid(),
            format: 110,
            payload: JSON.stringify([{ n: p, v: 1 }]),
          }),
      ],
      ['Delete', (p) => request(CoapCode.DELETE, p, { mid: h.nextMid() })],
      [
        'FETCH',
        (p) => request(CoapCode.FETCH, p, { mid: h.nextMid(), format: 110, payload: '[{"n":"/3/0/0"}]' }),
      ],
      [
        'iPATCH',
        (p) =>
          request(CoapCode.IPATCH, p, {
            mid: h.nextMid(),
            format: 110,
            payload: '[{"n":"/3/0/0","vs":"x"}]',
          }),
      ],
    ];
    for (const path of paths)
      for (const [name, build] of methods) {
        const out = await expectNo5xx(build(path), `${name} ${path}`);
        // Only Read/Observe of an existing multiple resource's instance, and Write-Attributes on
        // it, or Delete of such an instance, may succeed; nothing here names one.
        assert.ok(out.code?.startsWith('4.'), `${name} ${path}: ${out.code}`);
      }
  });
});
