import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FirmwarePackageError } from '../../src/firmware/firmware-package-error.js';
import { decodeManifest, encodeManifest, type FirmwareManifest } from '../../src/firmware/manifest.js';

const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const DIGEST = new Uint8Array(32).fill(0xab);

const base: FirmwareManifest = {
  formatVersion: 1,
  digestAlgorithm: 'sha-256',
  digest: DIGEST,
  size: 1000,
  version: '1.2.3',
};

function refusedWith(fn: () => unknown, reason: string, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FirmwarePackageError, String(e));
    assert.equal(e.reason, reason, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

describe('firmware manifest', () => {
  it('encodes the required fields as a deterministic integer-keyed map', () => {
    // a4 map(4); 01 01; 02 [-16, h'ab..']; 03 1000; 04 "1.2.3"
    const expected =
      'a4' +
      '0101' +
      '02' +
      '82' +
      '2f' +
      '5820' +
      'ab'.repeat(32) +
      '03' +
      '1903e8' +
      '04' +
      '65' +
      hex(Buffer.from('1.2.3'));
    assert.equal(hex(encodeManifest(base)), expected);
  });

  it('round-trips every field, and the same fields give the same bytes', () => {
    const full: FirmwareManifest = {
      ...base,
      vendor: 'Acme',
      deviceClass: 'sensor-v2',
      minVersion: '1.0',
      name: 'acme-sensor',
      installHints: { reboot: true, slot: 2, mode: 'ab', blob: fromHex('0102') },
    };
    const bytes = encodeManifest(full);
    assert.deepEqual(decodeManifest(bytes), full);
    const reordered = { ...full, installHints: { slot: 2, blob: fromHex('0102'), mode: 'ab', reboot: true } };
    assert.equal(hex(encodeManifest(reordered)), hex(bytes));
  });

  it('round-trips arbitrary valid manifests', () => {
    const text = fc.string({ minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(
        fc.record(
          {
            size: fc.nat(),
            version: text,
            vendor: text,
            deviceClass: text,
            minVersion: text,
            name: text,
            installHints: fc.dictionary(
              fc.string({ minLength: 1, maxLength: 10 }),
              fc.oneof(fc.boolean(), fc.integer(), fc.string({ maxLength: 20 })),
              { maxKeys: 5 },
            ),
          },
          { requiredKeys: ['size', 'version'] },
        ),
        (fields) => {
          const hints = fields.installHints === undefined ? {} : { installHints: { ...fields.installHints } };
          const m = { ...base, ...fields, ...hints } as FirmwareManifest;
          assert.deepEqual(decodeManifest(encodeManifest(m)), m);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses other digest algorithms by name', () => {
    // {1:1, 2:[-43 (SHA-384), h'..'], 3:0, 4:"1"}
    const sha384 = fromHex('a4 0101 02 82 382a 5830' + '00'.repeat(48) + ' 0300 0461 31');
    refusedWith(() => decodeManifest(sha384), 'algorithm', /SHA-384/);
    refusedWith(() => encodeManifest({ ...base, digestAlgorithm: 'sha-512' as 'sha-256' }), 'algorithm');
  });

  it('refuses malformed manifests as "manifest"', () => {
    const ok = hex(encodeManifest(base));
    const cases: [string, string][] = [
      ['', 'empty'],
      ['80', 'not a map'],
      [ok.replace(/^a4/, 'a5') + '0a00', 'unknown key 10'],
      [ok.replace(/^a4/, 'a3').replace(/0465312e322e33$/, ''), 'no version'],
      [ok.replace(/^a40101/, 'a40102'), 'format version 2'],
      [ok.replace('5820' + 'ab'.repeat(32), '5810' + 'ab'.repeat(16)), '16-byte digest'],
      [ok.replace('031903e8', '0320'), 'negative size'],
      [ok.replace('031903e8', '031b0020000000000000'), 'size past 2^53'],
      [ok.replace('0465312e322e33', '0460'), 'empty version'],
      [ok.replace('0465312e322e33', '0401'), 'numeric version'],
      [ok + '00', 'trailing byte'],
      [ok.replace('031903e8', '03190064'), 'non-preferred length (strict)'],
      [ok.replace(/^a4/, 'a5') + '0380', 'duplicate key'],
      [ok.replace(/^a4/, 'a5') + '0980', 'hints not a map'],
      [ok.replace(/^a4/, 'a5') + '09a1613180', 'hint value an array'],
    ];
    for (const [h, what] of cases)
      assert.throws(
        () => decodeManifest(fromHex(h)),
        (e: unknown) => e instanceof FirmwarePackageError && e.reason === 'manifest',
        what,
      );
  });

  it('refuses fields that do not fit when encoding', () => {
    refusedWith(() => encodeManifest({ ...base, version: '' }), 'manifest');
    refusedWith(() => encodeManifest({ ...base, name: 'x'.repeat(256) }), 'manifest', /255/);
    refusedWith(() => encodeManifest({ ...base, size: -1 }), 'manifest');
    refusedWith(() => encodeManifest({ ...base, installHints: { big: 'x'.repeat(300) } }), 'manifest');
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i]));
    refusedWith(() => encodeManifest({ ...base, installHints: many }), 'manifest', /32/);
  });

  it('gives Update Result 6 for manifest and algorithm refusals', () => {
    assert.equal(new FirmwarePackageError('manifest', 'x').updateResult, 6);
    assert.equal(new FirmwarePackageError('algorithm', 'x').updateResult, 6);
    assert.equal(new FirmwarePackageError('digest', 'x').updateResult, 5);
    assert.equal(new FirmwarePackageError('digest', 'x').code, 'PETREL_ERR_FIRMWARE_PACKAGE');
  });
});
