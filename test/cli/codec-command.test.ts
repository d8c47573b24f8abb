import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';

/** Runs the CLI in-process with the given stdin; returns exit code and output. */
async function run(args: string[], stdin: string | Uint8Array = '') {
  let out = '';
  let err = '';
  const io: CliIo = {
    readStdin: () => Promise.resolve(typeof stdin === 'string' ? new TextEncoder().encode(stdin) : stdin),
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
  };
  const code = await runCli(args, io);
  return { code, out, err };
}

const MANUFACTURER_TLV = 'c800144f70656e204d6f62696c6520416c6c69616e6365';

describe('petrel codec decode', () => {
  it('decodes TLV by format name and number', async () => {
    for (const format of ['tlv', '11542']) {
      const r = await run([
        'codec',
        'decode',
        '--format',
        format,
        '--path',
        '/3/0/0',
        '--hex',
        MANUFACTURER_TLV,
      ]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out), { '/3/0/0': 'Open Mobile Alliance' });
    }
  });

  it('reads raw bytes from stdin', async () => {
    const r = await run(
      ['codec', 'decode', '-f', 'tlv', '-p', '/3/0/0'],
      new Uint8Array(Buffer.from(MANUFACTURER_TLV, 'hex')),
    );
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { '/3/0/0': 'Open Mobile Alliance' });
  });

  it('prints every JSON value form: big integers as strings, opaque as hex, objlnk as text', async () => {
    const input = {
      '/3/0/9': 95,
      '/3/0/13': 1700000000,
      '/0/1/3': { hex: '0102ff' },
      '/3/0/22/0': '21:0',
      '/6/0/0': 43.61092,
      '/1/0/6': true,
    };
    const enc = await run(['codec', 'encode', '-f', 'senml-cbor', '-p', '/'], JSON.stringify(input));
    assert.equal(enc.code, 0, enc.err);
    const dec = await run(['codec', 'decode', '-f', '112', '-p', '/', '--hex', enc.out.trim()]);
    assert.equal(dec.code, 0, dec.err);
    assert.deepEqual(JSON.parse(dec.out), input);
    // An executable has no SenML value: encoding one is refused, not silently dropped.
    const exec = await run(['codec', 'encode', '-f', 'senml-cbor', '-p', '/'], '{"/3/0/4": null}');
    assert.equal(exec.code, 1);
    assert.match(exec.err, /\/3\/0\/4/);
  });

  it('keeps unsigned integers past 2^53 exact as decimal strings', async () => {
    // /3/0/21 Memory Total is an Integer; use a model folder with an Unsigned resource.
    const dir = mkdtempSync(join(tmpdir(), 'petrel-ddf-'));
    writeFileSync(
      join(dir, '50123.xml'),
      `<LWM2M><Object ObjectType="MODefinition"><Name>Big</Name><ObjectID>50123</ObjectID><ObjectURN>urn:oma:lwm2m:x:50123</ObjectURN>
       <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory><Resources>
       <Item ID="0"><Name>Counter</Name><Operations>R</Operations><MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory><Type>Unsigned Integer</Type><RangeEnumeration></RangeEnumeration><Units></Units><Description></Description></Item>
       </Resources></Object></LWM2M>`,
    );
    const big = '18446744073709551615';
    for (const format of ['senml-json', 'senml-cbor', 'lwm2m-cbor', 'tlv', 'text', 'cbor']) {
      const enc = await run(
        ['codec', 'encode', '-f', format, '-p', '/50123/0/0', '--model', dir],
        JSON.stringify({ '/50123/0/0': big }),
      );
      assert.equal(enc.code, 0, `${format}: ${enc.err}`);
      const dec = await run([
        'codec',
        'decode',
        '-f',
        format,
        '-p',
        '/50123/0/0',
        '--model',
        dir,
        '--hex',
        enc.out.trim(),
      ]);
      assert.equal(dec.code, 0, `${format}: ${dec.err}`);
      assert.deepEqual(JSON.parse(dec.out), { '/50123/0/0': big }, format);
      assert.equal(dec.err, '', `${format}: the model knows the resource`);
    }
  });

  it('says when an object is not in the model and types come from the payload', async () => {
    const enc = await run(
      ['codec', 'encode', '-f', 'senml-json', '-p', '/'],
      JSON.stringify({ '/40000/0/1': 'x' }),
    );
    assert.equal(enc.code, 0, enc.err);
    assert.match(enc.err, /not in the object model.*\/40000\/0\/1/);
    const dec = await run(['codec', 'decode', '-f', 'senml-json', '-p', '/', '--hex', enc.out.trim()]);
    assert.equal(dec.code, 0, dec.err);
    assert.deepEqual(JSON.parse(dec.out), { '/40000/0/1': 'x' });
    assert.match(dec.err, /not in the object model.*\/40000\/0\/1/);
  });

  it('decodes link format to links', async () => {
    const hex = Buffer.from('</>;rt="oma.lwm2m";ct=110,</1>;ver=1.1,</1/0>').toString('hex');
    const r = await run(['codec', 'decode', '-f', 'link', '--hex', hex]);
    assert.equal(r.code, 0, r.err);
    const links = JSON.parse(r.out) as { target: string }[];
    assert.deepEqual(
      links.map((l) => l.target),
      ['/', '/1', '/1/0'],
    );
  });

  it('refuses bad input with a specific message and exit code', async () => {
    const badHex = await run(['codec', 'decode', '-f', 'tlv', '-p', '/3/0', '--hex', 'zz']);
    assert.equal(badHex.code, 2);
    assert.match(badHex.err, /--hex/);
    const badFormat = await run(['codec', 'decode', '-f', 'xml', '-p', '/3/0', '--hex', '00']);
    assert.equal(badFormat.code, 2);
    assert.match(badFormat.err, /not a content format.*senml-cbor \(112\)/);
    const badPath = await run(['codec', 'decode', '-f', 'tlv', '-p', '/3/65535', '--hex', '00']);
    assert.equal(badPath.code, 2);
    assert.match(badPath.err, /reserved/);
    const truncated = await run(['codec', 'decode', '-f', 'tlv', '-p', '/3/0', '--hex', 'c80014']);
    assert.equal(truncated.code, 1);
    assert.match(truncated.err, /PETREL_ERR_CONTENT_FORMAT/);
    const wrongType = await run(['codec', 'encode', '-f', 'tlv', '-p', '/3/0/9'], '{"/3/0/9": "high"}');
    assert.equal(wrongType.code, 1);
    assert.match(wrongType.err, /\/3\/0\/9/);
  });
});

describe('the petrel binary', () => {
  it('runs from the sources with --help and codec formats', () => {
    const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', main, 'codec', 'formats'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /11544 +lwm2m-cbor +application\/vnd\.oma\.lwm2m\+cbor/);
    const help = spawnSync(process.execPath, ['--import', 'tsx', main], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /Usage: petrel/);
  });
});
