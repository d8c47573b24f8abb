// Robustness of the server against hostile clients: every client->server request of the captures
// (Register, Update, Send, De-register, Bootstrap-Request, Bootstrap-Pack-Request), mutated with a
// seeded RNG and sent from many source ports, and well-formed but hostile floods (thousands of
// Registers, 10 000-link object lists, extreme lifetimes, 32 Profile IDs, Updates to random ids,
// Sends of 10 000 records, De-register racing Update, mass expiry). The server must never throw,
// answer every CON (response or RST), answer no peer fault with 5.xx, emit no 'error' for a peer
// fault, and keep its store consistent with the registrations it announced.
// Budget: PETREL_FUZZ_BUDGET mutated inputs (default 1500 in `npm test`).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FakeClock } from '../../src/clock.js';
import { BlockwiseLayer } from '../../src/coap/blockwise.js';
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, locationPath, uriPath } from '../../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../src/coap/udp-codec.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { Value } from '../../src/model/data-types.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { seededRandom } from '../../src/random.js';
import { LwM2mServer } from '../../src/server/lwm2m-server.js';
import type { LwM2mServerOptions } from '../../src/server/lwm2m-server.js';
import { MemoryNetwork } from '../../src/transport/memory-channel.js';
import type { MemoryChannel } from '../../src/transport/memory-channel.js';
import { readCapture } from '../support/captures.js';
import { settle } from '../support/coap-driver.js';
import { mulberry32, mutate } from '../support/mutate.js';
import { requireShared } from '../support/shared.js';

const BUDGET = Number(process.env.PETREL_FUZZ_BUDGET ?? 1500);
const SERVER = { address: '10.0.0.1', port: 5683 };
/** Simulated time a CON request may take to be answered (piggyback timeout 500 ms, handlers fast). */
const ANSWER_WITHIN_MS = 5000;
/** Source ports the mutants come from. */
const SOURCE_PORTS = 64;

// ---- the hostile clients ----

/** What the server sent back for one request. */
interface Outcome {
  readonly messages: CoapMessage[];
  /** The response code (`2.01`), undefined when only an empty ACK/RST came. */
  readonly code: string | undefined;
  readonly reset: boolean;
}

/** A raw UDP source: sends bytes as given, keeps what the server answers. */
class Source {
  readonly inbox: CoapMessage[] = [];
  constructor(
    readonly channel: MemoryChannel,
    undecodable: Error[],
  ) {
    channel.onReceive((_peer, bytes) => {
      try {
        this.inbox.push(decodeCoapUdp(bytes));
      } catch (e) {
        undecodable.push(new Error(`the server sent an undecodable datagram: ${String(e)}`));
      }
    });
  }

  get port(): number {
    return this.channel.local.port;
  }
}

/**
 * A server on 10.0.0.1:5683 over a MemoryNetwork on a fake clock, hostile sources on 10.0.0.2,
 * and a model of what should be stored: the endpoints announced `registered` and not yet
 * `deregistered` or `expired`.
 */
class Rig {
  readonly network = new MemoryNetwork();
  readonly clock = new FakeClock(1_000_000);
  readonly server: LwM2mServer;
  /** 'error' events of the server. */
  readonly errors: Error[] = [];
  /** Faults the CoAP endpoint swallowed (handler exceptions, send errors). */
  readonly internal: unknown[] = [];
  readonly undecodable: Error[] = [];
  /** Endpoints announced registered and not removed since. */
  readonly live = new Set<string>();
  /** Every event, in order, by endpoint: `registered:<id>`, `updated:<id>`, `deregistered:<id>` ... */
  readonly events = new Map<string, string[]>();
  readonly sends: { endpoint: string; records: number }[] = [];
  readonly #sources = new Map<number, Source>();
  #mid = 1;

  constructor(options: Partial<LwM2mServerOptions> = {}) {
    this.server = new LwM2mServer({
      channel: this.network.channel(SERVER.address, SERVER.port),
      clock: this.clock,
      now: () => this.clock.now(),
      random: seededRandom(5),
      requestTimeout: 2000,
      sendPolicy: 'accept',
      coap: { onError: (e: unknown) => void this.internal.push(e) },
      ...options,
    });
    const log = (endpoint: string, entry: string): void => {
      const list = this.events.get(endpoint) ?? [];
      list.push(entry);
      this.events.set(endpoint, list);
    };
    this.server.on('error', (e) => this.errors.push(e));
    this.server.on('registered', (reg) => {
      this.live.add(reg.endpoint);
      log(reg.endpoint, `registered:${reg.id}`);
    });
    this.server.on('updated', (reg) => log(reg.endpoint, `updated:${reg.id}`));
    this.server.on('deregistered', (reg) => {
      this.live.delete(reg.endpoint);
      log(reg.endpoint, `deregistered:${reg.id}`);
    });
    this.server.on('expired', (reg) => {
      this.live.delete(reg.endpoint);
      log(reg.endpoint, `expired:${reg.id}`);
    });
    this.server.on('awake', (reg) => log(reg.endpoint, `awake:${reg.id}`));
    this.server.on('sleeping', (reg) => log(reg.endpoint, `sleeping:${reg.id}`));
    this.server.on('send', (e) =>
      this.sends.push({ endpoint: e.registration.endpoint, records: e.result.records.length }),
    );
  }

  static async open(options: Partial<LwM2mServerOptions> = {}): Promise<Rig> {
    const rig = new Rig(options);
    await rig.server.start();
    return rig;
  }

