import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ManifestFields } from '../../src/firmware/manifest.js';
import { encodeManifest } from '../../src/firmware/manifest.js';
import { sign1SigStructure } from '../../src/firmware/cose-sign1.js';
import { buildPackage, manifestFor, PACKAGE_MARKER } from '../../src/firmware/package-envelope.js';
import type { PackageVerdict } from '../../src/firmware/package-stream.js';
import { packageVerifier, type PackageVerifierOptions } from '../../src/firmware/package-verifier.js';

const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const IMAGE = new Uint8Array(3000).map((_, i) => (i * 31 + 7) & 255);
const FIELDS: ManifestFields = {
  version: '2.1.0',
  vendor: 'Acme',
  deviceClass: 'sensor-v2',
  name: 'acme-fw',
};
const SIGNED = buildPackage(IMAGE, FIELDS, keys.privateKey, { kid: Buffer.from('rel-2026') });
const TRUSTING: PackageVerifierOptions = { trustAnchors: [keys.publicKey] };

interface Run {
  image: Uint8Array;
  verdict: PackageVerdict;
}

/** Feeds `bytes` in chunks of the given sizes (cycled), collecting the image bytes handed out. */
function run(
  bytes: Uint8Array,
  options: PackageVerifierOptions,
  sizes: readonly number[] = [bytes.length || 1],
): Run {
  const stream = packageVerifier(options).begin();
  const out: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]!);
    out.push(stream.push(bytes.subarray(at, at + size)));
    at += size;
  }
  return { image: new Uint8Array(Buffer.concat(out)), verdict: stream.end() };
}

function assertRefused(r: Run, updateResult: 5 | 6, phase: string): void {
  assert.equal(r.verdict.ok, false, `expected a refusal at ${phase}`);
  if (r.verdict.ok) return;
  assert.equal(r.verdict.phase, phase, r.verdict.reason);
  assert.equal(r.verdict.updateResult, updateResult, r.verdict.reason);
  assert.ok(r.verdict.reason.length > 10);
}

const withByte = (bytes: Uint8Array, at: number, xor = 0x01): Uint8Array => {
  const copy = bytes.slice();
  copy[at]! ^= xor;
  return copy;
};

/** An envelope around arbitrary header bytes (to build refusals our builder would never produce). */
function envelope(
  header: Uint8Array,
  image: Uint8Array,
  kind = 1,
  layout = 1,
  length = header.length,
): Uint8Array {
  const prefix = new Uint8Array(14);
  prefix.set(PACKAGE_MARKER);
  prefix[8] = layout;
  prefix[9] = kind;
  new DataView(prefix.buffer).setUint32(10, length);
  return new Uint8Array(Buffer.concat([prefix, header, image]));
}

const headerLength = (pkg: Uint8Array): number => new DataView(pkg.buffer, pkg.byteOffset).getUint32(10);

describe('packageVerifier: plain images', () => {
  it('passes a plain image through unchanged in any chunking', () => {
    const plain = IMAGE;
    for (const sizes of [[1], [16], [7, 1, 300], [4096]]) {
      const r = run(plain, TRUSTING, sizes);
      assert.deepEqual(r.image, plain);
      assert.deepEqual(r.verdict, { ok: true, facts: {} });
    }
  });

  it('passes through an image that starts like the marker and then differs (a PNG)', () => {
    const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3);
    const r = run(png, {}, [1]);
    assert.deepEqual(r.image, png);
    assert.equal(r.verdict.ok, true);
  });

  it('refuses a plain image, an unsigned package or an empty download when a signature is required', () => {
    const r = run(IMAGE, { ...TRUSTING, requireSignature: true }, [100]);
    assertRefused(r, 6, 'unsigned');
    assert.equal(r.image.length, 0, 'no byte of an unsigned image is handed out');
    assertRefused(run(buildPackage(IMAGE, FIELDS), { requireSignature: true }), 6, 'unsigned');
    assertRefused(run(new Uint8Array(0), { requireSignature: true }), 6, 'unsigned');
    assert.deepEqual(run(new Uint8Array(0), {}).verdict, { ok: true, facts: {} });
  });
});

