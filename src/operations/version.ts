import { NOTIFICATION_ATTRIBUTE_NAMES, NOTIFICATION_ATTRIBUTES } from '../model/attributes.js';
import type { NotificationAttributeName } from '../model/attributes.js';
import { OperationError } from './result-code.js';

/**
 * The LwM2M enabler versions Petrel speaks (Core §5.2: a 1.2 server MUST serve 1.2 clients and
 * SHOULD serve 1.0 and 1.1). These are the `lwm2m=` values a Register may carry.
 */
export const SUPPORTED_LWM2M_VERSIONS = Object.freeze(['1.0', '1.1', '1.2'] as const);

export type LwM2mVersion = (typeof SUPPORTED_LWM2M_VERSIONS)[number];

/** The enabler version a Register without `lwm2m=` speaks (Core §5.2: absent means 1.0). */
export const DEFAULT_LWM2M_VERSION: LwM2mVersion = '1.0';

export interface ParsedLwM2mVersion {
  readonly major: number;
  readonly minor: number;
  /** The third number of a `1.2.1`-style value; undefined for `1.2`. */
  readonly patch: number | undefined;
  /** `major.minor`, the form feature checks and `lwm2m=` use. */
  readonly enabler: string;
}

// /1/x/25 Supported Server Versions: `1*DIGIT "." 1*DIGIT ["." 1*DIGIT]`. Digits are bounded so a
// hostile value cannot make big numbers; no leading zeros, so each version has one spelling.
const VERSION_RE = /^(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})(?:\.(0|[1-9][0-9]{0,3}))?$/;

/**
 * Parses an enabler version: `1.2`, and also `1.2.1` (the patch-level form /1/x/25 allows). The
 * `lwm2m=` parameter is meant to carry `major.minor` only (Core §6.2.1: "the approved version
 * number"); a patch level is accepted and kept, but features follow `major.minor`, since patch
 * releases (1.2.1, 1.2.2) do not change the protocol's feature set. Throws
 * OperationError('bad-parameter', 4.00) for anything else.
 */
export function parseLwM2mVersion(text: string): ParsedLwM2mVersion {
  const m = typeof text === 'string' ? VERSION_RE.exec(text) : null;
  if (!m) {
    const shown = String(text).length > 16 ? `${String(text).slice(0, 16)}…` : String(text);
    throw new OperationError('bad-parameter', '4.00', `"${shown}" is not an LwM2M version (major.minor)`);
  }
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return {
    major,
    minor,
    patch: m[3] === undefined ? undefined : Number(m[3]),
    enabler: `${major}.${minor}`,
  };
}

function asParsed(v: string | ParsedLwM2mVersion): ParsedLwM2mVersion {
  return typeof v === 'string' ? parseLwM2mVersion(v) : v;
}

/** Orders versions numerically (`1.10` after `1.9`); a missing patch counts as 0. */
export function compareLwM2mVersions(a: string | ParsedLwM2mVersion, b: string | ParsedLwM2mVersion): number {
  const x = asParsed(a);
  const y = asParsed(b);
  return x.major - y.major || x.minor - y.minor || (x.patch ?? 0) - (y.patch ?? 0);
}

/**
 * The supported enabler version a `lwm2m=` value names (`1.2.1` → `1.2`), or undefined when it is
 * well formed but not served here (the server then answers 4.12). `supported` narrows the set,
 * e.g. for a server configured to serve 1.1+ only. Throws 'bad-parameter' for malformed text.
 */
export function resolveLwM2mVersion(
  text: string,
  supported: readonly string[] = SUPPORTED_LWM2M_VERSIONS,
): LwM2mVersion | undefined {
  const { enabler } = parseLwM2mVersion(text);
  return (SUPPORTED_LWM2M_VERSIONS as readonly string[]).includes(enabler) && supported.includes(enabler)
    ? (enabler as LwM2mVersion)
    : undefined;
}

