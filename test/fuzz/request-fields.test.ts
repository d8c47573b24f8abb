// Mutation and generation fuzzing of the request fields a LwM2M server or client reads from the
// wire besides payloads: the Register and Update queries (Core §6.2.1, §6.2.2:
// parseRegisterParameters, parseUpdateParameters), Execute arguments in a payload or a query
// (Core §5.4.5, parseExecuteArguments, parseExecuteQuery) and LwM2M paths (LwM2mPath.parse, with
// and without an alternate path). Mutation of the real queries of the captures plus synthetic
// ones; generation from their grammars. Only OperationError / InvalidPathError may escape; no call
// takes over a second. Budget: 2.5 × PETREL_FUZZ_BUDGET inputs per kind and parser.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { readAllCaptures } from '../support/captures.js';
import {
  FUZZ_TIMEOUT_MS,
  fuzzGenerated,
  fuzzMutations,
  inputsPerKind,
  utf8Bytes,
} from '../support/fuzz-harness.js';
import { fuzzTarget } from '../support/fuzz-targets.js';
import { sharedDir } from '../support/shared.js';

const COUNT = inputsPerKind();

const SYNTHETIC = {
  query: [
    'ep=dev-1&lt=300&lwm2m=1.2&b=UQ',
    'ep=urn:dev:x&lt=86400&lwm2m=1.1&b=U&Q&sms=%2B33612345678&pid="v:p0,v:p1"',
    'lt=600&b=T&sms=+33612345678&Q',
    'ep=a&lt=0&lwm2m=1.0&b=UQ&d=dom1',
  ],
  execute: ["0='abc',1", '0,1,2', "9='x=1'", '', "3='U'", '0=1,0=2'],
  executeQuery: ['0=U', "0='U'&1", '2&3=x'],
  path: ['/', '/3', '/3/0', '/3/0/7/0', '/d01/3303/0', '/lwm2m/1/0/1', '/65534/0', '/0/0/0/0'],
};

/** The Uri-Query sets and Uri-Paths of every request in the captures. */
function captured(): { query: string[]; path: string[] } {
  const dir = sharedDir();
  if (!dir) return { query: [], path: [] };
  const query = new Set<string>();
  const path = new Set<string>();
  for (const { line } of readAllCaptures(dir)) {
    const opts = line.options ?? [];
    const q = opts.filter((o) => o.number === 15).map((o) => String(o.value));
    if (q.length > 0) query.add(q.join('&'));
    const p = opts.filter((o) => o.number === 11).map((o) => String(o.value));
    if (p.length > 0) path.add(`/${p.join('/')}`);
  }
  return { query: [...query], path: [...path] };
}

const value = fc.oneof(
  fc.nat({ max: 5_000_000_000 }).map(String),
  fc.constantFrom(
    '',
    '1.0',
    '1.1',
    '1.2',
    '1.2.1',
    '9.9',
    'U',
    'UQ',
    'T',
    'TQ',
    'S',
    'N',
    'M',
    'UQS',
    'Q',
    'x',
  ),
  fc.constantFrom('"v:p0,v:p1"', '"', '"a,"', '6:a0000000', '+33612345678', '%', '-1', '4294967296', '1e5'),
  fc.string({ maxLength: 8 }),
);
const name = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('ep', 'lt', 'lwm2m', 'b', 'sms', 'Q', 'pid', 'd', 'depth') },
  fc.constantFrom('', 'EP', 'x', '__proto__', 'lt '),
);
const queryItem = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(name, value).map(([n, v]) => `${n}=${v}`) },
  name,
);
const query = fc.array(queryItem, { maxLength: 7 }).map((items) => utf8Bytes(items.join('&')));

const digit = fc.oneof(
  { weight: 5, arbitrary: fc.nat({ max: 9 }).map(String) },
  fc.constantFrom('10', '', 'a', '-'),
);
const argValue = fc.oneof(
  fc.string({ maxLength: 8 }).map((s) => `'${s}'`),
  fc.constantFrom("'", "''", "'a'b'", '"x"', "'\u007f'"),
);
const executeArgument = fc
  .tuple(digit, fc.option(argValue, { nil: undefined }))
  .map(([d, v]) => (v === undefined ? d : `${d}=${v}`));
const executeText = fc.array(executeArgument, { maxLength: 6 }).map((as) => utf8Bytes(as.join(',')));
const executeQuery = fc.array(executeArgument, { maxLength: 6 }).map((as) => utf8Bytes(as.join('&')));

const pathSegment = fc.oneof(
  { weight: 6, arbitrary: fc.nat({ max: 70_000 }).map(String) },
  fc.constantFrom('', 'lwm2m', 'd01', '..', '.', '%20', '00', '-1', 'x'.repeat(300), '65535', '65536', '1e3'),
);
const pathText = fc.oneof(
  { weight: 8, arbitrary: fc.array(pathSegment, { maxLength: 6 }).map((s) => `/${s.join('/')}`) },
  fc.string({ maxLength: 12 }),
);

describe(`request field fuzzing (${COUNT} mutated + ${COUNT} generated inputs per parser)`, () => {
  const c = captured();
  const corpora: Record<string, Uint8Array[]> = {
    'register-query': [...SYNTHETIC.query, ...c.query].map(utf8Bytes),
    'update-query': [...SYNTHETIC.query, ...c.query].map(utf8Bytes),
    'execute-arguments': SYNTHETIC.execute.map(utf8Bytes),
    'execute-query': SYNTHETIC.executeQuery.map(utf8Bytes),
    'lwm2m-path': [...SYNTHETIC.path, ...c.path].map(utf8Bytes),
  };
  const generators: Record<string, fc.Arbitrary<Uint8Array>> = {
    'register-query': query,
    'update-query': query,
    'execute-arguments': executeText,
    'execute-query': executeQuery,
    'lwm2m-path': pathText.map(utf8Bytes),
  };
  let seed = 0x7e00;
  for (const parser of Object.keys(corpora)) {
    const s = seed++;
    it(`${parser}: mutated (${corpora[parser]!.length} seeds)`, { timeout: FUZZ_TIMEOUT_MS }, (t) => {
      const tally = fuzzMutations({
        target: fuzzTarget(parser),
        corpus: corpora[parser]!,
        count: COUNT,
        seed: s,
        mutate: { interesting: [0x26, 0x3d, 0x27, 0x22, 0x2c, 0x2f, 0x30, 0x39, 0x2e, 0x00, 0xff] },
      });
      t.diagnostic(`${parser} mutation: ${tally.summary()}`);
      assert.equal(tally.inputs, COUNT);
      assert.ok(tally.refused > 0);
    });
    it(`${parser}: generated`, { timeout: FUZZ_TIMEOUT_MS }, (t) => {
      const tally = fuzzGenerated({
        target: fuzzTarget(parser),
        arb: generators[parser]!,
        count: COUNT,
        seed: s,
      });
      t.diagnostic(`${parser} generation: ${tally.summary()}`);
      assert.ok(tally.inputs >= COUNT);
      assert.ok(tally.accepted > 0 && tally.refused > 0);
    });
  }
});
