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

// Node's runner sorts the files it is given (so test/e2e would run before test/unit), hence one
// invocation per group, in this order: every unit test, then the e2e files one by one with the
// most expensive (two full image builds) next to last, so that everything else has reported first,
// and the fault-injection suite after it (ci.test.ts skips itself when CI started too long ago).
const LAST = ['ci.test.ts', 'faults.test.ts'];
const rank = (f) => LAST.findIndex((n) => f.endsWith(n)) + 1 || 0;
const byCost = (a, b) => rank(a) - rank(b);
const e2e = () => find(join(root, 'test/e2e')).sort(byCost).map((f) => [f]);

let groups;
if (args.length === 0) groups = [find(join(root, 'test/unit')), ...e2e()];
else if (args.length === 1 && args[0] === 'unit') groups = [find(join(root, 'test/unit'))];
else if (args.length === 1 && args[0] === 'e2e') groups = e2e();
else groups = [args];

// E2E tests boot VMs under TCG on 2 cores: one test file at a time. Every group runs even when
// one fails; the exit status is the first failure's.
// Each group's wall time is printed at the end, so a CI log shows where its minutes went.
let status = 0;
const failed = [];
const times = [];
for (const files of groups) {
  const name = files.length === 1 ? files[0].replace(`${root}/`, '') : `${files.length} files`;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], { stdio: 'inherit', cwd: root });
  times.push(`run-tests: ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s  ${r.status === 0 ? 'ok  ' : 'FAIL'}  ${name}`);
  if (r.status !== 0) {
    failed.push(name);
    status ||= r.status ?? 1;
  }
}
if (groups.length > 1) process.stderr.write(`${times.join('\n')}\n`);
if (failed.length) process.stderr.write(`run-tests: failed: ${failed.join(', ')}\n`);
process.exit(status);
