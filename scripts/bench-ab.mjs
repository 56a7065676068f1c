#!/usr/bin/env node
// A/B benchmark of two checkouts of vexfs-image (e.g. before and after a change), interleaved
// so that this machine's drift over time hits both alike: runs bench-build.mjs or
// bench-validate.mjs of checkout A, then of B, --runs times, and prints each run's numbers and
// the medians with the B/A ratio.
// Usage: node scripts/bench-ab.mjs --a DIR --b DIR [--runs N] build          (bench-build.mjs's rows, without Packer and the quick test)
//        node scripts/bench-ab.mjs --a DIR --b DIR [--runs N] validate IMAGE
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const usage = 'usage: node scripts/bench-ab.mjs --a DIR --b DIR [--runs N] build | validate IMAGE';
const args = process.argv.slice(2);
const o = { runs: 2, rest: [] };
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--a') o.a = resolve(args[++i]);
  else if (args[i] === '--b') o.b = resolve(args[++i]);
  else if (args[i] === '--runs') o.runs = Number(args[++i]);
  else if (args[i] === '-h' || args[i] === '--help') {
    console.log(usage);
    process.exit(0);
  } else o.rest.push(args[i]);
}
const [mode, target] = o.rest;
if (!o.a || !o.b || !['build', 'validate'].includes(mode) || (mode === 'validate' && !target) || !(o.runs >= 1)) {
  console.error(usage);
  process.exit(2);
}

/** One run of the checkout's own bench script; the numbers that matter, in seconds. */
function once(dir) {
  const script = join(dir, 'scripts', mode === 'build' ? 'bench-build.mjs' : 'bench-validate.mjs');
  const argv = mode === 'build' ? [script, '--no-packer', '--no-quick'] : [script, '--runs', '1', resolve(target)];
  const r = spawnSync(process.execPath, argv, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${script} exited ${r.status}`);
  const j = JSON.parse(r.stdout);
  if (mode === 'build') {
    // bench-build.mjs's rows ({what, s, ok}), each one a key.
    const bad = j.rows.find((r) => !r.ok);
    if (bad) throw new Error(`${bad.what} failed in ${dir}`);
    return Object.fromEntries(j.rows.map((r) => [r.what, r.s]));
  }
  const v = j.runs[0];
  return { ssh_ready_s: v.ssh_ready_s, checks_s: v.checks_s, total_s: v.total_s };
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const runs = { a: [], b: [] };
for (let i = 0; i < o.runs; i++) {
  for (const side of ['a', 'b']) {
    const r = once(o[side]);
    runs[side].push(r);
    process.stderr.write(`bench-ab: run ${i + 1} ${side}: ${JSON.stringify(r)}\n`);
  }
}
const keys = Object.keys(runs.a[0]);
const summary = Object.fromEntries(
  keys.map((k) => {
    const a = median(runs.a.map((r) => r[k]));
    const b = median(runs.b.map((r) => r[k]));
    return [k, { a_median: a, b_median: b, ratio_b_over_a: +(b / a).toFixed(3) }];
  }),
);
process.stdout.write(`${JSON.stringify({ mode, a: o.a, b: o.b, runs, summary }, null, 2)}\n`);