describe('packageVerifier: signed packages', () => {
  it('hands out exactly the image and states the manifest facts', () => {
    const r = run(
      SIGNED,
      { ...TRUSTING, vendor: 'Acme', deviceClass: 'sensor-v2', currentVersion: '2.0.9' },
      [16],
    );
    assert.deepEqual(r.image, IMAGE);
    assert.ok(r.verdict.ok);
    assert.deepEqual(r.verdict.facts, {
      name: 'acme-fw',
      version: '2.1.0',
      vendor: 'Acme',
      deviceClass: 'sensor-v2',
      size: IMAGE.length,
      digest: manifestFor(IMAGE, FIELDS).digest,
    });
  });

  it('accepts an unsigned package when no signature is required, with its checks', () => {
    const unsigned = buildPackage(IMAGE, FIELDS);
    const r = run(unsigned, {}, [33]);
    assert.deepEqual(r.image, IMAGE);
    assert.equal(r.verdict.ok, true);
    assertRefused(run(withByte(unsigned, unsigned.length - 1), {}), 5, 'digest');
    assertRefused(run(unsigned, { deviceClass: 'other' }), 6, 'device-class');
  });

  it('accepts an empty image in a package', () => {
    const pkg = buildPackage(new Uint8Array(0), { version: '1' }, keys.privateKey);
    const r = run(pkg, TRUSTING, [5]);
    assert.equal(r.image.length, 0);
    assert.ok(r.verdict.ok);
  });

  it('refuses a package signed by another key before handing out any image byte', () => {
    const r = run(SIGNED, { trustAnchors: [other.publicKey] }, [64]);
    assertRefused(r, 5, 'signature');
    assert.equal(r.image.length, 0);
    assertRefused(run(SIGNED, {}), 5, 'signature');
    assert.equal(run(SIGNED, { trustAnchors: [other.publicKey, keys.publicKey] }).verdict.ok, true);
  });

  it('refuses a tampered image byte (digest) and a tampered manifest byte (signature)', () => {
    assertRefused(run(withByte(SIGNED, SIGNED.length - 1000), TRUSTING, [128]), 5, 'digest');
    // the manifest's version text sits inside the COSE payload: flip a byte of "2.1.0"
    const at = Buffer.from(SIGNED).indexOf('2.1.0');
    assert.ok(at > 14);
    assertRefused(run(withByte(SIGNED, at + 2, 0x02), TRUSTING), 5, 'signature');
    // the signature itself
    const sigAt = 14 + headerLength(SIGNED) - 10;
    assertRefused(run(withByte(SIGNED, sigAt), TRUSTING), 5, 'signature');
  });

  it('refuses a package cut short at every part, and one with bytes appended', () => {
    const h = headerLength(SIGNED);
    assertRefused(run(SIGNED.subarray(0, 5), TRUSTING), 6, 'envelope'); // inside the marker
    assertRefused(run(SIGNED.subarray(0, 11), TRUSTING), 6, 'envelope'); // inside the prefix
    assertRefused(run(SIGNED.subarray(0, 14 + h - 1), TRUSTING), 6, 'envelope'); // inside the header
    assertRefused(run(SIGNED.subarray(0, 14 + h), TRUSTING), 5, 'size'); // no image at all
    assertRefused(run(SIGNED.subarray(0, SIGNED.length - 1), TRUSTING), 5, 'size');
    const longer = run(new Uint8Array(Buffer.concat([SIGNED, Buffer.from([0])])), TRUSTING, [1000]);
    assertRefused(longer, 5, 'size');
    assert.ok(longer.image.length <= IMAGE.length, 'never hands out more than the manifest states');
  });

  it('refuses an oversize header from its prefix, without buffering it', () => {
    const pkg = envelope(new Uint8Array(0), new Uint8Array(0), 1, 1, 16385);
    assertRefused(run(pkg, TRUSTING), 6, 'envelope');
    assertRefused(run(envelope(new Uint8Array(0), IMAGE, 1, 1, 0), TRUSTING), 6, 'envelope');
    assertRefused(run(envelope(new Uint8Array(0), IMAGE, 1, 1, 0xffffffff), TRUSTING), 6, 'envelope');
  });

  it('refuses an unknown layout version or header kind', () => {
    const header = SIGNED.subarray(14, 14 + headerLength(SIGNED));
    assertRefused(run(envelope(header, IMAGE, 1, 2), TRUSTING), 6, 'envelope');
    assertRefused(run(envelope(header, IMAGE, 3, 1), TRUSTING), 6, 'envelope');
    // a COSE_Sign1 declared as a bare manifest does not parse as a manifest
    assertRefused(run(envelope(header, IMAGE, 2, 1), {}), 6, 'manifest');
  });

  it('refuses a manifest signed with another algorithm (ES384 header), naming it', () => {
    const manifest = encodeManifest(manifestFor(IMAGE, FIELDS));
    const protectedEs384 = Uint8Array.of(0xa1, 0x01, 0x38, 0x22);
    const sig = sign('sha256', sign1SigStructure(protectedEs384, manifest), {
      key: keys.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    const head = Buffer.from([0xd2, 0x84, 0x44, ...protectedEs384, 0xa0, 0x58, manifest.length]);
    const cose = Buffer.concat([head, manifest, Buffer.from([0x58, 0x40]), sig]);
    const r = run(envelope(cose, IMAGE), TRUSTING);
    assertRefused(r, 6, 'algorithm');
    assert.match((r.verdict as { reason: string }).reason, /ES384/);
  });

  it('checks vendor and device class', () => {
    assertRefused(run(SIGNED, { ...TRUSTING, vendor: 'Other' }), 6, 'vendor');
    assertRefused(run(SIGNED, { ...TRUSTING, deviceClass: 'sensor-v3' }), 6, 'device-class');
    const classless = buildPackage(IMAGE, { version: '2.1.0' }, keys.privateKey);
    assertRefused(run(classless, { ...TRUSTING, deviceClass: 'sensor-v2' }), 6, 'device-class');
    assertRefused(run(classless, { ...TRUSTING, vendor: 'Acme' }), 6, 'vendor');
    assert.equal(run(classless, TRUSTING).verdict.ok, true);
  });

  it('refuses downgrades and packages whose minimum version the device does not meet', () => {
    assertRefused(run(SIGNED, { ...TRUSTING, currentVersion: '2.1.1' }), 6, 'version');
    assertRefused(run(SIGNED, { ...TRUSTING, currentVersion: '10' }), 6, 'version');
    assert.equal(
      run(SIGNED, { ...TRUSTING, currentVersion: '2.1' }).verdict.ok,
      true,
      'same version re-installs',
    );
    assertRefused(run(SIGNED, { ...TRUSTING, currentVersion: '2.1-beta' }), 6, 'version');
    const needs = buildPackage(IMAGE, { ...FIELDS, minVersion: '1.5' }, keys.privateKey);
    assertRefused(run(needs, { ...TRUSTING, currentVersion: '1.4.9' }), 6, 'version');
    assertRefused(run(needs, { ...TRUSTING, currentVersion: 'one' }), 6, 'version');
    assert.equal(
      run(needs, TRUSTING).verdict.ok,
      true,
      'without the installed version, no version rule applies',
    );
    assert.equal(run(needs, { ...TRUSTING, currentVersion: '1.5' }).verdict.ok, true);
    const named = buildPackage(IMAGE, { version: 'gamma' }, keys.privateKey);
    assert.equal(
      run(named, TRUSTING).verdict.ok,
      true,
      'without a current version, any version text is fine',
    );
    assertRefused(run(named, { ...TRUSTING, currentVersion: '1.0' }), 6, 'version');
  });

  it('copies what it buffers, so a caller may reuse its chunk buffer (Buffer chunks too)', () => {
    for (const bytes of [SIGNED, IMAGE]) {
      const stream = packageVerifier(TRUSTING).begin();
      const reused = Buffer.alloc(5);
      const out: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += 5) {
        const n = Math.min(5, bytes.length - at);
        reused.set(bytes.subarray(at, at + n));
        out.push(Buffer.from(stream.push(reused.subarray(0, n))));
        reused.fill(0xee);
      }
      assert.ok(stream.end().ok);
      assert.deepEqual(new Uint8Array(Buffer.concat(out)), IMAGE);
    }
  });

  it('ignores bytes pushed after end() and keeps its verdict', () => {
    const stream = packageVerifier(TRUSTING).begin();
    assert.equal(stream.push(SIGNED).length, IMAGE.length);
    const verdict = stream.end();
    assert.equal(stream.push(Uint8Array.of(1, 2, 3)).length, 0);
    assert.deepEqual(stream.end(), verdict);
  });
});

describe('packageVerifier: streaming', () => {
  const small = new Uint8Array(300).map((_, i) => i & 255);
  const samples: [string, Uint8Array][] = [
    ['signed', buildPackage(small, FIELDS, keys.privateKey)],
    ['unsigned', buildPackage(small, FIELDS)],
    ['plain', small],
    ['tampered', withByte(buildPackage(small, FIELDS, keys.privateKey), 200)],
    ['truncated', buildPackage(small, FIELDS, keys.privateKey).subarray(0, 150)],
    ['marker only', PACKAGE_MARKER],
  ];

  it('gives the same image and verdict in any chunking as in one chunk', () => {
    for (const [what, bytes] of samples) {
      const whole = run(bytes, TRUSTING);
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 1100 }), { minLength: 1, maxLength: 20 }), (sizes) => {
          const r = run(bytes, TRUSTING, sizes);
          assert.deepEqual(r.image, whole.image, what);
          assert.deepEqual(r.verdict, whole.verdict, what);
        }),
        { numRuns: 60 },
      );
    }
  });

  it('never throws, never hands out more than it got, and never accepts a changed image (2000 mutants)', () => {
    const pkg = buildPackage(small, { ...FIELDS, minVersion: '1.0' }, keys.privateKey, {
      kid: Uint8Array.of(7),
    });
    const options = { ...TRUSTING, currentVersion: '2.0' };
    assert.equal(run(pkg, options).verdict.ok, true);
    const mutant = fc.tuple(
      fc.array(
        fc.oneof(
          fc.record({
            op: fc.constant('flip' as const),
            at: fc.nat(),
            xor: fc.integer({ min: 1, max: 255 }),
          }),
          fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
          fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
        ),
        { minLength: 1, maxLength: 4 },
      ),
      fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 6 }),
    );
    fc.assert(
      fc.property(mutant, ([edits, sizes]) => {
        let bytes = Buffer.from(pkg);
        for (const e of edits) {
          const at = bytes.length === 0 ? 0 : e.at % bytes.length;
          if (e.op === 'flip' && bytes.length > 0) bytes[at]! ^= e.xor;
          else if (e.op === 'cut') bytes = bytes.subarray(0, at);
          else if (e.op === 'insert')
            bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([e.byte]), bytes.subarray(at)]);
        }
        const r = run(new Uint8Array(bytes), options, sizes);
        assert.ok(r.image.length <= bytes.length);
        if (r.verdict.ok && bytes[0] === 0x89 && bytes.subarray(0, 8).equals(PACKAGE_MARKER))
          assert.deepEqual(r.image, small, 'an accepted package carries the signed image');
        if (!r.verdict.ok) assert.ok([5, 6].includes(r.verdict.updateResult));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps signature verification to once per download and hashes large images quickly', () => {
    const big = new Uint8Array(4 * 1024 * 1024).fill(0x5a);
    const pkg = buildPackage(big, FIELDS, keys.privateKey);
    const started = performance.now();
    const r = run(pkg, TRUSTING, [1024]);
    assert.ok(r.verdict.ok);
    assert.equal(r.image.length, big.length);
    assert.ok(
      performance.now() - started < 2000,
      'a 4 MiB package in 1 KiB blocks verifies in well under 2 s',
    );
  });
});