/** What an enabler version can do, for the checks a peer of that version needs. */
export interface VersionFeatures {
  readonly version: string;
  /** Discover `depth` (1.2). */
  readonly depth: boolean;
  /** Notification attributes as query parameters of Observe (1.2). */
  readonly observeAttributes: boolean;
  /** Read-/Write-/Observe-Composite and their cancels (1.1). */
  readonly compositeOperations: boolean;
  /** Query attributes on Observe-Composite (1.2). */
  readonly observeCompositeAttributes: boolean;
  /** Send `POST /dp` (1.1). */
  readonly send: boolean;
  /** SenML JSON 110 / SenML CBOR 112 (1.1). */
  readonly senml: boolean;
  /** CBOR 60 for a single value (1.1). */
  readonly cbor: boolean;
  /** LwM2M CBOR 11544 (1.2). */
  readonly lwm2mCbor: boolean;
  /** SenML-ETCH JSON 320 / CBOR 322 (1.2). */
  readonly senmlEtch: boolean;
  /** Registration `pid` (1.2). */
  readonly profileId: boolean;
  /** Bootstrap-Read (1.1). */
  readonly bootstrapRead: boolean;
  /** Bootstrap-Pack-Request (1.2). */
  readonly bootstrapPack: boolean;
  /** Bootstrap-Request `pct` (1.1). */
  readonly bootstrapPreferredFormat: boolean;
  /** Queue mode as the separate `Q` flag (1.1); 1.0 writes it into `b` (`UQ`, `SQ`, `UQS`). */
  readonly queueModeFlag: boolean;
  /** `lt` and `lwm2m` mandatory in Register (1.1); 1.0 defaults them (86400, 1.0). */
  readonly mandatoryRegisterParameters: boolean;
  /** Resource-instance paths `/o/i/r/ri` as operation targets (Read, Write, Observe, Delete …; 1.1). */
  readonly resourceInstancePaths: boolean;
  /** The notification attributes this version defines (from model/attributes.ts `since`). */
  readonly attributes: readonly NotificationAttributeName[];
  /** Content formats this version defines (value formats and link format 40). */
  readonly contentFormats: readonly number[];
}

const FORMATS_1_0: readonly number[] = Object.freeze([0, 40, 42, 11542, 11543]);
const FORMATS_1_1: readonly number[] = Object.freeze([...FORMATS_1_0, 60, 110, 112]);
const FORMATS_1_2: readonly number[] = Object.freeze([...FORMATS_1_1, 320, 322, 11544]);

/**
 * The feature table of an enabler version (LWM2M-1.2.md §5 and §9.1). A version newer than 1.2
 * gets the 1.2 set (forward compatibility, Core §5.2), one older than 1.0 the 1.0 set. Throws
 * 'bad-parameter' for malformed text.
 */
export function versionFeatures(version: string | ParsedLwM2mVersion): VersionFeatures {
  // Asked for on every request; a fleet has a handful of version strings.
  if (typeof version === 'string') {
    let known = featuresByText.get(version);
    if (known === undefined) {
      known = Object.freeze(computeFeatures(parseLwM2mVersion(version)));
      if (featuresByText.size < 64) featuresByText.set(version, known);
    }
    return known;
  }
  return computeFeatures(version);
}

const featuresByText = new Map<string, VersionFeatures>();

function computeFeatures(version: string | ParsedLwM2mVersion): VersionFeatures {
  const v = asParsed(version);
  const atLeast = (since: string): boolean => compareLwM2mVersions(v, since) >= 0;
  const v11 = atLeast('1.1');
  const v12 = atLeast('1.2');
  return {
    version: v.enabler,
    depth: v12,
    observeAttributes: v12,
    compositeOperations: v11,
    observeCompositeAttributes: v12,
    send: v11,
    senml: v11,
    cbor: v11,
    lwm2mCbor: v12,
    senmlEtch: v12,
    profileId: v12,
    bootstrapRead: v11,
    bootstrapPack: v12,
    bootstrapPreferredFormat: v11,
    queueModeFlag: v11,
    mandatoryRegisterParameters: v11,
    resourceInstancePaths: v11,
    attributes: NOTIFICATION_ATTRIBUTE_NAMES.filter((n) => atLeast(NOTIFICATION_ATTRIBUTES[n].since)),
    contentFormats: v12 ? FORMATS_1_2 : v11 ? FORMATS_1_1 : FORMATS_1_0,
  };
}
