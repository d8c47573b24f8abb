import { AlertDescription } from './alert.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { DtlsError } from './dtls-errors.js';

/** Record content types (RFC 5246 §6.2.1, RFC 6520 heartbeat, RFC 9146 §4 tls12_cid). */
export const ContentType = {
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
  heartbeat: 24,
  tls12_cid: 25,
} as const;
export type ContentType = (typeof ContentType)[keyof typeof ContentType];

/** Wire versions: DTLS 1.2 is {254, 253}, DTLS 1.0 {254, 255} (RFC 6347 §4.1). */
export const DTLS_1_2 = 0xfefd;
export const DTLS_1_0 = 0xfeff;

/** The DTLSPlaintext header without CID: type, version, epoch, sequence_number, length. */
export const RECORD_HEADER_LENGTH = 13;
/** The largest sequence number (48 bits, RFC 6347 §4.1). */
export const MAX_SEQUENCE_NUMBER = 2 ** 48 - 1;
/** TLSCiphertext.length must not exceed 2^14 + 2048 (RFC 5246 §6.2.3). */
export const MAX_RECORD_FRAGMENT = 2 ** 14 + 2048;

/**
 * One DTLS record as on the wire. `fragment` is the plaintext for epoch 0 and the protected bytes
 * after that; `cid` is present only on tls12_cid records (RFC 9146 §4).
 */
export interface DtlsRecord {
  type: number;
  version: number;
  epoch: number;
  /** 48-bit, as an exact number below 2^48. */
  sequenceNumber: number;
  cid?: Uint8Array;
  fragment: Uint8Array;
}

export interface RecordParseOptions {
  /**
   * The CID length this endpoint gave its peer (RFC 9146: the receiver knows it, the header does
   * not carry it). Undefined: tls12_cid records cannot be framed and end the datagram's parse.
   */
  cidLength?: number;
  /** At most this many records per datagram; more is an error and ends the parse. Default 32. */
  maxRecords?: number;
}

/**
 * A parsed datagram: the records that framed and passed the header checks, and one error per
 * record that did not.
 *
 * Choice (RFC 6347 §4.1.2.7: invalid records SHOULD be discarded silently): a record whose header
 * is complete and whose length fits the datagram but that fails a check (content type, version,
 * length bound) is skipped and parsing continues with the next record; a record that cannot be
 * framed (truncated header or fragment, a tls12_cid record without a configured CID length, the
 * record bound) ends the parse, because the next record's start is unknown. Nothing is thrown.
 */
export interface ParsedDatagram {
  records: DtlsRecord[];
  errors: DtlsError[];
}

const KNOWN_TYPES = new Set<number>(Object.values(ContentType));

/**
 * The versions a record may carry: DTLS 1.2 and 1.0 (HelloVerifyRequest is often sent as 1.0,
 * RFC 6347 §4.2.1), any version on an epoch-0 ClientHello (RFC 5246 Appendix E.1 lets a client
 * pick the record version of its first hello; real clients send 0xfe00).
 */
function versionAccepted(version: number, type: number, epoch: number, fragment: Uint8Array): boolean {
  if (version === DTLS_1_2 || version === DTLS_1_0) return true;
  return epoch === 0 && type === ContentType.handshake && fragment[0] === 1;
}

/** Splits a datagram into records (RFC 6347 §4.1: several records may share a datagram). */
export function parseDatagram(datagram: Uint8Array, options: RecordParseOptions = {}): ParsedDatagram {
  const maxRecords = options.maxRecords ?? 32;
  const records: DtlsRecord[] = [];
  const errors: DtlsError[] = [];
  const r = new ByteReader(datagram, 'DTLS record');
  while (r.remaining > 0) {
    if (records.length + errors.length >= maxRecords) {
      errors.push(new DtlsError('too-many', `more than ${maxRecords} records in one datagram`));
      break;
    }
    const start = r.offset;
    try {
      const type = r.u8('type');
      const version = r.u16('version');
      const epoch = r.u16('epoch');
      const sequenceNumber = r.u48('sequence_number');
      let cid: Uint8Array | undefined;
      if (type === ContentType.tls12_cid) {
        if (options.cidLength === undefined)
          throw new DtlsError('unexpected-cid', `tls12_cid record at offset ${start} but no CID is in use`);
        cid = r.bytesOf(options.cidLength, 'cid');
      }
      const fragment = r.vector(2, 'fragment');
      const record: DtlsRecord = { type, version, epoch, sequenceNumber, fragment };
      if (cid) record.cid = cid;
      const problem = !KNOWN_TYPES.has(type)
        ? new DtlsError('unknown-content-type', `record content type ${type} at offset ${start}`, {
            alert: AlertDescription.unexpected_message,
          })
        : !versionAccepted(version, type, epoch, fragment)
          ? new DtlsError('bad-version', `record version ${version.toString(16)} at offset ${start}`, {
              alert: AlertDescription.protocol_version,
            })
          : fragment.length > MAX_RECORD_FRAGMENT
            ? new DtlsError('too-large', `record of ${fragment.length} bytes at offset ${start}`, {
                alert: AlertDescription.record_overflow,
              })
            : undefined;
      if (problem) errors.push(problem);
      else records.push(record);
    } catch (e) {
      if (!(e instanceof DtlsError)) throw e;
      errors.push(e);
      break;
    }
  }
  return { records, errors };
}

/** The wire form of one record (header with CID for tls12_cid records, then the fragment). */
export function encodeRecord(record: DtlsRecord): Uint8Array {
  if (
    !Number.isInteger(record.sequenceNumber) ||
    record.sequenceNumber < 0 ||
    record.sequenceNumber > MAX_SEQUENCE_NUMBER
  )
    throw new DtlsError('too-large', `sequence number ${record.sequenceNumber} is not a 48-bit integer`);
  // Sized up front: one buffer, no regrowth, returned as is.
  const size = RECORD_HEADER_LENGTH + (record.cid?.length ?? 0) + record.fragment.length;
  const w = new ByteWriter(size)
    .u8(record.type)
    .u16(record.version)
    .u16(record.epoch)
    .u48(record.sequenceNumber);
  if (record.type === ContentType.tls12_cid) {
    if (!record.cid) throw new DtlsError('malformed', 'a tls12_cid record needs a cid');
    w.bytes(record.cid);
  }
  return w.vector(2, record.fragment, 'record fragment').finish();
}

/** Several records in one datagram, in order. */
export function encodeDatagram(records: readonly DtlsRecord[]): Uint8Array {
  const w = new ByteWriter();
  for (const record of records) w.bytes(encodeRecord(record));
  return w.finish();
}

/** The 8-byte seq_num of MACs and AADs: epoch(2) || sequence_number(6) (RFC 6347 §4.1.2.1). */
export function recordSequence(epoch: number, sequenceNumber: number): Uint8Array {
  return new ByteWriter(8).u16(epoch).u48(sequenceNumber).finish();
}
