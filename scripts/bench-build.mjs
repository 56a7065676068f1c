#!/usr/bin/env node
// The fast-loop benchmark, one run, side by side (issue 16): with the base cached,
//   cold        `build --variant minimal --no-incremental` of a temp copy of examples/vexfs into
//               empty directories, A/B/A: the build VM resumed from its snapshot (the default),
//               booted (--no-snapshot), resumed (into the directory the next rows use)
//   unchanged   the same build again (a no-op: "up to date")
//   one-line    a comment in vexfs.c edited, then `build --force`: incremental (builder/incremental/:
//               the cached image of the cold build, the payload compiled on the host, installed by
//               a VM booted into the image's kernel); then, A/B interleaved, the same after
//               another edit with --no-incremental (a full build), and incremental once more
//   quick       `vexfs-image test` on the same copy after another one-line edit (edit -> result;
//               one warm-up run first, as a developer's loop has)
//   packer      Packer's QEMU builder doing the build's job (bench/packer/minimal.json: boot
//               the plain base, apt the toolchain, compile, insmod, shut down, convert -c), when
//               `packer` is installed (Debian package packer)
// Prints a table on stderr and one JSON object on stdout. Boots VMs: run it under the VM lock,
//   flock /tmp/vexfs-vm.lock node scripts/bench-build.mjs [--no-packer] [--no-quick]
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const bin = join(root, 'bin', 'vexfs-image');
const args = new Set(process.argv.slice(2));
const work = mkdtempSync(join(tmpdir(), 'vexfs-bench-build-'));
const src = join(work, 'vexfs');
cpSync(join(root, 'examples', 'vexfs'), src, { recursive: true, filter: (p) => !/\/target(\/|$)/.test(p.slice(root.length)) });
const out = join(work, 'out');
const version = '0.0.1-bench';
const env = { ...process.env, CI: 'true' };

