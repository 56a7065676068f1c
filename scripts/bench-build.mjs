#!/usr/bin/env node
// Benchmark of `vexfs-image build`: builds each variant named into a temporary directory (the
// base image comes from the cache if it is there) and prints one JSON object with the wall
// time, the per-stage times from the manifest, the image sizes and the load average.
// Usage: node scripts/bench-build.mjs [minimal] [production] [development]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const variants = process.argv.slice(2).length ? process.argv.slice(2) : ['minimal'];
const results = [];
for (const variant of variants) {
  const dir = mkdtempSync(join(tmpdir(), 'vexfs-bench-build-'));
  const load = loadavg()[0];
  const t0 = Date.now();
  const r = spawnSync(join(root, 'bin', 'vexfs-image'), ['build', '--variant', variant, '--version', '0.0.1-bench', '--output-dir', dir, '--build-dir', join(dir, 'build')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });
  const wallS = (Date.now() - t0) / 1000;
  if (r.status !== 0) {
    results.push({ variant, ok: false, exit: r.status, wall_s: wallS });
  } else {
    const m = JSON.parse(readFileSync(join(dir, `vexfs-${variant}-0.0.1-bench.json`), 'utf8'));
    results.push({
      variant,
      ok: true,
      wall_s: wallS,
      load_avg_at_start: load,
      qcow2_mib: +(m.files.image.size / 2 ** 20).toFixed(1),
      gzip_mib: +(m.files.compressed.size / 2 ** 20).toFixed(1),
      stage_s: Object.fromEntries(Object.entries(m.stage_times_ms).map(([k, v]) => [k, +(v / 1000).toFixed(1)])),
    });
  }
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
