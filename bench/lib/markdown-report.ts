import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './report.js';

const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2);
}

/** One section per benchmark: its figures, the baselines of the same run, and the ratios. */
export function renderReport(results: readonly BenchResult[]): string {
  const out = [
    '# Petrel benchmark report',
    '',
    'Written by `npm run bench` from `bench/results/*.json`; each section says which machine and Node',
    'version its run used. Baselines are measured in the same run as the figures they are compared with.',
    '',
  ];
  for (const r of results) {
    out.push(
      `## ${r.name}`,
      '',
      `${r.node} on ${r.machine}`,
      '',
      '| metric | value | unit |',
      '| --- | ---: | --- |',
    );
    for (const [k, m] of Object.entries(r.metrics)) out.push(`| ${k} | ${fmt(m.value)} | ${m.unit} |`);
    for (const [b, ms] of Object.entries(r.baselines))
      for (const [k, m] of Object.entries(ms))
        out.push(`| baseline ${b}: ${k} | ${fmt(m.value)} | ${m.unit} |`);
    for (const [k, v] of Object.entries(r.ratios)) out.push(`| ${k} | ${v.toFixed(2)} | x |`);
    out.push('');
  }
  return out.join('\n');
}

/** Reads every result JSON and writes bench/results/report.md; returns its path. */
export function writeMarkdownReport(): string {
  const results = readdirSync(resultsDir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(`${resultsDir}${f}`, 'utf8')) as BenchResult);
  const file = `${resultsDir}report.md`;
  writeFileSync(file, renderReport(results));
  return file;
}
