import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LwM2mPath } from '../../src/model/path.js';

/** One datagram of a capture file (see ../shared/captures/README.md for the fields). */
export interface CaptureLine {
  seq: number;
  dir: 'client->server' | 'server->client';
  peer: string;
  hex: string;
  summary: string;
  code: string | null;
  contentFormat: number | null;
  type?: string;
  mid?: number;
  token?: string;
  options?: { number: number; name: string; value: unknown; hex: string }[];
  payloadLength?: number;
  payloadText?: string;
  note?: string | null;
}

/** A payload with what it belongs to: the request's method and Uri-Path (for responses, their request's). */
export interface CapturedPayload {
  file: string;
  line: CaptureLine;
  contentFormat: number;
  /** `/3/0`, `/` for composites, `/rd` for Register ... */
  requestPath: string;
  /** The request's code (`0.01` GET, `0.02` POST, `0.03` PUT, `0.05` FETCH, `0.07` iPATCH). */
  requestCode: string;
  isRequest: boolean;
  payload: Uint8Array;
}

export function readCapture(dir: string, file: string): CaptureLine[] {
  return readFileSync(join(dir, 'captures', file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as CaptureLine);
}

/** Every capture file in the shared folder (by name), with its lines. */
export function readAllCaptures(dir: string): { file: string; line: CaptureLine }[] {
  return readdirSync(join(dir, 'captures'))
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((file) => readCapture(dir, file).map((line) => ({ file, line })));
}

/** The capture files with LwM2M traffic: two clients and two bootstrap runs. */
export const CAPTURE_FILES = [
  'lwm2m-1.2-client-udp.jsonl',
  'lwm2m-1.1-client-udp.jsonl',
  'bootstrap-1.2-client.jsonl',
  'bootstrap-1.1-client.jsonl',
];

function uriPath(line: CaptureLine): string {
  const segs = (line.options ?? []).filter((o) => o.number === 11).map((o) => String(o.value));
  return '/' + segs.join('/');
}

/** The CoAP payload of a datagram: the bytes after the 0xFF marker (options are parsed by length). */
export function coapPayload(line: CaptureLine): Uint8Array {
  const len = line.payloadLength ?? 0;
  const bytes = Buffer.from(line.hex, 'hex');
  return new Uint8Array(bytes.subarray(bytes.length - len));
}

/** Every datagram with a payload and a Content-Format, paired with the request it belongs to. */
export function capturedPayloads(dir: string, file: string): CapturedPayload[] {
  const lines = readCapture(dir, file);
  const out: CapturedPayload[] = [];
  const lastRequest = new Map<string, CaptureLine>(); // by token, the latest request seen
  for (const line of lines) {
    const isRequest = line.code !== null && line.code.startsWith('0.') && line.code !== '0.00';
    if (isRequest && line.token !== undefined) lastRequest.set(line.token, line);
    if (!line.payloadLength || line.contentFormat === null) continue;
    const request = isRequest ? line : line.token !== undefined ? lastRequest.get(line.token) : undefined;
    if (!request) continue;
    out.push({
      file,
      line,
      contentFormat: line.contentFormat,
      requestPath: uriPath(request),
      requestCode: request.code!,
      isRequest,
      payload: coapPayload(line),
    });
  }
  return out;
}

/** The payloads of one Content-Format in some capture files (default: all of CAPTURE_FILES). */
export function capturedPayloadsOf(
  dir: string,
  contentFormat: number,
  files: readonly string[] = CAPTURE_FILES,
): CapturedPayload[] {
  return files.flatMap((file) =>
    capturedPayloads(dir, file).filter((c) => c.contentFormat === contentFormat),
  );
}

/** The path a payload is decoded at: composites (FETCH, iPATCH) and Send (/dp) address the root. */
export function targetPath(c: CapturedPayload): LwM2mPath {
  if (c.requestCode === '0.05' || c.requestCode === '0.07' || c.requestPath === '/dp') return LwM2mPath.ROOT;
  return LwM2mPath.parse(c.requestPath);
}
