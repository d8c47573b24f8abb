// The centrepiece: a real DTLS 1.2 PSK-AES128-CCM8 handshake (third-party client against
// openssl s_server, ../shared/captures/dtls12-psk-ccm8.jsonl). Our record layer, handshake codecs,
// key schedule and record protection must reproduce every value the capture's README records.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cipherSuite } from '../../src/dtls/cipher-suites.js';
import { decodeExtensions, findExtension, ExtensionType } from '../../src/dtls/extensions.js';
import {
  decodeFinished,
  decodeNewSessionTicket,
  decodeChangeCipherSpec,
} from '../../src/dtls/finished-messages.js';
import type { HandshakeMessage } from '../../src/dtls/handshake.js';
import {
  HandshakeType,
  encodeHandshakeMessage,
  parseHandshakeFragments,
  wholeMessage,
} from '../../src/dtls/handshake.js';
import { HandshakeTranscript } from '../../src/dtls/handshake-transcript.js';
import {
  decodeClientHello,
  decodeHelloVerifyRequest,
  decodeServerHello,
  decodeServerHelloDone,
  encodeClientHello,
  encodeHelloVerifyRequest,
  encodeServerHello,
} from '../../src/dtls/hello-messages.js';
import { decodeClientKeyExchange, encodeClientKeyExchange } from '../../src/dtls/key-exchange-messages.js';
import {
  extendedMasterSecret,
  keyBlock,
  pskPremasterSecret,
  verifyData,
} from '../../src/dtls/key-schedule.js';
import type { DtlsRecord } from '../../src/dtls/record.js';
import { ContentType, encodeDatagram, parseDatagram } from '../../src/dtls/record.js';
import { RecordProtection } from '../../src/dtls/record-protection.js';
import { ReplayWindow } from '../../src/dtls/replay-window.js';
import type { CaptureLine } from '../support/captures.js';
import { readCapture } from '../support/captures.js';
import { sharedDir } from '../support/shared.js';

interface DtlsLine extends CaptureLine {
  records: {
    contentType: number;
    version: string;
    epoch: number;
    seq: number;
    length: number;
    offset: number;
  }[];
  decrypted?: { record: number; contentType: number; plaintextHex: string }[];
}

const FILE = 'dtls12-psk-ccm8.jsonl';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

const PSK = bytes('0123456789abcdeffedcba9876543210');
const IDENTITY = 'client-a-psk-identity';
const MASTER =
  '7dd85e4c229d75ba77998d5e3ff814b50885291976b62e38cdb7d43757521fab25c378900c8bf7423af8a0a4504fd59f';
const CLIENT_RANDOM = '6b06defc9ded19ddc0e6fcab2378b3e007d0e078b1755d5905ba2e716665632e';
const SERVER_RANDOM = '3695ac99a4d1240e45e41020678298222685fbf60798028079bc1c82b4aaa266';

const dir = sharedDir();
const missing = `shared folder not found (set PETREL_SHARED): cannot read captures/${FILE}`;
if (!dir && process.env.CI === 'true') throw new Error(missing);

interface Parsed {
  line: DtlsLine;
  records: DtlsRecord[];
}

/** Every datagram with its records, and the plaintext handshake messages in wire order. */
function load(d: string): { datagrams: Parsed[]; handshakes: { dir: string; message: HandshakeMessage }[] } {
  const lines = readCapture(d, FILE) as DtlsLine[];
  const datagrams: Parsed[] = [];
  const handshakes: { dir: string; message: HandshakeMessage }[] = [];
  for (const line of lines) {
    const { records, errors } = parseDatagram(bytes(line.hex));
    assert.deepEqual(errors, [], `datagram ${line.seq}`);
    datagrams.push({ line, records });
    for (const rec of records)
      if (rec.epoch === 0 && rec.type === ContentType.handshake)
        for (const f of parseHandshakeFragments(rec.fragment)) {
          const message = wholeMessage(f);
          assert.ok(message, `datagram ${line.seq}: handshake message is not fragmented`);
          handshakes.push({ dir: line.dir, message });
        }
  }
  return { datagrams, handshakes };
}

