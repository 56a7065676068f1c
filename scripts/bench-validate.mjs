#!/usr/bin/env node
// Benchmark of `vexfs-image validate` on one image: validates it --runs times (default 3) and
// prints one JSON object with, per run, the time to SSH-ready and to cloud-init done after
// power-on, the checks' time and round trips, and the total; then min/median/max of each.
// With --cpu MODEL (repeatable) the runs alternate between TCG CPU models
// (VEXFS_IMAGE_TCG_CPU), so that a slow spell of the machine hits every model alike.
// This machine's timing noise is large (the same boot: ±15 s): compare medians of several runs,
// and run nothing else meanwhile.
// Usage: node scripts/bench-validate.mjs [--runs N] [--cpu MODEL]... IMAGE
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
let runs = 3;
const cpus = [];
let image;
const usage = 'usage: node scripts/bench-validate.mjs [--runs N] [--cpu MODEL]... IMAGE';
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runs') runs = Number(args[++i]);
  else if (args[i] === '--cpu') cpus.push(args[++i]);
  else if (args[i] === '-h' || args[i] === '--help') {
    console.log(usage);
    process.exit(0);
  } else if (args[i].startsWith('-')) {
    console.error(`unknown option ${args[i]}\n${usage}`);
    process.exit(2);
  } else image = args[i];
}
if (!image || !(runs >= 1)) {
  console.error(usage);
  process.exit(2);
}
const models = cpus.length ? cpus : [undefined];
const s = (ms) => (ms == null ? null : +(ms / 1000).toFixed(1));
const results = [];
for (let round = 0; round < runs; round++) {
  for (const cpu of models) {
    const dir = mkdtempSync(join(tmpdir(), 'vexfs-bench-validate-'));
    const load = loadavg()[0];
    const t0 = Date.now();
    const r = spawnSync(join(root, 'bin', 'vexfs-image'), ['validate', resolve(image), '--report-dir', dir, '--format', 'json'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, ...(cpu ? { VEXFS_IMAGE_TCG_CPU: cpu } : {}) },
    });
    const wall = Date.now() - t0;
    let row = { cpu: cpu ?? 'default', exit: r.status, wall_s: s(wall), load_avg_at_start: load };
    try {
      const img = JSON.parse(readFileSync(join(dir, 'validation.json'), 'utf8')).images[0];
      const t = img.timings;
      row = { ...row, ssh_ready_s: s(t.sshReadyMs), cloud_init_done_s: s(t.cloudInitDoneMs), checks_s: s(t.checksMs), total_s: s(t.totalMs), status: img.status };
    } catch (e) {
      row.error = `no validation.json: ${e.message}`;
    }
    process.stderr.write(`${JSON.stringify(row)}\n`);
    results.push(row);
    rmSync(dir, { recursive: true, force: true });
  }
}
const stats = (xs) => {
  const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  return v.length ? { min: v[0], median: v[Math.floor((v.length - 1) / 2)], max: v.at(-1) } : null;
};
const summary = Object.fromEntries(
  models.map((cpu) => {
    const mine = results.filter((r) => r.cpu === (cpu ?? 'default'));
    return [cpu ?? 'default', Object.fromEntries(['ssh_ready_s', 'cloud_init_done_s', 'checks_s', 'total_s'].map((k) => [k, stats(mine.map((r) => r[k]))]))];
  }),
);
process.stdout.write(`${JSON.stringify({ image: resolve(image), runs: results, summary }, null, 2)}\n`);
process.exit(results.every((r) => r.exit === 0) ? 0 : 1);