  /** The source on 10.0.0.2:`port`, bound on first use. */
  source(port: number, address = '10.0.0.2'): Source {
    const key = address === '10.0.0.2' ? port : -port;
    let s = this.#sources.get(key);
    if (!s) {
      s = new Source(this.network.channel(address, port), this.undecodable);
      this.#sources.set(key, s);
    }
    return s;
  }

  nextMid(): number {
    const mid = this.#mid;
    this.#mid = (this.#mid % 0xfff0) + 1;
    return mid;
  }

  /** Lets deliveries run until `done`; advances the fake clock in 100 ms steps when idle. */
  async run(done: () => boolean, maxMs: number): Promise<void> {
    const start = this.clock.now();
    while (!done() && this.clock.now() - start <= maxMs) {
      await settle(1);
      if (done()) break;
      if (this.network.pending > 0) continue;
      await settle(2);
      if (done() || this.network.pending > 0) continue;
      this.clock.advance(100);
    }
  }

  /** Lets everything in flight (and the onSent events after answers) happen, without fake time. */
  async idle(): Promise<void> {
    for (let i = 0; i < 1000 && this.network.pending > 0; i++) await settle(1);
    await settle(4);
  }

  /**
   * Sends one datagram from `source` and collects the answer: for a CON, the ACK (piggybacked or
   * empty then separate) or an RST within ANSWER_WITHIN_MS; otherwise whatever came once idle.
   */
  async exchange(source: Source, bytes: Uint8Array): Promise<Outcome> {
    let message: CoapMessage | undefined;
    try {
      message = decodeCoapUdp(bytes);
    } catch {
      message = undefined;
    }
    const from = source.inbox.length;
    source.channel.send(SERVER, bytes);
    const mid = bytes.length >= 4 ? (bytes[2]! << 8) | bytes[3]! : -1;
    const token = message ? hex(message.token) : undefined;
    const mine = (): CoapMessage[] =>
      source.inbox
        .slice(from)
        .filter(
          (m) =>
            ((m.type === 'ACK' || m.type === 'RST') && m.messageId === mid) ||
            (m.code >> 5 !== 0 && hex(m.token) === token),
        );
    const answered = (): boolean => mine().some((m) => m.type === 'RST' || m.code !== 0);
    if (isConfirmable(bytes)) await this.run(answered, ANSWER_WITHIN_MS);
    else {
      await this.idle();
      this.clock.advance(600);
      await this.idle();
    }
    await settle(2); // onSent (the registered/updated events) runs after the answer left
    const messages = mine();
    const response = messages.find((m) => m.code !== 0);
    return {
      messages,
      code: response ? formatCode(response.code) : undefined,
      reset: messages.some((m) => m.type === 'RST'),
    };
  }

  /** A well-formed request from a source, and its answer. */
  async call(source: Source, code: number, path: string[], fields: RequestFields = {}): Promise<Outcome> {
    return this.exchange(source, request(code, path, { ...fields, mid: this.nextMid() }));
  }

  async register(
    source: Source,
    endpoint: string,
    query: readonly string[] = ['lt=86400', 'lwm2m=1.1', 'b=U'],
    links = '</1/0>,</3/0>,</3303/0>',
  ): Promise<{ outcome: Outcome; id: string | undefined }> {
    const outcome = await this.call(source, CoapCode.POST, ['rd'], {
      query: [`ep=${endpoint}`, ...query],
      format: 40,
      payload: links,
    });
    const response = outcome.messages.find((m) => m.code === CoapCode.CREATED);
    const id = response ? locationPath(response).slice(1).join('/') : undefined;
    return { outcome, id };
  }

  /** What is wrong with the store: ids that do not resolve, a size or content other than the model's. */
  async inconsistencies(): Promise<string[]> {
    const out: string[] = [];
    const store = this.server.store;
    const regs = await this.server.registrations();
    const ids = new Set<string>();
    for (const reg of regs) {
      const byId = await store.getById(reg.id);
      if (byId?.endpoint !== reg.endpoint)
        out.push(`${reg.endpoint}: id ${reg.id} resolves to ${byId?.endpoint ?? 'nothing'}`);
      if (ids.has(reg.id)) out.push(`id ${reg.id} held twice`);
      ids.add(reg.id);
      if (!this.live.has(reg.endpoint)) out.push(`${reg.endpoint} stored but never announced registered`);
    }
    const size = await store.size;
    if (size !== this.live.size) out.push(`store.size ${size}, ${this.live.size} endpoints registered`);
    for (const ep of this.live)
      if (!(await store.get(ep))) out.push(`${ep} announced registered but not stored`);
    return out;
  }

