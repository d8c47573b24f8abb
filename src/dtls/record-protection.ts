import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { AlertDescription } from './alert.js';
import { CCM8_TAG_LENGTH, Ccm8Key, pooledBytes } from './ccm.js';
import type { CipherSuite } from './cipher-suites.js';
import { DtlsError } from './dtls-errors.js';
import type { DirectionKeys } from './key-schedule.js';
import type { DtlsRecord } from './record.js';
import { ContentType, MAX_SEQUENCE_NUMBER, RECORD_HEADER_LENGTH, encodeRecord } from './record.js';

/** TLSPlaintext.length must not exceed 2^14 (RFC 5246 §6.2.1). */
export const MAX_PLAINTEXT = 2 ** 14;
const BLOCK = 16;

export interface ProtectOptions {
  /**
   * The CID the peer asked for (RFC 9146 §3): the record goes out as tls12_cid with the real type
   * inside DTLSInnerPlaintext. Absent or zero-length: a plain record (a zero-length CID means the
   * peer wants none).
   */
  cid?: Uint8Array;
  /** Zero bytes appended to DTLSInnerPlaintext to hide the length (CID records only). Default 0. */
  padding?: number;
}

/**
 * Protects and unprotects records of one direction of one epoch: AES-128-CCM_8 (RFC 6655 §3,
 * RFC 7251) or AES-128-CBC with HMAC-SHA256, MAC-then-encrypt (RFC 5246 §6.2.3.2). With a CID
 * the RFC 9146 §5 record format and MAC/AAD input are used.
 *
 * `unprotect` throws DtlsError('bad-record-mac') on any authentication failure, with no detail on
 * which check failed; callers drop the record silently (RFC 6347 §4.1.2.7).
 */
export class RecordProtection {
  constructor(
    readonly suite: CipherSuite,
    private readonly keys: DirectionKeys,
    /** The source of CBC IVs (tests pin it). */
    private readonly random: (n: number) => Uint8Array = (n) => randomBytes(n),
  ) {
    if (suite.cipher === 'aes-128-ccm8') {
      this.ccm = new Ccm8Key(keys.key);
      this.#nonce.set(keys.iv);
    } else this.cipherKey = createSecretKey(keys.key);
  }

  /** CCM_8 suites: the key with its long-lived AES contexts (see ccm.ts). */
  private readonly ccm: Ccm8Key | undefined;
  /** CBC suites, made once: importing a raw key on every record is a large part of a small one's cost. */
  private readonly cipherKey!: KeyObject;
  /** The AAD of the record being sealed or opened (used at once, never kept); grows for long CIDs. */
  #aad = new Uint8Array(13 + 10 + 16);
  /** Views of #aad by CID length for openWire (a session's CID length never changes). */
  #aadViews: Array<Uint8Array | undefined> = [];

  /** The 13-byte AAD of a record without CID (protectToWire's usual case). */
  readonly #plainAadBuffer = new Uint8Array(13);

  /** authenticatedHeader into this instance's scratch buffer. */
  #aadFor(record: DtlsRecord, contentLength: number): Uint8Array {
    const length = authenticatedHeaderLength(record);
    if (this.#aad.length < length) {
      this.#aad = new Uint8Array(length);
      this.#aadViews = [];
    }
    writeAuthenticatedHeader(this.#aad, record, contentLength);
    return this.#aad.subarray(0, length);
  }
  /** The CCM nonce's buffer: its first 4 bytes (the fixed IV) never change, only the explicit part. */
  readonly #nonce = new Uint8Array(12);

  /** Frees native resources held for this key (its session ended); protecting again remakes them. */
  release(): void {
    this.ccm?.release();
  }

  /** The protected form of a plaintext record (`type` is the real content type). */
  protect(plain: DtlsRecord, options: ProtectOptions = {}): DtlsRecord {
    if (plain.fragment.length > MAX_PLAINTEXT)
      throw new DtlsError('too-large', `plaintext of ${plain.fragment.length} bytes exceeds 2^14`, {
        alert: AlertDescription.record_overflow,
      });
    const cid = options.cid !== undefined && options.cid.length > 0 ? options.cid : undefined;
    let content = plain.fragment;
    if (cid) {
      // DTLSInnerPlaintext = content || real type || zeros (RFC 9146 §4).
      const padding = options.padding ?? 0;
      content = new Uint8Array(plain.fragment.length + 1 + padding);
      content.set(plain.fragment);
      content[plain.fragment.length] = plain.type;
    }
    const header = { ...plain, type: cid ? ContentType.tls12_cid : plain.type, cid };
    const authData = authenticatedHeader(header, content.length);
    const fragment =
      this.suite.cipher === 'aes-128-ccm8'
        ? this.sealCcm(header, authData, content)
        : this.sealCbc(authData, content);
    const out: DtlsRecord = {
      type: header.type,
      version: plain.version,
      epoch: plain.epoch,
      sequenceNumber: plain.sequenceNumber,
      fragment,
    };
    if (cid) out.cid = cid;
    return out;
  }

