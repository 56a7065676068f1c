#!/usr/bin/env node
// Benchmark of `vexfs-image ci`: builds and validates the variants named (default: all three)
// into a temporary artifacts directory and prints one JSON object with the total wall time,
// per variant the build and validation times (the base-image stage, which builds a Debian base
// with the variant's packages when it is not cached, shown apart), image sizes, and the load
// average. Base images come from the cache when they are there: say which in your notes.
// Usage: node scripts/bench-ci.mjs [--jobs N] [minimal] [development] [production]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const jobsAt = args.indexOf('--jobs');
const jobs = jobsAt >= 0 ? args.splice(jobsAt, 2)[1] : undefined;
const variants = args.length ? args : ['minimal', 'development', 'production'];
const dir = mkdtempSync(join(tmpdir(), 'vexfs-bench-ci-'));
const artifacts = join(dir, 'artifacts');
const load = loadavg()[0];
const t0 = Date.now();
const r = spawnSync(
  join(root, 'bin', 'vexfs-image'),
  ['ci', '--variant', variants.join(','), ...(jobs ? ['--jobs', jobs] : []), '--artifacts-dir', artifacts, '--build-dir', join(dir, 'build')],
  { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', env: { ...process.env, CI: 'true', VEXFS_VERSION: '0.0.1-bench' }, cwd: dir },
);
const wallS = (Date.now() - t0) / 1000;
const s = (ms) => (ms == null ? null : +(ms / 1000).toFixed(1));
let images = [];
try {
  const m = JSON.parse(readFileSync(join(artifacts, 'build-manifest.json'), 'utf8'));
  images = m.images.map((img) => {
    const build = img.stage_durations_ms.build;
    const qcow2 = img.files.find((f) => f.name.endsWith('.qcow2'));
    const gz = img.files.find((f) => f.name.endsWith('.qcow2.gz'));
    return {
      variant: img.variant,
      status: img.status,
      build_s: s(img.build.duration_ms),
      base_image_s: s(build['base-image']),
      build_without_base_s: s(img.build.duration_ms - (build['base-image'] ?? 0)),
      validate_s: s(img.validation.duration_ms),
      qcow2_mib: qcow2 ? +(qcow2.size / 2 ** 20).toFixed(1) : null,
      gzip_mib: gz ? +(gz.size / 2 ** 20).toFixed(1) : null,
      build_stage_s: Object.fromEntries(Object.entries(build).map(([k, v]) => [k, s(v)])),
    };
  });
} catch (e) {
  images = [{ error: `no build-manifest.json: ${e.message}` }];
}
process.stdout.write(`${JSON.stringify({ exit: r.status, jobs: jobs ?? 'default', variants, wall_s: wallS, load_avg_at_start: load, images }, null, 2)}\n`);
rmSync(dir, { recursive: true, force: true });
process.exit(r.status ?? 1);
