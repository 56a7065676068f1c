// The package as a user gets it: `npm pack` of this checkout (prepack builds dist/), the tarball
// installed into a temporary prefix, the installed bin run (--help, doctor --json: a real,
// short accelerator probe), and the library imported by name from a script and type-checked
// from a TypeScript consumer. No VM image is built; run it under the VM lock all the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DoctorReport } from '../../src/doctor.js';
import { PACKAGE_ROOT, PACKAGE_VERSION } from '../../src/paths.js';
import { tempDir } from '../helpers/fs.js';

/** What src/api.ts exports as functions: a library caller needs nothing else. */
const API_FUNCTIONS = ['build', 'validate', 'ci', 'mergeCi', 'base', 'run', 'ssh', 'instances', 'doctor', 'resolveRun'];

function sh(cmd: string, args: string[], cwd: string, timeoutMs = 300_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });
  assert.equal(r.error, undefined, `${cmd} ${args.join(' ')}: ${String(r.error)}`);
  return r;
}

test('npm pack, npm install --prefix: the bin runs, the API imports by name with its types', { timeout: 900_000 }, (t) => {
  const tmp = tempDir('vexfs-pack-');
  const t0 = Date.now();
  const pack = sh('npm', ['pack', '--json', '--pack-destination', tmp], PACKAGE_ROOT);
  assert.equal(pack.status, 0, pack.stderr);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const shipped = info!.files.map((f) => f.path);
  t.diagnostic(`npm pack: ${info!.filename}, ${shipped.length} files, ${Date.now() - t0} ms`);
  for (const f of ['dist/src/cli/main.js', 'dist/src/api.js', 'dist/src/api.d.ts', 'guest/checks/runner.sh', 'package.json']) assert.ok(shipped.includes(f), `${f} not in the tarball`);
  assert.ok(!shipped.some((f) => f.startsWith('dist/test/') || f.startsWith('src/') || f.startsWith('test/')), 'tests or TypeScript sources in the tarball');

  const prefix = join(tmp, 'prefix');
  const t1 = Date.now();
  const install = sh('npm', ['install', '--prefix', prefix, join(tmp, info!.filename)], tmp);
  assert.equal(install.status, 0, install.stderr);
  t.diagnostic(`npm install --prefix: ${Date.now() - t1} ms`);

  const bin = join(prefix, 'node_modules', '.bin', 'vexfs-image');
  assert.ok(existsSync(bin), 'no vexfs-image in node_modules/.bin');
  const help = sh(bin, ['--help'], tmp);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: vexfs-image/);
  for (const cmd of ['build', 'validate', 'run', 'ssh', 'ci', 'base', 'cache', 'doctor']) assert.match(help.stdout, new RegExp(`^ {2}${cmd}\\b`, 'm'), cmd);
  const version = sh(bin, ['--version'], tmp);
  assert.equal(version.stdout, `${PACKAGE_VERSION}\n`);

  const doctor = sh(bin, ['doctor', '--json', '--refresh', '--cache-dir', join(tmp, 'cache')], tmp, 120_000);
  const report = JSON.parse(doctor.stdout) as DoctorReport;
  assert.equal(doctor.status, report.ok ? 0 : 1, doctor.stderr);
  assert.ok(report.tools.some((x) => x.name === 'qemu-system-x86_64' && x.found), 'the installed doctor found no QEMU');
  assert.equal(report.accelerator?.tcg.usable, true, JSON.stringify(report.accelerator));

  // The library, imported by its package name as a dependent project would.
  writeFileSync(
    join(prefix, 'use-api.mjs'),
    `import * as api from 'vexfs-image';\nconst r = await api.doctor({ cacheDir: process.argv[2] });\nconsole.log(JSON.stringify({ functions: Object.keys(api).filter((k) => typeof api[k] === 'function'), usage: new api.UsageError('x') instanceof api.VexfsImageError, tools: r.tools.length, cached: r.accelerator?.cached }));\n`,
  );
  const use = sh(process.execPath, ['use-api.mjs', join(tmp, 'cache')], prefix);
  assert.equal(use.status, 0, use.stderr);
  const seen = JSON.parse(use.stdout) as { functions: string[]; usage: boolean; tools: number; cached: boolean };
  for (const f of API_FUNCTIONS) assert.ok(seen.functions.includes(f), `api.${f} is not exported`);
  assert.equal(seen.usage, true);
  assert.ok(seen.tools > 0);
  assert.equal(seen.cached, true, 'the API doctor did not reuse the probe the CLI cached');

  // The declarations: a TypeScript consumer type-checks against them (and a wrong call does not).
  writeFileSync(join(prefix, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['consumer.ts'] }));
  // An ES module project (npm install made this package.json): 'vexfs-image' resolves through its "import" export.
  const manifest = JSON.parse(readFileSync(join(prefix, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(prefix, 'package.json'), JSON.stringify({ ...manifest, type: 'module' }));
  const tsc = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  writeFileSync(join(prefix, 'consumer.ts'), `import { ci, type CiResult } from 'vexfs-image';\nexport async function f(): Promise<boolean> {\n  const r: CiResult = await ci({ variants: ['minimal'], jobs: 1 });\n  return r.status === 'passed' && r.manifest.ok;\n}\n`);
  const good = sh(process.execPath, [tsc, '-p', prefix], prefix);
  assert.equal(good.status, 0, good.stdout + good.stderr);
  writeFileSync(join(prefix, 'consumer.ts'), `import { ci } from 'vexfs-image';\nexport const x: Promise<number> = ci({ jobs: 'two' });\n`);
  const bad = sh(process.execPath, [tsc, '-p', prefix], prefix);
  assert.notEqual(bad.status, 0, 'a wrong call type-checked: the declarations are not being used');
  assert.match(bad.stdout, /consumer\.ts\(2,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
});
