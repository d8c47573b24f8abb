import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import { requirePeer, run as runProgram } from '../support/peers.js';

async function petrel(args: string[]) {
  let out = '';
  let err = '';
  const io: CliIo = {
    readStdin: () => Promise.resolve(new Uint8Array()),
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
  };
  const code = await runCli(args, io);
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'petrel-fw-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string): string => join(dir, name);
const IMAGE = new Uint8Array(5000).map((_, i) => (i * 13) & 255);
writeFileSync(file('app.bin'), IMAGE);

// ECDSA r||s (RFC 9053 §2.1) <-> DER Ecdsa-Sig-Value (RFC 3279 §2.2.3), written out here so the
// openssl check does not lean on our code.
function rawToDer(rs: Uint8Array): Buffer {
  const int = (b: Uint8Array): Buffer => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = Buffer.from(b.subarray(i));
    const body = v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v;
    return Buffer.concat([Buffer.from([0x02, body.length]), body]);
  };
  const seq = Buffer.concat([int(rs.subarray(0, 32)), int(rs.subarray(32))]);
  return Buffer.concat([Buffer.from([0x30, seq.length]), seq]);
}
function derToRaw(der: Buffer): Buffer {
  assert.equal(der[0], 0x30);
  let at = 2;
  const part = (): Buffer => {
    assert.equal(der[at], 0x02);
    const len = der[at + 1]!;
    const v = der.subarray(at + 2, at + 2 + len);
    at += 2 + len;
    const trimmed = v.length > 32 ? v.subarray(v.length - 32) : v;
    return Buffer.concat([Buffer.alloc(32 - trimmed.length), trimmed]);
  };
  return Buffer.concat([part(), part()]);
}
// CBOR pieces per RFC 8949 §3.1 (byte-string head) and the RFC 9052 §4.4 Sig_structure.
const bstr = (b: Uint8Array): Buffer => {
  const head =
    b.length < 24
      ? [0x40 + b.length]
      : b.length < 256
        ? [0x58, b.length]
        : [0x59, b.length >> 8, b.length & 255];
  return Buffer.concat([Buffer.from(head), b]);
};
const sigStructure = (protectedBytes: Uint8Array, payload: Uint8Array): Buffer =>
  Buffer.concat([
    Buffer.from('846a', 'hex'),
    Buffer.from('Signature1'),
    bstr(protectedBytes),
    Buffer.from([0x40]),
    bstr(payload),
  ]);

/** Splits a signed package by the documented layout (docs/firmware.md), independently of src/firmware. */
function splitPackage(pkg: Buffer) {
  const headerLength = pkg.readUInt32BE(10);
  const cose = pkg.subarray(14, 14 + headerLength);
  // d2 84 43 a10126 <unprotected map> <payload bstr> 5840 <r||s>
  assert.equal(cose.subarray(0, 6).toString('hex'), 'd28443a10126');
  const signature = cose.subarray(cose.length - 64);
  assert.equal(cose.subarray(cose.length - 66, cose.length - 64).toString('hex'), '5840');
  let at = 6;
  const mapHead = cose[at]!;
  at += 1;
  for (let i = 0; i < (mapHead & 0x1f); i++) {
    at += 1; // label 4
    at += 1 + (cose[at]! & 0x1f); // short kid bstr
  }
  const payloadHead = cose[at]!;
  const payloadLength =
    payloadHead === 0x58
      ? cose[at + 1]!
      : payloadHead === 0x59
        ? cose.readUInt16BE(at + 1)
        : payloadHead - 0x40;
  const payloadStart = at + (payloadHead === 0x58 ? 2 : payloadHead === 0x59 ? 3 : 1);
  const payload = cose.subarray(payloadStart, payloadStart + payloadLength);
  return {
    protectedBytes: Buffer.from('a10126', 'hex'),
    payload,
    signature,
    image: pkg.subarray(14 + headerLength),
  };
}

