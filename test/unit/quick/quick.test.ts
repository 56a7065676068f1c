import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { tempDir } from '../../helpers/fs.js';
import { cpioNewc, initramfs } from '../../../src/tools/cpio.js';
import { deviceAt, parseLsP, rdumpArgs } from '../../../src/tools/debugfs.js';
import { parsePartitionTable } from '../../../src/tools/sfdisk.js';
import { buildSpec, parseBuildReport, syncTree } from '../../../src/quick/compile.js';
import { quickEnv, shQuote } from '../../../src/quick/initramfs.js';
import { parseConsole } from '../../../src/quick/result.js';
import { cachedRoot, pickKernel } from '../../../src/quick/root.js';
import { VEXFS_MODULES, VEXFS_TOOLS } from '../../../src/config/payload-defaults.js';
import { UsageError } from '../../../src/errors.js';

test('cpio newc: the archive lists and extracts with GNU cpio (files, dirs, symlinks, modes)', (t) => {
  if (spawnSync('sh', ['-c', 'command -v cpio']).status !== 0) return t.skip('cpio not installed');
  const archive = cpioNewc([
    { path: 'bin', type: 'dir' },
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: 'ELF?' },
    { path: 'bin/sh', type: 'symlink', data: 'busybox' },
    { path: 'quick.env', type: 'file', mode: 0o644, data: 'A=1\n' },
    { path: 'odd', type: 'file', data: Buffer.alloc(5, 1) },
  ]);
  assert.equal(archive.length % 4, 0);
  const dir = tempDir();
  const r = spawnSync('cpio', ['-idm', '--quiet'], { cwd: dir, input: gunzipSync(initramfs([{ path: 'x', type: 'file', data: 'y' }])) });
  assert.equal(r.status, 0, String(r.stderr));
  assert.equal(readFileSync(join(dir, 'x'), 'utf8'), 'y');
  const r2 = spawnSync('cpio', ['-idm', '--quiet'], { cwd: dir, input: archive });
  assert.equal(r2.status, 0, String(r2.stderr));
  assert.equal(readFileSync(join(dir, 'bin/busybox'), 'utf8'), 'ELF?');
  assert.equal(statSync(join(dir, 'bin/busybox')).mode & 0o777, 0o755);
  assert.equal(statSync(join(dir, 'quick.env')).mode & 0o777, 0o644);
  assert.equal(spawnSync('readlink', [join(dir, 'bin/sh')], { encoding: 'utf8' }).stdout.trim(), 'busybox');
  assert.deepEqual([...readFileSync(join(dir, 'odd'))], [1, 1, 1, 1, 1]);
});