  async close(): Promise<void> {
    await this.server.stop();
    for (const s of this.#sources.values()) await s.channel.close();
  }
}

interface RequestFields {
  query?: readonly string[];
  format?: number;
  accept?: number;
  payload?: Uint8Array | string;
  token?: Uint8Array;
  type?: 'CON' | 'NON';
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** A CoAP version-1 CON header: the server must answer it with an ACK or an RST (RFC 7252 §4.2). */
function isConfirmable(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0]! >> 6 === 1 && ((bytes[0]! >> 4) & 3) === 0;
}

/** A request datagram from a client. */
function request(code: number, path: readonly string[], fields: RequestFields & { mid: number }): Uint8Array {
  const opts = new OptionsBuilder().uriPath(path);
  if (fields.format !== undefined) opts.uint(OptionNumber.CONTENT_FORMAT, fields.format);
  if (fields.query) opts.uriQuery(fields.query);
  if (fields.accept !== undefined) opts.uint(OptionNumber.ACCEPT, fields.accept);
  const payload =
    typeof fields.payload === 'string'
      ? new TextEncoder().encode(fields.payload)
      : (fields.payload ?? new Uint8Array(0));
  return encodeCoapUdp({
    type: fields.type ?? 'CON',
    code,
    messageId: fields.mid,
    token: fields.token ?? Uint8Array.of(0xc0, fields.mid >> 8, fields.mid & 0xff),
    options: opts.build(),
    payload,
  });
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

/** Nothing went wrong that a peer could have caused: no error event, no swallowed fault, no bad datagram. */
function assertQuiet(rig: Rig, uncaught: Error[]): void {
  assert.deepEqual(uncaught.map(String), [], 'uncaught exceptions or rejections');
  assert.deepEqual(rig.errors.map(String), [], "the server's error events");
  assert.deepEqual(rig.internal.map(String), [], 'faults the CoAP endpoint swallowed');
  assert.deepEqual(rig.undecodable.map(String), [], 'undecodable answers');
}

const isServerError = (code: string | undefined): boolean => code !== undefined && code.startsWith('5.');

// ---- the captured uplinks as seeds ----

interface Seed {
  readonly bytes: Uint8Array;
  /** The capture's endpoint this request belongs to (Update, De-register and Send need it registered). */
  readonly endpoint: string;
  readonly kind: 'register' | 'update' | 'deregister' | 'send' | 'other';
}

/** The client->server requests of every capture with CoAP in clear, tagged with their endpoint. */
function capturedUplinks(dir: string): Seed[] {
  const files = [
    'lwm2m-1.2-client-udp.jsonl',
    'lwm2m-1.1-client-udp.jsonl',
    'bootstrap-1.2-client.jsonl',
    'bootstrap-1.1-client.jsonl',
  ];
  return files.flatMap((file) => {
    let endpoint = '';
    return readCapture(dir, file)
      .filter(
        (l) => l.dir === 'client->server' && l.code !== null && l.code.startsWith('0.') && l.code !== '0.00',
      )
      .map((l): Seed => {
        const bytes = new Uint8Array(Buffer.from(l.hex, 'hex'));
        const m = decodeCoapUdp(bytes);
        const path = uriPath(m);
        const ep = m.options
          .filter((o) => o.number === OptionNumber.URI_QUERY)
          .map((o) => Buffer.from(o.value).toString('utf8'))
          .find((q) => q.startsWith('ep='));
        if (path[0] === 'rd' && path.length === 1 && ep) endpoint = ep.slice(3);
        const kind =
          path[0] === 'rd'
            ? path.length === 1
              ? 'register'
              : m.code === CoapCode.DELETE
                ? 'deregister'
                : 'update'
            : path[0] === 'dp'
              ? 'send'
              : 'other';
        return { bytes, endpoint, kind };
      });
  });
}

/** The seed with its Uri-Path pointed at the live registration (`/rd/0` in the capture). */
function retarget(seed: Uint8Array, id: string): Uint8Array {
  const m = decodeCoapUdp(seed);
  const rest = m.options.filter((o) => o.number !== OptionNumber.URI_PATH);
  const path = new OptionsBuilder().uriPath(['rd', ...id.split('/')]).build();
  const options = [...path, ...rest].sort((a, b) => a.number - b.number);
  return encodeCoapUdp({ ...m, options });
}

describe(`server uplink fuzzing (${BUDGET} mutated requests)`, () => {
  it(
    'mutated captured uplinks from many ports: no crash, every CON answered, no 5.xx, consistent store',
    { timeout: 10 * 60_000 },
    async (t) => {
      const dir = requireShared(t);
      if (!dir) return;
      const uncaught = trapUncaught(t);
      const seeds = capturedUplinks(dir);
      assert.ok(seeds.length >= 20, `${seeds.length} seed requests`);
      assert.ok(seeds.some((s) => s.kind === 'send') && seeds.some((s) => s.kind === 'deregister'));
      const donors = seeds.map((s) => s.bytes);
      const registers = new Map(seeds.filter((s) => s.kind === 'register').map((s) => [s.endpoint, s.bytes]));
      // Each captured endpoint registers from its own home port, so its Sends come from where it
      // registered; mutants come from the home port or any of SOURCE_PORTS others.
      const home = new Map([...registers.keys()].map((ep, i) => [ep, 20_000 + i]));
      const rand = mulberry32(0x5e4e41);
      const codes = new Map<string, number>();
      const failures: string[] = [];
      const rig = await Rig.open();
      let reregistered = 0;
      try {
        for (let i = 0; i < BUDGET; i++) {
          const seed = seeds[i % seeds.length]!;
          let base = seed.bytes;
          if (seed.kind === 'update' || seed.kind === 'deregister' || seed.kind === 'send') {
            // The captured endpoint must be registered for these to reach the registration logic.
            let reg = await rig.server.getRegistration(seed.endpoint);
            if (!reg) {
              const clean = Uint8Array.from(registers.get(seed.endpoint)!);
              const mid = rig.nextMid();
              clean[2] = mid >> 8;
              clean[3] = mid & 0xff;
              const out = await rig.exchange(rig.source(home.get(seed.endpoint)!), clean);
              assert.equal(out.code, '2.01', `re-Register of ${seed.endpoint}`);
              reregistered++;
              reg = await rig.server.getRegistration(seed.endpoint);
            }
            if (seed.kind !== 'send' && reg) base = retarget(seed.bytes, reg.id);
          }
          // Half the mutants keep the header and token, so more of them reach the LwM2M layer.
          const head = rand() < 0.5 ? 4 + (base[0]! & 0x0f) : 0;
          const tail = mutate(base.subarray(head), rand, {
            maxEdits: 3,
            interesting: [0x00, 0x01, 0x0d, 0x0e, 0x10, 0x2c, 0x3b, 0x3c, 0x3d, 0x40, 0x7f, 0x80, 0xd0, 0xff],
            donors,
          });
          const bytes = Uint8Array.from([...base.subarray(0, head), ...tail]);
          if (bytes.length >= 4) {
            const mid = rig.nextMid();
            bytes[2] = mid >> 8;
            bytes[3] = mid & 0xff;
          }
          const port =
            rand() < 0.5 && seed.endpoint !== ''
              ? home.get(seed.endpoint)!
              : 30_000 + Math.floor(rand() * SOURCE_PORTS);
          const input = hex(bytes);
          let message: CoapMessage | undefined;
          try {
            message = decodeCoapUdp(bytes);
          } catch {
            message = undefined;
          }
          const out = await rig.exchange(rig.source(port), bytes);
          const key = out.code ?? (out.reset ? 'RST' : message ? 'none' : 'undecodable');
          codes.set(key, (codes.get(key) ?? 0) + 1);
          if (isConfirmable(bytes) && out.code === undefined && !out.reset)
            failures.push(`mutant ${i} (${input}): CON not answered within ${ANSWER_WITHIN_MS} ms`);
          if (isServerError(out.code)) failures.push(`mutant ${i} (${input}): answered ${out.code}`);
          if (rig.errors.length + rig.internal.length > 0) {
            failures.push(
              `mutant ${i} (${input}): ${[...rig.errors, ...rig.internal].map(String).join('; ')}`,
            );
            rig.errors.length = 0;
            rig.internal.length = 0;
          }
          if (i % 25 === 24 || i === BUDGET - 1)
            for (const f of await rig.inconsistencies()) failures.push(`after mutant ${i} (${input}): ${f}`);
          if (failures.length >= 10) break;
        }
        await rig.idle();
        failures.push(...(await rig.inconsistencies()));
      } finally {
        await rig.close();
      }
      t.diagnostic(
        `answers: ${JSON.stringify(Object.fromEntries(codes))}; captured endpoints registered again ${reregistered} times; ` +
          `${rig.live.size} registrations at the end`,
      );
      assertQuiet(rig, uncaught);
      assert.deepEqual(failures, []);
      // The mutator must reach the handler: successes and refusals by the LwM2M layer.
      assert.ok(
        (codes.get('2.01') ?? 0) > 0 &&
          (codes.get('2.04') ?? 0) > 0 &&
          [...codes.keys()].some((c) => c.startsWith('4.')),
        JSON.stringify(Object.fromEntries(codes)),
      );
    },
  );
});

// ---- well-formed floods ----

/** `gc()` when the flag can be turned on at run time (V8), else undefined. */
function collector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

function heapAfterGc(gc: (() => void) | undefined): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

/** A Petrel CoAP client with block-wise on its own port, for payloads larger than a datagram. */
function blockwiseClient(rig: Rig, port: number): { layer: BlockwiseLayer; endpoint: CoapEndpoint } {
  const endpoint = new CoapEndpoint({
    channel: rig.network.channel('10.0.0.3', port),
    clock: rig.clock,
    random: seededRandom(port),
  });
  return {
    endpoint,
    layer: new BlockwiseLayer(endpoint, { clock: rig.clock, random: seededRandom(port + 1) }),
  };
}

/** A block-wise request run to its end on the fake clock. */
async function bigRequest(
  rig: Rig,
  layer: BlockwiseLayer,
  code: number,
  path: string[],
  fields: { query?: string[]; format: number; payload: Uint8Array },
): Promise<CoapMessage> {
  const opts = new OptionsBuilder().uriPath(path).uint(OptionNumber.CONTENT_FORMAT, fields.format);
  if (fields.query) opts.uriQuery(fields.query);
  let result: CoapMessage | undefined;
  let error: unknown;
  layer.request(SERVER, { code, options: opts.build(), payload: fields.payload }, { timeout: 60_000 }).then(
    (m) => (result = m),
    (e: unknown) => (error = e),
  );
  await rig.run(() => result !== undefined || error !== undefined, 120_000);
  if (error !== undefined) throw error instanceof Error ? error : new Error('the block-wise request failed');
  assert.ok(result, 'the block-wise request finished');
  await rig.idle();
  return result;
}

const utf8 = new TextEncoder();

describe('server against well-formed hostile clients', () => {
  it('5000 Registers with distinct endpoints from distinct ports (heap per registration)', async (t) => {
    const uncaught = trapUncaught(t);
    const rig = await Rig.open();
    const count = 5000;
    const gc = collector();
    // Channels and datagrams are made before the baseline: only the server's growth is measured.
    const answers = new Map<string, number>();
    const channels = Array.from({ length: count }, (_, i) => {
      const ch = rig.network.channel('10.0.1.1', 10_000 + i);
      ch.onReceive((_peer, bytes) => {
        const code = bytes.length >= 2 ? formatCode(bytes[1]!) : 'short';
        answers.set(code, (answers.get(code) ?? 0) + 1);
      });
      return ch;
    });
    const datagrams = channels.map((_, i) =>
      request(CoapCode.POST, ['rd'], {
        mid: i + 1,
        query: [`ep=flood-${i}`, 'lt=86400', 'lwm2m=1.1', 'b=U'],
        format: 40,
        payload: '</1/0>,</3/0>,</3303/0>,</3303/1>',
      }),
    );
    try {
      const before = heapAfterGc(gc);
      const started = performance.now();
      for (let i = 0; i < count; i += 250) {
        for (let k = i; k < Math.min(count, i + 250); k++) channels[k]!.send(SERVER, datagrams[k]!);
        await rig.run(() => (answers.get('2.01') ?? 0) >= Math.min(count, i + 250), ANSWER_WITHIN_MS);
      }
      await rig.idle();
      const elapsed = performance.now() - started;
      const afterFlood = heapAfterGc(gc);
      assert.deepEqual(Object.fromEntries(answers), { '2.01': count });
      assert.equal(await rig.server.store.size, count);
      assert.equal(rig.live.size, count);
      assert.deepEqual(await rig.inconsistencies(), []);
      // Past EXCHANGE_LIFETIME (247 s) the CoAP dedup entries are gone: what stays is the
      // registrations themselves (and their expiry timers and peer index).
      rig.clock.advance(250_000);
      await rig.idle();
      for (let i = 0; i < 3; i++) channels[i]!.send(SERVER, datagrams[i]!); // lets lazy purges run
      await rig.idle();
      const afterLifetime = heapAfterGc(gc);
      const perFlood = Math.round((afterFlood - before) / count);
      const perReg = Math.round((afterLifetime - before) / count);
      t.diagnostic(
        `${count} Registers in ${Math.round(elapsed)} ms; heap growth per registration ${perFlood} B right after, ` +
          `${perReg} B after EXCHANGE_LIFETIME${gc ? '' : ' (no gc available: rough)'}`,
      );
      assert.equal(await rig.server.store.size, count, 'lt=86400: nobody expired');
      assertQuiet(rig, uncaught);
    } finally {
      await rig.close();
      for (const ch of channels) await ch.close();
    }
  });

  it('Registers and Updates with 10 000-link object lists (over Block1)', async (t) => {
    const uncaught = trapUncaught(t);
    const rig = await Rig.open();
    const { layer, endpoint } = blockwiseClient(rig, 40_000);
    try {
      // The link-format parser stops at 4096 links (LinkFormatError too-many-links): 4.00.
      const links = (n: number, shift = 0): Uint8Array =>
        utf8.encode(Array.from({ length: n }, (_, i) => `</${3303 + (i % 5) + shift}/${i}>`).join(','));
      const register = (ep: string, payload: Uint8Array): Promise<CoapMessage> =>
        bigRequest(rig, layer, CoapCode.POST, ['rd'], {
          query: [`ep=${ep}`, 'lt=600', 'lwm2m=1.2'],
          format: 40,
          payload,
        });
      const cases: [string, Uint8Array][] = [
        ['10 000 distinct links', links(10_000)],
        ['the same link 10 000 times', utf8.encode(Array.from({ length: 10_000 }, () => '</3/0>').join(','))],
        [
          '10 000 links with ver',
          utf8.encode(Array.from({ length: 10_000 }, (_, i) => `</${i % 60000}>;ver=1.${i % 10}`).join(',')),
        ],
      ];
      for (const [what, payload] of cases) {
        const out = formatCode((await register('many-links', payload)).code);
        assert.equal(out, '4.00', what);
      }
      assert.equal(await rig.server.getRegistration('many-links'), undefined);
      // 4000 links are taken; an Update with 10 000 is refused and changes nothing.
      assert.equal(formatCode((await register('many-links', links(4000))).code), '2.01');
      const reg = (await rig.server.getRegistration('many-links'))!;
      assert.equal(reg.objectLinks.length, 4000);
      assert.equal(
        reg.objects.reduce((n, o) => n + o.instances.length, 0),
        4000,
      );
      const update = await bigRequest(rig, layer, CoapCode.POST, ['rd', reg.id], {
        format: 40,
        payload: links(10_000, 1),
      });
      assert.equal(formatCode(update.code), '4.00');
      assert.deepEqual(await rig.server.getRegistration('many-links'), reg);
      const update2 = await bigRequest(rig, layer, CoapCode.POST, ['rd', reg.id], {
        format: 40,
        payload: links(4000, 1),
      });
      assert.equal(formatCode(update2.code), '2.04');
      assert.ok((await rig.server.getRegistration('many-links'))!.objects.some((o) => o.id === 3308));
      assert.deepEqual(await rig.inconsistencies(), []);
      assertQuiet(rig, uncaught);
    } finally {
      await endpoint.close();
      await rig.close();
    }
  });

  it('lt=0 never expires, lt=4294967295 stays, lt=4294967296 is refused', async (t) => {
    const uncaught = trapUncaught(t);
    const rig = await Rig.open();
    try {
      const zero = await rig.register(rig.source(1), 'lt-zero', ['lt=0', 'lwm2m=1.1']);
      assert.equal(zero.outcome.code, '2.01');
      const max = await rig.register(rig.source(2), 'lt-max', ['lt=4294967295', 'lwm2m=1.1']);
      assert.equal(max.outcome.code, '2.01');
      for (const lt of ['4294967296', '99999999999', '-1', '1.5', '', '0x10'])
        assert.equal(
          (await rig.register(rig.source(3), `lt-bad-${lt}`, [`lt=${lt}`, 'lwm2m=1.1'])).outcome.code,
          '4.00',
          `lt=${lt}`,
        );
      const start = rig.clock.now();
      const maxReg = (await rig.server.getRegistration('lt-max'))!;
      assert.equal(maxReg.expiresAt, maxReg.registeredAt + 4_294_967_295_000);
      assert.equal((await rig.server.getRegistration('lt-zero'))!.expiresAt, Infinity);
      // A short lifetime turned into 0 by an Update stops expiring too.
      const short = await rig.register(rig.source(4), 'lt-short', ['lt=5', 'lwm2m=1.1']);
      assert.equal(
        (await rig.call(rig.source(4), CoapCode.POST, ['rd', short.id!], { query: ['lt=0'] })).code,
        '2.04',
      );
      // Ten years of fake time, in day steps (timers past setTimeout's 2^31-1 ms are re-armed).
      for (let day = 0; day < 3650; day++) rig.clock.advance(86_400_000);
      await rig.idle();
      assert.ok(rig.clock.now() - start >= 3650 * 86_400_000);
      assert.deepEqual((await rig.server.registrations()).map((r) => r.endpoint).sort(), [
        'lt-max',
        'lt-short',
        'lt-zero',
      ]);
      // ... and lt=4294967295 expires after its 136 years.
      rig.clock.advance(4_294_967_295_000);
      await rig.idle();
      assert.equal(await rig.server.getRegistration('lt-max'), undefined);
      assert.ok(rig.events.get('lt-max')?.some((e) => e.startsWith('expired:')));
      assert.ok(await rig.server.getRegistration('lt-zero'));
      assert.deepEqual(await rig.inconsistencies(), []);
      assertQuiet(rig, uncaught);
    } finally {
      await rig.close();
    }
  });

  it('pid lists of 32 Profile IDs', async (t) => {
    const uncaught = trapUncaught(t);
    const profiles = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`v:p${i}`, `</3303/${i}>`]));
    const rig = await Rig.open({ profiles });
    try {
      const all = Array.from({ length: 32 }, (_, i) => `v:p${i}`);
      const pid = `pid="${all.join(',')}"`;
      assert.ok(pid.length <= 255);
      const r = await rig.call(rig.source(1), CoapCode.POST, ['rd'], {
        query: ['ep=pid32', 'lt=600', 'lwm2m=1.2', pid],
      });
      assert.equal(r.code, '2.01');
      const reg = (await rig.server.getRegistration('pid32'))!;
      assert.deepEqual(reg.objects.find((o) => o.id === 3303)?.instances.length, 32);
      // Plus a payload: united.
      const r2 = await rig.call(rig.source(2), CoapCode.POST, ['rd'], {
        query: ['ep=pid32-payload', 'lt=600', 'lwm2m=1.2', pid],
        format: 40,
        payload: '</3/0>,</3303/40>',
      });
      assert.equal(r2.code, '2.01');
      const reg2 = (await rig.server.getRegistration('pid32-payload'))!;
      assert.equal(reg2.objects.find((o) => o.id === 3303)?.instances.length, 33);
      // 33 ids, 32 unknown ids, 32 ids of which one is unknown, ids repeated 32 times.
      const cases: [string, string][] = [
        [`pid="${[...all, 'v:p32'].join(',')}"`, '4.00'],
        [`pid="${Array.from({ length: 32 }, (_, i) => `v:q${i}`).join(',')}"`, '4.09'],
        [`pid="${[...all.slice(1), 'v:zz'].join(',')}"`, '4.09'],
        [`pid="${Array.from({ length: 32 }, () => 'v:p0').join(',')}"`, ''],
        [`pid="${Array.from({ length: 20 }, (_, i) => `${i}:0123456${i % 10}`).join(',')}"`, ''],
      ];
      for (const [query, expected] of cases) {
        const out = await rig.call(rig.source(3), CoapCode.POST, ['rd'], {
          query: ['ep=pid-case', 'lt=600', 'lwm2m=1.2', query],
        });
        assert.ok(out.code !== undefined && !isServerError(out.code), `${query.slice(0, 40)}: ${out.code}`);
        if (expected) assert.equal(out.code, expected, query.slice(0, 40));
      }
      // An Update with 32 ids replaces the object list.
      const up = await rig.call(rig.source(2), CoapCode.POST, ['rd', reg2.id], { query: [pid] });
      assert.equal(up.code, '2.04');
      assert.equal(
        (await rig.server.getRegistration('pid32-payload'))!.objects.find((o) => o.id === 3303)?.instances
          .length,
        32,
      );
      // 32 learnt dynamic ids, each from one Register with its list, then all of them at once
      // (a quoted list of 32 eight-digit hashes exceeds a Uri-Query option: 20 here).
      const dyn = Array.from({ length: 20 }, (_, i) => `6:${(0xa0000000 + i).toString(16)}`);
      for (const [i, id] of dyn.entries())
        assert.equal(
          (
            await rig.call(rig.source(10 + i), CoapCode.POST, ['rd'], {
              query: [`ep=learn-${i}`, 'lt=600', 'lwm2m=1.2', `pid=${id}`],
              format: 40,
              payload: `</3303/${100 + i}>`,
            })
          ).code,
          '2.01',
        );
      const many = await rig.call(rig.source(4), CoapCode.POST, ['rd'], {
        query: ['ep=dyn20', 'lt=600', 'lwm2m=1.2', `pid="${dyn.join(',')}"`],
      });
      assert.equal(many.code, '2.01');
      assert.equal(
        (await rig.server.getRegistration('dyn20'))!.objects.find((o) => o.id === 3303)?.instances.length,
        20,
      );
      assert.deepEqual(await rig.inconsistencies(), []);
      assertQuiet(rig, uncaught);
    } finally {
      await rig.close();
    }
  });

