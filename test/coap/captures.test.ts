// Every CoAP datagram of the shared captures (two third-party LwM2M clients, a third-party bootstrap
// server, our scripted LwM2M server) parses to the fields recorded beside it and re-encodes byte
// for byte; so do the CoAP messages inside the decrypted DTLS ApplicationData records.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCode, type CoapMessage } from '../../src/coap/message.js';
import { checkOptions, decodeString, decodeUint, optionDefinition } from '../../src/coap/options.js';
import { decodeCoapUdp, encodeCoapUdp } from '../../src/coap/udp-codec.js';
import { CAPTURE_FILES, readCapture, type CaptureLine } from '../support/captures.js';
import { requireShared } from '../support/shared.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

/** The option value as the capture tooling decoded it: numbers for uint, text for string options. */
function typedValue(number: number, value: Uint8Array): unknown {
  const def = optionDefinition(number);
  if (def?.format === 'uint') return decodeUint(value);
  if (def?.format === 'string') return decodeString(value);
  return undefined;
}

function checkLine(file: string, line: CaptureLine): void {
  const where = `${file} #${line.seq} (${line.summary})`;
  const bytes = fromHex(line.hex);
  const m = decodeCoapUdp(bytes);
  assert.equal(m.type, line.type, `${where}: type`);
  assert.equal(formatCode(m.code), line.code, `${where}: code`);
  assert.equal(m.messageId, line.mid, `${where}: mid`);
  assert.equal(toHex(m.token), line.token, `${where}: token`);
  assert.deepEqual(
    m.options.map((o) => [o.number, toHex(o.value)]),
    (line.options ?? []).map((o) => [o.number, o.hex]),
    `${where}: options`,
  );
  for (const [k, o] of (line.options ?? []).entries()) {
    const def = optionDefinition(o.number);
    assert.equal(def?.name, o.name, `${where}: option name`);
    if (def?.format === 'uint' || def?.format === 'string')
      assert.deepEqual(typedValue(o.number, m.options[k]!.value), o.value, `${where}: ${o.name} value`);
  }
  assert.equal(m.payload.length, line.payloadLength, `${where}: payload length`);
  if (line.payloadText !== undefined) assert.equal(decodeString(m.payload), line.payloadText);
  assert.equal(toHex(encodeCoapUdp(m)), line.hex, `${where}: re-encoding`);
  // Every captured message uses registered options only, within their bounds.
  const check = checkOptions(m);
  assert.ok(check.ok && check.ignored.length === 0, `${where}: options check`);
}

describe('CoAP datagrams of the shared captures', () => {
  for (const file of CAPTURE_FILES) {
    it(`${file}: every datagram parses to its recorded fields and re-encodes byte for byte`, (t) => {
      const dir = requireShared(t);
      if (!dir) return;
      const lines = readCapture(dir, file);
      assert.ok(lines.length > 20, `${file} has datagrams`);
      for (const line of lines) checkLine(file, line);
    });
  }

  it('covers every message type, requests, responses and empty messages', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    const messages: CoapMessage[] = CAPTURE_FILES.flatMap((f) =>
      readCapture(dir, f).map((l) => decodeCoapUdp(fromHex(l.hex))),
    );
    assert.equal(messages.length, 215 + 205 + 24 + 22);
    const types = new Set(messages.map((m) => m.type));
    assert.deepEqual([...types].sort(), ['ACK', 'CON', 'NON', 'RST']);
    const codes = new Set(messages.map((m) => formatCode(m.code)));
    for (const c of ['0.00', '0.01', '0.02', '0.03', '0.04', '0.05', '0.07', '2.05', '4.06', '5.00'])
      assert.ok(codes.has(c), `a ${c} message`);
    assert.ok(
      messages.some((m) => m.token.length === 0 && m.code !== 0),
      'a zero-length token',
    );
  });

  it('parses the CoAP messages inside the decrypted DTLS ApplicationData', (t) => {
    const dir = requireShared(t);
    if (!dir) return;
    interface Decrypted {
      contentType: number;
      plaintextHex: string;
      summary: string;
    }
    const lines = readCapture(dir, 'dtls12-psk-ccm8.jsonl') as (CaptureLine & { decrypted?: Decrypted[] })[];
    const appData = lines.flatMap((l) => (l.decrypted ?? []).filter((d) => d.contentType === 23));
    assert.equal(appData.length, 4, 'Register, 2.01, De-register, 2.02');
    for (const d of appData) {
      const m = decodeCoapUdp(fromHex(d.plaintextHex));
      const [, type, mid, tok] = /^CoAP (\w+) .* mid=(\d+) tok=([0-9a-f]*)/.exec(d.summary) ?? [];
      assert.equal(m.type, type, d.summary);
      assert.equal(m.messageId, Number(mid), d.summary);
      assert.equal(toHex(m.token), tok, d.summary);
      assert.equal(toHex(encodeCoapUdp(m)), d.plaintextHex, d.summary);
    }
  });
});
