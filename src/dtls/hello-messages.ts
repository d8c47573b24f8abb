import { AlertDescription } from './alert.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { DtlsError } from './dtls-errors.js';
import type { RawExtension } from './extensions.js';
import { encodeExtensions, parseExtensions } from './extensions.js';

/** DTLS ClientHello (RFC 6347 §4.2.1: the TLS 1.2 hello plus a cookie). */
export interface ClientHello {
  clientVersion: number;
  /** 32 bytes. */
  random: Uint8Array;
  /** 0..32 bytes. */
  sessionId: Uint8Array;
  /** 0..255 bytes (RFC 6347 §4.3.2: cookie<0..2^8-1>). */
  cookie: Uint8Array;
  cipherSuites: number[];
  compressionMethods: number[];
  /** In wire order; an absent extensions block decodes as []. */
  extensions: RawExtension[];
}

export interface ServerHello {
  serverVersion: number;
  random: Uint8Array;
  sessionId: Uint8Array;
  cipherSuite: number;
  compressionMethod: number;
  extensions: RawExtension[];
}

/** HelloVerifyRequest (RFC 6347 §4.2.1). */
export interface HelloVerifyRequest {
  serverVersion: number;
  cookie: Uint8Array;
}

function alertOn(what: string, message: string): DtlsError {
  return new DtlsError('malformed', `${what}: ${message}`, { alert: AlertDescription.decode_error });
}

function readRandom(r: ByteReader): Uint8Array {
  return r.bytesOf(32, 'random');
}

/** The optional extensions block at the end of a hello (RFC 5246 §7.4.1.2). */
function readExtensions(r: ByteReader): RawExtension[] {
  if (r.remaining === 0) return [];
  const block = r.vector(2, 'extensions');
  return parseExtensions(block);
}

function writeExtensions(w: ByteWriter, extensions: readonly RawExtension[]): void {
  if (extensions.length > 0) w.vector(2, encodeExtensions(extensions), 'extensions');
}

export function decodeClientHello(body: Uint8Array): ClientHello {
  const r = new ByteReader(body, 'ClientHello');
  const clientVersion = r.u16('client_version');
  const random = readRandom(r);
  const sessionId = r.vector(1, 'session_id', 0, 32);
  const cookie = r.vector(1, 'cookie', 0, 255);
  const suites = new ByteReader(r.vector(2, 'cipher_suites', 2, 0xfffe), 'cipher_suites');
  if (suites.remaining % 2 !== 0) throw alertOn('ClientHello', 'odd cipher_suites length');
  const cipherSuites: number[] = [];
  while (suites.remaining > 0) cipherSuites.push(suites.u16());
  const compressionMethods = [...r.vector(1, 'compression_methods', 1)];
  const extensions = readExtensions(r);
  r.end();
  return { clientVersion, random, sessionId, cookie, cipherSuites, compressionMethods, extensions };
}

export function encodeClientHello(h: ClientHello): Uint8Array {
  const suites = new ByteWriter();
  for (const s of h.cipherSuites) suites.u16(s);
  const w = new ByteWriter()
    .u16(h.clientVersion)
    .bytes(fixedRandom(h.random))
    .vector(1, h.sessionId, 'session_id')
    .vector(1, h.cookie, 'cookie')
    .vector(2, suites.finish(), 'cipher_suites')
    .vector(1, Uint8Array.from(h.compressionMethods), 'compression_methods');
  writeExtensions(w, h.extensions);
  return w.finish();
}

export function decodeServerHello(body: Uint8Array): ServerHello {
  const r = new ByteReader(body, 'ServerHello');
  const serverVersion = r.u16('server_version');
  const random = readRandom(r);
  const sessionId = r.vector(1, 'session_id', 0, 32);
  const cipherSuite = r.u16('cipher_suite');
  const compressionMethod = r.u8('compression_method');
  const extensions = readExtensions(r);
  r.end();
  return { serverVersion, random, sessionId, cipherSuite, compressionMethod, extensions };
}

export function encodeServerHello(h: ServerHello): Uint8Array {
  const w = new ByteWriter()
    .u16(h.serverVersion)
    .bytes(fixedRandom(h.random))
    .vector(1, h.sessionId, 'session_id')
    .u16(h.cipherSuite)
    .u8(h.compressionMethod);
  writeExtensions(w, h.extensions);
  return w.finish();
}

export function decodeHelloVerifyRequest(body: Uint8Array): HelloVerifyRequest {
  const r = new ByteReader(body, 'HelloVerifyRequest');
  const serverVersion = r.u16('server_version');
  const cookie = r.vector(1, 'cookie', 0, 255);
  r.end();
  return { serverVersion, cookie };
}

export function encodeHelloVerifyRequest(h: HelloVerifyRequest): Uint8Array {
  return new ByteWriter().u16(h.serverVersion).vector(1, h.cookie, 'cookie').finish();
}

/** ServerHelloDone has an empty body (RFC 5246 §7.4.5). */
export function decodeServerHelloDone(body: Uint8Array): void {
  if (body.length !== 0) throw alertOn('ServerHelloDone', `${body.length} unexpected bytes`);
}

function fixedRandom(random: Uint8Array): Uint8Array {
  if (random.length !== 32) throw new DtlsError('malformed', `random must be 32 bytes, got ${random.length}`);
  return random;
}