describe('petrel firmware', () => {
  it('keygen → sign → verify succeeds, and inspect --json states the manifest', async () => {
    const keygen = await petrel([
      'firmware',
      'keygen',
      '--out',
      file('release.key'),
      '--public-out',
      file('release.pub'),
    ]);
    assert.equal(keygen.code, 0, keygen.err);
    assert.equal(statSync(file('release.key')).mode & 0o777, 0o600);
    const keyText = readFileSync(file('release.key'), 'utf8');
    assert.match(keyText, /^-----BEGIN PRIVATE KEY-----[\s\S]+-----BEGIN PUBLIC KEY-----/);
    assert.equal(
      readFileSync(file('release.pub'), 'utf8'),
      keyText.slice(keyText.indexOf('-----BEGIN PUBLIC KEY-----')),
    );

    const sign = await petrel([
      'firmware',
      'sign',
      '--key',
      file('release.key'),
      '--image',
      file('app.bin'),
      '--out',
      file('app.pfw'),
      '--fw-version',
      '2.4.1',
      '--vendor',
      'Acme',
      '--class',
      'sensor-v2',
      '--min-version',
      '2.0',
      '--name',
      'acme-fw',
      '--kid',
      'rel-2026',
      '--hint',
      'reboot=true',
      '--hint',
      'slot=2',
    ]);
    assert.equal(sign.code, 0, sign.err);
    assert.match(sign.out, /version 2\.4\.1/);

    for (const key of ['release.pub', 'release.key']) {
      const ok = await petrel([
        'firmware',
        'verify',
        '--package',
        file('app.pfw'),
        '--key',
        file(key),
        '--class',
        'sensor-v2',
        '--vendor',
        'Acme',
        '--current-version',
        '2.3',
      ]);
      assert.equal(ok.code, 0, ok.err);
      assert.match(ok.out, /^ok: .*version 2\.4\.1, image 5000 bytes/);
    }

    const inspect = await petrel(['firmware', 'inspect', file('app.pfw'), '--json']);
    assert.equal(inspect.code, 0, inspect.err);
    const j = JSON.parse(inspect.out) as Record<string, unknown> & { manifest: Record<string, unknown> };
    assert.equal(j.kind, 'package');
    assert.equal(j.signed, true);
    assert.equal(j.algName, 'ES256');
    assert.equal(j.kidText, 'rel-2026');
    assert.equal(j.imageBytes, 5000);
    assert.equal(j.digestMatches, true);
    assert.deepEqual(j.manifest, {
      formatVersion: 1,
      digestAlgorithm: 'sha-256',
      digest: createHash('sha256').update(IMAGE).digest('hex'),
      size: 5000,
      version: '2.4.1',
      vendor: 'Acme',
      deviceClass: 'sensor-v2',
      minVersion: '2.0',
      name: 'acme-fw',
      installHints: { reboot: true, slot: 2 },
    });
    const text = await petrel(['firmware', 'inspect', file('app.pfw')]);
    assert.match(
      text.out,
      /signed package \(COSE_Sign1 ES256\)[\s\S]*version\s+2\.4\.1[\s\S]*deviceClass\s+sensor-v2/,
    );
    const plain = await petrel(['firmware', 'inspect', file('app.bin'), '--json']);
    assert.deepEqual(JSON.parse(plain.out), {
      kind: 'plain',
      signed: false,
      imageBytes: 5000,
      imageDigest: createHash('sha256').update(IMAGE).digest('hex'),
    });
  });

  it('verify exits 1 naming the phase: digest, signature, device checks, unsigned', async () => {
    const pkg = readFileSync(file('app.pfw'));
    const tampered = Buffer.from(pkg);
    tampered[tampered.length - 100]! ^= 0x40;
    writeFileSync(file('tampered.pfw'), tampered);
    const digest = await petrel([
      'firmware',
      'verify',
      '--package',
      file('tampered.pfw'),
      '--key',
      file('release.pub'),
    ]);
    assert.equal(digest.code, 1);
    assert.match(digest.err, /refused at digest \(Update Result 5\)/);

    assert.equal((await petrel(['firmware', 'keygen', '--out', file('other.key')])).code, 0);
    const wrong = await petrel([
      'firmware',
      'verify',
      '--package',
      file('app.pfw'),
      '--key',
      file('other.key'),
    ]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /refused at signature \(Update Result 5\)/);

    const cls = await petrel([
      'firmware',
      'verify',
      '--package',
      file('app.pfw'),
      '--key',
      file('release.pub'),
      '--class',
      'x',
    ]);
    assert.equal(cls.code, 1);
    assert.match(cls.err, /refused at device-class \(Update Result 6\)/);
    const old = await petrel([
      'firmware',
      'verify',
      '--package',
      file('app.pfw'),
      '--key',
      file('release.pub'),
      '--current-version',
      '1.9',
    ]);
    assert.equal(old.code, 1);
    assert.match(old.err, /refused at version/);

    const plain = await petrel([
      'firmware',
      'verify',
      '--package',
      file('app.bin'),
      '--key',
      file('release.pub'),
    ]);
    assert.equal(plain.code, 1);
    assert.match(plain.err, /refused at unsigned \(Update Result 6\)/);

    const cut = await petrel(['firmware', 'inspect', file('cut.pfw')]);
    assert.equal(cut.code, 1, 'a missing file is refused');
    writeFileSync(file('cut.pfw'), pkg.subarray(0, 30));
    const cutInspect = await petrel(['firmware', 'inspect', file('cut.pfw')]);
    assert.equal(cutInspect.code, 1);
    assert.match(cutInspect.err, /refused at envelope/);
  });

  it('refuses to overwrite key files without --force', async () => {
    const before = readFileSync(file('release.key'), 'utf8');
    const again = await petrel(['firmware', 'keygen', '--out', file('release.key')]);
    assert.equal(again.code, 1);
    assert.match(again.err, /exists; pass --force/);
    assert.equal(readFileSync(file('release.key'), 'utf8'), before);
    const pubOnly = await petrel([
      'firmware',
      'keygen',
      '--out',
      file('fresh.key'),
      '--public-out',
      file('release.pub'),
    ]);
    assert.equal(pubOnly.code, 1);
    assert.equal(existsSync(file('fresh.key')), false, 'nothing is written when any target exists');
    const forced = await petrel(['firmware', 'keygen', '--out', file('release.key'), '--force']);
    assert.equal(forced.code, 0, forced.err);
    assert.notEqual(readFileSync(file('release.key'), 'utf8'), before);
    assert.equal(statSync(file('release.key')).mode & 0o777, 0o600);
  });

  it('refuses bad input to sign with a usage error', async () => {
    assert.equal((await petrel(['firmware', 'keygen', '--out', file('s.key')])).code, 0);
    const base = [
      'firmware',
      'sign',
      '--key',
      file('s.key'),
      '--image',
      file('app.bin'),
      '--out',
      file('s.pfw'),
    ];
    assert.equal((await petrel([...base, '--fw-version', ''])).code, 2);
    assert.equal((await petrel([...base, '--fw-version', '1', '--hint', 'novalue'])).code, 2);
    assert.equal(
      (await petrel([...base.slice(0, 5), file('missing.bin'), ...base.slice(6), '--fw-version', '1'])).code,
      1,
    );
  });
});