describe(`capture ${FILE}`, { skip: dir ? false : missing }, () => {
  const { datagrams, handshakes } = load(dir!);
  const suite = cipherSuite(0xc0a8)!;
  const types = handshakes.map((h) => h.message.msgType);
  const byType = (t: number, nth = 0): HandshakeMessage =>
    handshakes.filter((h) => h.message.msgType === t)[nth]!.message;

  it('parses every record of every datagram as the capture lists them, and re-encodes them byte for byte', () => {
    assert.equal(datagrams.length, 11);
    let count = 0;
    for (const { line, records } of datagrams) {
      assert.equal(records.length, line.records.length, `datagram ${line.seq}`);
      records.forEach((r, i) => {
        const want = line.records[i]!;
        assert.equal(r.type, want.contentType);
        assert.equal(r.version.toString(16).padStart(4, '0'), want.version);
        assert.equal(r.epoch, want.epoch);
        assert.equal(r.sequenceNumber, want.seq);
        assert.equal(r.fragment.length, want.length);
        count++;
      });
      assert.equal(hex(encodeDatagram(records)), line.hex);
    }
    assert.equal(count, 15);
    // The capture quirk: the first ClientHello's record version is 0xfe00.
    assert.equal(datagrams[0]!.records[0]!.version, 0xfe00);
  });

  it('sees the plaintext handshake messages in order', () => {
    assert.deepEqual(types, [
      HandshakeType.client_hello,
      HandshakeType.hello_verify_request,
      HandshakeType.client_hello,
      HandshakeType.server_hello,
      HandshakeType.server_hello_done,
      HandshakeType.client_key_exchange,
      HandshakeType.new_session_ticket,
    ]);
    assert.deepEqual(
      handshakes.map((h) => h.message.messageSeq),
      [0, 0, 1, 1, 2, 2, 3],
    );
  });

  it('decodes both ClientHellos, the HelloVerifyRequest cookie and the ServerHello', () => {
    const first = decodeClientHello(byType(HandshakeType.client_hello, 0).body);
    const hvr = decodeHelloVerifyRequest(byType(HandshakeType.hello_verify_request).body);
    const second = decodeClientHello(byType(HandshakeType.client_hello, 1).body);
    assert.equal(first.clientVersion, 0xfefd);
    assert.equal(first.cookie.length, 0);
    assert.equal(hvr.serverVersion, 0xfeff);
    assert.equal(hex(hvr.cookie), '5cf7169c9122cf409d26627d63d6cc122a706516');
    assert.equal(hex(second.cookie), hex(hvr.cookie));
    assert.equal(hex(second.random), CLIENT_RANDOM);
    assert.equal(hex(first.random), CLIENT_RANDOM, 'the retried hello keeps its random (RFC 6347 §4.2.1)');
    assert.equal(second.cipherSuites.length, 38);
    assert.ok(second.cipherSuites.includes(0xc0a8));
    assert.ok(second.cipherSuites.includes(0x00ff), 'renegotiation SCSV');
    assert.deepEqual(second.compressionMethods, [0]);
    const ext = decodeExtensions(second.extensions, 'client');
    assert.deepEqual(findExtension(ext, 'server_name')?.hostNames, ['127.0.0.1']);
    assert.ok(findExtension(ext, 'extended_master_secret'));
    assert.ok(findExtension(ext, 'supported_groups')?.groups.includes(23));
    assert.ok(findExtension(ext, 'signature_algorithms')?.schemes.includes(0x0403));
    for (const m of [first, second])
      assert.equal(hex(encodeClientHello(m)), hex(byType(1, m === first ? 0 : 1).body));
    assert.equal(hex(encodeHelloVerifyRequest(hvr)), hex(byType(HandshakeType.hello_verify_request).body));

    const sh = decodeServerHello(byType(HandshakeType.server_hello).body);
    assert.equal(sh.serverVersion, 0xfefd);
    assert.equal(sh.cipherSuite, 0xc0a8);
    assert.equal(sh.compressionMethod, 0);
    assert.equal(hex(sh.random), SERVER_RANDOM);
    const shExt = decodeExtensions(sh.extensions, 'server');
    assert.deepEqual(
      sh.extensions.map((e) => e.type),
      [ExtensionType.renegotiation_info, ExtensionType.session_ticket, ExtensionType.extended_master_secret],
    );
    assert.equal(findExtension(shExt, 'renegotiation_info')?.renegotiatedConnection.length, 0);
    assert.equal(hex(encodeServerHello(sh)), hex(byType(HandshakeType.server_hello).body));
    decodeServerHelloDone(byType(HandshakeType.server_hello_done).body);
  });

  it('decodes the ClientKeyExchange PSK identity and the NewSessionTicket', () => {
    const cke = decodeClientKeyExchange(byType(HandshakeType.client_key_exchange).body, 'psk');
    assert.equal(cke.keyExchange, 'psk');
    assert.equal(cke.keyExchange === 'psk' && Buffer.from(cke.identity).toString('ascii'), IDENTITY);
    assert.equal(hex(encodeClientKeyExchange(cke)), hex(byType(HandshakeType.client_key_exchange).body));
    const nst = decodeNewSessionTicket(byType(HandshakeType.new_session_ticket).body);
    assert.equal(nst.lifetimeHint, 7200);
    assert.equal(nst.ticket.length, 192);
  });

  // The session hash: ClientHello with cookie through ClientKeyExchange (RFC 7627 §3, RFC 6347 §4.2.1).
  const transcript = new HandshakeTranscript();
  for (const h of handshakes.slice(2, 6)) transcript.add(h.message);
  const sessionHash = transcript.hash();
  const master = extendedMasterSecret(pskPremasterSecret(PSK), sessionHash);
  const keys = keyBlock(master, bytes(CLIENT_RANDOM), bytes(SERVER_RANDOM), suite);

  it('derives the premaster secret, the extended master secret and the key block', () => {
    assert.equal(hex(pskPremasterSecret(PSK)), '0010' + '00'.repeat(16) + '0010' + hex(PSK));
    assert.equal(hex(master), MASTER);
    assert.equal(hex(keys.client.key), '94294a0fe9bedebbc64c7add5040bec6');
    assert.equal(hex(keys.server.key), 'd2743861690996af877921b1863465c3');
    assert.equal(hex(keys.client.iv), 'e9451173');
    assert.equal(hex(keys.server.iv), '165e4298');
    assert.equal(keys.client.macKey.length, 0);
  });

  it('decrypts every epoch-1 record to the recorded plaintext, and re-encrypts it identically', () => {
    const protection = {
      'client->server': new RecordProtection(suite, keys.client),
      'server->client': new RecordProtection(suite, keys.server),
    };
    const windows = { 'client->server': new ReplayWindow(), 'server->client': new ReplayWindow() };
    let decrypted = 0;
    for (const { line, records } of datagrams) {
      for (const want of line.decrypted ?? []) {
        const rec = records[want.record]!;
        assert.equal(rec.epoch, 1);
        const window = windows[line.dir];
        assert.ok(window.accepts(rec.sequenceNumber));
        const plain = protection[line.dir].unprotect(rec);
        window.mark(rec.sequenceNumber);
        assert.ok(!window.accepts(rec.sequenceNumber), 'a replay of the same record is refused');
        assert.equal(plain.type, want.contentType);
        assert.equal(hex(plain.fragment), want.plaintextHex);
        const again = protection[line.dir].protect(plain);
        assert.equal(hex(again.fragment), hex(rec.fragment));
        decrypted++;
      }
    }
    assert.equal(decrypted, 6);
  });

  it('verifies both Finished messages', () => {
    const finished = datagrams
      .flatMap(({ line, records }) =>
        (line.decrypted ?? []).map((d) => ({ dir: line.dir, rec: records[d.record]! })),
      )
      .filter((f) => f.rec.type === ContentType.handshake)
      .map((f) => {
        const keysOf = f.dir === 'client->server' ? keys.client : keys.server;
        const plain = new RecordProtection(suite, keysOf).unprotect(f.rec);
        const [fragment] = parseHandshakeFragments(plain.fragment);
        return wholeMessage(fragment!)!;
      });
    assert.equal(finished.length, 2);
    const [clientFinished, serverFinished] = finished as [HandshakeMessage, HandshakeMessage];
    assert.equal(clientFinished.msgType, HandshakeType.finished);
    assert.equal(hex(decodeFinished(clientFinished.body)), hex(verifyData(master, 'client', sessionHash)));
    assert.equal(hex(clientFinished.body), 'd85980691da8301e150327e1');
    // The server's Finished covers the client's Finished and the NewSessionTicket sent before it.
    transcript.add(clientFinished).add(byType(HandshakeType.new_session_ticket));
    assert.equal(
      hex(decodeFinished(serverFinished.body)),
      hex(verifyData(master, 'server', transcript.hash())),
    );
    assert.equal(hex(serverFinished.body), '5c49487d584c9ef295f56782');
    // A wrong PSK gives a different client verify_data.
    const wrong = extendedMasterSecret(pskPremasterSecret(new Uint8Array(16)), sessionHash);
    assert.notEqual(hex(verifyData(wrong, 'client', sessionHash)), hex(clientFinished.body));
    assert.equal(hex(encodeHandshakeMessage(clientFinished)).slice(0, 24), '1400000c000300000000000c');
  });

  it('accepts the ChangeCipherSpec records and refuses a tampered epoch-1 record', () => {
    const ccs = datagrams.flatMap((d) => d.records).filter((r) => r.type === ContentType.change_cipher_spec);
    assert.equal(ccs.length, 2);
    for (const r of ccs) decodeChangeCipherSpec(r.fragment);
    const app = datagrams[7]!.records[0]!;
    const tampered = { ...app, fragment: Uint8Array.from(app.fragment) };
    tampered.fragment[20]! ^= 1;
    assert.throws(() => new RecordProtection(suite, keys.client).unprotect(tampered), {
      reason: 'bad-record-mac',
    });
    // The AAD covers the header: the same bytes under another sequence number fail too.
    assert.throws(() => new RecordProtection(suite, keys.client).unprotect({ ...app, sequenceNumber: 9 }), {
      reason: 'bad-record-mac',
    });
  });
});
