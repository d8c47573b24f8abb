import { PetrelError } from '../errors.js';
import {
  attributesFromLinkParams,
  attributesToLinkParams,
  isNotificationAttributeName,
} from './attributes.js';
import type { NotificationAttributes } from './attributes.js';
import { isValidId } from './ids.js';
import { formatLinkFormat, linkParamValue, parseLinkFormat } from './link-format.js';
import type { Link, LinkFormatOptions, LinkParam } from './link-format.js';
import { InvalidPathError, LwM2mPath, normalizeAlternatePath } from './path.js';

export type LinkPayloadErrorReason =
  | 'bad-target' // a link target that is not a LwM2M path
  | 'not-object-or-instance' // a Register/Update link below the instance level
  | 'not-under-alternate-path' // an object link outside the declared alternate path
  | 'duplicate-root' // two root / alternate-path links
  | 'conflicting-version' // two different ver= for one object
  | 'bad-input'; // formatting: an invalid id, version or content format

/**
 * A link-format payload that parses but breaks the LwM2M rules for a Register/Update object list
 * (Core §6.2.1) or a Discover response (Core §6.3.3). Answered with 4.00.
 */
export class LinkPayloadError extends PetrelError {
  readonly reason: LinkPayloadErrorReason;
  /** The offending link target, when there is one. */
  readonly target: string | undefined;
  readonly coapCode = '4.00' as const;
  constructor(
    reason: LinkPayloadErrorReason,
    message: string,
    target?: string,
    options?: { cause?: unknown },
  ) {
    super('PETREL_ERR_LINK_PAYLOAD', message, options);
    this.reason = reason;
    this.target = target;
  }
}

/** One object the client announced, with its instances (ascending). */
export interface RegisteredObject {
  readonly id: number;
  /** `ver=` from the object link (or an instance link); undefined = the enabler's default version. */
  readonly version: string | undefined;
  readonly instances: readonly number[];
  /** Gateway prefix of an end device's object (`</d01/3303/0>`), if any. */
  readonly prefix?: string;
}

/** The Register/Update object list, Core §6.2.1. */
export interface RegistrationPayload {
  /** The alternate path (`/lwm2m`) from a `</lwm2m>;rt="oma.lwm2m"` link; undefined = `/`. */
  readonly alternatePath: string | undefined;
  /** Content formats from the root link's `ct=`; undefined when not announced. */
  readonly contentFormats: readonly number[] | undefined;
  /** Objects sorted by prefix (none first) then id. */
  readonly objects: readonly RegisteredObject[];
  /** The links as parsed, for params this summary does not carry. */
  readonly links: readonly Link[];
}

const LWM2M_RT = 'oma.lwm2m';

function hasLwM2mRt(link: Link): boolean {
  const rt = linkParamValue(link, 'rt');
  return typeof rt === 'string' && rt.split(' ').includes(LWM2M_RT);
}

function toPath(target: string, alternatePath: string | undefined): LwM2mPath {
  try {
    return LwM2mPath.parse(target, alternatePath === undefined ? {} : { alternatePath });
  } catch (e) {
    if (!(e instanceof InvalidPathError)) throw e;
    throw new LinkPayloadError('bad-target', `link <${target}> is not a LwM2M path: ${e.message}`, target, {
      cause: e,
    });
  }
}

function versionOf(link: Link): string | undefined {
  const v = linkParamValue(link, 'ver');
  return typeof v === 'string' ? v : undefined;
}

/** Finds the root link (`</>`) or alternate-path link (`rt="oma.lwm2m"`); at most one. */
function findRoot(links: readonly Link[]): Link | undefined {
  let root: Link | undefined;
  for (const link of links) {
    if (link.target !== '/' && !hasLwM2mRt(link)) continue;
    if (root !== undefined)
      throw new LinkPayloadError('duplicate-root', `a second root link <${link.target}>`, link.target);
    root = link;
  }
  return root;
}

/**
 * Parses a Register or Update payload (Core §6.2.1): an optional root link `</>;ct=…` or
 * alternate-path link `</lwm2m>;rt="oma.lwm2m"`, then object links `</1>;ver=1.1` and instance
 * links `</1/0>` (behind the alternate path, if declared). Unknown params are kept in `links`.
 * Throws LinkFormatError for bad syntax and LinkPayloadError for links that are not objects or
 * instances.
 */
