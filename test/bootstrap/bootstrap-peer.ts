// A scripted bootstrap client: sends the uplinks a captured client sent (Bootstrap-Pack-Request
// and/or Bootstrap-Request, with the same query and Accept), answers Bootstrap-Discover, -Delete,
// -Write and -Finish the way that client did (its enabler version, its formats, its refusals), and
// keeps a /0 and /1 store so a test can check what a session left on the device.
import { CoapEndpoint } from '../../src/coap/endpoint.js';
import type { CoapResponse } from '../../src/coap/endpoint.js';
import { CoapCode, formatCode, parseCode } from '../../src/coap/message.js';
import type { CoapMessage } from '../../src/coap/message.js';
import { OptionNumber, OptionsBuilder, getStrings, getUint } from '../../src/coap/options.js';
import { createCodecRegistry } from '../../src/content/codec-registry.js';
import { formatLinkFormat, parseLinkFormat } from '../../src/model/link-format.js';
import type { Link } from '../../src/model/link-format.js';
import { createDefaultRegistry } from '../../src/model/object-registry.js';
import { LwM2mPath } from '../../src/model/path.js';
import type { LwM2mRecord } from '../../src/model/records.js';
import { Value, valueToText } from '../../src/model/data-types.js';
import { seededRandom } from '../../src/random.js';
import type { Channel, Peer, PeerIdentity } from '../../src/transport/channel.js';
import type { MemoryNetwork } from '../../src/transport/memory-channel.js';
import type { CaptureLine } from '../support/captures.js';

export const BS_SERVER: Peer = { address: '10.0.0.1', port: 5683 };
const codecs = createCodecRegistry();
const model = createDefaultRegistry();

/** What a captured client does, read from its capture. */
export interface PeerProfile {
  readonly endpoint: string;
  /** `lwm2m=` of its Bootstrap-Discover root link. */
  readonly lwm2mVersion: string;
  /** Query items of its Bootstrap-Request (`ep=…`, `pct=…`). */
  readonly requestQuery: readonly string[];
  /** Query and Accept of its Bootstrap-Pack-Request, when it sent one first. */
  readonly pack: { readonly query: readonly string[]; readonly accept: number | undefined } | undefined;
  /** Discover links other than /0 and /1 instances (objects, `ver=`, other instances). */
  readonly otherLinks: readonly Link[];
}

const uriPathOf = (line: CaptureLine): string[] =>
  (line.options ?? []).filter((o) => o.number === 11).map((o) => String(o.value));
const queryOf = (line: CaptureLine): string[] =>
  (line.options ?? []).filter((o) => o.number === 15).map((o) => String(o.value));
const acceptOf = (line: CaptureLine): number | undefined => {
  const o = (line.options ?? []).find((x) => x.number === 17);
  return o === undefined ? undefined : Number(o.value);
};

export function profileFromCapture(lines: readonly CaptureLine[]): PeerProfile {
  const bs = lines.filter((l) => l.peer === 'bootstrap-server');
  const up = bs.filter((l) => l.dir === 'client->server' && l.code?.startsWith('0.'));
  const request = up.find((l) => l.code === '0.02' && uriPathOf(l).join('/') === 'bs');
  if (!request) throw new Error('the capture has no Bootstrap-Request');
  const packLine = up.find((l) => l.code === '0.01' && uriPathOf(l).join('/') === 'bspack');
  const discoverReq = bs.find((l) => l.dir === 'server->client' && l.note?.startsWith('Bootstrap-Discover'));
  const discoverRes = bs.find((l) => l.dir === 'client->server' && l.token === discoverReq?.token);
  if (discoverRes?.payloadText === undefined) throw new Error('the capture has no Bootstrap-Discover answer');
  const links = parseLinkFormat(discoverRes.payloadText, { legacyRootParams: true });
  const root = links.find((l) => l.target === '/');
  const version = root?.params.find((p) => p.name === 'lwm2m')?.value;
  const isZeroOrOneInstance = (t: string): boolean => /^\/[01]\/\d+$/.test(t);
  const query = queryOf(request);
  const ep = query.find((q) => q.startsWith('ep='))?.slice(3);
  return {
    endpoint: ep ?? '',
    lwm2mVersion: String(version ?? '1.0'),
    requestQuery: query,
    pack: packLine === undefined ? undefined : { query: queryOf(packLine), accept: acceptOf(packLine) },
    otherLinks: links.filter((l) => l.target !== '/' && !isZeroOrOneInstance(l.target)),
  };
}