function timed(label, cmd, argv, opts = {}) {
  const t0 = Date.now();
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env, maxBuffer: 64 * 2 ** 20, ...opts });
  const s = (Date.now() - t0) / 1000;
  if (r.status !== 0 && !opts.allowFailure) process.stderr.write(`${label}: exit ${r.status}\n${(r.stderr ?? '').slice(-3000)}\n`);
  // As it happens too, so that an interrupted run still says what it measured.
  process.stderr.write(`# ${label}: ${s.toFixed(1)} s, exit ${r.status}\n`);
  return { s, status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

let edits = 0;
/** One-line change: a comment at the end of vexfs.c (different each time). */
function editSource() {
  const f = join(src, 'vexfs.c');
  writeFileSync(f, `${readFileSync(f, 'utf8')}/* bench edit ${++edits} */\n`);
}

const build = (extra = []) => ['build', '--variant', 'minimal', '--version', version, '--source', src, '--output-dir', out, '--build-dir', join(work, 'build'), ...extra];
const stages = (dir = out) => {
  const m = JSON.parse(readFileSync(join(dir, `vexfs-minimal-${version}.json`), 'utf8'));
  return Object.fromEntries(Object.entries(m.stage_times_ms).map(([k, v]) => [k, +(v / 1000).toFixed(1)]));
};

const rows = [];
const load = loadavg()[0];
// Cold builds (nothing of this source cached), A/B/A: the build VM resumed from the snapshot of
// the booted base (the default once one build of this base and machine saved it), then booted
// (--no-snapshot), then resumed again. Each into its own output directory, so none is "up to date".
const vmStart = (dir) => JSON.parse(readFileSync(join(dir, `vexfs-minimal-${version}.json`), 'utf8')).build_vm?.start;
for (const [i, [label, extra, want]] of [
  ['cold build (base cached), build VM resumed from its snapshot', [], 'resumed'],
  ['cold build (base cached), build VM booted (--no-snapshot)', ['--no-snapshot'], 'booted'],
  ['cold build (base cached), build VM resumed again', [], 'resumed'],
].entries()) {
  // The last one into the bench's output directory: the rows below start from its image.
  const dir = i === 2 ? out : join(work, `cold-${i}`);
  const r = timed(label, bin, [...build(['--no-incremental', ...extra]).map((a) => (a === out ? dir : a))]);
  rows.push({ what: label, s: r.s, ok: r.status === 0 && vmStart(dir) === want, stages: r.status === 0 ? stages(dir) : undefined });
}
const same = timed('unchanged', bin, build());
rows.push({ what: 'unchanged rebuild', s: same.s, ok: same.status === 0 && /^up to date: /m.test(same.stderr) });
const incremental = () => JSON.parse(readFileSync(join(out, `vexfs-minimal-${version}.json`), 'utf8')).incremental !== undefined;
for (const [label, extra, wantIncremental] of [
  ['one-line change, incremental (--force)', [], true],
  ['one-line change, full build (--force --no-incremental)', ['--no-incremental'], false],
  ['one-line change, incremental again (--force)', [], true],
]) {
  editSource();
  const r = timed(label, bin, build(['--force', ...extra]));
  rows.push({ what: label, s: r.s, ok: r.status === 0 && incremental() === wantIncremental, stages: r.status === 0 ? stages() : undefined });
}
if (!args.has('--no-quick')) {
  const reports = join(work, 'quick-report');
  const warm = timed('quick test (warm-up)', bin, ['test', '--source', src, '--version', version, '--report-dir', reports]);
  rows.push({ what: 'quick test, first run (root extraction cached: once per image)', s: warm.s, ok: warm.status === 0, detail: warm.stdout.split('\n')[0] });
  editSource();
  const quick = timed('quick test', bin, ['test', '--source', src, '--version', version, '--report-dir', reports]);
  rows.push({ what: 'quick test: one-line edit -> result', s: quick.s, ok: quick.status === 0, detail: quick.stdout.split('\n')[0] });
}
if (!args.has('--no-packer')) rows.push(packer());

function packer() {
  const which = spawnSync('sh', ['-c', 'command -v packer'], { encoding: 'utf8' });
  if (which.status !== 0) return { what: "Packer's job", s: null, ok: false, detail: 'packer not installed (apt-get install packer)' };
  // The plain debian-13 base (no toolchain: Packer's job installs it with apt in the VM).
  const base = timed('plain base', bin, ['base', '--distro', 'debian-13', '--json']);
  if (base.status !== 0) return { what: "Packer's job", s: null, ok: false, detail: 'no plain base' };
  const b = JSON.parse(base.stdout);
  const pk = join(work, 'packer');
  mkdirSync(pk);
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(pk, 'key')]);
  const pub = readFileSync(join(pk, 'key.pub'), 'utf8').trim();
  writeFileSync(join(pk, 'user-data'), readFileSync(join(root, 'bench/packer/user-data.tmpl'), 'utf8').replace('@KEY@', pub));
  writeFileSync(join(pk, 'meta-data'), 'instance-id: packer-bench\nlocal-hostname: packer\n');
  spawnSync('cloud-localds', [join(pk, 'seed.iso'), join(pk, 'user-data'), join(pk, 'meta-data')]);
  const vars = { base: b.path, base_sha256: b.digest.replace(/^sha256:/, ''), seed_iso: join(pk, 'seed.iso'), ssh_key: join(pk, 'key'), source: src, output: join(pk, 'output'), version };
  const r = timed("Packer's job", 'packer', ['build', ...Object.entries(vars).flatMap(([k, v]) => ['-var', `${k}=${v}`]), join(root, 'bench/packer/minimal.json')], { env: { ...env, PACKER_LOG: '0', CHECKPOINT_DISABLE: '1' }, cwd: pk });
  const img = join(pk, 'output', 'packer-minimal.qcow2');
  return { what: "Packer's job (boot, apt toolchain, compile, insmod, convert -c)", s: r.s, ok: r.status === 0 && existsSync(img), detail: r.status === 0 ? undefined : r.stdout.split('\n').slice(-8).join(' | ') };
}

rmSync(work, { recursive: true, force: true });
process.stderr.write(`\n${'what'.padEnd(66)} ${'seconds'.padStart(8)}  ok\n`);
for (const r of rows) process.stderr.write(`${r.what.padEnd(66)} ${(r.s === null ? '-' : r.s.toFixed(1)).padStart(8)}  ${r.ok ? 'yes' : 'NO'}${r.detail ? `  ${r.detail}` : ''}\n`);
process.stdout.write(`${JSON.stringify({ load_avg_at_start: load, rows }, null, 2)}\n`);
process.exit(rows.every((r) => r.ok || r.s === null) ? 0 : 1);