  it('Updates and De-registers to random registration ids change nothing', async (t) => {
    const uncaught = trapUncaught(t);
    const rig = await Rig.open();
    try {
      for (let i = 0; i < 20; i++)
        assert.equal((await rig.register(rig.source(100 + i), `victim-${i}`)).outcome.code, '2.01');
      const snapshot = async (): Promise<string> =>
        JSON.stringify(
          (await rig.server.registrations()).sort((a, b) => a.endpoint.localeCompare(b.endpoint)),
        );
      const before = await snapshot();
      const rand = mulberry32(0x1d5);
      const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
      const randomId = (): string =>
        Array.from({ length: 10 }, () => alphabet[Math.floor(rand() * 32)]!).join('');
      const odd = ['0', '..', '.', 'rd', '%2e', 'a'.repeat(255), 'ABCDEFGHIJ', '\u00e9', '*', ' '];
      const codes = new Map<string, number>();
      for (let i = 0; i < 600; i++) {
        const id = i < odd.length ? odd[i]! : randomId();
        const segments = i % 7 === 0 ? ['rd', id, randomId()] : ['rd', id];
        const method = i % 3 === 0 ? CoapCode.DELETE : CoapCode.POST;
        const fields: RequestFields =
          i % 2 === 0 ? { query: ['lt=1'] } : { format: 40, payload: '</9999/0>' };
        const out = await rig.call(rig.source(200 + (i % SOURCE_PORTS)), method, segments, fields);
        codes.set(out.code ?? 'none', (codes.get(out.code ?? 'none') ?? 0) + 1);
      }
      assert.deepEqual(Object.fromEntries(codes), { '4.04': 600 });
      assert.equal(await snapshot(), before);
      assert.deepEqual(await rig.inconsistencies(), []);
      assertQuiet(rig, uncaught);
    } finally {
      await rig.close();
    }
  });