  /**
   * The wire form (header and protected fragment) of a plaintext record: `encodeRecord(protect(…))`
   * in one buffer. A CCM_8 record without a CID, the usual case, is sealed straight into it.
   */
  protectToWire(plain: DtlsRecord, options: ProtectOptions = {}): Uint8Array {
    if (this.suite.cipher !== 'aes-128-ccm8') return encodeRecord(this.protect(plain, options));
    const cid = options.cid !== undefined && options.cid.length > 0 ? options.cid : undefined;
    if (plain.fragment.length > MAX_PLAINTEXT)
      throw new DtlsError('too-large', `plaintext of ${plain.fragment.length} bytes exceeds 2^14`, {
        alert: AlertDescription.record_overflow,
      });
    const seq = plain.sequenceNumber;
    if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQUENCE_NUMBER)
      throw new DtlsError('too-large', `sequence number ${seq} is not a 48-bit integer`);
    const type = cid ? ContentType.tls12_cid : plain.type;
    // DTLSInnerPlaintext = content || real type || zeros (RFC 9146 §4).
    const n = cid ? plain.fragment.length + 1 + (options.padding ?? 0) : plain.fragment.length;
    const headerLength = RECORD_HEADER_LENGTH + (cid?.length ?? 0);
    const fragmentLength = 8 + n + CCM8_TAG_LENGTH;
    const out = pooledBytes(headerLength + fragmentLength); // every byte is written below
    let content = plain.fragment;
    if (cid) {
      // Laid out where its ciphertext goes and sealed in place (seal reads each byte before it
      // writes it): no buffer of its own per record.
      const at = headerLength + 8;
      content = out.subarray(at, at + n);
      content.set(plain.fragment);
      content[plain.fragment.length] = plain.type;
      content.fill(0, plain.fragment.length + 1);
    }
    // type, version, epoch || sequence_number, [cid,] length (RFC 6347 §4.1, RFC 9146 §4)
    out[0] = type;
    out[1] = plain.version >>> 8;
    out[2] = plain.version & 0xff;
    writeRecordSequence(out, 3, plain.epoch, seq);
    if (cid) out.set(cid, 11);
    out[headerLength - 2] = fragmentLength >>> 8;
    out[headerLength - 1] = fragmentLength & 0xff;
    // nonce_explicit = epoch || sequence_number (RFC 6655 §3)
    out.copyWithin(headerLength, 3, 11);
    const aad = cid
      ? this.#aadFor(
          { type, version: plain.version, epoch: plain.epoch, sequenceNumber: seq, fragment: content, cid },
          n,
        )
      : this.#plainAad(out, n);
    const nonce = this.#nonce;
    for (let i = 0; i < 8; i++) nonce[4 + i] = out[3 + i]!; // fixed IV || epoch || sequence_number
    this.ccm!.seal(nonce, aad, content, out, headerLength + 8);
    return out;
  }

  /** The AAD of a record without CID whose header is at the start of `wire` (RFC 5246 §6.2.3.3). */
  #plainAad(wire: Uint8Array, contentLength: number): Uint8Array {
    const aad = this.#plainAadBuffer;
    for (let i = 0; i < 8; i++) aad[i] = wire[3 + i]!; // epoch || sequence_number
    aad[8] = wire[0]!;
    aad[9] = wire[1]!;
    aad[10] = wire[2]!;
    aad[11] = contentLength >>> 8;
    aad[12] = contentLength & 0xff;
    return aad;
  }

  /** The plaintext record (real type, CID kept) of a protected one. */
  unprotect(record: DtlsRecord): DtlsRecord {
    const content = this.suite.cipher === 'aes-128-ccm8' ? this.openCcm(record) : this.openCbc(record);
    if (content.length > MAX_PLAINTEXT + (record.type === ContentType.tls12_cid ? 1 + 255 : 0))
      throw new DtlsError('too-large', `plaintext of ${content.length} bytes`, {
        alert: AlertDescription.record_overflow,
      });
    const out: DtlsRecord = {
      type: record.type,
      version: record.version,
      epoch: record.epoch,
      sequenceNumber: record.sequenceNumber,
      fragment: content,
    };
    if (record.type === ContentType.tls12_cid) {
      const end = innerContentEnd(content);
      if (end < 0)
        throw new DtlsError('malformed', 'DTLSInnerPlaintext without a content type', {
          alert: AlertDescription.unexpected_message,
        });
      out.type = content[end]!;
      out.fragment = content.subarray(0, end);
      if (record.cid) out.cid = record.cid;
    }
    return out;
  }

  /**
   * The content of the CCM_8 record that fills `wire` (one record, its header `headerLength`
   * bytes: 13, or 13 + the CID's length for tls12_cid), opened where it lies: `unprotect(parsed
   * record).fragment` without the parse's objects and views, for the established session's usual
   * datagram. For tls12_cid the content is the DTLSInnerPlaintext (content, type, padding).
   * Undefined when it does not authenticate. CCM_8 suites only (see `isCcm8`).
   */
  openWire(wire: Uint8Array, headerLength: number): Uint8Array | undefined {
    const start = headerLength + 8; // the explicit nonce
    if (wire.length < start + CCM8_TAG_LENGTH) return undefined;
    const contentLength = wire.length - start - CCM8_TAG_LENGTH;
    const nonce = this.#nonce;
    for (let i = 0; i < 8; i++) nonce[4 + i] = wire[headerLength + i]!;
    let aad: Uint8Array;
    if (headerLength === RECORD_HEADER_LENGTH) {
      aad = this.#plainAad(wire, contentLength);
    } else {
      // RFC 9146 §5: seq_num_placeholder, tls12_cid, cid_length, tls12_cid, version, epoch,
      // sequence_number, cid, length_of_DTLSInnerPlaintext.
      const cidLength = headerLength - RECORD_HEADER_LENGTH;
      const length = 23 + cidLength;
      if (this.#aad.length < length) {
        this.#aad = new Uint8Array(length);
        this.#aadViews = [];
      }
      const a = this.#aad;
      for (let i = 0; i < 8; i++) a[i] = 0xff;
      a[8] = ContentType.tls12_cid;
      a[9] = cidLength;
      a[10] = ContentType.tls12_cid;
      for (let i = 1; i < 11; i++) a[10 + i] = wire[i]!; // version, epoch, sequence_number
      for (let i = 0; i < cidLength; i++) a[21 + i] = wire[11 + i]!;
      a[21 + cidLength] = contentLength >>> 8;
      a[22 + cidLength] = contentLength & 0xff;
      aad = this.#aadViews[cidLength] ??= a.subarray(0, length);
    }
    return this.ccm!.open(nonce, aad, wire, start, wire.length);
  }

  /** True for the CCM_8 suites (openWire's and the in-place paths'). */
  get isCcm8(): boolean {
    return this.ccm !== undefined;
  }

  private sealCcm(header: DtlsRecord, aad: Uint8Array, content: Uint8Array): Uint8Array {
    // explicit nonce (= epoch || sequence_number: unique per key without extra state) || ciphertext || tag.
    const out = new Uint8Array(8 + content.length + CCM8_TAG_LENGTH);
    writeRecordSequence(out, 0, header.epoch, header.sequenceNumber);
    this.ccm!.seal(this.nonce(out.subarray(0, 8)), aad, content, out, 8);
    return out;
  }

  /** The CCM nonce: the fixed IV from the key block, then the 8-byte explicit part (RFC 6655 §3). */
  private nonce(explicit: Uint8Array): Uint8Array {
    const nonce = this.#nonce;
    nonce.set(explicit, 4);
    return nonce;
  }

  private openCcm(record: DtlsRecord): Uint8Array {
    const f = record.fragment;
    if (f.length < this.suite.recordIvLength + CCM8_TAG_LENGTH) throw badMac();
    const explicit = f.subarray(0, this.suite.recordIvLength);
    const sealed = f.subarray(this.suite.recordIvLength);
    const aad = this.#aadFor(record, sealed.length - CCM8_TAG_LENGTH);
    const plain = this.ccm!.open(this.nonce(explicit), aad, sealed);
    if (plain === undefined) throw badMac();
    return plain;
  }

  private sealCbc(header: Uint8Array, content: Uint8Array): Uint8Array {
    const mac = createHmac('sha256', this.keys.macKey).update(header).update(content).digest();
    const unpadded = content.length + mac.length + 1;
    const padLength = (BLOCK - (unpadded % BLOCK)) % BLOCK;
    const block = new Uint8Array(unpadded + padLength).fill(padLength);
    block.set(content);
    block.set(mac, content.length);
    const iv = this.random(BLOCK);
    const cipher = createCipheriv('aes-128-cbc', this.cipherKey, iv).setAutoPadding(false);
    return Buffer.concat([iv, cipher.update(block), cipher.final()]);
  }

  private openCbc(record: DtlsRecord): Uint8Array {
    const f = record.fragment;
    const macLength = this.suite.macLength;
    const minBlock = Math.ceil((macLength + 1) / BLOCK) * BLOCK;
    if (f.length < BLOCK + minBlock || (f.length - BLOCK) % BLOCK !== 0) throw badMac();
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-128-cbc', this.cipherKey, f.subarray(0, BLOCK)).setAutoPadding(
        false,
      );
      plain = Buffer.concat([decipher.update(f.subarray(BLOCK)), decipher.final()]);
    } catch (e) {
      throw badMac(e);
    }
    // Padding check without an early exit, and the MAC computed even when the padding is bad
    // (as if it were empty), so both failures take about the same time (RFC 5246 §6.2.3.2).
    const n = plain.length;
    const claimed = plain[n - 1]!;
    let good = claimed + 1 + macLength <= n ? 1 : 0;
    const padLength = good ? claimed : 0;
    const scan = Math.min(256, n - macLength);
    for (let i = 1; i <= scan; i++) {
      const inPadding = i <= padLength + 1 ? 1 : 0;
      good &= ~(inPadding & (plain[n - i]! === padLength ? 0 : 1)) & 1;
    }
    const contentLength = n - padLength - 1 - macLength;
    const content = plain.subarray(0, contentLength);
    const header = authenticatedHeader(record, contentLength);
    const expected = createHmac('sha256', this.keys.macKey).update(header).update(content).digest();
    const macOk = timingSafeEqual(expected, plain.subarray(contentLength, contentLength + macLength));
    if (!macOk || good !== 1) throw badMac();
    return new Uint8Array(content.buffer, content.byteOffset, content.length);
  }
}

