#!/usr/bin/env node
// Runs the test suites with node:test (TypeScript through tsx).
//   node scripts/run-tests.mjs            every suite CI needs (unit, interop, browser, short fuzz)
//   node scripts/run-tests.mjs --unit     the fast unit suite only
//   node scripts/run-tests.mjs --fuzz     the fuzz suites with the long budget (PETREL_FUZZ_BUDGET)
//   node scripts/run-tests.mjs FILE...    just those files
// The reporter is TAP (its closing "# pass" / "# fail" lines are what CI reads); set
// PETREL_TEST_REPORTER=spec for a friendlier view.
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
const isSlow = (f) => /^test[\\/](interop|fuzz|soak|browser)[\\/]/.test(f);
if (mode === 'unit') files = files.filter((f) => !isSlow(f));
if (mode === 'fuzz') files = files.filter((f) => /^test[\\/]fuzz[\\/]/.test(f));

const env = { ...process.env };
if (mode === 'fuzz' && !env.PETREL_FUZZ_BUDGET) env.PETREL_FUZZ_BUDGET = '200000';
const reporter = env.PETREL_TEST_REPORTER ?? 'tap';
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-reporter=${reporter}`, ...files],
  { cwd: root, stdio: 'inherit', env },
);
process.exit(result.status ?? 1);