  it('Sends with 10 000 records, unregistered objects, from unregistered ports', async (t) => {
    const uncaught = trapUncaught(t);
    const rig = await Rig.open();
    const { layer, endpoint } = blockwiseClient(rig, 40_001);
    const codecs = createCodecRegistry();
    const model = createDefaultRegistry();
    try {
      // Register from the block-wise client's own address, so its Sends come from the registration.
      const opts = new OptionsBuilder()
        .uriPath(['rd'])
        .uint(OptionNumber.CONTENT_FORMAT, 40)
        .uriQuery(['ep=sender', 'lt=600', 'lwm2m=1.2'])
        .build();
      let registered: CoapMessage | undefined;
      void layer
        .request(SERVER, { code: CoapCode.POST, options: opts, payload: utf8.encode('</3/0>,</3303/0>') })
        .then((m) => (registered = m));
      await rig.run(() => registered !== undefined, 10_000);
      assert.equal(registered && formatCode(registered.code), '2.01');
      await rig.idle();
      const series: LwM2mRecord[] = Array.from({ length: 10_000 }, (_, i) => ({
        path: LwM2mPath.parse('/3303/0/5700'),
        value: Value.float(20 + (i % 100) / 10),
        time: 1_700_000_000 + i,
      }));
      for (const format of [112, 110]) {
        const payload = codecs.encode(format, series, { path: LwM2mPath.ROOT, model });
        const out = await bigRequest(rig, layer, CoapCode.POST, ['dp'], { format, payload });
        t.diagnostic(
          `Send of 10 000 records, format ${format}, ${payload.length} B: ${formatCode(out.code)}`,
        );
        assert.equal(formatCode(out.code), '2.04', `format ${format}`);
      }
      assert.deepEqual(
        rig.sends.map((s) => s.records),
        [10_000, 10_000],
      );
      // Objects and instances the client did not register: 4.04, no send event.
      for (const path of ['/9999/0/1', '/3303/1/5700', '/3/1/0', '/1/0/1', '/65534/0/0']) {
        const payload = codecs.encode(112, [{ path: LwM2mPath.parse(path), value: Value.integer(1) }], {
          path: LwM2mPath.ROOT,
          model,
        });
        const out = await bigRequest(rig, layer, CoapCode.POST, ['dp'], { format: 112, payload });
        assert.equal(formatCode(out.code), '4.04', path);
      }
      // A good Send from a port nobody registered from: 4.04.
      const small = codecs.encode(112, series.slice(0, 3), { path: LwM2mPath.ROOT, model });
      const stranger = await rig.call(rig.source(7), CoapCode.POST, ['dp'], { format: 112, payload: small });
      assert.equal(stranger.code, '4.04');
      assert.equal(rig.sends.length, 2);
      assert.deepEqual(await rig.inconsistencies(), []);
      assertQuiet(rig, uncaught);
    } finally {
      await endpoint.close();
      await rig.close();
    }
  });