/**
 * Where the content of a DTLSInnerPlaintext ends: the index of its real content type, the last
 * non-zero byte (the zeros after it are padding, RFC 9146 §4); -1 when it has none.
 */
export function innerContentEnd(inner: Uint8Array): number {
  let end = inner.length - 1;
  while (end >= 0 && inner[end] === 0) end--;
  return end;
}

function badMac(cause?: unknown): DtlsError {
  return new DtlsError('bad-record-mac', 'record authentication failed', {
    alert: AlertDescription.bad_record_mac,
    cause,
  });
}

/**
 * The header bytes the MAC or AEAD covers. Without CID: seq_num(epoch||seq) + type + version +
 * length (RFC 5246 §6.2.3.1/§6.2.3.3, RFC 6347 §4.1.2.1). With CID (RFC 9146 §5):
 * seq_num_placeholder (8 × 0xff) + tls12_cid + cid_length + tls12_cid + version + epoch +
 * sequence_number + cid + length_of_DTLSInnerPlaintext.
 */
export function authenticatedHeader(record: DtlsRecord, contentLength: number): Uint8Array {
  const out = new Uint8Array(authenticatedHeaderLength(record));
  writeAuthenticatedHeader(out, record, contentLength);
  return out;
}

function authenticatedHeaderLength(record: DtlsRecord): number {
  return record.type === ContentType.tls12_cid ? 23 + (record.cid?.length ?? 0) : 13;
}

