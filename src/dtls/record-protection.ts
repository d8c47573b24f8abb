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
import { ByteWriter } from './byte-writer.js';
import type { CipherSuite } from './cipher-suites.js';
import { DtlsError } from './dtls-errors.js';
import type { DirectionKeys } from './key-schedule.js';
import type { DtlsRecord } from './record.js';
import { ContentType, recordSequence } from './record.js';

/** TLSPlaintext.length must not exceed 2^14 (RFC 5246 §6.2.1). */
export const MAX_PLAINTEXT = 2 ** 14;
const BLOCK = 16;
const CCM_TAG = 8;

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
    this.cipherKey = createSecretKey(keys.key);
  }

  /** Made once: importing a raw key on every record is a large part of the cost of a small one. */
  private readonly cipherKey: KeyObject;

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
      // The real type is the last non-zero byte; the zeros after it are padding (RFC 9146 §4).
      let end = content.length - 1;
      while (end >= 0 && content[end] === 0) end--;
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

  private sealCcm(header: DtlsRecord, aad: Uint8Array, content: Uint8Array): Uint8Array {
    // nonce_explicit = epoch || sequence_number: unique per key without extra state.
    const nonce = this.nonce(recordSequence(header.epoch, header.sequenceNumber));
    const cipher = createCipheriv('aes-128-ccm', this.cipherKey, nonce, { authTagLength: CCM_TAG });
    cipher.setAAD(aad, { plaintextLength: content.length });
    // explicit nonce || ciphertext || tag, written into one array.
    const out = new Uint8Array(8 + content.length + CCM_TAG);
    out.set(nonce.subarray(4));
    out.set(cipher.update(content), 8);
    cipher.final();
    out.set(cipher.getAuthTag(), 8 + content.length);
    return out;
  }

  /** The CCM nonce: the fixed IV from the key block, then the 8-byte explicit part (RFC 6655 §3). */
  private nonce(explicit: Uint8Array): Uint8Array {
    const nonce = new Uint8Array(4 + 8);
    nonce.set(this.keys.iv);
    nonce.set(explicit, 4);
    return nonce;
  }

  private openCcm(record: DtlsRecord): Uint8Array {
    const f = record.fragment;
    if (f.length < this.suite.recordIvLength + CCM_TAG) throw badMac();
    const explicit = f.subarray(0, this.suite.recordIvLength);
    const body = f.subarray(this.suite.recordIvLength, f.length - CCM_TAG);
    const aad = authenticatedHeader(record, body.length);
    try {
      const decipher = createDecipheriv('aes-128-ccm', this.cipherKey, this.nonce(explicit), {
        authTagLength: CCM_TAG,
      });
      decipher.setAuthTag(f.subarray(f.length - CCM_TAG));
      decipher.setAAD(aad, { plaintextLength: body.length });
      const out = decipher.update(body);
      decipher.final();
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    } catch (e) {
      throw badMac(e);
    }
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
  const w = new ByteWriter();
  if (record.type === ContentType.tls12_cid) {
    const cid = record.cid ?? new Uint8Array(0);
    w.bytes(new Uint8Array(8).fill(0xff))
      .u8(ContentType.tls12_cid)
      .u8(cid.length)
      .u8(ContentType.tls12_cid)
      .u16(record.version)
      .u16(record.epoch)
      .u48(record.sequenceNumber)
      .bytes(cid);
  } else {
    w.bytes(recordSequence(record.epoch, record.sequenceNumber)).u8(record.type).u16(record.version);
  }
  return w.u16(contentLength).finish();
}