  it('De-register racing Update: both answered, nothing left behind, no event after the end', async (t) => {
    const uncaught = trapUncaught(t);
    const rig = await Rig.open({ queueMode: { awakeTime: 10_000 } });
    try {
      const pairs = 120;
      const ids: string[] = [];
      for (let i = 0; i < pairs; i++) {
        const queue = i % 2 === 0 ? ['Q'] : [];
        const { outcome, id } = await rig.register(rig.source(1000 + i), `race-${i}`, [
          'lt=600',
          'lwm2m=1.1',
          ...queue,
        ]);
        assert.equal(outcome.code, '2.01');
        ids.push(id!);
      }
      // Each client sends its Update and its De-register in one burst; a third of them the other
      // way round, a third with a full object list in the Update.
      const sent: { i: number; update: Uint8Array; remove: Uint8Array; source: Source }[] = [];
      for (let i = 0; i < pairs; i++) {
        const source = rig.source(1000 + i);
        const fields: RequestFields =
          i % 3 === 1 ? { format: 40, payload: '</1/0>,</3/0>,</3303/0>,</3303/1>' } : { query: ['lt=900'] };
        const update = request(CoapCode.POST, ['rd', ids[i]!], { ...fields, mid: rig.nextMid() });
        const remove = request(CoapCode.DELETE, ['rd', ids[i]!], { mid: rig.nextMid() });
        sent.push({ i, update, remove, source });
        const order = i % 3 === 2 ? [remove, update] : [update, remove];
        for (const d of order) source.channel.send(SERVER, d);
      }
      await rig.run(
        () => sent.every(({ source }) => source.inbox.filter((m) => m.code !== 0).length >= 3),
        10_000,
      );
      await rig.idle();
      for (const { i, update, remove, source } of sent) {
        const answer = (bytes: Uint8Array): string | undefined => {
          const mid = (bytes[2]! << 8) | bytes[3]!;
          const m = source.inbox.find((x) => x.type === 'ACK' && x.messageId === mid);
          return m ? formatCode(m.code) : undefined;
        };
        assert.equal(answer(remove), '2.02', `race-${i}: De-register`);
        const u = answer(update);
        assert.ok(u === '2.04' || u === '4.04', `race-${i}: Update answered ${u}`);
        if (i % 3 === 2) assert.equal(u, '4.04', `race-${i}: Update after the De-register`);
      }
      // Past the awake time: no queue-mode client deregistered here may wake or sleep again.
      rig.clock.advance(20_000);
      await rig.idle();
      const late: string[] = [];
      // isAwake is true for every client the server holds no queue for: false means a queue
      // survived its client.
      const asleep: string[] = [];
      for (let i = 0; i < pairs; i++) {
        const log = rig.events.get(`race-${i}`) ?? [];
        const end = log.findIndex((e) => e.startsWith('deregistered:'));
        assert.ok(end >= 0, `race-${i} deregistered: ${log.join(' ')}`);
        const after = log.slice(end + 1);
        if (after.length > 0) late.push(`race-${i}: ${log.join(' ')}`);
        if (!rig.server.isAwake(`race-${i}`)) asleep.push(`race-${i}: ${log.join(' ')}`);
      }
      // An Update answered before the De-register still emits `updated` (and, in queue mode,
      // re-creates the client's queue) once its 2.04 has left, after `deregistered`.
      assert.deepEqual(
        { eventsAfterTheEnd: late.length, queuesLeft: asleep.length },
        { eventsAfterTheEnd: 0, queuesLeft: 0 },
        `of ${pairs} races, e.g. ${late.slice(0, 2).join(' | ')}`,
      );
      assert.equal(await rig.server.store.size, 0);
      assert.deepEqual(await rig.inconsistencies(), []);
      assertQuiet(rig, uncaught);
    } finally {
      await rig.close();
    }
  });