describe('petrel firmware: interop with OpenSSL', () => {
  it('OpenSSL verifies our ES256 signature over the Sig_structure, and we verify OpenSSL’s', async (t) => {
    const openssl = requirePeer(t, 'openssl', 'openssl');
    if (openssl === undefined) return;
    assert.equal(
      (await petrel(['firmware', 'keygen', '--out', file('o.key'), '--public-out', file('o.pub')])).code,
      0,
    );
    assert.equal(
      (
        await petrel([
          'firmware',
          'sign',
          '--key',
          file('o.key'),
          '--image',
          file('app.bin'),
          '--out',
          file('o.pfw'),
          '--fw-version',
          '1.0',
          '--kid',
          'k',
        ])
      ).code,
      0,
    );
    // 1. ours → OpenSSL: Sig_structure rebuilt by hand, r||s converted to DER.
    const parts = splitPackage(readFileSync(file('o.pfw')));
    assert.deepEqual(new Uint8Array(parts.image), IMAGE);
    writeFileSync(file('tbs.bin'), sigStructure(parts.protectedBytes, parts.payload));
    writeFileSync(file('sig.der'), rawToDer(parts.signature));
    const checked = await runProgram(openssl, [
      'dgst',
      '-sha256',
      '-verify',
      file('o.pub'),
      '-signature',
      file('sig.der'),
      file('tbs.bin'),
    ]);
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout, /Verified OK/);

    // 2. OpenSSL → ours: a key OpenSSL made (SEC1 PEM) signs a Sig_structure; we assemble the
    //    COSE_Sign1 and envelope by hand, and `petrel firmware verify` accepts it.
    const made = await runProgram(openssl, [
      'ecparam',
      '-name',
      'prime256v1',
      '-genkey',
      '-noout',
      '-out',
      file('ossl.key'),
    ]);
    assert.equal(made.code, 0, made.stderr);
    const pub = await runProgram(openssl, [
      'ec',
      '-in',
      file('ossl.key'),
      '-pubout',
      '-out',
      file('ossl.pub'),
    ]);
    assert.equal(pub.code, 0, pub.stderr);
    writeFileSync(file('tbs2.bin'), sigStructure(parts.protectedBytes, parts.payload));
    const signed = await runProgram(openssl, [
      'dgst',
      '-sha256',
      '-sign',
      file('ossl.key'),
      '-out',
      file('sig2.der'),
      file('tbs2.bin'),
    ]);
    assert.equal(signed.code, 0, signed.stderr);
    const rs = derToRaw(readFileSync(file('sig2.der')));
    const cose = Buffer.concat([
      Buffer.from('d28443a10126a0', 'hex'),
      bstr(parts.payload),
      Buffer.from('5840', 'hex'),
      rs,
    ]);
    const prefix = Buffer.from('895046570d0a1a0a0101' + '00000000', 'hex');
    prefix.writeUInt32BE(cose.length, 10);
    writeFileSync(file('ossl.pfw'), Buffer.concat([prefix, cose, IMAGE]));
    const ok = await petrel(['firmware', 'verify', '--package', file('ossl.pfw'), '--key', file('ossl.pub')]);
    assert.equal(ok.code, 0, ok.err);
    const refused = await petrel([
      'firmware',
      'verify',
      '--package',
      file('ossl.pfw'),
      '--key',
      file('o.pub'),
    ]);
    assert.match(refused.err, /refused at signature/);

    // 3. `petrel firmware sign` takes the OpenSSL SEC1 key, and OpenSSL reads our PKCS#8 key file.
    const signedWithOssl = await petrel([
      'firmware',
      'sign',
      '--key',
      file('ossl.key'),
      '--image',
      file('app.bin'),
      '--out',
      file('o2.pfw'),
      '--fw-version',
      '1',
    ]);
    assert.equal(signedWithOssl.code, 0, signedWithOssl.err);
    assert.equal(
      (await petrel(['firmware', 'verify', '--package', file('o2.pfw'), '--key', file('ossl.pub')])).code,
      0,
    );
    const readOurs = await runProgram(openssl, ['pkey', '-in', file('o.key'), '-noout', '-text']);
    assert.equal(readOurs.code, 0, readOurs.stderr);
    assert.match(readOurs.stdout, /prime256v1|P-256/);
  });
});