export function parseRegistrationPayload(
  payload: string | Uint8Array | readonly Link[],
  options: LinkFormatOptions = {},
): RegistrationPayload {
  const links =
    typeof payload === 'string' || payload instanceof Uint8Array
      ? parseLinkFormat(payload, options)
      : payload;
  const root = findRoot(links);
  let alternatePath: string | undefined;
  if (root !== undefined && root.target !== '/') {
    try {
      alternatePath = normalizeAlternatePath(root.target) || undefined;
    } catch (e) {
      if (!(e instanceof InvalidPathError)) throw e;
      throw new LinkPayloadError(
        'bad-target',
        `bad alternate path <${root.target}>: ${e.message}`,
        root.target,
        {
          cause: e,
        },
      );
    }
  }
  const ct = root === undefined ? undefined : linkParamValue(root, 'ct');
  const contentFormats = Array.isArray(ct) ? (ct as readonly number[]) : undefined;

  const byKey = new Map<string, { id: number; prefix?: string; version?: string; instances: Set<number> }>();
  for (const link of links) {
    if (link === root) continue;
    const path = toPath(link.target, alternatePath);
    if (path.alternatePath !== alternatePath)
      throw new LinkPayloadError(
        'not-under-alternate-path',
        `link <${link.target}> is not under the alternate path ${alternatePath ?? '/'}`,
        link.target,
      );
    const [oid, iid] = path.ids;
    if (oid === undefined || path.depth > 2)
      throw new LinkPayloadError(
        'not-object-or-instance',
        `link <${link.target}> is not an object or object instance`,
        link.target,
      );
    const key = `${path.prefix ?? ''}/${oid}`;
    let entry = byKey.get(key);
    if (entry === undefined) {
      entry = { id: oid, instances: new Set() };
      if (path.prefix !== undefined) entry.prefix = path.prefix;
      byKey.set(key, entry);
    }
    if (iid !== undefined) entry.instances.add(iid);
    const ver = versionOf(link);
    if (ver !== undefined) {
      if (entry.version !== undefined && entry.version !== ver)
        throw new LinkPayloadError(
          'conflicting-version',
          `object ${oid} announced with versions ${entry.version} and ${ver}`,
          link.target,
        );
      entry.version = ver;
    }
  }
  const objects = [...byKey.values()]
    .map((e): RegisteredObject => {
      const obj = { id: e.id, version: e.version, instances: [...e.instances].sort((a, b) => a - b) };
      return e.prefix === undefined ? obj : { ...obj, prefix: e.prefix };
    })
    .sort((a, b) =>
      (a.prefix ?? '') === (b.prefix ?? '') ? a.id - b.id : (a.prefix ?? '') < (b.prefix ?? '') ? -1 : 1,
    );
  return { alternatePath, contentFormats, objects, links };
}

/** What a client announces; the shape of RegistrationPayload, so a parsed payload formats back. */
export interface RegistrationPayloadInput {
  readonly alternatePath?: string | undefined;
  readonly contentFormats?: readonly number[] | undefined;
  readonly objects: readonly {
    readonly id: number;
    readonly version?: string | undefined;
    readonly instances?: readonly number[];
    readonly prefix?: string | undefined;
  }[];
}

function badInput(message: string, cause?: unknown): never {
  throw new LinkPayloadError('bad-input', message, undefined, { cause });
}

/**
 * Builds a Register/Update payload: the root link (`</>;rt="oma.lwm2m";ct=…`, or the alternate
 * path's link) when there is an alternate path or content formats to announce, then per object
 * (by prefix, then id) the object link with `ver=` when a version is given or it has no
 * instances, and its instance links.
 */
export function formatRegistrationPayload(input: RegistrationPayloadInput): string {
  let alt = '';
  try {
    alt = input.alternatePath === undefined ? '' : normalizeAlternatePath(input.alternatePath);
  } catch (e) {
    badInput(`bad alternate path "${input.alternatePath}"`, e);
  }
  const links: Link[] = [];
  if (alt !== '' || input.contentFormats !== undefined) {
    const params: LinkParam[] = [{ name: 'rt', value: LWM2M_RT }];
    if (input.contentFormats !== undefined) {
      if (
        input.contentFormats.length === 0 ||
        !input.contentFormats.every((n) => Number.isInteger(n) && n >= 0 && n <= 65535)
      )
        badInput(`bad content formats [${input.contentFormats.join(', ')}]`);
      params.push({ name: 'ct', value: input.contentFormats });
    }
    links.push({ target: alt === '' ? '/' : alt, params });
  }
  const objects = [...input.objects].sort((a, b) =>
    (a.prefix ?? '') === (b.prefix ?? '') ? a.id - b.id : (a.prefix ?? '') < (b.prefix ?? '') ? -1 : 1,
  );
  for (const obj of objects) {
    let base: LwM2mPath;
    try {
      base = new LwM2mPath([obj.id], obj.prefix);
    } catch (e) {
      badInput(`bad object ${obj.prefix === undefined ? '' : `${obj.prefix}/`}${obj.id}`, e);
    }
    const head = alt + base.toString();
    const instances = [...new Set(obj.instances ?? [])].sort((a, b) => a - b);
    for (const iid of instances) if (!isValidId(iid)) badInput(`bad instance id ${iid} of object ${obj.id}`);
    if (obj.version !== undefined || instances.length === 0)
      links.push({
        target: head,
        params: obj.version === undefined ? [] : [{ name: 'ver', value: obj.version }],
      });
    for (const iid of instances) links.push({ target: `${head}/${iid}`, params: [] });
  }
  return formatLinkFormat(links);
}