test('debugfs and sfdisk helpers: device offsets, rdump arguments, ls -p and sfdisk -J parsing', () => {
  assert.equal(deviceAt('/x/disk.raw', 1048576), '/x/disk.raw?offset=1048576');
  assert.equal(deviceAt('/x/disk.raw', 0), '/x/disk.raw');
  assert.deepEqual(rdumpArgs('d?offset=1', ['/usr', '/etc'], '/tmp/r'), ['-R', 'rdump /usr /etc /tmp/r', 'd?offset=1']);
  assert.throws(() => rdumpArgs('d', ['/a b'], '/tmp/r'), /quote or space/);
  assert.deepEqual(parseLsP('/2/040755/0/0/./4096/\n/2/040755/0/0/../4096/\n/12/120777/0/0/bin/7/\n/13/040755/0/0/usr/4096/\n'), [
    { name: 'bin', mode: 0o120777 },
    { name: 'usr', mode: 0o40755 },
  ]);
  const t = parsePartitionTable(JSON.stringify({ partitiontable: { sectorsize: 512, partitions: [{ start: 2048, size: 2048, type: '21686148-6449-6E6F-744E-656564454649' }, { start: 4096, size: 6000000, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4' }] } }));
  assert.equal(t.sectorSize, 512);
  assert.equal(t.partitions[1]!.start, 4096);
});

test('pickKernel: the one kernel with headers; no headers (a purged image) is bad input', () => {
  assert.equal(pickKernel(['vmlinuz-6.12.1-cloud-amd64', 'config-6.12.1-cloud-amd64'], ['linux-headers-6.12.1-cloud-amd64', 'linux-headers-6.12.1-common'], 'img'), '6.12.1-cloud-amd64');
  assert.throws(() => pickKernel(['vmlinuz-6.12.1-cloud-amd64'], [], 'img'), (e: unknown) => e instanceof UsageError && /no kernel headers/.test(e.message) && /keep_toolchain/.test(e.hint ?? ''));
  assert.throws(() => pickKernel(['grub'], [], 'img'), /no kernel in \/boot/);
});

test('cachedRoot: an entry is used only when root.json matches and the kernel and headers are there', async () => {
  const cache = tempDir();
  const sha = 'ab'.repeat(32);
  const entry = join(cache, 'quick-roots', sha.slice(0, 32));
  const rel = '6.12.1-cloud-amd64';
  mkdirSync(join(entry, 'root', 'boot'), { recursive: true });
  mkdirSync(join(entry, 'root', 'usr', 'lib', 'modules', rel, 'build'), { recursive: true });
  writeFileSync(join(entry, 'root', 'boot', `vmlinuz-${rel}`), 'k');
  writeFileSync(join(entry, 'root', 'usr', 'lib', 'modules', rel, 'build', 'Makefile'), '');
  assert.equal(await cachedRoot(cache, sha), undefined, 'no root.json: an interrupted extraction');
  writeFileSync(join(entry, 'root.json'), JSON.stringify({ format: 1, sha256: sha, kernelRelease: rel, source: 'x' }));
  assert.equal((await cachedRoot(cache, sha))?.kernelRelease, rel);
  assert.equal(await cachedRoot(cache, 'ab'.repeat(16) + 'cd'.repeat(16)), undefined, 'another image of the same prefix');
  rmSync(join(entry, 'root', 'boot', `vmlinuz-${rel}`));
  assert.equal(await cachedRoot(cache, sha), undefined, 'a damaged entry is not used');
});

test('build spec and report: payload globs in, found files and libraries out', () => {
  assert.equal(buildSpec({ modules: VEXFS_MODULES, tools: VEXFS_TOOLS }), 'module vexfs **/vexfs.ko\ntool vexctl **/release/vexctl');
  const r = parseBuildReport('make output\nQUICK-FOUND module vexfs /tmp/w/vexfs.ko\nQUICK-FOUND tool vexctl /tmp/w/target/release/vexctl\nQUICK-LIB /lib/x86_64-linux-gnu/libc.so.6\nQUICK-LIB /lib/x86_64-linux-gnu/libc.so.6\nQUICK-MISSING tool other **/other\n');
  assert.equal(r.found.get('module:vexfs'), '/tmp/w/vexfs.ko');
  assert.deepEqual(r.libs, ['/lib/x86_64-linux-gnu/libc.so.6']);
  assert.deepEqual(r.missing, ['tool other']);
});

test('quick.env quotes every value for the guest shell', () => {
  assert.equal(shQuote("it's"), "'it'\\''s'");
  const env = quickEnv({ modules: [{ name: 'vexfs', file: '/x', filesystem: 'vexfs' }], tools: [{ name: 'vexctl', file: '/y', versionCommand: 'vexctl --version', expect: "vexctl 1.0'0" }] }, '1.0.0');
  const r = spawnSync('sh', ['-c', `${env}\necho "$MODULES|$FS_vexfs|$TOOL_COUNT|$TOOL_0_CMD|$TOOL_0_EXPECT|$EXPECT_VERSION"`], { encoding: 'utf8' });
  assert.equal(r.stdout.trim(), "vexfs|vexfs|1|vexctl --version|vexctl 1.0'0|1.0.0");
  assert.throws(() => quickEnv({ modules: [{ name: 'a-b', file: '/x' }], tools: [] }, '1'), /not a shell word/);
});

test('parseConsole: checks with their output, the result line, kernel trouble outside the guest lines', () => {
  const serial = [
    '[    0.000000] Linux version 6.12.1',
    'QUICK-START kernel 6.12.1-cloud-amd64',
    'QUICK-CHECK passed module-load-vexfs vexfs insmod vexfs.ko',
    'QUICK-CHECK failed fs-mount-vexfs vexfs mount -t vexfs none /mnt/vexfs: exit 255',
    'QUICK-OUT | mount: mounting none on /mnt/vexfs failed: No such device',
    'QUICK-OUT | WARNING: quoted by the guest, not a console line',
    'QUICK-CHECK skipped fs-mount-ext9 ext9 mount ext9: a block-device filesystem',
    'QUICK-RESULT FAIL 3 1 6.12.1-cloud-amd64',
  ].join('\r\n');
  const p = parseConsole(serial);
  assert.equal(p.finished, true);
  assert.equal(p.kernelRelease, '6.12.1-cloud-amd64');
  assert.deepEqual(p.checks.map((c) => [c.id, c.status]), [['module-load-vexfs', 'passed'], ['fs-mount-vexfs', 'failed'], ['fs-mount-ext9', 'skipped'], ['console-clean', 'passed']]);
  assert.match(p.checks[1]!.output ?? '', /No such device\nWARNING: quoted/);
  assert.equal(p.checks[1]!.description, 'mount -t vexfs none /mnt/vexfs');
  const warned = parseConsole('[  1.0] WARNING: CPU: 0 PID: 1 at fs/vexfs.c:10 vexfs_fill_super\nQUICK-RESULT PASS 1 0 6.12.1');
  assert.equal(warned.checks.at(-1)!.status, 'failed');
  assert.match(warned.checks.at(-1)!.message, /vexfs_fill_super/);
  assert.equal(parseConsole('QUICK-CHECK passed a b c').finished, false);
});

test('syncTree copies only what changed, keeps mtimes and build products, drops removed sources', async () => {
  const src = tempDir();
  const dest = join(tempDir(), 'w');
  writeFileSync(join(src, 'a.c'), 'a');
  mkdirSync(join(src, 'sub'));
  writeFileSync(join(src, 'sub', 'b.c'), 'b');
  mkdirSync(join(src, '.git'));
  writeFileSync(join(src, '.git', 'HEAD'), 'x');
  utimesSync(join(src, 'a.c'), new Date(5000), new Date(5000));
  assert.deepEqual(await syncTree(src, dest), { copied: 2 });
  assert.equal(statSync(join(dest, 'a.c')).mtimeMs, 5000);
  assert.ok(!existsSync(join(dest, '.git')), '.git is not copied (as the VM build does not)');
  writeFileSync(join(dest, 'a.o'), 'object');
  assert.deepEqual(await syncTree(src, dest), { copied: 0 });
  writeFileSync(join(src, 'a.c'), 'a2');
  rmSync(join(src, 'sub', 'b.c'));
  assert.deepEqual(await syncTree(src, dest), { copied: 1 });
  assert.equal(readFileSync(join(dest, 'a.c'), 'utf8'), 'a2');
  assert.ok(!existsSync(join(dest, 'sub', 'b.c')), 'a removed source file is removed');
  assert.ok(existsSync(join(dest, 'a.o')), 'build products stay (incremental builds)');
});

test('shellcheck finds nothing in guest/quick/*.sh (the initramfs /init and the chroot build)', (t) => {
  if (spawnSync('sh', ['-c', 'command -v shellcheck']).status !== 0) return t.skip('shellcheck not installed');
  const dir = join(import.meta.dirname, '../../../guest/quick');
  const r = spawnSync('shellcheck', ['--format=gcc', join(dir, 'init.sh'), join(dir, 'build.sh')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('the API\'s report formats are not taken for image formats (json is no image format)', async () => {
  const { quickTest } = await import('../../../src/api.js');
  const dir = tempDir();
  const err = await quickTest({ reportFormats: ['json', 'junit'], image: join(dir, 'nope.qcow2'), busybox: process.execPath, reportDir: join(dir, 'r') }).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  assert.ok(err, 'expected a rejection');
  assert.doesNotMatch(err.message, /image format/);
  assert.ok(!existsSync(join(dir, 'r')), 'reports were written');
});
