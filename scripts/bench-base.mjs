#!/usr/bin/env node
// Benchmark of the base image: a cold build into an empty cache, then cached look-ups (in a
// fresh process each, as `vexfs-image base` would run), and the size of the qcow2.
// Usage: node scripts/bench-base.mjs [--distro debian-13] [--cache-dir DIR] [--runs 3] [--keep]
// Prints one JSON object on stdout; progress on stderr. Needs root (mmdebstrap).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    distro: { type: 'string', default: 'debian-13' },
    'cache-dir': { type: 'string' },
    runs: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
  },
});
const cacheDir = values['cache-dir'] ? resolve(values['cache-dir']) : mkdtempSync(join(tmpdir(), 'vexfs-bench-cache-'));

// The compiled package when built (npm run build), as users run it; else the sources via tsx.
const compiled = join(root, 'dist/src/base/index.js');
const entry = existsSync(compiled) ? compiled : join(root, 'src/base/index.ts');
const loader = entry === compiled ? [] : ['--import', 'tsx'];

// One resolveBase() in a fresh Node process; prints {ms, result} (ms: inside the process).
const snippet = `
  const { resolveBase } = await import(${JSON.stringify(entry)});
  const t = performance.now();
  const r = await resolveBase(${JSON.stringify(values.distro)}, { cacheDir: ${JSON.stringify(cacheDir)}, onInfo: (m) => process.stderr.write('  ' + m + '\\n') });
  process.stdout.write(JSON.stringify({ ms: performance.now() - t, result: r }));`;

function resolveOnce(label) {
  const t = performance.now();
  const r = spawnSync(process.execPath, [...loader, '--input-type=module', '-e', snippet], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const wallMs = performance.now() - t;
  if (r.status !== 0) {
    console.error(`${label} failed (exit ${r.status})`);
    process.exit(1);
  }
  const out = JSON.parse(r.stdout);
  console.error(`${label}: ${(out.ms / 1000).toFixed(2)} s in resolveBase, ${(wallMs / 1000).toFixed(2)} s for the whole process (cached: ${out.result.cached})`);
  return { ...out, wallMs };
}

const load = loadavg()[0];
console.error(`${entry === compiled ? 'compiled dist/' : 'sources through tsx (npm run build to measure the compiled package)'}`);
console.error(`cache ${cacheDir}; load average ${load.toFixed(2)} on ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cores`);
const cold = resolveOnce('cold');
const cached = [];
for (let i = 0; i < Number(values.runs); i++) cached.push(resolveOnce(`cached #${i + 1}`));
const size = statSync(cold.result.path).size;
let phases;
try {
  const info = JSON.parse(readFileSync(join(cacheDir, 'bases', cold.result.cacheKey, 'entry.json'), 'utf8')).info ?? {};
  phases = { mmdebstrapSeconds: info.mmdebstrapMs / 1000, diskSeconds: info.diskMs / 1000, convertSeconds: info.convertMs / 1000 };
} catch {
  phases = undefined;
}
const best = (xs, k) => Math.min(...xs.map((x) => x[k]));
const report = {
  distro: values.distro,
  code: entry === compiled ? 'dist' : 'tsx',
  loadAverageAtStart: Number(load.toFixed(2)),
  coldWasCached: cold.result.cached,
  coldSeconds: Number((cold.ms / 1000).toFixed(1)),
  coldProcessSeconds: Number((cold.wallMs / 1000).toFixed(1)),
  cachedSeconds: Number((best(cached, 'ms') / 1000).toFixed(2)),
  cachedProcessSeconds: Number((best(cached, 'wallMs') / 1000).toFixed(2)),
  coldPhases: phases,
  loadAverageAtEnd: Number(loadavg()[0].toFixed(2)),
  qcow2Bytes: size,
  qcow2MB: Number((size / 1e6).toFixed(1)),
  virtualSize: cold.result.virtualSize,
  targets: { coldSecondsMax: 180, cachedSecondsMax: 2, qcow2MBMax: 450 },
};
report.met = { cold: report.coldSeconds <= 180, cached: report.cachedProcessSeconds < 2, size: report.qcow2MB <= 450 };
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
if (!values.keep && !values['cache-dir']) rmSync(cacheDir, { recursive: true, force: true });