/** Writes authenticatedHeader's bytes to the start of `out` (long enough). */
function writeAuthenticatedHeader(out: Uint8Array, record: DtlsRecord, contentLength: number): void {
  if (record.type === ContentType.tls12_cid) {
    const cid = record.cid ?? EMPTY;
    out.fill(0xff, 0, 8); // seq_num_placeholder
    out[8] = ContentType.tls12_cid;
    out[9] = cid.length;
    out[10] = ContentType.tls12_cid;
    out[11] = record.version >>> 8;
    out[12] = record.version & 0xff;
    writeRecordSequence(out, 13, record.epoch, record.sequenceNumber);
    out.set(cid, 21);
    out[21 + cid.length] = contentLength >>> 8;
    out[22 + cid.length] = contentLength & 0xff;
    return;
  }
  writeRecordSequence(out, 0, record.epoch, record.sequenceNumber);
  out[8] = record.type;
  out[9] = record.version >>> 8;
  out[10] = record.version & 0xff;
  out[11] = contentLength >>> 8;
  out[12] = contentLength & 0xff;
}

const EMPTY = new Uint8Array(0);

/** epoch (16 bits) || sequence_number (48 bits), big-endian, at `out[at]`. */
function writeRecordSequence(out: Uint8Array, at: number, epoch: number, sequenceNumber: number): void {
  out[at] = epoch >>> 8;
  out[at + 1] = epoch & 0xff;
  const high = Math.floor(sequenceNumber / 0x1_0000_0000);
  out[at + 2] = (high >>> 8) & 0xff;
  out[at + 3] = high & 0xff;
  const low = sequenceNumber >>> 0;
  out[at + 4] = low >>> 24;
  out[at + 5] = (low >>> 16) & 0xff;
  out[at + 6] = (low >>> 8) & 0xff;
  out[at + 7] = low & 0xff;
}
