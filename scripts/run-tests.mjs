#!/usr/bin/env node
// Runs the test suites with node:test (TypeScript through tsx).
//   node scripts/run-tests.mjs            every suite CI needs (unit, interop, browser, short fuzz)
//   node scripts/run-tests.mjs --unit     the fast unit suite only
//   node scripts/run-tests.mjs --fuzz     the fuzz suites with the long budget (PETREL_FUZZ_BUDGET)
//   node scripts/run-tests.mjs FILE...    just those files
// The reporter is TAP (its closing "# pass" / "# fail" lines are what CI reads); set
// PETREL_TEST_REPORTER=spec for a friendlier view.
// Fuzz budgets (docs/fuzzing.md): every fuzz file scales by PETREL_FUZZ_BUDGET. Unset (CI, `npm
// test`) it is 2000: all of test/fuzz in about 1-1.5 min on 2 cores. `--fuzz` sets FULL_FUZZ_BUDGET,
// which gives every byte parser 2.5 × budget mutated and 2.5 × budget generated inputs, 1,000,000
// in all (about 50 min on 2 cores). An explicit PETREL_FUZZ_BUDGET wins.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const mode = args.includes('--unit') ? 'unit' : args.includes('--fuzz') ? 'fuzz' : 'all';
const explicit = args.filter((a) => !a.startsWith('--'));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

let files = explicit.length > 0 ? explicit : walk(join(root, 'test')).sort();
// The fuzz regressions (test/fuzz/regressions.test.ts) replay kept inputs in milliseconds: unit too.
const isSlow = (f) =>
  /^test[\\/](interop|fuzz|soak|browser)[\\/]/.test(f) &&
  !/^test[\\/]fuzz[\\/]regressions\.test\.ts$/.test(f);
if (mode === 'unit') files = files.filter((f) => !isSlow(f));
if (mode === 'fuzz') files = files.filter((f) => /^test[\\/]fuzz[\\/]/.test(f));

const env = { ...process.env };
const FULL_FUZZ_BUDGET = '200000';
if (mode === 'fuzz' && !env.PETREL_FUZZ_BUDGET) env.PETREL_FUZZ_BUDGET = FULL_FUZZ_BUDGET;
const reporter = env.PETREL_TEST_REPORTER ?? 'tap';
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-reporter=${reporter}`, ...files],
  { cwd: root, stdio: 'inherit', env },
);
process.exit(result.status ?? 1);
