import { AlertDescription } from './alert.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { DtlsError } from './dtls-errors.js';

/** Extension code points Petrel understands (IANA TLS ExtensionType registry). */
export const ExtensionType = {
  server_name: 0, // RFC 6066 §3
  max_fragment_length: 1, // RFC 6066 §4
  supported_groups: 10, // RFC 8422 §5.1.1
  ec_point_formats: 11, // RFC 8422 §5.1.2
  signature_algorithms: 13, // RFC 5246 §7.4.1.4.1
  client_certificate_type: 19, // RFC 7250 §3
  server_certificate_type: 20, // RFC 7250 §3
  extended_master_secret: 23, // RFC 7627 §5.1
  record_size_limit: 28, // RFC 8449 §4
  session_ticket: 35, // RFC 5077 §3.2
  connection_id: 54, // RFC 9146 §3
  renegotiation_info: 0xff01, // RFC 5746 §3.2
} as const;

/** Named groups and point formats used with secp256r1 (RFC 8422 §5.1). */
export const NamedGroup = { secp256r1: 23 } as const;
export const EcPointFormat = { uncompressed: 0 } as const;
/** SignatureAndHashAlgorithm as one u16: hash << 8 | signature (RFC 5246 §7.4.1.4.1). */
export const SignatureScheme = { ecdsa_secp256r1_sha256: 0x0403 } as const;
/** Certificate types of RFC 7250 §3. */
export const CertificateType = { x509: 0, raw_public_key: 2 } as const;

/** An extension as on the wire. */
export interface RawExtension {
  type: number;
  data: Uint8Array;
}

/**
 * The decoded form of an extension. Lists appear in the ClientHello; the ServerHello carries the
 * single chosen value (server_name and session_ticket are empty there, RFC 6066 §3 / RFC 5077).
 */
export type Extension =
  | { type: 'server_name'; hostNames: string[] }
  | { type: 'max_fragment_length'; code: number }
  | { type: 'supported_groups'; groups: number[] }
  | { type: 'ec_point_formats'; formats: number[] }
  | { type: 'signature_algorithms'; schemes: number[] }
  | { type: 'client_certificate_type' | 'server_certificate_type'; types: number[] }
  | { type: 'extended_master_secret' }
  | { type: 'record_size_limit'; limit: number }
  | { type: 'session_ticket'; ticket: Uint8Array }
  | { type: 'connection_id'; cid: Uint8Array }
  | { type: 'renegotiation_info'; renegotiatedConnection: Uint8Array }
  | { type: 'unknown'; code: number; data: Uint8Array };

/** Which hello carries the extension: some have a list form (client) and a single form (server). */
export type HelloSide = 'client' | 'server';

const MAX_EXTENSIONS = 64;

/**
 * The extensions block of a hello (the bytes after the 2-byte total length). Refuses two of the
 * same type (RFC 5246 §7.4.1.4) and more than 64.
 */
export function parseExtensions(block: Uint8Array): RawExtension[] {
  const r = new ByteReader(block, 'extensions');
  const out: RawExtension[] = [];
  const seen = new Set<number>();
  while (r.remaining > 0) {
    const type = r.u16('extension_type');
    const data = r.vector(2, 'extension_data');
    if (seen.has(type))
      throw new DtlsError('duplicate-extension', `extension ${type} appears twice`, {
        alert: AlertDescription.illegal_parameter,
      });
    if (out.length >= MAX_EXTENSIONS)
      throw new DtlsError('too-many', `more than ${MAX_EXTENSIONS} extensions`, {
        alert: AlertDescription.decode_error,
      });
    seen.add(type);
    out.push({ type, data });
  }
  return out;
}

/** The extensions block (without its 2-byte total length). */
export function encodeExtensions(extensions: readonly RawExtension[]): Uint8Array {
  const w = new ByteWriter();
  for (const e of extensions) w.u16(e.type).vector(2, e.data, 'extension_data');
  return w.finish();
}

function u16List(r: ByteReader, field: string, min: number): number[] {
  const list = new ByteReader(r.vector(2, field, min), field);
  if (list.remaining % 2 !== 0)
    throw new DtlsError('malformed', `${field}: odd length`, { alert: AlertDescription.decode_error });
  const out: number[] = [];
  while (list.remaining > 0) out.push(list.u16(field));
  return out;
}