/** One link of a Discover or Bootstrap-Discover response (Core §6.3.3, §6.1.7.5). */
export interface DiscoverEntry {
  readonly path: LwM2mPath;
  /** `ver=`: object version. */
  readonly version?: string;
  /** `dim=`: number of instances of a multiple-instance resource. */
  readonly dim?: number;
  /** `ssid=`: Short Server ID on /0, /1 (and /21) instances in a Bootstrap-Discover. */
  readonly ssid?: number;
  /** `uri=`: the server URI on /0 instances in a Bootstrap-Discover. */
  readonly uri?: string;
  /** `lwm2m=`: the enabler version, on the root link of a Bootstrap-Discover. */
  readonly lwm2m?: string;
  /** Notification attributes attached to or inherited by this target. */
  readonly attributes: NotificationAttributes;
  /** Params not covered above, kept as parsed. */
  readonly extraParams: readonly LinkParam[];
}

const DISCOVER_TYPED = new Set(['ver', 'dim', 'ssid', 'uri', 'lwm2m']);

/**
 * Parses a Discover or Bootstrap-Discover payload into entries. Every target must be a LwM2M path
 * (the root `/` included, for `</>;lwm2m=1.2`); the LwM2M 1.0 form `lwm2m="1.0",</0/0>` is read
 * as a root link. Throws LinkFormatError or LinkPayloadError.
 */
export function parseDiscoverPayload(
  payload: string | Uint8Array,
  options: LinkFormatOptions & { readonly alternatePath?: string } = {},
): DiscoverEntry[] {
  const { alternatePath, ...linkOptions } = options;
  const links = parseLinkFormat(payload, { legacyRootParams: true, ...linkOptions });
  return links.map((link) => {
    const path = toPath(link.target, alternatePath);
    const entry: { -readonly [K in keyof DiscoverEntry]: DiscoverEntry[K] } = {
      path,
      attributes: attributesFromLinkParams(link.params),
      extraParams: link.params.filter(
        (p) => !DISCOVER_TYPED.has(p.name) && !isNotificationAttributeName(p.name),
      ),
    };
    const get = (name: string) => linkParamValue(link, name);
    const ver = get('ver');
    const dim = get('dim');
    const ssid = get('ssid');
    const uri = get('uri');
    const lwm2m = get('lwm2m');
    if (typeof ver === 'string') entry.version = ver;
    if (typeof dim === 'number') entry.dim = dim;
    if (typeof ssid === 'number') entry.ssid = ssid;
    if (typeof uri === 'string') entry.uri = uri;
    if (typeof lwm2m === 'string') entry.lwm2m = lwm2m;
    return entry;
  });
}

/** Formats Discover entries (client role): path, then ver, dim, ssid, uri, lwm2m, attributes, extras. */
export function formatDiscoverPayload(entries: readonly DiscoverEntry[]): string {
  return formatLinkFormat(
    entries.map((e) => {
      const params: LinkParam[] = [];
      if (e.version !== undefined) params.push({ name: 'ver', value: e.version });
      if (e.dim !== undefined) params.push({ name: 'dim', value: e.dim });
      if (e.ssid !== undefined) params.push({ name: 'ssid', value: e.ssid });
      if (e.uri !== undefined) params.push({ name: 'uri', value: e.uri });
      if (e.lwm2m !== undefined) params.push({ name: 'lwm2m', value: e.lwm2m });
      params.push(...attributesToLinkParams(e.attributes), ...e.extraParams);
      return { target: e.path.toUriPath(), params };
    }),
  );
}
