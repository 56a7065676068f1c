#!/usr/bin/env node
// Runs the test suite with Node's own test runner (node:test), loading TypeScript through tsx.
// Usage: node scripts/run-tests.mjs [unit|e2e|FILE...]
// Node 20's runner does not discover *.ts files itself, so we list them here.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

// The most expensive e2e file (two full image builds) runs last, so that everything else has
// reported first.
const LAST = ['ci.test.ts'];
const byCost = (a, b) => Number(LAST.some((n) => a.endsWith(n))) - Number(LAST.some((n) => b.endsWith(n)));

let files;
if (args.length === 0) files = [...find(join(root, 'test/unit')), ...find(join(root, 'test/e2e')).sort(byCost)];
else if (args.length === 1 && (args[0] === 'unit' || args[0] === 'e2e')) files = find(join(root, 'test', args[0])).sort(byCost);
else files = args;

// E2E tests boot VMs under TCG on 2 cores: run test files one at a time.
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