function u8List(r: ByteReader, field: string, min: number): number[] {
  return [...r.vector(1, field, min)];
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const encoder = new TextEncoder();

/** The typed form of one wire extension; unknown types (and forms) stay raw. */
export function decodeExtension(raw: RawExtension, side: HelloSide): Extension {
  const r = new ByteReader(raw.data, `extension ${raw.type}`);
  let out: Extension;
  switch (raw.type) {
    case ExtensionType.server_name: {
      if (side === 'server' || raw.data.length === 0) {
        r.end();
        return { type: 'server_name', hostNames: [] };
      }
      // ServerNameList: name_type(1) + HostName<1..2^16-1>; only host_name(0) is defined.
      const list = new ByteReader(r.vector(2, 'server_name_list', 1), 'server_name_list');
      const hostNames: string[] = [];
      while (list.remaining > 0) {
        const nameType = list.u8('name_type');
        const name = list.vector(2, 'host_name', 1);
        if (nameType === 0) hostNames.push(utf8.decode(name));
      }
      out = { type: 'server_name', hostNames };
      break;
    }
    case ExtensionType.max_fragment_length:
      out = { type: 'max_fragment_length', code: r.u8('max_fragment_length') };
      break;
    case ExtensionType.supported_groups:
      out = { type: 'supported_groups', groups: u16List(r, 'named_group_list', 2) };
      break;
    case ExtensionType.ec_point_formats:
      out = { type: 'ec_point_formats', formats: u8List(r, 'ec_point_format_list', 1) };
      break;
    case ExtensionType.signature_algorithms:
      out = { type: 'signature_algorithms', schemes: u16List(r, 'supported_signature_algorithms', 2) };
      break;
    case ExtensionType.client_certificate_type:
    case ExtensionType.server_certificate_type: {
      const type =
        raw.type === ExtensionType.client_certificate_type
          ? 'client_certificate_type'
          : 'server_certificate_type';
      out = {
        type,
        types: side === 'client' ? u8List(r, 'certificate_types', 1) : [r.u8('certificate_type')],
      };
      break;
    }
    case ExtensionType.extended_master_secret:
      out = { type: 'extended_master_secret' };
      break;
    case ExtensionType.record_size_limit: {
      const limit = r.u16('record_size_limit');
      // RFC 8449 §4: values below 64 are a protocol error.
      if (limit < 64)
        throw new DtlsError('malformed', `record_size_limit ${limit} below 64`, {
          alert: AlertDescription.illegal_parameter,
        });
      out = { type: 'record_size_limit', limit };
      break;
    }
    case ExtensionType.session_ticket:
      out = { type: 'session_ticket', ticket: r.rest() };
      break;
    case ExtensionType.connection_id:
      out = { type: 'connection_id', cid: r.vector(1, 'cid') };
      break;
    case ExtensionType.renegotiation_info:
      out = { type: 'renegotiation_info', renegotiatedConnection: r.vector(1, 'renegotiated_connection') };
      break;
    default:
      return { type: 'unknown', code: raw.type, data: raw.data };
  }
  r.end();
  return out;
}

/** The wire form of a typed extension, for the given hello. */
export function encodeExtension(ext: Extension, side: HelloSide): RawExtension {
  const w = new ByteWriter();
  switch (ext.type) {
    case 'unknown':
      return { type: ext.code, data: ext.data };
    case 'server_name':
      if (side === 'client' && ext.hostNames.length > 0) {
        const list = new ByteWriter();
        for (const name of ext.hostNames) list.u8(0).vector(2, encoder.encode(name), 'host_name');
        w.vector(2, list.finish(), 'server_name_list');
      }
      break;
    case 'max_fragment_length':
      w.u8(ext.code);
      break;
    case 'supported_groups':
    case 'signature_algorithms': {
      const values = ext.type === 'supported_groups' ? ext.groups : ext.schemes;
      const list = new ByteWriter();
      for (const v of values) list.u16(v);
      w.vector(2, list.finish(), ext.type);
      break;
    }
    case 'ec_point_formats':
      w.vector(1, Uint8Array.from(ext.formats), ext.type);
      break;
    case 'client_certificate_type':
    case 'server_certificate_type':
      if (side === 'client') w.vector(1, Uint8Array.from(ext.types), ext.type);
      else w.u8(ext.types[0] ?? CertificateType.x509);
      break;
    case 'extended_master_secret':
      break;
    case 'record_size_limit':
      w.u16(ext.limit);
      break;
    case 'session_ticket':
      w.bytes(ext.ticket);
      break;
    case 'connection_id':
      w.vector(1, ext.cid, 'cid');
      break;
    case 'renegotiation_info':
      w.vector(1, ext.renegotiatedConnection, 'renegotiated_connection');
      break;
  }
  return { type: ExtensionType[ext.type], data: w.finish() };
}

/** Decodes a whole extension list (see decodeExtension). */
export function decodeExtensions(raw: readonly RawExtension[], side: HelloSide): Extension[] {
  return raw.map((e) => decodeExtension(e, side));
}

/** The first extension of a given type in a decoded list. */
export function findExtension<T extends Extension['type']>(
  list: readonly Extension[],
  type: T,
): Extract<Extension, { type: T }> | undefined {
  return list.find((e): e is Extract<Extension, { type: T }> => e.type === type);
}