  it('expiry on a fake clock removes every short-lived registration, once', async (t) => {
    const uncaught = trapUncaught(t);
    const rig = await Rig.open();
    try {
      const rand = mulberry32(0xe1);
      const short = 300;
      const long = 40;
      const lifetimes = new Map<string, number>();
      for (let i = 0; i < short + long; i++) {
        const lt = i < short ? 1 + Math.floor(rand() * 120) : 86_400;
        const ep = `exp-${i}`;
        lifetimes.set(ep, lt);
        const { outcome } = await rig.register(rig.source(3000 + (i % 100), `10.0.2.${1 + (i % 200)}`), ep, [
          `lt=${lt}`,
          'lwm2m=1.1',
        ]);
        assert.equal(outcome.code, '2.01');
      }
      // 125 s of fake time in 1 s steps: every lifetime (1..120 s) runs out.
      const registeredAt = rig.clock.now();
      for (let s = 0; s < 125; s++) {
        rig.clock.advance(1000);
        await settle(2);
      }
      await rig.idle();
      const left = (await rig.server.registrations()).map((r) => r.endpoint);
      assert.equal(left.length, long, `left after ${rig.clock.now() - registeredAt} ms`);
      assert.ok(left.every((ep) => lifetimes.get(ep) === 86_400));
      for (const [ep, lt] of lifetimes) {
        const expired = (rig.events.get(ep) ?? []).filter((e) => e.startsWith('expired:'));
        assert.equal(expired.length, lt === 86_400 ? 0 : 1, `${ep} (lt=${lt}) expired events`);
      }
      assert.deepEqual(await rig.inconsistencies(), []);
      assertQuiet(rig, uncaught);
    } finally {
      await rig.close();
    }
  });
});