/** How the peer answers a downlink, overriding its normal behaviour: a code, or 'drop' (no answer). */
export type Override = (method: string, path: string) => string | undefined;

const BS_ACCOUNT: LwM2mRecord[] = [
  { path: LwM2mPath.of(0, 0, 0), value: Value.string('coap://10.0.0.1:5683') },
  { path: LwM2mPath.of(0, 0, 1), value: Value.boolean(true) },
  { path: LwM2mPath.of(0, 0, 2), value: Value.integer(3) },
];

export class BootstrapPeer {
  readonly endpoint: CoapEndpoint;
  readonly profile: PeerProfile;
  readonly server: Peer;
  /** Object instances by `/o/i`. */
  readonly instances = new Map<string, LwM2mRecord[]>();
  /** Every downlink received, as `METHOD /path [cf]`. */
  readonly log: string[] = [];
  override: Override = () => undefined;
  finished = false;
  #onFinish: (() => void)[] = [];

  /** `identity`: pose as a DTLS peer with this authenticated identity; `channel`: a real one. */
  constructor(
    network: MemoryNetwork,
    profile: PeerProfile,
    options: { address?: string; identity?: PeerIdentity; channel?: Channel; server?: Peer } = {},
  ) {
    this.profile = profile;
    this.server = options.server ?? BS_SERVER;
    const { identity } = options;
    const channel =
      options.channel ??
      network.channel(
        options.address ?? '10.0.0.2',
        56830,
        identity === undefined ? {} : { identity, kind: 'dtls' },
      );
    this.endpoint = new CoapEndpoint({ channel, random: seededRandom(41) });
    this.endpoint.onRequest(({ message }) => this.#handle(message));
    this.instances.set('/0/0', BS_ACCOUNT);
  }

  /** Adds an instance the device already has (a stale account, to see it deleted). */
  seed(records: LwM2mRecord[]): void {
    const first = records[0]!.path;
    this.instances.set(`/${first.objectId}/${first.instanceId}`, records);
  }

  /** The 1.1 client refuses SenML CBOR with 4.06 and LwM2M CBOR with 4.00 (lwm2m-1.1 capture). */
  #refusal(format: number): string | undefined {
    if (this.profile.lwm2mVersion !== '1.1') return undefined;
    if (format === 112 || format === 60) return '4.06';
    if (format === 11544) return '4.00';
    return undefined;
  }

  /** Bootstrap-Request (POST /bs?…) as the capture sent it. */
  async bootstrapRequest(): Promise<CoapMessage> {
    const b = new OptionsBuilder();
    b.string(OptionNumber.URI_PATH, 'bs');
    for (const q of this.profile.requestQuery) b.string(OptionNumber.URI_QUERY, q);
    return this.endpoint.request(this.server, { code: CoapCode.POST, options: b.build() }, { timeout: 5000 });
  }

  /** Bootstrap-Pack-Request (GET /bspack?…, Accept) as the capture sent it, or with another Accept. */
  async packRequest(accept = this.profile.pack?.accept): Promise<CoapMessage> {
    const b = new OptionsBuilder();
    b.string(OptionNumber.URI_PATH, 'bspack');
    for (const q of this.profile.pack?.query ?? [`ep=${this.profile.endpoint}`])
      b.string(OptionNumber.URI_QUERY, q);
    if (accept !== undefined) b.uint(OptionNumber.ACCEPT, accept);
    return this.endpoint.request(this.server, { code: CoapCode.GET, options: b.build() }, { timeout: 5000 });
  }

  /** Applies a Pack (Core §6.1.7.7): per object in it, replace every instance but the BS account. */
  applyPack(records: readonly LwM2mRecord[]): void {
    const objects = new Set(records.map((r) => r.path.objectId!));
    for (const key of [...this.instances.keys()])
      if (objects.has(Number(key.split('/')[1])) && key !== '/0/0') this.instances.delete(key);
    for (const r of records) {
      const key = `/${r.path.objectId}/${r.path.instanceId}`;
      this.instances.set(key, [...(this.instances.get(key) ?? []), r]);
    }
  }

