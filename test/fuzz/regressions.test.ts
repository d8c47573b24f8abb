// Replays every input kept in test/fuzz/regressions/ (one JSON file per input the fuzzers found
// crashing, hanging or answering wrongly; the folder's README describes the fields) through the
// same call the fuzzers make: only the parser's typed error may escape, within the hang guard;
// REST inputs go to the real API and must get a well-formed answer (no 500). Runs in `npm test`.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ApiFixture } from '../api/api-fixture.js';
import { FuzzTally, fuzzOne, HANG_MS } from '../support/fuzz-harness.js';
import { FUZZ_TARGETS, fuzzTarget } from '../support/fuzz-targets.js';
import { restFixture, restFromBytes, sendRest, type RestMethod } from '../support/rest-fuzz.js';

const DIR = fileURLToPath(new URL('./regressions/', import.meta.url));

interface Regression {
  readonly parser: string;
  readonly arg?: string;
  readonly hex?: string;
  readonly parts?: readonly (readonly [hex: string, times: number])[];
  readonly found: string;
  readonly fix?: string;
  readonly expect?: 'refused' | 'accepted';
}

/** The input of a regression: its hex, or its parts repeated and concatenated. */
function regressionInput(r: Regression): Uint8Array {
  if (r.hex !== undefined) return new Uint8Array(Buffer.from(r.hex, 'hex'));
  assert.ok(r.parts, 'a regression needs hex or parts');
  return new Uint8Array(Buffer.concat(r.parts.map(([hex, times]) => Buffer.from(hex.repeat(times), 'hex'))));
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const regressions = files.map((file) => ({
  file,
  r: JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Regression,
}));

describe(`fuzz regressions (${regressions.length} kept inputs)`, () => {
  it('every kept input names a known parser, its finding and an input', () => {
    assert.ok(regressions.length > 0, 'the folder holds the inputs the fuzzers found');
    for (const { file, r } of regressions) {
      assert.ok(r.parser === 'rest' || Object.hasOwn(FUZZ_TARGETS, r.parser), `${file}: parser ${r.parser}`);
      assert.ok(r.found.length > 20, `${file}: say what it found`);
      assert.ok(regressionInput(r).length > 0, `${file}: empty input`);
    }
  });

  for (const { file, r } of regressions.filter((x) => x.r.parser !== 'rest'))
    it(`${file}: ${r.parser}`, () => {
      const tally = new FuzzTally();
      fuzzOne(fuzzTarget(r.parser), tally, regressionInput(r), r.arg, `(regression ${file})`);
      assert.ok(tally.slowestMs <= HANG_MS);
      if (r.expect === 'refused') assert.equal(tally.refused, 1, `${file}: expected a typed refusal`);
      if (r.expect === 'accepted') assert.equal(tally.accepted, 1, `${file}: expected it to parse`);
    });

  const rest = regressions.filter((x) => x.r.parser === 'rest');
  if (rest.length > 0) {
    let fixture: ApiFixture | undefined;
    after(() => fixture?.close());
    for (const { file, r } of rest)
      it(`${file}: rest ${r.arg ?? 'GET'}`, async () => {
        fixture ??= await restFixture();
        const tally = new FuzzTally();
        await sendRest(fixture, restFromBytes((r.arg ?? 'GET') as RestMethod, regressionInput(r)), tally);
        if (r.expect === 'refused') assert.equal(tally.refused, 1, file);
        if (r.expect === 'accepted') assert.equal(tally.accepted, 1, file);
      });
  }
});
