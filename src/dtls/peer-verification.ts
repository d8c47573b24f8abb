import { X509Certificate, createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { PeerIdentity } from '../transport/channel.js';
import { AlertDescription } from './alert.js';
import type { PeerCredential, PeerVerifier } from './dtls-credentials.js';
import { DtlsError } from './dtls-errors.js';

/**
 * Certificate Usage of the LwM2M Security object (/0/x/15, RFC 6698 §2.1.1): 0 CA constraint,
 * 1 service certificate constraint, 2 trust anchor assertion, 3 domain-issued certificate.
 */
export type CertificateUsage = 0 | 1 | 2 | 3;
/** Matching Type (/0/x/13, RFC 6698 §2.1.3): 0 exact (full DER), 1 SHA-256, 2 SHA-384, 3 SHA-512. */
export type MatchingType = 0 | 1 | 2 | 3;

const HASHES = [undefined, 'sha256', 'sha384', 'sha512'] as const;
/** Longest path we build (leaf, intermediates, anchor). */
const MAX_DEPTH = 8;

function untrusted(alert: AlertDescription, message: string, cause?: unknown): DtlsError {
  return new DtlsError('bad-certificate', message, { alert, cause });
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** A raw-public-key verifier that trusts exactly one SubjectPublicKeyInfo (DER). */
export function rawPublicKeyVerifier(expected: Uint8Array): PeerVerifier {
  const want = Uint8Array.from(expected);
  return (credential) => {
    if (credential.type !== 'rpk')
      throw untrusted(
        AlertDescription.unsupported_certificate,
        'peer sent an X.509 certificate where a raw public key was expected',
      );
    if (!equalBytes(credential.publicKey, want))
      throw untrusted(AlertDescription.bad_certificate, 'peer raw public key is not the configured one');
    return { rpk: credential.publicKey };
  };
}

/**
 * Accepts any raw public key and reports it as the identity: for a server that decides later
 * (per endpoint, from its credential store) whether the key belongs to the client.
 */
export function anyRawPublicKeyVerifier(): PeerVerifier {
  return (credential) => {
    if (credential.type !== 'rpk')
      throw untrusted(
        AlertDescription.unsupported_certificate,
        'peer sent an X.509 certificate where a raw public key was expected',
      );
    return { rpk: credential.publicKey };
  };
}

export interface X509VerifierOptions {
  /** The LwM2M /0/x/4 value (Server Public Key): a certificate (DER), or its hash per `matchingType`. */
  trust: Uint8Array;
  /** /0/x/15. Default 3 (domain-issued certificate). */
  certificateUsage?: CertificateUsage;
  /** /0/x/13. Default 0 (the full certificate). */
  matchingType?: MatchingType;
  /** The name the leaf must carry (DNS name or IP address), checked for usages 0-2 (RFC 6125). */
  serverName?: string;
  /**
   * Further trust anchors (DER) for PKIX validation under usages 0 and 1 (RFC 6698 §2.1.1: PKIX-TA
   * and PKIX-EE validate against the relying party's own anchors). Absent: the presented chain
   * must be consistent up to its last certificate (usage 0 also accepts the /0/x/4 CA as its anchor).
   */
  trustAnchors?: readonly Uint8Array[];
  /** Milliseconds since the epoch, for validity dates. Default Date.now. */
  now?: () => number;
}

/**
 * The verifier of a client checking its server's X.509 chain under the LwM2M Certificate Usage
 * rules (LwM2M 1.2 Transport §5.2.8, RFC 6698 / RFC 7671 semantics):
 * - 0 CA constraint: the chain validates, and a CA in the path matches /0/x/4;
 * - 1 service certificate constraint: the chain validates, and the leaf matches /0/x/4;
 * - 2 trust anchor assertion: the chain validates up to /0/x/4 as the trust anchor;
 * - 3 domain-issued certificate: the leaf matches /0/x/4; no path, date or name check (RFC 7671 §5.1).
 * The identity is the leaf's subject and DER.
 */
export function x509Verifier(options: X509VerifierOptions): PeerVerifier {
  const usage = options.certificateUsage ?? 3;
  const matching = options.matchingType ?? 0;
  if (![0, 1, 2, 3].includes(usage) || ![0, 1, 2, 3].includes(matching))
    throw new DtlsError('unsupported', `certificate usage ${usage} / matching type ${matching} not in 0..3`);
  const trust = Uint8Array.from(options.trust);
  const now = options.now ?? Date.now;
  // With matching type 0, /0/x/4 is the certificate itself: it can be an anchor.
  let trustCert: X509Certificate | undefined;
  if (matching === 0 && usage !== 1 && usage !== 3) trustCert = parseConfigured(trust, '/0/x/4');
  const extraAnchors = (options.trustAnchors ?? []).map((der, i) =>
    parseConfigured(der, `trust anchor ${i}`),
  );
  const matches = (cert: X509Certificate): boolean => matchesTrust(cert.raw, trust, matching);

  return (credential, context) => {
    const chain = parseChain(credential);
    const leaf = chain[0]!;
    const serverName = options.serverName ?? context.serverName;
    if (usage === 3) {
      if (!matches(leaf))
        throw untrusted(
          AlertDescription.bad_certificate,
          'server certificate does not match the configured one (/0/x/4)',
        );
      return x509Identity(leaf);
    }
    let anchors: X509Certificate[];
    if (usage === 2) {
      // The anchor is /0/x/4: given in full, or found among the presented certificates by hash.
      const anchor = trustCert ?? chain.find(matches);
      if (!anchor)
        throw untrusted(
          AlertDescription.unknown_ca,
          'no certificate of the chain matches the trust anchor (/0/x/4)',
        );
      anchors = [anchor];
    } else if (extraAnchors.length > 0) anchors = extraAnchors;
    else anchors = usage === 0 && trustCert ? [trustCert] : [];
    const path = validatePath(chain, anchors, now());
    if (usage === 0 && !path.slice(1).some(matches))
      throw untrusted(
        AlertDescription.unknown_ca,
        'the configured CA (/0/x/4) is not in the certificate path',
      );
    if (usage === 1 && !matches(leaf))
      throw untrusted(
        AlertDescription.bad_certificate,
        'server certificate does not match the configured one (/0/x/4)',
      );
    if (serverName !== undefined) checkName(leaf, serverName);
    return x509Identity(leaf);
  };
}

export interface X509ChainValidatorOptions {
  /** The CAs (DER) a peer's chain must lead to. */
  trustAnchors: readonly Uint8Array[];
  now?: () => number;
}

/**
 * A server's verifier of client certificates: the chain must validate up to one of `trustAnchors`
 * (signatures, validity dates, CA flags). The identity is the leaf's subject and DER; which
 * endpoint it may act as is the caller's decision.
 */
export function x509ChainValidator(options: X509ChainValidatorOptions): PeerVerifier {
  const anchors = options.trustAnchors.map((der, i) => parseConfigured(der, `trust anchor ${i}`));
  if (anchors.length === 0)
    throw new DtlsError('unsupported', 'x509ChainValidator needs at least one trust anchor');
  const now = options.now ?? Date.now;
  return (credential) => {
    const chain = parseChain(credential);
    validatePath(chain, anchors, now());
    return x509Identity(chain[0]!);
  };
}

/** The subject of a certificate as one line ("O=Petrel Test, CN=petrel-dev-1"). */
export function x509Identity(leaf: X509Certificate): PeerIdentity {
  return { x509: { subject: oneLineSubject(leaf.subject), der: new Uint8Array(leaf.raw) } };
}

function oneLineSubject(subject: string): string {
  return subject.split('\n').filter(Boolean).join(', ');
}

/** The CN of a one-line subject as x509Identity gives it, if any (the last CN, the most specific). */
export function subjectCommonName(subject: string): string | undefined {
  let cn: string | undefined;
  for (const part of subject.split(', ')) if (part.startsWith('CN=')) cn = part.slice(3);
  return cn;
}

function matchesTrust(der: Uint8Array, trust: Uint8Array, matching: MatchingType): boolean {
  const hash = HASHES[matching];
  return equalBytes(hash ? createHash(hash).update(der).digest() : der, trust);
}

function parseConfigured(der: Uint8Array, what: string): X509Certificate {
  try {
    return new X509Certificate(Buffer.from(der));
  } catch (e) {
    throw new DtlsError('malformed', `${what} is not a DER X.509 certificate`, { cause: e });
  }
}

function parseChain(credential: PeerCredential): X509Certificate[] {
  if (credential.type !== 'x509')
    throw untrusted(
      AlertDescription.unsupported_certificate,
      'peer sent a raw public key where an X.509 certificate was expected',
    );
  if (credential.chain.length === 0)
    throw untrusted(AlertDescription.bad_certificate, 'peer sent an empty certificate chain');
  return credential.chain.map((der, i) => {
    try {
      return new X509Certificate(Buffer.from(der));
    } catch (e) {
      throw untrusted(
        AlertDescription.bad_certificate,
        `certificate ${i} of the peer chain does not parse`,
        e,
      );
    }
  });
}

/**
 * The issuer's name is the certificate's issuer and its key made the signature. (Not checkIssued:
 * it also refuses issuers without keyCertSign, and we want those refused as "not a CA".)
 */
function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.issuer === issuer.subject && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function checkDates(cert: X509Certificate, at: number, role: string): void {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (!(at >= from))
    throw untrusted(
      AlertDescription.bad_certificate,
      `${role} certificate "${oneLineSubject(cert.subject)}" is not valid before ${cert.validFrom}`,
    );
  if (!(at <= to))
    throw untrusted(
      AlertDescription.certificate_expired,
      `${role} certificate "${oneLineSubject(cert.subject)}" expired on ${cert.validTo}`,
    );
}

/**
 * Builds and checks the path from the leaf upwards (RFC 5280 §6, the parts that matter here): each
 * certificate issued and signed by the next one, taken from the presented chain or the anchors;
 * every certificate within its dates; every issuer a CA. With anchors the path must end at one;
 * without, it ends with the presented chain (checked for consistency only). Returns leaf..top.
 */
function validatePath(
  chain: X509Certificate[],
  anchors: readonly X509Certificate[],
  at: number,
): X509Certificate[] {
  const isAnchor = (c: X509Certificate): boolean => anchors.some((a) => equalBytes(a.raw, c.raw));
  const path = [chain[0]!];
  const pool = [...chain.slice(1), ...anchors];
  for (;;) {
    const current = path[path.length - 1]!;
    checkDates(current, at, path.length === 1 ? 'peer' : 'issuer');
    if (path.length > 1 && !current.ca)
      throw untrusted(
        AlertDescription.bad_certificate,
        `issuer certificate "${oneLineSubject(current.subject)}" is not a CA`,
      );
    if (isAnchor(current)) return path;
    if (path.length >= MAX_DEPTH)
      throw untrusted(AlertDescription.bad_certificate, `certificate path longer than ${MAX_DEPTH}`);
    // An anchor first: a path to a trusted CA wins over a copy presented by the peer.
    const issuer =
      anchors.find((a) => issuedBy(current, a)) ??
      pool.find((c) => !path.includes(c) && !equalBytes(c.raw, current.raw) && issuedBy(current, c));
    if (!issuer) {
      if (anchors.length > 0)
        throw untrusted(
          AlertDescription.unknown_ca,
          `no trusted CA issued "${oneLineSubject(current.subject)}" (issuer "${oneLineSubject(current.issuer)}")`,
        );
      // No anchors: the presented chain must be used in full and be consistent.
      if (path.length < chain.length)
        throw untrusted(AlertDescription.bad_certificate, 'the peer chain is not in issuing order');
      if (current.issuer === current.subject && !issuedBy(current, current))
        throw untrusted(AlertDescription.bad_certificate, 'self-signed certificate with a bad signature');
      return path;
    }
    path.push(issuer);
  }
}

/** The leaf carries the name: a DNS name (SAN or CN, RFC 6125) or an IP address (SAN). */
function checkName(leaf: X509Certificate, name: string): void {
  const ok = isIP(name) !== 0 ? leaf.checkIP(name) !== undefined : leaf.checkHost(name) !== undefined;
  if (!ok)
    throw untrusted(
      AlertDescription.bad_certificate,
      `server certificate "${oneLineSubject(leaf.subject)}" is not valid for "${name}"`,
    );
}