  /** Resolves when a Bootstrap-Finish arrived. */
  whenFinished(): Promise<void> {
    if (this.finished) return Promise.resolve();
    return new Promise((r) => this.#onFinish.push(r));
  }

  #discover(): string {
    const links: Link[] = [{ target: '/', params: [{ name: 'lwm2m', value: this.profile.lwm2mVersion }] }];
    const keys = [...this.instances.keys()].sort((a, b) =>
      LwM2mPath.compare(LwM2mPath.parse(a), LwM2mPath.parse(b)),
    );
    for (const key of keys) {
      const recs = this.instances.get(key)!;
      const val = (rid: number): unknown => recs.find((r) => r.path.resourceId === rid)?.value?.value;
      const params: Link['params'][number][] = [];
      if (key.startsWith('/0/')) {
        const ssid = val(10);
        if (val(1) !== true && ssid !== undefined) {
          params.push({ name: 'ssid', value: Number(ssid) });
          params.push({ name: 'uri', value: String(val(0)) });
        }
      } else if (key.startsWith('/1/')) {
        const ssid = val(0);
        if (ssid !== undefined) params.push({ name: 'ssid', value: Number(ssid) });
      } else continue;
      links.push({ target: key, params });
    }
    links.push(...this.profile.otherLinks);
    return formatLinkFormat(links);
  }

  #handle(message: CoapMessage): CoapResponse | Promise<CoapResponse> {
    const method = { 1: 'GET', 2: 'POST', 3: 'PUT', 4: 'DELETE' }[message.code] ?? formatCode(message.code);
    const segs = getStrings(message, OptionNumber.URI_PATH);
    const path = '/' + segs.join('/');
    const cf = getUint(message, OptionNumber.CONTENT_FORMAT);
    this.log.push(`${method} ${path}${cf === undefined ? '' : ` ${cf}`}`);
    const forced = this.override(method, path);
    if (forced === 'drop') return new Promise<CoapResponse>(() => undefined);
    if (forced !== undefined) return { code: parseCode(forced)! };
    if (method === 'POST' && path === '/bs') {
      this.finished = true;
      for (const f of this.#onFinish.splice(0)) f();
      return { code: CoapCode.CHANGED };
    }
    if (method === 'GET' && path === '/') {
      const b = new OptionsBuilder().uint(OptionNumber.CONTENT_FORMAT, 40);
      return {
        code: CoapCode.CONTENT,
        options: b.build(),
        payload: new TextEncoder().encode(this.#discover()),
      };
    }
    if (method === 'DELETE') {
      const target = LwM2mPath.parse(path);
      let hit = false;
      for (const key of [...this.instances.keys()]) {
        if (key === '/0/0') continue; // the Bootstrap-Server account survives (Core §6.1.7.4)
        if (target.covers(LwM2mPath.parse(key))) {
          this.instances.delete(key);
          hit = true;
        }
      }
      return { code: hit || target.depth < 2 ? CoapCode.DELETED : CoapCode.NOT_FOUND };
    }
    if (method === 'PUT' && segs.length === 2 && cf !== undefined) {
      const refusal = this.#refusal(cf);
      if (refusal !== undefined) return { code: parseCode(refusal)! };
      const target = LwM2mPath.parse(path);
      let records: LwM2mRecord[];
      try {
        records = codecs.decode(cf, message.payload, { path: target, model });
      } catch {
        return { code: CoapCode.BAD_REQUEST };
      }
      this.instances.set(path, records);
      return { code: CoapCode.CHANGED };
    }
    return { code: CoapCode.BAD_REQUEST };
  }

  close(): Promise<void> {
    return this.endpoint.close();
  }
}

/** `path type value` lines of records, sorted: for comparing device contents. */
export function describe(records: readonly LwM2mRecord[]): string[] {
  return records
    .map((r) => {
      const v = r.value;
      const shown =
        v === undefined
          ? ''
          : v.type === 'opaque'
            ? Buffer.from(v.value).toString('hex')
            : v.type === 'boolean'
              ? String(v.value)
              : valueToText(v);
      return `${r.path.toString()} ${v?.type ?? '-'} ${shown}`;
    })
    .sort();
}
