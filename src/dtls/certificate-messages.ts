import { AlertDescription } from './alert.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { DtlsError } from './dtls-errors.js';
import type { DigitallySigned } from './key-exchange-messages.js';
import { readDigitallySigned, writeDigitallySigned } from './key-exchange-messages.js';

/**
 * Certificate (RFC 5246 §7.4.2): an X.509 chain (DER, sender's first), or with the raw public key
 * type negotiated (RFC 7250 §3) one DER SubjectPublicKeyInfo.
 */
export type Certificate =
  { type: 'x509'; chain: Uint8Array[] } | { type: 'raw_public_key'; subjectPublicKeyInfo: Uint8Array };

/** CertificateRequest (RFC 5246 §7.4.4). */
export interface CertificateRequest {
  /** ClientCertificateType values (64 = ecdsa_sign, RFC 8422 §5.5). */
  certificateTypes: number[];
  /** SignatureAndHashAlgorithm as u16. */
  signatureSchemes: number[];
  /** DER DistinguishedNames. */
  certificateAuthorities: Uint8Array[];
}

const MAX_CHAIN = 16;

export function decodeCertificate(body: Uint8Array, type: Certificate['type']): Certificate {
  const r = new ByteReader(body, 'Certificate');
  if (type === 'raw_public_key') {
    const subjectPublicKeyInfo = r.vector(3, 'ASN.1_subjectPublicKeyInfo', 1);
    r.end();
    return { type, subjectPublicKeyInfo };
  }
  const list = new ByteReader(r.vector(3, 'certificate_list'), 'certificate_list');
  r.end();
  const chain: Uint8Array[] = [];
  while (list.remaining > 0) {
    if (chain.length >= MAX_CHAIN)
      throw new DtlsError('too-many', `more than ${MAX_CHAIN} certificates`, {
        alert: AlertDescription.bad_certificate,
      });
    chain.push(list.vector(3, 'ASN.1Cert', 1));
  }
  return { type, chain };
}

export function encodeCertificate(c: Certificate): Uint8Array {
  if (c.type === 'raw_public_key')
    return new ByteWriter().vector(3, c.subjectPublicKeyInfo, 'subjectPublicKeyInfo').finish();
  const list = new ByteWriter();
  for (const cert of c.chain) list.vector(3, cert, 'ASN.1Cert');
  return new ByteWriter().vector(3, list.finish(), 'certificate_list').finish();
}

export function decodeCertificateRequest(body: Uint8Array): CertificateRequest {
  const r = new ByteReader(body, 'CertificateRequest');
  const certificateTypes = [...r.vector(1, 'certificate_types', 1)];
  const algs = new ByteReader(
    r.vector(2, 'supported_signature_algorithms', 2, 0xfffe),
    'signature algorithms',
  );
  if (algs.remaining % 2 !== 0)
    throw new DtlsError('malformed', 'CertificateRequest: odd signature algorithm list', {
      alert: AlertDescription.decode_error,
    });
  const signatureSchemes: number[] = [];
  while (algs.remaining > 0) signatureSchemes.push(algs.u16());
  const cas = new ByteReader(r.vector(2, 'certificate_authorities'), 'certificate_authorities');
  const certificateAuthorities: Uint8Array[] = [];
  while (cas.remaining > 0) certificateAuthorities.push(cas.vector(2, 'DistinguishedName', 1));
  r.end();
  return { certificateTypes, signatureSchemes, certificateAuthorities };
}

export function encodeCertificateRequest(m: CertificateRequest): Uint8Array {
  const algs = new ByteWriter();
  for (const s of m.signatureSchemes) algs.u16(s);
  const cas = new ByteWriter();
  for (const dn of m.certificateAuthorities) cas.vector(2, dn, 'DistinguishedName');
  return new ByteWriter()
    .vector(1, Uint8Array.from(m.certificateTypes), 'certificate_types')
    .vector(2, algs.finish(), 'supported_signature_algorithms')
    .vector(2, cas.finish(), 'certificate_authorities')
    .finish();
}

/** CertificateVerify (RFC 5246 §7.4.8): a signature over the handshake messages so far. */
export function decodeCertificateVerify(body: Uint8Array): DigitallySigned {
  const r = new ByteReader(body, 'CertificateVerify');
  const out = readDigitallySigned(r);
  r.end();
  return out;
}

export function encodeCertificateVerify(m: DigitallySigned): Uint8Array {
  return writeDigitallySigned(new ByteWriter(), m).finish();
}
